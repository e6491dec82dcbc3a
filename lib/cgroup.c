// SPDX-License-Identifier: GPL-2.0
/* cgroup v2 memory cgroups: create, enter, read statistics, remove. */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "knobs.h"
#include "test_util.h"

#define MAX_MEMCGS	4

static struct memcg memcgs[MAX_MEMCGS];
static int nr_memcgs;

/* The cgroup v2 mount point, from /proc/self/mountinfo. */
static bool cgroup2_mount(char *buf, size_t len)
{
	char line[1024], mnt[512], *sep;
	bool found = false;
	FILE *f = fopen("/proc/self/mountinfo", "r");

	if (!f)
		return false;
	/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE ..." */
	while (!found && fgets(line, sizeof(line), f)) {
		sep = strstr(line, " - ");
		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %511s", mnt) == 1 && strlen(mnt) < len) {
			strcpy(buf, mnt);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* The calling process's cgroup v2 path ("0::/PATH" in /proc/self/cgroup). */
static int self_cgroup(char *buf, size_t len)
{
	char raw[4096], *p;
	ssize_t n = __file_read_str("/proc/self/cgroup", raw, sizeof(raw));

	if (n < 0)
		return (int)n;
	for (p = raw; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncmp(p, "0::", 3)) {
			size_t l = strcspn(p + 3, "\n");

			if (l >= len)
				return -ENAMETOOLONG;
			memcpy(buf, p + 3, l);
			buf[l] = '\0';
			return 0;
		}
	}
	return -ENOENT;
}

/* Is word one of the space-separated words of a cgroup list file? */
static bool list_has(const char *path, const char *word)
{
	char buf[512], *tok, *save;

	if (__file_read_str(path, buf, sizeof(buf)) < 0)
		return false;
	for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
		if (!strcmp(tok, word))
			return true;
	return false;
}

/*
 * At exit (also from a signal handler: only async-signal-safe calls).  A
 * cgroup can be removed only once no task is in it: move this process back
 * first.  Tasks of the cgroup that are still exiting (KVM's per-VM worker
 * thread is stopped at VM destruction but leaves the cgroup a little later
 * in do_exit()) make rmdir() fail with EBUSY for a moment: retry for up to
 * a second.
 */
static void memcgs_remove(void)
{
	struct timespec ms = { .tv_nsec = 10 * 1000 * 1000 };
	char procs[300];
	int i, fd, tries;

	for (i = nr_memcgs - 1; i >= 0; i--) {
		strcpy(procs, memcgs[i].origin);
		strcat(procs, "/cgroup.procs");
		fd = open(procs, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (write(fd, "0", 1) < 0) {
				/* Then rmdir() fails; nothing more to do here. */
			}
			close(fd);
		}
		for (tries = 0; tries < 100; tries++) {
			if (!rmdir(memcgs[i].path) || errno == ENOENT) {
				knob_dir_removed(memcgs[i].path);
				break;
			}
			if (errno != EBUSY)
				break;	/* the journal entry stays for the next run */
			nanosleep(&ms, NULL);
		}
	}
	nr_memcgs = 0;
}

struct memcg *memcg_create(const char *name, char *why, size_t len)
{
	char root[256], path[300], self[256];
	struct memcg *cg;
	int ret;

	if (!cgroup2_mount(root, sizeof(root))) {
		snprintf(why, len, "cgroup v2 is not mounted "
			 "(mount -t cgroup2 none /sys/fs/cgroup)");
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/cgroup.controllers", root);
	if (!list_has(path, "memory")) {
		snprintf(why, len, "cgroup v2 at %s has no memory controller "
			 "(disabled with cgroup_disable=memory, or bound to cgroup v1)", root);
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", root);
	if (!list_has(path, "memory")) {
		snprintf(why, len, "the memory controller is not enabled for the children of %s "
			 "(echo +memory > %s)", root, path);
		return NULL;
	}
	ret = self_cgroup(self, sizeof(self));
	if (ret) {
		snprintf(why, len, "this process has no cgroup v2 path in /proc/self/cgroup: %s",
			 strerror(-ret));
		return NULL;
	}

	TEST_ASSERT(nr_memcgs < MAX_MEMCGS, "too many memory cgroups");
	cg = &memcgs[nr_memcgs];
	ret = snprintf(path, sizeof(path), "/" KNOBS_DIR_PREFIX "%d-%s", (int)getpid(), name);
	TEST_ASSERT(ret < (int)sizeof(cg->name), "cgroup name too long: %s", name);
	strcpy(cg->name, path);
	ret = snprintf(cg->path, sizeof(cg->path), "%s%s", root, path);
	TEST_ASSERT(ret < (int)sizeof(cg->path), "cgroup path too long: %s%s", root, path);
	ret = snprintf(cg->origin, sizeof(cg->origin), "%s%s", root,
		       strcmp(self, "/") ? self : "");
	TEST_ASSERT(ret < (int)sizeof(cg->origin), "cgroup path too long: %s%s", root, self);
	/* Leftovers of killed runs: their names hold a dead PID. */
	knobs_sweep_dead_dirs(root);
	ret = __knob_dir_created(cg->path);
	if (ret) {
		snprintf(why, len, "cannot journal the cgroup %s: %s", cg->path, strerror(-ret));
		return NULL;
	}
	if (mkdir(cg->path, 0755)) {
		snprintf(why, len, "cannot create the cgroup %s: %s", cg->path, strerror(errno));
		knob_dir_removed(cg->path);
		return NULL;
	}
	if (!nr_memcgs)
		knobs_at_restore(memcgs_remove);
	nr_memcgs++;

	snprintf(path, sizeof(path), "%s/memory.stat", cg->path);
	if (access(path, R_OK)) {
		snprintf(why, len, "the new cgroup %s has no memory.stat", cg->path);
		return NULL;
	}
	return cg;
}

int __memcg_enter(struct memcg *cg)
{
	char path[300], self[256];
	int ret;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg->path);
	ret = __file_write_str(path, "0");
	if (ret)
		return ret;
	ret = self_cgroup(self, sizeof(self));
	if (ret)
		return ret;
	return strcmp(self, cg->name) ? -ESRCH : 0;
}

uint64_t memcg_current(struct memcg *cg)
{
	char path[300], buf[64];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/memory.current", cg->path);
	n = __file_read_str(path, buf, sizeof(buf));
	TEST_ASSERT(n > 0, "reading %s: %s", path, strerror((int)-n));
	return strtoull(buf, NULL, 10);
}

/*
 * Reading memory.stat flushes the cgroup's per-CPU statistics
 * (memory_stat_format() -> mem_cgroup_flush_stats()) only when more than
 * MEMCG_CHARGE_BATCH (64) x online CPUs updates are pending: counted over
 * all cgroups in raw units in 6.1 (stats_flush_threshold), per cgroup in
 * pages in 6.12 (memcg_vmstats_needs_flush()), and in both handed over
 * from each CPU in batches of 64.  Below that, memory.stat may lag by as
 * many updates, until the background flusher's next 2 s period
 * (flush_memcg_stats_dwork()).  Waiting for that period would be a guess at
 * timing; instead, push the count over the threshold from this cgroup:
 * fault in and unmap 128 x (CPUs + 1) anonymous 4K pages.  Each page makes
 * at least two updates when it is faulted in (anon mapped, LRU size) and
 * two when it is unmapped, at least four times what the threshold and a
 * batch left on every CPU add up to.  (6.1 skips the synchronous flush if
 * the background flusher holds its lock at that moment; that flusher is
 * then flushing everything itself.)
 */
static void memcg_stats_push(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t pages = 128 * (size_t)((cpus > 0 ? cpus : 1) + 1), i;
	size_t len = pages * SZ_4K;
	volatile char *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(p != MAP_FAILED, "mmap of %zu bytes to flush memcg statistics", len);
	madvise((void *)p, len, MADV_NOHUGEPAGE);
	for (i = 0; i < pages; i++)
		p[i * SZ_4K] = 1;
	munmap((void *)p, len);
}

void memcg_stat_read(struct memcg *cg, const char *const *keys, uint64_t *vals,
		     int nr_keys)
{
	char path[300], line[256], key[128], self[256];
	unsigned long long v;
	bool found[16] = { false };
	int i, ret;
	FILE *f;

	TEST_ASSERT(nr_keys <= (int)ARRAY_SIZE(found), "too many memory.stat keys");
	ret = self_cgroup(self, sizeof(self));
	TEST_ASSERT(!ret && !strcmp(self, cg->name),
		    "memcg_stat_read() from outside the cgroup %s (this process is in %s)",
		    cg->name, ret ? "?" : self);
	memcg_stats_push();

	snprintf(path, sizeof(path), "%s/memory.stat", cg->path);
	f = fopen(path, "r");
	TEST_ASSERT(f, "opening %s", path);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%127s %llu", key, &v) != 2)
			continue;
		for (i = 0; i < nr_keys; i++) {
			if (!strcmp(key, keys[i])) {
				vals[i] = v;
				found[i] = true;
			}
		}
	}
	fclose(f);
	for (i = 0; i < nr_keys; i++)
		TEST_ASSERT(found[i], "%s has no '%s' line", path, keys[i]);
}
