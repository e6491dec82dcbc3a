#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs the KVM selftests inside a VM (QEMU or Bochs) that boots a Debian or developer kernel.

set -euo pipefail
# depmod and modinfo live in sbin, which a user's PATH may lack.
PATH=$PATH:/usr/sbin:/sbin

SCRIPTS_DIR=$(cd "$(dirname "$0")" && pwd)
VM_DIR=$SCRIPTS_DIR/vm
PROG=${0##*/}

# Exit codes, documented in usage().
EXIT_OK=0
EXIT_FAIL=1
EXIT_USAGE=2
EXIT_BOOT=3
EXIT_TIMEOUT=4
EXIT_CRASH=5

DEFAULT_TIMEOUT=45	# kselftest's, when "settings" has none
TEST_SLACK=30		# wall seconds per test on top of its timeout
FINISH_SLACK=120	# wall seconds for module load, unload and poweroff
# Bochs' guest clock counts instructions (ips=100M) and runs slower than
# the wall clock when the guest is busy: 20 guest seconds took 25 here.
BOCHS_WALL_FACTOR_PERCENT=150
END_GRACE=10		# wall seconds for the emulator to exit after the end
SPLAT_GRACE=3		# wall seconds for the rest of a splat to reach the console
# KVM parameters on the kernel command line (init.sh hands "kvm.*",
# "kvm_amd.*" and "kvm_intel.*" to insmod, as modprobe would).  The iTLB
# multihit mitigation is off so that VMX runs assert every phase on CPU
# models that would turn it on (Bochs' Skylake-X); a test that needs it
# forces it itself.  --append can override these.
DEFAULT_KVM_CMDLINE="kvm.nx_huge_pages=off kvm_amd.nested=1 kvm_intel.nested=1"
KNOWN_ISSUES=$SCRIPTS_DIR/known-issues
BUSYBOX=/bin/busybox

# The backends only define variables and functions.
# shellcheck source=scripts/vm/kernel.sh
. "$VM_DIR/kernel.sh"
# shellcheck source=scripts/vm/qemu.sh
. "$VM_DIR/qemu.sh"
# shellcheck source=scripts/vm/bochs.sh
. "$VM_DIR/bochs.sh"

usage() {
	cat <<EOF
usage: $PROG --bindir DIR [--kernel $(kernel_names '|')|BZIMAGE] [--emulator qemu|bochs]
       [--accel auto|kvm|tcg] [--out DIR] [--modules DIR] [--tests "NAME..."]
       [--cache DIR] [--append "ARGS"] [--repeat N]

Boots a kernel in a VM, loads KVM with nested=1 and runs the test binaries
of DIR (listed in DIR/tests.list, timeout from DIR/settings) as kselftest
would, printing KTAP.

  --bindir DIR     statically linked tests, tests.list and settings
  --kernel K       a Debian kernel by its short name, downloaded into the
                   cache:
$(kernel_list | sed 's/^/                     /')
                   or a bzImage (KVM built in, or modules in
                   lib/modules/RELEASE next to it, its build tree, or --modules)
  --emulator E     qemu (default): KVM with -cpu host when the host has
                   nested KVM, else TCG with -cpu max (AMD SVM);
                   bochs: Intel VMX, slow (/init after 1 to 1.5 minutes)
  --accel A        QEMU only: auto (default), kvm or tcg
  --out DIR        results (default ./vmtest-out/KERNEL-EMULATOR):
                   console.log, results.ktap, metadata
  --modules DIR    kvm.ko, kvm-amd.ko, kvm-intel.ko (plain .ko) that replace
                   the kernel's own; other modules still come from the kernel
  --tests "A B"    run only these tests (in tests.list order)
  --cache DIR      downloaded kernels (default \$HOME/.cache/kvm-nested-selftests)
  --append "ARGS"  more kernel command line arguments, after the defaults
                   ($DEFAULT_KVM_CMDLINE; a later
                   kvm.PARAM=VALUE wins, e.g. kvm.nx_huge_pages=auto)
  --repeat N       boot the VM N times (default 1), results in OUT/run-K,
                   and print each result's pass count over the N runs

Failures listed in scripts/known-issues for the running kernel are reported
as known issues and do not fail the run.

Environment:
  VMTEST_BUDGET    wall-clock seconds for the whole VM (default: boot time
                   plus every test's scaled timeout, with slack)
  QEMU_MEM, QEMU_SMP, QEMU_HUGEPAGES, BOCHS_MEM_MB, BOCHS_HUGEPAGES
                   the VM's memory, CPUs and kernel hugepage options

Exit status:
  0  every test passed or skipped (or failed as a known issue)
  1  test failure(s)
  2  usage error
  3  boot failure: no kernel, the VM never reached /init, or KVM failed to load
  4  runner timeout: the VM exceeded its wall-clock budget and was killed
  5  kernel WARNING, BUG, Oops, panic, general protection fault or leaked
     KVM objects on the console, or KVM could not be unloaded; a splat
     stops the VM within seconds, naming the test that was running
When several apply, the first of 2, 3, 5, 4, 1 wins (also over the runs
of --repeat).
EOF
}

usage_error() {
	echo "$PROG: $*" >&2
	usage | sed -n '1,/^$/p' >&2
	echo "See $PROG --help." >&2
	exit $EXIT_USAGE
}

die() {
	local code=$1
	shift
	echo "vmtest: $*" >&2
	exit "$code"
}

BINDIR=
KERNEL_SPEC=6.12
EMULATOR=qemu
ACCEL_REQUEST=auto
OUT_DIR=
MODULES_DIR=
TEST_FILTER=
TESTS_GIVEN=
CACHE_DIR=${HOME:-/root}/.cache/kvm-nested-selftests
APPEND=
REPEAT=1
ARGS=()

# usable_dir WHAT DIR: DIR exists or can be made, and is a writable
# directory (tried for real: root passes every -w test).  Makes DIR.
usable_dir() {
	local what=$1 dir=$2 probe
	[ -n "$dir" ] || usage_error "$what is empty"
	[ ! -e "$dir" ] || [ -d "$dir" ] || usage_error "$what $dir is not a directory"
	mkdir -p -- "$dir" 2>/dev/null || usage_error "$what $dir cannot be created"
	probe=$(mktemp -p "$dir" .vmtest-probe.XXXXXX 2>/dev/null) ||
		usage_error "$what $dir is not writable"
	rm -f -- "$probe"
}

# The --modules directory must hold a replacement for at least one KVM
# module, and every module in it must be a non-empty ELF file.
check_modules_dir() {
	local dir=$1 ko found=0
	[ -d "$dir" ] || usage_error "--modules $dir is not a directory"
	for ko in "$dir"/*.ko; do
		[ -e "$ko" ] || continue
		[ -s "$ko" ] || usage_error "--modules: ${ko##*/} is empty"
		[ "$(head -c 4 "$ko" | od -An -c | tr -d ' ')" = '177ELF' ] ||
			usage_error "--modules: ${ko##*/} is not an ELF module"
		case ${ko##*/} in
		kvm.ko | kvm-amd.ko | kvm-intel.ko | kvm_amd.ko | kvm_intel.ko) found=1 ;;
		esac
	done
	[ "$found" -eq 1 ] || usage_error "--modules $dir has no kvm.ko, kvm-amd.ko or kvm-intel.ko"
}

parse_args() {
	local why
	ARGS=("$@")
	while [ $# -gt 0 ]; do
		case $1 in
		-h | --help) usage; exit $EXIT_OK ;;
		--bindir | --kernel | --emulator | --accel | --out | --modules | --tests | --cache | --append | --repeat)
			[ $# -ge 2 ] || usage_error "$1 needs a value"
			case $1 in
			--bindir) BINDIR=$2 ;;
			--kernel) KERNEL_SPEC=$2 ;;
			--emulator) EMULATOR=$2 ;;
			--accel) ACCEL_REQUEST=$2 ;;
			--out) OUT_DIR=$2 ;;
			--modules) MODULES_DIR=$2 ;;
			--tests) TEST_FILTER=$2 TESTS_GIVEN=1 ;;
			--cache) CACHE_DIR=$2 ;;
			--append) APPEND=$2 ;;
			--repeat) REPEAT=$2 ;;
			esac
			shift 2
			;;
		*) usage_error "unknown argument: $1" ;;
		esac
	done

	[ -n "$BINDIR" ] || usage_error "--bindir is required"
	[ -d "$BINDIR" ] || usage_error "--bindir $BINDIR is not a directory"
	[ -f "$BINDIR/tests.list" ] || usage_error "no $BINDIR/tests.list"
	BINDIR=$(cd "$BINDIR" && pwd)
	if why=$(kernel_spec_error "$KERNEL_SPEC"); then
		usage_error "$why"
	fi
	case $EMULATOR in
	qemu | bochs) ;;
	*) usage_error "--emulator must be qemu or bochs" ;;
	esac
	case $ACCEL_REQUEST in
	auto | kvm | tcg) ;;
	*) usage_error "--accel must be auto, kvm or tcg" ;;
	esac
	if [ "$EMULATOR" = bochs ] && [ "$ACCEL_REQUEST" != auto ]; then
		usage_error "--accel is for QEMU only"
	fi
	if [ -n "$MODULES_DIR" ]; then
		check_modules_dir "$MODULES_DIR"
		MODULES_DIR=$(cd "$MODULES_DIR" && pwd)
	fi
	if [ -n "$TESTS_GIVEN" ] && [ -z "${TEST_FILTER//[[:space:]]/}" ]; then
		usage_error "--tests is empty (leave it out to run every test)"
	fi
	[[ $REPEAT =~ ^[1-9][0-9]{0,2}$ ]] || usage_error "--repeat must be a number from 1 to 999"
	case $APPEND in
	*[!-a-zA-Z0-9_.,=:/+\ ]*) usage_error "--append: only plain kernel arguments (letters, digits, _-.,=:/+ and spaces)" ;;
	esac
	case ${VMTEST_BUDGET-} in
	*[!0-9]*) usage_error "VMTEST_BUDGET must be a number of seconds" ;;
	esac
	[ -n "$OUT_DIR" ] || OUT_DIR=./vmtest-out/${KERNEL_SPEC##*/}-$EMULATOR
	usable_dir --out "$OUT_DIR"
	OUT_DIR=$(cd "$OUT_DIR" && pwd)
	usable_dir --cache "$CACHE_DIR"
	CACHE_DIR=$(cd "$CACHE_DIR" && pwd)
}

# Fills TESTS with tests.list, or the --tests subset of it, in its order.
select_tests() {
	local name wanted filter
	local -A listed=()
	TESTS=()
	while read -r name; do
		[ -n "$name" ] || continue
		listed[$name]=1
		if [ -z "$TEST_FILTER" ] || [[ " $TEST_FILTER " == *" $name "* ]]; then
			TESTS+=("$name")
		fi
	done <"$BINDIR/tests.list"
	read -r -a filter <<<"$TEST_FILTER"
	for wanted in ${filter[@]+"${filter[@]}"}; do
		[ -n "${listed[$wanted]-}" ] || usage_error "--tests: $wanted is not in $BINDIR/tests.list"
	done
	[ ${#TESTS[@]} -gt 0 ] || usage_error "no tests to run"

	TEST_TIMEOUT=$(sed -n 's/^timeout=\([0-9][0-9]*\)$/\1/p' "$BINDIR/settings" 2>/dev/null)
	TEST_TIMEOUT=${TEST_TIMEOUT:-$DEFAULT_TIMEOUT}
}

build_initramfs() {
	local root=$WORK/initramfs name applet
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/vmtest,proc,sys,dev,tmp,kvm}
	cp "$BUSYBOX" "$root/bin/busybox"
	for applet in $("$BUSYBOX" --list-full); do
		[ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
	done
	cp "$VM_DIR/init.sh" "$root/init"
	chmod 755 "$root/init"
	echo "TIMEOUT_SCALE=$TIMEOUT_SCALE" >"$root/etc/vmtest/config"
	printf '%s\n' "${TESTS[@]}" >"$root/etc/vmtest/tests"

	for name in "${TESTS[@]}"; do
		if [ ! -f "$BINDIR/$name" ]; then
			echo "vmtest: warning: $BINDIR/$name is missing" >&2
		elif readelf -l "$BINDIR/$name" 2>/dev/null | grep -q 'program interpreter'; then
			echo "vmtest: warning: $name is dynamically linked; the VM has no libraries" >&2
		fi
		# Without debug info (a quarter of the initrd): the tests read
		# only their program headers.
		[ ! -f "$BINDIR/$name" ] ||
			strip --strip-debug -o "$root/kvm/$name" "$BINDIR/$name" 2>/dev/null ||
			cp "$BINDIR/$name" "$root/kvm/"
	done
	cp "$BINDIR/tests.list" "$root/kvm/"
	[ ! -f "$BINDIR/settings" ] || cp "$BINDIR/settings" "$root/kvm/"

	modules_install "$root/lib/modules/vmtest" || return 1

	(cd "$root" && find . | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$WORK/initrd.gz"
}

# Markers that init.sh prints on the status channel (and the console).
status_has() {
	grep -a -q "^vmtest: $1" "$STATUS_LOG" "$CONSOLE_LOG" 2>/dev/null
}

# Prints the lines of the status channel not shown yet, as the VM runs:
# complete lines only, unless "all" is asked for once the VM has stopped.
show_status() {
	local lines
	lines=$(wc -l <"$STATUS_LOG")
	[ "${1-}" != all ] || lines=$((lines + 1))
	if [ "$lines" -gt "$STATUS_SHOWN" ]; then
		sed -n "$((STATUS_SHOWN + 1)),${lines}p" "$STATUS_LOG" | tr -d '\r' | awk '{ print }'
		STATUS_SHOWN=$lines
	fi
}

emulator_stop() {
	local i
	kill "$EMU_PID" 2>/dev/null || return 0
	for i in 1 2 3 4 5; do
		sleep 1
		kill -0 "$EMU_PID" 2>/dev/null || return 0
	done
	kill -KILL "$EMU_PID" 2>/dev/null || true
}

# scan_console: the splat lines of the console so far (LINENO:TEXT), by
# the same scan that judges the run.  Fails when the scan itself does not
# work (then only a panic stops the VM early).
scan_console() {
	local rc=0
	SCAN_OUT=$("$VM_DIR/report.sh" --scan-console "$CONSOLE_LOG" 2>"$WORK/scan.err") || rc=$?
	case $rc in
	0) SCAN_OUT= ;;
	5) ;;
	*)
		echo "vmtest: warning: report.sh --scan-console failed (exit $rc):" \
			"$(head -n 1 "$WORK/scan.err"); no early stop on kernel splats" >&2
		return 1
		;;
	esac
}

# running_test LINENO: "during|after test N NAME" for the last test that
# init.sh had started before console line LINENO ("vmtest: test N start
# NAME" markers; a kernel message may share their line), or "before the
# tests".
running_test() {
	local upto=$1
	tr -d '\r' <"$CONSOLE_LOG" | awk -v upto="$upto" '
		NR > upto { exit }
		match($0, /vmtest: test [0-9]+ start [A-Za-z0-9_.-]+/) {
			split(substr($0, RSTART, RLENGTH), f, " ")
			num = f[3]; name = f[5]; done = 0
		}
		num != "" && $0 ~ ("^(not )?ok " num " selftests: kvm: ") { done = 1 }
		END {
			if (num == "") print "before the tests"
			else printf "%s test %s %s\n", done ? "after" : "during", num, name
		}'
}

# Watches the running VM until it stops, or stops it: after the end marker
# (Bochs may not power off), a few seconds after a kernel splat (BUG, Oops,
# panic, WARNING: the run has failed and a broken kernel may hang every
# later test), or when a budget runs out, showing the status channel (KTAP)
# meanwhile. Sets VM_STATE, KERNEL_SECONDS, BOOT_SECONDS, KVM_SECONDS, RUN_SECONDS and, for
# a splat, SPLAT_LINES, SPLAT_TEST, SPLAT_SECONDS, SPLAT_STOP_SECONDS.
vm_watch() {
	local start=$SECONDS elapsed ended="" scan=1 size scanned=-1
	VM_STATE=running BOOT_SECONDS="" KVM_SECONDS="" KERNEL_SECONDS="" STATUS_SHOWN=0
	SPLAT_LINES="" SPLAT_TEST="" SPLAT_SECONDS="" SPLAT_STOP_SECONDS=""
	while kill -0 "$EMU_PID" 2>/dev/null; do
		sleep 1
		show_status
		elapsed=$((SECONDS - start))
		# The kernel's first console line: what the firmware and the
		# boot loader took before it.
		if [ -z "$KERNEL_SECONDS" ] && [ -s "$CONSOLE_LOG" ]; then
			KERNEL_SECONDS=$elapsed
		fi
		if [ -z "$BOOT_SECONDS" ] && status_has init; then
			BOOT_SECONDS=$elapsed
		fi
		if [ -z "$KVM_SECONDS" ] && status_has 'kvm loaded'; then
			KVM_SECONDS=$elapsed
		fi
		size=$(stat -c %s "$CONSOLE_LOG" 2>/dev/null) || size=0
		if [ "$scan" -eq 1 ] && [ -z "$SPLAT_SECONDS" ] && [ "$size" != "$scanned" ]; then
			scanned=$size
			if ! scan_console; then
				scan=0
			elif [ -n "$SCAN_OUT" ]; then
				SPLAT_SECONDS=$elapsed
				SPLAT_TEST=$(running_test "${SCAN_OUT%%:*}")
				echo "vmtest: KERNEL SPLAT on the console at ${elapsed}s, $SPLAT_TEST;" \
					"stopping the VM in ${SPLAT_GRACE}s" >&2
			fi
		fi
		if [ -z "$ended" ] && { status_has end || grep -a -q 'Kernel panic - not syncing' "$CONSOLE_LOG"; }; then
			ended=$elapsed
		fi
		if [ -n "$SPLAT_SECONDS" ] && [ $((elapsed - SPLAT_SECONDS)) -ge "$SPLAT_GRACE" ]; then
			# The rest of the splat (call trace) had time to arrive.
			scan_console || true
			SPLAT_LINES=$SCAN_OUT
			VM_STATE=splat
			emulator_stop
			SPLAT_STOP_SECONDS=$((SECONDS - start))
		elif [ -n "$ended" ] && [ $((elapsed - ended)) -ge "$END_GRACE" ]; then
			emulator_stop
		elif [ -z "$BOOT_SECONDS" ] && [ "$elapsed" -ge "$BOOT_BUDGET" ]; then
			echo "vmtest: no /init after $BOOT_BUDGET s, stopping the VM" >&2
			VM_STATE=boot-timeout
			emulator_stop
		elif [ "$elapsed" -ge "$TIME_LIMIT" ]; then
			echo "vmtest: RUNNER TIMEOUT: the VM ran past its $TIME_LIMIT s budget, stopping it" >&2
			VM_STATE=timeout
			emulator_stop
		fi
	done
	wait "$EMU_PID" || true
	show_status all
	RUN_SECONDS=$((SECONDS - start))
	[ -z "$BOOT_SECONDS" ] && status_has init && BOOT_SECONDS=$RUN_SECONDS
	[ -z "$KVM_SECONDS" ] && status_has 'kvm loaded' && KVM_SECONDS=$RUN_SECONDS
	if [ "$VM_STATE" = running ]; then
		if status_has end; then
			VM_STATE=finished
		else
			VM_STATE=stopped-early
		fi
	fi
	EMU_PID=
}

# Writes results.ktap from the status channel (the console if the VM had no
# second serial port). Tests that never reported get a "not ok" so that the
# plan holds.
extract_ktap() {
	local src=$STATUS_LOG ktap=$OUT_DIR/results.ktap num name why
	if ! grep -a -q '^vmtest: ktap begin' "$src" 2>/dev/null; then
		src=$CONSOLE_LOG
	elif ! grep -a -q '^vmtest: ktap end' "$src" &&
		grep -a -q '^vmtest: ktap end' "$CONSOLE_LOG" 2>/dev/null; then
		# The status channel lost its tail: Bochs writes its serial
		# port file through a buffer, which stopping Bochs after the
		# end marker can drop.  The console has every line.
		echo "vmtest: the status channel stops before the end of the KTAP; taking the results from the console" >&2
		src=$CONSOLE_LOG
	fi
	# On the console, kernel messages ("[   12.345678] ...") are mixed in.
	tr -d '\r' <"$src" | sed -n '/^vmtest: ktap begin/,/^vmtest: ktap end/p' |
		grep -a -v -E '^(vmtest: |\[ *[0-9]+\.[0-9]+\] )' >"$ktap" || true
	if ! grep -q '^TAP version' "$ktap"; then
		printf 'TAP version 13\n1..%d\n' ${#TESTS[@]} >"$ktap"
	fi
	case $VM_STATE in
	boot-timeout) why="the VM did not boot" ;;
	timeout) why="runner timeout" ;;
	splat) why="kernel splat, the VM was stopped" ;;
	*) why="the VM stopped" ;;
	esac
	! status_has 'kvm failed' || why="KVM did not load"
	for num in "${!TESTS[@]}"; do
		name=${TESTS[num]}
		num=$((num + 1))
		if grep -q -E "^(not )?ok $num selftests: kvm: " "$ktap"; then
			continue
		elif grep -q -x -F "# selftests: kvm: $name" "$ktap"; then
			echo "not ok $num selftests: kvm: $name # unfinished: $why" >>"$ktap"
		else
			echo "not ok $num selftests: kvm: $name # not run: $why" >>"$ktap"
		fi
	done
}

write_metadata() {
	local file=$OUT_DIR/metadata list
	{
		echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "kernel: $KERNEL_DESC"
		echo "emulator: $EMULATOR_VERSION"
		echo "accelerator: $ACCEL ($ACCEL_REASON)"
		echo "cpu: $CPU_MODEL"
		echo "cpus: $CPUS"
		echo "memory: $MEMORY"
		echo "cmdline: $CMDLINE"
		echo "nx_huge_pages: $NX_HUGE_PAGES (kvm.nx_huge_pages on the kernel command line)"
		echo "test_timeout: ${TEST_TIMEOUT}s x $TIMEOUT_SCALE"
		echo "runner_budget: ${TIME_LIMIT}s"
		echo "tests: ${TESTS[*]}"
		for list in "$WORK"/initramfs/lib/modules/vmtest/load-*; do
			[ ! -f "$list" ] || echo "modules_${list##*-}: $(paste -s -d " " "$list")"
		done
		if [ ${#REPLACED_MODULES[@]} -gt 0 ]; then
			echo "replacement_modules: $MODULES_DIR: ${REPLACED_MODULES[*]}"
		else
			echo "replacement_modules: none"
		fi
	} >"$file"
}

append_run_metadata() {
	local file=$OUT_DIR/metadata
	{
		echo "kernel_release: ${KERNEL_RELEASE:-unknown}"
		grep -a '^vmtest: \(vendor:\|param\|hugepages\) ' "$STATUS_LOG" 2>/dev/null | tr -d '\r' |
			sed 's/^vmtest: vendor:/cpu_vendor:/; s/^vmtest: param /kvm_param: /; s/^vmtest: hugepages /hugepages: /' || true
		echo "vm_state: $VM_STATE"
		if [ "$VM_STATE" = splat ]; then
			echo "splat: $SPLAT_TEST, seen at ${SPLAT_SECONDS}s, VM stopped at ${SPLAT_STOP_SECONDS}s"
		fi
		echo "boot_seconds: ${BOOT_SECONDS:-never}"
		echo "kvm_loaded_seconds: ${KVM_SECONDS:-never}"
		echo "total_seconds: $RUN_SECONDS"
	} >>"$file"
}

# Runs from the EXIT trap.
# shellcheck disable=SC2317
cleanup() {
	[ -z "${EMU_PID-}" ] || kill -KILL "$EMU_PID" 2>/dev/null || true
	[ -z "${WORK-}" ] || rm -rf "$WORK"
}

# The KVM parameter that the VM's kernel command line sets last for NAME
# (kvm.nx_huge_pages), or "kernel default".
cmdline_param() {
	local name=$1 word value="kernel default"
	for word in $CMDLINE; do
		[ "${word%%=*}" != "$name" ] || value=${word#*=}
	done
	echo "$value"
}

# VMTEST_FAKE_VM=SCRIPT (the runner's own tests, scripts/vm/runner-test.sh):
# SCRIPT CONSOLE STATUS plays the VM, writing what init.sh and the kernel
# would; no emulator, no initramfs.
fake_setup() {
	ACCEL=fake ACCEL_REASON="VMTEST_FAKE_VM=$VMTEST_FAKE_VM" CPU_MODEL=none
	TIMEOUT_SCALE=1 BOOT_BUDGET=30 MEMORY=0 CPUS=0 HUGEPAGES=
	EMULATOR_VERSION="fake VM $VMTEST_FAKE_VM"
}

# One boot of the VM: the whole run of the suite.  Exits with the run's code.
run_once() {
	local packages test_wall boot_failed=0 leaked=0 report_rc=0
	REPLACED_MODULES=()

	if [ "$EMULATOR" = qemu ]; then
		packages=$QEMU_PACKAGES
	else
		packages=$BOCHS_PACKAGES
	fi
	# shellcheck disable=SC2086
	"$SCRIPTS_DIR/deps.sh" $packages || die $EXIT_USAGE "missing host packages"

	WORK=$(mktemp -d "${TMPDIR:-/tmp}/vmtest.XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT TERM

	kernel_get "$KERNEL_SPEC" || die $EXIT_BOOT "no kernel to boot ($KERNEL_SPEC)"
	echo "vmtest: kernel: $KERNEL_DESC"

	EXTRA_CMDLINE=
	if [ -n "${VMTEST_FAKE_VM-}" ]; then
		fake_setup
	else
		"${EMULATOR}_setup"
	fi

	CONSOLE_LOG=$OUT_DIR/console.log
	STATUS_LOG=$WORK/status.log
	EMULATOR_LOG=$OUT_DIR/emulator.log
	rm -f "$CONSOLE_LOG" "$OUT_DIR/results.ktap" "$OUT_DIR/metadata" \
		"$EMULATOR_LOG" "$OUT_DIR/bochs.log"
	: >"$CONSOLE_LOG"
	: >"$STATUS_LOG"

	if [ -z "${VMTEST_FAKE_VM-}" ]; then
		build_initramfs || die $EXIT_BOOT "cannot build the initramfs"
	fi

	# slub_nomerge: KVM's pte_list_desc cache would otherwise share a slab
	# with others, and a leak of it would escape the check at rmmod.
	CMDLINE="console=ttyS0,115200 panic=-1 slub_nomerge $HUGEPAGES $DEFAULT_KVM_CMDLINE"
	CMDLINE+="${EXTRA_CMDLINE:+ $EXTRA_CMDLINE}${APPEND:+ $APPEND}"
	NX_HUGE_PAGES=$(cmdline_param kvm.nx_huge_pages)
	test_wall=$((TEST_TIMEOUT * TIMEOUT_SCALE + TEST_SLACK))
	[ "$EMULATOR" != bochs ] || test_wall=$((test_wall * BOCHS_WALL_FACTOR_PERCENT / 100))
	TIME_LIMIT=${VMTEST_BUDGET:-$((BOOT_BUDGET + ${#TESTS[@]} * test_wall + FINISH_SLACK))}
	write_metadata

	echo "vmtest: ${#TESTS[@]} test(s), timeout ${TEST_TIMEOUT}s x $TIMEOUT_SCALE each, budget ${TIME_LIMIT}s"
	echo "vmtest: kvm.nx_huge_pages=$NX_HUGE_PAGES (kernel command line)"
	echo "vmtest: console: $CONSOLE_LOG"
	if [ -n "${VMTEST_FAKE_VM-}" ]; then
		# The runner's own tests: a script plays the VM (writes the
		# console and the status channel), no emulator runs.
		"$VMTEST_FAKE_VM" "$CONSOLE_LOG" "$STATUS_LOG" </dev/null >>"$EMULATOR_LOG" 2>&1 &
		EMU_PID=$!
	else
		"${EMULATOR}_start" "$WORK/initrd.gz" "$CMDLINE" || die $EXIT_BOOT "cannot start $EMULATOR"
	fi
	vm_watch

	KERNEL_RELEASE=$(grep -a -h -m1 '^vmtest: kernel ' "$STATUS_LOG" "$CONSOLE_LOG" 2>/dev/null |
		head -n 1 | tr -d '\r' | sed 's/^vmtest: kernel //') || true
	extract_ktap
	append_run_metadata
	echo "vmtest: $VM_STATE after ${RUN_SECONDS}s (kernel at ${KERNEL_SECONDS:-never}${KERNEL_SECONDS:+s}, /init at ${BOOT_SECONDS:-never}${BOOT_SECONDS:+s}, KVM loaded at ${KVM_SECONDS:-never}${KVM_SECONDS:+s})"

	if [ -z "$BOOT_SECONDS" ] || status_has 'kvm failed'; then
		boot_failed=1
		echo "vmtest: BOOT FAILURE: see $CONSOLE_LOG and $EMULATOR_LOG; the last lines:"
		tail -n 15 "$CONSOLE_LOG" | tr -d '\r' | awk '{ print "  | " $0 }'
		tail -n 5 "$EMULATOR_LOG" | awk '{ print "  | " $0 }'
	fi
	if status_has LEAK; then
		leaked=1
		echo "vmtest: KVM could not be unloaded after the tests"
	fi
	if [ -n "$SPLAT_SECONDS" ]; then
		echo "vmtest: KERNEL SPLAT $SPLAT_TEST: seen at ${SPLAT_SECONDS}s," \
			"VM stopped at ${SPLAT_STOP_SECONDS:-$RUN_SECONDS}s; console lines:"
		printf '%s\n' "${SPLAT_LINES:-$SCAN_OUT}" | head -n 20 | sed 's/^/  | /'
	fi

	"$VM_DIR/report.sh" --known-issues "$KNOWN_ISSUES" \
		--release "$KERNEL_RELEASE" ${MODULES_DIR:+--modules-replaced} \
		"$OUT_DIR" || report_rc=$?

	if [ "$boot_failed" -eq 1 ]; then
		exit $EXIT_BOOT
	elif [ "$report_rc" -eq $EXIT_CRASH ] || [ "$leaked" -eq 1 ] || [ -n "$SPLAT_SECONDS" ]; then
		exit $EXIT_CRASH
	elif [ "$VM_STATE" = timeout ]; then
		exit $EXIT_TIMEOUT
	elif [ "$report_rc" -ne 0 ]; then
		exit $EXIT_FAIL
	fi
	exit $EXIT_OK
}

# The worse of two exit codes, in the order 2, 3, 5, 4, 1, 0.
worse_code() {
	local a=$1 b=$2 c
	for c in 2 3 5 4 1; do
		if [ "$a" -eq "$c" ] || [ "$b" -eq "$c" ]; then
			echo "$c"
			return
		fi
	done
	[ "$a" -eq 0 ] && [ "$b" -eq 0 ] && echo 0 || echo $EXIT_FAIL
}

# pass_counts KTAP...: each result (test, and variant inside a test) with
# how many of the runs passed it: "PASSED/RUNS NAME".  SKIP counts apart.
pass_counts() {
	awk -v runs=$# '
		{ sub(/\r$/, "") }
		/^# selftests: kvm: / { test = $4; next }
		/^(# )?(not )?ok [0-9]+ / {
			line = $0
			inner = sub(/^# /, "", line)
			notok = sub(/^not /, "", line)
			sub(/^ok [0-9]+ /, "", line)
			directive = ""
			# kselftest puts a skip before its description: "ok 4 # SKIP why".
			if (line ~ /^# [Ss][Kk][Ii][Pp]( |$)/) {
				directive = "SKIP"
				line = substr(line, 8)
			} else if (index(line, " # ")) {
				directive = substr(line, index(line, " # ") + 3)
				line = substr(line, 1, index(line, " # ") - 1)
			}
			if (inner) name = test ": " line
			else { name = line; sub(/^selftests: kvm: /, "", name) }
			if (!(name in seen)) { order[++n] = name; seen[name] = 0 }
			seen[name]++
			if (!notok && toupper(directive) ~ /^SKIP/) skip[name]++
			else if (!notok) pass[name]++
		}
		END {
			for (i = 1; i <= n; i++) {
				name = order[i]
				printf "%d/%d %s%s%s\n", pass[name], runs, name,
					skip[name] ? " (skipped " skip[name] ")" : "",
					seen[name] < runs ? " (in " seen[name] " runs only: unstable name)" : ""
			}
		}' "$@"
}

# --repeat N: N boots, one after the other, each with its own OUT/run-K.
run_repeated() {
	local k rc worst=0 dir args=() i ktaps=() flaky unstable line codes=()
	# The arguments without --out and --repeat.
	for ((i = 0; i < ${#ARGS[@]}; i++)); do
		case ${ARGS[i]} in
		--out | --repeat) i=$((i + 1)) ;;
		*) args+=("${ARGS[i]}") ;;
		esac
	done
	for ((k = 1; k <= REPEAT; k++)); do
		dir=$OUT_DIR/run-$k
		echo "vmtest: ==== run $k of $REPEAT ($dir) ===="
		rc=0
		"$0" "${args[@]}" --out "$dir" || rc=$?
		echo "vmtest: run $k of $REPEAT: exit $rc"
		codes+=("$rc")
		worst=$(worse_code "$worst" "$rc")
		[ ! -f "$dir/results.ktap" ] || ktaps+=("$dir/results.ktap")
	done
	echo "vmtest: ==== pass counts over $REPEAT runs (exit codes: ${codes[*]}) ===="
	if [ ${#ktaps[@]} -gt 0 ]; then
		pass_counts "${ktaps[@]}" | tee "$OUT_DIR/pass-counts"
	fi
	flaky=0 unstable=0
	if [ -f "$OUT_DIR/pass-counts" ]; then
		while read -r line; do
			if [[ $line == *'unstable name)' ]]; then
				unstable=$((unstable + 1))
				continue
			fi
			line=${line%% *}
			[ "${line%/*}" -eq 0 ] || [ "${line%/*}" -eq "$REPEAT" ] || flaky=$((flaky + 1))
		done <"$OUT_DIR/pass-counts"
	fi
	[ "$unstable" -eq 0 ] || echo "vmtest: $unstable result name(s) not in every run (names that change between runs)"
	[ ${#ktaps[@]} -eq "$REPEAT" ] || echo "vmtest: $((REPEAT - ${#ktaps[@]})) run(s) left no results.ktap"
	echo "vmtest: $flaky flaky result(s) (passed in some runs, not in others)"
	exit "$worst"
}

main() {
	parse_args "$@"
	select_tests
	"$VM_DIR/report.sh" --check --known-issues "$KNOWN_ISSUES" || exit $EXIT_USAGE
	if [ "$REPEAT" -gt 1 ]; then
		run_repeated
	fi
	run_once
}

main "$@"
