// SPDX-License-Identifier: GPL-2.0
/*
 * Splitting at KVM_CLEAR_DIRTY_LOG in manual-protect mode, on the nested
 * MMU.  With KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 and INITIALLY_SET, enabling
 * logging splits nothing (kvm_mmu_slot_apply_flags returns early); CLEAR
 * splits exactly the huge mappings that contain the pages being cleared
 * (kvm_arch_mmu_enable_log_dirty_pt_masked -> kvm_mmu_try_split_huge_pages,
 * shadow-MMU part): a 1G mapping becomes 2M mappings and only the 2M
 * ranges with cleared pages go down to 4K.  Expectations come from a model
 * of the slot's mappings, not from what KVM did.
 */
#include <getopt.h>

#include "dirty_log.h"
#include "knobs.h"
#include "kvm_util.h"
#include "stats.h"
#include "variant.h"
#include "x86_64/kvm_caps.h"
#include "x86_64/nested_worker.h"
#include "x86_64/processor.h"

#define SLOT_A		1
#define GPA_A		(4ULL << 30)
#define L2_GPA_A	(16ULL << 30)
#define PAGES_2M	512

static uint64_t opt_size = 64ULL << 20;

/* Mapping level of each 2M range of the slot, as the model predicts. */
enum range_map { IN_1G, MAP_2M, MAP_4K };

struct model {
	uint64_t nr_pages;
	uint64_t nr_ranges;	/* 2M ranges */
	enum range_map *range;
};

struct counts {
	int64_t c4k, c2m, c1g;
};

static void model_count(const struct model *m, struct counts *c)
{
	uint64_t r;

	*c = (struct counts){ 0, 0, 0 };
	for (r = 0; r < m->nr_ranges; r++) {
		if (m->range[r] == MAP_4K)
			c->c4k += PAGES_2M;
		else if (m->range[r] == MAP_2M)
			c->c2m++;
		else if (r % PAGES_2M == 0)
			c->c1g++;	/* one 1G mapping per 512 ranges */
	}
}

/* What KVM must do to the mappings when these pages are cleared. */
static void model_clear(struct model *m, const unsigned long *pages)
{
	uint64_t p, r;

	for (p = 0; p < m->nr_pages; p++) {
		if (!bitmap_test(pages, p))
			continue;
		r = p / PAGES_2M;
		if (m->range[r] == IN_1G) {
			uint64_t first = ALIGN_DOWN(r, PAGES_2M);

			for (uint64_t i = first; i < first + PAGES_2M; i++)
				m->range[i] = MAP_2M;
		}
		m->range[r] = MAP_4K;
	}
}

struct clear_case {
	const char *id;		/* the check */
	const char *what;
	uint64_t first;		/* first page of the CLEAR, 64-aligned */
	uint64_t nr;		/* pages in the CLEAR, multiple of 64 */
	uint64_t set[4];	/* pages (absolute) whose bits are set */
	int nr_set;
};

/*
 * CLEAR the pages set in bits (relative to first, as KVM_CLEAR_DIRTY_LOG
 * takes them) and check the counts moved exactly as the model says.
 */
static void clear_and_check(struct kvm_vm *vm, struct model *m, const char *id,
			    const char *what, uint64_t first, uint64_t nr, unsigned long *bits)
{
	unsigned long *cleared = bitmap_zalloc(m->nr_pages);
	struct page_stats before, after;
	struct counts mb, ma;
	int64_t d4k, d2m, d1g;
	uint64_t i;

	test_check(id);
	for (i = 0; i < nr; i++)
		if (bitmap_test(bits, i))
			bitmap_set_bit(cleared, first + i);
	model_count(m, &mb);
	model_clear(m, cleared);
	model_count(m, &ma);

	vm_page_stats(vm, &before);
	vm_dirty_log_clear(vm, SLOT_A, bits, first, (uint32_t)nr);
	vm_page_stats(vm, &after);
	d4k = (int64_t)(after.pages_4k - before.pages_4k);
	d2m = (int64_t)(after.pages_2m - before.pages_2m);
	d1g = (int64_t)(after.pages_1g - before.pages_1g);
	pr_debug("CLEAR %-44s 4K %+ld 2M %+ld 1G %+ld\n", what, d4k, d2m, d1g);
	TEST_ASSERT(d4k == ma.c4k - mb.c4k && d2m == ma.c2m - mb.c2m &&
		    d1g == ma.c1g - mb.c1g,
		    "CLEAR of %s (pages %lu-%lu, %lu set): expected the 4K/2M/1G mapping "
		    "counts to change by %+ld/%+ld/%+ld, found %+ld/%+ld/%+ld",
		    what, first, first + nr - 1, bitmap_weight(cleared, m->nr_pages),
		    ma.c4k - mb.c4k, ma.c2m - mb.c2m, ma.c1g - mb.c1g, d4k, d2m, d1g);
	free(cleared);
}

static void run_case(struct kvm_vm *vm, struct model *m, const struct clear_case *cc)
{
	unsigned long *bits = bitmap_zalloc(cc->nr);
	int i;

	for (i = 0; i < cc->nr_set; i++)
		bitmap_set_bit(bits, cc->set[i] - cc->first);
	clear_and_check(vm, m, cc->id, cc->what, cc->first, cc->nr, bits);
	free(bits);
}

struct variant {
	enum backing_type backing;
	bool eager_off;
};

static void run_variant(void *arg)
{
	const struct variant *v = arg;
	enum backing_type backing = v->backing;
	bool eager_off = v->eager_off;
	bool is_1g = backing == BACKING_HUGETLB_1G;
	uint64_t size = is_1g ? ALIGN_UP(opt_size, SZ_1G) : opt_size;
	enum tdp_level leaf = is_1g ? TDP_1G : TDP_2M;
	struct page_stats base, pop, on;
	struct nested_worker *w;
	struct model m;
	struct counts c;
	struct kvm_vm *vm;
	unsigned long *all;
	const char *why;
	uint64_t r, last;

	test_check("setup");
	TEST_REQUIRE(kvm_has_manual_protect(true),
		     "KVM lacks KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 with INITIALLY_SET");
	if (is_1g)
		TEST_REQUIRE(nested_has_1g(), "no 1G pages in L1's EPT/NPT or on the host");
	/* The expectations assume the knob: set it, never inherit it. */
	kvm_param_require("kvm", "eager_page_split", eager_off ? "N" : "Y", !eager_off);
	why = backing_reserve(backing, size);
	TEST_REQUIRE(!why, "%s", why);

	vm = nested_vm_create(0);
	vm_manual_protect_enable(vm, true);
	vm_memslot_add(vm, SLOT_A, GPA_A, size, backing, 0);
	why = vm_memslot_prefault(vm, SLOT_A);
	TEST_REQUIRE(!why, "%s", why);
	tdp_map(vm, 0, L2_GPA_A, GPA_A, size, leaf);

	m.nr_pages = size / SZ_4K;
	m.nr_ranges = m.nr_pages / PAGES_2M;
	m.range = calloc(m.nr_ranges, sizeof(*m.range));
	TEST_ASSERT(m.range, "out of memory");
	for (r = 0; r < m.nr_ranges; r++)
		m.range[r] = is_1g ? IN_1G : MAP_2M;

	w = nested_worker_create(vm, 1, NULL);
	vm_page_stats(vm, &base);
	test_check("populate");
	nested_worker_run_all(w, L2_OP_WRITE, direct_gva(L2_GPA_A), m.nr_pages, 1);
	vm_page_stats(vm, &pop);
	model_count(&m, &c);
	TEST_ASSERT((int64_t)(pop.pages_2m - base.pages_2m) == c.c2m &&
		    (int64_t)(pop.pages_1g - base.pages_1g) == c.c1g &&
		    pop.pages_4k - base.pages_4k == direct_map_tables(L2_GPA_A, size),
		    "populate: expected +%lu/+%ld/+%ld 4K/2M/1G mappings, found +%lu/+%lu/+%lu",
		    direct_map_tables(L2_GPA_A, size), c.c2m, c.c1g,
		    pop.pages_4k - base.pages_4k, pop.pages_2m - base.pages_2m,
		    pop.pages_1g - base.pages_1g);

	/* Enabling with INITIALLY_SET splits nothing and protects nothing. */
	test_check("enable");
	vm_dirty_log_enable(vm, SLOT_A);
	vm_page_stats(vm, &on);
	TEST_ASSERT(on.pages_4k == pop.pages_4k && on.pages_2m == pop.pages_2m &&
		    on.pages_1g == pop.pages_1g,
		    "enable logging with INITIALLY_SET: expected no change, found 4K/2M/1G "
		    "%+ld/%+ld/%+ld", (int64_t)(on.pages_4k - pop.pages_4k),
		    (int64_t)(on.pages_2m - pop.pages_2m), (int64_t)(on.pages_1g - pop.pages_1g));

	if (eager_off) {
		/*
		 * eager_page_split=N: CLEAR only write-protects (the CLEAR path
		 * of kvm_arch_mmu_enable_log_dirty_pt_masked reads the parameter
		 * too), so even clearing the whole slot splits nothing.
		 */
		struct page_stats after;

		test_check("clear-eager-off");
		all = bitmap_zalloc(m.nr_pages);
		bitmap_fill_range(all, 0, m.nr_pages);
		vm_dirty_log_clear(vm, SLOT_A, all, 0, (uint32_t)m.nr_pages);
		vm_page_stats(vm, &after);
		TEST_ASSERT(after.pages_4k == on.pages_4k && after.pages_2m == on.pages_2m &&
			    after.pages_1g == on.pages_1g,
			    "CLEAR of the whole slot with eager_page_split=N: expected no change, "
			    "found 4K/2M/1G %+ld/%+ld/%+ld",
			    (int64_t)(after.pages_4k - on.pages_4k),
			    (int64_t)(after.pages_2m - on.pages_2m),
			    (int64_t)(after.pages_1g - on.pages_1g));
		free(all);
		goto out;
	}

	{
		/* Ranges chosen away from each other so the cases don't overlap. */
		uint64_t r1 = 1, r2 = 3, r3 = 5;	/* 2M range numbers */
		struct clear_case cases[] = {
			{ "clear-one-page", "one page in a 2M range", r1 * PAGES_2M, 64,
			  { r1 * PAGES_2M + 5 }, 1 },
			{ "clear-first-last", "first and last page of a 2M range", r2 * PAGES_2M, PAGES_2M,
			  { r2 * PAGES_2M, r2 * PAGES_2M + PAGES_2M - 1 }, 2 },
			{ "clear-across-2m", "a range across a 2M boundary", r3 * PAGES_2M + 448, 128,
			  { r3 * PAGES_2M + 500, r3 * PAGES_2M + 511,
			    r3 * PAGES_2M + 512, r3 * PAGES_2M + 523 }, 4 },
		};
		unsigned int i;

		TEST_ASSERT(m.nr_ranges > r3 + 2, "slot too small for the CLEAR cases (-b)");
		for (i = 0; i < ARRAY_SIZE(cases); i++)
			run_case(vm, &m, &cases[i]);
	}

	/* L2 writes again: the split parts stay 4K while logging is on. */
	test_check("rewrite");
	nested_worker_run_all(w, L2_OP_WRITE, direct_gva(L2_GPA_A), m.nr_pages, 2);

	/* Finally the whole slot: every mapping still huge goes to 4K. */
	all = bitmap_zalloc(m.nr_pages);
	bitmap_fill_range(all, 0, m.nr_pages);
	clear_and_check(vm, &m, "clear-whole-slot", "the whole slot", 0, m.nr_pages, all);
	{
		struct page_stats after;

		vm_page_stats(vm, &after);
		last = after.pages_4k - base.pages_4k;
		TEST_ASSERT_EQ(last, m.nr_pages + direct_map_tables(L2_GPA_A, size),
			       "4K mappings of the slot after clearing all of it");
	}
	free(all);
out:
	free(m.range);
	nested_worker_free(w);
	vm_free(vm);
}

static void usage(const char *name, int code)
{
	printf("usage: %s [-b size] [-V] [-h]\n"
	       "  -b size  memslot size for the 2M backing (default 64M, at least 14M,\n"
	       "           2M multiple); the 1G backing uses 1G\n"
	       "  -V       print page count changes per CLEAR\n"
	       "  -h       this help\n", name);
	exit(code);
}

int main(int argc, char *argv[])
{
	static struct variant vs[] = {
		{ BACKING_HUGETLB_2M, false },
		{ BACKING_HUGETLB_1G, false },
		{ BACKING_HUGETLB_2M, true },
	};
	char desc[128];
	unsigned int i;
	int opt;

	while ((opt = getopt(argc, argv, "b:Vh")) != -1) {
		switch (opt) {
		case 'b':
			if (parse_size(optarg, &opt_size) || opt_size < (14ULL << 20) ||
			    !IS_ALIGNED(opt_size, SZ_2M)) {
				fprintf(stderr, "-b: '%s' is not a 2M multiple of at least 14M\n",
					optarg);
				usage(argv[0], KSFT_FAIL);
			}
			break;
		default:
			test_opt_common(opt, usage, argv[0]);
		}
	}
	if (optind < argc)
		usage(argv[0], KSFT_FAIL);

	ksft_print_header();
	nested_require(false);
	ksft_set_plan(ARRAY_SIZE(vs));
	for (i = 0; i < ARRAY_SIZE(vs); i++) {
		snprintf(desc, sizeof(desc), "%s %s: %s", nested_vendor_name(kvm_nested_vendor()),
			 backing_name(vs[i].backing), vs[i].eager_off ?
			 "with eager_page_split=N CLEAR splits nothing" :
			 "CLEAR splits exactly the mappings it clears");
		variant_run(desc, run_variant, &vs[i]);
	}
	ksft_finished();
}
