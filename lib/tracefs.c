// SPDX-License-Identifier: GPL-2.0
/* Private ftrace instances: create, enable events, read them back, remove. */
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "knobs.h"
#include "test_util.h"
#include "tracefs.h"

#define TRACEFS_PATH		"/sys/kernel/tracing"
#define DEBUGFS_TRACING_PATH	"/sys/kernel/debug/tracing"
#define MAX_INSTANCES		4

static struct trace_instance instances[MAX_INSTANCES];
static int nr_instances;
static bool mounted_tracefs;

static bool is_tracefs(const char *dir)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/trace", dir);
	return !access(path, F_OK);
}

static void tracefs_unmount(void)
{
	if (mounted_tracefs && !umount(TRACEFS_PATH))
		knob_mount_removed(TRACEFS_PATH);
	mounted_tracefs = false;
}

/*
 * Where tracefs is mounted (/sys/kernel/tracing, or the debugfs tracing
 * directory).  When neither is, mount tracefs on /sys/kernel/tracing and
 * unmount it at exit.  NULL with a sentence in why if it cannot be had.
 */
static const char *tracefs_dir(char *why, size_t len)
{
	int err;

	if (is_tracefs(TRACEFS_PATH))
		return TRACEFS_PATH;
	if (is_tracefs(DEBUGFS_TRACING_PATH))
		return DEBUGFS_TRACING_PATH;
	/* Journalled first: a SIGKILLed test's mount is undone by the next run. */
	err = __knob_mount_made(TRACEFS_PATH);
	if (err) {
		snprintf(why, len, "cannot journal a tracefs mount on %s: %s", TRACEFS_PATH,
			 strerror(-err));
		return NULL;
	}
	if (mount("nodev", TRACEFS_PATH, "tracefs", 0, NULL)) {
		err = errno;
		knob_mount_removed(TRACEFS_PATH);
		snprintf(why, len, "tracefs is not mounted and mounting it on %s failed: %s "
			 "(needs CONFIG_TRACING and root)", TRACEFS_PATH, strerror(err));
		return NULL;
	}
	mounted_tracefs = true;
	knobs_at_restore(tracefs_unmount);
	if (!is_tracefs(TRACEFS_PATH)) {
		snprintf(why, len, "tracefs mounted on %s has no trace file", TRACEFS_PATH);
		return NULL;
	}
	return TRACEFS_PATH;
}

/* At exit, after knobs_restore() switched their events off. */
static void trace_instances_remove(void)
{
	while (nr_instances > 0) {
		const char *path = instances[--nr_instances].path;

		if (!rmdir(path) || errno == ENOENT)
			knob_dir_removed(path);
	}
}

static int instance_write(struct trace_instance *ti, const char *file, const char *val)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", ti->path, file);
	return __file_write_str(path, val);
}

struct trace_instance *trace_instance_create(const char *name, char *why, size_t len)
{
	const char *dir = tracefs_dir(why, len);
	struct trace_instance *ti;
	char path[256];
	int ret;

	if (!dir)
		return NULL;
	TEST_ASSERT(nr_instances < MAX_INSTANCES, "too many trace instances");
	ti = &instances[nr_instances];
	snprintf(path, sizeof(path), "%s/instances", dir);
	ret = snprintf(ti->path, sizeof(ti->path), "%s/" KNOBS_DIR_PREFIX "%d-%s", path,
		       (int)getpid(), name);
	TEST_ASSERT(ret < (int)sizeof(ti->path), "trace instance path too long: %s", name);
	/* Leftovers of killed runs: their names hold a dead PID. */
	knobs_sweep_dead_dirs(path);
	ret = __knob_dir_created(ti->path);
	if (ret) {
		snprintf(why, len, "cannot journal the ftrace instance %s: %s", ti->path,
			 strerror(-ret));
		return NULL;
	}
	if (mkdir(ti->path, 0750)) {
		snprintf(why, len, "cannot create the ftrace instance %s: %s "
			 "(instances need Linux 3.10+ and root)", ti->path, strerror(errno));
		knob_dir_removed(ti->path);
		return NULL;
	}
	if (!nr_instances)
		knobs_at_restore(trace_instances_remove);
	nr_instances++;

	/* A new instance records at once: keep it off until asked. */
	ret = instance_write(ti, "tracing_on", "0");
	TEST_ASSERT(!ret, "switching off the new ftrace instance %s: %s", ti->path,
		    strerror(-ret));
	ret = __trace_clear(ti);
	TEST_ASSERT(!ret, "clearing the ftrace instance %s: %s", ti->path, strerror(-ret));
	return ti;
}

int __trace_event_enable(struct trace_instance *ti, const char *system, const char *event)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/events/%s/%s/enable", ti->path, system, event);
	if (access(path, F_OK))
		return -errno;
	return __knob_set(path, "1");
}

int __trace_set_on(struct trace_instance *ti, bool on)
{
	return instance_write(ti, "tracing_on", on ? "1" : "0");
}

int __trace_clear(struct trace_instance *ti)
{
	char path[512];
	FILE *f;

	/* Opening "trace" for writing with O_TRUNC empties the buffer. */
	snprintf(path, sizeof(path), "%s/trace", ti->path);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fclose(f);
	return 0;
}

long __trace_for_each(struct trace_instance *ti, const char *event,
		    void (*fn)(const char *fields, void *arg), void *arg,
		    uint64_t *lost)
{
	char path[512], tag[128], *line = NULL;
	unsigned long in_buffer, written, dropped;
	size_t cap = 0, tag_len;
	long count = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/trace", ti->path);
	snprintf(tag, sizeof(tag), " %s: ", event);
	tag_len = strlen(tag);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	*lost = 0;
	while (getline(&line, &cap, f) > 0) {
		char *p;

		if (sscanf(line, "# entries-in-buffer/entries-written: %lu/%lu",
			   &in_buffer, &written) == 2) {
			*lost += written - in_buffer;
			continue;
		}
		/* Printed where a non-overwriting buffer dropped events. */
		p = strstr(line, "[LOST ");
		if (p && sscanf(p, "[LOST %lu EVENTS]", &dropped) == 1) {
			*lost += dropped;
			continue;
		}
		if (line[0] == '#')
			continue;
		p = strstr(line, tag);
		if (!p)
			continue;
		fn(p + tag_len, arg);
		count++;
	}
	free(line);
	fclose(f);
	return count;
}
