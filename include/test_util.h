/* SPDX-License-Identifier: GPL-2.0 */
/* Host-side assertions, verdicts, size parsing and small helpers. */
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
 * Parse a size such as "4096", "512K", "512M", "2G" or "1T".  Returns 0 and
 * stores the size, or -EINVAL for anything else (empty, junk, overflow).
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

/* Format a byte count the way a human reads it ("512M", "1G", "6K"). */
const char *size_str(uint64_t size, char *buf, size_t len);

/* Monotonic time in nanoseconds, for progress lines. */
uint64_t now_ns(void);

/* Verbose progress (printed only with -v style flags set by the test). */
extern bool test_verbose;
#define pr_info(fmt, ...)	ksft_print_msg(fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...)						\
do {									\
	if (test_verbose)						\
		ksft_print_msg(fmt, ##__VA_ARGS__);			\
} while (0)

/* read()/write() a whole file; return bytes or -errno. */
ssize_t file_read_str(const char *path, char *buf, size_t len);
int file_write_str(const char *path, const char *val);

#endif /* SELFTEST_TEST_UTIL_H */
