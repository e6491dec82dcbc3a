#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Judges a finished VM run: test results with known issues applied, and
# kernel problems (WARNING, BUG, Oops, panic, leaked slab objects) on the console.
#
# Usage: report.sh [--known-issues FILE] [--release KERNEL_RELEASE]
#                  [--modules-replaced] OUTDIR
#        report.sh --check --known-issues FILE
#        report.sh --scan-console FILE
# Reads OUTDIR/results.ktap and OUTDIR/console.log; prints the verdicts and
# the closing "N passed, N failed, N skipped" line (one result per test
# binary; a known issue that did not reproduce counts as one more failure).
# Exit: 0 all good, 1 test failures, 2 usage error or malformed
# known-issues file, 5 kernel problems on the console (wins over 1).
# --check validates the known-issues file only (exit 0 or 2).
# --scan-console prints the splat lines of FILE as LINENO:TEXT and exits 5
# if there are any, 0 if none (the runner polls it to stop a broken VM).
#
# A test binary's failure is a known issue only when all of this holds:
# the binary exited with the kselftest failure code ("# exit=1": not a
# timeout, not a signal, not an unfinished or missing run), it printed at
# least one failing variant, every failing variant carries "# check ID",
# every (variant, check) has an entry for the running kernel, and the
# console shows no kernel problem.  A listed issue whose kernel glob
# matches, whose test ran, and whose variant passed or failed otherwise is
# reported as "known issue not reproduced" and fails the run; a skipped or
# absent variant is not judged.  With --modules-replaced (the run loaded
# KVM modules of its own, e.g. a fix from scripts/kvm-fixes/) the kernel is
# not the stock one the list describes: a listed issue that did not
# reproduce is noted, not failed; everything else is judged as usual.

set -euo pipefail

PROG=${0##*/}
MAX_CONSOLE_LINES=40

# A check id, as the tests print it after "# check ".
CHECK_ID_RE='^[a-z0-9-]+$'
# A test binary's name.
TEST_NAME_RE='^[A-Za-z0-9_.+-]+$'

usage() {
	echo "usage: $PROG [--known-issues FILE] [--release KERNEL_RELEASE] [--modules-replaced] OUTDIR" >&2
	echo "       $PROG --check --known-issues FILE" >&2
	echo "       $PROG --scan-console FILE" >&2
	exit 2
}

KNOWN_FILE=
MODULES_REPLACED=0
RELEASE=
CHECK_ONLY=0
SCAN_FILE=
while [ $# -gt 0 ]; do
	case $1 in
	--known-issues) [ $# -ge 2 ] || usage; KNOWN_FILE=$2; shift 2 ;;
	--release) [ $# -ge 2 ] || usage; RELEASE=$2; shift 2 ;;
	--check) CHECK_ONLY=1; shift ;;
	--modules-replaced) MODULES_REPLACED=1; shift ;;
	--scan-console) [ $# -ge 2 ] || usage; SCAN_FILE=$2; shift 2 ;;
	--) shift; break ;;
	-*) usage ;;
	*) break ;;
	esac
done

# ---- Known issues ---------------------------------------------------------

KI_GLOB=() KI_TEST=() KI_VARIANT=() KI_CHECK=() KI_REASON=()

malformed() {
	echo "$PROG: $KNOWN_FILE:$1: $2" >&2
	echo "$PROG: an entry is KERNEL_GLOB<TAB>TEST<TAB>VARIANT<TAB>CHECK<TAB>REASON" >&2
	exit 2
}

load_known_issues() {
	local lineno=0 line rest fields i key seen=() seen_line=()
	if [ ! -f "$KNOWN_FILE" ] || [ ! -r "$KNOWN_FILE" ]; then
		echo "$PROG: cannot read $KNOWN_FILE" >&2
		exit 2
	fi
	while IFS= read -r line || [ -n "$line" ]; do
		lineno=$((lineno + 1))
		line=${line%$'\r'}
		case $line in
		'' | '#'*) continue ;;
		esac
		# Split at every TAB, keeping empty fields.
		fields=()
		rest=$line
		while [[ $rest == *$'\t'* ]]; do
			fields+=("${rest%%$'\t'*}")
			rest=${rest#*$'\t'}
		done
		fields+=("$rest")
		[ ${#fields[@]} -eq 5 ] ||
			malformed $lineno "want 5 TAB-separated fields, found ${#fields[@]}"
		for i in 0 1 2 3 4; do
			[ -n "${fields[i]}" ] || malformed $lineno "field $((i + 1)) is empty"
			if [[ ${fields[i]} =~ ^[[:space:]]|[[:space:]]$ ]]; then
				malformed $lineno "field $((i + 1)) starts or ends with white space: '${fields[i]}'"
			fi
		done
		[[ ${fields[0]} != *[[:space:]]* ]] ||
			malformed $lineno "KERNEL_GLOB contains white space: '${fields[0]}'"
		[[ ${fields[1]} =~ $TEST_NAME_RE ]] ||
			malformed $lineno "TEST is not a test binary name: '${fields[1]}'"
		[[ ${fields[2]} != *[][*?]* ]] ||
			malformed $lineno "VARIANT must be an exact name, not a glob: '${fields[2]}'"
		[[ ${fields[2]} != *' # '* && ${fields[2]} != '#'* ]] ||
			malformed $lineno "VARIANT contains a KTAP directive: '${fields[2]}'"
		[[ ${fields[3]} =~ $CHECK_ID_RE ]] ||
			malformed $lineno "CHECK is not a check id ([a-z0-9-]+): '${fields[3]}'"
		key="${fields[0]}"$'\t'"${fields[1]}"$'\t'"${fields[2]}"$'\t'"${fields[3]}"
		for i in "${!seen[@]}"; do
			[ "${seen[i]}" != "$key" ] ||
				malformed $lineno "the same entry again (first on line ${seen_line[i]})"
		done
		seen+=("$key")
		seen_line+=("$lineno")
		KI_GLOB+=("${fields[0]}")
		KI_TEST+=("${fields[1]}")
		KI_VARIANT+=("${fields[2]}")
		KI_CHECK+=("${fields[3]}")
		KI_REASON+=("${fields[4]}")
	done <"$KNOWN_FILE"
}

# known_reason TEST VARIANT CHECK: prints the reason of the first entry for
# the running kernel that names exactly this failure; fails if none does.
known_reason() {
	local i
	[ -n "$RELEASE" ] || return 1
	for i in "${!KI_TEST[@]}"; do
		# KERNEL_GLOB is a glob: unquoted on purpose.
		# shellcheck disable=SC2053
		if [[ $RELEASE == ${KI_GLOB[i]} && $1 == "${KI_TEST[i]}" &&
		      $2 == "${KI_VARIANT[i]}" && $3 == "${KI_CHECK[i]}" ]]; then
			echo "${KI_REASON[i]}"
			return 0
		fi
	done
	return 1
}

# ---- KTAP of the kselftest runner -----------------------------------------

# One entry per test binary result ("ok N selftests: kvm: NAME"), and one per
# variant result ("# ok N DESCRIPTION", one level down) with the index of its
# binary.  Outcomes: pass, skip, fail.
T_NAME=() T_OUTCOME=() T_DIRECTIVE=()
V_TEST=() V_DESC=() V_OUTCOME=() V_DIRECTIVE=()
PLAN=

# split_result TEXT: sets R_NOT, R_DESC and R_DIRECTIVE from a KTAP result
# line "[not ]ok N [DESCRIPTION][ # DIRECTIVE]"; fails on other lines.
split_result() {
	local re='^(not )?ok [0-9]+( (.*))?$' rest
	[[ $1 =~ $re ]] || return 1
	R_NOT=${BASH_REMATCH[1]}
	rest=${BASH_REMATCH[3]}
	R_DIRECTIVE=
	if [[ $rest == '#'* ]]; then
		R_DESC=
		R_DIRECTIVE=${rest#\#}
	elif [[ $rest == *' # '* ]]; then
		R_DESC=${rest%% # *}
		R_DIRECTIVE=${rest#* # }
	elif [[ $rest == *' #' ]]; then
		R_DESC=${rest% #}
	else
		R_DESC=$rest
	fi
	R_DIRECTIVE=${R_DIRECTIVE# }
	R_DESC=${R_DESC%"${R_DESC##*[![:space:]]}"}
}

# result_outcome: pass, skip or fail of the result split_result just read.
# KTAP: a SKIP directive makes a result a skip, a TODO one no failure.
result_outcome() {
	case ${R_DIRECTIVE^^} in
	SKIP*) echo skip ;;
	TODO*) echo pass ;;
	*) if [ -n "$R_NOT" ]; then echo fail; else echo pass; fi ;;
	esac
}

parse_ktap() {
	local ktap=$1 line first=0 block=0 name i top_re='^selftests: [^ :]+: ([^ ]+)$'
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line%$'\r'}
		if [[ $line == '# selftests: '* ]]; then
			first=${#V_TEST[@]}	# a new binary starts
		elif [[ $line == '# '* ]] && split_result "${line#\# }"; then
			V_TEST+=("${#T_NAME[@]}")
			V_DESC+=("$R_DESC")
			V_OUTCOME+=("$(result_outcome)")
			V_DIRECTIVE+=("$R_DIRECTIVE")
		elif split_result "$line"; then
			name=$R_DESC
			[[ $R_DESC =~ $top_re ]] && name=${BASH_REMATCH[1]}
			T_NAME+=("$name")
			T_OUTCOME+=("$(result_outcome)")
			T_DIRECTIVE+=("$R_DIRECTIVE")
			# Variant lines between the previous binary's result and
			# this one's header belong to neither.
			for ((i = block; i < first; i++)); do
				V_TEST[i]=-1
			done
			block=${#V_TEST[@]}
			first=$block
		elif [[ $line =~ ^1\.\.([0-9]+)$ ]] && [ -z "$PLAN" ]; then
			PLAN=${BASH_REMATCH[1]}
		fi
	done <"$ktap"
	# Variant lines after the last binary result belong to no finished binary.
	for ((i = block; i < ${#V_TEST[@]}; i++)); do
		V_TEST[i]=-1
	done
}

# ---- Verdicts -------------------------------------------------------------

PASSED=0 FAILED=0 SKIPPED=0 KNOWN=0
SPLATS=

# check_of DIRECTIVE: prints the check id of a "check ID" directive.
check_of() {
	local re='^check ([^ ]+)$' id
	[[ $1 =~ $re ]] || return 1
	id=${BASH_REMATCH[1]}
	[[ $id =~ $CHECK_ID_RE ]] || return 1
	echo "$id"
}

# judge_binary T: the verdict of test binary T that reported "not ok".
judge_binary() {
	local t=$1 name=${T_NAME[$1]} directive=${T_DIRECTIVE[$1]} v check reason
	local failing=() unknown=0 why=

	for v in "${!V_TEST[@]}"; do
		[[ ${V_TEST[v]} -eq $t && ${V_OUTCOME[v]} == fail ]] || continue
		failing+=("$v")
		if ! check=$(check_of "${V_DIRECTIVE[v]}") ||
		   ! known_reason "$name" "${V_DESC[v]}" "$check" >/dev/null; then
			unknown=$((unknown + 1))
		fi
	done

	if [ "$directive" != exit=1 ]; then
		why="the binary did not exit with the failure code"
	elif [ ${#failing[@]} -eq 0 ]; then
		why="no failing variant line"
	elif [ "$unknown" -gt 0 ]; then
		why="$unknown failing variant(s) not known issues"
	elif [ -n "$SPLATS" ]; then
		why="kernel problems on the console"
	fi

	if [ -z "$why" ]; then
		for v in "${failing[@]}"; do
			check=$(check_of "${V_DIRECTIVE[v]}")
			reason=$(known_reason "$name" "${V_DESC[v]}" "$check")
			echo "known issue: $name: ${V_DESC[v]} # check $check ($reason)"
		done
		KNOWN=$((KNOWN + 1))
		return
	fi

	echo "FAIL: $name # ${directive:-no directive} ($why)"
	for v in "${failing[@]}"; do
		if check=$(check_of "${V_DIRECTIVE[v]}") &&
		   known_reason "$name" "${V_DESC[v]}" "$check" >/dev/null; then
			echo "FAIL:   $name: ${V_DESC[v]} # ${V_DIRECTIVE[v]} (a known issue)"
		else
			echo "FAIL:   $name: ${V_DESC[v]} # ${V_DIRECTIVE[v]:-no directive}"
		fi
	done
	FAILED=$((FAILED + 1))
}

# judge_not_reproduced: every listed issue for this kernel whose variant
# ran and did not fail at the listed check (in any of its results, should a
# binary appear more than once).
judge_not_reproduced() {
	local i t v name found ran seen=() key k check
	[ -n "$RELEASE" ] || return 0
	for i in "${!KI_TEST[@]}"; do
		# shellcheck disable=SC2053
		[[ $RELEASE == ${KI_GLOB[i]} ]] || continue
		key="${KI_TEST[i]}"$'\t'"${KI_VARIANT[i]}"$'\t'"${KI_CHECK[i]}"
		for k in "${seen[@]+"${seen[@]}"}"; do
			[ "$k" != "$key" ] || continue 2
		done
		seen+=("$key")
		name=${KI_TEST[i]}
		found=
		ran=
		for t in "${!T_NAME[@]}"; do
			[ "${T_NAME[t]}" = "$name" ] || continue
			for v in "${!V_TEST[@]}"; do
				[[ ${V_TEST[v]} -eq $t && ${V_DESC[v]} == "${KI_VARIANT[i]}" ]] || continue
				case ${V_OUTCOME[v]} in
				pass) ran="it passed" ;;
				fail)
					check=$(check_of "${V_DIRECTIVE[v]}") || check=
					if [ "$check" = "${KI_CHECK[i]}" ]; then
						found=1
					elif [ -n "${V_DIRECTIVE[v]}" ]; then
						ran="it failed with '# ${V_DIRECTIVE[v]}' instead"
					else
						ran="it failed without a check id instead"
					fi
					;;
				esac
			done
		done
		if [ -n "$ran" ]; then
			[ -z "$found" ] || ran="$ran (and reproduced elsewhere in the run)"
			if [ "$MODULES_REPLACED" -eq 1 ]; then
				echo "note: known issue not reproduced with the replaced KVM modules: $name: ${KI_VARIANT[i]} # check ${KI_CHECK[i]} on $RELEASE: $ran"
			else
				echo "FAIL: known issue not reproduced: $name: ${KI_VARIANT[i]} # check ${KI_CHECK[i]} on $RELEASE: $ran"
				FAILED=$((FAILED + 1))
			fi
		fi
	done
}

judge_results() {
	local ktap=$1 t v
	if [ ! -f "$ktap" ]; then
		echo "FAIL: no test results: $ktap is missing"
		FAILED=$((FAILED + 1))
		return
	fi
	parse_ktap "$ktap"
	for t in "${!T_NAME[@]}"; do
		case ${T_OUTCOME[t]} in
		pass)
			# A binary that says ok after a failing variant is broken.
			for v in "${!V_TEST[@]}"; do
				[[ ${V_TEST[v]} -eq $t && ${V_OUTCOME[v]} == fail ]] || continue
				echo "FAIL: ${T_NAME[t]} # ok, but its variant failed: ${V_DESC[v]} # ${V_DIRECTIVE[v]:-no directive}"
				FAILED=$((FAILED + 1))
				continue 2
			done
			PASSED=$((PASSED + 1))
			;;
		skip) SKIPPED=$((SKIPPED + 1)) ;;
		fail) judge_binary "$t" ;;
		esac
	done
	for v in "${!V_TEST[@]}"; do
		if [ "${V_TEST[v]}" -lt 0 ] && [ "${V_OUTCOME[v]}" = fail ]; then
			echo "FAIL: a failing result outside any test binary: ${V_DESC[v]} # ${V_DIRECTIVE[v]}"
			FAILED=$((FAILED + 1))
		fi
	done
	if [ -z "$PLAN" ]; then
		echo "FAIL: $ktap has no plan (1..N)"
		FAILED=$((FAILED + 1))
	elif [ "$PLAN" -ne ${#T_NAME[@]} ]; then
		echo "FAIL: $ktap plans $PLAN test(s) but has ${#T_NAME[@]} result(s)"
		FAILED=$((FAILED + 1))
	fi
	judge_not_reproduced
}

# ---- Console --------------------------------------------------------------

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
# With a second argument, each line is preceded by where the run was (which
# test binary was running, from the runner's lines on the console) and a TAB.
scan_console() {
	local console=$1 where=${2-}
	awk -v where="$where" '
	function splat(m) {
		sub(/^ +/, "", m)
		return m ~ /^WARNING:/ ||
			m ~ /^kernel BUG at / ||
			m ~ /: [0-9a-f][0-9a-f][0-9a-f][0-9a-f] \[#[0-9]+\]/ ||
			m ~ /^Oops/ ||
			m ~ /^general protection fault/ ||
			m ~ /^Kernel panic/ ||
			m ~ /(^|[] :(])BUG: / ||
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
	BEGIN { state = "before the tests" }
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
		# Where the run is, this line included: the "vmtest: test
		# N start NAME" (a kernel message may share its line), or the
		# header that the kselftest runner prints for a test.
		if (match($0, /vmtest: test [0-9]+ start [A-Za-z0-9_.+-]+/)) {
			t = substr($0, RSTART, RLENGTH)
			sub(/.* start /, "", t)
			state = "while " t " ran"
		} else if ($0 ~ /^# selftests: [^ :]+: [^ []+/) {
			t = $0
			sub(/^# selftests: [^ :]+: /, "", t)
			sub(/[ [].*/, "", t)
			state = "while " t " ran"
		} else if ($0 ~ /^(not )?ok [0-9]+ selftests: [^ :]+: [^ []+/) {
			t = $0
			sub(/^(not )?ok [0-9]+ selftests: [^ :]+: /, "", t)
			sub(/[ [].*/, "", t)
			state = "after " t
		} else if ($0 ~ /^vmtest: ktap end/) {
			state = "after the tests"
		}
		if (bad) {
			if (where)
				printf "%s\t%d:%s\n", state, NR, $0
			else
				printf "%d:%s\n", NR, $0
		}
	}
	' "$console"
}

# Prints the kernel problems that scan_console found (in SPLATS).
report_console() {
	local console=$1 count first
	[ -n "$SPLATS" ] || return 0
	count=$(printf '%s\n' "$SPLATS" | wc -l)
	first=$(printf '%s\n' "$SPLATS" | head -n 1 | cut -f 1)
	echo "KERNEL PROBLEMS: $count line(s) in $console, the first $first:"
	printf '%s\n' "$SPLATS" | head -n "$MAX_CONSOLE_LINES" | sed 's/^[^\t]*\t/  /'
	[ "$count" -le "$MAX_CONSOLE_LINES" ] || echo "  ..."
}

# ---- Main -----------------------------------------------------------------

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
if [ "$CHECK_ONLY" -eq 1 ]; then
	[[ -n $KNOWN_FILE && $# -eq 0 && -z $RELEASE ]] || usage
	load_known_issues
	exit 0
fi
[ $# -eq 1 ] || usage
OUTDIR=$1
if [ ! -d "$OUTDIR" ]; then
	echo "$PROG: no such directory: $OUTDIR" >&2
	exit 2
fi
[ -z "$KNOWN_FILE" ] || load_known_issues

# The console first: a kernel problem keeps every failure a failure.
SPLATS=
[ ! -f "$OUTDIR/console.log" ] || SPLATS=$(scan_console "$OUTDIR/console.log" where)
if [ -n "$KNOWN_FILE" ] && [ -z "$RELEASE" ]; then
	echo "# no kernel release known: no known issue applies"
fi

judge_results "$OUTDIR/results.ktap"
report_console "$OUTDIR/console.log"

rc=0
[ "$FAILED" -eq 0 ] || rc=1
[ -z "$SPLATS" ] || rc=5

echo "# known issues: $KNOWN"
echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
exit $rc
