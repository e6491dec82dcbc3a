// SPDX-License-Identifier: GPL-2.0
/*
 * Dirty tracking stays exact across nested huge page splitting.  Several
 * vCPUs in L2 write pseudo-random pages of huge-mapped memory (a fresh
 * value per page per iteration), all at once, and the host harvests the
 * log after every iteration: classic (KVM_GET_DIRTY_LOG re-protects) or
 * manual-protect with INITIALLY_SET (GET, then CLEAR re-protects and, with
 * eager_page_split=Y, splits), with eager splitting on and off, and
 * writing directly or through a second L2 alias of the same L1 memory.
 * Every page written since the last harvest must be reported, in L1 GPA
 * terms, and hold what L2 wrote.
 */
#include "x86_64/kvm_caps.h"
#include "x86_64/nested_mmu.h"
#include "variant.h"

#define SLOT_A		1
#define GPA_A		(4ULL << 30)
#define L2_GPA_A	(16ULL << 30)
#define L2_GPA_ALIAS	(32ULL << 30)

struct variant {
	enum backing_type backing;
	bool manual;
	bool eager;
	bool alias;
};

static const struct variant variants[] = {
	{ .backing = BACKING_HUGETLB_2M, .eager = true },
	{ .backing = BACKING_HUGETLB_2M },
	{ .backing = BACKING_HUGETLB_2M, .manual = true, .eager = true },
	{ .backing = BACKING_HUGETLB_2M, .manual = true },
	{ .backing = BACKING_HUGETLB_2M, .eager = true, .alias = true },
	{ .backing = BACKING_HUGETLB_2M, .manual = true, .alias = true },
	{ .backing = BACKING_HUGETLB_1G, .eager = true },
	{ .backing = BACKING_HUGETLB_1G, .manual = true, .eager = true, .alias = true },
};

static uint64_t opt_iters = 8;
static uint64_t opt_writes = 1024;	/* per vCPU per iteration */
static uint64_t opt_seed = 0x5eed;

static bool parse_iters(const char *arg)
{
	return !parse_uint(arg, 1000000, &opt_iters) && opt_iters;
}

static bool parse_writes(const char *arg)
{
	return !parse_uint(arg, NESTED_WORKER_LIST_MAX, &opt_writes) && opt_writes;
}

static bool parse_seed(const char *arg)
{
	return !parse_uint(arg, UINT64_MAX, &opt_seed) && opt_seed;
}

static struct nmmu_cli cli = {
	.about = "the dirty log stays exact while nested huge pages are split",
	.b = { "slot size; the 1G backing rounds it up to 1G", 64ULL << 20,
	       .max = 16ULL << 30 },
	.v = { "vCPUs writing at once", 2 },
	.verbose = "per-iteration counts",
	.opts = (const struct nmmu_opt[]){
		{ 'i', "iterations", "write/harvest rounds (default 8, at most 1000000)",
		  parse_iters },
		{ 'w', "writes", "random page writes per vCPU per round (default 1024,\n"
				 "                at most 262144)", parse_writes },
		{ 'S', "seed", "random seed, a non-zero decimal (default 24301)", parse_seed },
		{ 0 },
	},
};

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64: cheap, deterministic from the printed seed. */
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void run_variant(void *arg)
{
	const struct variant *v = arg;
	bool is_1g = v->backing == BACKING_HUGETLB_1G;
	uint64_t size = is_1g ? ALIGN_UP(cli.b.size, SZ_1G) : cli.b.size;
	enum tdp_level leaf = is_1g ? TDP_1G : TDP_2M;
	struct nmmu_write writes[NESTED_WORKER_MAX_VCPUS];
	uint32_t *lists[NESTED_WORKER_MAX_VCPUS];
	struct nmmu_view *direct, *alias = NULL;
	uint64_t it, i, n, seed = opt_seed, nr_pages, slice;
	struct nmmu_slot *s;
	unsigned long *dirty;
	struct nmmu f;
	char phase[64];
	int c;

	test_check("setup");
	if (is_1g)
		TEST_REQUIRE(nested_has_1g(), "no 1G pages in L1's EPT/NPT or on the host");
	if (v->manual)
		TEST_REQUIRE(kvm_has_manual_protect(true),
			     "KVM lacks KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 with INITIALLY_SET");
	/* The variant says which splitting it tests: set it, never inherit it. */
	kvm_param_require("kvm", "eager_page_split", v->eager ? "Y" : "N", v->eager);

	nmmu_create(&f);
	if (v->manual)
		vm_manual_protect_enable(f.vm, true);
	s = nmmu_slot_require(&f, SLOT_A, GPA_A, size, v->backing);
	direct = nmmu_view_add(&f, s, 0, L2_GPA_A, leaf);
	if (v->alias)
		alias = nmmu_view_add(&f, s, 0, L2_GPA_ALIAS, leaf);
	nmmu_start(&f, cli.v.nr, NULL);
	nr_pages = s->nr_pages;
	slice = nr_pages / cli.v.nr;
	dirty = bitmap_zalloc(nr_pages);

	/* Huge mappings first, through every alias, so there is something to split. */
	test_check("populate");
	nmmu_write(&f, direct, 0);
	if (alias)
		nmmu_write(&f, alias, 0);

	test_check("enable");
	vm_dirty_log_enable(f.vm, SLOT_A);
	vm_dirty_log_get(f.vm, SLOT_A, dirty);
	n = bitmap_weight(dirty, nr_pages);
	if (v->manual) {
		/* INITIALLY_SET: every page starts dirty; clearing it all re-protects. */
		TEST_ASSERT(n == nr_pages, "enable logging with INITIALLY_SET: expected all %lu "
			    "pages dirty, found %lu", nr_pages, n);
		vm_dirty_log_clear(f.vm, SLOT_A, dirty, 0, (uint32_t)nr_pages);
	} else {
		TEST_ASSERT(!n, "enable logging (classic): expected no dirty page before L2 "
			    "writes, found %lu", n);
	}

	test_check("harvest");
	for (c = 0; c < cli.v.nr; c++) {
		lists[c] = calloc(opt_writes, sizeof(*lists[c]));
		TEST_ASSERT(lists[c], "out of memory");
	}
	for (it = 1; it <= opt_iters; it++) {
		uint64_t tag = it << 40 | (opt_seed & 0xffffffffff);

		for (c = 0; c < cli.v.nr; c++) {
			for (i = 0; i < opt_writes; i++)
				lists[c][i] = (uint32_t)(c * slice + rnd(&seed) % slice);
			/* Alternate the alias per vCPU and iteration. */
			writes[c] = (struct nmmu_write){
				.view = alias && ((it + c) & 1) ? alias : direct,
				.pages = lists[c], .n = opt_writes, .tag = tag,
			};
		}
		nmmu_write_parallel(&f, writes);
		pr_debug("iteration %lu: %lu pages written\n", it,
			 bitmap_weight(s->written, nr_pages));
		/*
		 * Nothing but L2's writes touches the slot, and KVM marks a page
		 * dirty only when a write faults on a write-protected SPTE,
		 * which each harvest re-arms for exactly the pages it reports:
		 * no page may be reported that was not written.
		 */
		snprintf(phase, sizeof(phase), "iteration %lu", it);
		nmmu_assert_dirty(&f, s, phase, dirty);
		if (v->manual)
			vm_dirty_log_clear(f.vm, SLOT_A, dirty, 0, (uint32_t)nr_pages);
	}
	for (c = 0; c < cli.v.nr; c++)
		free(lists[c]);
	free(dirty);
	nmmu_free(&f);
}

static void require(void)
{
	nested_require(false);
	ksft_print_msg("seed %lu, %lu iterations, %d vCPUs x %lu writes\n",
		       opt_seed, opt_iters, cli.v.nr, opt_writes);
}

static void variant_name(const void *p, char *buf, size_t len)
{
	const struct variant *v = p;

	snprintf(buf, len, "%s %s %s eager_page_split=%c%s",
		 nested_vendor_name(kvm_nested_vendor()), backing_name(v->backing),
		 v->manual ? "manual-protect" : "classic", v->eager ? 'Y' : 'N',
		 v->alias ? " through an alias" : "");
}

int main(int argc, char *argv[])
{
	return nmmu_main(&cli, &NMMU_TABLE(variants, .require = require, .name = variant_name,
					   .run = run_variant), argc, argv);
}
