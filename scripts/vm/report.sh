#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Judges a finished VM run: test results with known issues applied, and
# kernel problems (WARNING, BUG, Oops, panic, leaked slab objects) on the console.
#
# Usage: report.sh [--known-issues FILE] [--release KERNEL_RELEASE] OUTDIR
#        report.sh --check --known-issues FILE
# Reads OUTDIR/results.ktap and OUTDIR/console.log; prints the verdicts and
# the closing "N passed, N failed, N skipped" line.
# Exit: 0 all good, 1 test failures, 2 usage error or malformed
# known-issues file, 5 kernel problems on the console (wins over 1).

set -euo pipefail

PROG=${0##*/}

# Console lines that mean the kernel is broken (an awk regexp). WARNING must
# start the message, as WARN() and lockdep print it: "RETBleed: WARNING: ..."
# is advice, not a bug.
CONSOLE_PATTERN='(^|\\] )WARNING:|BUG:|Oops|Kernel panic|general protection fault|still has objects|Objects remaining'
MAX_CONSOLE_LINES=40

usage() {
	echo "usage: $PROG [--known-issues FILE] [--release KERNEL_RELEASE] OUTDIR" >&2
	echo "       $PROG --check --known-issues FILE" >&2
	exit 2
}

KNOWN_FILE=
RELEASE=
CHECK_ONLY=0
while [ $# -gt 0 ]; do
	case $1 in
	--known-issues) [ $# -ge 2 ] || usage; KNOWN_FILE=$2; shift 2 ;;
	--release) [ $# -ge 2 ] || usage; RELEASE=$2; shift 2 ;;
	--check) CHECK_ONLY=1; shift ;;
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

# Prints kernel problem lines of the console log with their line numbers.
# Test output ("# ...") and the runner's own lines ("vmtest: ...") are not
# the kernel's, unless a kernel message (with its timestamp) got appended to
# one of them.
scan_console() {
	local console=$1
	[ -f "$console" ] || return 0
	awk -v pattern="$CONSOLE_PATTERN" '
		{ sub(/\r$/, "") }
		/^(# |vmtest: )/ && !/\[ *[0-9]+\.[0-9]+\]/ { next }
		$0 ~ pattern { printf "%d:%s\n", NR, $0 }
	' "$console"
}

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

problems=$(scan_console "$OUTDIR/console.log")
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
