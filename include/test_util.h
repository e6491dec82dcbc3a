/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Host-side assertions, verdicts, size parsing and small helpers.
 *
 * One error convention for the whole library:
 *   __x()	the raw call: returns 0 (or a count) on success and -errno on
 *		failure, and changes nothing it does not say it changes.
 *   x()	the same call asserting success (TEST_ASSERT with what was
 *		asked and the error), for callers that cannot go on without it.
 *   *_require()	the only library calls that skip (TEST_REQUIRE).
 *   *_unavailable(), *_create(..., why, len)	return a reason for the
 *		caller to skip with, NULL when the requirement is met.
 *   parse_*()	parse user input: 0, or -EINVAL for a usage error.
 * A query (a name that reads like a question) never changes the system; a
 * call that changes it says so (set, reserve, create, quiet) and goes
 * through the knob journal (knobs.h).
 */
#ifndef SELFTEST_TEST_UTIL_H
#define SELFTEST_TEST_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest.h"

#define SZ_4K	(1UL << 12)
#define SZ_2M	(1UL << 21)
#define SZ_1G	(1UL << 30)

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#endif
#define ALIGN_UP(x, a)		(((x) + (a) - 1) & ~((__typeof__(x))(a) - 1))
#define ALIGN_DOWN(x, a)	((x) & ~((__typeof__(x))(a) - 1))
#define IS_ALIGNED(x, a)	(((x) & ((__typeof__(x))(a) - 1)) == 0)
#define DIV_ROUND_UP(n, d)	(((n) + (d) - 1) / (d))

#ifndef __printf
#define __printf(a, b)	__attribute__((format(printf, a, b)))
#endif
#define __noret		__attribute__((noreturn))

/*
 * Report a failed assertion with file:line, the expression, errno and a
 * formatted explanation, then exit with KSFT_FAIL.  Exit handlers run, so
 * every system knob changed through knobs.h is restored.
 */
void __noret __printf(5, 6) test_assert_fail(const char *file, unsigned int line,
					     const char *expr, int err,
					     const char *fmt, ...);

#define TEST_ASSERT(cond, fmt, ...)					\
do {									\
	if (!(cond))							\
		test_assert_fail(__FILE__, __LINE__, #cond, errno,	\
				 fmt, ##__VA_ARGS__);			\
} while (0)

#define TEST_FAIL(fmt, ...)						\
	test_assert_fail(__FILE__, __LINE__, "failure", errno, fmt, ##__VA_ARGS__)

/* Assert that a value equals the expected one, printing both. */
#define TEST_ASSERT_EQ(found, expected, what)				\
do {									\
	uint64_t __f = (uint64_t)(found), __e = (uint64_t)(expected);	\
	TEST_ASSERT(__f == __e, "%s: expected %lu (0x%lx), found %lu (0x%lx)", \
		    what, __e, __e, __f, __f);				\
} while (0)

/*
 * The only way a test skips: a missing requirement of the machine or kernel.
 * The reason must say what was missing and how to get it.
 */
#define TEST_REQUIRE(cond, fmt, ...)					\
do {									\
	if (!(cond))							\
		test_skip(fmt, ##__VA_ARGS__);				\
} while (0)

void __noret __printf(1, 2) test_skip(const char *fmt, ...);

/*
 * The largest size parse_size() accepts: 1 TiB.  No test needs more, and
 * with sizes this small ALIGN_UP() to any page size (up to 1G) and sums of
 * a few sizes cannot wrap in 64 bits.
 */
#define PARSE_SIZE_MAX	(1ULL << 40)

/*
 * Parse a size such as "4096", "512K", "512M", "2G" or "1T".  Returns 0 and
 * stores the size, or -EINVAL for anything else (empty, junk, above
 * PARSE_SIZE_MAX).
 */
int parse_size(const char *str, uint64_t *size);

/*
 * The options every test shares: -V turns on verbose output, -h prints the
 * usage and exits 0, and any other option the test's own switch did not
 * take is a usage error (exit 1).  usage() must exit.
 */
void test_opt_common(int opt, void (*usage)(const char *prog, int code),
		     const char *prog);

/* Like parse_size() for an unsigned count without suffix. */
int parse_uint(const char *str, uint64_t max, uint64_t *val);

/* Monotonic time in nanoseconds, for progress lines. */
uint64_t now_ns(void);

/*
 * Call fn(i, arg) for i = 0 .. n-1 at the same time (vCPUs that must run
 * together): n-1 host threads of their own, all started before the last
 * call runs in the calling thread; returns when every call has returned.
 */
void run_threads(int n, void (*fn)(int i, void *arg), void *arg);

/* Verbose progress (printed only with -v style flags set by the test). */
extern bool test_verbose;
#define pr_info(fmt, ...)	ksft_print_msg(fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...)						\
do {									\
	if (test_verbose)						\
		ksft_print_msg(fmt, ##__VA_ARGS__);			\
} while (0)

/*
 * read() a whole (small) file into buf, without its trailing newline:
 * returns the length or -errno.  write() val to a file with O_TRUNC: 0 or
 * -errno.  For knobs use __knob_set(), which journals the change.
 */
ssize_t __file_read_str(const char *path, char *buf, size_t len);
int __file_write_str(const char *path, const char *val);

/*
 * Name the check (phase) that runs from now on in this variant, for the
 * result line of a failure: "not ok N VARIANT # check ID".  ID is
 * [a-z0-9-]+ and stable (known issues name it); before the first call the
 * check is "setup".
 */
void test_check(const char *id);
/* The current check id. */
const char *test_check_id(void);

#endif /* SELFTEST_TEST_UTIL_H */
