// SPDX-License-Identifier: GPL-2.0
/* Unit tests: backing names, allocation, and the query/reserve split on fake sysfs. */
#include <sys/mman.h>
#include <unistd.h>

#include "backing.h"
#include "knobs.h"
#include "unit.h"

static void test_backing_names(void)
{
	static const uint64_t page_size[NR_BACKING_TYPES] = {
		[BACKING_ANON_4K] = SZ_4K, [BACKING_THP] = SZ_2M,
		[BACKING_HUGETLB_2M] = SZ_2M, [BACKING_HUGETLB_1G] = SZ_1G,
	};
	static const char *const unknown[] = {
		"", "Anon", "THP", "hugetlb", "hugetlb2M", "hugetlb1g ",
		" thp", "anon4k", "invalid", "hugetlb_2m",
	};
	enum backing_type t, u;
	unsigned int i;

	for (t = 0; t < NR_BACKING_TYPES; t++) {
		const char *name = backing_name(t);

		u = NR_BACKING_TYPES;
		CHECK(!backing_parse(name, &u) && u == t,
		      "backing_parse(backing_name(%d) = \"%s\") gave type %d", t, name, u);
		CHECK(backing_page_size(t) == page_size[t],
		      "backing_page_size(%s): expected %lu, got %lu", name,
		      page_size[t], backing_page_size(t));
		CHECK(strstr(backing_names(), name),
		      "backing_names() \"%s\" does not list \"%s\"", backing_names(), name);
		for (u = 0; u < t; u++)
			CHECK(strcmp(backing_name(u), name),
			      "backings %d and %d are both named \"%s\"", u, t, name);
	}
	for (i = 0; i < ARRAY_SIZE(unknown); i++) {
		u = BACKING_HUGETLB_1G;
		CHECK(backing_parse(unknown[i], &u) == -EINVAL && u == BACKING_HUGETLB_1G,
		      "backing_parse(\"%s\") accepted an unknown name (type %d)",
		      unknown[i], u);
	}
	u = BACKING_HUGETLB_1G;
	CHECK(backing_parse(NULL, &u) == -EINVAL && u == BACKING_HUGETLB_1G,
	      "backing_parse(NULL) accepted");
	CHECK(!strcmp(backing_name(NR_BACKING_TYPES), "invalid"),
	      "backing_name(NR_BACKING_TYPES) is \"%s\"", backing_name(NR_BACKING_TYPES));
	CHECK(backing_page_size(NR_BACKING_TYPES) == 0,
	      "backing_page_size(NR_BACKING_TYPES) is %lu",
	      backing_page_size(NR_BACKING_TYPES));
}

static void test_backing_alloc(void)
{
	static const enum backing_type types[] = { BACKING_ANON_4K, BACKING_THP };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(types); i++) {
		uint64_t page = backing_page_size(types[i]);
		void *start = NULL, *p;
		size_t len = 0;

		p = backing_alloc(types[i], 2 * page, &start, &len);
		CHECK(p, "backing_alloc(%s, %lu): %s", backing_name(types[i]),
		      2 * page, strerror(errno));
		if (!p)
			continue;
		CHECK(IS_ALIGNED((uintptr_t)p, page),
		      "backing_alloc(%s) returned %p, not aligned to %lu",
		      backing_name(types[i]), p, page);
		CHECK((char *)start <= (char *)p &&
		      (char *)p + 2 * page <= (char *)start + len,
		      "backing_alloc(%s): [%p, +%lu) is outside the mapping [%p, +%zu)",
		      backing_name(types[i]), p, 2 * page, start, len);
		memset(p, 0x5a, 2 * page);
		munmap(start, len);

		errno = 0;
		p = backing_alloc(types[i], page + SZ_4K / 2, &start, &len);
		CHECK(!p && errno == EINVAL,
		      "backing_alloc(%s) of an unaligned size: got %p, errno %d",
		      backing_name(types[i]), p, errno);
	}
	errno = 0;
	CHECK(!backing_alloc(NR_BACKING_TYPES, SZ_2M, &(void *){ NULL }, &(size_t){ 0 }) &&
	      errno == EINVAL, "backing_alloc of an invalid type did not fail with EINVAL");
}
#define HP2M	"/sys/kernel/mm/hugepages/hugepages-2048kB/"
#define HP1G	"/sys/kernel/mm/hugepages/hugepages-1048576kB/"

/* A machine with 4 GiB, 2 GiB of it available, empty hugetlb pools. */
static void fake_machine(void)
{
	fake_file("/proc/meminfo", "MemTotal:        4194304 kB\n"
		  "MemFree:         3000000 kB\n"
		  "MemAvailable:    2097152 kB");
	fake_file(HP2M "nr_hugepages", "0");
	fake_file(HP2M "free_hugepages", "0");
	fake_file(HP1G "nr_hugepages", "0");
	fake_file(HP1G "free_hugepages", "0");
	fake_file("/sys/kernel/mm/transparent_hugepage/enabled", "always [madvise] never");
}

static bool pools_untouched(void)
{
	return !strcmp(file_value(fake_path(HP2M "nr_hugepages")), "0") &&
	       !strcmp(file_value(fake_path(HP1G "nr_hugepages")), "0") && !journal_entries();
}

/* Issue 10: backing_unavailable() read like a query and grew the pool. */
static void test_backing_query(void)
{
	static const struct {
		enum backing_type type;
		uint64_t size;
		const char *reason;	/* a word of the reason, NULL: available */
	} cases[] = {
		{ BACKING_ANON_4K,	SZ_1G,		NULL },
		{ BACKING_ANON_4K,	8ULL << 40,	"MemTotal" },
		{ BACKING_THP,		SZ_1G,		NULL },
		{ BACKING_THP,		5ULL << 30,	"MemTotal" },
		{ BACKING_HUGETLB_2M,	64ULL << 20,	NULL },	/* the pool may grow */
		{ BACKING_HUGETLB_2M,	8ULL << 40,	"MemTotal" },
		{ BACKING_HUGETLB_1G,	8ULL << 40,	"MemTotal" },
		{ BACKING_HUGETLB_1G,	17592186044414ULL << 20, "MemTotal" },
	};
	unsigned int i;

	fake_machine();
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *why = backing_unavailable(cases[i].type, cases[i].size);

		CHECK(cases[i].reason ? why && strstr(why, cases[i].reason) : !why,
		      "backing_unavailable(%s, %lu MiB): \"%s\", expected %s%s",
		      backing_name(cases[i].type), cases[i].size >> 20, why ? why : "NULL",
		      cases[i].reason ? "a reason with " : "NULL",
		      cases[i].reason ? cases[i].reason : "");
		CHECK(pools_untouched(), "backing_unavailable(%s, %lu MiB) changed the system",
		      backing_name(cases[i].type), cases[i].size >> 20);
	}
	fake_file("/sys/kernel/mm/transparent_hugepage/enabled", "always madvise [never]");
	CHECK(backing_unavailable(BACKING_THP, SZ_2M), "THP 'never' is available");
	fake_remove(HP1G "free_hugepages");
	CHECK(backing_unavailable(BACKING_HUGETLB_1G, SZ_1G),
	      "a kernel without 1G hugetlb pages has them");
}

/* Refused before anything changes: more than MemTotal, more than MemAvailable. */
static void test_backing_reserve_refuse(void)
{
	static const struct {
		enum backing_type type;
		uint64_t size;
		const char *reason;
	} cases[] = {
		{ BACKING_HUGETLB_1G,	8ULL << 40,	"MemTotal" },	/* -b 8T */
		{ BACKING_HUGETLB_2M,	8ULL << 30,	"MemTotal" },
		{ BACKING_HUGETLB_2M,	3ULL << 30,	"MemAvailable" },
		{ BACKING_HUGETLB_1G,	3ULL << 30,	"MemAvailable" },
		{ BACKING_ANON_4K,	8ULL << 40,	"MemTotal" },
	};
	unsigned int i;

	fake_machine();
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *why = backing_reserve(cases[i].type, cases[i].size);

		CHECK(why && strstr(why, cases[i].reason),
		      "backing_reserve(%s, %lu MiB): \"%s\", expected a reason with %s",
		      backing_name(cases[i].type), cases[i].size >> 20, why ? why : "NULL",
		      cases[i].reason);
		CHECK(pools_untouched(), "backing_reserve(%s, %lu MiB) grew the pool to %s / %s",
		      backing_name(cases[i].type), cases[i].size >> 20,
		      file_value(fake_path(HP2M "nr_hugepages")),
		      file_value(fake_path(HP1G "nr_hugepages")));
	}
}

/* Growth through the journal; a pool that did not grow is put back. */
static void test_backing_reserve_grow(void)
{
	const char *why;

	fake_machine();
	/* Free pages enough: nothing to change. */
	fake_file(HP2M "nr_hugepages", "40");
	fake_file(HP2M "free_hugepages", "32");
	why = backing_reserve(BACKING_HUGETLB_2M, 64ULL << 20);
	CHECK(!why && !strcmp(file_value(fake_path(HP2M "nr_hugepages")), "40") &&
	      !journal_entries(), "32 free pages for 64M: \"%s\", nr_hugepages %s, %d entries",
	      why ? why : "NULL", file_value(fake_path(HP2M "nr_hugepages")), journal_entries());

	/* A fake pool never gets free pages: asked 8 more, had 0, put back. */
	why = backing_reserve(BACKING_HUGETLB_2M, 80ULL << 20);
	CHECK(why && strstr(why, "could be had") &&
	      !strcmp(file_value(fake_path(HP2M "nr_hugepages")), "40") && !journal_entries(),
	      "a pool that did not grow: \"%s\", nr_hugepages %s, %d entries",
	      why ? why : "NULL", file_value(fake_path(HP2M "nr_hugepages")), journal_entries());
	knobs_restore();
}

static const struct unit_case cases[] = {
	{ "backing names, page sizes and parse round trip",	test_backing_names },
	{ "backing_alloc alignment (anon, thp)",		test_backing_alloc },
	{ "backing_unavailable is a query: refuses > MemTotal, changes nothing",
	  test_backing_query },
	{ "backing_reserve refuses > MemTotal/MemAvailable before growing (-b 8T)",
	  test_backing_reserve_refuse },
	{ "backing_reserve grows through the journal, puts back a failed growth",
	  test_backing_reserve_grow },
};
UNIT_SUITE(unit_backing, cases);
