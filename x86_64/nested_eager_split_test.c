// SPDX-License-Identifier: GPL-2.0
/*
 * Eager page splitting of the nested MMU when dirty logging is switched on
 * and off.  L2 maps two memslots, A and B, through huge EPT/NPT leaves;
 * KVM shadows them with huge mappings.  Enabling KVM_MEM_LOG_DIRTY_PAGES
 * on A must split every nested huge mapping of A down to 4K before the
 * ioctl returns (kvm_mmu_slot_apply_flags -> kvm_mmu_slot_try_split_huge_pages,
 * shadow-MMU part), leave B alone, log L2's writes in L1 GPA terms, and
 * let the huge mappings come back once logging is off
 * (kvm_mmu_zap_collapsible_sptes), cycle after cycle.  With
 * kvm.eager_page_split=N nothing may be split up front, and L2's writes
 * break only the huge mappings they land in.
 */
#include "x86_64/kvm_caps.h"
#include "x86_64/nested_mmu.h"
#include "variant.h"

#define SLOT_A		1
#define SLOT_B		2
#define GPA_A		(4ULL << 30)
#define GPA_B		(6ULL << 30)
#define L2_GPA_A	(16ULL << 30)
#define L2_GPA_B	(32ULL << 30)

/* What a variant does after L2 populated both slots. */
enum scenario {
	/* Two logging cycles on A: eager split, dirty log, huge pages return. */
	TWO_CYCLES,
	/* Logging on A before L2 ever ran: nothing to split, 4K while logging. */
	LOG_BEFORE_RUN,
	/* kvm.eager_page_split=N: nothing split up front, writes split lazily. */
	LAZY,
};

struct variant {
	enum backing_type backing;
	enum tdp_level leaf;
	int nr_vcpus;		/* 0: the -v count */
	enum scenario scenario;
	bool nx_huge_pages;	/* the iTLB multihit mitigation forced on */
};

static const struct variant variants[] = {
	{ .backing = BACKING_THP, .leaf = TDP_2M, .nr_vcpus = 1 },
	{ .backing = BACKING_THP, .leaf = TDP_1G, .nr_vcpus = 1 },
	{ .backing = BACKING_HUGETLB_2M, .leaf = TDP_2M, .nr_vcpus = 1 },
	{ .backing = BACKING_HUGETLB_2M, .leaf = TDP_1G, .nr_vcpus = 1 },
	{ .backing = BACKING_HUGETLB_1G, .leaf = TDP_2M, .nr_vcpus = 1 },
	{ .backing = BACKING_HUGETLB_1G, .leaf = TDP_1G, .nr_vcpus = 1 },
	/* The same with the -v count of vCPUs. */
	{ .backing = BACKING_THP, .leaf = TDP_2M },
	{ .backing = BACKING_THP, .leaf = TDP_1G },
	{ .backing = BACKING_HUGETLB_2M, .leaf = TDP_2M },
	{ .backing = BACKING_HUGETLB_2M, .leaf = TDP_1G },
	{ .backing = BACKING_HUGETLB_1G, .leaf = TDP_2M },
	{ .backing = BACKING_HUGETLB_1G, .leaf = TDP_1G },
	{ .backing = BACKING_THP, .leaf = TDP_2M, .nr_vcpus = 1, .scenario = LOG_BEFORE_RUN },
	{ .backing = BACKING_HUGETLB_1G, .leaf = TDP_1G, .scenario = LOG_BEFORE_RUN },
	/* The mitigation changes how KVM maps huge pages. */
	{ .backing = BACKING_HUGETLB_2M, .leaf = TDP_2M, .nr_vcpus = 1, .nx_huge_pages = true },
	{ .backing = BACKING_THP, .leaf = TDP_2M, .nr_vcpus = 1, .scenario = LAZY },
	{ .backing = BACKING_HUGETLB_2M, .leaf = TDP_2M, .scenario = LAZY },
	{ .backing = BACKING_HUGETLB_1G, .leaf = TDP_1G, .nr_vcpus = 1, .scenario = LAZY },
	{ .backing = BACKING_HUGETLB_1G, .leaf = TDP_1G, .scenario = LAZY },
};


static enum tdp_level only_leaf;

static bool parse_leaf(const char *arg)
{
	if (strcmp(arg, "2M") && strcmp(arg, "1G"))
		return false;
	only_leaf = arg[0] == '2' ? TDP_2M : TDP_1G;
	return true;
}

static struct nmmu_cli cli = {
	.about = "eager splitting of nested huge pages when dirty logging goes on and off",
	.b = { "size of slots A and B; A is rounded up to 1G for hugetlb1g", 64ULL << 20,
	       .max = 2ULL << 30 },
	.s = { "only this backing: thp, hugetlb2m, hugetlb1g",
	       1 << BACKING_THP | 1 << BACKING_HUGETLB_2M | 1 << BACKING_HUGETLB_1G },
	.v = { "vCPUs of the multi-vCPU variants", 2 },
	.opts = (const struct nmmu_opt[]){
		{ 'l', "leaf", "only this L1 EPT/NPT leaf size: 2M or 1G", parse_leaf },
		{ 0 },
	},
};

struct run {
	const struct variant *v;
	struct nmmu f;
	struct nmmu_view *a, *b;
	uint32_t *pages;		/* a page list of A */
	uint64_t nr_4k;			/* A's 4K mappings when logging is turned off */
	struct page_stats pop;		/* after L2 populated A and B */
};

static void setup(struct run *r)
{
	const struct variant *v = r->v;
	enum backing_type b_backing = v->backing == BACKING_HUGETLB_1G ?
				      BACKING_HUGETLB_2M : v->backing;
	uint64_t a_size = v->backing == BACKING_HUGETLB_1G ? ALIGN_UP(cli.b.size, SZ_1G) :
			  cli.b.size;
	struct nmmu_slot *a, *b;

	test_check("setup");
	if (v->leaf == TDP_1G)
		TEST_REQUIRE(nested_has_1g(), "no 1G pages in L1's EPT/NPT or on the host");
	/* The expectations assume these knobs: set them, never inherit them. */
	kvm_param_require("kvm", "eager_page_split", v->scenario == LAZY ? "N" : "Y",
			  v->scenario != LAZY);
	kvm_param_require("kvm", "nx_huge_pages", v->nx_huge_pages ? "force" : "off",
			  v->nx_huge_pages);

	nmmu_create(&r->f);
	a = nmmu_slot_require(&r->f, SLOT_A, GPA_A, a_size, v->backing);
	b = nmmu_slot_require(&r->f, SLOT_B, GPA_B, cli.b.size, b_backing);
	r->a = nmmu_view_add(&r->f, a, 0, L2_GPA_A, v->leaf);
	r->b = nmmu_view_add(&r->f, b, 0, L2_GPA_B, v->leaf);
	r->pages = calloc(a->nr_pages, sizeof(*r->pages));
	TEST_ASSERT(r->pages, "out of memory");
	if (v->scenario == LOG_BEFORE_RUN)
		vm_dirty_log_enable(r->f.vm, SLOT_A);
	nmmu_start(&r->f, v->nr_vcpus ? v->nr_vcpus : cli.v.nr, NULL);
}

/*
 * A sparse list of A: every 7th page, or for a slot larger than 112 MiB
 * every 61st (8 pages in each 2M, each 4K fault while logging costs ~70 us
 * under TCG), and the last page.  Strides that are not powers of two land
 * at every offset of the huge pages.
 */
static uint64_t sparse_pages(struct run *r)
{
	uint64_t i, n, nr = r->a->slot->nr_pages, stride = nr > 7 * 4096 ? 61 : 7;

	for (n = 0, i = 0; i < nr; i++)
		if (i % stride == 0 || i == nr - 1)
			r->pages[n++] = i;
	return n;
}

/*
 * L2 writes every page of both slots: huge nested mappings.  When logging
 * on A is already on, L2 writes a sparse list of A instead: one 4K mapping
 * per page written and none for the others (writing all of a 1G slot one
 * 4K fault at a time costs a minute under Bochs and TCG).
 */
static void populate(struct run *r)
{
	bool logging = r->v->scenario == LOG_BEFORE_RUN;
	const char *phase = logging ? "populate with logging on A already on" : "populate";
	struct nmmu_delta d = { 0 };

	test_check("populate");
	r->nr_4k = r->a->slot->nr_pages;
	if (logging) {
		r->nr_4k = sparse_pages(r);
		nmmu_write_pages(&r->f, r->a, r->pages, r->nr_4k, 1);
	} else {
		nmmu_write(&r->f, r->a, 1);
	}
	nmmu_write(&r->f, r->b, 1);
	nmmu_delta_view(&d, r->b, 1);
	if (logging)
		nmmu_delta_maps(&d, SZ_4K, r->nr_4k);
	else
		nmmu_delta_view(&d, r->a, 1);
	nmmu_phase_end(&r->f, phase, &d);
	r->pop = r->f.last;
	if (logging) {
		test_check("populate-dirty");
		nmmu_assert_dirty(&r->f, r->a->slot, phase, NULL);
	}
}

/* Enabling logging on A splits all of A, 1G all the way to 4K, and not B. */
static void eager_split(struct run *r, const char *id, const char *phase)
{
	struct nmmu_delta d = { 0 };

	test_check(id);
	vm_dirty_log_enable(r->f.vm, SLOT_A);
	nmmu_delta_view(&d, r->a, -1);
	nmmu_delta_maps(&d, SZ_4K, r->a->slot->nr_pages);
	nmmu_phase_end(&r->f, phase, &d);
}

/* L2's writes to A show up in A's dirty bitmap, and nothing re-merges. */
static void logged_writes(struct run *r)
{
	uint64_t n;

	test_check("logging-writes");
	n = sparse_pages(r);
	nmmu_write_pages(&r->f, r->a, r->pages, n, 3);
	nmmu_phase_end(&r->f, "L2 writes to A while logging", &(struct nmmu_delta){ 0 });
	test_check("logging-dirty");
	nmmu_assert_dirty(&r->f, r->a->slot, "L2 writes to A while logging", NULL);
}

/* Logging off zaps A's 4K mappings at once (all of them are collapsible). */
static void disable(struct run *r, const char *id)
{
	struct nmmu_delta d = { 0 };

	test_check(id);
	vm_dirty_log_disable(r->f.vm, SLOT_A);
	nmmu_delta_maps(&d, SZ_4K, -(int64_t)r->nr_4k);
	nmmu_phase_end(&r->f, "disable logging on A (zap collapsible 4K mappings)", &d);
}

/* L2 touches A again: its huge mappings are back, as after populate. */
static void huge_return(struct run *r, const char *id, uint64_t tag)
{
	struct nmmu_delta d = { 0 };

	test_check(id);
	nmmu_write(&r->f, r->a, tag);
	nmmu_check(&r->f, r->a, tag);
	if (r->v->scenario == LOG_BEFORE_RUN) {
		/* Populate mapped part of A at 4K; now all of it is huge. */
		nmmu_delta_maps(&d, SZ_4K, -(int64_t)r->nr_4k);
		nmmu_delta_view(&d, r->a, 1);
	}
	nmmu_phase_end_since(&r->f, "logging off, L2 touches A again: A huge again "
			     "(counts of populate)", &r->pop, &d);
}

/*
 * eager_page_split=N: enabling logging splits nothing; a write to a huge
 * mapping breaks that one mapping, into one 4K mapping for the page.
 */
static void lazy_split(struct run *r)
{
	uint64_t ppm = r->a->map_size / SZ_4K, n, i;
	struct nmmu_delta d = { 0 };

	test_check("lazy-enable");
	vm_dirty_log_enable(r->f.vm, SLOT_A);
	nmmu_phase_end(&r->f, "enable logging on A with eager_page_split=N", &d);

	/* One page in every other nested mapping of A. */
	test_check("lazy-writes");
	for (n = 0, i = 0; i < r->a->nr_maps; i += 2)
		r->pages[n++] = i * ppm + (i * 37) % ppm;
	nmmu_write_pages(&r->f, r->a, r->pages, n, 5);
	nmmu_delta_maps(&d, r->a->map_size, -(int64_t)n);
	nmmu_delta_maps(&d, SZ_4K, n);
	nmmu_phase_end(&r->f, "L2 writes to A with eager_page_split=N (lazy split)", &d);
	test_check("lazy-dirty");
	nmmu_assert_dirty(&r->f, r->a->slot, "L2 writes to A with eager_page_split=N", NULL);
}

static void run_variant(void *arg)
{
	struct run r = { .v = arg };

	setup(&r);
	populate(&r);
	switch (r.v->scenario) {
	case TWO_CYCLES:
		eager_split(&r, "enable", "enable logging on A (eager split)");
		logged_writes(&r);
		disable(&r, "disable");
		huge_return(&r, "huge-return", 4);
		eager_split(&r, "second-enable", "enable logging on A again (second eager split)");
		disable(&r, "second-disable");
		huge_return(&r, "second-huge-return", 6);
		break;
	case LOG_BEFORE_RUN:
		disable(&r, "disable");
		huge_return(&r, "huge-return", 2);
		break;
	case LAZY:
		lazy_split(&r);
		break;
	}
	free(r.pages);
	nmmu_free(&r.f);
}

static bool selected(const void *p)
{
	const struct variant *v = p;

	return (cli.s.backing < 0 || (int)v->backing == cli.s.backing) &&
	       (!only_leaf || v->leaf == only_leaf);
}

static void variant_name(const void *p, char *buf, size_t len)
{
	const struct variant *v = p;
	int nr_vcpus = v->nr_vcpus ? v->nr_vcpus : cli.v.nr;

	snprintf(buf, len, "%s %s %s leaf %d vCPU%s%s%s%s",
		 nested_vendor_name(kvm_nested_vendor()), backing_name(v->backing),
		 tdp_level_name(v->leaf), nr_vcpus, nr_vcpus > 1 ? "s" : "",
		 v->scenario == LOG_BEFORE_RUN ? " logging on before L2 runs" : "",
		 v->scenario == LAZY ? " eager_page_split=N" : "",
		 v->nx_huge_pages ? " nx_huge_pages forced on" : "");
}

int main(int argc, char *argv[])
{
	return nmmu_main(&cli, &NMMU_TABLE(variants, .require = nmmu_require,
					   .select = selected, .name = variant_name,
					   .run = run_variant), argc, argv);
}
