// SPDX-License-Identifier: GPL-2.0
/*
 * Eager page splitting of the nested MMU when dirty logging is switched on
 * and off.  L2 maps two memslots, A and B, through huge EPT/NPT leaves;
 * KVM shadows them with huge mappings.  Enabling KVM_MEM_LOG_DIRTY_PAGES
 * on A must split every nested huge mapping of A down to 4K before the
 * ioctl returns (kvm_mmu_slot_apply_flags -> kvm_mmu_slot_try_split_huge_pages,
 * shadow-MMU part), leave B alone, log L2's writes in L1 GPA terms, and
 * let the huge mappings come back once logging is off
 * (kvm_mmu_zap_collapsible_sptes).  With kvm.eager_page_split=N nothing
 * may be split up front, and L2's writes break only the huge mappings
 * they land in.
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
	{ .backing = BACKING_THP, .leaf = TDP_2M },
	{ .backing = BACKING_THP, .leaf = TDP_1G, .nr_vcpus = 1 },
	{ .backing = BACKING_THP, .leaf = TDP_1G },
	{ .backing = BACKING_HUGETLB_2M, .leaf = TDP_2M, .nr_vcpus = 1 },
	{ .backing = BACKING_HUGETLB_2M, .leaf = TDP_2M },
	{ .backing = BACKING_HUGETLB_2M, .leaf = TDP_1G, .nr_vcpus = 1 },
	{ .backing = BACKING_HUGETLB_2M, .leaf = TDP_1G },
	{ .backing = BACKING_HUGETLB_1G, .leaf = TDP_2M, .nr_vcpus = 1 },
	{ .backing = BACKING_HUGETLB_1G, .leaf = TDP_2M },
	{ .backing = BACKING_HUGETLB_1G, .leaf = TDP_1G, .nr_vcpus = 1 },
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

static int opt_vcpus = 2;
static uint64_t opt_size = 64ULL << 20;

/* A memslot as L2 sees it, and the nested mappings it should get. */
struct region {
	uint32_t slot;
	gpa_t gpa;
	uint64_t size;
	enum backing_type backing;
	l2_gpa_t l2_gpa;
	enum tdp_level leaf;
	uint64_t map_size;	/* nested mapping size: min(leaf, host page) */
	uint64_t nr_pages;	/* 4K pages */
	uint64_t nr_maps;	/* nested mappings of map_size */
	gva_t gva;
};

static void region_init(struct region *r, uint32_t slot, gpa_t gpa, uint64_t size,
			enum backing_type backing, l2_gpa_t l2_gpa, enum tdp_level leaf)
{
	uint64_t host = backing_page_size(backing);

	r->slot = slot;
	r->gpa = gpa;
	r->size = size;
	r->backing = backing;
	r->l2_gpa = l2_gpa;
	r->leaf = leaf;
	/*
	 * KVM maps no larger than L1's leaf, the host page, and what fits in
	 * the memslot (a 1G leaf over a 64M slot gives 2M mappings).
	 */
	r->map_size = tdp_level_size(leaf) < host ? tdp_level_size(leaf) : host;
	while (r->map_size > SZ_4K && (r->map_size > size || !IS_ALIGNED(gpa, r->map_size)))
		r->map_size = r->map_size == SZ_1G ? SZ_2M : SZ_4K;
	r->nr_pages = size / SZ_4K;
	r->nr_maps = size / r->map_size;
	r->gva = direct_gva(l2_gpa);
}

/* Expected change of the page counters, per level. */
struct delta {
	int64_t d4k, d2m, d1g;
};

static void region_huge(const struct region *r, int64_t sign, struct delta *d)
{
	if (r->map_size == SZ_2M)
		d->d2m += sign * (int64_t)r->nr_maps;
	else if (r->map_size == SZ_1G)
		d->d1g += sign * (int64_t)r->nr_maps;
	else
		d->d4k += sign * (int64_t)r->nr_maps;
}

static void assert_delta(const char *phase, const struct page_stats *from,
			 const struct page_stats *to, const struct delta *exp)
{
	int64_t d4k = (int64_t)(to->pages_4k - from->pages_4k);
	int64_t d2m = (int64_t)(to->pages_2m - from->pages_2m);
	int64_t d1g = (int64_t)(to->pages_1g - from->pages_1g);

	pr_debug("%-40s 4K %+ld 2M %+ld 1G %+ld\n", phase, d4k, d2m, d1g);
	TEST_ASSERT(d4k == exp->d4k && d2m == exp->d2m && d1g == exp->d1g,
		    "%s: expected the 4K/2M/1G mapping counts to change by "
		    "%+ld/%+ld/%+ld, found %+ld/%+ld/%+ld",
		    phase, exp->d4k, exp->d2m, exp->d1g, d4k, d2m, d1g);
}

/* Hand a page list out to the vCPUs in contiguous pieces and run it. */
static void write_list(struct nested_worker *w, const struct region *r,
		       const uint32_t *pages, uint64_t n, uint64_t tag)
{
	int i;

	for (i = 0; i < w->nr_vcpus; i++) {
		uint64_t lo = n * i / w->nr_vcpus, hi = n * (i + 1) / w->nr_vcpus;
		struct l2_cmd c = { .op = L2_OP_WRITE_LIST, .gva = r->gva,
				    .tag = tag, .list_len = hi - lo };

		memcpy(nested_worker_list(w, i), pages + lo, (hi - lo) * sizeof(*pages));
		nested_worker_run(w, i, &c);
	}
}

/*
 * The dirty bitmap must hold exactly the written pages: a written page
 * missing is a lost write, an unwritten page present is a false report
 * (nothing else writes the slot).  And the host must see what L2 wrote.
 */
static void check_dirty(struct kvm_vm *vm, const char *phase, const struct region *r,
			const uint32_t *pages, uint64_t n, uint64_t tag)
{
	unsigned long *bitmap = bitmap_zalloc(r->nr_pages);
	unsigned long *written = bitmap_zalloc(r->nr_pages);
	char *hva = vm_memslot(vm, r->slot)->hva;
	struct dirty_diff diff;
	uint64_t i;

	for (i = 0; i < n; i++) {
		uint64_t v = *(uint64_t *)(hva + (uint64_t)pages[i] * SZ_4K);

		bitmap_set_bit(written, pages[i]);
		TEST_ASSERT(v == l2_page_value(tag, pages[i]),
			    "%s: page %u of slot %u holds 0x%lx on the host, L2 wrote 0x%lx",
			    phase, pages[i], r->slot, v, l2_page_value(tag, pages[i]));
	}
	vm_dirty_log_get(vm, r->slot, bitmap);
	dirty_diff(bitmap, written, r->nr_pages, &diff);
	TEST_ASSERT(!diff.missing && !diff.extra,
		    "%s: dirty log of slot %u: %lu written pages not reported dirty, "
		    "%lu unwritten pages reported dirty (first mismatch: page %lu), "
		    "of %lu written",
		    phase, r->slot, diff.missing, diff.extra, diff.first, n);
	free(bitmap);
	free(written);
}

/* One variant's VM, its two slots, and the counts of the phase before. */
struct run {
	const struct variant *v;
	struct kvm_vm *vm;
	struct nested_worker *w;
	struct region a, b;
	uint32_t *pages;		/* a page list of A */
	struct page_stats base;		/* before L2 touched A and B */
	struct page_stats pop;		/* after L2 populated A and B */
	struct page_stats last;		/* after the previous phase */
};

/* Take the counts after a phase and assert their change since from. */
static void phase_end(struct run *r, const char *phase, const struct page_stats *from,
		      const struct delta *exp)
{
	struct page_stats now;

	vm_page_stats(r->vm, &now);
	assert_delta(phase, from, &now, exp);
	r->last = now;
}

static void run_setup(struct run *r, const struct variant *v)
{
	enum backing_type b_backing = v->backing == BACKING_HUGETLB_1G ?
				      BACKING_HUGETLB_2M : v->backing;
	uint64_t a_size = v->backing == BACKING_HUGETLB_1G ? ALIGN_UP(opt_size, SZ_1G) : opt_size;
	const char *why;

	test_check("setup");
	r->v = v;
	if (v->leaf == TDP_1G)
		TEST_REQUIRE(nested_has_1g(), "no 1G pages in L1's EPT/NPT or on the host");
	/* The expectations assume these knobs: set them, never inherit them. */
	kvm_param_require("kvm", "eager_page_split", v->scenario == LAZY ? "N" : "Y",
			  v->scenario != LAZY);
	kvm_param_require("kvm", "nx_huge_pages", v->nx_huge_pages ? "force" : "off",
			  v->nx_huge_pages);
	why = backing_reserve(v->backing, a_size);
	TEST_REQUIRE(!why, "slot A: %s", why);
	why = backing_reserve(b_backing, opt_size);
	TEST_REQUIRE(!why, "slot B: %s", why);

	r->vm = nested_vm_create(0);
	region_init(&r->a, SLOT_A, GPA_A, a_size, v->backing, L2_GPA_A, v->leaf);
	region_init(&r->b, SLOT_B, GPA_B, opt_size, b_backing, L2_GPA_B, v->leaf);
	vm_memslot_add(r->vm, SLOT_A, r->a.gpa, r->a.size, r->a.backing, 0);
	vm_memslot_add(r->vm, SLOT_B, r->b.gpa, r->b.size, r->b.backing, 0);
	why = vm_memslot_prefault(r->vm, SLOT_A);
	TEST_REQUIRE(!why, "slot A: %s", why);
	why = vm_memslot_prefault(r->vm, SLOT_B);
	TEST_REQUIRE(!why, "slot B: %s", why);
	tdp_map(r->vm, 0, r->a.l2_gpa, r->a.gpa, ALIGN_UP(r->a.size, tdp_level_size(v->leaf)),
		v->leaf);
	tdp_map(r->vm, 0, r->b.l2_gpa, r->b.gpa, ALIGN_UP(r->b.size, tdp_level_size(v->leaf)),
		v->leaf);
	r->pages = calloc(r->a.nr_pages, sizeof(*r->pages));
	TEST_ASSERT(r->pages, "out of memory");

	if (v->scenario == LOG_BEFORE_RUN)
		vm_dirty_log_enable(r->vm, SLOT_A);
	r->w = nested_worker_create(r->vm, v->nr_vcpus ? v->nr_vcpus : opt_vcpus, NULL);
	vm_page_stats(r->vm, &r->base);
}

/*
 * L2 writes every page of both slots: huge nested mappings, except for A
 * when logging is already on (4K while logging).
 */
static void phase_populate(struct run *r)
{
	bool logging = r->v->scenario == LOG_BEFORE_RUN;
	struct delta d = { direct_map_tables(r->a.l2_gpa, r->a.size) +
			   direct_map_tables(r->b.l2_gpa, r->b.size), 0, 0 };
	uint64_t i;

	test_check("populate");
	nested_worker_run_all(r->w, L2_OP_WRITE, r->a.gva, r->a.nr_pages, 1);
	nested_worker_run_all(r->w, L2_OP_WRITE, r->b.gva, r->b.nr_pages, 1);
	region_huge(&r->b, 1, &d);
	if (logging)
		d.d4k += r->a.nr_pages;
	else
		region_huge(&r->a, 1, &d);
	phase_end(r, logging ? "populate with logging on A already on" : "populate",
		  &r->base, &d);
	r->pop = r->last;
	if (logging) {
		test_check("populate-dirty");
		for (i = 0; i < r->a.nr_pages; i++)
			r->pages[i] = i;
		check_dirty(r->vm, "populate with logging on A already on", &r->a, r->pages,
			    r->a.nr_pages, 1);
	}
}

/* Enabling logging on A splits all of A, 1G all the way to 4K, and not B. */
static void phase_eager_split(struct run *r, const char *id, const char *phase)
{
	struct delta d = { r->a.nr_pages, 0, 0 };
	struct page_stats from = r->last;

	test_check(id);
	vm_dirty_log_enable(r->vm, SLOT_A);
	region_huge(&r->a, -1, &d);
	phase_end(r, phase, &from, &d);
}

/* L2's writes to A show up in A's dirty bitmap, and nothing re-merges. */
static void phase_logged_writes(struct run *r)
{
	struct delta d = { 0, 0, 0 };
	struct page_stats from = r->last;
	uint64_t i, n;

	test_check("logging-writes");
	for (n = 0, i = 0; i < r->a.nr_pages; i++)
		if (i % 7 == 0 || i == r->a.nr_pages - 1)
			r->pages[n++] = i;
	write_list(r->w, &r->a, r->pages, n, 3);
	phase_end(r, "L2 writes to A while logging", &from, &d);
	test_check("logging-dirty");
	check_dirty(r->vm, "L2 writes to A while logging", &r->a, r->pages, n, 3);
}

/* Logging off zaps A's 4K mappings at once (all of them are collapsible). */
static void phase_disable(struct run *r, const char *id)
{
	struct delta d = { -(int64_t)r->a.nr_pages, 0, 0 };
	struct page_stats from = r->last;

	test_check(id);
	vm_dirty_log_disable(r->vm, SLOT_A);
	phase_end(r, "disable logging on A (zap collapsible 4K mappings)", &from, &d);
}

/* L2 touches A again: its huge mappings are back, as after populate. */
static void phase_huge_return(struct run *r, const char *id, uint64_t tag)
{
	struct delta d = { 0, 0, 0 };

	test_check(id);
	nested_worker_run_all(r->w, L2_OP_WRITE, r->a.gva, r->a.nr_pages, tag);
	nested_worker_run_all(r->w, L2_OP_CHECK, r->a.gva, r->a.nr_pages, tag);
	if (r->v->scenario == LOG_BEFORE_RUN) {
		/* Populate mapped A at 4K; now it is huge. */
		d.d4k = -(int64_t)r->a.nr_pages;
		region_huge(&r->a, 1, &d);
	}
	phase_end(r, "logging off, L2 touches A again: A huge again (counts of populate)",
		  &r->pop, &d);
}

/*
 * eager_page_split=N: enabling logging splits nothing; a write to a huge
 * mapping breaks that one mapping, into one 4K mapping for the page.
 */
static void phase_lazy(struct run *r)
{
	struct delta d = { 0, 0, 0 };
	struct page_stats from = r->last;
	uint64_t ppm = r->a.map_size / SZ_4K, n, i;

	test_check("lazy-enable");
	vm_dirty_log_enable(r->vm, SLOT_A);
	phase_end(r, "enable logging on A with eager_page_split=N", &from, &d);

	/* One page in every other nested mapping of A. */
	test_check("lazy-writes");
	for (n = 0, i = 0; i < r->a.nr_maps; i += 2)
		r->pages[n++] = i * ppm + (i * 37) % ppm;
	from = r->last;
	write_list(r->w, &r->a, r->pages, n, 5);
	d.d4k = n;
	if (r->a.map_size == SZ_2M)
		d.d2m = -(int64_t)n;
	else if (r->a.map_size == SZ_1G)
		d.d1g = -(int64_t)n;
	phase_end(r, "L2 writes to A with eager_page_split=N (lazy split)", &from, &d);
	test_check("lazy-dirty");
	check_dirty(r->vm, "L2 writes to A with eager_page_split=N", &r->a, r->pages, n, 5);
}

static void run_variant(void *arg)
{
	struct run r = { 0 };

	run_setup(&r, arg);
	phase_populate(&r);
	switch (r.v->scenario) {
	case TWO_CYCLES:
		phase_eager_split(&r, "enable", "enable logging on A (eager split)");
		phase_logged_writes(&r);
		phase_disable(&r, "disable");
		phase_huge_return(&r, "huge-return", 4);
		phase_eager_split(&r, "second-enable",
				  "enable logging on A again (second eager split)");
		phase_disable(&r, "second-disable");
		phase_huge_return(&r, "second-huge-return", 6);
		break;
	case LOG_BEFORE_RUN:
		phase_disable(&r, "disable");
		phase_huge_return(&r, "huge-return", 2);
		break;
	case LAZY:
		phase_lazy(&r);
		break;
	}
	free(r.pages);
	nested_worker_free(r.w);
	vm_free(r.vm);
}

static void usage(const char *name, int code)
{
	printf("usage: %s [-b size] [-v vcpus] [-s backing] [-l 2M|1G] [-V] [-h]\n"
	       "  -b size     size of slots A and B (default 64M, 2M multiple; slot A\n"
	       "              is rounded up to 1G for the hugetlb1g backing)\n"
	       "  -v vcpus    vCPUs of the multi-vCPU variants (default 2, max %d)\n"
	       "  -s backing  only this backing: thp, hugetlb2m, hugetlb1g\n"
	       "  -l leaf     only this L1 EPT/NPT leaf size: 2M or 1G\n"
	       "  -V          print page count changes per phase\n"
	       "  -h          this help\n", name, NESTED_WORKER_MAX_VCPUS);
	exit(code);
}

int main(int argc, char *argv[])
{
	int nr = 0, opt, only_backing = -1, only_leaf = 0;
	char desc[160];
	unsigned int i;
	uint64_t val;

	while ((opt = getopt(argc, argv, "b:v:s:l:Vh")) != -1) {
		enum backing_type b;

		switch (opt) {
		case 'b':
			if (parse_size(optarg, &opt_size) || !opt_size ||
			    !IS_ALIGNED(opt_size, SZ_2M)) {
				fprintf(stderr, "-b: '%s' is not a size in 2M multiples\n", optarg);
				usage(argv[0], KSFT_FAIL);
			}
			break;
		case 'v':
			if (parse_uint(optarg, NESTED_WORKER_MAX_VCPUS, &val) || val < 1) {
				fprintf(stderr, "-v: 1 to %d vCPUs\n", NESTED_WORKER_MAX_VCPUS);
				usage(argv[0], KSFT_FAIL);
			}
			opt_vcpus = (int)val;
			break;
		case 's':
			if (backing_parse(optarg, &b) || b == BACKING_ANON_4K) {
				fprintf(stderr, "-s: '%s' is not a huge backing\n", optarg);
				usage(argv[0], KSFT_FAIL);
			}
			only_backing = b;
			break;
		case 'l':
			if (strcmp(optarg, "2M") && strcmp(optarg, "1G")) {
				fprintf(stderr, "-l: 2M or 1G\n");
				usage(argv[0], KSFT_FAIL);
			}
			only_leaf = optarg[0] == '2' ? TDP_2M : TDP_1G;
			break;
		default:
			test_opt_common(opt, usage, argv[0]);
		}
	}
	if (optind < argc)
		usage(argv[0], KSFT_FAIL);

	ksft_print_header();
	nested_require(false);

#define SELECTED(v)	((only_backing < 0 || (int)(v)->backing == only_backing) && \
			 (!only_leaf || (int)(v)->leaf == only_leaf))
	for (i = 0; i < ARRAY_SIZE(variants); i++)
		nr += SELECTED(&variants[i]);
	ksft_set_plan(nr);
	for (i = 0; i < ARRAY_SIZE(variants); i++) {
		const struct variant *v = &variants[i];
		int nr_vcpus = v->nr_vcpus ? v->nr_vcpus : opt_vcpus;

		if (!SELECTED(v))
			continue;
		snprintf(desc, sizeof(desc), "%s %s %s leaf %d vCPU%s%s%s%s",
			 nested_vendor_name(kvm_nested_vendor()), backing_name(v->backing),
			 tdp_level_name(v->leaf), nr_vcpus, nr_vcpus > 1 ? "s" : "",
			 v->scenario == LOG_BEFORE_RUN ? " logging on before L2 runs" : "",
			 v->scenario == LAZY ? " eager_page_split=N" : "",
			 v->nx_huge_pages ? " nx_huge_pages forced on" : "");
		variant_run(desc, run_variant, (void *)v);
	}
	ksft_finished();
}
