#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Unpack the kselftest framework (lib.mk, kselftest.h, kselftest_harness.h,
# the runner) from Debian's linux-source package into DEST, laid out as in a
# kernel tree (DEST/tools/testing/selftests/...), for standalone builds.
set -euo pipefail

dest=${1:?usage: ksft-headers.sh DEST}
here=$(cd "$(dirname "$0")" && pwd)
pkg=${KSFT_SOURCE_PKG:-linux-source-6.12}
tarball=/usr/src/${pkg}.tar.xz

if [ ! -r "$tarball" ]; then
	"$here/deps.sh" "$pkg"
fi
[ -r "$tarball" ] || { echo "ksft-headers: $tarball missing after installing $pkg" >&2; exit 1; }

top=$pkg	# Debian's tarballs unpack into a directory named after the package
files="tools/testing/selftests/lib.mk
tools/testing/selftests/kselftest.h
tools/testing/selftests/kselftest_harness.h
tools/testing/selftests/kselftest"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2086
tar xJf "$tarball" -C "$tmp" $(printf "$top/%s " $files)
mkdir -p "$dest"
cp -a "$tmp/$top/tools" "$dest/"
echo "kselftest framework from $pkg unpacked into $dest"
