#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The project's own tests (make check): host unit tests, a warnings gate, a
# bad-input gate, the runner's host-side tests, and the suite in VMs on
# Debian's 6.12, 6.1 and (from unstable) 7.2 kernels, two VMs at a time.
#
# Usage: scripts/check.sh   (or make check)
#
# Every stage runs even when an earlier one failed, so one run shows all
# that is broken.  Builds and results go to $CHECK_BUILD_DIR (default
# build/check in the repository):
#   out/                 the build (OUTPUT=), rebuilt from scratch each time
#   logs/                one log per stage
#   vmtest/LABEL/        each VM run's --out directory (console.log,
#                        results.ktap, metadata)
# The last line of the output is "N passed, N failed, N skipped": the sum
# of every result make check judged (unit tests, gates, VM runs).  A stage
# that failed without a result line of its own (a build error, a VM that did
# not boot, a kernel WARNING) counts as one failure.
# Exit status: 0 if nothing failed, 1 otherwise.

set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${CHECK_BUILD_DIR:-$REPO/build/check}
OUT=$BUILD_DIR/out
LOGS=$BUILD_DIR/logs
VMOUT=$BUILD_DIR/vmtest

# ---- Tests that run under Bochs (Intel VMX): every test of the Makefile's
# TEST_GEN_PROGS (tests.list), like the QEMU stages, at their default sizes
# (the 1G-hugetlb variants skip there: 2 GiB leave no room for a 1G page).

# What a fresh Debian 12 machine lacks to build and run the host-side parts,
# and the emulators' packages: installed once here, since VM stages run in
# parallel and two apt-get installs at once would fight over dpkg's lock.
BUILD_PACKAGES="gcc make libc6-dev linux-libc-dev binutils xz-utils linux-source-6.12"
# shellcheck source=scripts/vm/qemu.sh
. "$REPO/scripts/vm/qemu.sh"
# shellcheck source=scripts/vm/bochs.sh
. "$REPO/scripts/vm/bochs.sh"
VM_PACKAGES="$QEMU_PACKAGES $BOCHS_PACKAGES"

# VM stages: LABEL KERNEL EMULATOR [TESTS], longest first, run
# CHECK_VM_JOBS at a time (default 2: a TCG or Bochs VM is one busy core).
VM_STAGES=(
	"6.1-bochs 6.1 bochs"
	"6.12-qemu 6.12 qemu"
	"6.1-qemu 6.1 qemu"
	"7.2-qemu 7.2 qemu"
)
VM_JOBS=${CHECK_VM_JOBS:-2}

# Arguments with a value that must be rejected: the placeholder in a test's
# usage line ("[-b size]") and a value of that kind that is never valid.
declare -A BAD_VALUES=([size]=12Q [backing]=no_such_backing)

# Seconds a test binary may take to print usage or reject its options.
OPTION_TIMEOUT=30

# Make's variables from an outer "make check" must not leak into the
# builds below, which set what they need.
unset MAKEFLAGS MFLAGS MAKEOVERRIDES MAKELEVEL

PASSED=0
FAILED=0
SKIPPED=0
SUMMARY=()
FAILURES=()
START=$SECONDS

log() {
	echo "check: $*"
}

banner() {
	echo
	echo "==== check: $* ===="
}

elapsed() {
	local s=$(($1))
	printf '%dm%02ds' $((s / 60)) $((s % 60))
}

# summarize NAME PASSED FAILED SKIPPED NOTE
summarize() {
	PASSED=$((PASSED + $2))
	FAILED=$((FAILED + $3))
	SKIPPED=$((SKIPPED + $4))
	SUMMARY+=("$(printf '%-34s %3d passed, %3d failed, %3d skipped  %s' "$1" "$2" "$3" "$4" "$5")")
	[ "$3" -eq 0 ] || FAILURES+=("$1")
}

make_repo() {
	make -C "$REPO" --no-print-directory OUTPUT="$OUT" "$@"
}

# KTAP result counts of a log: "ok", "not ok", and "ok ... # SKIP".
ktap_counts() {
	local log=$1 ok notok skip
	ok=$(grep -c -E '^ok [0-9]+' "$log")
	skip=$(grep -c -E '^ok [0-9]+ .*# [Ss][Kk][Ii][Pp]' "$log")
	notok=$(grep -c -E '^not ok [0-9]+' "$log")
	echo "$((ok - skip)) $notok $skip"
}

stage_deps() {
	banner "host packages"
	# One argument per package.
	# shellcheck disable=SC2086
	if ! "$REPO/scripts/deps.sh" $BUILD_PACKAGES $VM_PACKAGES; then
		summarize "host packages" 0 1 0 "deps.sh failed: $BUILD_PACKAGES $VM_PACKAGES"
		return 1
	fi
	log "packages present: $BUILD_PACKAGES $VM_PACKAGES"
}

# (b) A from-scratch build of the tests, as vmtest builds them; any warning
# of the compiler or linker fails the gate.  The unit-test build is checked
# the same way in stage_unit.
stage_build() {
	local log=$LOGS/build.log t0=$SECONDS rc warnings

	banner "build (warnings gate)"
	mkdir -p "$OUT"
	# Keep the unpacked kselftest framework, rebuild everything else.
	find "$OUT" -mindepth 1 -maxdepth 1 ! -name ksft -exec rm -rf {} +
	make_repo vmtest-bin 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	warnings=$(grep -c -E '(^|: )warning:' "$log")
	if [ "$rc" -ne 0 ]; then
		summarize "build and warnings gate" 0 1 0 "make failed (exit $rc): $log"
	elif [ "$warnings" -ne 0 ]; then
		log "the build printed $warnings warning(s):"
		grep -E '(^|: )warning:' "$log" | sed 's/^/  /'
		summarize "build and warnings gate" 0 1 0 "$warnings warning(s): $log"
	else
		summarize "build and warnings gate" 1 0 0 "clean, $(elapsed $((SECONDS - t0)))"
	fi
}

# (a) Host unit tests, built with ASan and UBSan; a build warning fails.
stage_unit() {
	host_stage --warnings "unit tests (host, ASan + UBSan)" "unit tests (host)" unit_tests.log \
		make_repo unit_tests
}

# (a2) Regression tests of the Makefile (scripts/makefile-test.sh).
stage_makefile() {
	host_stage "Makefile regression tests" "Makefile regression tests" makefile.log \
		"$REPO/scripts/makefile-test.sh" --ksft "$OUT/ksft" --work "$BUILD_DIR/makefile-test"
}

# (c) Every test binary, in tests.list order: -h prints usage and exits 0;
# an unknown option, a missing argument and an invalid size or backing are
# usage errors: non-zero exit, never a crash (signal), never a skip (4,
# which would mean the bad value was accepted).
option_case() {
	local bin=$1 want=$2 want_usage=$3 out rc
	shift 3
	out=$(cd "$(dirname "$bin")" && timeout "$OPTION_TIMEOUT" "$bin" "$@" 2>&1 </dev/null)
	rc=$?
	local what="${bin##*/} $*"
	if [ "$rc" -eq 124 ]; then
		echo "  $what: no answer within ${OPTION_TIMEOUT}s"
		return 1
	elif [ "$rc" -ge 128 ]; then
		echo "  $what: killed by signal $((rc - 128))"
		return 1
	elif [ "$want" = zero ] && [ "$rc" -ne 0 ]; then
		echo "  $what: exit $rc, expected 0"
		return 1
	elif [ "$want" = nonzero ] && { [ "$rc" -eq 0 ] || [ "$rc" -eq 4 ]; }; then
		echo "  $what: exit $rc, expected a usage error (non-zero, not the skip code 4)"
		return 1
	elif [ "$want_usage" = 1 ] && ! grep -q -i 'usage' <<<"$out"; then
		echo "  $what: exit $rc but no usage text; it printed:"
		head -n 5 <<<"$out" | sed 's/^/    | /'
		return 1
	fi
	echo "  $what: exit $rc, ok"
	return 0
}

stage_options() {
	local list=$OUT/vmtest-bin/tests.list name bin ok pass=0 fail=0 usage opt arg
	local failed_names=()

	banner "bad-input gate (test options)"
	if [ ! -f "$list" ]; then
		summarize "bad-input gate" 0 1 0 "no $list: the build failed"
		return
	fi
	while read -r name; do
		[ -n "$name" ] || continue
		bin=$OUT/vmtest-bin/$name
		ok=1
		log "$name"
		if [ ! -x "$bin" ]; then
			echo "  $name: missing"
			ok=0
		else
			option_case "$bin" zero 1 -h || ok=0
			option_case "$bin" nonzero 1 -@ || ok=0
			option_case "$bin" nonzero 1 --no-such-option || ok=0
			usage=$(cd "$(dirname "$bin")" && timeout "$OPTION_TIMEOUT" "$bin" -h 2>&1 </dev/null)
			# Options with a value, from "[-b size]" in the usage text.
			while read -r opt arg; do
				[ -n "$opt" ] || continue
				option_case "$bin" nonzero 1 "-$opt" || ok=0
				if [ -n "${BAD_VALUES[$arg]-}" ]; then
					option_case "$bin" nonzero 0 "-$opt" "${BAD_VALUES[$arg]}" || ok=0
				fi
			done < <(grep -o -E '\[-[A-Za-z] [a-z_]+\]' <<<"$usage" |
				 sed -E 's/^\[-(.) (.*)\]$/\1 \2/' | sort -u)
		fi
		if [ "$ok" -eq 1 ]; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1))
			failed_names+=("$name")
		fi
	done <"$list"
	summarize "bad-input gate" "$pass" "$fail" 0 \
		"one result per test binary${failed_names[*]:+; failed: ${failed_names[*]}}"
}

# host_stage [--warnings] TITLE NAME LOG CMD...: a host-side test that
# prints KTAP results; its counts go into the summary under NAME.  A
# non-zero exit without a failing result line counts as one failure, and
# with --warnings so does any compiler warning in its output.
host_stage() {
	local warn=0 title name log t0=$SECONDS rc counts note warnings

	[ "$1" != --warnings ] || { warn=1; shift; }
	title=$1 name=$2 log=$LOGS/$3
	shift 3
	banner "$title"
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	read -r -a counts <<<"$(ktap_counts "$log")"
	note="exit $rc, $(elapsed $((SECONDS - t0)))"
	if [ "$warn" -eq 1 ]; then
		warnings=$(grep -c -E '(^|: )warning:' "$log")
		if [ "$warnings" -ne 0 ]; then
			counts[1]=$((counts[1] + 1))
			note="$note, $warnings build warning(s)"
		fi
	fi
	if [ "$rc" -ne 0 ] && [ "${counts[1]}" -eq 0 ]; then
		counts[1]=1	# it failed without a failing result line
		note="$note, no failing result line"
	fi
	summarize "$name" "${counts[@]}" "$note: $log"
}

# The runner's own host-side tests: usage errors before any install, and
# the early stop on a kernel splat, on a fake VM.
stage_runner() {
	host_stage "runner tests (host, fake VM)" "runner tests (host)" runner-test.log \
		"$REPO/scripts/vm/runner-test.sh"
}

# The judge of every VM run (scripts/vm/report.sh): console scan and known
# issues on synthetic runs.
stage_report() {
	host_stage "judge tests (scripts/vm/report.sh)" "judge tests (report.sh)" report_tests.log \
		"$REPO/tests/report/run.sh"
}

# (d) One VM run: run_vm LABEL KERNEL EMULATOR [TESTS].  Runs in the
# background: its output goes to its log, its summary line to
# LOGS/vmtest-LABEL.result (NAME, PASSED, FAILED, SKIPPED, NOTE; tabs).
run_vm() {
	local label=$1 kernel=$2 emulator=$3 tests=${4-} t0=$SECONDS
	local dir=$VMOUT/$label log=$LOGS/vmtest-$label.log rc=0 counts accel note line vm
	local args=(--bindir "$OUT/vmtest-bin" --kernel "$kernel" --emulator "$emulator" --out "$dir")

	[ -z "$tests" ] || args+=(--tests "$tests")
	{
		echo "==== check: vmtest $label: KERNEL=$kernel EMULATOR=$emulator${tests:+ tests: $tests} ===="
		echo "scripts/vmtest.sh ${args[*]}"
	} >"$log"
	# The tests are built once (stage_build); make is not run here, so
	# two stages never build the same OUTPUT at once.
	if [ -f "$OUT/vmtest-bin/tests.list" ]; then
		# In the background, so that a TERM from vm_lanes reaches the
		# runner, which then stops its VM.
		"$REPO/scripts/vmtest.sh" "${args[@]}" </dev/null >>"$log" 2>&1 &
		vm=$!
		trap 'kill -TERM "$vm" 2>/dev/null' TERM
		while :; do
			wait "$vm"
			rc=$?
			kill -0 "$vm" 2>/dev/null || break
		done
	else
		echo "no $OUT/vmtest-bin: the build failed" >>"$log"
		rc=build
	fi
	accel=$(sed -n 's/^accelerator: \([^ ]*\).*/\1/p' "$dir/metadata" 2>/dev/null)
	# Bochs has no accelerator of its own: its metadata names bochs again.
	case $accel in
	"$emulator") accel= ;;
	"") accel=" ?" ;;
	*) accel=" $accel" ;;
	esac
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -n 1)
	note="exit $rc"
	case $rc in
	0) ;;
	1) note="$note (test failures)" ;;
	2) note="$note (usage error or missing packages)" ;;
	3) note="$note (boot failure)" ;;
	4) note="$note (runner timeout)" ;;
	5) note="$note (kernel WARNING/BUG/Oops or leaked objects)" ;;
	build) note="not run: the build failed" ;;
	*) note="$note (runner error)" ;;
	esac
	note="$note, $(elapsed $((SECONDS - t0)))"
	if [ -n "$line" ]; then
		read -r -a counts <<<"$(sed -E 's/^([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/' <<<"$line")"
	else
		counts=(0 0 0)
		note="$note, no closing counts"
	fi
	if [ "$rc" != 0 ] && [ "${counts[1]}" -eq 0 ]; then
		counts[1]=1	# a failed run is never "0 failed"
	fi
	printf '%s\t%s\t%s\t%s\t%s\n' "vmtest $kernel $emulator$accel" "${counts[@]}" \
		"$note: $dir" >"$LOGS/vmtest-$label.result"
}

# Runs the VM_STAGES, VM_JOBS at a time (in the background of main, so
# that the host-side stages run meanwhile).  Each stage writes its log and
# its LOGS/vmtest-LABEL.result; stage_vms_collect reports them.
vm_lanes() {
	local stage label kernel emulator tests running=0 pid
	local -A label_of=()

	# A stopped make check stops its VMs.
	trap 'kill -TERM $(jobs -p) 2>/dev/null; wait; exit 130' INT TERM
	# The benchmark's smoke is the shortest VM job: last, beside a stage.
	for stage in "${VM_STAGES[@]}" bench-smoke; do
		read -r label kernel emulator tests <<<"$stage"
		if [ "$running" -ge "$VM_JOBS" ]; then
			wait -n -p pid
			running=$((running - 1))
			log "vmtest ${label_of[$pid]} finished"
		fi
		if [ "$label" = bench-smoke ]; then
			log "starting the benchmark smoke (log: $LOGS/bench-smoke.log)"
			run_bench &
			label_of[$!]=$label
			running=$((running + 1))
			continue
		fi
		log "starting vmtest $label (log: $LOGS/vmtest-$label.log)"
		run_vm "$label" "$kernel" "$emulator" "$tests" &
		label_of[$!]=$label
		running=$((running + 1))
	done
	while [ "$running" -gt 0 ]; do
		wait -n -p pid
		running=$((running - 1))
		log "vmtest ${label_of[$pid]} finished"
	done
}

stage_vms_start() {
	local stage

	for stage in "${VM_STAGES[@]}"; do
		rm -f "$LOGS/vmtest-${stage%% *}.result"
	done
	rm -f "$LOGS/bench-smoke.result" "$LOGS/host-stages.done"
	log "VM stages, $VM_JOBS at a time, in the background: $(for stage in "${VM_STAGES[@]}"; do printf '%s ' "${stage%% *}"; done)"
	vm_lanes >"$LOGS/vm-lanes.log" 2>&1 &
	VM_LANES=$!
}

# Waits for the VM stages, prints each one's log, then their summary lines
# in VM_STAGES order.  A stage that left no result (killed, crashed) is a
# failure.
stage_vms_collect() {
	local stage label name p f k note

	banner "VM stages (started after the build)"
	wait "$VM_LANES"
	cat "$LOGS/vm-lanes.log"
	for stage in "${VM_STAGES[@]}"; do
		label=${stage%% *}
		echo
		cat "$LOGS/vmtest-$label.log" 2>/dev/null
		if IFS=$'\t' read -r name p f k note <"$LOGS/vmtest-$label.result" 2>/dev/null; then
			summarize "$name" "$p" "$f" "$k" "$note"
		else
			summarize "vmtest $label" 0 1 0 "did not run to its end: $LOGS/vmtest-$label.log"
		fi
	done
}

# (e) The benchmark's smoke: one short configuration in a QEMU VM, judged
# only on having run and written results.json, never on speed; and its
# usage errors, like the tests' in the bad-input gate.  A VM job like the
# stages (vm_lanes starts it when a lane is free), its summary line in
# LOGS/bench-smoke.result.
run_bench() {
	local log=$LOGS/bench-smoke.log bin=$OUT/vmtest-bin/nested_dirty_log_perf t0=$SECONDS
	local dir=$BUILD_DIR/bench rc bad=() result=$LOGS/bench-smoke.result

	# Its make must not run beside the host stages' (the unit tests build in OUT).
	while [ ! -e "$LOGS/host-stages.done" ]; do
		sleep 1
	done
	{
		echo "==== check: benchmark smoke (make bench, one configuration) ===="
		option_case "$bin" zero 1 -h || bad+=("-h")
		option_case "$bin" nonzero 1 -b 12Q || bad+=("-b 12Q")
		option_case "$bin" nonzero 1 -s no_such_backing || bad+=("-s no_such_backing")
		"$REPO/scripts/bench.sh" --no-such-option 2>&1
		[ $? -eq 2 ] || bad+=("bench.sh --no-such-option")
		rm -f "$dir/results.json"
		# The build is done (stage_build): this make only runs the VM.
		make_repo bench BENCH_ARGS="--sweep smoke --no-upstream --out $dir" </dev/null 2>&1
		rc=$?
	} >"$log" 2>&1
	local p=0 f=1 note
	if [ ${#bad[@]} -gt 0 ]; then
		note="usage errors not handled (${bad[*]}): $log"
	elif [ "$rc" -ne 0 ]; then
		note="make bench exit $rc: $log"
	elif ! python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(not any("phases" in r for r in d["runs"]))' \
		"$dir/results.json" 2>/dev/null; then
		note="no run with phases in $dir/results.json: $log"
	else
		p=1 f=0 note="ran and wrote results.json, $(elapsed $((SECONDS - t0))): $dir"
	fi
	printf '%s\t%s\t%s\t%s\t%s\n' "benchmark smoke" "$p" "$f" 0 "$note" >"$result"
}

stage_bench_collect() {
	local name p f k note

	banner "benchmark smoke (make bench, one configuration)"
	cat "$LOGS/bench-smoke.log" 2>/dev/null
	if IFS=$'\t' read -r name p f k note <"$LOGS/bench-smoke.result" 2>/dev/null; then
		summarize "$name" "$p" "$f" "$k" "$note"
	else
		summarize "benchmark smoke" 0 1 0 "did not run to its end: $LOGS/bench-smoke.log"
	fi
}

main() {
	mkdir -p "$LOGS" "$VMOUT"
	log "repository $REPO, results in $BUILD_DIR"

	stage_deps
	stage_build
	# The VMs need only the build; the host-side stages run meanwhile.
	trap '[ -z "${VM_LANES-}" ] || kill -TERM "$VM_LANES" 2>/dev/null; exit 130' INT TERM
	stage_vms_start
	stage_unit
	stage_makefile
	stage_report
	stage_options
	stage_runner
	: >"$LOGS/host-stages.done"
	stage_vms_collect
	stage_bench_collect

	banner "summary"
	printf '%s\n' "${SUMMARY[@]}"
	log "wall time $(elapsed $((SECONDS - START)))"
	if [ ${#FAILURES[@]} -gt 0 ]; then
		log "FAILED: $(printf '%s; ' "${FAILURES[@]}" | sed 's/; $//')"
		log "logs in $LOGS"
	fi
	echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
	[ "$FAILED" -eq 0 ]
}

main "$@"
