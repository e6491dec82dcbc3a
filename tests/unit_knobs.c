// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests: knob save/restore and the journal, on fake sysfs files; a
 * "next run" is a fresh forked process making its first knob call.
 */
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "knobs.h"
#include "unit.h"

#define EAGER	"/sys/module/kvm/parameters/eager_page_split"

static void child_set(void *arg)
{
	const char *const *kv = arg;

	if (__knob_set(kv[0], kv[1]))
		_exit(98);
}

static void child_set_and_exit(void *arg)
{
	child_set(arg);
	exit(0);
}

static void child_set_and_assert(void *arg)
{
	child_set(arg);
	TEST_ASSERT(false, "deliberate failure after changing a knob");
}

static void child_set_and_skip(void *arg)
{
	child_set(arg);
	TEST_REQUIRE(false, "deliberate skip after changing a knob");
}

static void child_set_and_segv(void *arg)
{
	int *volatile null = NULL;

	child_set(arg);
	*null = 1;
}

static void child_set_and_abort(void *arg)
{
	child_set(arg);
	abort();
}

/*
 * A test killed by the kselftest runner's timeout gets SIGTERM, a crash
 * SIGSEGV or SIGABRT: the knobs it changed must be put back by itself.
 */
static void test_knobs_signal(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(sigs); i++) {
		const char *kv[2] = { fake_file("/knobs/sig", "Y"), "N" };
		pid_t pid = fork_ready(child_set, kv);
		int status;

		CHECK(!strcmp(file_value(kv[0]), "N") && journal_entries() == 1,
		      "signal %d: before it the knob reads \"%s\" with %d journal entries, "
		      "expected \"N\" and 1", sigs[i], file_value(kv[0]), journal_entries());
		kill(pid, sigs[i]);
		status = wait_status(pid);
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == sigs[i],
		      "signal %d: the child did not die of it (status %#x)", sigs[i], status);
		CHECK(!strcmp(file_value(kv[0]), "Y") && !journal_entries(),
		      "signal %d: after it the knob reads \"%s\" with %d journal entries, "
		      "expected \"Y\" and none", sigs[i], file_value(kv[0]), journal_entries());
	}
}

/* A failed TEST_ASSERT, a skip, exit(), SIGSEGV and abort() all restore too. */
static void test_knobs_exit_paths(void)
{
	static const struct {
		void (*fn)(void *arg);
		const char *what;
		int code, sig;
	} paths[] = {
		{ child_set_and_assert,	"failed assertion", KSFT_FAIL, 0 },
		{ child_set_and_skip,	"skip",		    KSFT_SKIP, 0 },
		{ child_set_and_exit,	"exit(0)",	    0, 0 },
		{ child_set_and_segv,	"SIGSEGV",	    0, SIGSEGV },
		{ child_set_and_abort,	"abort()",	    0, SIGABRT },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(paths); i++) {
		const char *kv[2] = { fake_file("/knobs/exit", "always"), "madvise" };
		int status = wait_status(fork_ready(paths[i].fn, kv));

		if (paths[i].sig)
			CHECK(WIFSIGNALED(status) && WTERMSIG(status) == paths[i].sig,
			      "%s: child status %#x, expected death by signal %d", paths[i].what,
			      status, paths[i].sig);
		else
			CHECK(WIFEXITED(status) && WEXITSTATUS(status) == paths[i].code,
			      "%s: child status %#x, expected exit code %d", paths[i].what,
			      status, paths[i].code);
		CHECK(!strcmp(file_value(kv[0]), "always") && !journal_entries(),
		      "%s: the knob reads \"%s\" with %d journal entries, expected \"always\" "
		      "and none", paths[i].what, file_value(kv[0]), journal_entries());
	}
}

static int hook_calls;
static const char *hook_knob;
static bool hook_saw_restored;

static void restore_hook(void)
{
	hook_calls++;
	/* Hooks run after the knobs (a cgroup is removed once emptied). */
	hook_saw_restored = !strcmp(file_value(hook_knob), "Y");
}

static void test_knobs_restore(void)
{
	const char *a = fake_file("/knobs/param_a", "Y");
	const char *b = fake_file("/knobs/pool_b", "2048");
	const char *thp = fake_file("/knobs/thp", "always [madvise] never");
	const char *missing = fake_path("/knobs/no_such_knob");
	int ret;

	hook_knob = a;
	knobs_at_restore(restore_hook);
	ret = __knob_set(a, "N");
	CHECK(!ret && !strcmp(file_value(a), "N"), "__knob_set(a, N): %d, reads \"%s\"", ret,
	      file_value(a));
	/* A second change must not overwrite the saved original. */
	ret = __knob_set(a, "1");
	CHECK(!ret && !strcmp(file_value(a), "1"), "__knob_set(a, 1): %d, reads \"%s\"", ret,
	      file_value(a));
	ret = __knob_set(b, "4096");
	CHECK(!ret && !strcmp(file_value(b), "4096"), "__knob_set(b, 4096): %d, reads \"%s\"",
	      ret, file_value(b));
	/* A selection file is saved as the word that can be written back. */
	ret = __knob_set(thp, "never");
	CHECK(!ret, "__knob_set(thp, never): %d", ret);
	ret = __knob_set(missing, "1");
	CHECK(ret == -ENOENT, "__knob_set on a missing file: expected -ENOENT, got %d", ret);
	ret = __knob_set(b, "1\n2");
	CHECK(ret == -EINVAL, "__knob_set of a value with a newline: expected -EINVAL, got %d", ret);
	CHECK(journal_entries() == 3, "%d journal entries for 3 changed knobs", journal_entries());
	/* The value a knob already holds is not written, not journalled. */
	fake_file("/knobs/same", "0");
	ret = __knob_set(fake_path("/knobs/same"), "0");
	CHECK(!ret && journal_entries() == 3, "__knob_set to the current value: %d, %d entries",
	      ret, journal_entries());

	knobs_restore();
	CHECK(!strcmp(file_value(a), "Y"), "after knobs_restore knob a reads \"%s\", expected \"Y\"",
	      file_value(a));
	CHECK(!strcmp(file_value(b), "2048"),
	      "after knobs_restore knob b reads \"%s\", expected \"2048\"", file_value(b));
	CHECK(!strcmp(file_value(thp), "madvise"),
	      "after knobs_restore the selection knob reads \"%s\", expected \"madvise\"",
	      file_value(thp));
	CHECK(access(missing, F_OK), "knobs_restore created the missing knob's file");
	CHECK(hook_calls == 1 && hook_saw_restored,
	      "restore hook: %d calls, saw the knobs restored: %d", hook_calls, hook_saw_restored);
	CHECK(!journal_entries(), "%d journal entries left after knobs_restore", journal_entries());

	/* Restoring forgets: a second restore changes nothing. */
	TEST_ASSERT(!__file_write_str(a, "Z"), "writing knob a");
	knobs_restore();
	CHECK(!strcmp(file_value(a), "Z") && hook_calls == 1,
	      "a second knobs_restore wrote \"%s\" / ran the hook %d times", file_value(a),
	      hook_calls);

	/* knob_restore() of one knob, the others stay. */
	TEST_ASSERT(!__knob_set(a, "N") && !__knob_set(b, "1"), "changing a and b");
	ret = knob_restore(a);
	CHECK(!ret && !strcmp(file_value(a), "Z") && !strcmp(file_value(b), "1") &&
	      journal_entries() == 1, "knob_restore(a): %d, a \"%s\", b \"%s\", %d entries",
	      ret, file_value(a), file_value(b), journal_entries());
	knobs_restore();
	CHECK(!strcmp(file_value(b), "2048") && !journal_entries(),
	      "knobs_restore after knob_restore: b \"%s\", %d entries", file_value(b),
	      journal_entries());
}

/*
 * Values of different lengths: "echo 0 > nr_hugepages" semantics.  Kernel
 * attribute files don't care about the file offset, but a regular file does.
 */
static void test_knobs_lengths(void)
{
	const char *shrink = fake_file("/knobs/shrink", "1024");
	const char *grow = fake_file("/knobs/grow", "0");
	int ret;

	ret = __file_write_str(shrink, "7");
	CHECK(!ret && !strcmp(file_value(shrink), "7"),
	      "__file_write_str(\"7\") over \"1024\": %d, reads \"%s\"", ret, file_value(shrink));
	fake_file("/knobs/shrink", "1024");
	ret = __knob_set(shrink, "0");
	CHECK(!ret && !strcmp(file_value(shrink), "0"),
	      "__knob_set(\"0\") over \"1024\": %d, reads \"%s\"", ret, file_value(shrink));
	ret = __knob_set(grow, "1024");
	CHECK(!ret && !strcmp(file_value(grow), "1024"),
	      "__knob_set(\"1024\") over \"0\": %d, reads \"%s\"", ret, file_value(grow));
	knobs_restore();
	CHECK(!strcmp(file_value(shrink), "1024"), "restored \"1024\" reads \"%s\"",
	      file_value(shrink));
	CHECK(!strcmp(file_value(grow), "0"), "restored \"0\" (over \"1024\") reads \"%s\"",
	      file_value(grow));
}

/*
 * Children of a process that changed knobs must not undo the parent's
 * changes when they exit, and must restore the knobs they change
 * themselves (a test runs its variants in forked children).
 */
static void test_knobs_children(void)
{
	const char *parent_knob = fake_file("/knobs/parent", "Y");
	const char *killed[2] = { fake_file("/knobs/child_killed", "Y"), "N" };
	const char *exited[2] = { fake_file("/knobs/child_exited", "Y"), "N" };
	int status, ret;
	pid_t pid;

	ret = __knob_set(parent_knob, "N");
	CHECK(!ret, "__knob_set in the parent: %d", ret);

	status = wait_status(fork_ready(child_set_and_exit, exited));
	CHECK(WIFEXITED(status) && !WEXITSTATUS(status), "child status %#x", status);
	CHECK(!strcmp(file_value(parent_knob), "N"),
	      "a child's exit restored the parent's knob (reads \"%s\", expected \"N\")",
	      file_value(parent_knob));
	CHECK(!strcmp(file_value(exited[0]), "Y"),
	      "a child's own knob reads \"%s\" after it exited, expected \"Y\"",
	      file_value(exited[0]));

	pid = fork_ready(child_set, killed);
	kill(pid, SIGTERM);
	status = wait_status(pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "child status %#x", status);
	CHECK(!strcmp(file_value(parent_knob), "N"),
	      "a child's SIGTERM restored the parent's knob (reads \"%s\", expected \"N\")",
	      file_value(parent_knob));
	CHECK(!strcmp(file_value(killed[0]), "Y"),
	      "a child's own knob reads \"%s\" after SIGTERM, expected \"Y\"",
	      file_value(killed[0]));
	/* Nobody but the parent itself replays the parent's entry. */
	CHECK(knobs_replay_dead() == 0 && !strcmp(file_value(parent_knob), "N"),
	      "a replay while the owner lives restored its knob");

	knobs_restore();
	CHECK(!strcmp(file_value(parent_knob), "Y") && !journal_entries(),
	      "the parent's knob reads \"%s\" after restore, %d journal entries",
	      file_value(parent_knob), journal_entries());
}

/* The value line of the only journal entry, or "" if there is not one entry. */
static const char *journal_saved(void)
{
	static char buf[1024];
	char dir[300], path[600];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/journal", unit_dir);
	d = opendir(dir);
	buf[0] = '\0';
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		break;
	}
	if (d)
		closedir(d);
	if (journal_entries() != 1 || __file_read_str(path, buf, sizeof(buf)) <= 0)
		return "";
	return strrchr(buf, '\n') ? strrchr(buf, '\n') + 1 : "";
}

static void next_run_set(void *arg)
{
	int ret = __kvm_param_set("kvm", "eager_page_split", "N");

	/* Tell the test what this run saved as the original. */
	if (ret || strcmp(journal_saved(), "Y"))
		_exit(97);
}

/*
 * Issue 9: after SIGKILL of a test, kvm.eager_page_split=N survived and
 * the next run saved N as the original.  Now the next run's first knob
 * call replays the dead test's journal: it saves Y.
 */
static void test_knobs_sigkill(void)
{
	const char *eager = fake_file(EAGER, "Y");
	const char *kv[2] = { eager, "N" };
	int status;
	pid_t pid;

	pid = fork_ready(child_set, kv);
	CHECK(!strcmp(file_value(eager), "N") && !strcmp(journal_saved(), "Y"),
	      "the test set N (reads \"%s\") and journalled Y (journal holds \"%s\")",
	      file_value(eager), journal_saved());
	kill(pid, SIGKILL);
	status = wait_status(pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %#x", status);
	CHECK(!strcmp(file_value(eager), "N") && journal_entries() == 1,
	      "after SIGKILL: reads \"%s\" with %d journal entries, expected N, 1 (nobody ran)",
	      file_value(eager), journal_entries());

	/* The next run: its first knob call restores Y, then saves Y, sets N. */
	pid = fork_ready(next_run_set, NULL);
	CHECK(!strcmp(file_value(eager), "N"), "the next run's change reads \"%s\"",
	      file_value(eager));
	kill(pid, SIGTERM);
	status = wait_status(pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM,
	      "the next run exited with status %#x (97: it saved N as the original)", status);
	CHECK(!strcmp(file_value(eager), "Y") && !journal_entries(),
	      "after the next run: reads \"%s\" with %d journal entries, expected Y and none",
	      file_value(eager), journal_entries());

	/* A test that only reads: kvm_param_bool() sees the replayed value. */
	pid = fork_ready(child_set, kv);
	kill(pid, SIGKILL);
	wait_status(pid);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid)
		_exit(kvm_param_bool("kvm", "eager_page_split") == 1 ? 0 : 1);
	status = wait_status(pid);
	CHECK(WIFEXITED(status) && !WEXITSTATUS(status) && !journal_entries(),
	      "a reader after SIGKILL saw eager_page_split=N (status %#x, %d entries)", status,
	      journal_entries());
}

/* Several dead owners of one knob: replayed newest first, back to the first original. */
static void test_knobs_replay_order(void)
{
	const char *k = fake_file("/knobs/order", "orig");
	const char *kv1[2] = { k, "one" }, *kv2[2] = { k, "two" };
	pid_t a, b;

	a = fork_ready(child_set, kv1);
	b = fork_ready(child_set, kv2);
	kill(a, SIGKILL);
	kill(b, SIGKILL);
	wait_status(a);
	wait_status(b);
	CHECK(!strcmp(file_value(k), "two") && journal_entries() == 2,
	      "before replay: \"%s\", %d entries", file_value(k), journal_entries());
	CHECK(knobs_replay_dead() == 2, "knobs_replay_dead did not replay 2 entries");
	CHECK(!strcmp(file_value(k), "orig") && !journal_entries(),
	      "after replay: \"%s\" (expected \"orig\"), %d entries", file_value(k),
	      journal_entries());
}

/* No journal, no change: a change that cannot be recorded is not made. */
static void test_knobs_no_journal(void)
{
	const char *k = fake_file("/knobs/nojournal", "Y");
	char blocker[300], old[300];
	pid_t pid;
	int status;

	snprintf(old, sizeof(old), "%s", getenv(KNOBS_JOURNAL_ENV));
	snprintf(blocker, sizeof(blocker), "%s/scratch/not-a-dir", unit_dir);
	fake_file("/../scratch/not-a-dir", "");
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid) {
		setenv(KNOBS_JOURNAL_ENV, blocker, 1);
		int ret = __knob_set(k, "N");

		_exit(ret == -ENOTDIR || ret == -EEXIST ? 0 : 1);
	}
	status = wait_status(pid);
	CHECK(WIFEXITED(status) && !WEXITSTATUS(status) && !strcmp(file_value(k), "Y"),
	      "with the journal path a file: status %#x, knob reads \"%s\"", status,
	      file_value(k));
	unlink(blocker);
}

static void quiet_child(void *arg)
{
	if (__knobs_quiet_page_counts())
		_exit(96);
}

/* Contract 6: the noise sources off while the test runs, back after it. */
static void test_knobs_quiet(void)
{
	static const struct {
		const char *path, *before, *quiet;
	} files[] = {
		{ "/proc/sys/kernel/numa_balancing", "1", "0" },
		{ "/sys/kernel/mm/ksm/run", "1", "0" },
		{ "/sys/kernel/mm/transparent_hugepage/khugepaged/pages_to_scan", "4096", "1" },
		{ "/sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs", "10000",
		  "4294967295" },
		{ "/sys/module/kvm/parameters/nx_huge_pages_recovery_ratio", "60", "0" },
	};
	unsigned int i, pass;
	pid_t pid;
	int status;

	/* Second pass: KSM missing (CONFIG_KSM=n) is skipped, not an error. */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < ARRAY_SIZE(files); i++)
			fake_file(files[i].path, files[i].before);
		if (pass)
			fake_remove(files[1].path);
		pid = fork_ready(quiet_child, NULL);
		for (i = 0; i < ARRAY_SIZE(files); i++) {
			if (pass && i == 1) {
				CHECK(access(fake_path(files[i].path), F_OK),
				      "knobs_quiet_page_counts created the missing %s", files[i].path);
				continue;
			}
			CHECK(!strcmp(file_value(fake_path(files[i].path)), files[i].quiet),
			      "pass %u: %s reads \"%s\" while quiet, expected \"%s\"", pass,
			      files[i].path, file_value(fake_path(files[i].path)), files[i].quiet);
		}
		kill(pid, SIGTERM);
		status = wait_status(pid);
		CHECK(WIFSIGNALED(status), "pass %u: the quiet child exited with %#x", pass, status);
		for (i = 0; i < ARRAY_SIZE(files); i++) {
			if (pass && i == 1)
				continue;
			CHECK(!strcmp(file_value(fake_path(files[i].path)), files[i].before),
			      "pass %u: %s reads \"%s\" afterwards, expected \"%s\"", pass,
			      files[i].path, file_value(fake_path(files[i].path)), files[i].before);
		}
		CHECK(!journal_entries(), "pass %u: %d journal entries left", pass,
		      journal_entries());
	}
}

static const struct unit_case cases[] = {
	{ "knobs restored when a test dies of SIGTERM/SIGINT/SIGHUP/SIGQUIT", test_knobs_signal },
	{ "knobs restored on assert, skip, exit, SIGSEGV and abort", test_knobs_exit_paths },
	{ "__knob_set and knobs_restore round trip",		test_knobs_restore },
	{ "knobs of different lengths",				test_knobs_lengths },
	{ "knobs of forked children",				test_knobs_children },
	{ "SIGKILL of a test: the next run restores and saves the true original",
	  test_knobs_sigkill },
	{ "journal of several dead owners replayed newest first", test_knobs_replay_order },
	{ "no change without a journal entry",			test_knobs_no_journal },
	{ "knobs_quiet_page_counts quiets and restores",	test_knobs_quiet },
};
UNIT_SUITE(unit_knobs, cases);
