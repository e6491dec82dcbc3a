// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests: variants in child processes; their result lines (contract 1),
 * signals to the parent, crashes and kills of the child, and the knobs of
 * each on every one of those paths.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "knobs.h"
#include "unit.h"
#include "variant.h"

static const char *knob;	/* the variant child's knob, "Y" before it runs */
static int report_pid_fd = -1;	/* the child writes its PID here, then waits */

static void quiet(void)
{
	int null = open("/dev/null", O_WRONLY);

	dup2(null, STDOUT_FILENO);
	dup2(null, STDERR_FILENO);
	close(null);
}

static void set_knob(const char *path, const char *val)
{
	int ret = __knob_set(path, val);

	TEST_ASSERT(!ret, "writing '%s' to %s: %s", val, path, strerror(-ret));
}

static void v_pass(void *arg) { quiet(); }
static void v_skip(void *arg) { quiet(); TEST_REQUIRE(false, "no such thing here"); }
static void v_assert(void *arg) { quiet(); TEST_ASSERT(false, "deliberate"); }
static void v_exit3(void *arg) { quiet(); exit(3); }
static void v_exit1(void *arg) { quiet(); exit(KSFT_FAIL); }
static void v_bad_check(void *arg) { quiet(); test_check("Bad_Id"); }

static void v_check(void *arg)
{
	quiet();
	test_check("first-enable");
	test_check("second-enable");
	TEST_ASSERT(false, "deliberate failure in second-enable");
}

static void v_knob_segv(void *arg)
{
	int *volatile null = NULL;

	quiet();
	set_knob(knob, "N");
	test_check("before-segv");
	*null = 1;
}

static void v_knob_abort(void *arg)
{
	quiet();
	set_knob(knob, "N");
	abort();
}

static void v_knob_sigkill(void *arg)
{
	quiet();
	set_knob(knob, "N");
	raise(SIGKILL);
}

static void v_knob_wait(void *arg)
{
	pid_t self = getpid();

	quiet();
	set_knob(knob, "N");
	if (write(report_pid_fd, &self, sizeof(self)) != sizeof(self))
		_exit(95);
	for (;;)
		pause();
}

static void test_variant_reasons(void)
{
	static const struct {
		const char *what;
		void (*fn)(void *arg);
		int ret;
		const char *why;
	} cases[] = {
		{ "returns",		v_pass,		KSFT_PASS, NULL },
		{ "skips",		v_skip,		KSFT_SKIP, "no such thing here" },
		{ "asserts",		v_assert,	KSFT_FAIL, "check setup" },
		{ "asserts in a check",	v_check,	KSFT_FAIL, "check second-enable" },
		{ "exit(3)",		v_exit3,	KSFT_FAIL, "exit 3" },
		{ "exit(1), no assertion", v_exit1,	KSFT_FAIL, "exit 1" },
		{ "an invalid check id", v_bad_check,	KSFT_FAIL, "check setup" },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char why[256] = "";
		int ret = __variant_run(cases[i].fn, NULL, why, sizeof(why));

		CHECK(ret == cases[i].ret && (!cases[i].why || !strcmp(why, cases[i].why)),
		      "a variant that %s: %d \"%s\", expected %d \"%s\"", cases[i].what, ret, why,
		      cases[i].ret, cases[i].why ? cases[i].why : "");
	}
}

/* SEGV, ABRT and SIGKILL in the child: reported as crashes, knobs restored. */
static void test_variant_crashes(void)
{
	static const struct {
		void (*fn)(void *arg);
		const char *why;
	} cases[] = {
		{ v_knob_segv,		"crash signal 11" },
		{ v_knob_abort,		"crash signal 6" },
		/* Restored by the parent, from the journal, after waitpid(). */
		{ v_knob_sigkill,	"crash signal 9" },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char why[256] = "";
		int ret;

		knob = fake_file("/knobs/variant", "Y");
		ret = __variant_run(cases[i].fn, NULL, why, sizeof(why));
		CHECK(ret == KSFT_FAIL && !strcmp(why, cases[i].why),
		      "%d \"%s\", expected KSFT_FAIL \"%s\"", ret, why, cases[i].why);
		CHECK(!strcmp(file_value(knob), "Y") && !journal_entries(),
		      "%s: the child's knob reads \"%s\" with %d journal entries afterwards",
		      cases[i].why, file_value(knob), journal_entries());
	}
}

/* The line variant_run() prints, from a process whose stdout is a pipe. */
static void result_line(const char *name, void (*fn)(void *arg), char *line, size_t len)
{
	int pipefd[2];
	ssize_t n;
	pid_t pid;
	char buf[512];

	TEST_ASSERT(!pipe(pipefd), "pipe");
	fflush(stdout);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid) {
		close(pipefd[0]);
		dup2(pipefd[1], STDOUT_FILENO);
		variant_run(name, fn, NULL);
		fflush(stdout);
		_exit(0);
	}
	close(pipefd[1]);
	n = read(pipefd[0], buf, sizeof(buf) - 1);
	close(pipefd[0]);
	wait_status(pid);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	/* The test number depends on how many results this process printed. */
	if (!strncmp(buf, "not ok ", 7))
		snprintf(line, len, "not ok N%s", buf + 7 + strspn(buf + 7, "0123456789"));
	else if (!strncmp(buf, "ok ", 3))
		snprintf(line, len, "ok N%s", buf + 3 + strspn(buf + 3, "0123456789"));
	else
		snprintf(line, len, "%s", buf);
}

/* Contract 1: a stable name, the reason after " # ". */
static void test_variant_lines(void)
{
	static const struct {
		void (*fn)(void *arg);
		const char *line;
	} cases[] = {
		{ v_check,	"not ok N svm thp 2M leaf 1 vCPU # check second-enable" },
		{ v_knob_segv,	"not ok N svm thp 2M leaf 1 vCPU # crash signal 11" },
		{ v_exit3,	"not ok N svm thp 2M leaf 1 vCPU # exit 3" },
		{ v_pass,	"ok N svm thp 2M leaf 1 vCPU" },
		{ v_skip,	"ok N # SKIP svm thp 2M leaf 1 vCPU: no such thing here" },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char line[512];

		knob = fake_file("/knobs/variant", "Y");
		result_line("svm thp 2M leaf 1 vCPU", cases[i].fn, line, sizeof(line));
		CHECK(!strcmp(line, cases[i].line), "result line \"%s\", expected \"%s\"", line,
		      cases[i].line);
	}
}

/* A variant parent: its own knob, then one variant that waits to be killed. */
static void variant_parent(const char *own_knob)
{
	char why[256];

	quiet();
	set_knob(own_knob, "N");
	__variant_run(v_knob_wait, NULL, why, sizeof(why));
	_exit(0);
}

static pid_t start_parent(const char *own_knob, pid_t *child)
{
	int pipefd[2];
	pid_t pid;

	TEST_ASSERT(!pipe(pipefd), "pipe");
	fflush(stdout);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid) {
		close(pipefd[0]);
		report_pid_fd = pipefd[1];
		variant_parent(own_knob);
	}
	close(pipefd[1]);
	if (read(pipefd[0], child, sizeof(*child)) != sizeof(*child))
		*child = -1;
	close(pipefd[0]);
	return pid;
}

/*
 * Issue 9: a signal to the main PID only orphaned the variant child, which
 * kept its knobs.  Now the parent forwards it, waits, restores, and dies
 * of it.
 */
static void test_variant_signal_parent(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(sigs); i++) {
		const char *own = fake_file("/knobs/parent_own", "Y");
		pid_t child, parent;
		int status;

		knob = fake_file("/knobs/variant", "Y");
		parent = start_parent(own, &child);
		CHECK(child > 0 && !strcmp(file_value(knob), "N") &&
		      !strcmp(file_value(own), "N") && journal_entries() == 2,
		      "signal %d: before it: child %d, knobs \"%s\" \"%s\", %d entries", sigs[i],
		      (int)child, file_value(knob), file_value(own), journal_entries());
		kill(parent, sigs[i]);
		status = wait_status(parent);
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == sigs[i],
		      "signal %d: the parent's status is %#x", sigs[i], status);
		CHECK(child > 0 && kill(child, 0) && errno == ESRCH,
		      "signal %d: the variant child %d outlived its parent", sigs[i], (int)child);
		CHECK(!strcmp(file_value(knob), "Y") && !strcmp(file_value(own), "Y") &&
		      !journal_entries(),
		      "signal %d: afterwards the child's knob reads \"%s\", the parent's \"%s\", "
		      "%d journal entries", sigs[i], file_value(knob), file_value(own),
		      journal_entries());
	}
}

/*
 * SIGKILL of the parent: the child dies with it (PR_SET_PDEATHSIG) and
 * restores its own knob; the parent's is replayed by the next run.
 */
static void test_variant_kill_parent(void)
{
	const char *own = fake_file("/knobs/parent_own", "Y");
	pid_t child, parent;
	int status;

	knob = fake_file("/knobs/variant", "Y");
	parent = start_parent(own, &child);
	kill(parent, SIGKILL);
	wait_status(parent);
	/* This process is the subreaper: the orphan is its child now. */
	status = child > 0 ? wait_status(child) : 0;
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM,
	      "the orphaned variant child's status is %#x, expected death by SIGTERM", status);
	CHECK(!strcmp(file_value(knob), "Y"), "the orphan's knob reads \"%s\"", file_value(knob));
	CHECK(!strcmp(file_value(own), "N") && journal_entries() == 1,
	      "the killed parent's knob reads \"%s\" with %d entries, expected N and 1",
	      file_value(own), journal_entries());
	CHECK(knobs_replay_dead() == 1 && !strcmp(file_value(own), "Y") && !journal_entries(),
	      "the next run's replay left the parent's knob at \"%s\", %d entries",
	      file_value(own), journal_entries());
}

static void test_check_ids(void)
{
	CHECK(!strcmp(test_check_id(), "setup"), "the first check is \"%s\"", test_check_id());
	test_check("huge-return");
	CHECK(!strcmp(test_check_id(), "huge-return"), "test_check set \"%s\"", test_check_id());
	test_check("setup");
}

static const struct unit_case cases[] = {
	{ "variant results: pass, skip, check ID, exit N",	test_variant_reasons },
	{ "variant SEGV/ABRT/SIGKILL: crash signal N, knobs restored", test_variant_crashes },
	{ "variant result lines: stable name, reason after ' # '", test_variant_lines },
	{ "signal to the variant parent only: child ended, knobs restored",
	  test_variant_signal_parent },
	{ "SIGKILL of the variant parent: child dies with it, knobs restored",
	  test_variant_kill_parent },
	{ "test_check sets the current check id",		test_check_ids },
};
UNIT_SUITE(unit_variant, cases);
