/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One KTAP result line per test variant, each variant run in a child
 * process so that a failed assertion or a crash in one does not hide the
 * results of the others.
 */
#ifndef SELFTEST_VARIANT_H
#define SELFTEST_VARIANT_H

#include <stdbool.h>
#include <stddef.h>

#include "test_util.h"

/*
 * Run fn(arg) in a child; returns KSFT_PASS when it returned, KSFT_SKIP
 * after TEST_REQUIRE/test_skip() (the reason in why), KSFT_FAIL after a
 * failed assertion, a crash or any other exit (the cause in why).
 */
int __variant_run(void (*fn)(void *arg), void *arg, char *why, size_t len);

/* Inside a variant: the child's end of the skip-reason pipe, or -1. */
extern int variant_skip_fd;

/*
 * Run a variant and print its "ok/not ok N desc" line.  Inline on purpose:
 * kselftest.h keeps its counters per file, and the plan is checked in the
 * test's own file.  Returns false if the variant failed.
 */
static inline bool variant_run(const char *desc, void (*fn)(void *arg), void *arg)
{
	char why[512];

	switch (__variant_run(fn, arg, why, sizeof(why))) {
	case KSFT_PASS:
		ksft_test_result_pass("%s\n", desc);
		return true;
	case KSFT_SKIP:
		ksft_test_result_skip("%s: %s\n", desc, why);
		return true;
	default:
		ksft_test_result_fail("%s%s\n", desc, why);
		return false;
	}
}

#endif /* SELFTEST_VARIANT_H */
