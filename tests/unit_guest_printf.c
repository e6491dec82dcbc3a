// SPDX-License-Identifier: GPL-2.0
/* Unit tests: the guest's own vsnprintf (guest code cannot use libc's). */
#include <limits.h>

#include "ucall.h"
#include "unit.h"

static void __printf(4, 5) check_fmt(int line, const char *expected, int len,
				     const char *fmt, ...)
{
	size_t want = strlen(expected), written;
	char buf[130];
	va_list ap;
	int ret;

	/* len < sizeof(buf): a byte after the buffer shows overruns. */
	memset(buf, '#', sizeof(buf));
	va_start(ap, fmt);
	ret = guest_vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	unit_check(ret == (int)want, __FILE__, line,
		   "guest_snprintf(\"%s\", len %d): returned %d, expected %zu",
		   fmt, len, ret, want);
	unit_check(buf[len] == '#', __FILE__, line,
		   "guest_snprintf(\"%s\", len %d) wrote past the buffer", fmt, len);
	if (len <= 0)
		return;
	written = want < (size_t)len - 1 ? want : (size_t)len - 1;
	unit_check(!memcmp(buf, expected, written) && buf[written] == '\0', __FILE__, line,
		   "guest_snprintf(\"%s\", len %d): expected \"%.*s\", got \"%.*s\"",
		   fmt, len, (int)written, expected, len, buf);
}

/* Compare with the expected text and, when it is standard, with libc's. */
#define FMT(expected, fmt, ...)						\
do {									\
	char __libc[128];						\
	check_fmt(__LINE__, expected, 128, fmt, ##__VA_ARGS__);		\
	snprintf(__libc, sizeof(__libc), fmt, ##__VA_ARGS__);		\
	CHECK(!strcmp(__libc, expected), "test bug: libc prints \"%s\" for \"%s\"", \
	      __libc, fmt);						\
} while (0)
#define FMT_NONSTD(expected, fmt, ...)	check_fmt(__LINE__, expected, 128, fmt, ##__VA_ARGS__)
#define FMT_LEN(expected, len, fmt, ...) check_fmt(__LINE__, expected, len, fmt, ##__VA_ARGS__)

static void test_guest_snprintf(void)
{
	/* Hidden from GCC, which warns about a literal NULL for %s. */
	const char *volatile null_str = NULL;
	int ret;

	FMT("plain text", "plain text");
	FMT("0 42 -42 2147483647 -2147483648", "%d %d %d %d %d", 0, 42, -42, INT_MAX, INT_MIN);
	FMT("7 -7", "%i %i", 7, -7);
	FMT("0 4294967295 3000000000", "%u %u %u", 0U, UINT_MAX, 3000000000U);
	FMT("ff FF deadbeef ffffffff", "%x %X %x %x", 255U, 255U, 0xdeadbeefU, (unsigned int)-1);
	FMT("ffffffffffffffff 1ffffffffff", "%lx %lx", ULONG_MAX, 0x1ffffffffffUL);
	FMT("18446744073709551615 0", "%lu %lu", ULONG_MAX, 0UL);
	FMT("-9223372036854775808 9223372036854775807 -1", "%ld %ld %ld", LONG_MIN, LONG_MAX, -1L);
	FMT("-5000000000", "%ld", -5000000000L);
	FMT("123 -77", "%zu %lld", (size_t)123, -77LL);
	FMT("[   42] [00042] [  -42] [-0042] [4242]", "[%5d] [%05d] [%5d] [%05d] [%2d]",
	    42, 42, -42, -42, 4242);
	FMT("[0000beef] [    BEEF] [0000000000000001]", "[%08x] [%8X] [%016lx]",
	    0xbeefU, 0xbeefU, 1UL);
	FMT("[      -1234567890123]", "[%20ld]", -1234567890123L);
	FMT("a b c", "%s %s %s", "a", "b", "c");
	FMT("(null)", "%s", null_str);
	FMT("xyz!", "%c%c%c%c", 'x', 'y', 'z', '!');
	FMT("100%", "%d%%", 100);
	FMT("%", "%%");
	FMT_NONSTD("0x1234abcd", "%p", (void *)0x1234abcdUL);
	FMT_NONSTD("0xffff800000000000", "%p", (void *)0xffff800000000000UL);
	FMT_NONSTD("0x0", "%p", NULL);

	/* Truncation: NUL-terminated in the buffer, return value = full length. */
	FMT_LEN("hello world", 8, "hello %s", "world");
	FMT_LEN("-123456", 4, "%d", -123456);
	FMT_LEN("00000abc", 4, "%08x", 0xabcU);
	FMT_LEN("abc", 1, "%s", "abc");
	FMT_LEN("exact", 6, "exact");
	FMT_LEN("exact", 5, "exact");
	FMT_LEN("nothing", 0, "nothing");
	ret = guest_snprintf(NULL, 0, "%d-%s", 12345, "xy");
	CHECK(ret == 8, "guest_snprintf(NULL, 0) returned %d, expected 8", ret);

	/* A string longer than UCALL_BUF_LEN, as a guest assert may produce. */
	{
		char big[UCALL_BUF_LEN + 100], out[UCALL_BUF_LEN];

		memset(big, 'q', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		ret = guest_snprintf(out, sizeof(out), "%s", big);
		CHECK(ret == (int)sizeof(big) - 1 && strlen(out) == sizeof(out) - 1,
		      "a %zu-byte string into %zu bytes: returned %d, wrote %zu",
		      sizeof(big) - 1, sizeof(out), ret, strlen(out));
	}
}

static const struct unit_case cases[] = {
	{ "guest_snprintf",	test_guest_snprintf },
};
UNIT_SUITE(unit_guest_printf, cases);
