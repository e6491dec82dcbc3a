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
#include "x86_64/nested_worker.h"
#include "x86_64/processor.h"

#define SLOT_A		1
#define SLOT_B		2
#define GPA_A		(4ULL << 30)
#define GPA_B		(6ULL << 30)
#define L2_GPA_A	(16ULL << 30)
#define L2_GPA_B	(32ULL << 30)

struct variant {
	enum backing_type backing;
	enum tdp_level leaf;
	int nr_vcpus;
	bool log_before_run;
	bool nx_huge_pages;	/* the iTLB multihit mitigation forced on */
};

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

static bool nx_huge_pages_on(void)
{
	return kvm_param_bool("kvm", "nx_huge_pages") == 1;
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

static void run_variant(void *arg)
{
	const struct variant *v = arg;
	struct region a, b;
	struct page_stats base, pop, on, wr, off, back, lazy0, lazy1;
	struct nested_worker *w;
	struct kvm_vm *vm;
	struct delta d;
	uint32_t *pages;
	uint64_t n, i, broken, ppm;
	enum backing_type b_backing = v->backing == BACKING_HUGETLB_1G ?
				      BACKING_HUGETLB_2M : v->backing;
	uint64_t a_size = v->backing == BACKING_HUGETLB_1G ? ALIGN_UP(opt_size, SZ_1G) : opt_size;
	const char *why;
	int ret;

	if (v->leaf == TDP_1G)
		TEST_REQUIRE(nested_has_1g(), "no 1G pages in L1's EPT/NPT or on the host");
	if (v->nx_huge_pages) {
		ret = __kvm_param_set("kvm", "nx_huge_pages", "force");
		TEST_REQUIRE(!ret, "kvm.nx_huge_pages is not writable: %s", strerror(-ret));
	}
	why = backing_reserve(v->backing, a_size);
	TEST_REQUIRE(!why, "slot A: %s", why);
	why = backing_reserve(b_backing, opt_size);
	TEST_REQUIRE(!why, "slot B: %s", why);

	vm = nested_vm_create(0);
	region_init(&a, SLOT_A, GPA_A, a_size, v->backing, L2_GPA_A, v->leaf);
	region_init(&b, SLOT_B, GPA_B, opt_size, b_backing, L2_GPA_B, v->leaf);
	vm_memslot_add(vm, SLOT_A, a.gpa, a.size, a.backing, 0);
	vm_memslot_add(vm, SLOT_B, b.gpa, b.size, b.backing, 0);
	why = vm_memslot_prefault(vm, SLOT_A);
	TEST_REQUIRE(!why, "slot A: %s", why);
	why = vm_memslot_prefault(vm, SLOT_B);
	TEST_REQUIRE(!why, "slot B: %s", why);
	tdp_map(vm, 0, a.l2_gpa, a.gpa, ALIGN_UP(a.size, tdp_level_size(v->leaf)), v->leaf);
	tdp_map(vm, 0, b.l2_gpa, b.gpa, ALIGN_UP(b.size, tdp_level_size(v->leaf)), v->leaf);
	pages = calloc(a.nr_pages, sizeof(*pages));
	TEST_ASSERT(pages, "out of memory");

	if (v->log_before_run)
		vm_dirty_log_enable(vm, SLOT_A);
	w = nested_worker_create(vm, v->nr_vcpus, NULL);
	vm_page_stats(vm, &base);

	/* 1: populate both slots through L2. */
	nested_worker_run_all(w, L2_OP_WRITE, a.gva, a.nr_pages, 1);
	nested_worker_run_all(w, L2_OP_WRITE, b.gva, b.nr_pages, 1);
	vm_page_stats(vm, &pop);
	d = (struct delta){ direct_map_tables(a.l2_gpa, a.size) +
			    direct_map_tables(b.l2_gpa, b.size), 0, 0 };
	region_huge(&b, 1, &d);
	if (v->log_before_run) {
		/*
		 * Logging was on before L2 ever ran: no nested MMU existed to
		 * split, and while logging is on L2's faults map A at 4K.
		 */
		d.d4k += a.nr_pages;
		assert_delta("populate with logging already on", &base, &pop, &d);
		for (i = 0; i < a.nr_pages; i++)
			pages[i] = i;
		check_dirty(vm, "populate with logging already on", &a, pages, a.nr_pages, 1);
		vm_dirty_log_disable(vm, SLOT_A);
		vm_page_stats(vm, &off);
		d = (struct delta){ -(int64_t)a.nr_pages, 0, 0 };
		assert_delta("disable logging on A (zap collapsible 4K mappings)", &pop, &off, &d);
		nested_worker_run_all(w, L2_OP_WRITE, a.gva, a.nr_pages, 2);
		nested_worker_run_all(w, L2_OP_CHECK, a.gva, a.nr_pages, 2);
		vm_page_stats(vm, &back);
		d = (struct delta){ -(int64_t)a.nr_pages, 0, 0 };
		region_huge(&a, 1, &d);
		assert_delta(nx_huge_pages_on() ? "logging off, L2 touches A again (with "
			     "kvm.nx_huge_pages=Y, KVM before 6.2 keeps mapping 4K under the "
			     "page tables the zap leaves: fixed by \"KVM: x86/mmu: explicitly "
			     "check nx_hugepage in disallowed_hugepage_adjust()\")" :
			     "logging off, L2 touches A again", &pop, &back, &d);
		goto out;
	}
	region_huge(&a, 1, &d);
	assert_delta("populate", &base, &pop, &d);

	/* 2: enabling logging on A splits all of A, 1G all the way to 4K. */
	vm_dirty_log_enable(vm, SLOT_A);
	vm_page_stats(vm, &on);
	d = (struct delta){ a.nr_pages, 0, 0 };
	region_huge(&a, -1, &d);
	assert_delta("enable dirty logging on A (eager split)", &pop, &on, &d);

	/* 3: L2's writes to A show up in A's dirty bitmap, nothing re-merges. */
	for (n = 0, i = 0; i < a.nr_pages; i++)
		if (i % 7 == 0 || i == a.nr_pages - 1)
			pages[n++] = i;
	write_list(w, &a, pages, n, 3);
	vm_page_stats(vm, &wr);
	d = (struct delta){ 0, 0, 0 };
	assert_delta("L2 writes to A while logging", &on, &wr, &d);
	check_dirty(vm, "L2 writes to A while logging", &a, pages, n, 3);

	/*
	 * 4: logging off zaps A's collapsible 4K mappings right away
	 * (kvm_mmu_zap_collapsible_sptes), and L2's next touch maps huge again.
	 */
	vm_dirty_log_disable(vm, SLOT_A);
	vm_page_stats(vm, &off);
	d = (struct delta){ -(int64_t)a.nr_pages, 0, 0 };
	assert_delta("disable logging on A (zap collapsible 4K mappings)", &wr, &off, &d);
	nested_worker_run_all(w, L2_OP_WRITE, a.gva, a.nr_pages, 4);
	nested_worker_run_all(w, L2_OP_CHECK, a.gva, a.nr_pages, 4);
	vm_page_stats(vm, &back);
	d = (struct delta){ 0, 0, 0 };
	assert_delta(nx_huge_pages_on() ? "logging off, L2 touches A again (back to populated; "
		     "with kvm.nx_huge_pages=Y, KVM before 6.2 keeps mapping 4K under the "
		     "page tables the zap leaves: fixed in v6.2 by \"KVM: x86/mmu: explicitly check "
		     "nx_hugepage in disallowed_hugepage_adjust()\")" :
		     "logging off, L2 touches A again (back to populated)", &pop, &back, &d);

	/*
	 * 4b: a second logging cycle splits A all over again: the huge
	 * mappings that came back are split as eagerly as the first ones.
	 */
	vm_dirty_log_enable(vm, SLOT_A);
	vm_page_stats(vm, &on);
	d = (struct delta){ a.nr_pages, 0, 0 };
	region_huge(&a, -1, &d);
	assert_delta(a.map_size == SZ_1G ?
		     "enable dirty logging on A again (second eager split; a 1G mapping "
		     "dropped without 4K mappings means KVM reused the 2M page table left "
		     "from the first cycle, whose entries still point to emptied 4K tables, "
		     "and split nothing: shadow_mmu_split_huge_page() skips present entries)" :
		     "enable dirty logging on A again (second eager split)", &back, &on, &d);
	vm_dirty_log_disable(vm, SLOT_A);
	nested_worker_run_all(w, L2_OP_WRITE, a.gva, a.nr_pages, 6);
	vm_page_stats(vm, &back);
	d = (struct delta){ 0, 0, 0 };
	assert_delta("logging off again, L2 touches A (back to populated)", &pop, &back, &d);

	/* 5: eager_page_split=N: nothing split up front, writes break what they hit. */
	ret = __kvm_param_set("kvm", "eager_page_split", "N");
	if (ret) {
		ksft_print_msg("kvm.eager_page_split is not writable (%s): lazy phase not run\n",
			       strerror(-ret));
		goto out;
	}
	vm_dirty_log_enable(vm, SLOT_A);
	vm_page_stats(vm, &lazy0);
	d = (struct delta){ 0, 0, 0 };
	assert_delta("enable logging with eager_page_split=N", &back, &lazy0, &d);

	/* One page in every other nested mapping of A. */
	ppm = a.map_size / SZ_4K;
	for (n = 0, broken = 0, i = 0; i < a.nr_maps; i++) {
		if (i % 2)
			continue;
		pages[n++] = i * ppm + (i * 37) % ppm;
		broken++;
	}
	write_list(w, &a, pages, n, 5);
	vm_page_stats(vm, &lazy1);
	d = (struct delta){ n, 0, 0 };
	if (a.map_size == SZ_2M)
		d.d2m = -(int64_t)broken;
	else if (a.map_size == SZ_1G)
		d.d1g = -(int64_t)broken;
	assert_delta("L2 writes with eager_page_split=N (lazy split)", &lazy0, &lazy1, &d);
	check_dirty(vm, "L2 writes with eager_page_split=N", &a, pages, n, 5);
	vm_dirty_log_disable(vm, SLOT_A);
	knobs_restore();

out:
	free(pages);
	nested_worker_free(w);
	vm_free(vm);
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
	static const enum backing_type backings[] = {
		BACKING_THP, BACKING_HUGETLB_2M, BACKING_HUGETLB_1G,
	};
	struct variant vs[2 * 3 * 2 + 3];
	int nr = 0, opt, nr_vcpus = 2, only_backing = -1, only_leaf = 0;
	unsigned int bi, li, ci;
	char desc[160];
	uint64_t v;

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
			if (parse_uint(optarg, NESTED_WORKER_MAX_VCPUS, &v) || v < 1) {
				fprintf(stderr, "-v: 1 to %d vCPUs\n", NESTED_WORKER_MAX_VCPUS);
				usage(argv[0], KSFT_FAIL);
			}
			nr_vcpus = (int)v;
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

	for (bi = 0; bi < ARRAY_SIZE(backings); bi++) {
		if (only_backing >= 0 && (int)backings[bi] != only_backing)
			continue;
		for (li = TDP_2M; li <= TDP_1G; li++) {
			if (only_leaf && (int)li != only_leaf)
				continue;
			for (ci = 0; ci < 2; ci++)
				vs[nr++] = (struct variant){
					.backing = backings[bi], .leaf = li,
					.nr_vcpus = ci ? nr_vcpus : 1,
				};
		}
	}
	if (only_backing < 0 && !only_leaf) {
		vs[nr++] = (struct variant){ .backing = BACKING_THP, .leaf = TDP_2M,
					     .nr_vcpus = 1, .log_before_run = true };
		vs[nr++] = (struct variant){ .backing = BACKING_HUGETLB_1G, .leaf = TDP_1G,
					     .nr_vcpus = nr_vcpus, .log_before_run = true };
		/* The iTLB multihit mitigation changes how KVM maps huge pages. */
		vs[nr++] = (struct variant){ .backing = BACKING_HUGETLB_2M, .leaf = TDP_2M,
					     .nr_vcpus = 1, .nx_huge_pages = true };
	}

	ksft_set_plan(nr);
	for (opt = 0; opt < nr; opt++) {
		/*
		 * The mitigation's state is part of the name: it changes what
		 * KVM does, and known issues are matched against the name.
		 */
		snprintf(desc, sizeof(desc), "%s %s %s leaf %d vCPU%s%s%s",
			 nested_vendor_name(kvm_nested_vendor()), backing_name(vs[opt].backing),
			 tdp_level_name(vs[opt].leaf), vs[opt].nr_vcpus,
			 vs[opt].nr_vcpus > 1 ? "s" : "",
			 vs[opt].log_before_run ? " logging on before L2 runs" : "",
			 vs[opt].nx_huge_pages ? " with nx_huge_pages forced on" :
			 nx_huge_pages_on() ? " with nx_huge_pages" : "");
		variant_run(desc, run_variant, &vs[opt]);
	}
	ksft_finished();
}
