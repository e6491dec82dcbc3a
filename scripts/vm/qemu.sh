# SPDX-License-Identifier: GPL-2.0
# QEMU backend of vmtest.sh: picks KVM or TCG and starts the VM (sourced).
# shellcheck shell=bash disable=SC2034 # variables for vmtest.sh

QEMU=qemu-system-x86_64
QEMU_PACKAGES="qemu-system-x86 busybox-static cpio xz-utils kmod"
QEMU_MEM=${QEMU_MEM:-6G}
QEMU_SMP=${QEMU_SMP:-2}
QEMU_HUGEPAGES=${QEMU_HUGEPAGES:-"hugepagesz=1G hugepages=2 hugepagesz=2M hugepages=512"}
QEMU_PROBE_TIMEOUT=20		# seconds for the KVM probe VM
QEMU_TIMEOUT_SCALE_KVM=1	# settings' timeout multiplied by this
QEMU_TIMEOUT_SCALE_TCG=4
QEMU_BOOT_BUDGET_KVM=60		# wall seconds to reach /init
QEMU_BOOT_BUDGET_TCG=180

# Set by qemu_choose_accel:
ACCEL=		# kvm or tcg
ACCEL_REASON=
CPU_MODEL=

# Runs a tiny VM under KVM: its "BIOS" is a reset vector that writes 0x2a to
# an isa-debug-exit port, which makes QEMU exit with status 0x2a*2+1 = 85.
# Nothing else proves that KVM_RUN really works.
qemu_kvm_probe() {
	local bios=$WORK/probe-bios.bin
	{
		head -c 65520 /dev/zero | tr '\0' '\364'	# hlt
		# mov al,0x2a; out 0xf4,al; hlt...
		printf '\260\052\346\364\364\364\364\364\364\364\364\364\364\364\364\364'
	} >"$bios"
	timeout -k 5 "$QEMU_PROBE_TIMEOUT" "$QEMU" -accel kvm -cpu host \
		-machine pc -m 16M -nodefaults -display none -no-reboot \
		-bios "$bios" -device isa-debug-exit,iobase=0xf4,iosize=4 \
		</dev/null >/dev/null 2>&1
	[ $? -eq 85 ]
}

# Prints why the host's KVM cannot run the tests with -cpu host; fails
# (prints nothing) when it can.
qemu_kvm_unusable() {
	local file value found=
	if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		echo "/dev/kvm is missing or not read-write"
		return 0
	fi
	for file in /sys/module/kvm_intel/parameters/nested \
		    /sys/module/kvm_amd/parameters/nested; do
		[ -r "$file" ] || continue
		value=$(cat "$file")
		case $value in
		Y | 1) found=$file ;;
		*) echo "the host has $file=$value"; return 0 ;;
		esac
	done
	if [ -z "$found" ]; then
		echo "the host's KVM has no kvm_intel/kvm_amd nested parameter"
		return 0
	fi
	if ! qemu_kvm_probe; then
		echo "a KVM guest failed to run (probe with -accel kvm -cpu host)"
		return 0
	fi
	return 1
}

# qemu_choose_accel auto|kvm|tcg
qemu_choose_accel() {
	local why
	case $1 in
	tcg)
		ACCEL=tcg ACCEL_REASON="forced by --accel tcg"
		;;
	kvm)
		ACCEL=kvm ACCEL_REASON="forced by --accel kvm"
		if why=$(qemu_kvm_unusable); then
			echo "vmtest: warning: $why" >&2
		fi
		;;
	auto)
		if why=$(qemu_kvm_unusable); then
			ACCEL=tcg ACCEL_REASON="no usable nested KVM on the host: $why"
		else
			ACCEL=kvm ACCEL_REASON="/dev/kvm works and the host has nested virtualization"
		fi
		;;
	esac
	if [ "$ACCEL" = kvm ]; then
		CPU_MODEL=host
		TIMEOUT_SCALE=$QEMU_TIMEOUT_SCALE_KVM
		BOOT_BUDGET=$QEMU_BOOT_BUDGET_KVM
	else
		# "max" has SVM with NPT and 1G pages.
		CPU_MODEL=max
		TIMEOUT_SCALE=$QEMU_TIMEOUT_SCALE_TCG
		BOOT_BUDGET=$QEMU_BOOT_BUDGET_TCG
	fi
}

qemu_setup() {
	qemu_choose_accel "$ACCEL_REQUEST"
	EMULATOR_VERSION=$("$QEMU" --version | head -n 1)
	MEMORY=$QEMU_MEM
	CPUS=$QEMU_SMP
	HUGEPAGES=$QEMU_HUGEPAGES
	echo "vmtest: accelerator: $ACCEL, -cpu $CPU_MODEL ($ACCEL_REASON)"
}

# QEMU option values escape a comma by doubling it.
qemu_path() {
	echo "${1//,/,,}"
}

# qemu_start INITRD CMDLINE: starts the VM in the background, sets EMU_PID.
qemu_start() {
	local initrd=$1 cmdline=$2
	local accel=$ACCEL
	# Multi-threaded TCG has been seen to Oops the guest kernel on int3
	# in the middle of static-key text patching (a cross-vCPU
	# code-modification race in QEMU 7.2): one TCG thread avoids it.
	[ "$ACCEL" != tcg ] || accel=tcg,thread=single
	local cmd=(
		"$QEMU" -accel "$accel" -cpu "$CPU_MODEL"
		-m "$QEMU_MEM" -smp "$QEMU_SMP"
		-nographic -nodefaults -no-reboot
		-kernel "$KERNEL_IMAGE" -initrd "$initrd" -append "$cmdline"
		-serial "file:$(qemu_path "$CONSOLE_LOG")"
		-serial "file:$(qemu_path "$STATUS_LOG")"
	)
	echo "${cmd[*]}" >"$EMULATOR_LOG"
	"${cmd[@]}" </dev/null >>"$EMULATOR_LOG" 2>&1 &
	EMU_PID=$!
}
