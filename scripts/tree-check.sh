#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Check the in-tree recipe of the README on Debian's kernel sources: the
# suite copied in as kselftest target kvm/nested_mmu (scripts/tree-install.sh)
# builds with the tree's lib.mk, kselftest headers and usr/include, next to
# upstream's kvm selftests, which still build and run; install and gen_tar
# carry both; no header of one suite is ever read by the other; nothing of
# upstream is changed or removed; our tests are dynamic and pass or skip.
#
# Usage: scripts/tree-check.sh [--trees DIR] [--clean] [--run-all] [VERSION...]
#   VERSION     6.12: Debian 12's linux-source-6.12 (installed with
#               scripts/deps.sh when missing); 7.2: Debian unstable's
#               linux-source-7.2 (fetched with scripts/sid-apt.sh into the
#               cache); default: 6.12 7.2
#   --trees DIR where the trees are unpacked and kept between runs (default
#               /tmp/build-trees); a tree is unpacked again when its tarball
#               changed.  Only what a selftests build uses is unpacked:
#               Makefile, Kbuild, Kconfig, scripts/, include/, arch/x86/,
#               tools/ and usr/.
#   --clean     from scratch: unpack the trees again and build everything
#               (default: reuse the trees and upstream's objects of an
#               earlier run; our suite is always copied in and built afresh)
#   --run-all   make run_tests of both targets: every upstream kvm test
#               (about 20 minutes here); default: our tests and a few of
#               upstream's, from the installed tree
#
# Runs as root (the tests open /dev/kvm).  Builds run under nice, -j2.
# Exit: 0 every check passed, 1 a check failed, 2 usage error.

set -uo pipefail

PROG=${0##*/}
REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/kvm-nested-selftests
TREES=/tmp/build-trees
CLEAN=0
RUN_ALL=0
VERSIONS=()
TARGET=kvm/nested_mmu
# Upstream tests that run in seconds on a KVM host, nested or not (the
# last one runs a guest).
UPSTREAM_SAMPLE="kvm_binary_stats_test kvm_create_max_vcpus guest_print_test"

unset MAKEFLAGS MFLAGS MAKEOVERRIDES MAKELEVEL

usage() {
	sed -n '3,/^$/s/^# \{0,1\}//p' "$0"
}

usage_error() {
	echo "$PROG: $*" >&2
	echo "usage: $PROG [--trees DIR] [--clean] [--run-all] [VERSION...]   ($PROG -h)" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--trees)
		if [ $# -lt 2 ] || [ -z "$2" ]; then
			usage_error "--trees needs a directory"
		fi
		TREES=$2
		shift 2 ;;
	--clean) CLEAN=1; shift ;;
	--run-all) RUN_ALL=1; shift ;;
	-h | --help) usage; exit 0 ;;
	6.12 | 7.2) VERSIONS+=("$1"); shift ;;
	-*) usage_error "unknown option $1" ;;
	*) usage_error "unknown version $1 (6.12 or 7.2)" ;;
	esac
done
[ ${#VERSIONS[@]} -gt 0 ] || VERSIONS=(6.12 7.2)
[ "$(id -u)" -eq 0 ] || usage_error "run it as root: the tests open /dev/kvm"
mkdir -p "$TREES" 2>/dev/null || usage_error "--trees $TREES cannot be created"
TREES=$(cd "$TREES" && pwd)
case $TREES/ in
"$REPO"/*) usage_error "--trees $TREES is inside the repository" ;;
esac

N=0
FAILS=0
START=$SECONDS

result() {
	N=$((N + 1))
	if [ "$1" = 0 ]; then
		echo "ok $N $2"
	else
		echo "not ok $N $2 # ${3-}"
		FAILS=$((FAILS + 1))
	fi
}

log() {
	echo "# $PROG: $*"
}

show() {
	sed 's/^/# | /' "$1" | tail -n "${2:-20}"
}

elapsed() {
	printf '%dm%02ds' $(($1 / 60)) $(($1 % 60))
}

# tarball VERSION: prints the path of linux-source-VERSION.tar.xz.
tarball() {
	local v=$1 pkg=linux-source-$1 deb dir
	case $v in
	6.12)
		[ -r "/usr/src/$pkg.tar.xz" ] || "$REPO/scripts/deps.sh" "$pkg" >&2 || return 1
		echo "/usr/src/$pkg.tar.xz"
		;;
	7.2)
		dir=$CACHE/tree-check
		if [ ! -r "$dir/$pkg.tar.xz" ]; then
			mkdir -p "$dir/deb" || return 1
			"$REPO/scripts/sid-apt.sh" download "$dir/deb" "$pkg" >&2 || return 1
			deb=$(ls -t "$dir/deb/${pkg}_"*.deb 2>/dev/null | head -n 1)
			[ -n "$deb" ] || return 1
			dpkg-deb --fsys-tarfile "$deb" |
				tar xO "./usr/src/$pkg.tar.xz" >"$dir/$pkg.tar.xz.tmp" || return 1
			mv "$dir/$pkg.tar.xz.tmp" "$dir/$pkg.tar.xz"
			rm -f "$deb"
		fi
		echo "$dir/$pkg.tar.xz"
		;;
	esac
}

# unpack TARBALL TREE: TREE holds the tarball's sources, and TREE/.manifest
# the checksums of every file of tools/testing/selftests as unpacked.
unpack() {
	local tarball=$1 tree=$2 id top
	id=$(stat -c '%n %s %Y' "$tarball")
	if [ "$CLEAN" = 0 ] && [ -f "$tree/.manifest" ] &&
	   [ "$(cat "$tree/.tree-check-source" 2>/dev/null)" = "$id" ]; then
		return 0
	fi
	rm -rf "$tree" "$tree.tmp"
	mkdir -p "$tree.tmp" || return 1
	# Debian's tarballs unpack into a directory named after the package.
	top=$(basename "$tarball" .tar.xz)
	# shellcheck disable=SC2046
	nice tar xJf "$tarball" -C "$tree.tmp" \
		$(printf "$top/%s " Makefile Kbuild Kconfig scripts include arch/x86 tools usr) ||
		return 1
	mv "$tree.tmp/$top" "$tree" && rmdir "$tree.tmp" || return 1
	(cd "$tree" && find tools/testing/selftests -type f -print0 | sort -z |
		xargs -0 sha1sum) >"$tree/.manifest" || return 1
	echo "$id" >"$tree/.tree-check-source"
}

# isolation TREE: no header crosses between upstream's kvm and ours.
isolation() {
	local tree=$1 ksft=$1/tools/testing/selftests ours=$1/tools/testing/selftests/$TARGET
	local up_bad our_bad nd

	# Upstream's dependency files never name a file of ours.
	up_bad=$(find "$ksft/kvm" -path "$ours" -prune -o -name '*.d' -print0 |
		 xargs -0 -r grep -l "nested_mmu/" | head -n 3)
	# Ours name only our sources, the tree's usr/include, kselftest's own
	# headers, and the system's.
	nd=$(find "$ours" -name '*.d' | wc -l)
	our_bad=$(find "$ours" -name '*.d' -print0 | xargs -0 cat | tr ' ' '\n' |
		  sed -e '/^\\$/d' -e '/^$/d' -e 's/:$//' |
		  while read -r f; do
			case $f in
			/*) ;;
			*) f=$ours/$f ;;
			esac
			realpath -m "$f"
		  done | sort -u |
		  grep -v -e "^$ours/" -e "^$tree/usr/include/" -e "^$ksft/kselftest[a-z_]*\.h$" \
			  -e "^/usr/" | head -n 5)
	if [ -n "$up_bad" ]; then
		result 1 "$V: upstream's kvm objects read no file of ours" "$(echo "$up_bad" | tr '\n' ' ')"
	elif [ "$nd" -eq 0 ]; then
		result 1 "$V: our objects read only our headers, usr/include and kselftest's" "no dependency files"
	elif [ -n "$our_bad" ]; then
		result 1 "$V: our objects read only our headers, usr/include and kselftest's" \
			"also: $(echo "$our_bad" | tr '\n' ' ')"
	else
		result 0 "$V: no header crosses between upstream's kvm and ours ($nd dependency files of ours)"
	fi
}

check_version() {
	local V=$1 t0=$SECONDS t tb tree ksft ours work list n_up n_ours missing bad out rc name

	log "==== linux-source-$V ===="
	tb=$(tarball "$V") || { result 1 "$V: linux-source-$V tarball" "not available"; return; }
	tree=$TREES/linux-source-$V
	ksft=$tree/tools/testing/selftests
	ours=$ksft/$TARGET
	work=$TREES/check-$V
	rm -rf "$work" && mkdir -p "$work"

	t=$SECONDS
	if ! unpack "$tb" "$tree"; then
		result 1 "$V: unpack $tb"
		return
	fi
	log "tree $tree ($(elapsed $((SECONDS - t))))"

	t=$SECONDS
	if ! nice make -C "$tree" -j2 headers >"$work/headers.log" 2>&1; then
		show "$work/headers.log"
		result 1 "$V: make headers"
		return
	fi
	log "make headers ($(elapsed $((SECONDS - t))))"

	if ! "$REPO/scripts/tree-install.sh" "$tree" >"$work/tree-install.log" 2>&1; then
		show "$work/tree-install.log"
		result 1 "$V: scripts/tree-install.sh"
		return
	fi
	(cd "$ours" && find . -type f | sort) >"$work/copied.list"
	# What the copy brought: only the tree build's files.
	bad=$(cd "$ours" && find . -type f | grep -v -E '^\./(Makefile|config|settings|(include|lib|x86_64)/.*\.[chS])$' | head -n 5)
	if [ -n "$bad" ]; then
		result 1 "$V: tree-install.sh copies only the build's files" "also: $(echo "$bad" | tr '\n' ' ')"
	else
		result 0 "$V: tree-install.sh copies $(cd "$ours" && find . -type f | wc -l) files, only the build's"
	fi

	t=$SECONDS
	nice make -j2 -C "$ksft" TARGETS="kvm $TARGET" >"$work/build.log" 2>&1
	rc=$?
	log "build of kvm and $TARGET ($(elapsed $((SECONDS - t))))"
	if [ "$rc" -ne 0 ]; then
		show "$work/build.log"
		result 1 "$V: make TARGETS=\"kvm $TARGET\"" "exit $rc"
		return
	fi
	if grep -E "$TARGET/.*(warning|error):" "$work/build.log" >"$work/warnings.log"; then
		show "$work/warnings.log"
		result 1 "$V: our suite builds without warnings" "$(wc -l <"$work/warnings.log") warnings"
	else
		result 0 "$V: make TARGETS=\"kvm $TARGET\" builds both, ours without warnings"
	fi

	isolation "$tree"

	bad=
	for name in $(make -s -C "$ours" emit_tests COLLECTION=x 2>/dev/null | sed 's/^x://'); do
		readelf -l "$ours/x86_64/$name" 2>/dev/null | grep -q 'program interpreter' || bad="$bad $name"
	done
	if [ -n "$bad" ]; then
		result 1 "$V: our tests are linked dynamically" "static or missing:$bad"
	else
		result 0 "$V: our tests are linked dynamically"
	fi

	# install and gen_tar: one tree, both collections.
	t=$SECONDS
	make -C "$ksft" TARGETS="kvm $TARGET" KSFT_INSTALL_PATH="$work/install" gen_tar \
		>"$work/gen_tar.log" 2>&1
	rc=$?
	log "install and gen_tar ($(elapsed $((SECONDS - t))))"
	list=$work/install/kselftest-list.txt
	n_up=$(grep -c '^kvm:' "$list" 2>/dev/null)
	n_ours=$(grep -c "^$TARGET:" "$list" 2>/dev/null)
	missing=
	while IFS=: read -r col name; do
		[ -x "$work/install/$col/$name" ] || missing="$missing $col/$name"
	done <"$list"
	for name in settings config; do
		[ -f "$work/install/$TARGET/$name" ] || missing="$missing $TARGET/$name"
	done
	tar tzf "$work/install/kselftest-packages/kselftest.tar.gz" >"$work/tar.list" 2>/dev/null
	if [ "$rc" -ne 0 ]; then
		show "$work/gen_tar.log"
		result 1 "$V: install and gen_tar of both targets" "exit $rc"
	elif [ "${n_up:-0}" -eq 0 ] || [ "${n_ours:-0}" -eq 0 ] || [ -n "$missing" ]; then
		result 1 "$V: install lists and holds both suites" \
			"kvm: ${n_up:-0}, $TARGET: ${n_ours:-0}, missing:${missing:- none}"
	elif ! grep -q "^\./$TARGET/stats_test$" "$work/tar.list" ||
	     [ "$(grep -c '^\./kvm/[^/]*$' "$work/tar.list")" -lt "$n_up" ]; then
		result 1 "$V: gen_tar's tarball holds both suites" "see $work/tar.list"
	else
		result 0 "$V: install and gen_tar carry both: $n_up kvm tests, $n_ours of $TARGET"
	fi

	# Run: ours and a sample of upstream's from the installed tree, or all.
	t=$SECONDS
	if [ "$RUN_ALL" = 1 ]; then
		make -C "$ksft" TARGETS="kvm $TARGET" run_tests >"$work/run.log" 2>&1
	else
		args=(-c "$TARGET")
		for name in $UPSTREAM_SAMPLE; do
			args+=(-t "kvm:$name")
		done
		(cd "$work/install" && ./run_kselftest.sh "${args[@]}") >"$work/run.log" 2>&1
	fi
	log "run ($(elapsed $((SECONDS - t)))): $work/run.log"
	grep -E "^(not )?ok [0-9]+ selftests: " "$work/run.log" | sed 's/^/# /'
	bad=$(grep -E "^not ok [0-9]+ selftests: $TARGET: " "$work/run.log" | grep -v -i '# skip' | sed 's/.*: //')
	out=$(grep -c -E "^(not )?ok [0-9]+ selftests: $TARGET: " "$work/run.log")
	if [ -n "$bad" ] || [ "$out" -ne "$n_ours" ]; then
		result 1 "$V: our tests pass or skip in the tree" \
			"$out of $n_ours reported; failed: $(echo "$bad" | tr '\n' ' ')"
	else
		result 0 "$V: our $out tests pass or skip in the tree"
	fi
	missing=
	if [ "$RUN_ALL" = 1 ]; then
		out=$(grep -c -E "^(not )?ok [0-9]+ selftests: kvm: " "$work/run.log")
		[ "$out" -ge "$n_up" ] || missing="only $out of $n_up reported"
	else
		for name in $UPSTREAM_SAMPLE; do
			grep -q -E "^(not )?ok [0-9]+ selftests: kvm: $name( |$)" "$work/run.log" ||
				missing="$missing $name"
		done
	fi
	if [ -n "$missing" ]; then
		result 1 "$V: upstream's kvm tests run next to ours" "no result:$missing"
	else
		result 0 "$V: upstream's kvm tests run next to ours ($(grep -c -E "^ok [0-9]+ selftests: kvm: " "$work/run.log") ok)"
	fi

	# make clean of our target leaves exactly the copied files.
	make -C "$ksft" TARGETS="$TARGET" clean >"$work/clean-ours.log" 2>&1
	rc=$?
	bad=$(cd "$ours" && find . -type f | sort | comm -3 - "$work/copied.list" | head -n 5)
	if [ "$rc" -ne 0 ] || [ -n "$bad" ]; then
		result 1 "$V: make clean of $TARGET leaves the copied files" \
			"exit $rc, differs: $(echo "$bad" | tr '\n\t' '  ')"
	else
		result 0 "$V: make clean of $TARGET leaves exactly the copied files"
	fi

	# Nothing of upstream changed or removed.
	bad=$(cd "$tree" && sha1sum --quiet -c .manifest 2>&1 | head -n 5)
	if [ -n "$bad" ]; then
		result 1 "$V: upstream's selftests files are as unpacked" "$(echo "$bad" | tr '\n' ' ')"
	else
		result 0 "$V: all $(wc -l <"$tree/.manifest") files of tools/testing/selftests are as unpacked"
	fi
	log "linux-source-$V: $(elapsed $((SECONDS - t0)))"
}

echo "TAP version 13"
for V in "${VERSIONS[@]}"; do
	check_version "$V"
done
echo "1..$N"
log "wall time $(elapsed $((SECONDS - START))); CPU time (user, system) of the shell and of its children:"
times >"$TREES/times.txt"
sed 's/^/#   /' "$TREES/times.txt"
echo "# Totals: pass:$((N - FAILS)) fail:$FAILS"
[ "$FAILS" -eq 0 ]
