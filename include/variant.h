/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One KTAP result line per test variant, each variant run in a child
 * process so that a failed assertion or a crash in one does not hide the
 * results of the others.
 *
 * The result line (contract 1): the description is the variant's stable
 * name; why a variant failed follows " # " as KTAP diagnostic data:
 *	not ok 5 NAME # check ID	a failed assertion in check ID
 *	not ok 6 NAME # crash signal N	the child died of signal N
 *	not ok 7 NAME # exit N		any other exit code
 * A skip reads "ok N # SKIP NAME: reason".
 *
 * The parent forwards SIGTERM, SIGINT and SIGHUP to the child and waits for
 * it; the child gets SIGTERM when the parent dies (PR_SET_PDEATHSIG).  After
 * reaping the child, the parent replays the journal entries the child left
 * (a SIGKILLed child restores nothing itself), then dies of the forwarded
 * signal if there was one.
 */
#ifndef SELFTEST_VARIANT_H
#define SELFTEST_VARIANT_H

#include <stdbool.h>
#include <stddef.h>

#include "test_util.h"

/*
 * Run fn(arg) in a child; returns KSFT_PASS when it returned, KSFT_SKIP
 * after TEST_REQUIRE/test_skip() (the reason in why), KSFT_FAIL after a
 * failed assertion, a crash or any other exit (the cause in why, as it
 * goes after " # ": "check ID", "crash signal N", "exit N").
 */
int __variant_run(void (*fn)(void *arg), void *arg, char *why, size_t len);

/*
 * Inside a variant child: send a record to the parent, kind 'C' (the check
 * id), 'S' (the skip reason) or 'F' (an assertion failed).  Does nothing
 * outside a variant.  For assert.c and test_check().
 */
void variant_report(char kind, const char *text);
/* Is this process a variant child? */
bool variant_in_child(void);

/*
 * Run a variant and print its "ok/not ok N desc" line.  Inline on purpose:
 * kselftest.h keeps its counters per file, and the plan is checked in the
 * test's own file.  Returns false if the variant failed.
 */
static inline bool variant_run(const char *desc, void (*fn)(void *arg), void *arg)
{
	char why[1100];

	switch (__variant_run(fn, arg, why, sizeof(why))) {
	case KSFT_PASS:
		ksft_test_result_pass("%s\n", desc);
		return true;
	case KSFT_SKIP:
		ksft_test_result_skip("%s: %s\n", desc, why);
		return true;
	default:
		ksft_test_result_fail("%s # %s\n", desc, why);
		return false;
	}
}

#endif /* SELFTEST_VARIANT_H */
