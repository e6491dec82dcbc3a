#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Tests of scripts/vm/report.sh, the judge of every VM run: the console scan
# on synthetic console logs and the verdicts on synthetic runs.  Prints KTAP.
#
# Usage: tests/report/run.sh [-V] [CASE...]
#
# console/*.log   console lines, each marked in its first column: "!" the
#                 scan must flag the line as a kernel splat, "." it must not.
#                 Lines starting with "#" are comments.  Every marked line is
#                 one result; each file is judged once more with CRLF line
#                 ends, as the serial console writes them, and once with only
#                 its "." lines (exit 0, no output).
# cases/NAME/     one run: results.ktap, console.log (both optional), and
#                 "expect", which holds the lines
#                   args ARG...     report.sh's arguments (DIR is the case
#                                   directory, KNOWN the suite's known-issues
#                                   file); one word each, no quoting
#                   exit N          its exit status
#                   has TEXT        a line of its output that equals TEXT
#                   grep REGEX      a line that matches the ERE
#                   lacks REGEX     no line matches the ERE
#                   last TEXT       its last line
#                 and comments ("# ...") that say what the case is about.
# Exit: 0 if every result passed, 1 otherwise, 2 usage error.

set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
REPORT=$REPO/scripts/vm/report.sh
VERBOSE=0

usage() {
	echo "usage: ${0##*/} [-V] [CASE...]" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	-V) VERBOSE=1; shift ;;
	-h) echo "usage: ${0##*/} [-V] [CASE...]"; exit 0 ;;
	-*) usage ;;
	*) break ;;
	esac
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/report-test.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

NUM=0
FAILS=0
RESULTS=$TMP/results

result() {	# result OK|FAIL DESCRIPTION [DIAGNOSTIC...]
	local verdict=$1 desc=$2
	shift 2
	NUM=$((NUM + 1))
	if [ "$verdict" = OK ]; then
		echo "ok $NUM $desc" >>"$RESULTS"
	else
		FAILS=$((FAILS + 1))
		local line
		for line in "$@"; do
			printf '%s\n' "$line" | sed 's/^/# /' >>"$RESULTS"
		done
		echo "not ok $NUM $desc" >>"$RESULTS"
	fi
}

# console_file FIXTURE: the scan against the marks of one fixture file.
console_file() {
	local fixture=$1 base=${1##*/} log=$TMP/console.log flagged=$TMP/flagged
	local lineno=0 n=0 raw mark text rc want got expect_lines=() texts=() i

	: >"$log"
	while IFS= read -r raw || [ -n "$raw" ]; do
		lineno=$((lineno + 1))
		case $raw in
		'#'*) continue ;;
		'!'*) mark=1 ;;
		'.'*) mark=0 ;;
		*)
			result FAIL "console $base:$lineno: fixture line without a mark" "line: $raw"
			continue
			;;
		esac
		text=${raw:1}
		printf '%s\n' "$text" >>"$log"
		n=$((n + 1))
		expect_lines+=("$mark:$lineno")
		texts+=("$text")
	done <"$fixture"

	"$REPORT" --scan-console "$log" >"$flagged" 2>"$TMP/stderr"
	rc=$?
	# What the scan printed, by line number.
	local -A printed=()
	while IFS= read -r raw; do
		printed[${raw%%:*}]=${raw#*:}
	done <"$flagged"
	# TEXT is the line without terminal control sequences.
	local clean=()
	mapfile -t clean < <(sed -E $'s/\033\\[[0-9;?]*[A-Za-z]//g; s/\033[()c]//g' "$log")
	for i in "${!texts[@]}"; do
		mark=${expect_lines[i]%%:*}
		lineno=${expect_lines[i]#*:}
		text=${clean[i]}
		got=0
		[ "${printed[$((i + 1))]+set}" != set ] || [ "${printed[$((i + 1))]}" != "$text" ] || got=1
		if [ "$mark" -eq 1 ]; then want="flagged"; else want="not flagged"; fi
		if [ "$got" -eq "$mark" ]; then
			result OK "console $base:$lineno $want: ${text:0:100}"
		else
			result FAIL "console $base:$lineno $want: ${text:0:100}" \
				"expected the scan to print '$((i + 1)):$text' $([ "$mark" -eq 1 ] && echo once || echo never)" \
				"the scan printed: ${printed[$((i + 1))]-nothing for this line}"
		fi
	done
	# Only lines that exist, each once, in order.
	local bogus
	bogus=$(awk -F: -v n="$n" '$1 !~ /^[0-9]+$/ || $1 < 1 || $1 > n || $1 <= prev { print } { prev = $1 }' "$flagged")
	if [ -z "$bogus" ]; then
		result OK "console $base: the scan prints only LINENO:TEXT of existing lines, in order"
	else
		result FAIL "console $base: the scan prints only LINENO:TEXT of existing lines, in order" "found: $bogus"
	fi
	want=0
	printf '%s\n' "${expect_lines[@]}" | grep -q '^1:' && want=5
	if [ "$rc" -eq "$want" ]; then
		result OK "console $base: --scan-console exits $want"
	else
		result FAIL "console $base: --scan-console exits $want" "found exit $rc" "$(cat "$TMP/stderr")"
	fi

	# The serial console ends its lines with CRLF: same verdicts, TEXT without CR.
	sed 's/$/\r/' "$log" >"$TMP/console-crlf.log"
	"$REPORT" --scan-console "$TMP/console-crlf.log" >"$TMP/flagged-crlf" 2>&1
	rc=$?
	if [ "$rc" -eq "$want" ] && cmp -s "$flagged" "$TMP/flagged-crlf"; then
		result OK "console $base: CRLF line ends give the same lines and exit $want"
	else
		result FAIL "console $base: CRLF line ends give the same lines and exit $want" \
			"exit $rc; differences: $(diff "$flagged" "$TMP/flagged-crlf" | head -n 5 | tr '\n' ' ')"
	fi

	# Without its splats, the file is clean: exit 0 and nothing printed.
	: >"$TMP/clean.log"
	for i in "${!texts[@]}"; do
		[ "${expect_lines[i]%%:*}" -eq 1 ] || printf '%s\n' "${texts[i]}" >>"$TMP/clean.log"
	done
	"$REPORT" --scan-console "$TMP/clean.log" >"$TMP/flagged-clean" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ] && [ ! -s "$TMP/flagged-clean" ]; then
		result OK "console $base: its harmless lines alone exit 0 and print nothing"
	else
		result FAIL "console $base: its harmless lines alone exit 0 and print nothing" \
			"exit $rc, printed: $(head -n 3 "$TMP/flagged-clean" | tr '\n' ' ')"
	fi
}

# composed_check SRC ID: the test spells ID as a prefix format and a name,
# e.g. "dirty-%s" and "ends-next-first" for "dirty-ends-next-first".
composed_check() {
	local src=$1 check=$2 prefix rest
	[[ $check == *-* ]] || return 1
	prefix=${check%%-*} rest=${check#*-}
	grep -q -F -- "\"$prefix-%s\"" "$src" && grep -q -F -- "\"$rest\"" "$src"
}

# suite_entries: every entry of the suite's scripts/known-issues names a test
# of the suite and a check id that its source (the test or the library)
# spells out as a string, so that a renamed test or check cannot leave a
# stale entry behind.
suite_entries() {
	local file=$REPO/scripts/known-issues glob test variant check src
	while IFS=$'\t' read -r glob test variant check _; do
		case $glob in '' | '#'*) continue ;; esac
		src=$REPO/x86_64/$test.c
		if [ ! -f "$src" ]; then
			result FAIL "known-issues: $test is a test of the suite" "no $src"
		elif ! grep -q -r -F -- "\"$check\"" "$src" "$REPO/lib" "$REPO/include" &&
			! composed_check "$src" "$check"; then
			result FAIL "known-issues: $test has a check \"$check\" ($glob, $variant)" \
				"\"$check\" does not occur in $src, lib/ or include/"
		else
			result OK "known-issues: $test has a check \"$check\" ($glob, $variant)"
		fi
	done <"$file"
}

# run_case DIR: report.sh on one synthetic run, against its "expect" file.
run_case() {
	local dir=$1 name=${1##*/} out=$TMP/out rc line word args=() checks=0 bad=()
	local want_exit=

	if [ ! -f "$dir/expect" ]; then
		result FAIL "case $name" "no $dir/expect"
		return
	fi
	while IFS= read -r line || [ -n "$line" ]; do
		case $line in
		'args '*)
			for word in ${line#args }; do
				word=${word//DIR/$dir}
				word=${word//KNOWN/$REPO/scripts/known-issues}
				args+=("$word")
			done
			;;
		'exit '*) want_exit=${line#exit } ;;
		esac
	done <"$dir/expect"
	if [ ${#args[@]} -eq 0 ] || [ -z "$want_exit" ]; then
		result FAIL "case $name" "$dir/expect needs an args and an exit line"
		return
	fi

	"$REPORT" "${args[@]}" >"$out" 2>&1
	rc=$?
	[ "$rc" -eq "$want_exit" ] || bad+=("expected exit $want_exit, found $rc")
	while IFS= read -r line || [ -n "$line" ]; do
		case $line in
		'has '*)
			checks=$((checks + 1))
			grep -q -x -F -- "${line#has }" "$out" || bad+=("no output line '${line#has }'")
			;;
		'grep '*)
			checks=$((checks + 1))
			grep -q -E -- "${line#grep }" "$out" || bad+=("no output line matches /${line#grep }/")
			;;
		'lacks '*)
			checks=$((checks + 1))
			! grep -q -E -- "${line#lacks }" "$out" || bad+=("an output line matches /${line#lacks }/: $(grep -m1 -E -- "${line#lacks }" "$out")")
			;;
		'last '*)
			checks=$((checks + 1))
			[ "$(tail -n 1 "$out")" = "${line#last }" ] ||
				bad+=("expected the last line '${line#last }', found '$(tail -n 1 "$out")'")
			;;
		'args '* | 'exit '* | '#'* | '') ;;
		*) bad+=("unknown expect line: $line") ;;
		esac
	done <"$dir/expect"
	[ "$checks" -gt 0 ] || bad+=("$dir/expect checks nothing of the output")

	local about
	about=$(sed -n 's/^# //p' "$dir/expect" | head -n 1)
	if [ ${#bad[@]} -eq 0 ]; then
		result OK "case $name: $about"
		if [ "$VERBOSE" -eq 1 ]; then sed 's/^/# | /' "$out" >>"$RESULTS"; fi
	else
		result FAIL "case $name: $about" "${bad[@]}" "report.sh ${args[*]}:" \
			"$(sed 's/^/| /' "$out")"
	fi
}

: >"$RESULTS"
if [ $# -eq 0 ]; then
	for f in "$HERE"/console/*.log; do
		console_file "$f"
	done
	for d in "$HERE"/cases/*/; do
		run_case "${d%/}"
	done
	suite_entries
else
	for c in "$@"; do
		if [ -f "$HERE/console/$c" ]; then
			console_file "$HERE/console/$c"
		elif [ -d "$HERE/cases/$c" ]; then
			run_case "$HERE/cases/$c"
		else
			echo "${0##*/}: no case $c" >&2
			exit 2
		fi
	done
fi

echo "TAP version 13"
echo "1..$NUM"
cat "$RESULTS"
echo "# Totals: pass:$((NUM - FAILS)) fail:$FAILS xfail:0 xpass:0 skip:0 error:0"
[ "$FAILS" -eq 0 ]
