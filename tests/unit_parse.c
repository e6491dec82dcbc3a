// SPDX-License-Identifier: GPL-2.0
/* Unit tests: parse_size() and parse_uint(), the parsers of user input. */
#include "unit.h"

static void test_parse_size_valid(void)
{
	static const struct {
		const char *str;
		uint64_t size;
	} cases[] = {
		{ "0",		0 },
		{ "4096",	4096 },
		{ "512K",	512ULL << 10 },
		{ "512M",	512ULL << 20 },
		{ "2G",		2ULL << 30 },
		{ "1T",		1ULL << 40 },
		{ "512k",	512ULL << 10 },
		{ "512m",	512ULL << 20 },
		{ "2g",		2ULL << 30 },
		{ "1t",		1ULL << 40 },
		/* PARSE_SIZE_MAX, 1 TiB, in every unit. */
		{ "1099511627776", PARSE_SIZE_MAX },
		{ "1073741824K", PARSE_SIZE_MAX },
		{ "1048576M",	PARSE_SIZE_MAX },
		{ "1024G",	PARSE_SIZE_MAX },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t size = 12345;
		int ret = parse_size(cases[i].str, &size);

		CHECK(!ret && size == cases[i].size,
		      "parse_size(\"%s\"): expected 0 and %lu, got %d and %lu",
		      cases[i].str, cases[i].size, ret, size);
	}
}

static void test_parse_size_invalid(void)
{
	static const char *const cases[] = {
		"", "M", "K", "12Q", "-1", "+1", "1.5G", " 1", "1 ", "1G ",
		"0x10", "1KB", "1MM", "1B", "G1", "1e3",
		/* Above PARSE_SIZE_MAX, by one unit of each suffix. */
		"1099511627777", "1073741825K", "1048577M", "1025G", "2T",
		/* Sizes whose ALIGN_UP or sum would wrap in 64 bits. */
		"17592186044414M", "16777215T", "17179869183G", "18446744073709551615",
		"8T", "99999999999T", "16777216T", "18014398509481984K",
		"18446744073709551616", "99999999999999999999", "123456789012345678901234567890",
	};
	unsigned int i;
	uint64_t size;
	int ret;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		size = 12345;
		ret = parse_size(cases[i], &size);
		CHECK(ret == -EINVAL && size == 12345,
		      "parse_size(\"%s\"): expected -EINVAL and the output untouched, got %d and %lu",
		      cases[i], ret, size);
	}
	size = 12345;
	ret = parse_size(NULL, &size);
	CHECK(ret == -EINVAL && size == 12345, "parse_size(NULL): got %d and %lu",
	      ret, size);
}

static void test_parse_uint(void)
{
	static const struct {
		const char *str;
		uint64_t max;
		int ret;
		uint64_t val;
	} cases[] = {
		{ "0",		0,		0,	0 },
		{ "5",		5,		0,	5 },
		{ "10",		9,		-EINVAL, 0 },
		{ "255",	255,		0,	255 },
		{ "256",	255,		-EINVAL, 0 },
		{ "1000",	UINT32_MAX,	0,	1000 },
		{ "4294967296",	UINT32_MAX,	-EINVAL, 0 },
		{ "18446744073709551615", UINT64_MAX, 0, UINT64_MAX },
		{ "18446744073709551616", UINT64_MAX, -EINVAL, 0 },
		{ "99999999999999999999", UINT64_MAX, -EINVAL, 0 },
		{ "",		UINT64_MAX,	-EINVAL, 0 },
		{ "-1",		UINT64_MAX,	-EINVAL, 0 },
		{ "1K",		UINT64_MAX,	-EINVAL, 0 },
		{ "1 ",		UINT64_MAX,	-EINVAL, 0 },
	};
	/*
	 * A single digit larger than max: the overflow test computes
	 * max - digit, which wraps around when max < 9.
	 */
	static const struct {
		const char *str;
		uint64_t max;
	} over_small_max[] = {
		{ "6", 5 }, { "7", 5 }, { "1", 0 }, { "9", 8 }, { "17", 5 },
	};
	unsigned int i;
	uint64_t val;
	int ret;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		val = 12345;
		ret = parse_uint(cases[i].str, cases[i].max, &val);
		if (cases[i].ret)
			CHECK(ret == cases[i].ret && val == 12345,
			      "parse_uint(\"%s\", max %lu): expected %d with the output untouched, got %d and %lu",
			      cases[i].str, cases[i].max, cases[i].ret, ret, val);
		else
			CHECK(!ret && val == cases[i].val,
			      "parse_uint(\"%s\", max %lu): expected 0 and %lu, got %d and %lu",
			      cases[i].str, cases[i].max, cases[i].val, ret, val);
	}
	for (i = 0; i < ARRAY_SIZE(over_small_max); i++) {
		val = 12345;
		ret = parse_uint(over_small_max[i].str, over_small_max[i].max, &val);
		CHECK(ret == -EINVAL && val == 12345,
		      "parse_uint(\"%s\", max %lu): expected -EINVAL, got %d and %lu",
		      over_small_max[i].str, over_small_max[i].max, ret, val);
	}
	val = 12345;
	ret = parse_uint(NULL, UINT64_MAX, &val);
	CHECK(ret == -EINVAL && val == 12345, "parse_uint(NULL): got %d and %lu", ret, val);
}

/* What a test does with a parsed size cannot wrap. */
static void test_parse_size_align(void)
{
	uint64_t size;

	CHECK(!parse_size("1T", &size) && ALIGN_UP(size, SZ_1G) == size &&
	      ALIGN_UP(size - 1, SZ_1G) == size && ALIGN_UP(size + 1, SZ_1G) > size,
	      "ALIGN_UP of sizes near PARSE_SIZE_MAX to 1G wraps");
	CHECK(parse_size("17592186044414M", &size) == -EINVAL,
	      "-b 17592186044414M (ALIGN_UP to 1G gives 0) is accepted");
}

static void count_call(int i, void *arg)
{
	int *calls = arg;

	__atomic_fetch_add(&calls[i], 1, __ATOMIC_RELAXED);
}

static void test_run_threads(void)
{
	int calls[5] = { 0 }, i;

	run_threads(ARRAY_SIZE(calls), count_call, calls);
	for (i = 0; i < (int)ARRAY_SIZE(calls); i++)
		CHECK(calls[i] == 1, "run_threads: index %d called %d times, expected once", i, calls[i]);
}

static const struct unit_case cases[] = {
	{ "parse_size accepts sizes with and without K/M/G/T, up to 1 TiB", test_parse_size_valid },
	{ "parse_size rejects junk and sizes above 1 TiB",	test_parse_size_invalid },
	{ "parse_size results cannot wrap ALIGN_UP",		test_parse_size_align },
	{ "parse_uint honours max",				test_parse_uint },
	{ "run_threads calls every index exactly once",		test_run_threads },
};
UNIT_SUITE(unit_parse, cases);
