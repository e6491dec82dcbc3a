// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests: the leftovers of killed runs, cgroups and trace instances,
 * on directories that stand in for the cgroup root and tracefs' instances/:
 * the PID in their names, the sweep of dead PIDs, and the journal entry
 * that removes them after a SIGKILL.
 */
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "knobs.h"
#include "unit.h"

static char dir_path[512];

/* A PID that was just in use and is dead now. */
static pid_t dead_pid(void)
{
	pid_t pid = fork();

	TEST_ASSERT(pid >= 0, "fork");
	if (!pid)
		_exit(0);
	wait_status(pid);
	return pid;
}

static const char *sub(const char *root, const char *fmt, long pid)
{
	static char bufs[4][600];
	static unsigned int n;
	char name[128], *buf = bufs[n++ % ARRAY_SIZE(bufs)];

	snprintf(name, sizeof(name), fmt, pid);
	snprintf(buf, sizeof(bufs[0]), "%s/%s", root, name);
	return buf;
}

static void test_sweep(void)
{
	static const char *const roots[] = { "/cgroup", "/instances" };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(roots); i++) {
		const char *root = fake_path(roots[i]);
		long dead = dead_pid(), live = getpid();
		const char *d_dead = sub(root, KNOBS_DIR_PREFIX "%ld-kvm_split_cache_leak", dead);
		const char *d_live = sub(root, KNOBS_DIR_PREFIX "%ld-kvm_split_alias", live);
		const char *d_other = sub(root, "system.slice", 0);
		const char *d_junk = sub(root, KNOBS_DIR_PREFIX "x%ld-no-pid", dead);
		int n;

		mkdir(root, 0755);
		TEST_ASSERT(!mkdir(d_dead, 0755) && !mkdir(d_live, 0755) && !mkdir(d_other, 0755) &&
			    !mkdir(d_junk, 0755), "making the directories under %s", root);
		n = knobs_sweep_dead_dirs(root);
		CHECK(n == 1 && access(d_dead, F_OK) && !access(d_live, F_OK) &&
		      !access(d_other, F_OK) && !access(d_junk, F_OK),
		      "%s: swept %d, dead %s, live %s, other %s, junk %s; expected only the "
		      "dead PID's directory gone", roots[i], n,
		      access(d_dead, F_OK) ? "gone" : "kept", access(d_live, F_OK) ? "gone" : "kept",
		      access(d_other, F_OK) ? "gone" : "kept", access(d_junk, F_OK) ? "gone" : "kept");
		rmdir(d_live);
		rmdir(d_other);
		rmdir(d_junk);
	}
}

/* What memcg_create()/trace_instance_create() do, and their exit hooks. */
static void hook_remove(void)
{
	if (!rmdir(dir_path) || errno == ENOENT)
		knob_dir_removed(dir_path);
}

static void child_make_dir(void *arg)
{
	snprintf(dir_path, sizeof(dir_path), "%s", sub(fake_path("/instances"),
		 KNOBS_DIR_PREFIX "%ld-kvm_split_alias", getpid()));
	if (__knob_dir_created(dir_path) || mkdir(dir_path, 0750))
		_exit(94);
	knobs_at_restore(hook_remove);
}

static void test_dir_journal(void)
{
	const char *root = fake_path("/instances");
	const char *path;
	int status;
	pid_t pid;

	mkdir(root, 0755);
	/* Exit: the owner's hook removes it and its journal entry. */
	pid = fork_ready(child_make_dir, NULL);
	path = sub(root, KNOBS_DIR_PREFIX "%ld-kvm_split_alias", pid);
	CHECK(!access(path, F_OK) && journal_entries() == 1, "%s: %s, %d journal entries", path,
	      access(path, F_OK) ? "missing" : "made", journal_entries());
	kill(pid, SIGTERM);
	status = wait_status(pid);
	CHECK(WIFSIGNALED(status) && access(path, F_OK) && !journal_entries(),
	      "after SIGTERM (status %#x): %s %s, %d journal entries", status, path,
	      access(path, F_OK) ? "gone" : "left", journal_entries());

	/* SIGKILL: the next run's replay removes it. */
	pid = fork_ready(child_make_dir, NULL);
	path = sub(root, KNOBS_DIR_PREFIX "%ld-kvm_split_alias", pid);
	kill(pid, SIGKILL);
	wait_status(pid);
	CHECK(!access(path, F_OK) && journal_entries() == 1,
	      "after SIGKILL: %s %s, %d journal entries", path,
	      access(path, F_OK) ? "gone" : "left", journal_entries());
	CHECK(knobs_replay_dead() == 1 && access(path, F_OK) && !journal_entries(),
	      "after the replay: %s %s, %d journal entries", path,
	      access(path, F_OK) ? "gone" : "left", journal_entries());
}

/* The kind of mount tracefs_dir() makes when tracefs is not mounted. */
static bool is_mounted(const char *path)
{
	char line[1024], dev[256], dir[600];
	bool found = false;
	FILE *f = fopen("/proc/self/mounts", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%255s %599s", dev, dir) == 2 && !strcmp(dir, path))
			found = true;
	if (f)
		fclose(f);
	return found;
}

static void hook_unmount(void)
{
	if (!umount(dir_path))
		knob_mount_removed(dir_path);
}

static void child_mount(void *arg)
{
	snprintf(dir_path, sizeof(dir_path), "%s", fake_path("/tracing"));
	if (__knob_mount_made(dir_path) || mount("nodev", dir_path, "tmpfs", 0, "size=64k"))
		_exit(94);
	knobs_at_restore(hook_unmount);
}

static void test_mount_journal(void)
{
	const char *path = fake_path("/tracing");
	int status;
	pid_t pid;

	if (!unit_private_mounts()) {
		ksft_print_msg("mount journal: no private mount namespace, not mounting\n");
		return;
	}
	mkdir(path, 0755);
	pid = fork_ready(child_mount, NULL);
	CHECK(is_mounted(path) && journal_entries() == 1, "%s: %s, %d journal entries", path,
	      is_mounted(path) ? "mounted" : "not mounted", journal_entries());
	kill(pid, SIGTERM);
	status = wait_status(pid);
	CHECK(WIFSIGNALED(status) && !is_mounted(path) && !journal_entries(),
	      "after SIGTERM (status %#x): %s %s, %d journal entries", status, path,
	      is_mounted(path) ? "still mounted" : "unmounted", journal_entries());

	pid = fork_ready(child_mount, NULL);
	kill(pid, SIGKILL);
	wait_status(pid);
	CHECK(is_mounted(path) && journal_entries() == 1,
	      "after SIGKILL: %s %s, %d journal entries", path,
	      is_mounted(path) ? "mounted" : "unmounted", journal_entries());
	CHECK(knobs_replay_dead() == 1 && !is_mounted(path) && !journal_entries(),
	      "after the replay: %s %s, %d journal entries", path,
	      is_mounted(path) ? "still mounted" : "unmounted", journal_entries());
}

static const struct unit_case cases[] = {
	{ "cgroup/trace instance leftovers of dead PIDs swept, others kept", test_sweep },
	{ "cgroup/trace instance removed at exit, or by the replay after SIGKILL",
	  test_dir_journal },
	{ "tracefs mount undone at exit, or by the replay after SIGKILL", test_mount_journal },
};
UNIT_SUITE(unit_leftovers, cases);
