#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Builds upstream's dirty_log_perf_test, the benchmark's peer, from Debian's
# linux-source package into the cache (never into the project) and prints
# the path of the static binary.
#
# Usage: upstream.sh [--cache DIR] [--source PKG] [--seed-fix]
#
# PKG is linux-source-7.2 (default), from Debian unstable through
# scripts/sid-apt.sh: its memstress runs L2 under VMX and SVM (6.12's only
# under VMX), and its library needs KVM_SET_USER_MEMORY_REGION2, i.e. a
# 6.8+ kernel in the VM (on older ones the binary skips with exit 4).
# --seed-fix builds it with its guest seed copied into the guest: the
# library never copies guest_random_seed there, so memstress' vCPU 0 draws
# from a generator seeded with 0, which stays 0, and writes every page
# whatever -w says (README, "The peer's vCPU 0 writes every page").
# Progress goes to stderr; stdout gets only the binary's path.
# Exit: 0 built (or cached), 1 download or build failure, 2 usage error.

set -euo pipefail

SCRIPTS_DIR=$(cd "$(dirname "$0")/.." && pwd)
PROG=${0##*/}
CACHE_DIR=${HOME:-/root}/.cache/kvm-nested-selftests
SOURCE_PKG=linux-source-7.2
SEED_FIX=0
# What the selftests build needs of the tree: kbuild for "make headers",
# the uapi headers, and tools/ (the selftests and their libraries).
TREE_PARTS="Makefile Kbuild Kconfig init/Kconfig scripts include arch/x86 usr tools"

usage() {
	sed -n '3,17s/^# \{0,1\}//p' "$0"
}

while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--seed-fix) SEED_FIX=1; shift ;;
	--cache | --source)
		[ $# -ge 2 ] || { echo "$PROG: $1 needs a value" >&2; exit 2; }
		case $1 in
		--cache) CACHE_DIR=$2 ;;
		--source) SOURCE_PKG=$2 ;;
		esac
		shift 2
		;;
	*) echo "$PROG: unknown argument: $1" >&2; usage >&2; exit 2 ;;
	esac
done
case $SOURCE_PKG in
linux-source-[0-9]*.[0-9]*) ;;
*) echo "$PROG: --source must name a linux-source-X.Y package" >&2; exit 2 ;;
esac

log() {
	echo "upstream: $*" >&2
}

series=${SOURCE_PKG#linux-source-}
dir=$CACHE_DIR/upstream
mkdir -p "$dir"
# One build at a time: the seed fix edits the cached tree for its build.
exec 9>"$dir/.lock"
flock 9

# Debian 12 carries its own series (6.1, 6.12); newer ones come from unstable.
if apt-cache show "$SOURCE_PKG" >/dev/null 2>&1; then
	version=$(apt-cache policy "$SOURCE_PKG" | sed -n 's/^ *Candidate: //p')
	fetch=(apt_download)
else
	version=$("$SCRIPTS_DIR/sid-apt.sh" --cache "$CACHE_DIR" version "$SOURCE_PKG" 2>/dev/null | tail -n 1)
	fetch=("$SCRIPTS_DIR/sid-apt.sh" --cache "$CACHE_DIR" download "$dir")
fi
[ -n "$version" ] || { log "no version of $SOURCE_PKG found"; exit 1; }
bin=$dir/dirty_log_perf_test-$version
suffix=
[ "$SEED_FIX" -eq 0 ] || suffix=-seedfix
bin+=$suffix
if [ -x "$bin" ]; then
	log "cached: $bin"
	echo "$bin"
	exit 0
fi

apt_download() {
	local get=(apt-get download)
	[ "$(id -u)" -ne 0 ] || get=(apt-get -o APT::Sandbox::User=root download)
	(cd "$dir" && "${get[@]}" "$1=$version")
}

deb=$dir/${SOURCE_PKG}_${version}_all.deb
if [ ! -f "$deb" ]; then
	log "downloading $SOURCE_PKG $version"
	"${fetch[@]}" "$SOURCE_PKG=$version" >&2 || { log "download failed"; exit 1; }
fi
[ -f "$deb" ] || { log "no $deb after the download"; exit 1; }

tree=$dir/linux-source-$series
if [ ! -f "$tree/.bench-version" ] || [ "$(cat "$tree/.bench-version")" != "$version" ]; then
	log "unpacking the parts of the tree the selftests need"
	rm -rf "$tree" "$tree.tmp"
	mkdir -p "$tree.tmp"
	parts=()
	for p in $TREE_PARTS; do
		parts+=("linux-source-$series/$p")
	done
	# The tree tarball sits inside the .deb.
	if ! dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/linux-source-$series.tar.xz" |
		xz -dc | tar -x -C "$tree.tmp" "${parts[@]}"; then
		rm -rf "$tree.tmp"
		log "unpacking $deb failed"
		exit 1
	fi
	mv "$tree.tmp/linux-source-$series" "$tree"
	rmdir "$tree.tmp"
	echo "$version" >"$tree/.bench-version"
fi

build=$dir/build-$version$suffix
buildlog=$dir/build-$version$suffix.log
# The seed fix edits one file of the cached tree for this build only (in a
# build directory of its own) and puts the original back on every exit.
util=$tree/tools/testing/selftests/kvm/lib/kvm_util.c
restore_util() {
	[ ! -f "$util.bench-orig" ] || mv "$util.bench-orig" "$util"
}
restore_util
if [ "$SEED_FIX" -eq 1 ]; then
	grep -q '^[[:space:]]*sync_global_to_guest(vm, guest_rng);$' "$util" ||
		{ log "--seed-fix: $util has no guest_rng copy to add the seed's to"; exit 1; }
	cp -p "$util" "$util.bench-orig"
	trap restore_util EXIT
	sed -i 's/^\([[:space:]]*\)sync_global_to_guest(vm, guest_rng);$/&\n\1sync_global_to_guest(vm, guest_random_seed);/' "$util"
fi
log "building dirty_log_perf_test${suffix:+ (seed fix)} (make headers, then the test, static)"
if ! nice make -C "$tree" headers >"$buildlog" 2>&1 ||
	! nice make -C "$tree/tools/testing/selftests/kvm" OUTPUT="$build" CC="gcc -static" \
		"$build/dirty_log_perf_test" >>"$buildlog" 2>&1; then
	log "build failed; the last lines of $buildlog:"
	tail -n 20 "$buildlog" >&2
	exit 1
fi
restore_util
cp "$build/dirty_log_perf_test" "$bin.tmp"
mv "$bin.tmp" "$bin"
log "built $bin"
echo "$bin"
