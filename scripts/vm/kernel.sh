# SPDX-License-Identifier: GPL-2.0
# Finds the kernel to boot and the KVM modules that go with it (sourced by vmtest.sh).
# shellcheck shell=bash disable=SC2034 # variables for vmtest.sh

# Debian kernels known by a short name: the packages that hold the image
# and its modules.  Names in DEBIAN_KERNEL_SID come from Debian unstable,
# through scripts/sid-apt.sh (a private apt configuration in the cache).
declare -A DEBIAN_KERNELS=(
	[6.12]=linux-image-6.12.111+deb12-amd64-unsigned
	[6.1]=linux-image-6.1.0-56-amd64
	[7.2]="linux-binary-unsigned-7.2.13+deb14-amd64 linux-modules-7.2.13+deb14-amd64"
)
declare -A DEBIAN_KERNEL_SID=([7.2]=1)
# In the order the usage text lists them.
DEBIAN_KERNEL_NAMES="6.12 6.1 7.2"

# kernel_names SEP: the short names, e.g. "6.12|6.1|7.2".
kernel_names() {
	echo "${DEBIAN_KERNEL_NAMES// /$1}"
}

# One line per short name: NAME  PACKAGES.
kernel_list() {
	local name
	for name in $DEBIAN_KERNEL_NAMES; do
		printf '%-5s %s%s\n' "$name" "${DEBIAN_KERNELS[$name]}" \
			"${DEBIAN_KERNEL_SID[$name]:+ (Debian unstable)}"
	done
}

# kernel_spec_error SPEC: prints why SPEC names no kernel; fails (prints
# nothing) when it is a short name or a readable bzImage.
kernel_spec_error() {
	local spec=$1
	if [ -z "$spec" ]; then
		echo "--kernel is empty; use one of $(kernel_names ' ') or a bzImage path"
	elif [ -n "${DEBIAN_KERNELS[$spec]-}" ]; then
		return 1
	elif [[ $spec != */* ]] && [ ! -e "$spec" ]; then
		echo "unknown kernel '$spec': the short names are $(kernel_names ' '), or give a bzImage path"
	elif ! bzimage_version "$spec" >/dev/null; then
		echo "--kernel $spec is not a readable bzImage (nor one of $(kernel_names ' '))"
	else
		return 1
	fi
}

# The vendor modules the VM may load; their dependencies come along.
KVM_VENDOR_MODULES="kvm-amd kvm-intel"

# Set by kernel_get:
KERNEL_IMAGE=	# bzImage to boot
KERNEL_DESC=	# what it is, for the metadata
MODULE_TREE=	# where its modules are, empty when KVM is built in
MODULE_DEP=	# MODULE_TREE/modules.dep, when there is one

# The release string from a bzImage's setup header ("6.12.1 (user@host) #1
# ..."); fails when the file is not a bzImage.
bzimage_version() {
	local file=$1 offset
	[ -f "$file" ] && [ -r "$file" ] || return 1
	[ "$(dd if="$file" bs=1 skip=514 count=4 2>/dev/null)" = HdrS ] || return 1
	offset=$(od -An -tu2 -j526 -N2 "$file" | tr -d ' ')
	[ -n "$offset" ] && [ "$offset" -gt 0 ] || return 1
	dd if="$file" bs=1 skip=$((offset + 512)) count=256 2>/dev/null |
		tr '\0' '\n' | head -n 1
}

# Downloads a Debian package into the cache with apt-get, refreshing the
# package lists once when that fails.
debian_download() {
	local pkg=$1 get=(apt-get download)
	# As root apt hands the download to user _apt, who cannot write in
	# root's home; it would fall back to root after a warning.
	[ "$(id -u)" -ne 0 ] || get=(apt-get -o APT::Sandbox::User=root download)
	(cd "$CACHE_DIR" && "${get[@]}" "$pkg") && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "vmtest: cannot download $pkg; as root, run: apt-get update" >&2
		return 1
	fi
	echo "vmtest: refreshing the package lists and retrying" >&2
	apt-get update && (cd "$CACHE_DIR" && "${get[@]}" "$pkg")
}

# The release of a Debian kernel package: "6.1.0-56-amd64" for
# linux-image-6.1.0-56-amd64, linux-image-...-unsigned, linux-modules-...
debian_release() {
	local pkg=$1
	pkg=${pkg#linux-image-}
	pkg=${pkg#linux-modules-}
	pkg=${pkg#linux-binary-unsigned-}
	echo "${pkg%-unsigned}"
}

# debian_fetch SHORTNAME PKG: the .deb of PKG in the cache, downloaded when
# missing (from Debian unstable for the DEBIAN_KERNEL_SID names).
debian_fetch() {
	local short=$1 pkg=$2 debs
	debs=("$CACHE_DIR/${pkg}_"*.deb)
	if [ ! -f "${debs[-1]}" ]; then
		echo "vmtest: downloading $pkg into $CACHE_DIR" >&2
		if [ -n "${DEBIAN_KERNEL_SID[$short]-}" ]; then
			sid_download "$pkg" >&2 || return 1
		else
			debian_download "$pkg" >&2 || return 1
		fi
		debs=("$CACHE_DIR/${pkg}_"*.deb)
		[ -f "${debs[-1]}" ] || return 1
	fi
	echo "${debs[-1]}"
}

# Downloads a package of Debian unstable into the cache with the private
# apt configuration of scripts/sid-apt.sh; the system's apt sources are
# never touched.
sid_download() {
	local pkg=$1 sid=$SCRIPTS_DIR/sid-apt.sh
	if [ ! -x "$sid" ]; then
		echo "vmtest: $sid is missing: cannot fetch $pkg from Debian unstable" >&2
		return 1
	fi
	"$sid" --cache "$CACHE_DIR" download "$CACHE_DIR" "$pkg"
}

# Downloads and unpacks the packages of debian_kernel_get (its variables).
debian_kernel_unpack() {
	for pkg in "${pkgs[@]}"; do
		deb=$(debian_fetch "$short" "$pkg") || return 1
		debs+=("$deb")
	done
	# Unpack aside, then rename, so that an interrupted run or a
	# concurrent one never sees half a tree.
	tmp=$(mktemp -d "$CACHE_DIR/.unpack.XXXXXX")
	for deb in "${debs[@]}"; do
		echo "vmtest: unpacking ${deb##*/}"
		if ! dpkg -x "$deb" "$tmp"; then
			rm -rf "$tmp"
			return 1
		fi
	done
	# Debian makes modules.dep at install time; the package has none.
	# Newer packages put the modules under usr/lib/modules.
	base=$tmp
	[ ! -d "$tmp/usr/lib/modules/$release" ] || base=$tmp/usr
	if ! depmod -b "$base" "$release"; then
		rm -rf "$tmp"
		return 1
	fi
	for deb in "${debs[@]}"; do
		echo "$(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)"
	done | paste -s -d ',' >"$tmp/.vmtest-version"
	rm -rf "$tree"
	mv "$tmp" "$tree" || { rm -rf "$tmp"; [ -f "$tree/.vmtest-version" ]; } || return 1
}

# debian_kernel_get SHORTNAME: unpacks the packages of a Debian kernel into
# CACHE_DIR/PKG (once, PKG the first of them), with the modules.dep that
# their installation would make, and sets KERNEL_IMAGE and the module
# variables from it.
debian_kernel_get() {
	local short=$1 pkgs=() pkg release debs=() deb tree tmp base image dir lock
	read -r -a pkgs <<<"${DEBIAN_KERNELS[$short]}"
	release=$(debian_release "${pkgs[-1]}")
	tree=$CACHE_DIR/${pkgs[0]}

	mkdir -p "$CACHE_DIR"
	# One download and unpack at a time (make check runs VMs in parallel,
	# two of them may want the same kernel).
	exec {lock}>"$CACHE_DIR/.fetch.lock"
	flock "$lock"
	if [ ! -f "$tree/.vmtest-version" ] && ! debian_kernel_unpack; then
		exec {lock}>&-
		return 1
	fi
	exec {lock}>&-

	KERNEL_IMAGE=
	for image in "$tree/boot/vmlinuz-$release" \
		     "$tree/usr/lib/modules/$release/vmlinuz.unsigned" \
		     "$tree/usr/lib/modules/$release/vmlinuz"; do
		[ ! -f "$image" ] || { KERNEL_IMAGE=$image; break; }
	done
	KERNEL_DESC=$(sed 's/,/, /g' "$tree/.vmtest-version")
	# Trees unpacked by older runners recorded the version only.
	[[ $KERNEL_DESC == *' '* ]] || KERNEL_DESC="${pkgs[0]} $KERNEL_DESC"
	MODULE_TREE=
	for dir in "$tree/lib/modules/$release" "$tree/usr/lib/modules/$release"; do
		[ ! -f "$dir/modules.dep" ] || { MODULE_TREE=$dir; break; }
	done
	MODULE_DEP=${MODULE_TREE:+$MODULE_TREE/modules.dep}
	if [ -z "$KERNEL_IMAGE" ] || [ -z "$MODULE_DEP" ]; then
		echo "vmtest: ${pkgs[*]}: no kernel image or modules.dep for $release in $tree" >&2
		return 1
	fi
}

# A developer's bzImage. Its modules, if KVM is not built in, are looked
# for next to it: in lib/modules/RELEASE (make modules_install
# INSTALL_MOD_PATH=<its directory>) or, for .../arch/x86/boot/bzImage, in the
# kernel build tree.
custom_kernel_get() {
	local image=$1 version dir
	if ! version=$(bzimage_version "$image"); then
		echo "vmtest: $image is not a readable bzImage" >&2
		return 1
	fi
	KERNEL_IMAGE=$(realpath "$image")
	KERNEL_DESC="$KERNEL_IMAGE ($version)"
	dir=${KERNEL_IMAGE%/*}
	if [ -f "$dir/lib/modules/${version%% *}/modules.dep" ]; then
		MODULE_TREE=$dir/lib/modules/${version%% *}
		MODULE_DEP=$MODULE_TREE/modules.dep
	elif [ "${dir%/arch/x86/boot}" != "$dir" ] && [ -f "${dir%/arch/x86/boot}/Makefile" ]; then
		MODULE_TREE=${dir%/arch/x86/boot}
	fi
}

# kernel_get SPEC: SPEC is a short name from DEBIAN_KERNELS or a bzImage path.
kernel_get() {
	local spec=$1
	if [ -n "${DEBIAN_KERNELS[$spec]-}" ]; then
		debian_kernel_get "$spec"
	else
		custom_kernel_get "$spec"
	fi
}

# module_name FILE: "kvm-amd" for .../kvm-amd.ko.xz.
module_name() {
	local name=${1##*/}
	echo "${name%%.ko*}"
}

# module_find NAME: the file to load for a module, a replacement from
# --modules first. Module names may be spelt with - or _.
module_find() {
	local name=$1 dir
	for dir in "$MODULES_DIR" "$MODULE_TREE"; do
		[ -n "$dir" ] || continue
		find -H "$dir" \( -name "${name//_/-}.ko*" -o -name "${name//-/_}.ko*" \) \
			-print -quit | grep . && return 0
	done
	return 1
}

# Load order for NAME and its dependencies from modules.dep, which lists a
# module's dependencies so that they load last to first.
module_order_depfile() {
	local name=$1 line deps=() i
	line=$(grep -m1 -E "(^|/)${name}\.ko(\.[a-z]+)?:" "$MODULE_DEP") || return 1
	read -r -a deps <<<"${line#*:}"
	for ((i = ${#deps[@]} - 1; i >= 0; i--)); do
		module_name "${deps[i]}"
	done
	echo "$name"
}

# Load order for NAME from the modules' own "depends" fields, for a tree
# without modules.dep.
module_order_modinfo() {
	local name=$1 file dep
	file=$(module_find "$name") || return 1
	for dep in $(modinfo -F depends "$file" | tr ',' ' '); do
		module_order_modinfo "$dep" || return 1
	done
	echo "$name"
}

# module_order NAME: module names in load order, ending with NAME, each once.
module_order() {
	if [ -n "$MODULE_DEP" ]; then
		module_order_depfile "$1"
	else
		module_order_modinfo "$1"
	fi | awk '!seen[$0]++'
}

# Puts uncompressed modules into DIR with a load-amd / load-intel list for
# each vendor module found, and lists in REPLACED_MODULES those that came
# from --modules. Fails when KVM should be modular but is not found.
modules_install() {
	local dest=$1 vendor name file names
	REPLACED_MODULES=()
	mkdir -p "$dest"
	for vendor in $KVM_VENDOR_MODULES; do
		if [ -z "$MODULE_TREE" ] && [ -z "$MODULES_DIR" ]; then
			continue
		fi
		names=$(module_order "$vendor") || continue
		for name in $names; do
			echo "$name.ko" >>"$dest/load-${vendor#kvm-}"
			[ ! -f "$dest/$name.ko" ] || continue	# shared by both vendors
			file=$(module_find "$name") || {
				echo "vmtest: module $name (needed by $vendor) not found" >&2
				return 1
			}
			case $file in
			*.ko.xz) xz -dc "$file" ;;
			*.ko.zst) zstd -qdc "$file" ;;
			*.ko.gz) gzip -dc "$file" ;;
			*) cat "$file" ;;
			esac >"$dest/$name.ko" || return 1
			if [ -n "$MODULES_DIR" ] && [[ $file == "$MODULES_DIR"/* ]]; then
				REPLACED_MODULES+=("$name.ko sha256=$(sha256sum <"$dest/$name.ko" | cut -c1-16)")
			fi
		done
	done
	if [ -n "$MODULE_DEP" ] && [ ! -f "$dest/load-amd" ] && [ ! -f "$dest/load-intel" ]; then
		echo "vmtest: no kvm-amd or kvm-intel module in $MODULE_TREE" >&2
		return 1
	fi
}
