/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cgroup v2 memory cgroups for tests: created at the top of the hierarchy,
 * entered by the test process, read through memory.current and
 * memory.stat, and removed on every exit path.
 */
#ifndef SELFTEST_CGROUP_H
#define SELFTEST_CGROUP_H

#include <stddef.h>
#include <stdint.h>

struct memcg {
	char path[256];		/* the cgroup's directory */
	char name[128];		/* its path in the hierarchy, as /proc/self/cgroup shows it */
	char origin[256];	/* the directory of the cgroup the process came from */
};

/*
 * Create the memory cgroup kvmnm-PID-NAME below the cgroup v2 root (the
 * PID is the caller's), journalled first.  At exit, knobs_restore() moves
 * this process back where it came from and removes the cgroup; after a
 * SIGKILL the journal replay removes it.  Leftover kvmnm-PID-* cgroups of
 * dead PIDs are removed first.  Returns NULL with a sentence in why (len
 * bytes) when cgroup v2 or its memory controller is missing.
 */
struct memcg *memcg_create(const char *name, char *why, size_t len);

/* Move the calling process (all its threads) into the cgroup: 0 or -errno. */
int __memcg_enter(struct memcg *cg);

/* memory.current, in bytes: the cgroup's page counter. */
uint64_t memcg_current(struct memcg *cg);

/*
 * Keys of memory.stat, read once after making the kernel flush the
 * cgroup's statistics (see memcg_stat_read() in cgroup.c for why and how).
 * The calling process must be in the cgroup.  A key memory.stat lacks is a
 * test failure.
 */
void memcg_stat_read(struct memcg *cg, const char *const *keys, uint64_t *vals,
		     int nr_keys);

#endif /* SELFTEST_CGROUP_H */
