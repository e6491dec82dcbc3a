#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# /init of the test VM: loads KVM, runs the selftests printing KTAP, powers off.
#
# Runs under busybox sh as PID 1. vmtest.sh puts next to it:
#   /etc/vmtest/config         TIMEOUT_SCALE=N (emulation slow-down factor)
#   /etc/vmtest/tests          test names to run, in order
#   /lib/modules/vmtest/*.ko   KVM and its dependencies, uncompressed
#   /lib/modules/vmtest/load-amd, load-intel
#                              .ko files to insmod for each vendor, in order
#   /kvm/                      test binaries and the kselftest "settings"
#
# Everything printed goes to the console (ttyS0, mixed with kernel messages)
# and to ttyS1, which nothing else writes to: the host reads the KTAP and the
# "vmtest: " status lines from there.

PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PATH

TESTDIR=/kvm
MODDIR=/lib/modules/vmtest
CTL_TTY=/dev/ttyS1
DEFAULT_TIMEOUT=45	# kselftest's default when "settings" has none

TIMEOUT_SCALE=1
# shellcheck source=/dev/null
. /etc/vmtest/config

say() {
	echo "vmtest: $*"
}

mount_filesystems() {
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev
	mkdir -p /dev/shm /dev/hugepages /tmp
	mount -t tmpfs tmpfs /dev/shm
	mount -t tmpfs tmpfs /tmp
	mount -t hugetlbfs hugetlbfs /dev/hugepages
	mount -t tracefs tracefs /sys/kernel/tracing
	mount -t debugfs debugfs /sys/kernel/debug
	mount -t cgroup2 cgroup2 /sys/fs/cgroup
	# Like a systemd host: tests may create child cgroups with memory.stat.
	echo +memory >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
}

print_kvm_params() {
	for param in kvm/tdp_mmu kvm/eager_page_split kvm/nx_huge_pages \
		     kvm_amd/nested kvm_amd/npt kvm_intel/nested kvm_intel/ept; do
		file=/sys/module/${param%/*}/parameters/${param#*/}
		[ -r "$file" ] && say "param ${param%/*}.${param#*/}=$(cat "$file")"
	done
}

# module_args FILE.ko: the MODULE.PARAM=VALUE words of the kernel command
# line for that module, as PARAM=VALUE (what modprobe would pass; insmod
# does not read the command line).  The last one of a parameter wins.
module_args() {
	mod=${1%.ko}
	mod=$(echo "$mod" | tr - _)
	# One word per argument; the command line has no quoting here.
	# shellcheck disable=SC2013
	for word in $(cat /proc/cmdline); do
		case $word in
		"$mod".*=*) echo "${word#"$mod".}" ;;
		esac
	done | awk -F= '{ v[$1] = $0; if (!($1 in seen)) { seen[$1] = 1; o[++n] = $1 } }
		END { for (i = 1; i <= n; i++) printf "%s ", v[o[i]] }'
}

# Loads the modules listed for the CPU's vendor; KVM may also be built in.
load_kvm() {
	if grep -qw svm /proc/cpuinfo; then
		VENDOR=amd
	elif grep -qw vmx /proc/cpuinfo; then
		VENDOR=intel
	else
		say "FATAL: the CPU has neither VMX nor SVM"
		return 1
	fi
	say "vendor: $VENDOR"

	LOADED=
	if [ -f "$MODDIR/load-$VENDOR" ]; then
		while read -r ko; do
			args=$(module_args "$ko")
			# $args is a list of PARAM=VALUE words.
			# shellcheck disable=SC2086
			if ! insmod "$MODDIR/$ko" $args; then
				say "FATAL: insmod $ko $args failed"
				return 1
			fi
			LOADED="$LOADED $ko"
		done <"$MODDIR/load-$VENDOR"
	elif [ ! -d /sys/module/kvm_$VENDOR ]; then
		say "FATAL: no kvm-$VENDOR module in the initramfs and KVM is not built in"
		return 1
	fi

	if [ ! -c /dev/kvm ]; then
		say "FATAL: /dev/kvm does not exist after loading KVM"
		return 1
	fi
	print_kvm_params
	for dir in /sys/kernel/mm/hugepages/hugepages-*; do
		say "hugepages ${dir##*-}=$(cat "$dir/nr_hugepages")"
	done
	return 0
}

# Removing KVM makes the kernel check its slab caches: objects that KVM
# leaked show up as "still has objects" / "Objects remaining" on the console.
unload_kvm() {
	case $LOADED in
	*kvm-$VENDOR.ko*) ;;
	*) return 0 ;;	# built in: nothing to unload
	esac
	for mod in kvm_$VENDOR kvm; do
		if ! rmmod "$mod"; then
			say "LEAK: rmmod $mod failed: KVM is still in use after the tests"
			return 1
		fi
	done
	say "kvm unloaded"
}

prefix_lines() {
	while IFS= read -r line || [ -n "$line" ]; do
		echo "# $line"
	done
}

# Runs in the background: the test's process group gets TERM after $2
# seconds, KILL 5 seconds later. Sleeps in the background so that the TERM
# that ends the watchdog is handled at once.
watchdog() {
	trap 'kill $sleeper 2>/dev/null; exit 0' TERM
	sleep "$2" &
	sleeper=$!
	wait $sleeper
	: >/tmp/timed-out
	kill -TERM -"$1" 2>/dev/null
	sleep 5 &
	sleeper=$!
	wait $sleeper
	kill -KILL -"$1" 2>/dev/null
}

# Runs in the background: a process that left the test's session may hold
# the output fifo open for ever; stop waiting for it 5 seconds after the test.
printer_watchdog() {
	trap 'kill $sleeper 2>/dev/null; exit 0' TERM
	sleep 5 &
	sleeper=$!
	wait $sleeper
	echo "# vmtest: the test's output is still open after it ended; not waiting"
	kill "$1" 2>/dev/null
}

# run_test NUMBER NAME TIMEOUT: prints the test's KTAP block.
run_test() {
	num=$1 name=$2 limit=$3
	# For the runner (not KTAP): which test a kernel splat happened in.
	say "test $num start $name"
	read -r t0 _ </proc/uptime
	echo "# selftests: kvm: $name"
	echo "# timeout set to $limit"

	rm -f /tmp/timed-out
	fifo=/tmp/output.$num
	mkfifo "$fifo"
	prefix_lines <"$fifo" &
	printer=$!
	# A session of its own, so that a timeout kills the test's children too.
	setsid "./$name" >"$fifo" 2>&1 </dev/null &
	pid=$!
	watchdog "$pid" "$limit" &
	dog=$!
	# Here and below: ash reports a job killed by a signal ("Terminated")
	# on stderr, also a watchdog killed before it set its trap.
	wait "$pid" 2>/dev/null
	rc=$?
	kill "$dog" 2>/dev/null
	wait "$dog" 2>/dev/null
	# Children left behind would keep the fifo open.
	kill -KILL -"$pid" 2>/dev/null
	printer_watchdog "$printer" &
	dog=$!
	wait "$printer" 2>/dev/null
	kill "$dog" 2>/dev/null
	wait "$dog" 2>/dev/null
	rm -f "$fifo"
	read -r t1 _ </proc/uptime
	# The guest's clock: under TCG and Bochs it need not follow the host's.
	echo "# vmtest: $name took $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s (guest uptime)"

	if [ -e /tmp/timed-out ]; then
		echo "not ok $num selftests: kvm: $name # TIMEOUT $limit seconds"
	elif [ "$rc" -eq 0 ]; then
		echo "ok $num selftests: kvm: $name"
	elif [ "$rc" -eq 4 ]; then
		echo "ok $num selftests: kvm: $name # SKIP"
	else
		echo "not ok $num selftests: kvm: $name # exit=$rc"
	fi
}

run_tests() {
	cd "$TESTDIR" || return
	timeout=$(sed -n 's/^timeout=\([0-9][0-9]*\)$/\1/p' settings 2>/dev/null)
	limit=$((${timeout:-$DEFAULT_TIMEOUT} * TIMEOUT_SCALE))

	say "ktap begin"
	echo "TAP version 13"
	echo "1..$(grep -c . /etc/vmtest/tests)"
	num=0
	while read -r name; do
		[ -n "$name" ] || continue
		num=$((num + 1))
		run_test "$num" "$name" "$limit" </dev/null
	done </etc/vmtest/tests
	say "ktap end"
	cd /
}

main() {
	say "init"
	say "kernel $(uname -r)"
	if load_kvm; then
		say "kvm loaded"
		run_tests
		unload_kvm
	else
		say "kvm failed"
	fi
	say "end"
}

mount_filesystems
if [ -c "$CTL_TTY" ] && stty -F "$CTL_TTY" raw -echo 2>/dev/null; then
	main 2>&1 | tee "$CTL_TTY"
else
	echo "vmtest: no $CTL_TTY, status goes to the console only"
	main 2>&1
fi
sync
poweroff -f
# Not reached unless poweroff failed; PID 1 must not exit.
echo o >/proc/sysrq-trigger
while :; do sleep 60; done
