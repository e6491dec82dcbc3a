// SPDX-License-Identifier: GPL-2.0
/* Variants in child processes; the caller prints one KTAP line for each. */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "knobs.h"
#include "test_util.h"
#include "variant.h"

#define REC_MAX		1100	/* kind, text, NUL: within PIPE_BUF, so atomic */
#define CHECK_ID_MAX	64

static int report_fd = -1;
static char check_id[CHECK_ID_MAX] = "setup";
static volatile pid_t running_child;
static volatile sig_atomic_t forwarded;

bool variant_in_child(void)
{
	return report_fd >= 0;
}

void variant_report(char kind, const char *text)
{
	char rec[REC_MAX];
	size_t len = strnlen(text, REC_MAX - 2);

	if (report_fd < 0)
		return;
	rec[0] = kind;
	memcpy(rec + 1, text, len);
	rec[len + 1] = '\0';
	if (write(report_fd, rec, len + 2) < 0) {
		/* The parent is gone; PR_SET_PDEATHSIG ends this process. */
	}
}

static bool check_id_valid(const char *id)
{
	size_t n = strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789-");

	return n && !id[n] && n < CHECK_ID_MAX;
}

void test_check(const char *id)
{
	TEST_ASSERT(check_id_valid(id), "check id '%s' is not [a-z0-9-]+ of at most %d characters",
		    id, CHECK_ID_MAX - 1);
	strcpy(check_id, id);
	variant_report('C', id);
}

const char *test_check_id(void)
{
	return check_id;
}

static void forward(int sig)
{
	forwarded = sig;
	if (running_child > 0)
		kill(running_child, sig);
}

static void __noret run_child(void (*fn)(void *arg), void *arg, int fd, pid_t parent)
{
	report_fd = fd;
	strcpy(check_id, "setup");
	/* Die with the parent; SIGTERM so that this process restores its knobs. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) || getppid() != parent)
		_exit(KSFT_FAIL);
	/* A report to a parent that just died must not kill this one unrestored. */
	signal(SIGPIPE, SIG_IGN);
	fn(arg);
	fflush(stdout);
	exit(KSFT_PASS);
}

/* Records from the child: 'C' check id, 'S' skip reason, 'F' failed. */
struct child_report {
	char rec[REC_MAX];
	size_t len;
	char check[CHECK_ID_MAX];
	char skip[REC_MAX];
	bool failed;
};

static void report_byte(struct child_report *r, char c)
{
	if (r->len < sizeof(r->rec) - 1)
		r->rec[r->len++] = c;
	if (c)
		return;
	r->rec[r->len] = '\0';
	switch (r->rec[0]) {
	case 'C':
		if (check_id_valid(r->rec + 1))
			strcpy(r->check, r->rec + 1);
		break;
	case 'S':
		snprintf(r->skip, sizeof(r->skip), "%s", r->rec + 1);
		break;
	case 'F':
		r->failed = true;
		break;
	}
	r->len = 0;
}

int __variant_run(void (*fn)(void *arg), void *arg, char *why, size_t len)
{
	static const int fwd_sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct sigaction sa = { .sa_handler = forward, .sa_flags = SA_RESTART }, old[3];
	struct child_report *r = calloc(1, sizeof(*r));
	int pipefd[2], status, sig;
	char buf[512];
	unsigned int i;
	ssize_t n;
	pid_t pid, parent = getpid();

	TEST_ASSERT(r, "out of memory");
	TEST_ASSERT(len > 1, "no room for a reason");
	knobs_init();
	TEST_ASSERT(!pipe(pipefd), "pipe");
	strcpy(r->check, "setup");
	fflush(stdout);
	fflush(stderr);

	/* Forward before fork: a signal in between still reaches the child. */
	forwarded = 0;
	running_child = 0;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < ARRAY_SIZE(fwd_sigs); i++)
		sigaction(fwd_sigs[i], &sa, &old[i]);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid) {
		for (i = 0; i < ARRAY_SIZE(fwd_sigs); i++)
			sigaction(fwd_sigs[i], &old[i], NULL);
		close(pipefd[0]);
		if (forwarded)
			raise(forwarded);
		run_child(fn, arg, pipefd[1], parent);
	}
	running_child = pid;
	if (forwarded)
		kill(pid, forwarded);
	close(pipefd[1]);
	while ((n = read(pipefd[0], buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < (unsigned int)n; i++)
			report_byte(r, buf[i]);
	}
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0)
		TEST_ASSERT(errno == EINTR, "waitpid");
	running_child = 0;
	for (i = 0; i < ARRAY_SIZE(fwd_sigs); i++)
		sigaction(fwd_sigs[i], &old[i], NULL);

	/* What a child killed by SIGKILL (or anything it could not catch) left. */
	knobs_replay_dead();
	sig = forwarded;
	if (sig) {
		/* Restore this process's knobs (the handler) and die of it. */
		free(r);
		raise(sig);
	}

	if (WIFEXITED(status) && WEXITSTATUS(status) == KSFT_PASS) {
		free(r);
		return KSFT_PASS;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == KSFT_SKIP) {
		snprintf(why, len, "%s", r->skip[0] ? r->skip : "skipped");
		free(r);
		return KSFT_SKIP;
	}
	if (WIFSIGNALED(status))
		snprintf(why, len, "crash signal %d", WTERMSIG(status));
	else if (WIFEXITED(status) && WEXITSTATUS(status) == KSFT_FAIL && r->failed)
		snprintf(why, len, "check %s", r->check);
	else
		snprintf(why, len, "exit %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	free(r);
	return KSFT_FAIL;
}
