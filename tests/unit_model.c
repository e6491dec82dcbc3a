// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests: the nested-MMU mapping model (lib/x86_64/nested_mmu_model.c)
 * at memslots of every geometry: partial huge pages at the head and tail,
 * a slot that covers part of a 1G page, host addresses off congruence,
 * L1 leaves of 4K, 2M and 1G, and the TDP MMU's L1 views.
 */
#include "dirty_log.h"
#include "unit.h"
#include "x86_64/nested_mmu.h"

/* A fake slot and its view: only what the model reads. */
struct geom {
	struct nmmu_slot s;
	struct nmmu_view v;
};

/* A host address whose offset from gpa modulo 1G is skew: never dereferenced. */
static char *fake_hva(gpa_t gpa, uint64_t skew)
{
	return (char *)(uintptr_t)((0x7f0000000000ULL + gpa + skew));
}

static void geom_init(struct geom *g, gpa_t gpa, uint64_t size, enum backing_type b,
		      uint64_t skew, enum tdp_level leaf, bool l1)
{
	memset(g, 0, sizeof(*g));
	g->s = (struct nmmu_slot){ .id = 1, .gpa = gpa, .size = size, .nr_pages = size / SZ_4K,
				   .backing = b, .hva = fake_hva(gpa, skew), .hva_skew = skew };
	g->v = (struct nmmu_view){ .slot = &g->s, .leaf = leaf, .l1 = l1, .vcpu = -1 };
}

static void expect_view(const char *what, struct geom *g, int64_t e4k, int64_t e2m, int64_t e1g)
{
	struct nmmu_delta d = { 0 };

	nmmu_delta_view(&d, &g->v, 1);
	CHECK(d.d4k == e4k && d.d2m == e2m && d.d1g == e1g,
	      "%s: the model gives 4K/2M/1G %ld/%ld/%ld, expected %ld/%ld/%ld", what,
	      d.d4k, d.d2m, d.d1g, e4k, e2m, e1g);
}

static void expect_range(const char *what, struct geom *g, uint64_t first, uint64_t n,
			 int64_t e4k, int64_t e2m, int64_t e1g)
{
	struct nmmu_delta d = { 7, 7, 7 };

	/* sign -1 on a non-zero delta: the result is added, negated. */
	nmmu_model_delta(&d, &g->v, first, n, -1);
	CHECK(d.d4k == 7 - e4k && d.d2m == 7 - e2m && d.d1g == 7 - e1g,
	      "%s: pages %lu+%lu: the model gives 4K/2M/1G %ld/%ld/%ld, expected %ld/%ld/%ld",
	      what, first, n, 7 - d.d4k, 7 - d.d2m, 7 - d.d1g, e4k, e2m, e1g);
}

static void expect_page(const char *what, struct geom *g, uint64_t page, uint64_t size)
{
	uint64_t got = nmmu_model_map_size(&g->v, page);

	CHECK(got == size, "%s: page %lu maps at 0x%lx, expected 0x%lx", what, page, got, size);
}

#define GB	(1ULL << 30)

static void test_aligned(void)
{
	struct geom g;

	geom_init(&g, 4 * GB, 64ULL << 20, BACKING_HUGETLB_2M, 0, TDP_2M, false);
	expect_view("64M hugetlb2m 2M leaf", &g, 0, 32, 0);
	geom_init(&g, 4 * GB, 64ULL << 20, BACKING_HUGETLB_2M, 0, TDP_1G, false);
	expect_view("64M hugetlb2m 1G leaf", &g, 0, 32, 0);
	geom_init(&g, 4 * GB, 64ULL << 20, BACKING_THP, 0, TDP_1G, false);
	expect_view("64M thp 1G leaf", &g, 0, 32, 0);
	geom_init(&g, 4 * GB, 64ULL << 20, BACKING_ANON_4K, 0, TDP_1G, false);
	expect_view("64M anon 1G leaf", &g, 16384, 0, 0);
	geom_init(&g, 4 * GB, GB, BACKING_HUGETLB_1G, 0, TDP_1G, false);
	expect_view("1G hugetlb1g 1G leaf", &g, 0, 0, 1);
	geom_init(&g, 4 * GB, GB, BACKING_HUGETLB_1G, 0, TDP_2M, false);
	expect_view("1G hugetlb1g 2M leaf", &g, 0, 512, 0);
	/* A 1G leaf over a 64M part of a 1G page: 2M, as before this model. */
	geom_init(&g, 4 * GB, 64ULL << 20, BACKING_HUGETLB_1G, 0, TDP_1G, false);
	expect_view("64M of a hugetlb1g page, 1G leaf", &g, 0, 32, 0);
}

static void test_head_tail(void)
{
	struct geom g;

	/* +128K, 6M+64K: 480 head pages, two 2M pages, 48 tail pages. */
	geom_init(&g, 4 * GB + (128 << 10), (6ULL << 20) + (64 << 10), BACKING_HUGETLB_2M, 0,
		  TDP_2M, false);
	expect_view("+128K 6M+64K hugetlb2m 2M leaf", &g, 480 + 48, 2, 0);
	expect_page("+128K head", &g, 0, SZ_4K);
	expect_page("+128K last head page", &g, 479, SZ_4K);
	expect_page("+128K first full 2M", &g, 480, SZ_2M);
	expect_page("+128K last full 2M", &g, 480 + 1023, SZ_2M);
	expect_page("+128K first tail page", &g, 480 + 1024, SZ_4K);
	expect_page("+128K last page", &g, 480 + 1024 + 47, SZ_4K);
	/* A range inside one 2M mapping counts it once; across the head, 4K each. */
	expect_range("+128K inside a 2M", &g, 500, 10, 0, 1, 0);
	expect_range("+128K across head and 2M", &g, 470, 20, 10, 1, 0);
	expect_range("+128K from the second 2M to the last page", &g, 1000, 552, 48, 1, 0);
	expect_range("+128K empty", &g, 5, 0, 0, 0, 0);

	/* +2M-4K: one head page; size 4M: a full 2M, then a 2M-4K tail. */
	geom_init(&g, 4 * GB + SZ_2M - SZ_4K, 4ULL << 20, BACKING_HUGETLB_2M, 0, TDP_2M, false);
	expect_view("+2M-4K 4M hugetlb2m", &g, 1 + 511, 1, 0);
	/* Smaller than a huge page, inside one: all 4K. */
	geom_init(&g, 4 * GB + (128 << 10), (1ULL << 20), BACKING_HUGETLB_2M, 0, TDP_2M, false);
	expect_view("+128K 1M hugetlb2m", &g, 256, 0, 0);
	/* Aligned start, partial tail only. */
	geom_init(&g, 4 * GB, SZ_2M + SZ_4K, BACKING_THP, 0, TDP_2M, false);
	expect_view("+0 2M+4K thp", &g, 1, 1, 0);
	expect_page("+0 2M+4K last page", &g, 512, SZ_4K);
}

static void test_1g_partial(void)
{
	struct geom g;

	/* 2M below a 1G boundary, 1G+4M: 2M head, one 1G, 2M tail (hugetlb1g). */
	geom_init(&g, 5 * GB - SZ_2M, GB + (4ULL << 20), BACKING_HUGETLB_1G, 0, TDP_1G, false);
	expect_view("-2M 1G+4M hugetlb1g 1G leaf", &g, 0, 2, 1);
	expect_page("-2M head", &g, 0, SZ_2M);
	expect_page("-2M the 1G", &g, 512, SZ_1G);
	expect_page("-2M tail", &g, 512 + 262144, SZ_2M);
	expect_range("-2M across head and the 1G", &g, 511, 2, 0, 1, 1);
	geom_init(&g, 5 * GB - SZ_2M, GB + (4ULL << 20), BACKING_HUGETLB_1G, 0, TDP_2M, false);
	expect_view("-2M 1G+4M hugetlb1g 2M leaf", &g, 0, 514, 0);
	/* Part of a 1G page, unaligned to 2M too: 4K head and tail, 2M inside. */
	geom_init(&g, 4 * GB + (1ULL << 20) - SZ_4K, 8ULL << 20, BACKING_HUGETLB_1G, 0, TDP_1G,
		  false);
	expect_view("+1M-4K 8M hugetlb1g 1G leaf", &g, 257 + 255, 3, 0);
	/* The L1 view (TDP MMU) of the -2M slot: 1G where the host has 1G. */
	geom_init(&g, 5 * GB - SZ_2M, GB + (4ULL << 20), BACKING_HUGETLB_1G, 0, TDP_4K, true);
	expect_view("-2M 1G+4M hugetlb1g L1 view", &g, 0, 2, 1);
	/* 2M hugetlb never maps 1G, whatever the leaf. */
	geom_init(&g, 4 * GB, 2 * GB, BACKING_HUGETLB_2M, 0, TDP_1G, false);
	expect_view("2G hugetlb2m 1G leaf", &g, 0, 1024, 0);
}

static void test_skew(void)
{
	struct geom g;

	/* 4K off congruence: nothing huge at all. */
	geom_init(&g, 4 * GB, 8ULL << 20, BACKING_HUGETLB_2M, SZ_4K, TDP_2M, false);
	expect_view("hugetlb2m skew 4K", &g, 2048, 0, 0);
	geom_init(&g, 4 * GB + (128 << 10), 8ULL << 20, BACKING_THP, 64 << 10, TDP_1G, true);
	expect_view("thp +128K skew 64K L1 view", &g, 2048, 0, 0);
	/* 2M off 1G congruence: 2M mappings, no 1G. */
	geom_init(&g, 4 * GB, GB, BACKING_HUGETLB_1G, SZ_2M, TDP_1G, false);
	expect_view("hugetlb1g skew 2M 1G leaf", &g, 0, 512, 0);
	geom_init(&g, 4 * GB, GB, BACKING_HUGETLB_1G, SZ_2M + SZ_4K, TDP_1G, true);
	expect_view("hugetlb1g skew 2M+4K L1 view", &g, 262144, 0, 0);
}

static void test_leaf(void)
{
	struct geom g;

	geom_init(&g, 4 * GB, GB, BACKING_HUGETLB_1G, 0, TDP_4K, false);
	expect_view("hugetlb1g 4K leaf", &g, 262144, 0, 0);
	geom_init(&g, 4 * GB + (128 << 10), 6ULL << 20, BACKING_HUGETLB_2M, 0, TDP_4K, false);
	expect_view("+128K hugetlb2m 4K leaf", &g, 1536, 0, 0);
	/* A view of listed pages: one 4K mapping each. */
	geom_init(&g, 4 * GB, GB, BACKING_HUGETLB_1G, 0, TDP_4K, false);
	g.v.listed = true;
	g.v.nr_maps = 5;
	expect_view("5 listed pages", &g, 5, 0, 0);
}

static void expect_state(const char *what, struct nmmu_state *m, int64_t e4k, int64_t e2m,
			 int64_t e1g)
{
	struct nmmu_delta c;

	nmmu_state_counts(m, &c);
	CHECK(c.d4k == e4k && c.d2m == e2m && c.d1g == e1g,
	      "%s: the state holds 4K/2M/1G %ld/%ld/%ld, expected %ld/%ld/%ld", what,
	      c.d4k, c.d2m, c.d1g, e4k, e2m, e1g);
}

/* +128K, 6M+64K, hugetlb2m, 2M leaf: 480 head pages, two 2M, 48 tail pages. */
static void test_state_cycle(void)
{
	struct geom g;
	struct nmmu_state m;
	unsigned long *dirty;
	uint64_t nr;

	geom_init(&g, 4 * GB + (128 << 10), (6ULL << 20) + (64 << 10), BACKING_HUGETLB_2M, 0,
		  TDP_2M, false);
	nr = g.s.nr_pages;
	dirty = bitmap_zalloc(nr);
	nmmu_state_init(&m, &g.v, NMMU_WP_FAULT_DROP);
	expect_state("nothing mapped", &m, 0, 0, 0);
	nmmu_state_access(&m, 0, nr, true, false, NULL);
	expect_state("populate", &m, 528, 2, 0);
	nmmu_state_split(&m, 0, nr, SZ_4K);
	expect_state("eager split", &m, 1552, 0, 0);
	nmmu_state_access(&m, 0, nr, false, true, dirty);
	CHECK(bitmap_weight(dirty, nr) == 0, "reads of mapped pages made %lu pages dirty",
	      bitmap_weight(dirty, nr));
	m.recover = true;
	nmmu_state_zap_collapsible(&m);
	expect_state("recover: head and tail stay 4K, the 2M return", &m, 528, 2, 0);
	m.recover = false;
	nmmu_state_split(&m, 0, nr, SZ_4K);
	nmmu_state_zap_collapsible(&m);
	expect_state("logging off: head and tail stay", &m, 528, 0, 0);
	nmmu_state_access(&m, 0, nr, true, false, NULL);
	expect_state("huge again", &m, 528, 2, 0);
	nmmu_state_free(&m);
	free(dirty);
}

static void test_state_faults(void)
{
	struct geom g;
	struct nmmu_state m;
	unsigned long *dirty;
	uint64_t nr;

	/* Drop: the written page maps 4K, the rest of the 2M is unmapped. */
	geom_init(&g, 4 * GB + (128 << 10), (6ULL << 20) + (64 << 10), BACKING_HUGETLB_2M, 0,
		  TDP_2M, false);
	nr = g.s.nr_pages;
	dirty = bitmap_zalloc(nr);
	nmmu_state_init(&m, &g.v, NMMU_WP_FAULT_DROP);
	nmmu_state_access(&m, 0, nr, true, false, NULL);
	nmmu_state_access(&m, 500, 1, true, true, dirty);
	expect_state("drop: a write in the first 2M", &m, 529, 1, 0);
	nmmu_state_access(&m, 480, 20, false, true, dirty);
	expect_state("drop: reads fault 20 more in", &m, 549, 1, 0);
	CHECK(bitmap_weight(dirty, nr) == 21 && bitmap_test(dirty, 480) && bitmap_test(dirty, 500),
	      "drop: %lu pages dirty, expected the written one and the 20 read",
	      bitmap_weight(dirty, nr));
	nmmu_state_access(&m, 0, 10, false, true, dirty);
	CHECK(bitmap_weight(dirty, nr) == 21, "reads of mapped head pages made pages dirty");
	nmmu_state_zap_collapsible(&m);
	expect_state("drop: logging off", &m, 528, 1, 0);
	nmmu_state_free(&m);

	/* Split (TDP MMU since 6.2): a 1G mapping goes to 511 2M and 512 4K. */
	geom_init(&g, 4 * GB, GB, BACKING_HUGETLB_1G, 0, TDP_4K, true);
	nr = g.s.nr_pages;
	free(dirty);
	dirty = bitmap_zalloc(nr);
	nmmu_state_init(&m, &g.v, NMMU_WP_FAULT_SPLIT);
	nmmu_state_access(&m, 0, nr, true, false, NULL);
	expect_state("split: populate", &m, 0, 0, 1);
	nmmu_state_access(&m, 1000, 1, true, true, dirty);
	expect_state("split: a write", &m, 512, 511, 0);
	nmmu_state_access(&m, 0, nr, false, true, dirty);
	expect_state("split: reads fault nothing in", &m, 512, 511, 0);
	CHECK(bitmap_weight(dirty, nr) == 1, "split: %lu pages dirty, expected 1",
	      bitmap_weight(dirty, nr));
	nmmu_state_access(&m, 3 * 512 + 7, 1, true, true, dirty);
	expect_state("split: a write in another 2M", &m, 1024, 510, 0);
	nmmu_state_zap_collapsible(&m);
	expect_state("split: logging off zaps all", &m, 0, 0, 0);
	/* Since 6.13 the TDP MMU recovers the huge mapping in place instead. */
	nmmu_state_access(&m, 0, nr, true, false, NULL);
	nmmu_state_split(&m, 0, nr, SZ_4K);
	m.recover = true;
	nmmu_state_zap_collapsible(&m);
	expect_state("recover: logging off makes the 1G again", &m, 0, 0, 1);
	m.recover = false;
	nmmu_state_zap_collapsible(&m);
	expect_state("nothing left to zap", &m, 0, 0, 1);
	nmmu_state_split(&m, 0, nr, SZ_4K);
	nmmu_state_zap_collapsible(&m);
	/* A split to 2M (as CLEAR does to a 1G mapping), then of one 2M range to 4K. */
	nmmu_state_access(&m, 0, nr, true, false, NULL);
	nmmu_state_split(&m, 5, 1, SZ_2M);
	expect_state("split to 2M", &m, 0, 512, 0);
	nmmu_state_split(&m, 600, 3, SZ_4K);
	expect_state("one 2M to 4K", &m, 512, 511, 0);
	nmmu_state_free(&m);
	free(dirty);
}

/*
 * Protection tracked per huge mapping (manual protect, INITIALLY_SET): a
 * write to an unprotected huge mapping changes nothing, one to a protected
 * mapping faults as usual, and split pieces copy the protection.
 */
static void test_state_wp(void)
{
	struct geom g;
	struct nmmu_state m;
	uint64_t nr;

	geom_init(&g, 4 * GB, GB, BACKING_HUGETLB_1G, 0, TDP_1G, false);
	nr = g.s.nr_pages;
	nmmu_state_init(&m, &g.v, NMMU_WP_FAULT_DROP);
	nmmu_state_track_wp(&m);
	nmmu_state_access(&m, 0, nr, true, false, NULL);
	nmmu_state_access(&m, 77, 1, true, true, NULL);
	expect_state("wp: a write to the unprotected 1G while logging", &m, 0, 0, 1);
	/* As a CLEAR with eager split of pages 510-513: 1G to 2M, two 2M to 4K. */
	nmmu_state_split(&m, 510, 4, SZ_2M);
	nmmu_state_split(&m, 510, 4, SZ_4K);
	expect_state("wp: CLEAR's split", &m, 1024, 510, 0);
	nmmu_state_protect(&m, 510);
	nmmu_state_protect(&m, 2048);
	nmmu_state_access(&m, 2047, 1, true, true, NULL);
	expect_state("wp: a write to an unprotected 2M piece", &m, 1024, 510, 0);
	nmmu_state_access(&m, 2049, 1, true, true, NULL);
	expect_state("wp: a write to the protected 2M drops it", &m, 1025, 509, 0);
	nmmu_state_access(&m, 2050, 1, true, true, NULL);
	expect_state("wp: the next write faults the page in", &m, 1026, 509, 0);
	nmmu_state_free(&m);

	/* A protected 1G split to 2M: the pieces are protected copies. */
	nmmu_state_init(&m, &g.v, NMMU_WP_FAULT_DROP);
	nmmu_state_track_wp(&m);
	nmmu_state_access(&m, 0, nr, true, false, NULL);
	nmmu_state_protect(&m, 9);
	nmmu_state_split(&m, 0, 1, SZ_2M);
	nmmu_state_access(&m, 100000, 1, true, true, NULL);
	expect_state("wp: a write to a piece of a protected 1G", &m, 1, 511, 0);
	nmmu_state_free(&m);
}

/* A phase's expected delta: the change of two states' sum since the last phase. */
static void test_state_delta(void)
{
	struct geom ga, gb;
	struct nmmu_state a, b;
	const struct nmmu_state *both[] = { &a, &b };
	struct nmmu_delta last = { 0 }, d;

	geom_init(&ga, 4 * GB + (128 << 10), (6ULL << 20) + (64 << 10), BACKING_HUGETLB_2M, 0,
		  TDP_2M, false);
	geom_init(&gb, 5 * GB, 4ULL << 20, BACKING_HUGETLB_2M, 0, TDP_2M, false);
	nmmu_state_init(&a, &ga.v, NMMU_WP_FAULT_DROP);
	nmmu_state_init(&b, &gb.v, NMMU_WP_FAULT_DROP);
	nmmu_state_access(&a, 0, ga.s.nr_pages, true, false, NULL);
	nmmu_state_access(&b, 0, gb.s.nr_pages, true, false, NULL);
	d = nmmu_state_delta(both, 2, &last);
	CHECK(d.d4k == 528 && d.d2m == 4 && d.d1g == 0 && last.d4k == 528 && last.d2m == 4,
	      "delta: populate of both gives 4K/2M %ld/%ld (sum %ld/%ld), expected 528/4",
	      d.d4k, d.d2m, last.d4k, last.d2m);
	nmmu_state_split(&a, 0, ga.s.nr_pages, SZ_4K);
	d = nmmu_state_delta(both, 2, &last);
	CHECK(d.d4k == 1024 && d.d2m == -2 && d.d1g == 0,
	      "delta: a split of A gives 4K/2M %+ld/%+ld, expected +1024/-2", d.d4k, d.d2m);
	d = nmmu_state_delta(both, 2, &last);
	CHECK(!d.d4k && !d.d2m && !d.d1g, "delta: no change gives 4K/2M/1G %+ld/%+ld/%+ld",
	      d.d4k, d.d2m, d.d1g);
	d = nmmu_state_delta(both, 1, &last);
	CHECK(d.d4k == 0 && d.d2m == -2, "delta: A alone after both gives 4K/2M %+ld/%+ld, "
	      "expected +0/-2 (B's two 2M mappings left out)", d.d4k, d.d2m);
	nmmu_state_free(&a);
	nmmu_state_free(&b);
}

static const struct unit_case cases[] = {
	{ "model: aligned slots, every backing and leaf", test_aligned },
	{ "model: partial huge pages at a slot's head and tail", test_head_tail },
	{ "model: slots over part of a 1G page, and the L1 view", test_1g_partial },
	{ "model: host addresses off congruence", test_skew },
	{ "model: L1 4K leaves and listed pages", test_leaf },
	{ "model state: populate, eager split, logging off, huge again", test_state_cycle },
	{ "model state: write protection per huge mapping (INITIALLY_SET)", test_state_wp },
	{ "model state: write faults that drop and that split, reads that fault in",
	  test_state_faults },
	{ "model state: a phase's delta over two slots' states", test_state_delta },
};

UNIT_SUITE(unit_model, cases);
