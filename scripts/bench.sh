#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make bench: runs the nested dirty-logging benchmark and upstream's
# dirty_log_perf_test side by side in one VM, then writes results.json, a
# table and plots.

set -euo pipefail

SCRIPTS_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$SCRIPTS_DIR/.." && pwd)
PROG_NAME=${0##*/}

usage() {
	cat <<EOF
usage: $PROG_NAME --prog FILE [--kernel K] [--emulator qemu|bochs] [--out DIR]
       [--modules DIR] [--sweep default|smoke|FILE] [--iterations N]
       [--no-upstream] [--peer-stock] [--label TEXT] [--append ARGS]

Runs the sweep's configurations of FILE (x86_64/nested_dirty_log_perf,
built) and, for each that upstream can run, dirty_log_perf_test -n (built
by scripts/bench/upstream.sh from Debian's linux-source-7.2 in the cache),
in one VM of scripts/vmtest.sh, with eager_page_split on and off.

  --prog FILE       the benchmark binary (static)
  --kernel K        as vmtest.sh: 6.12 (default), 6.1 or a bzImage
  --emulator E      qemu (default) or bochs
  --out DIR         results (default build/bench): results.json, table.txt,
                    phases.png/svg, enable.png/svg, data/, vmtest/ (the VM's
                    console.log, results.ktap, metadata)
  --modules DIR     KVM modules replacing the kernel's (scripts/kvm-modules.sh)
  --sweep S         default (minutes under QEMU TCG), smoke (one short
                    configuration, what make check runs), bochs (for
                    --emulator bochs --kernel 6.12: ours against upstream),
                    drops (the split caches' mmu_lock drops), i.e. NAME for
                    scripts/bench/sweep-NAME, or a sweep file
                    (scripts/bench/sweep-default shows the format)
  --iterations N    passes with dirty logging on (default 2, at least 2)
  --no-upstream     run only ours
  --peer-stock      run the peer as Debian's source has it; by default it is
                    built with its guest seed copied into the guest
                    (scripts/bench/upstream.sh --seed-fix, runs marked
                    "peer_seed_fix" in results.json), since stock its vCPU 0
                    writes every page whatever -w says
  --label TEXT      a note stored in results.json (e.g. the bug's name)
  --append ARGS     more kernel command-line words for the VM, as vmtest.sh's
                    --append (e.g. "kvm.tdp_mmu=0"; KVM's parameters in
                    effect are recorded in results.json)

Exit: 0 every run completed; 1 a run failed or did not complete; 2 usage
error or missing host packages; 3 to 5 the VM runner's failure (see
scripts/vmtest.sh --help).  Never a judgement of speed.
EOF
}

usage_error() {
	echo "$PROG_NAME: $*" >&2
	echo "See $PROG_NAME --help." >&2
	exit 2
}

PROG=
KERNEL=6.12
EMULATOR=qemu
OUT=$REPO/build/bench
MODULES=
SWEEP=default
ITERATIONS=2
UPSTREAM=1
SEED_FIX=--seed-fix
LABEL=
APPEND=

while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--no-upstream) UPSTREAM=0; shift ;;
	--peer-stock) SEED_FIX=; shift ;;
	--prog | --kernel | --emulator | --out | --modules | --sweep | --iterations | --label | \
	--append)
		[ $# -ge 2 ] || usage_error "$1 needs a value"
		case $1 in
		--prog) PROG=$2 ;;
		--kernel) KERNEL=$2 ;;
		--emulator) EMULATOR=$2 ;;
		--out) OUT=$2 ;;
		--modules) MODULES=$2 ;;
		--sweep) SWEEP=$2 ;;
		--iterations) ITERATIONS=$2 ;;
		--label) LABEL=$2 ;;
		--append) APPEND=$2 ;;
		esac
		shift 2
		;;
	*) usage_error "unknown argument: $1" ;;
	esac
done

[ -n "$PROG" ] || usage_error "--prog is required"
[ -x "$PROG" ] || usage_error "--prog $PROG is not an executable"
case $EMULATOR in
qemu | bochs) ;;
*) usage_error "--emulator must be qemu or bochs" ;;
esac
case $ITERATIONS in
'' | *[!0-9]*) usage_error "--iterations must be a number" ;;
esac
if [ "$ITERATIONS" -lt 2 ] || [ "$ITERATIONS" -gt 64 ]; then
	usage_error "--iterations must be 2 to 64"
fi
# A bare name is one of scripts/bench/sweep-*; anything else a file.
case $SWEEP in
'' | */* | .*) SWEEP_FILE=$SWEEP ;;
*) if [ -f "$SCRIPTS_DIR/bench/sweep-$SWEEP" ]; then
	SWEEP_FILE=$SCRIPTS_DIR/bench/sweep-$SWEEP
   else
	SWEEP_FILE=$SWEEP
   fi ;;
esac
[ -f "$SWEEP_FILE" ] || usage_error "--sweep: no file $SWEEP_FILE"
[ -z "$MODULES" ] || [ -d "$MODULES" ] || usage_error "--modules $MODULES is not a directory"

# gnuplot draws, python3 plans and reports; the peer's build needs a compiler.
PACKAGES="gnuplot-nox python3"
[ "$UPSTREAM" -eq 0 ] || PACKAGES+=" gcc make libc6-dev xz-utils"
# One argument per package.
# shellcheck disable=SC2086
"$SCRIPTS_DIR/deps.sh" $PACKAGES || exit 2

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BINDIR=$OUT/vm-bin
VMOUT=$OUT/vmtest

upstream_bin=
if [ "$UPSTREAM" -eq 1 ]; then
	if ! upstream_bin=$("$SCRIPTS_DIR/bench/upstream.sh" ${SEED_FIX:+"$SEED_FIX"}); then
		echo "bench: upstream's dirty_log_perf_test could not be built; running ours only" >&2
		upstream_bin=
	fi
fi

python3 "$SCRIPTS_DIR/bench/bench.py" plan --sweep "$SWEEP_FILE" --prog "$PROG" \
	${upstream_bin:+--upstream "$upstream_bin"} ${SEED_FIX:+--peer-seed-fix} \
	--iterations "$ITERATIONS" \
	--bindir "$BINDIR" || exit $?

# Upstream's main thread and vCPU threads spin while they wait for each
# other; on Bochs' one CPU the spinner would take half of the CPU from the
# phase being timed.  Two CPUs (scripts/vm/bochs.sh) keep them apart.
[ "$EMULATOR" != bochs ] || export BOCHS_CPUS=${BOCHS_CPUS:-2}

vm_rc=0
"$SCRIPTS_DIR/vmtest.sh" --bindir "$BINDIR" --kernel "$KERNEL" --emulator "$EMULATOR" \
	--out "$VMOUT" ${MODULES:+--modules "$MODULES"} ${APPEND:+--append "$APPEND"} || vm_rc=$?

report_rc=0
python3 "$SCRIPTS_DIR/bench/bench.py" report --bindir "$BINDIR" --vmout "$VMOUT" \
	--out "$OUT" --label "$LABEL" || report_rc=$?

# The runner's own failures (boot, splat, timeout) come first; a test
# failure (1) is also a run that did not complete.
if [ "$vm_rc" -ge 2 ]; then
	exit "$vm_rc"
elif [ "$vm_rc" -ne 0 ] || [ "$report_rc" -ne 0 ]; then
	exit 1
fi
exit 0
