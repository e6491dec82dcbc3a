// SPDX-License-Identifier: GPL-2.0
/* Host-side assertion failures and skips, with kselftest exit codes. */
#include "test_util.h"
#include "variant.h"

void test_assert_fail(const char *file, unsigned int line, const char *expr,
		      int err, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "==== Test Assertion Failure (check %s) ====\n", test_check_id());
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
	ksft_print_msg("FAIL at %s:%u (check %s)\n", file, line, test_check_id());
	/* Inside a variant: the parent reports "check ID". */
	variant_report('F', "");
	exit(KSFT_FAIL);
}

void test_skip(const char *fmt, ...)
{
	char reason[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (variant_in_child()) {
		/* Inside a variant: the parent prints the result line. */
		ksft_print_msg("SKIP: %s\n", reason);
		variant_report('S', reason);
		exit(KSFT_SKIP);
	}
	ksft_exit_skip("%s\n", reason);
	exit(KSFT_SKIP);	/* not reached; older kselftest.h lacks noreturn */
}
