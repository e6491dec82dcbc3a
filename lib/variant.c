// SPDX-License-Identifier: GPL-2.0
/* Variants in child processes; the caller prints one KTAP line for each. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"
#include "variant.h"

int variant_skip_fd = -1;

int __variant_run(void (*fn)(void *arg), void *arg, char *why, size_t len)
{
	int pipefd[2], status;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	TEST_ASSERT(len > 1, "no room for a reason");
	TEST_ASSERT(!pipe(pipefd), "pipe");
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid) {
		close(pipefd[0]);
		variant_skip_fd = pipefd[1];
		fn(arg);
		fflush(stdout);
		exit(KSFT_PASS);
	}
	close(pipefd[1]);
	while (got < len - 1 && (n = read(pipefd[0], why + got, len - 1 - got)) > 0)
		got += (size_t)n;
	why[got] = '\0';
	close(pipefd[0]);
	TEST_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid");

	if (WIFEXITED(status) && WEXITSTATUS(status) == KSFT_PASS)
		return KSFT_PASS;
	if (WIFEXITED(status) && WEXITSTATUS(status) == KSFT_SKIP) {
		if (!why[0])
			snprintf(why, len, "skipped");
		return KSFT_SKIP;
	}
	if (WIFSIGNALED(status))
		snprintf(why, len, " (killed by signal %d)", WTERMSIG(status));
	else
		why[0] = '\0';
	return KSFT_FAIL;
}
