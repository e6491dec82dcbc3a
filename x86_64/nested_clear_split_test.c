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
#include "x86_64/kvm_caps.h"
#include "x86_64/nested_mmu.h"
#include "variant.h"

#define SLOT_A		1
#define GPA_A		(4ULL << 30)
#define L2_GPA_A	(16ULL << 30)
#define PAGES_2M	512

struct variant {
	enum backing_type backing;
	bool eager_off;
};

static const struct variant variants[] = {
	{ .backing = BACKING_HUGETLB_2M },
	{ .backing = BACKING_HUGETLB_1G },
	{ .backing = BACKING_HUGETLB_2M, .eager_off = true },
};

/* The CLEARs, on 2M ranges 1, 3 and 5: away from each other, they don't overlap. */
struct clear_case {
	const char *id;		/* the check */
	const char *what;
	uint64_t first;		/* first page of the CLEAR, 64-aligned */
	uint64_t nr;		/* pages in the CLEAR, multiple of 64 */
	uint64_t set[4];	/* pages (absolute) whose bits are set */
	int nr_set;
};

static const struct clear_case cases[] = {
	{ "clear-one-page", "one page in a 2M range", 1 * PAGES_2M, 64,
	  { 1 * PAGES_2M + 5 }, 1 },
	{ "clear-first-last", "first and last page of a 2M range", 3 * PAGES_2M, PAGES_2M,
	  { 3 * PAGES_2M, 3 * PAGES_2M + PAGES_2M - 1 }, 2 },
	{ "clear-across-2m", "a range across a 2M boundary", 5 * PAGES_2M + 448, 128,
	  { 5 * PAGES_2M + 500, 5 * PAGES_2M + 511, 5 * PAGES_2M + 512, 5 * PAGES_2M + 523 }, 4 },
};

static struct nmmu_cli cli = {
	.about = "KVM_CLEAR_DIRTY_LOG splits exactly the nested huge mappings it clears",
	.b = { "slot size; the 1G backing rounds it up to 1G", 64ULL << 20, 14ULL << 20,
	       8ULL << 30 },
	.verbose = "print page count changes per CLEAR",
};

/* Mapping level of each 2M range of the slot, as the model predicts. */
enum range_map { IN_1G, MAP_2M, MAP_4K };

struct model {
	uint64_t nr_pages;
	uint64_t nr_ranges;	/* 2M ranges */
	enum range_map *range;
};

static void model_count(const struct model *m, struct nmmu_delta *c)
{
	uint64_t r;

	*c = (struct nmmu_delta){ 0 };
	for (r = 0; r < m->nr_ranges; r++) {
		if (m->range[r] == MAP_4K)
			c->d4k += PAGES_2M;
		else if (m->range[r] == MAP_2M)
			c->d2m++;
		else if (r % PAGES_2M == 0)
			c->d1g++;	/* one 1G mapping per 512 ranges */
	}
}

/* What KVM must do to the mappings when these pages are cleared. */
static void model_clear(struct model *m, const unsigned long *pages)
{
	uint64_t p, r, i, first;

	for (p = 0; p < m->nr_pages; p++) {
		if (!bitmap_test(pages, p))
			continue;
		r = p / PAGES_2M;
		first = ALIGN_DOWN(r, PAGES_2M);
		if (m->range[r] == IN_1G)
			for (i = first; i < first + PAGES_2M; i++)
				m->range[i] = MAP_2M;
		m->range[r] = MAP_4K;
	}
}

/*
 * CLEAR the pages set in bits (relative to first, as KVM_CLEAR_DIRTY_LOG
 * takes them) and check the counts moved exactly as the model says.
 */
static void clear_and_check(struct nmmu *f, struct model *m, const char *id,
			    const char *what, uint64_t first, uint64_t nr, unsigned long *bits)
{
	unsigned long *cleared = bitmap_zalloc(m->nr_pages);
	struct nmmu_delta mb, ma, d;
	char phase[128];
	uint64_t i;

	test_check(id);
	for (i = 0; i < nr; i++)
		if (bitmap_test(bits, i))
			bitmap_set_bit(cleared, first + i);
	model_count(m, &mb);
	model_clear(m, cleared);
	model_count(m, &ma);
	d = (struct nmmu_delta){ ma.d4k - mb.d4k, ma.d2m - mb.d2m, ma.d1g - mb.d1g };

	vm_dirty_log_clear(f->vm, SLOT_A, bits, first, (uint32_t)nr);
	snprintf(phase, sizeof(phase), "CLEAR of %s (pages %lu-%lu, %lu set)", what, first,
		 first + nr - 1, bitmap_weight(cleared, m->nr_pages));
	nmmu_phase_end(f, phase, &d);
	free(cleared);
}

static void run_variant(void *arg)
{
	const struct variant *v = arg;
	bool is_1g = v->backing == BACKING_HUGETLB_1G;
	uint64_t size = is_1g ? ALIGN_UP(cli.b.size, SZ_1G) : cli.b.size, r;
	struct nmmu_view *view;
	unsigned long *bits;
	struct nmmu_delta d;
	struct model m;
	struct nmmu f;
	unsigned int i;
	int j;

	test_check("setup");
	TEST_REQUIRE(kvm_has_manual_protect(true),
		     "KVM lacks KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 with INITIALLY_SET");
	if (is_1g)
		TEST_REQUIRE(nested_has_1g(), "no 1G pages in L1's EPT/NPT or on the host");
	/* The expectations assume the knob: set it, never inherit it. */
	kvm_param_require("kvm", "eager_page_split", v->eager_off ? "N" : "Y", !v->eager_off);
	nmmu_create(&f);
	vm_manual_protect_enable(f.vm, true);
	view = nmmu_view_add(&f, nmmu_slot_require(&f, SLOT_A, GPA_A, size, v->backing), 0,
			     L2_GPA_A, is_1g ? TDP_1G : TDP_2M);
	m.nr_pages = size / SZ_4K;
	m.nr_ranges = m.nr_pages / PAGES_2M;
	m.range = calloc(m.nr_ranges, sizeof(*m.range));
	TEST_ASSERT(m.range, "out of memory");
	for (r = 0; r < m.nr_ranges; r++)
		m.range[r] = is_1g ? IN_1G : MAP_2M;
	nmmu_start(&f, 1, NULL);

	test_check("populate");
	nmmu_write(&f, view, 1);
	model_count(&m, &d);
	nmmu_phase_end(&f, "populate", &d);

	/* Enabling with INITIALLY_SET splits nothing and protects nothing. */
	test_check("enable");
	vm_dirty_log_enable(f.vm, SLOT_A);
	nmmu_phase_end(&f, "enable logging with INITIALLY_SET", &(struct nmmu_delta){ 0 });

	bits = bitmap_zalloc(m.nr_pages);
	if (v->eager_off) {
		/*
		 * eager_page_split=N: CLEAR only write-protects (the CLEAR path
		 * of kvm_arch_mmu_enable_log_dirty_pt_masked reads the parameter
		 * too), so even clearing the whole slot splits nothing.
		 */
		test_check("clear-eager-off");
		bitmap_fill_range(bits, 0, m.nr_pages);
		vm_dirty_log_clear(f.vm, SLOT_A, bits, 0, (uint32_t)m.nr_pages);
		nmmu_phase_end(&f, "CLEAR of the whole slot with eager_page_split=N",
			       &(struct nmmu_delta){ 0 });
		goto out;
	}

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		bitmap_zero_all(bits, cases[i].nr);
		for (j = 0; j < cases[i].nr_set; j++)
			bitmap_set_bit(bits, cases[i].set[j] - cases[i].first);
		clear_and_check(&f, &m, cases[i].id, cases[i].what, cases[i].first,
				cases[i].nr, bits);
	}

	/* L2 writes again: the split parts stay 4K while logging is on. */
	test_check("rewrite");
	nmmu_write(&f, view, 2);
	nmmu_phase_end(&f, "L2 writes the slot again while logging", &(struct nmmu_delta){ 0 });

	/*
	 * Finally the whole slot: every mapping still huge goes to 4K.  The
	 * phases' deltas add up, so the slot is then mapped by exactly one 4K
	 * mapping per page.
	 */
	bitmap_fill_range(bits, 0, m.nr_pages);
	clear_and_check(&f, &m, "clear-whole-slot", "the whole slot", 0, m.nr_pages, bits);
out:
	free(bits);
	free(m.range);
	nmmu_free(&f);
}

static void variant_name(const void *p, char *buf, size_t len)
{
	const struct variant *v = p;

	snprintf(buf, len, "%s %s: %s", nested_vendor_name(kvm_nested_vendor()),
		 backing_name(v->backing), v->eager_off ?
		 "with eager_page_split=N CLEAR splits nothing" :
		 "CLEAR splits exactly the mappings it clears");
}

int main(int argc, char *argv[])
{
	return nmmu_main(&cli, &NMMU_TABLE(variants, .require = nmmu_require,
					   .name = variant_name, .run = run_variant), argc, argv);
}
