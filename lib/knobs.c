// SPDX-License-Identifier: GPL-2.0
/* Save/restore of system knobs, on exit and on fatal signals. */
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "knobs.h"
#include "test_util.h"

#define MAX_KNOBS	32
#define MAX_HOOKS	8
#define KNOB_LEN	128

struct knob {
	char path[256];
	char saved[KNOB_LEN];
	pid_t owner;	/* only the process that changed it restores it */
};

static struct knob knobs[MAX_KNOBS];
static volatile int nr_knobs;
static struct {
	void (*fn)(void);
	pid_t owner;
} hooks[MAX_HOOKS];
static volatile int nr_hooks;
static volatile sig_atomic_t restoring;

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

void knobs_restore(void)
{
	int i;

	pid_t self = getpid();

	if (restoring)
		return;
	restoring = 1;
	for (i = nr_knobs - 1; i >= 0; i--)
		if (knobs[i].owner == self)
			knob_write_raw(knobs[i].path, knobs[i].saved);
	nr_knobs = 0;
	for (i = nr_hooks - 1; i >= 0; i--)
		if (hooks[i].owner == self)
			hooks[i].fn();
	nr_hooks = 0;
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
	static bool installed;
	struct sigaction sa = { .sa_handler = knobs_signal };
	unsigned int i;

	if (installed)
		return;
	installed = true;
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

int knob_set(const char *path, const char *val)
{
	char cur[KNOB_LEN];
	ssize_t n;
	int i, ret;

	knobs_install();
	n = file_read_str(path, cur, sizeof(cur));
	if (n < 0)
		return (int)n;

	for (i = 0; i < nr_knobs; i++)
		if (!strcmp(knobs[i].path, path) && knobs[i].owner == getpid())
			break;
	if (i == nr_knobs) {
		TEST_ASSERT(nr_knobs < MAX_KNOBS, "too many knobs changed");
		TEST_ASSERT(strlen(path) < sizeof(knobs[i].path), "knob path too long");
		strcpy(knobs[i].path, path);
		strcpy(knobs[i].saved, cur);
		knobs[i].owner = getpid();
		/* Publish only once the entry is complete. */
		nr_knobs = nr_knobs + 1;
	}

	ret = file_write_str(path, val);
	if (ret && i == nr_knobs - 1 && !strcmp(knobs[i].saved, cur)) {
		/* Nothing was changed; don't "restore" a write that failed. */
		nr_knobs = nr_knobs - 1;
	}
	return ret;
}

int kvm_param_read(const char *module, const char *name, char *buf, size_t len)
{
	char path[256];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/module/%s/parameters/%s", module, name);
	n = file_read_str(path, buf, len);
	return n < 0 ? (int)n : 0;
}

int kvm_param_bool(const char *module, const char *name)
{
	char buf[32];
	int ret = kvm_param_read(module, name, buf, sizeof(buf));

	if (ret)
		return ret;
	if (buf[0] == 'Y' || buf[0] == 'y' || buf[0] == '1')
		return 1;
	if (buf[0] == 'N' || buf[0] == 'n' || buf[0] == '0')
		return 0;
	return -EINVAL;
}

int kvm_param_set(const char *module, const char *name, const char *val)
{
	char path[256];

	snprintf(path, sizeof(path), "/sys/module/%s/parameters/%s", module, name);
	return knob_set(path, val);
}

const char *kvm_vendor_module(void)
{
	if (!access("/sys/module/kvm_intel", F_OK))
		return "kvm_intel";
	if (!access("/sys/module/kvm_amd", F_OK))
		return "kvm_amd";
	return NULL;
}

static void hugepages_path(uint64_t page_size, const char *file, char *path,
			   size_t len)
{
	snprintf(path, len, "/sys/kernel/mm/hugepages/hugepages-%lukB/%s",
		 page_size >> 10, file);
}

static uint64_t hugepages_read(uint64_t page_size, const char *file)
{
	char path[256], buf[64];

	hugepages_path(page_size, file, path, sizeof(path));
	if (file_read_str(path, buf, sizeof(buf)) <= 0)
		return 0;
	return strtoull(buf, NULL, 10);
}

uint64_t hugepages_free(uint64_t page_size)
{
	return hugepages_read(page_size, "free_hugepages");
}

uint64_t hugepages_ensure(uint64_t page_size, uint64_t nr)
{
	uint64_t free_pages = hugepages_free(page_size);
	char path[256], val[32];

	if (free_pages >= nr)
		return free_pages;

	hugepages_path(page_size, "nr_hugepages", path, sizeof(path));
	snprintf(val, sizeof(val), "%lu",
		 hugepages_read(page_size, "nr_hugepages") + (nr - free_pages));
	/* The pool may grow less than asked; the caller looks at the result. */
	knob_set(path, val);
	return hugepages_free(page_size);
}

const char *thp_mode(char *buf, size_t len)
{
	char raw[128], *l, *r;

	if (file_read_str("/sys/kernel/mm/transparent_hugepage/enabled", raw,
			  sizeof(raw)) <= 0)
		return NULL;
	/* The file reads like "always [madvise] never". */
	l = strchr(raw, '[');
	r = l ? strchr(l, ']') : NULL;
	if (!l || !r)
		return NULL;
	*r = '\0';
	snprintf(buf, len, "%s", l + 1);
	return buf;
}
