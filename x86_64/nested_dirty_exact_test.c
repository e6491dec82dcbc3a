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
#define L2_GPA_ALIAS	(32ULL << 30)

struct variant {
	enum backing_type backing;
	bool manual;
	bool eager;
	bool alias;
};

static uint64_t opt_size = 64ULL << 20;
static uint64_t opt_iters = 8;
static uint64_t opt_writes = 1024;	/* per vCPU per iteration */
static int opt_vcpus = 2;
static uint64_t opt_seed = 0x5eed;

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
	uint64_t size = is_1g ? ALIGN_UP(opt_size, SZ_1G) : opt_size;
	enum tdp_level leaf = is_1g ? TDP_1G : TDP_2M;
	uint64_t nr_pages = size / SZ_4K, slice = nr_pages / opt_vcpus;
	struct l2_cmd cmds[NESTED_WORKER_MAX_VCPUS];
	unsigned long *dirty, *written;
	uint64_t it, i, seed = opt_seed, n;
	struct nested_worker *w;
	struct kvm_vm *vm;
	const char *why;
	char *hva;
	int c;

	test_check("setup");
	if (is_1g)
		TEST_REQUIRE(nested_has_1g(), "no 1G pages in L1's EPT/NPT or on the host");
	if (v->manual)
		TEST_REQUIRE(kvm_has_manual_protect(true),
			     "KVM lacks KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 with INITIALLY_SET");
	why = backing_reserve(v->backing, size);
	TEST_REQUIRE(!why, "%s", why);
	/* The variant says which splitting it tests: set it, never inherit it. */
	kvm_param_require("kvm", "eager_page_split", v->eager ? "Y" : "N", v->eager);

	vm = nested_vm_create(0);
	if (v->manual)
		vm_manual_protect_enable(vm, true);
	vm_memslot_add(vm, SLOT_A, GPA_A, size, v->backing, 0);
	why = vm_memslot_prefault(vm, SLOT_A);
	TEST_REQUIRE(!why, "%s", why);
	hva = vm_memslot(vm, SLOT_A)->hva;
	tdp_map(vm, 0, L2_GPA_A, GPA_A, size, leaf);
	if (v->alias)
		tdp_map(vm, 0, L2_GPA_ALIAS, GPA_A, size, leaf);
	w = nested_worker_create(vm, opt_vcpus, NULL);
	dirty = bitmap_zalloc(nr_pages);
	written = bitmap_zalloc(nr_pages);

	/* Huge mappings first, through every alias, so there is something to split. */
	test_check("populate");
	nested_worker_run_all(w, L2_OP_WRITE, direct_gva(L2_GPA_A), nr_pages, 0);
	if (v->alias)
		nested_worker_run_all(w, L2_OP_WRITE, direct_gva(L2_GPA_ALIAS), nr_pages, 0);

	test_check("enable");
	vm_dirty_log_enable(vm, SLOT_A);
	vm_dirty_log_get(vm, SLOT_A, dirty);
	n = bitmap_weight(dirty, nr_pages);
	if (v->manual) {
		/* INITIALLY_SET: every page starts dirty; clearing it all re-protects. */
		TEST_ASSERT(n == nr_pages, "INITIALLY_SET: expected all %lu pages dirty "
			    "right after enabling, found %lu", nr_pages, n);
		vm_dirty_log_clear(vm, SLOT_A, dirty, 0, (uint32_t)nr_pages);
	} else {
		TEST_ASSERT(!n, "classic mode: expected no dirty page before L2 writes, "
			    "found %lu", n);
	}

	test_check("harvest");
	for (it = 1; it <= opt_iters; it++) {
		uint64_t wrong = 0, tag = it << 40 | (opt_seed & 0xffffffffff);
		struct dirty_diff diff;

		bitmap_zero_all(written, nr_pages);
		for (c = 0; c < opt_vcpus; c++) {
			uint32_t *list = nested_worker_list(w, c);
			/* Alternate the alias per vCPU and iteration. */
			bool via_alias = v->alias && ((it + c) & 1);

			for (i = 0; i < opt_writes; i++) {
				list[i] = (uint32_t)(c * slice + rnd(&seed) % slice);
				bitmap_set_bit(written, list[i]);
			}
			cmds[c] = (struct l2_cmd){
				.op = L2_OP_WRITE_LIST, .tag = tag, .list_len = opt_writes,
				.gva = direct_gva(via_alias ? L2_GPA_ALIAS : L2_GPA_A),
			};
		}
		nested_worker_run_parallel(w, cmds);

		vm_dirty_log_get(vm, SLOT_A, dirty);
		if (v->manual)
			vm_dirty_log_clear(vm, SLOT_A, dirty, 0, (uint32_t)nr_pages);

		/*
		 * Nothing but L2's writes touches the slot, and KVM marks a page
		 * dirty only when a write faults on a write-protected SPTE,
		 * which each harvest re-arms for exactly the pages it reports.
		 * So the bound on pages reported but not written is zero.
		 */
		for (i = 0; i < nr_pages; i++)
			if (bitmap_test(written, i) &&
			    *(uint64_t *)(hva + i * SZ_4K) != l2_page_value(tag, i))
				wrong++;
		dirty_diff(dirty, written, nr_pages, &diff);
		pr_debug("iteration %lu: %lu pages written, %lu missing, %lu extra\n",
			 it, bitmap_weight(written, nr_pages), diff.missing, diff.extra);
		TEST_ASSERT(!diff.missing && !diff.extra && !wrong,
			    "iteration %lu: of %lu pages L2 wrote, %lu not reported dirty and "
			    "%lu with the wrong contents on the host; %lu reported dirty "
			    "without a write (allowed: 0); first mismatch at page %lu",
			    it, bitmap_weight(written, nr_pages), diff.missing, wrong, diff.extra,
			    diff.first);
	}
	free(dirty);
	free(written);
	nested_worker_free(w);
	vm_free(vm);
}

static void usage(const char *name, int code)
{
	printf("usage: %s [-b size] [-i iterations] [-w writes] [-v vcpus] [-S seed] [-V] [-h]\n"
	       "  -b size        memslot size for 2M backing (default 64M; 1G backing uses 1G)\n"
	       "  -i iterations  write/harvest rounds (default 8)\n"
	       "  -w writes      random page writes per vCPU per round (default 1024)\n"
	       "  -v vcpus       vCPUs writing at once (default 2, max %d)\n"
	       "  -S seed        random seed (default 0x5eed)\n"
	       "  -V             per-iteration counts\n"
	       "  -h             this help\n", name, NESTED_WORKER_MAX_VCPUS);
	exit(code);
}

int main(int argc, char *argv[])
{
	struct variant vs[] = {
		{ BACKING_HUGETLB_2M, false, true, false },
		{ BACKING_HUGETLB_2M, false, false, false },
		{ BACKING_HUGETLB_2M, true, true, false },
		{ BACKING_HUGETLB_2M, true, false, false },
		{ BACKING_HUGETLB_2M, false, true, true },
		{ BACKING_HUGETLB_2M, true, false, true },
		{ BACKING_HUGETLB_1G, false, true, false },
		{ BACKING_HUGETLB_1G, true, true, true },
	};
	char desc[160];
	unsigned int i;
	uint64_t val;
	int opt;

	while ((opt = getopt(argc, argv, "b:i:w:v:S:Vh")) != -1) {
		switch (opt) {
		case 'b':
			if (parse_size(optarg, &opt_size) || !opt_size ||
			    !IS_ALIGNED(opt_size, SZ_2M)) {
				fprintf(stderr, "-b: '%s' is not a size in 2M multiples\n", optarg);
				usage(argv[0], KSFT_FAIL);
			}
			break;
		case 'i':
			if (parse_uint(optarg, 1000000, &opt_iters) || !opt_iters) {
				fprintf(stderr, "-i: 1 to 1000000 iterations\n");
				usage(argv[0], KSFT_FAIL);
			}
			break;
		case 'w':
			if (parse_uint(optarg, NESTED_WORKER_LIST_MAX, &opt_writes) || !opt_writes) {
				fprintf(stderr, "-w: 1 to %d writes\n", NESTED_WORKER_LIST_MAX);
				usage(argv[0], KSFT_FAIL);
			}
			break;
		case 'v':
			if (parse_uint(optarg, NESTED_WORKER_MAX_VCPUS, &val) || !val) {
				fprintf(stderr, "-v: 1 to %d vCPUs\n", NESTED_WORKER_MAX_VCPUS);
				usage(argv[0], KSFT_FAIL);
			}
			opt_vcpus = (int)val;
			break;
		case 'S':
			if (parse_uint(optarg, UINT64_MAX, &opt_seed) || !opt_seed) {
				fprintf(stderr, "-S: a non-zero decimal seed\n");
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
	ksft_print_msg("seed %lu, %lu iterations, %d vCPUs x %lu writes\n",
		       opt_seed, opt_iters, opt_vcpus, opt_writes);
	ksft_set_plan(ARRAY_SIZE(vs));
	for (i = 0; i < ARRAY_SIZE(vs); i++) {
		snprintf(desc, sizeof(desc), "%s %s %s eager_page_split=%c%s",
			 nested_vendor_name(kvm_nested_vendor()), backing_name(vs[i].backing),
			 vs[i].manual ? "manual-protect" : "classic", vs[i].eager ? 'Y' : 'N',
			 vs[i].alias ? " through an alias" : "");
		variant_run(desc, run_variant, &vs[i]);
	}
	ksft_finished();
}
