#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Host-side regression tests of the standalone Makefile (run by make check):
# make and make clean never install packages, only make vmtest does; -j2
# builds nothing twice; O=DIR keeps every output under DIR; tests are
# dynamic, vmtest-bin's static; the string functions are freestanding;
# make clean leaves foreign *.d files alone; SANITIZE=1 instruments the
# host-only library code and nothing the guest runs, and its tests run;
# scripts/tree-install.sh replaces its own copy in a tree and nothing else.
#
# Usage: scripts/makefile-test.sh [--work DIR] [--ksft DIR]
#   --work DIR  scratch directory, emptied first (default: a temporary one,
#               removed at the end)
#   --ksft DIR  an unpacked kselftest framework (DIR/tools/testing/
#               selftests/lib.mk), e.g. OUTPUT/ksft of a build; default:
#               unpacked from /usr/src/linux-source-6.12.tar.xz
# Package tools (apt-get, apt, dpkg, dpkg-query) are replaced by stubs that
# only log their calls: nothing is ever installed.
# Prints KTAP.  Exit: 0 all passed (or skipped), 1 a failure, 2 usage error.

set -uo pipefail

PROG=${0##*/}
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=
KSFT=
KEEP_WORK=0
# A package that no Debian release has: its tarball is never there.
NO_PKG=linux-source-0.0-makefile-test
FAKE_PKG=linux-source-makefile-test

unset MAKEFLAGS MFLAGS MAKEOVERRIDES MAKELEVEL

usage_error() {
	echo "$PROG: $*" >&2
	echo "usage: $PROG [--work DIR] [--ksft DIR]" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--work | --ksft)
		if [ $# -lt 2 ] || [ -z "$2" ]; then
			usage_error "$1 needs a directory"
		fi
		[ "$1" = --work ] && WORK=$2 || KSFT=$2
		shift 2 ;;
	-h | --help)
		sed -n '3,/^$/s/^# \{0,1\}//p' "$0"
		exit 0 ;;
	*) usage_error "unknown argument $1" ;;
	esac
done
if [ -n "$KSFT" ]; then
	[ -f "$KSFT/tools/testing/selftests/lib.mk" ] ||
		usage_error "--ksft $KSFT: no tools/testing/selftests/lib.mk in it"
	KSFT=$(cd "$KSFT" && pwd)
fi
if [ -n "$WORK" ]; then
	KEEP_WORK=1
	mkdir -p "$WORK" || usage_error "--work $WORK cannot be created"
	WORK=$(cd "$WORK" && pwd)
	case $REPO/ in
	"$WORK"/*) usage_error "--work $WORK contains the repository" ;;
	esac
	find "$WORK" -mindepth 1 -delete
else
	WORK=$(mktemp -d /tmp/makefile-test.XXXXXX)
fi
[ "$KEEP_WORK" = 1 ] || trap 'rm -rf "$WORK"' EXIT

STUBS=$WORK/stubs
STUB_LOG=$WORK/package-tools.log
OUT=$WORK/out		# the main build, O=$OUT
NONE=$WORK/none		# an output directory without the framework
N=0
FAILS=0

mkdir -p "$STUBS"
: >"$STUB_LOG"
for tool in apt-get apt dpkg dpkg-query; do
	printf '#!/bin/sh\necho "%s $*" >>"%s"\nexit 1\n' "$tool" "$STUB_LOG" >"$STUBS/$tool"
	chmod +x "$STUBS/$tool"
done
export PATH="$STUBS:$PATH"

# result OK NAME [REASON]
result() {
	N=$((N + 1))
	if [ "$1" = 0 ]; then
		echo "ok $N $2"
	elif [ "$1" = skip ]; then
		echo "ok $N $2 # SKIP ${3-}"
	else
		echo "not ok $N $2 # ${3-}"
		FAILS=$((FAILS + 1))
	fi
}

# mk LOG ARGS...: make in the repository, output to LOG; returns make's code.
mk() {
	local log=$1
	shift
	make -C "$REPO" --no-print-directory "$@" >"$log" 2>&1
}

show() {
	sed 's/^/# | /' "$1" | tail -n "${2:-15}"
}

# The files the compiler wrote with "-o FILE" in LOG, one per line.
outputs() {
	grep -o -E -- ' -o [^ ]+' "$1" | sed 's/^ -o //'
}

# The words of $1 on one line.
oneline() {
	tr -s ' \n' '  ' <<<"$1" | sed 's/^ //; s/ $//'
}

stubs_quiet() {
	[ ! -s "$STUB_LOG" ]
}

echo "TAP version 13"
echo "1..13"
echo "# work directory $WORK"

# ---- No framework and no linux-source: make says what to run. ----------
mk "$WORK/make-none.log" O="$NONE" KSFT_PKG="$NO_PKG"
rc=$?
if [ "$rc" -eq 0 ]; then
	result 1 "make without linux-source fails" "exit 0"
elif ! grep -q "deps.sh $NO_PKG" "$WORK/make-none.log"; then
	show "$WORK/make-none.log"
	result 1 "make without linux-source names the command to run" \
		"no 'deps.sh $NO_PKG' in its output"
elif ! stubs_quiet; then
	result 1 "make without linux-source installs nothing" "ran: $(head -n 1 "$STUB_LOG")"
else
	result 0 "make without linux-source installs nothing and names 'scripts/deps.sh $NO_PKG'"
fi

mk "$WORK/clean-none.log" O="$NONE" KSFT_PKG="$NO_PKG" clean
rc=$?
if [ "$rc" -ne 0 ]; then
	show "$WORK/clean-none.log"
	result 1 "make clean without the framework" "exit $rc"
elif ! stubs_quiet; then
	result 1 "make clean without the framework installs nothing" "ran: $(head -n 1 "$STUB_LOG")"
else
	result 0 "make clean without the framework succeeds and installs nothing"
fi

# make vmtest is one of the two goals that install the package.
mk "$WORK/vmtest-none.log" O="$NONE" KSFT_PKG="$NO_PKG" vmtest
if grep -q "^dpkg-query .*$NO_PKG" "$STUB_LOG"; then
	result 0 "make vmtest without linux-source asks deps.sh for $NO_PKG"
else
	show "$WORK/vmtest-none.log"
	result 1 "make vmtest without linux-source asks deps.sh for $NO_PKG" \
		"no package query logged"
fi
: >"$STUB_LOG"

# ---- A first build with -j2 and several goals: everything once. --------
if [ -z "$KSFT" ]; then
	KSFT=$WORK/ksft
	"$REPO/scripts/ksft-headers.sh" "$KSFT" >"$WORK/ksft.log" 2>&1 || {
		show "$WORK/ksft.log"
		echo "Bail out! no kselftest framework (see above)"
		exit 1
	}
fi
# A small tarball laid out as Debian's, so the first build unpacks it.
mkdir -p "$WORK/src/$FAKE_PKG"
cp -a "$KSFT/tools" "$WORK/src/$FAKE_PKG/"
tar cJf "$WORK/src/$FAKE_PKG.tar.xz" -C "$WORK/src" "$FAKE_PKG"
export KSFT_SOURCE_TARBALL=$WORK/src/$FAKE_PKG.tar.xz

touch "$WORK/before-build"
sleep 1		# mtime granularity: what the build writes is newer
mk "$WORK/build.log" -j2 O="$OUT" KSFT_PKG="$FAKE_PKG" all unit_tests
rc=$?
twice=$(outputs "$WORK/build.log" | sort | uniq -d)
unpacks=$(grep -c 'kselftest framework from .* unpacked' "$WORK/build.log")
if [ "$rc" -ne 0 ]; then
	show "$WORK/build.log"
	result 1 "make -j2 all unit_tests" "exit $rc"
elif [ -n "$twice" ]; then
	result 1 "make -j2 all unit_tests builds each file once" \
		"built more than once: $(oneline "$twice")"
elif [ "$unpacks" -ne 1 ]; then
	result 1 "make -j2 all unit_tests unpacks the framework once" "$unpacks times"
elif ! stubs_quiet; then
	result 1 "make -j2 all unit_tests installs nothing" "ran: $(head -n 1 "$STUB_LOG")"
else
	result 0 "make -j2 all unit_tests: $(outputs "$WORK/build.log" | wc -l) outputs, each built once"
fi

# O=DIR: every output under DIR, nothing new in the source tree.
leaks=$(find "$REPO" -newer "$WORK/before-build" -not -path "$REPO/.git/*" \
	-not -path "$REPO/build/*" -not -path "$WORK/*" -not -path "$WORK" \
	-not -type d | head -n 5)
foreign=$(outputs "$WORK/build.log" | grep -v "^$OUT/" | head -n 5)
if [ -n "$leaks" ] || [ -n "$foreign" ]; then
	result 1 "O=DIR keeps every output under DIR" \
		"written elsewhere: $(oneline "$leaks $foreign")"
else
	result 0 "O=DIR keeps every output under DIR, the source tree unchanged"
fi

# Dynamic by default.
static=
for t in "$REPO"/x86_64/*_test.c; do
	bin=$OUT/x86_64/$(basename "$t" .c)
	readelf -l "$bin" 2>/dev/null | grep -q 'program interpreter' || static="$static ${bin##*/}"
done
if [ -n "$static" ]; then
	result 1 "tests are linked dynamically by default" "static or missing:$static"
else
	result 0 "tests are linked dynamically by default"
fi

# vmtest-bin: the same objects, linked statically for the VM's /init.
mk "$WORK/vmtest-bin.log" O="$OUT" KSFT_PKG="$FAKE_PKG" vmtest-bin
rc=$?
dynamic=
while read -r name; do
	readelf -l "$OUT/vmtest-bin/$name" 2>/dev/null | grep -q 'program interpreter' && dynamic="$dynamic $name"
	[ -f "$OUT/vmtest-bin/$name" ] || dynamic="$dynamic $name(missing)"
done < <(cat "$OUT/vmtest-bin/tests.list" 2>/dev/null)
compiled=$(grep -c -E -- ' -c [^ ]+\.[cS] ' "$WORK/vmtest-bin.log")
if [ "$rc" -ne 0 ] || [ ! -s "$OUT/vmtest-bin/tests.list" ]; then
	show "$WORK/vmtest-bin.log"
	result 1 "make vmtest-bin links static tests" "exit $rc"
elif [ -n "$dynamic" ]; then
	result 1 "make vmtest-bin links static tests" "dynamic:$dynamic"
elif [ "$compiled" -ne 0 ]; then
	result 1 "make vmtest-bin reuses the objects" "$compiled files compiled again"
else
	result 0 "make vmtest-bin links the same objects statically ($(wc -l <"$OUT/vmtest-bin/tests.list") tests)"
fi

# The string functions: freestanding, and calling nothing.
so=$OUT/lib/string_override.o
if ! grep -E -- ' -c lib/string_override\.c ' "$WORK/build.log" | grep -q -- -ffreestanding; then
	result 1 "lib/string_override.c is built with -ffreestanding" "not in its compile command"
elif [ -n "$(nm -u "$so" 2>&1)" ]; then
	result 1 "lib/string_override.o calls no other function" "undefined: $(nm -u "$so" 2>&1 | tr -s ' \n' ' ')"
else
	result 0 "lib/string_override.c is built with -ffreestanding and calls nothing"
fi

# ---- SANITIZE=1: host library instrumented, guest code not. ------------
mk "$WORK/sanitize.log" O="$OUT" KSFT_PKG="$FAKE_PKG" SANITIZE=1
rc=$?
# Objects by the Makefile's own lists (make -p would need the framework
# of this output directory: it is there now).
objlist() {
	make -C "$REPO" --no-print-directory -p -q O="$OUT" KSFT_PKG="$FAKE_PKG" SANITIZE=1 2>/dev/null |
		sed -n "s/^$1 := //p" | head -n 1
}
host_objs=$(objlist LIBKVM_HOST_OBJS)
guest_objs="$(objlist LIBKVM_GUEST_OBJS) $(objlist LIBKVM_STRING_OBJS) $(objlist TEST_OBJS)"
bad=
for o in $host_objs; do
	nm -u "$o" 2>/dev/null | grep -q __asan_report || bad="$bad ${o#"$OUT"/}(not instrumented)"
done
for o in $guest_objs; do
	nm -u "$o" 2>/dev/null | grep -q -E '__(asan|ubsan)_' && bad="$bad ${o#"$OUT"/}(instrumented)"
done
# Guest-only code calls only into uninstrumented objects.
host_syms=$(for o in $host_objs; do nm --defined-only "$o" | awk '$2 ~ /[TW]/ {print $3}'; done | sort -u)
for o in $(objlist LIBKVM_GUEST_ONLY_OBJS); do
	for s in $(nm -u "$o" | awk '{print $2}'); do
		grep -qxF "$s" <<<"$host_syms" && bad="$bad ${o#"$OUT"/}->$s"
	done
done
if [ "$rc" -ne 0 ]; then
	show "$WORK/sanitize.log"
	result 1 "make SANITIZE=1" "exit $rc"
elif [ -z "$host_objs" ]; then
	result 1 "make SANITIZE=1 instruments the host library" "no object list from make -p"
elif [ -n "$bad" ]; then
	result 1 "make SANITIZE=1 instruments the host library and no guest code" "$(oneline "$bad")"
elif ! readelf -d "$OUT/x86_64/stats_test" | grep -q 'NEEDED.*libasan'; then
	result 1 "make SANITIZE=1 links the ASan runtime" "no libasan in stats_test"
else
	result 0 "make SANITIZE=1 instruments the host library and no guest code"
fi

mk "$WORK/sanitize-vmtest-bin.log" O="$OUT" KSFT_PKG="$FAKE_PKG" SANITIZE=1 vmtest-bin
rc=$?
if [ "$rc" -ne 0 ] && grep -q 'SANITIZE=1 builds are dynamic' "$WORK/sanitize-vmtest-bin.log"; then
	result 0 "make SANITIZE=1 vmtest-bin is refused (the VM needs static tests)"
else
	show "$WORK/sanitize-vmtest-bin.log"
	result 1 "make SANITIZE=1 vmtest-bin is refused" "exit $rc"
fi

# The ASan tests run: -h everywhere, and stats_test, which loads the test's
# ELF image into a VM (arch_load_elf) and changes nothing on the system.
bad=
for t in "$REPO"/x86_64/*_test.c; do
	bin=$OUT/x86_64/$(basename "$t" .c)
	out=$("$bin" -h 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ] || grep -q 'Sanitizer' <<<"$out"; then
		bad="$bad ${bin##*/}(-h exit $rc)"
	fi
done
if [ -n "$bad" ]; then
	result 1 "SANITIZE=1 tests answer -h" "$(oneline "$bad")"
elif ! { exec 3<>/dev/kvm; } 2>/dev/null; then
	result skip "SANITIZE=1 stats_test runs" "no usable /dev/kvm"
else
	exec 3>&-
	(cd "$OUT/x86_64" && timeout 120 ./stats_test) >"$WORK/asan-stats.log" 2>&1
	rc=$?
	if grep -q 'Sanitizer' "$WORK/asan-stats.log"; then
		show "$WORK/asan-stats.log" 40
		result 1 "SANITIZE=1 stats_test runs" "sanitizer report, exit $rc"
	elif [ "$rc" -ne 0 ] && [ "$rc" -ne 4 ]; then
		show "$WORK/asan-stats.log"
		result 1 "SANITIZE=1 stats_test runs" "exit $rc"
	else
		result 0 "SANITIZE=1 stats_test runs without a sanitizer report (exit $rc)"
	fi
fi

# ---- make clean: exactly our files, foreign *.d untouched. -------------
mkdir -p "$OUT/foreign" "$OUT/lib"
echo 'not : a = make :: file' >"$OUT/foreign/other.d"
echo 'neither ::: is this' >"$OUT/lib/other.d"
mk "$WORK/rebuild.log" O="$OUT" KSFT_PKG="$FAKE_PKG" &&
	mk "$WORK/clean.log" O="$OUT" KSFT_PKG="$FAKE_PKG" clean
rc=$?
left=$(find "$OUT" -path "$OUT/ksft" -prune -o -path "$OUT/foreign" -prune -o -type f \
	\( -name '*.o' -o -name '*.d' -o -name '*_test' -o -name unit_test \) -print |
	grep -v "^$OUT/lib/other\.d$" | head -n 5)
if [ "$rc" -ne 0 ]; then
	show "$WORK/rebuild.log"
	show "$WORK/clean.log"
	result 1 "make and make clean next to foreign *.d files" "exit $rc"
elif [ ! -f "$OUT/foreign/other.d" ] || [ ! -f "$OUT/lib/other.d" ]; then
	result 1 "make clean leaves foreign *.d files" "foreign .d file deleted"
elif [ -n "$left" ]; then
	result 1 "make clean removes the build" "left: $(oneline "$left")"
elif ! stubs_quiet; then
	result 1 "make clean installs nothing" "ran: $(head -n 1 "$STUB_LOG")"
else
	result 0 "make and make clean ignore foreign *.d files and remove all of ours"
fi

# ---- tree-install.sh: replaces its own copy, nothing else. -------------
# tree-install.sh refuses a target inside this repository, and --work may
# be inside it (make check's is build/check): the fake tree lives outside.
fake=$(mktemp -d /tmp/makefile-test-tree.XXXXXX)
mkdir -p "$fake/tools/testing/selftests/kvm/nested_mmu"
touch "$fake/tools/testing/selftests/lib.mk" "$fake/tools/testing/selftests/kselftest.h"
echo keep >"$fake/tools/testing/selftests/kvm/nested_mmu/Makefile"
"$REPO/scripts/tree-install.sh" "$fake" >"$WORK/tree-install-foreign.log" 2>&1
rc_foreign=$?
kept=$(cat "$fake/tools/testing/selftests/kvm/nested_mmu/Makefile")
rm -rf "$fake/tools/testing/selftests/kvm/nested_mmu"
"$REPO/scripts/tree-install.sh" "$fake" >"$WORK/tree-install-1.log" 2>&1 &&
	touch "$fake/tools/testing/selftests/kvm/nested_mmu/stale" &&
	"$REPO/scripts/tree-install.sh" "$fake" >"$WORK/tree-install-2.log" 2>&1
rc=$?
if [ "$rc_foreign" -ne 2 ] || [ "$kept" != keep ] ||
   grep -q "inside this repository" "$WORK/tree-install-foreign.log"; then
	show "$WORK/tree-install-foreign.log"
	result 1 "tree-install.sh leaves a foreign kvm/nested_mmu alone" "exit $rc_foreign"
elif [ "$rc" -ne 0 ] || [ -e "$fake/tools/testing/selftests/kvm/nested_mmu/stale" ]; then
	show "$WORK/tree-install-2.log"
	result 1 "tree-install.sh replaces its own earlier copy" "exit $rc"
else
	result 0 "tree-install.sh replaces its own earlier copy and refuses a foreign one"
fi
rm -rf "$fake"

echo "# Totals: pass:$((N - FAILS)) fail:$FAILS"
[ "$FAILS" -eq 0 ]
