# SPDX-License-Identifier: GPL-2.0
# Bochs backend of vmtest.sh: boots the kernel from an ISO on an emulated
# Skylake-X, the way to get nested VMX without hardware support (sourced).
# shellcheck shell=bash disable=SC2034 # variables for vmtest.sh

BOCHS=bochs-bin
BOCHS_PACKAGES="bochs bochsbios vgabios isolinux syslinux-common xorriso busybox-static cpio xz-utils kmod"
BOCHS_CPU=corei7_skylake_x
BOCHS_MEM_MB=${BOCHS_MEM_MB:-2048}	# the most Debian's Bochs accepts
BOCHS_IPS=100000000
# Scaled down from QEMU's for 2 GiB of memory.
BOCHS_HUGEPAGES=${BOCHS_HUGEPAGES:-"hugepagesz=1G hugepages=1 hugepagesz=2M hugepages=128"}
BOCHS_TIMEOUT_SCALE=10
BOCHS_BOOT_BUDGET=900	# wall seconds to reach /init (takes ~90)
ISOLINUX_BIN=/usr/lib/ISOLINUX/isolinux.bin
LDLINUX_C32=/usr/lib/syslinux/modules/bios/ldlinux.c32

bochs_setup() {
	ACCEL=bochs
	ACCEL_REASON="instruction emulation, nested VMX"
	CPU_MODEL=$BOCHS_CPU
	TIMEOUT_SCALE=$BOCHS_TIMEOUT_SCALE
	BOOT_BUDGET=$BOCHS_BOOT_BUDGET
	EMULATOR_VERSION="Bochs $(dpkg-query -W -f='${Version}' bochs)"
	MEMORY=${BOCHS_MEM_MB}M
	CPUS=${BOCHS_CPUS:-1}	# 2: the host side of a test may spin on one CPU (make bench)
	HUGEPAGES=$BOCHS_HUGEPAGES
	# Bochs ticks the TSC once per instruction while the CPU model claims
	# 3.5 GHz; without this the guest clock crawls.
	# The CPU model's CPUID trips two boot-time WARNINGs, which would fail
	# every run; the options below get the kernel's fallback without them:
	# - leaf 0xd gives an XSAVE size that does not match the features: 6.1
	#   WARNs "XSAVE consistency problem" and turns XSAVE off (noxsave;
	#   6.12 calls it unknown but does apply it);
	# - leaf 1 sets HT with fewer logical CPUs than leaf 4 has cores:
	#   6.12's parse_legacy() WARNs and ignores HT (clearcpuid=ht, which
	#   taints the kernel "S", CPU out of spec).
	EXTRA_CMDLINE="tsc_early_khz=$((BOCHS_IPS / 1000)) noxsave clearcpuid=ht"
	echo "vmtest: emulator: Bochs, cpu $CPU_MODEL (nested VMX, one CPU)"
}

# bochs_iso INITRD CMDLINE ISO: Bochs cannot load a kernel itself, isolinux
# does it from a CD.
bochs_iso() {
	local initrd=$1 cmdline=$2 iso=$3 dir=$WORK/iso
	mkdir -p "$dir/isolinux"
	cp "$ISOLINUX_BIN" "$LDLINUX_C32" "$dir/isolinux/"
	cp "$KERNEL_IMAGE" "$dir/vmlinuz"
	cp "$initrd" "$dir/initrd.gz"
	cat >"$dir/isolinux/isolinux.cfg" <<-EOF
		DEFAULT vmtest
		PROMPT 0
		LABEL vmtest
		  KERNEL /vmlinuz
		  INITRD /initrd.gz
		  APPEND $cmdline
	EOF
	xorriso -as mkisofs -quiet -o "$iso" \
		-b isolinux/isolinux.bin -c isolinux/boot.cat \
		-no-emul-boot -boot-load-size 4 -boot-info-table "$dir"
}

# bochs_start INITRD CMDLINE: starts the VM in the background, sets EMU_PID.
bochs_start() {
	local initrd=$1 cmdline=$2 iso=$WORK/boot.iso
	bochs_iso "$initrd" "$cmdline" "$iso" >>"$EMULATOR_LOG" 2>&1 || return 1

	cat >"$WORK/bochsrc" <<-EOF
		cpu: model=$BOCHS_CPU, count=$CPUS, ips=$BOCHS_IPS, reset_on_triple_fault=1, ignore_bad_msrs=1
		memory: guest=$BOCHS_MEM_MB, host=$BOCHS_MEM_MB
		pci: enabled=1, chipset=i440fx
		romimage: file=/usr/share/bochs/BIOS-bochs-latest
		vgaromimage: file=/usr/share/vgabios/vgabios.bin
		ata0-master: type=cdrom, path="$iso", status=inserted
		boot: cdrom
		clock: sync=none, time0=local
		com1: enabled=1, mode=file, dev="$CONSOLE_LOG"
		com2: enabled=1, mode=file, dev="$STATUS_LOG"
		display_library: rfb, options="timeout=0"
		log: "$OUT_DIR/bochs.log"
		speaker: enabled=0
		# No host sound card on CI machines: Debian's bochs 2.7 aborts in
		# its mixer thread when ALSA finds none.  Never touch host audio.
		sound: driver=dummy
		panic: action=fatal
		# Errors are mostly unknown MSRs (APERF/MPERF every tick).
		error: action=ignore
		info: action=ignore
	EOF
	# Debian's Bochs has the internal debugger, which stops before the
	# first instruction: "c" lets it run.
	echo c >"$WORK/bochs-commands"
	echo "$BOCHS -q -rc $WORK/bochs-commands -f $WORK/bochsrc" >>"$EMULATOR_LOG"
	(cd "$WORK" && exec "$BOCHS" -q -rc bochs-commands -f bochsrc) \
		</dev/null >>"$EMULATOR_LOG" 2>&1 &
	EMU_PID=$!
}
