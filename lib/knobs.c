// SPDX-License-Identifier: GPL-2.0
/* The knob journal: save before change, restore on exit, replay after a kill. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "knobs.h"
#include "test_util.h"

#define MAX_KNOBS	48
#define MAX_HOOKS	8
#define KNOB_LEN	128
#define MAX_REPLAY	256

enum knob_kind { KNOB_FREE, KNOB_WRITE, KNOB_DIR, KNOB_MOUNT };

struct knob {
	enum knob_kind kind;
	char path[256];
	char saved[KNOB_LEN];
	char entry[384];	/* its journal file */
	pid_t owner;		/* only the process that changed it restores it */
};

static struct knob knobs[MAX_KNOBS];
static volatile int nr_knobs;
static struct {
	void (*fn)(void);
	pid_t owner;
} hooks[MAX_HOOKS];
static volatile int nr_hooks;
static volatile sig_atomic_t restoring;
static unsigned int journal_seq;

static const char *journal_dir(void)
{
	const char *d = getenv(KNOBS_JOURNAL_ENV);

	return d && *d ? d : KNOBS_JOURNAL_DEFAULT;
}

const char *knobs_sys_path(char *buf, size_t len, const char *fmt, ...)
{
	const char *root = getenv(KNOBS_SYSROOT_ENV);
	size_t n;
	va_list ap;

	snprintf(buf, len, "%s", root ? root : "");
	n = strlen(buf);
	va_start(ap, fmt);
	vsnprintf(buf + n, len - n, fmt, ap);
	va_end(ap);
	return buf;
}

/* mkdir -p; 0 or -errno. */
static int mkdir_p(const char *dir)
{
	char buf[256], *p;

	if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (p = buf + 1; ; p++) {
		if (*p == '/' || !*p) {
			char c = *p;

			*p = '\0';
			if (mkdir(buf, 0700) && errno != EEXIST)
				return -errno;
			*p = c;
			if (!c)
				return 0;
		}
	}
}

/* Field 22 of /proc/PID/stat, 0 if the process is gone or a zombie. */
static unsigned long long proc_start(pid_t pid)
{
	char path[64], buf[1024], *p, state;
	unsigned long long start;
	int field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (__file_read_str(path, buf, sizeof(buf)) <= 0)
		return 0;
	/* The command name may hold spaces and parentheses: skip to the last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c", &state) != 1 || state == 'Z' || state == 'X')
		return 0;
	for (field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &start) != 1)
		return 0;
	return start;
}

static bool owner_alive(pid_t pid, unsigned long long start)
{
	unsigned long long now;

	if (pid == getpid())
		return true;
	now = proc_start(pid);
	return now && (!start || now == start);
}

static void boot_id(char *buf, size_t len)
{
	if (__file_read_str("/proc/sys/kernel/random/boot_id", buf, len) <= 0)
		snprintf(buf, len, "unknown");
}

/* Only async-signal-safe calls: this runs from signal handlers too. */
static void knob_write_raw(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);

	if (fd < 0)
		return;
	if (write(fd, val, strlen(val)) < 0) {
		/* Nothing more to do from a signal handler. */
	}
	close(fd);
}

/* rmdir, retrying for up to a second while the last tasks leave a cgroup. */
static int rmdir_retry(const char *path)
{
	struct timespec ms = { .tv_nsec = 10 * 1000 * 1000 };
	int tries;

	for (tries = 0; tries < 100; tries++) {
		if (!rmdir(path) || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return -errno;
		nanosleep(&ms, NULL);
	}
	return -EBUSY;
}

static int cmp_desc(const void *a, const void *b)
{
	return -strcmp(*(char *const *)a, *(char *const *)b);
}

/* Apply one entry of a dead owner; false if the owner is alive. */
static bool replay_entry(const char *file, const char *boot)
{
	char buf[1024], what[16], path[256], eboot[64], *val;
	unsigned long long start;
	int pid;

	if (__file_read_str(file, buf, sizeof(buf)) <= 0 ||
	    sscanf(buf, "pid %d\nstart %llu\nboot %63s\n%15s %255[^\n]", &pid, &start,
		   eboot, what, path) != 5) {
		unlink(file);	/* not an entry this library wrote */
		return true;
	}
	if (owner_alive(pid, start))
		return false;
	if (!strcmp(eboot, boot)) {
		if (!strcmp(what, "write")) {
			val = strstr(buf, path);
			val = val ? strchr(val, '\n') : NULL;
			if (val)
				knob_write_raw(path, val + 1);
		} else if (!strcmp(what, "rmdir")) {
			rmdir_retry(path);
		} else if (!strcmp(what, "umount")) {
			/* Busy (someone else uses it now): left mounted. */
			umount(path);
		}
	}
	unlink(file);
	return true;
}

int knobs_replay_dead(void)
{
	char *names[MAX_REPLAY], file[512], boot[64];
	const char *dir = journal_dir();
	int nr = 0, replayed = 0, lock, i, pid;
	struct dirent *de;
	DIR *d;

	snprintf(file, sizeof(file), "%s/.lock", dir);
	lock = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0)
		return 0;	/* no journal yet: nothing to replay */
	if (flock(lock, LOCK_EX)) {
		close(lock);
		return 0;
	}
	boot_id(boot, sizeof(boot));
	d = opendir(dir);
	while (d && (de = readdir(d)) && nr < MAX_REPLAY) {
		/* An entry its owner died while writing: never published. */
		if (sscanf(de->d_name, ".new-%d-", &pid) == 1 && !owner_alive(pid, 0)) {
			snprintf(file, sizeof(file), "%s/%s", dir, de->d_name);
			unlink(file);
		}
		if (de->d_name[0] == '.')
			continue;
		names[nr] = strdup(de->d_name);
		if (names[nr])
			nr++;
	}
	if (d)
		closedir(d);
	/* Names start with a fixed-width time: newest first undoes in order. */
	qsort(names, nr, sizeof(names[0]), cmp_desc);
	for (i = 0; i < nr; i++) {
		snprintf(file, sizeof(file), "%s/%s", dir, names[i]);
		replayed += replay_entry(file, boot);
		free(names[i]);
	}
	flock(lock, LOCK_UN);
	close(lock);
	return replayed;
}

void knobs_init(void)
{
	static pid_t done;

	if (done == getpid())
		return;
	done = getpid();
	knobs_replay_dead();
}

void knobs_restore(void)
{
	pid_t self = getpid();
	int i;

	if (restoring)
		return;
	restoring = 1;
	for (i = nr_knobs - 1; i >= 0; i--) {
		if (knobs[i].owner != self || knobs[i].kind != KNOB_WRITE)
			continue;
		knob_write_raw(knobs[i].path, knobs[i].saved);
		unlink(knobs[i].entry);
		knobs[i].kind = KNOB_FREE;
	}
	/* The hooks remove the directories and call knob_dir_removed(). */
	for (i = nr_hooks - 1; i >= 0; i--)
		if (hooks[i].owner == self)
			hooks[i].fn();
	nr_hooks = 0;
	nr_knobs = 0;
	restoring = 0;
}

static void knobs_signal(int sig)
{
	knobs_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void knobs_install(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT,
				    SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE };
	static pid_t installed;
	struct sigaction sa = { .sa_handler = knobs_signal };
	unsigned int i;

	/* Handlers survive fork(); the atexit handler too. */
	if (installed)
		return;
	installed = getpid();
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
	atexit(knobs_restore);
}

void knobs_at_restore(void (*fn)(void))
{
	knobs_install();
	TEST_ASSERT(nr_hooks < MAX_HOOKS, "too many restore hooks");
	hooks[nr_hooks].fn = fn;
	hooks[nr_hooks].owner = getpid();
	nr_hooks = nr_hooks + 1;
}

/*
 * Write the journal entry of a change and add it to knobs[]; the change is
 * made only after this returned 0.
 */
static int journal_add(enum knob_kind kind, const char *path, const char *saved)
{
	char tmp[384], body[640], boot[64];
	struct timespec ts;
	struct knob *k;
	int fd, ret, len;

	knobs_install();
	if (nr_knobs >= MAX_KNOBS)
		return -ENOSPC;
	if (strlen(path) >= sizeof(k->path) || strlen(saved) >= sizeof(k->saved))
		return -ENAMETOOLONG;
	ret = mkdir_p(journal_dir());
	if (ret)
		return ret;
	k = &knobs[nr_knobs];
	clock_gettime(CLOCK_REALTIME, &ts);
	journal_seq++;
	snprintf(tmp, sizeof(tmp), "%s/.new-%d-%u", journal_dir(), (int)getpid(), journal_seq);
	ret = snprintf(k->entry, sizeof(k->entry), "%s/%020llu-%d-%u", journal_dir(),
		       (unsigned long long)ts.tv_sec * 1000000000ULL + ts.tv_nsec,
		       (int)getpid(), journal_seq);
	if (ret >= (int)sizeof(k->entry))
		return -ENAMETOOLONG;
	boot_id(boot, sizeof(boot));
	len = snprintf(body, sizeof(body), "pid %d\nstart %llu\nboot %s\n%s %s\n%s\n",
		       (int)getpid(), proc_start(getpid()), boot,
		       kind == KNOB_WRITE ? "write" : kind == KNOB_DIR ? "rmdir" : "umount",
		       path, saved);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	ret = write(fd, body, len) == len ? 0 : -EIO;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, k->entry))
		ret = -errno;
	if (ret) {
		unlink(tmp);
		return ret;
	}
	k->kind = kind;
	strcpy(k->path, path);
	strcpy(k->saved, saved);
	k->owner = getpid();
	/* Publish only once the entry is complete: the signal handler reads it. */
	nr_knobs = nr_knobs + 1;
	return 0;
}

static struct knob *knob_find(enum knob_kind kind, const char *path)
{
	int i;

	for (i = 0; i < nr_knobs; i++)
		if (knobs[i].kind == kind && knobs[i].owner == getpid() &&
		    !strcmp(knobs[i].path, path))
			return &knobs[i];
	return NULL;
}

/* The value of a knob as it can be written back: "a [b] c" reads as "b". */
static int knob_read(const char *path, char *buf, size_t len)
{
	ssize_t n = __file_read_str(path, buf, len);
	char *l, *r;

	if (n < 0)
		return (int)n;
	l = strchr(buf, '[');
	r = l ? strchr(l, ']') : NULL;
	if (l && r) {
		*r = '\0';
		memmove(buf, l + 1, strlen(l + 1) + 1);
	}
	return strchr(buf, '\n') ? -EINVAL : 0;
}

int __knob_set(const char *path, const char *val)
{
	char cur[KNOB_LEN], after[KNOB_LEN];
	bool added = false;
	int ret;

	knobs_init();
	if (strchr(val, '\n'))
		return -EINVAL;
	ret = knob_read(path, cur, sizeof(cur));
	if (ret)
		return ret;
	if (!strcmp(cur, val))
		return 0;
	if (!knob_find(KNOB_WRITE, path)) {
		ret = journal_add(KNOB_WRITE, path, cur);
		if (ret)
			return ret;
		added = true;
	}
	ret = __file_write_str(path, val);
	if (ret && added && !knob_read(path, after, sizeof(after)) && !strcmp(after, cur)) {
		/* Nothing was changed; don't "restore" a write that failed. */
		nr_knobs = nr_knobs - 1;
		unlink(knobs[nr_knobs].entry);
		knobs[nr_knobs].kind = KNOB_FREE;
	}
	return ret;
}

int knob_restore(const char *path)
{
	struct knob *k = knob_find(KNOB_WRITE, path);
	int ret;

	if (!k)
		return 0;
	ret = __file_write_str(k->path, k->saved);
	unlink(k->entry);
	k->kind = KNOB_FREE;
	return ret;
}

int __knob_dir_created(const char *path)
{
	knobs_init();
	return journal_add(KNOB_DIR, path, "");
}

int __knob_mount_made(const char *path)
{
	knobs_init();
	return journal_add(KNOB_MOUNT, path, "");
}

static void undo_done(enum knob_kind kind, const char *path)
{
	int i;

	for (i = 0; i < nr_knobs; i++) {
		if (knobs[i].kind == kind && knobs[i].owner == getpid() &&
		    !strcmp(knobs[i].path, path)) {
			unlink(knobs[i].entry);
			knobs[i].kind = KNOB_FREE;
		}
	}
}

void knob_dir_removed(const char *path)
{
	undo_done(KNOB_DIR, path);
}

void knob_mount_removed(const char *path)
{
	undo_done(KNOB_MOUNT, path);
}

int knobs_sweep_dead_dirs(const char *dir)
{
	size_t plen = strlen(KNOBS_DIR_PREFIX);
	char path[512], *end;
	struct dirent *de;
	int removed = 0;
	long pid;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, KNOBS_DIR_PREFIX, plen))
			continue;
		pid = strtol(de->d_name + plen, &end, 10);
		if (end == de->d_name + plen || *end != '-' || pid <= 0 ||
		    owner_alive((pid_t)pid, 0))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!rmdir_retry(path))
			removed++;
	}
	closedir(d);
	return removed;
}

int __kvm_param_read(const char *module, const char *name, char *buf, size_t len)
{
	char path[256];
	ssize_t n;

	knobs_init();
	knobs_sys_path(path, sizeof(path), "/sys/module/%s/parameters/%s", module, name);
	n = __file_read_str(path, buf, len);
	return n < 0 ? (int)n : 0;
}

int kvm_param_bool(const char *module, const char *name)
{
	char buf[32];
	int ret = __kvm_param_read(module, name, buf, sizeof(buf));

	if (ret)
		return ret;
	if (!strcmp(buf, "Y") || !strcmp(buf, "y") || !strcmp(buf, "1"))
		return 1;
	if (!strcmp(buf, "N") || !strcmp(buf, "n") || !strcmp(buf, "0"))
		return 0;
	return -EINVAL;
}

int __kvm_param_set(const char *module, const char *name, const char *val)
{
	char path[256];

	knobs_sys_path(path, sizeof(path), "/sys/module/%s/parameters/%s", module, name);
	return __knob_set(path, val);
}

const char *kvm_vendor_module(void)
{
	char path[256];

	if (!access(knobs_sys_path(path, sizeof(path), "/sys/module/kvm_intel"), F_OK))
		return "kvm_intel";
	if (!access(knobs_sys_path(path, sizeof(path), "/sys/module/kvm_amd"), F_OK))
		return "kvm_amd";
	return NULL;
}

int __knobs_quiet_page_counts(void)
{
	static const struct {
		const char *path;
		const char *val;
	} quiet[] = {
		{ "/proc/sys/kernel/numa_balancing", "0" },
		{ "/sys/kernel/mm/ksm/run", "0" },
		/* First the page budget, then the sleep, whose write wakes khugepaged. */
		{ "/sys/kernel/mm/transparent_hugepage/khugepaged/pages_to_scan", "1" },
		{ "/sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs",
		  "4294967295" },
		{ "/sys/module/kvm/parameters/nx_huge_pages_recovery_ratio", "0" },
	};
	char path[256];
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(quiet); i++) {
		knobs_sys_path(path, sizeof(path), "%s", quiet[i].path);
		if (access(path, F_OK))
			continue;
		ret = __knob_set(path, quiet[i].val);
		if (ret)
			return ret;
	}
	return 0;
}

void knobs_quiet_page_counts(void)
{
	int ret = __knobs_quiet_page_counts();

	TEST_ASSERT(!ret, "quieting NUMA balancing, KSM, khugepaged and NX recovery: %s",
		    strerror(-ret));
}
