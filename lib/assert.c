// SPDX-License-Identifier: GPL-2.0
/* Host-side assertion failures and skips, with kselftest exit codes. */
#include <unistd.h>

#include "test_util.h"
#include "variant.h"

void test_assert_fail(const char *file, unsigned int line, const char *expr,
		      int err, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "==== Test Assertion Failure ====\n");
	fprintf(stderr, "  %s:%u: %s\n", file, line, expr);
	/* errno may predate the assertion: say so rather than imply a cause. */
	if (err)
		fprintf(stderr, "  last errno: %d (%s)\n", err, strerror(err));
	fprintf(stderr, "  ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	fflush(stderr);
	/* Also as a KTAP diagnostic, so it is visible in the results file. */
	ksft_print_msg("FAIL at %s:%u\n", file, line);
	exit(KSFT_FAIL);
}

void test_skip(const char *fmt, ...)
{
	char reason[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (variant_skip_fd >= 0) {
		/* Inside a variant: the parent prints the result line. */
		ksft_print_msg("SKIP: %s\n", reason);
		if (write(variant_skip_fd, reason, strlen(reason)) < 0)
			exit(KSFT_SKIP);
		exit(KSFT_SKIP);
	}
	ksft_exit_skip("%s\n", reason);
	exit(KSFT_SKIP);	/* not reached; older kselftest.h lacks noreturn */
}
