#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Host-side tests of scripts/vmtest.sh, no VM: bad input is a usage error
# before anything is installed or downloaded, and a kernel splat on a fake
# console stops the "VM" within seconds with exit 5, naming the test.
#
# Usage: scripts/vm/runner-test.sh     (make check runs it)
# Prints KTAP, one result per case.  Exit: 0 all passed, 1 otherwise.

set -uo pipefail

SCRIPTS_DIR=$(cd "$(dirname "$0")/.." && pwd)
VMTEST=$SCRIPTS_DIR/vmtest.sh
# Seconds from the BUG line on the fake console to the runner's exit that
# still count as "within seconds" (the runner waits SPLAT_GRACE=3 for the
# rest of the splat, and takes up to 5 more to stop the emulator).
SPLAT_STOP_LIMIT=12

T=$(mktemp -d "${TMPDIR:-/tmp}/runner-test.XXXXXX")
trap 'rm -rf "$T"' EXIT

NUM=0
FAILED=0

result() {
	local ok=$1 name=$2 why=${3-}
	NUM=$((NUM + 1))
	if [ "$ok" -eq 1 ]; then
		echo "ok $NUM $name"
	else
		echo "not ok $NUM $name${why:+ # $why}"
		FAILED=$((FAILED + 1))
	fi
}

# ---- fixtures ---------------------------------------------------------------

# Package tools that log every call and install nothing: a case that
# reaches them has touched the system's packages.
mkdir -p "$T/stubs"
for tool in apt-get apt-cache dpkg dpkg-deb dpkg-query; do
	cat >"$T/stubs/$tool" <<-EOF
		#!/bin/sh
		echo "$tool \$*" >>"$T/package-calls"
		[ "$tool" != dpkg-query ] || printf installed
		exit 0
	EOF
	chmod +x "$T/stubs/$tool"
done
STUB_PATH=$T/stubs:$PATH

# Two tests (never run: the fake VM prints their results).
BIN=$T/bin
mkdir -p "$BIN"
printf 'alpha_test\nbeta_test\ngamma_test\n' >"$BIN/tests.list"
echo timeout=45 >"$BIN/settings"
for t in alpha_test beta_test gamma_test; do
	printf '#!/bin/sh\nexit 0\n' >"$BIN/$t"
	chmod +x "$BIN/$t"
done

# A file with a bzImage setup header ("HdrS" at 514, the version string at
# 512 + the offset at 526) and nothing else.
KERNEL=$T/bzImage
head -c 1024 /dev/zero >"$KERNEL"
printf 'HdrS' | dd of="$KERNEL" bs=1 seek=514 conv=notrunc status=none
printf '\000\001' | dd of="$KERNEL" bs=1 seek=526 conv=notrunc status=none
printf '6.99.0-fake (runner-test) #1\000' | dd of="$KERNEL" bs=1 seek=768 conv=notrunc status=none

mkdir -p "$T/cache"

# run_vmtest LOG ARGS...: the runner with the package stubs; sets RC.
run_vmtest() {
	local log=$1
	shift
	rm -f "$T/package-calls"
	RC=0
	PATH=$STUB_PATH "$VMTEST" "$@" >"$log" 2>&1 </dev/null || RC=$?
}

# ---- bad input: exit 2, no package tool called ------------------------------

usage_case() {
	local name=$1 want_text=$2
	shift 2
	local log=$T/usage-$NUM.log calls=
	run_vmtest "$log" --bindir "$BIN" --cache "$T/cache" "$@"
	[ ! -f "$T/package-calls" ] || calls=$(paste -s -d ';' "$T/package-calls")
	if [ "$RC" -ne 2 ]; then
		result 0 "usage: $name" "exit $RC, expected 2: $(grep -m1 vmtest "$log")"
	elif [ -n "$calls" ]; then
		result 0 "usage: $name" "exit 2 but after calling: $calls"
	elif [ -n "$want_text" ] && ! grep -q -- "$want_text" "$log"; then
		result 0 "usage: $name" "exit 2 without '$want_text': $(head -n 1 "$log")"
	else
		result 1 "usage: $name"
	fi
}

echo "TAP version 13"

: >"$T/a-file"
usage_case "--out is a file" "not a directory" --out "$T/a-file"
usage_case "--out cannot be created" "cannot be created" --out /proc/vmtest-runner-test
usage_case "--kernel ''" "empty" --kernel ''
usage_case "--kernel 7.0 (unknown short name) lists the names" "6.12 6.1 7.2" --kernel 7.0
usage_case "--kernel a file that is no bzImage" "not a readable bzImage" --kernel "$T/a-file"
mkdir -p "$T/empty-modules"
usage_case "--modules an empty directory" "has no kvm.ko" --modules "$T/empty-modules"
mkdir -p "$T/zero-modules"
: >"$T/zero-modules/kvm.ko"
: >"$T/zero-modules/kvm-amd.ko"
usage_case "--modules with 0-byte .ko files" "is empty" --modules "$T/zero-modules"
usage_case "--tests ''" "is empty" --tests ''
usage_case "--cache is a file, no apt-get update" "not a directory" --cache "$T/a-file"
usage_case "--cache cannot be created, no apt-get update" "cannot be created" --cache /proc/vmtest-runner-test
usage_case "--repeat 0" "repeat" --repeat 0

# ---- the watch loop, on a fake VM --------------------------------------------

# fake_vm FILE SPLAT: a script that plays the VM: prints init.sh's markers
# and KTAP, then for SPLAT=1 puts a Debian 6.1 BUG on the console in the
# middle of the second test and hangs, as a kernel that died holding
# mmu_lock does; for SPLAT=0 finishes; for SPLAT=2 finishes with the
# status channel's last lines lost (a stopped Bochs' unflushed serial
# file) and a kernel message on the console among the KTAP.
fake_vm() {
	local file=$1 splat=$2
	cat >"$file" <<-'EOF'
		#!/bin/bash
		console=$1 status=$2
		say() { echo "vmtest: $*" | tee -a "$console" >>"$status"; }
		out() { echo "$*" | tee -a "$console" >>"$status"; }
		say init
		say "kernel 6.99.0-fake"
		say "kvm loaded"
		say "ktap begin"
		out "TAP version 13"
		out "1..3"
		say "test 1 start alpha_test"
		out "# selftests: kvm: alpha_test"
		out "ok 1 selftests: kvm: alpha_test"
		say "test 2 start beta_test"
		out "# selftests: kvm: beta_test"
		out "# ok 1 vmx thp 2M leaf"
		sleep 2
	EOF
	if [ "$splat" -eq 1 ]; then
		cat >>"$file" <<-'EOF'
			date +%s.%N >"${console%/*}/bug-time"
			{
				echo "[   42.100001] kernel BUG at arch/x86/kvm/mmu/mmu.c:952!"
				echo "[   42.100002] invalid opcode: 0000 [#1] PREEMPT SMP NOPTI"
				echo "[   42.100003] CPU: 1 PID: 321 Comm: beta_test Not tainted 6.1.0-56-amd64 #1  Debian 6.1.192-2"
				echo "[   42.100004] RIP: 0010:pte_list_remove+0x1a/0x80 [kvm]"
			} >>"$console"
			exec sleep 600
		EOF
	elif [ "$splat" -eq 2 ]; then
		cat >>"$file" <<-'EOF'
			out "ok 2 selftests: kvm: beta_test"
			say "test 3 start gamma_test"
			echo "# selftests: kvm: gamma_test" >>"$console"
			echo "[   43.000001] kvm: a kernel message between two KTAP lines" >>"$console"
			echo "ok 3 selftests: kvm: gamma_test # SKIP" >>"$console"
			echo "vmtest: ktap end" >>"$console"
			echo "vmtest: end" >>"$console"
		EOF
	else
		cat >>"$file" <<-'EOF'
			out "ok 2 selftests: kvm: beta_test"
			say "test 3 start gamma_test"
			out "# selftests: kvm: gamma_test"
			out "ok 3 selftests: kvm: gamma_test # SKIP"
			say "ktap end"
			say end
		EOF
	fi
	chmod +x "$file"
}

# run_fake NAME MODE: the runner on fake_vm MODE; its log in $log, its
# results in $T/out-NAME.
run_fake() {
	fake_vm "$T/fake-$1" "$2"
	log=$T/$1.log
	VMTEST_FAKE_VM=$T/fake-$1 VMTEST_BUDGET=90 \
		run_vmtest "$log" --bindir "$BIN" --cache "$T/cache" --kernel "$KERNEL" \
		--out "$T/out-$1" --accel tcg
}

t0=$(date +%s.%N)
run_fake splat 1
t1=$(date +%s.%N)
if [ -f "$T/out-splat/bug-time" ]; then
	stop=$(awk -v a="$(cat "$T/out-splat/bug-time")" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
else
	stop=never
fi
echo "# splat case: runner exit $RC, ${stop}s from the BUG line to the runner's exit," \
	"$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')s in all"
result "$([ "$RC" -eq 5 ] && echo 1 || echo 0)" "splat: exit 5" "exit $RC"
ok=0
[ "$stop" != never ] && awk -v s="$stop" -v l="$SPLAT_STOP_LIMIT" 'BEGIN { exit !(s <= l) }' && ok=1
result "$ok" "splat: VM stopped within ${SPLAT_STOP_LIMIT}s of the BUG" "${stop}s"
ok=1
why=
grep -q 'KERNEL SPLAT during test 2 beta_test' "$log" || { ok=0; why="no 'KERNEL SPLAT during test 2 beta_test'"; }
grep -q 'kernel BUG at arch/x86/kvm/mmu/mmu.c:952!' "$log" || { ok=0; why="$why; the BUG line is not shown"; }
grep -q -E 'RUNNER TIMEOUT|# TIMEOUT' "$log" && { ok=0; why="$why; reported as a timeout"; }
grep -q '^vm_state: splat' "$T/out-splat/metadata" 2>/dev/null || { ok=0; why="$why; metadata has no vm_state: splat"; }
grep -q '^not ok 2 selftests: kvm: beta_test # unfinished: kernel splat' "$T/out-splat/results.ktap" 2>/dev/null ||
	{ ok=0; why="$why; results.ktap does not mark beta_test unfinished"; }
grep -q '^vmtest: ' "$T/out-splat/results.ktap" 2>/dev/null && { ok=0; why="$why; runner markers in results.ktap"; }
result "$ok" "splat: reported as itself, naming the running test" "${why#; }"
[ "$ok" -eq 1 ] || sed 's/^/# | /' "$log" | tail -n 30

run_fake clean 0
ok=1
why=
[ "$RC" -eq 0 ] || { ok=0; why="exit $RC"; }
grep -q '^2 passed, 0 failed, 1 skipped$' "$log" || { ok=0; why="$why; no '2 passed, 0 failed, 1 skipped'"; }
grep -q '^nx_huge_pages: off ' "$T/out-clean/metadata" 2>/dev/null || { ok=0; why="$why; metadata lacks nx_huge_pages: off"; }
grep -q '^cmdline: .*kvm.nx_huge_pages=off' "$T/out-clean/metadata" 2>/dev/null || { ok=0; why="$why; cmdline lacks kvm.nx_huge_pages=off"; }
result "$ok" "clean fake run: exit 0, counts, nx_huge_pages=off recorded" "${why#; }"
[ "$ok" -eq 1 ] || sed 's/^/# | /' "$log" | tail -n 30

run_fake lost-tail 2
ok=1
why=
[ "$RC" -eq 0 ] || { ok=0; why="exit $RC"; }
grep -q '^2 passed, 0 failed, 1 skipped$' "$log" || { ok=0; why="$why; no '2 passed, 0 failed, 1 skipped'"; }
grep -q 'taking the results from the console' "$log" || { ok=0; why="$why; the switch to the console is not said"; }
grep -q '^ok 3 selftests: kvm: gamma_test # SKIP$' "$T/out-lost-tail/results.ktap" 2>/dev/null ||
	{ ok=0; why="$why; results.ktap lacks gamma_test's result"; }
grep -q 'kernel message' "$T/out-lost-tail/results.ktap" 2>/dev/null && { ok=0; why="$why; a kernel message in results.ktap"; }
result "$ok" "status channel without its tail: the results come from the console" "${why#; }"
[ "$ok" -eq 1 ] || sed 's/^/# | /' "$log" | tail -n 30

echo "1..$NUM"
echo "# $((NUM - FAILED)) passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
