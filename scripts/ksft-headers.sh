#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Unpack the kselftest framework (lib.mk, kselftest.h, kselftest_harness.h,
# the runner) from Debian's linux-source package into DEST, laid out as in a
# kernel tree (DEST/tools/testing/selftests/...), for standalone builds.
# It never installs the package: when the tarball is missing it names the
# command that does, and exits 1.
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
	echo "usage: ksft-headers.sh DEST" >&2
	exit 2
fi
dest=$1
pkg=${KSFT_SOURCE_PKG:-linux-source-6.12}
tarball=${KSFT_SOURCE_TARBALL:-/usr/src/${pkg}.tar.xz}

if [ ! -r "$tarball" ]; then
	here=$(cd "$(dirname "$0")" && pwd)
	{
		echo "ksft-headers: the kselftest framework comes from Debian's $pkg,"
		echo "ksft-headers: and $tarball is missing.  Install it with:"
		echo "    $here/deps.sh $pkg"
		echo "ksft-headers: (as root), or run make vmtest or make check, which do."
	} >&2
	exit 1
fi

top=$pkg	# Debian's tarballs unpack into a directory named after the package
files="tools/testing/selftests/lib.mk
tools/testing/selftests/kselftest.h
tools/testing/selftests/kselftest_harness.h
tools/testing/selftests/kselftest"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# One member per file.
# shellcheck disable=SC2046,SC2086
tar xJf "$tarball" -C "$tmp" $(printf "$top/%s " $files)
mkdir -p "$dest"
cp -a "$tmp/$top/tools" "$dest/"
echo "kselftest framework from $pkg unpacked into $dest"
