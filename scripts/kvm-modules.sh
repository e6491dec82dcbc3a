#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Builds kvm.ko, kvm-amd.ko and kvm-intel.ko for a Debian stock kernel from
# Debian's own kernel source, optionally with one deliberate bug from
# scripts/kvm-bugs/ or one fix from scripts/kvm-fixes/, for
# scripts/vmtest.sh --modules DIR.

set -euo pipefail

SCRIPTS_DIR=$(cd "$(dirname "$0")" && pwd)
BUGS_DIR=$SCRIPTS_DIR/kvm-bugs
FIXES_DIR=$SCRIPTS_DIR/kvm-fixes
PROG=${0##*/}

# The kernel release each short name stands for.  Keep in step with the
# images that scripts/vm/kernel.sh boots: the modules only load into the
# exact release they were built for.
declare -A DEFAULT_RELEASE=(
	[6.1]=6.1.0-56-amd64
	[6.12]=6.12.111+deb12-amd64
	[7.2]=7.2.13+deb14-amd64
)
# Kernels from Debian unstable, fetched with scripts/sid-apt.sh (see
# prepare_sid below).
declare -A SID_KERNEL=([7.2]=1)

MODULES="kvm kvm-amd kvm-intel"

usage() {
	cat <<EOF
usage: $PROG --kernel 6.1|6.12|7.2 [--bug NAME | --fix NAME] --out DIR
       [--release RELEASE] [--cache DIR] [--jobs N] [--keep]

Builds kvm.ko, kvm-amd.ko and kvm-intel.ko out of tree against Debian's
linux-headers-RELEASE, from the linux-source package of the same version
(downloaded when the installed one is another version), and copies them to
DIR.  Without --bug or --fix the build is unmodified (a control build,
equivalent to the stock modules); with --bug, scripts/kvm-bugs/NAME-KERNEL.patch,
or else NAME.patch, is applied first; with --fix, the same from
scripts/kvm-fixes/ (a proposed fix of a real KVM bug, see its README).  The
build is then checked to load into the stock kernel: same vermagic, and
every imported symbol exported with the same CRC (Module.symvers of the
headers).

  --kernel K       6.1 (release ${DEFAULT_RELEASE[6.1]}), 6.12
                   (release ${DEFAULT_RELEASE[6.12]}) or 7.2 (release
                   ${DEFAULT_RELEASE[7.2]}, Debian unstable: built from
                   the full source with the host's compiler, see below)
  --bug NAME       one of:
$(bug_names | tr ' ' '\n' | sed 's/^/                     /')
  --fix NAME       one of:
$(fix_names | tr ' ' '\n' | sed 's/^/                     /')
  --out DIR        where the three .ko files go (created if needed)
  --release R      another Debian kernel release of that series
  --cache DIR      extracted sources and builds (default
                   \$HOME/.cache/kvm-nested-selftests/kvm-modules)
  --jobs N         make -j (default: number of CPUs + 1)
  --keep           keep the build tree (its path is printed)
  --list-bugs      print the bug names and exit
  --list-fixes     print the fix names and exit

Debian unstable's kernels (7.2) need unstable's compiler and C library for
their headers package, which Debian 12 does not have.  For them the full
linux-source of the same version and the .config and Module.symvers of
linux-headers-RELEASE are fetched with scripts/sid-apt.sh (nothing is
installed from unstable), the tree is configured with Debian's .config
and prepared with the host's gcc once per version, and the build stops if
that changed any option but compiler, assembler, pahole and Rust ones.
Such kernels have no module versions: modpost checks the imports by name.

Exit status: 0 built and checked, 1 build or check failed, 2 usage error.
EOF
}

# The names of the patches in directory $1 (NAME.patch, NAME-KERNEL.patch).
patch_names() {
	local p names=
	for p in "$1"/*.patch; do
		[ -e "$p" ] || continue
		p=${p##*/}
		p=${p%.patch}
		p=${p%-6.1}
		p=${p%-6.12}
		p=${p%-7.2}
		case " $names " in *" $p "*) ;; *) names="$names $p" ;; esac
	done
	echo "${names# }"
}

bug_names() {
	patch_names "$BUGS_DIR"
}

fix_names() {
	patch_names "$FIXES_DIR"
}

die() {
	echo "$PROG: $*" >&2
	exit 1
}

usage_error() {
	echo "$PROG: $*" >&2
	usage >&2
	exit 2
}

KERNEL=
BUG=
FIX=
OUT=
RELEASE=
CACHE=${HOME:-/root}/.cache/kvm-nested-selftests/kvm-modules
JOBS=$(($(nproc) + 1))
KEEP=

while [ $# -gt 0 ]; do
	case $1 in
	--kernel | --bug | --fix | --out | --release | --cache | --jobs)
		[ $# -ge 2 ] || usage_error "$1 needs an argument"
		case $1 in
		--kernel) KERNEL=$2 ;;
		--bug) BUG=$2 ;;
		--fix) FIX=$2 ;;
		--out) OUT=$2 ;;
		--release) RELEASE=$2 ;;
		--cache) CACHE=$2 ;;
		--jobs) JOBS=$2 ;;
		esac
		shift 2
		;;
	--keep) KEEP=1; shift ;;
	--list-bugs) bug_names | tr ' ' '\n'; exit 0 ;;
	--list-fixes) fix_names | tr ' ' '\n'; exit 0 ;;
	-h | --help) usage; exit 0 ;;
	*) usage_error "unknown argument: $1" ;;
	esac
done

[ -n "$KERNEL" ] || usage_error "--kernel is required"
[ -n "${DEFAULT_RELEASE[$KERNEL]:-}" ] || usage_error "--kernel must be 6.1, 6.12 or 7.2"
[ -n "$OUT" ] || usage_error "--out is required"
[ -z "$BUG" ] || [ -z "$FIX" ] || usage_error "--bug and --fix exclude each other"
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || usage_error "--jobs must be a positive number"
[ -n "$RELEASE" ] || RELEASE=${DEFAULT_RELEASE[$KERNEL]}
case $RELEASE in
"$KERNEL".*) ;;
*) usage_error "release $RELEASE is not a $KERNEL kernel" ;;
esac

# A name is a file name stem: no path, no leading dot or dash.
valid_name() {
	[[ $1 =~ ^[a-z0-9][a-z0-9.-]*$ ]]
}

PATCH=
if [ -n "$BUG" ]; then
	valid_name "$BUG" || usage_error "bad bug name '$BUG' (known: $(bug_names))"
	if [ -e "$BUGS_DIR/$BUG-$KERNEL.patch" ]; then
		PATCH=$BUGS_DIR/$BUG-$KERNEL.patch
	elif [ -e "$BUGS_DIR/$BUG.patch" ]; then
		PATCH=$BUGS_DIR/$BUG.patch
	else
		usage_error "no patch for bug '$BUG' (known: $(bug_names))"
	fi
elif [ -n "$FIX" ]; then
	valid_name "$FIX" || usage_error "bad fix name '$FIX' (known: $(fix_names))"
	if [ -e "$FIXES_DIR/$FIX-$KERNEL.patch" ]; then
		PATCH=$FIXES_DIR/$FIX-$KERNEL.patch
	elif [ -e "$FIXES_DIR/$FIX.patch" ]; then
		PATCH=$FIXES_DIR/$FIX.patch
	else
		usage_error "no patch for fix '$FIX' (known: $(fix_names))"
	fi
fi
# What the build is called in its tree's name and in the messages.
if [ -n "$BUG" ]; then
	WHAT="bug $BUG"
	TAG=$BUG
elif [ -n "$FIX" ]; then
	WHAT="fix $FIX"
	TAG=fix-$FIX
else
	WHAT=
	TAG=control
fi

HEADERS_PKG=linux-headers-$RELEASE
SOURCE_PKG=linux-source-$KERNEL
HEADERS=/usr/src/$HEADERS_PKG

# --- Debian 12's kernels: headers package and KVM sources ------------------

prepare_stock() {

	# The headers package brings the matching compiler and linux-kbuild.
	"$SCRIPTS_DIR/deps.sh" "$HEADERS_PKG" make patch xz-utils kmod binutils ||
		die "could not install the build dependencies"
	[ -f "$HEADERS/Module.symvers" ] || die "$HEADERS/Module.symvers is missing"

	# The Debian version of the headers, e.g. 6.12.111-1~deb12u1: the KVM
	# sources must be exactly that version, since the modules are compiled
	# against those headers and must match the kernel that was built with them.
	VERSION=$(dpkg-query -W -f='${Version}' "$HEADERS_PKG")
	[ -n "$VERSION" ] || die "cannot tell the version of $HEADERS_PKG"

	mkdir -p "$CACHE"
	CACHE=$(cd "$CACHE" && pwd)
	SRC=$CACHE/src/$SOURCE_PKG-$VERSION	# arch/x86/kvm, virt/kvm, KVM headers

	# Prints the path of a linux-source-KERNEL tarball of version VERSION.
	source_tarball() {
		local status dl deb tarball

		status=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$SOURCE_PKG" 2>/dev/null) || status=
		if [ "${status%% *}" != installed ] &&
			[ "$(apt-cache policy "$SOURCE_PKG" 2>/dev/null | awk '/Candidate:/ { print $2 }')" = "$VERSION" ]; then
			"$SCRIPTS_DIR/deps.sh" "$SOURCE_PKG" >&2 || die "could not install $SOURCE_PKG"
			status="installed $VERSION"
		fi
		if [ "$status" = "installed $VERSION" ] && [ -f "/usr/src/$SOURCE_PKG.tar.xz" ]; then
			echo "/usr/src/$SOURCE_PKG.tar.xz"
			return
		fi

		# Another version is installed (left alone), or none can be: Debian's
		# archive keeps older versions, so fetch the one that matches the
		# headers into the cache and keep only its tarball.
		dl=$CACHE/download
		tarball=$dl/$SOURCE_PKG-$VERSION.tar.xz
		if [ ! -f "$tarball" ]; then
			echo "$PROG: downloading $SOURCE_PKG=$VERSION (installed: ${status#* })" >&2
			rm -rf "$dl/tmp"
			mkdir -p "$dl/tmp"
			if ! (cd "$dl/tmp" && apt-get download -q "$SOURCE_PKG=$VERSION" >/dev/null 2>&1); then
				apt-get update -q >&2 || true
				(cd "$dl/tmp" && apt-get download -q "$SOURCE_PKG=$VERSION" 2>&1 |
					grep -v 'unsandboxed' >&2)
			fi
			deb=$(find "$dl/tmp" -name "${SOURCE_PKG}_*_all.deb" | head -n1)
			[ -n "$deb" ] || die "cannot download $SOURCE_PKG=$VERSION"
			dpkg-deb --fsys-tarfile "$deb" |
				tar -xO "./usr/src/$SOURCE_PKG.tar.xz" >"$dl/tmp/source.tar.xz"
			mv "$dl/tmp/source.tar.xz" "$tarball"
			rm -rf "$dl/tmp"
		fi
		echo "$tarball"
	}

	# --- the KVM sources, extracted once per version -----------------------------

	# What the out-of-tree build needs from the source tree, plus the KVM
	# headers that are compared with the headers package below.
	SRC_PATHS="arch/x86/kvm virt/kvm include/linux/kvm_host.h include/linux/kvm_types.h
		include/uapi/linux/kvm.h arch/x86/include/asm/kvm_host.h
		arch/x86/include/asm/kvm-x86-ops.h arch/x86/include/uapi/asm/kvm.h"

	exec 9>"$CACHE/.lock"
	flock 9
	if [ ! -e "$SRC/.complete" ]; then
		TARBALL=$(source_tarball)
		echo "$PROG: extracting KVM from $TARBALL" >&2
		rm -rf "$SRC" "$SRC.tmp"
		mkdir -p "$SRC.tmp"
		members=
		for p in $SRC_PATHS; do
			members="$members $SOURCE_PKG/$p"
		done
		# Word splitting of $members is intended.
		# shellcheck disable=SC2086
		tar -xJf "$TARBALL" -C "$SRC.tmp" --strip-components=1 $members 2>/dev/null ||
			tar -xJf "$TARBALL" -C "$SRC.tmp" --strip-components=1 \
				"$SOURCE_PKG/arch/x86/kvm" "$SOURCE_PKG/virt/kvm"
		[ -f "$SRC.tmp/arch/x86/kvm/mmu/mmu.c" ] || die "no arch/x86/kvm in $TARBALL"
		touch "$SRC.tmp/.complete"
		mv "$SRC.tmp" "$SRC"
	fi
	flock -u 9

	# The sources must agree with the headers the modules are compiled against.
	COMMON=${HEADERS%-amd64}-common
	for h in include/linux/kvm_host.h include/linux/kvm_types.h include/uapi/linux/kvm.h \
		arch/x86/include/asm/kvm_host.h arch/x86/include/asm/kvm-x86-ops.h \
		arch/x86/include/uapi/asm/kvm.h; do
		[ -f "$SRC/$h" ] || continue
		for hdr in "$HEADERS/$h" "$COMMON/$h" ""; do
			[ -z "$hdr" ] || [ -f "$hdr" ] && break
		done
		[ -n "$hdr" ] || continue
		cmp -s "$SRC/$h" "$hdr" ||
			die "$h of $SOURCE_PKG $VERSION differs from $hdr: source and headers do not match"
	done
}

# --- Debian unstable's kernels: a prepared full source tree ----------------

# Options that may differ between Debian's configuration and the one the
# host's compiler yields: compiler, assembler, linker, pahole and OpenSSL
# capabilities, and Rust (not available with the host's toolchain) with
# the drivers that need it.  None of them changes a structure that KVM
# shares with the kernel.
SID_CONFIG_OK='^(CC_|GCC_|AS_|LD_|PAHOLE_|RUST|BINDGEN_|OPENSSL_SUPPORTS_|AMCC_QT2025_PHY$|AX88796B_RUST_PHY$|DRM_PANIC_SCREEN_QR_)'

prepare_sid() {
	local sid=$SCRIPTS_DIR/sid-apt.sh base deb hdr changed

	"$SCRIPTS_DIR/deps.sh" make patch xz-utils kmod binutils gcc bison flex bc \
		libelf-dev libssl-dev dwarves || die "could not install the build dependencies"
	VERSION=$("$sid" version "$HEADERS_PKG") || VERSION=
	[ -n "$VERSION" ] || die "cannot tell the version of $HEADERS_PKG in Debian unstable"

	mkdir -p "$CACHE"
	CACHE=$(cd "$CACHE" && pwd)
	base=$CACHE/sid/$RELEASE-$VERSION
	SRC=$base/src		# the whole source tree
	HEADERS=$base/obj	# its build directory (O=), prepared for modules

	exec 9>"$CACHE/.lock"
	flock 9
	if [ ! -e "$base/.complete" ]; then
		rm -rf "$base"
		mkdir -p "$base/debs" "$SRC" "$HEADERS"
		echo "$PROG: downloading $SOURCE_PKG and $HEADERS_PKG $VERSION from Debian unstable" >&2
		"$sid" download "$base/debs" "$SOURCE_PKG=$VERSION" "$HEADERS_PKG=$VERSION" >&2 ||
			die "cannot download $SOURCE_PKG and $HEADERS_PKG $VERSION"
		deb=$(find "$base/debs" -name "${HEADERS_PKG}_*.deb" | head -n1)
		[ -n "$deb" ] || die "$HEADERS_PKG was not downloaded"
		dpkg-deb -x "$deb" "$base/headers"
		hdr=$base/headers/usr/src/$HEADERS_PKG
		if [ ! -f "$hdr/.config" ] || [ ! -f "$hdr/Module.symvers" ]; then
			die "$HEADERS_PKG has no .config or Module.symvers"
		fi
		deb=$(find "$base/debs" -name "${SOURCE_PKG}_*_all.deb" | head -n1)
		[ -n "$deb" ] || die "$SOURCE_PKG was not downloaded"
		echo "$PROG: extracting all of $SOURCE_PKG $VERSION" >&2
		dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/$SOURCE_PKG.tar.xz" |
			tar -xJ -C "$SRC" --strip-components=1 || die "cannot extract $SOURCE_PKG"
		[ -f "$SRC/arch/x86/kvm/mmu/mmu.c" ] || die "no arch/x86/kvm in $SOURCE_PKG"

		cp "$hdr/.config" "$hdr/Module.symvers" "$HEADERS/"
		make -C "$SRC" O="$HEADERS" olddefconfig >"$base/prepare.log" 2>&1 ||
			die "olddefconfig failed (log: $base/prepare.log)"
		changed=$(diff <(grep '^CONFIG_' "$hdr/.config" | sort) \
			<(grep '^CONFIG_' "$HEADERS/.config" | sort) |
			sed -n 's/^[<>] CONFIG_\([A-Za-z0-9_]*\)=.*/\1/p' | sort -u |
			grep -Ev "$SID_CONFIG_OK") || true
		[ -z "$changed" ] ||
			die "with $(gcc --version | head -n1) these options differ from Debian's .config:" \
				"$(echo "$changed" | tr '\n' ' ')"
		echo "$PROG: preparing $SOURCE_PKG $VERSION for $RELEASE with $(gcc --version | head -n1)" >&2
		nice make -C "$SRC" O="$HEADERS" KERNELRELEASE="$RELEASE" -j"$JOBS" \
			modules_prepare >>"$base/prepare.log" 2>&1 ||
			die "modules_prepare failed (log: $base/prepare.log)"
		cmp -s "$hdr/Module.symvers" "$HEADERS/Module.symvers" ||
			die "modules_prepare changed Module.symvers"
		rm -rf "$base/debs" "$base/headers"
		touch "$base/.complete"
	fi
	flock -u 9
}

if [ -n "${SID_KERNEL[$KERNEL]:-}" ]; then
	prepare_sid
else
	prepare_stock
fi

# --- build -------------------------------------------------------------------

mkdir -p "$CACHE/build"
WORK=$(mktemp -d "$CACHE/build/$RELEASE-$TAG.XXXXXX")
cleanup() {
	if [ -n "$KEEP" ]; then
		echo "$PROG: build tree kept in $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

mkdir -p "$WORK/arch/x86" "$WORK/virt"
cp -a "$SRC/arch/x86/kvm" "$WORK/arch/x86/"
cp -a "$SRC/virt/kvm" "$WORK/virt/"

if [ -n "$PATCH" ]; then
	echo "$PROG: applying ${PATCH#"$SCRIPTS_DIR"/}" >&2
	(cd "$WORK" && patch -p1 --dry-run --fuzz=0 -s <"$PATCH" >/dev/null) ||
		die "${PATCH##*/} does not apply cleanly to $SOURCE_PKG $VERSION"
	(cd "$WORK" && patch -p1 --fuzz=0 -s --no-backup-if-mismatch <"$PATCH")
fi

KVM_DIR=$WORK/arch/x86/kvm
# The tree's Makefile refers to $(srctree) for KVM's own files, which the
# headers package does not have: point those at the copy instead.  Kbuild
# reads "Kbuild" in preference to "Makefile".  The extra include directory
# lets trace.h's TRACE_INCLUDE_PATH (../../arch/x86/kvm, relative to an
# include directory) find the copy.
# shellcheck disable=SC2016 # make variables, not shell ones
{
	echo "# Generated by $PROG from Makefile."
	echo "KVM_TREE := $WORK"
	echo 'ccflags-y += -I$(KVM_TREE)/arch/x86'
	# __FILE__ relative to the tree, as in Debian's own build: a BUG()
	# reads "kernel BUG at arch/x86/kvm/mmu/mmu.c:952!".
	echo 'ccflags-y += -fmacro-prefix-map=$(KVM_TREE)/='
	sed -e 's|\$(srctree)/arch/x86/kvm|$(KVM_TREE)/arch/x86/kvm|g' \
		-e 's|\$(srctree)/virt/kvm|$(KVM_TREE)/virt/kvm|g' \
		"$KVM_DIR/Makefile"
} >"$KVM_DIR/Kbuild"

echo "$PROG: building KVM $VERSION${WHAT:+ with $WHAT} for $RELEASE (make -j$JOBS)" >&2
start=$(date +%s)
if ! make -C "$HEADERS" M="$KVM_DIR" -j"$JOBS" modules >"$WORK/build.log" 2>&1; then
	grep -E 'error|Error' "$WORK/build.log" | head -n 30 >&2 || true
	tail -n 15 "$WORK/build.log" >&2
	KEEP=1
	die "build failed (log: $WORK/build.log)"
fi
echo "$PROG: built in $(($(date +%s) - start)) s" >&2

# --- check that the modules would load into the stock kernel -----------------

expected=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' \
	"$HEADERS/include/generated/utsrelease.h" 2>/dev/null) || true
[ "$expected" = "$RELEASE" ] || die "$HEADERS is for release '$expected', not $RELEASE"

# Exported CRCs: the kernel and its modules, then ours (kvm's exports that
# kvm-amd and kvm-intel import).  A kernel without module versions checks
# imports by name only, as modpost did in the build.
symvers=$WORK/all.symvers
awk '{ print $2, $1 }' "$HEADERS/Module.symvers" "$KVM_DIR/Module.symvers" >"$symvers"
modversions=
grep -q '^CONFIG_MODVERSIONS=y' "$HEADERS/.config" && modversions=1
for m in $MODULES; do
	ko=$KVM_DIR/$m.ko
	[ -f "$ko" ] || die "$m.ko was not built"
	vermagic=$(modinfo -F vermagic "$ko")
	[ "${vermagic%% *}" = "$RELEASE" ] || die "$m.ko: vermagic '$vermagic' is not for $RELEASE"
	[ -n "$modversions" ] || continue
	modprobe --dump-modversions "$ko" | awk -v ko="$m.ko" '
		NR == FNR { crc[$1] = $2; next }
		{ n++ }
		!($2 in crc) { print ko ": imports " $2 ", which nothing exports"; bad++; next }
		crc[$2] != $1 { print ko ": " $2 " has CRC " $1 ", the kernel " crc[$2]; bad++ }
		END { if (!n) { print ko ": no symbol versions"; bad++ } exit bad != 0 }
	' "$symvers" - >&2 || die "$m.ko would not load into $RELEASE"
done

mkdir -p "$OUT"
for m in $MODULES; do
	# Debian ships its modules without debug info, and so does this.
	strip --strip-debug -o "$OUT/$m.ko" "$KVM_DIR/$m.ko"
done

for m in $MODULES; do
	printf '%s: %s\n' "$m.ko" "$(modinfo -F vermagic "$OUT/$m.ko")"
done
what="control build (no bug, no fix)"
[ -z "$BUG" ] || what="bug ${PATCH##*/}"
[ -z "$FIX" ] || what="fix ${PATCH##*/}"
echo "$PROG: $OUT: KVM of $SOURCE_PKG $VERSION, $what, for $RELEASE" >&2
