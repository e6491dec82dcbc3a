/* SPDX-License-Identifier: GPL-2.0 */
/*
 * System knobs a test changes (module parameters, hugepage pools, THP mode,
 * cgroups), saved before the first change and restored on every exit path:
 * normal exit, failed assertion, and SIGTERM/SIGINT/SIGHUP/SIGSEGV/SIGABRT.
 */
#ifndef SELFTEST_KNOBS_H
#define SELFTEST_KNOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Write a sysfs/procfs file, remembering its value before the first write.
 * Returns 0 or -errno (-EACCES/-EPERM/-EROFS when it is not writable).
 */
int knob_set(const char *path, const char *val);
/* Restore every knob changed so far, newest first. */
void knobs_restore(void);
/* Run fn at restore time after the knobs (e.g. remove a cgroup). */
void knobs_at_restore(void (*fn)(void));

/* Module parameters, /sys/module/MOD/parameters/NAME. */
int kvm_param_read(const char *module, const char *name, char *buf, size_t len);
/* 1 for Y/y/1, 0 for N/n/0, -errno if unreadable. */
int kvm_param_bool(const char *module, const char *name);
int kvm_param_set(const char *module, const char *name, const char *val);

/* The vendor module loaded: "kvm_intel", "kvm_amd" or NULL. */
const char *kvm_vendor_module(void);

/*
 * Make sure at least nr free hugetlb pages of page_size exist, growing the
 * pool (restored at exit) if needed.  Returns the number of free pages now
 * available, which can be less than asked: the caller decides to skip.
 */
uint64_t hugepages_ensure(uint64_t page_size, uint64_t nr);
uint64_t hugepages_free(uint64_t page_size);

/* THP "enabled" mode: "always", "madvise", "never"; NULL if THP missing. */
const char *thp_mode(char *buf, size_t len);

#endif /* SELFTEST_KNOBS_H */
