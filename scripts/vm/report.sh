#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Judges a finished VM run: test results with known issues applied, and
# kernel problems (WARNING, BUG, Oops, panic, leaked slab objects) on the console.
#
# Usage: report.sh [--known-issues FILE] [--release KERNEL_RELEASE] OUTDIR
#        report.sh --check --known-issues FILE
#        report.sh --scan-console FILE
# Reads OUTDIR/results.ktap and OUTDIR/console.log; prints the verdicts and
# the closing "N passed, N failed, N skipped" line.
# Exit: 0 all good, 1 test failures, 2 usage error or malformed
# known-issues file, 5 kernel problems on the console (wins over 1).
# --scan-console prints the splat lines of FILE as LINENO:TEXT and exits 5
# if there are any, 0 if none (the runner polls it to stop a broken VM).

set -euo pipefail

PROG=${0##*/}

MAX_CONSOLE_LINES=40

usage() {
	echo "usage: $PROG [--known-issues FILE] [--release KERNEL_RELEASE] OUTDIR" >&2
	echo "       $PROG --check --known-issues FILE" >&2
	echo "       $PROG --scan-console FILE" >&2
	exit 2
}

KNOWN_FILE=
RELEASE=
CHECK_ONLY=0
SCAN_FILE=
while [ $# -gt 0 ]; do
	case $1 in
	--known-issues) [ $# -ge 2 ] || usage; KNOWN_FILE=$2; shift 2 ;;
	--release) [ $# -ge 2 ] || usage; RELEASE=$2; shift 2 ;;
	--check) CHECK_ONLY=1; shift ;;
	--scan-console) [ $# -ge 2 ] || usage; SCAN_FILE=$2; shift 2 ;;
	-*) usage ;;
	*) break ;;
	esac
done

KI_KERNEL=() KI_TEST=() KI_SUBTEST=() KI_REASON=()

load_known_issues() {
	local file=$1 lineno=0 line tabs target rest
	[ -r "$file" ] || { echo "$PROG: cannot read $file" >&2; exit 2; }
	while IFS= read -r line || [ -n "$line" ]; do
		lineno=$((lineno + 1))
		case $line in
		'' | '#'*) continue ;;
		esac
		tabs=${line//[^$'\t']/}
		rest=${line#*$'\t'}
		target=${rest%%$'\t'*}
		if [ ${#tabs} -ne 2 ] || [ -z "${line%%$'\t'*}" ] ||
		   [ -z "${target%%:*}" ] || [ -z "${rest#*$'\t'}" ] ||
		   { [ "$target" != "${target#*:}" ] && [ -z "${target#*:}" ]; }; then
			echo "$PROG: $file:$lineno: malformed entry (want KERNEL<TAB>TEST[:SUBTEST]<TAB>REASON): $line" >&2
			exit 2
		fi
		KI_KERNEL+=("${line%%$'\t'*}")
		KI_TEST+=("${target%%:*}")
		if [ "$target" = "${target#*:}" ]; then
			KI_SUBTEST+=("")
		else
			KI_SUBTEST+=("${target#*:}")
		fi
		KI_REASON+=("${rest#*$'\t'}")
	done <"$file"
}

# known_reason TEST [SUBTEST]: prints the reason of the first entry for the
# running kernel that covers it; fails when there is none.
known_reason() {
	local test=$1 subtest=${2-} i
	for i in "${!KI_TEST[@]}"; do
		# The fields are globs: unquoted right-hand sides on purpose.
		# shellcheck disable=SC2053
		[[ $RELEASE == ${KI_KERNEL[i]} && $test == ${KI_TEST[i]} ]] || continue
		if [ -z "$subtest" ]; then
			[ -z "${KI_SUBTEST[i]}" ] || continue
		else
			# shellcheck disable=SC2053
			[[ -n ${KI_SUBTEST[i]} && $subtest == ${KI_SUBTEST[i]} ]] || continue
		fi
		echo "${KI_REASON[i]}"
		return 0
	done
	return 1
}

PASSED=0 FAILED=0 SKIPPED=0 KNOWN=0

# judge_failure NAME DIRECTIVE SUBTEST...: verdict for a test that reported
# "not ok", given the descriptions of the failing results it printed.
judge_failure() {
	local name=$1 directive=$2 reason sub unknown=()
	shift 2
	if reason=$(known_reason "$name"); then
		echo "known issue: $name # $directive ($reason)"
		KNOWN=$((KNOWN + 1))
		return
	fi
	for sub in "$@"; do
		known_reason "$name" "$sub" >/dev/null || unknown+=("$sub")
	done
	if [ $# -gt 0 ] && [ ${#unknown[@]} -eq 0 ] && [ "${directive#exit=}" != "$directive" ]; then
		for sub in "$@"; do
			echo "known issue: $name: $sub ($(known_reason "$name" "$sub"))"
		done
		KNOWN=$((KNOWN + 1))
		return
	fi
	echo "FAIL: $name # $directive"
	for sub in "${unknown[@]}"; do
		echo "FAIL:   $name: $sub"
	done
	FAILED=$((FAILED + 1))
}

judge_results() {
	local ktap=$1 line name subfails=() desc directive
	local result_re='^(not )?ok [0-9]+ selftests: kvm: ([^ ]+)( # (.*))?$'
	local subtest_re='^# not ok [0-9]+ (.*)$'

	[ -f "$ktap" ] || { echo "$PROG: no $ktap" >&2; return; }
	while IFS= read -r line; do
		if [[ $line == '# selftests: kvm: '* ]]; then
			subfails=()
		elif [[ $line =~ $subtest_re ]]; then
			desc=${BASH_REMATCH[1]}
			directive=
			if [[ $desc == *' # '* ]]; then
				directive=${desc#* # }
				desc=${desc%% # *}
			fi
			# KTAP: a SKIP or TODO directive makes "not ok" no failure.
			case ${directive^^} in
			SKIP* | TODO*) ;;
			*) subfails+=("$desc") ;;
			esac
		elif [[ $line =~ $result_re ]]; then
			name=${BASH_REMATCH[2]}
			directive=${BASH_REMATCH[4]}
			if [ -n "${BASH_REMATCH[1]}" ]; then
				judge_failure "$name" "$directive" ${subfails[@]+"${subfails[@]}"}
			elif [[ $directive == SKIP* ]]; then
				SKIPPED=$((SKIPPED + 1))
			else
				PASSED=$((PASSED + 1))
			fi
			subfails=()
		fi
	done <"$ktap"
}

# Prints the kernel splat lines of a console log as LINENO:TEXT.
#
# Only kernel messages are judged: the text after a printk timestamp
# "[   12.345678]" (and an optional caller id "[T123]"), each message of a
# line on its own, since the serial console can glue a kernel message to the
# end of a line of test output.  A line without a timestamp is judged whole,
# except test output ("# ...") and the runner's own lines ("vmtest: ..."):
# those are not the kernel's.  The patterns are anchored at the start of the
# message where the kernel prints them there, so that advice such as
# "RETBleed: WARNING: Spectre v2 mitigation leaves CPU vulnerable" or a word
# like "DEBUG:" is no splat.  The forms, from the printk calls of 6.1, 6.12
# and 7.2:
#   WARNING:                  WARN(), lockdep, RCU lockdep ("suspicious RCU usage")
#   kernel BUG at FILE:LINE!  BUG(), BUG_ON()
#   STR: 0000 [#N]            die(): "invalid opcode: 0000 [#1]" (6.1),
#                             "Oops: invalid opcode: 0000 [#1]" (6.12, 7.2),
#                             "int3: 0000 [#1]", "general protection fault, ...: 0000 [#1]"
#   Oops, general protection fault, Kernel panic
#   BUG: ...                  KASAN, KFENCE, page faults, sleeping in atomic,
#                             soft lockup ("watchdog: BUG: soft lockup"), bad page state
#   BUG CACHE (TAINT): ...    SLUB consistency reports
#   UBSAN:, list_add/list_del corruption
#   INFO: task ... blocked    the hung-task detector
#   INFO: rcu_* detected stalls / self-detected stall
#   Watchdog detected hard LOCKUP
#   kmemleak: N new suspected memory leaks, unreferenced object 0x...
#   still has objects, Objects remaining   slab caches leaked at rmmod
scan_console() {
	local console=$1
	awk '
	function splat(m) {
		sub(/^ +/, "", m)
		return m ~ /^WARNING:/ ||
			m ~ /^kernel BUG at / ||
			m ~ /: [0-9a-f][0-9a-f][0-9a-f][0-9a-f] \[#[0-9]+\]/ ||
			m ~ /^Oops/ ||
			m ~ /^general protection fault/ ||
			m ~ /^Kernel panic/ ||
			m ~ /(^|[ :(\]])BUG: / ||
			m ~ /^BUG [^ ]+ \([^)]*\): / ||
			m ~ /^UBSAN: / ||
			m ~ /^list_(add|del) corruption/ ||
			m ~ /^INFO: task .*blocked/ ||
			m ~ /INFO: rcu_[a-z_]+ (self-)?detected (expedited )?stall/ ||
			m ~ /Watchdog detected hard LOCKUP/ ||
			m ~ /^kmemleak: .*suspected memory leak/ ||
			m ~ /^unreferenced object 0x/ ||
			m ~ /still has objects/ ||
			m ~ /Objects remaining/
	}
	{
		sub(/\r$/, "")
		# Terminal control sequences of the firmware and the emulator.
		gsub(/\033\[[0-9;?]*[A-Za-z]/, "")
		gsub(/\033[()c]/, "")
		s = $0
		bad = 0
		if (match(s, /\[ *[0-9]+\.[0-9]+\]/)) {
			while (!bad && match(s, /\[ *[0-9]+\.[0-9]+\]/)) {
				s = substr(s, RSTART + RLENGTH)
				m = s
				sub(/^ ?\[ *[CT][0-9]+\]/, "", m)
				if (match(m, /\[ *[0-9]+\.[0-9]+\]/))
					m = substr(m, 1, RSTART - 1)
				bad = splat(m)
			}
		} else if (s !~ /^(# |vmtest: )/) {
			bad = splat(s)
		}
		if (bad)
			printf "%d:%s\n", NR, $0
	}
	' "$console"
}

if [ -n "$SCAN_FILE" ]; then
	if [ $# -ne 0 ] || [ -n "$KNOWN_FILE$RELEASE" ] || [ "$CHECK_ONLY" -ne 0 ]; then
		usage
	fi
	if [ ! -f "$SCAN_FILE" ] || [ ! -r "$SCAN_FILE" ]; then
		echo "$PROG: cannot read $SCAN_FILE" >&2
		exit 2
	fi
	problems=$(scan_console "$SCAN_FILE")
	[ -n "$problems" ] || exit 0
	printf '%s\n' "$problems"
	exit 5
fi
if [ -n "$KNOWN_FILE" ]; then
	load_known_issues "$KNOWN_FILE"
fi
if [ "$CHECK_ONLY" -eq 1 ]; then
	[ -n "$KNOWN_FILE" ] || usage
	exit 0
fi
[ $# -eq 1 ] || usage
OUTDIR=$1

judge_results "$OUTDIR/results.ktap"

rc=0
[ "$FAILED" -eq 0 ] || rc=1

problems=
[ ! -f "$OUTDIR/console.log" ] || problems=$(scan_console "$OUTDIR/console.log")
if [ -n "$problems" ]; then
	count=$(printf '%s\n' "$problems" | wc -l)
	echo "KERNEL PROBLEMS: $count line(s) in $OUTDIR/console.log:"
	printf '%s\n' "$problems" | head -n "$MAX_CONSOLE_LINES" | sed 's/^/  /'
	[ "$count" -le "$MAX_CONSOLE_LINES" ] || echo "  ..."
	rc=5
fi

echo "# known issues: $KNOWN"
echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
exit $rc
