/* SPDX-License-Identifier: GPL-2.0 */
/*
 * System knobs a test changes (module parameters, hugepage pools, sysctls,
 * THP and khugepaged settings, cgroups and trace instances), recorded in a
 * journal on disk before each change and restored on every exit path:
 * normal exit, failed assertion, SIGTERM/SIGINT/SIGHUP/SIGQUIT and the
 * crash signals by the process that made the change; after a SIGKILL by
 * whoever comes next (the variant parent after waitpid(), the next test's
 * first knob call, or the runner).
 *
 * The journal: one file per change in $KVM_NESTED_SELFTESTS_JOURNAL
 * (default /run/kvm-nested-selftests), named TIME-PID-SEQ, holding
 *	pid PID
 *	start STARTTIME		(field 22 of /proc/PID/stat: PID reuse)
 *	boot BOOT_ID		(/proc/sys/kernel/random/boot_id)
 *	write PATH		then one line: the value to write back
 *   or	rmdir PATH		(a cgroup or trace instance to remove)
 * An entry whose owner is alive is never touched by anyone else.  An entry
 * whose owner is dead is replayed, newest first, and removed; one from an
 * earlier boot is removed without replaying it.  A shell can replay it too:
 * scripts read the two lines after "write".
 */
#ifndef SELFTEST_KNOBS_H
#define SELFTEST_KNOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KNOBS_JOURNAL_ENV	"KVM_NESTED_SELFTESTS_JOURNAL"
#define KNOBS_JOURNAL_DEFAULT	"/run/kvm-nested-selftests"
/*
 * For the unit tests only: a directory that stands in for / when the
 * library builds /sys and /proc paths of knobs (a fake sysfs).
 */
#define KNOBS_SYSROOT_ENV	"KVM_NESTED_SELFTESTS_SYSROOT"

/*
 * Prefix of the cgroups and trace instances tests create: PREFIX PID "-"
 * NAME, so that a leftover of a dead process is recognized by its name.
 */
#define KNOBS_DIR_PREFIX	"kvmnm-"

/*
 * Replay the journal entries of dead owners.  Runs once per process, from
 * the first knob call; a test may call it first thing.
 */
void knobs_init(void);
/* Replay now (e.g. after reaping a child); returns the number replayed. */
int knobs_replay_dead(void);

/*
 * Write a sysfs/procfs file, journalled before the first write.  A value
 * the file already holds is not written.  Returns 0 or -errno (-EACCES,
 * -EPERM, -EROFS when not writable, or when the journal cannot be written:
 * then nothing is changed).  Only the raw form exists: every caller
 * decides between a skip and a failure.
 */
int __knob_set(const char *path, const char *val);
/* Restore one knob of this process now (0 if it was not changed). */
int knob_restore(const char *path);
/* Restore every knob changed by this process, newest first, then the hooks. */
void knobs_restore(void);
/* Run fn at restore time after the knobs (e.g. remove a cgroup). */
void knobs_at_restore(void (*fn)(void));

/*
 * A directory this process is about to create (cgroup, trace instance):
 * journalled first so that a replay removes it.  After removing it itself,
 * the owner calls knob_dir_removed() (async-signal-safe).
 */
int __knob_dir_created(const char *path);
void knob_dir_removed(const char *path);
/*
 * Likewise a filesystem this process is about to mount (tracefs): the
 * replay unmounts it (unless it is busy); the owner calls
 * knob_mount_removed() after unmounting it itself.
 */
int __knob_mount_made(const char *path);
void knob_mount_removed(const char *path);
/*
 * Remove the empty directories DIR/KNOBS_DIR_PREFIX PID-* whose PID is not
 * alive.  Returns the number removed.
 */
int knobs_sweep_dead_dirs(const char *dir);

/* /sys or /proc path of a knob, under the fake root if one is set. */
const char *knobs_sys_path(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Module parameters, /sys/module/MOD/parameters/NAME: 0 or -errno. */
int __kvm_param_read(const char *module, const char *name, char *buf, size_t len);
/* Query: 1 for Y/y/1, 0 for N/n/0, -errno if unreadable or other. */
int kvm_param_bool(const char *module, const char *name);
/* Journalled write (__knob_set()): 0 or -errno. */
int __kvm_param_set(const char *module, const char *name, const char *val);

/* The vendor module loaded: "kvm_intel", "kvm_amd" or NULL. */
const char *kvm_vendor_module(void);

/*
 * Quiet the sources of page-count noise while a test asserts exact counts,
 * each only where its file exists, through the journal (restored at exit):
 * NUMA balancing (kernel.numa_balancing=0: no NUMA hinting faults that
 * unmap pages), KSM (ksm/run=0: no merging of guest pages), khugepaged
 * (scan_sleep_millisecs=4294967295 and pages_to_scan=1: one last page
 * scanned on the wakeup the write makes, then no scan for 49 days: no
 * collapse of the host pages behind a slot) and KVM's NX huge page recovery
 * worker (kvm.nx_huge_pages_recovery_ratio=0: no zapping of NX-split
 * pages).  A file that exists and cannot be written is an error:
 * __knobs_quiet_page_counts() returns it, knobs_quiet_page_counts() asserts.
 */
int __knobs_quiet_page_counts(void);
void knobs_quiet_page_counts(void);

#endif /* SELFTEST_KNOBS_H */
