#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Copy the suite into a kernel tree as the kselftest target kvm/nested_mmu
# (tools/testing/selftests/kvm/nested_mmu), next to upstream's KVM
# selftests, which stay as they are.
#
# Usage: scripts/tree-install.sh KERNEL_TREE
#
# Only what a tree build needs is copied: Makefile, config, settings and the
# sources of include/, lib/ and x86_64/ (the files git tracks, in a git
# checkout; otherwise the *.c, *.h and *.S files).  No .git, .ci, scripts/,
# host unit tests or build outputs.  An earlier copy of this suite at that
# place is replaced; anything else there is left alone and is an error.
#
# Exit: 0 copied, 1 the copy failed, 2 usage error (nothing changed).

set -euo pipefail

PROG=${0##*/}
REPO=$(cd "$(dirname "$0")/.." && pwd)
SUBDIR=tools/testing/selftests/kvm/nested_mmu
# The first line of our Makefile after the SPDX tag: how an earlier copy of
# this suite is told from anything else at $SUBDIR.
MARKER='# KVM x86 nested-MMU eager page splitting selftests'
TOP_FILES="Makefile config settings"
SRC_DIRS="include lib x86_64"

usage() {
	sed -n '3,/^$/s/^# \{0,1\}//p' "$0"
}

usage_error() {
	echo "$PROG: $*" >&2
	echo "usage: $PROG KERNEL_TREE   ($PROG -h for help)" >&2
	exit 2
}

# The files to copy, relative to $REPO, one per line.
suite_files() {
	local f
	if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		# shellcheck disable=SC2086
		git -C "$REPO" ls-files -- $TOP_FILES $SRC_DIRS
	else
		for f in $TOP_FILES; do
			echo "$f"
		done
		# shellcheck disable=SC2086
		(cd "$REPO" && find $SRC_DIRS -type f \( -name '*.c' -o -name '*.h' -o -name '*.S' \) | sort)
	fi
}

main() {
	local tree dest files f

	case ${1-} in
	-h | --help) usage; exit 0 ;;
	-*) usage_error "unknown option $1" ;;
	esac
	[ $# -eq 1 ] || usage_error "one argument expected, the kernel tree"
	[ -n "$1" ] || usage_error "empty kernel tree path"
	[ -d "$1" ] || usage_error "$1 is not a directory"
	tree=$(cd "$1" && pwd)
	if [ ! -f "$tree/tools/testing/selftests/lib.mk" ] ||
	   [ ! -f "$tree/tools/testing/selftests/kselftest.h" ]; then
		usage_error "$tree is not a kernel tree: no tools/testing/selftests/lib.mk"
	fi
	[ -d "$tree/tools/testing/selftests/kvm" ] ||
		usage_error "$tree has no tools/testing/selftests/kvm"
	case $tree/ in
	"$REPO"/*) usage_error "$tree is inside this repository" ;;
	esac
	dest=$tree/$SUBDIR
	if [ -e "$dest" ] && ! sed -n 2p "$dest/Makefile" 2>/dev/null | grep -qF "$MARKER"; then
		usage_error "$dest exists and is not a copy of this suite; not touching it"
	fi

	files=$(suite_files)
	for f in $TOP_FILES; do
		grep -qxF "$f" <<<"$files" || { echo "$PROG: $REPO/$f is missing" >&2; exit 1; }
	done

	rm -rf "$dest"
	mkdir -p "$dest"
	# One path per line, none with blanks (they are our own sources).
	# shellcheck disable=SC2086
	(cd "$REPO" && cp --parents -- $files "$dest/")
	echo "$PROG: $(wc -l <<<"$files") files copied into $dest"
	echo "$PROG: build and run both suites with"
	echo "    make -C $tree headers"
	echo "    make -C $tree/tools/testing/selftests TARGETS=\"kvm kvm/nested_mmu\" run_tests"
}

main "$@"
