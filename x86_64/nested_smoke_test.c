// SPDX-License-Identifier: GPL-2.0
/*
 * Nested VMX/SVM smoke test: L1 enters L2 through EPT/NPT leaves of 4K, 2M
 * and 1G over huge-backed memslots; L2 touches the memory, exits to L1 and
 * is resumed many times, and reports to the host with ucalls.  After each
 * phase the page counters must show that KVM's nested (shadow) MMU mapped
 * the L2 ranges at the largest size that both L1's leaf and the host
 * backing allow, and never larger than L1's leaf (the level clamp in
 * KVM's shadow-paging fault path, FNAME(page_fault) and
 * kvm_mmu_hugepage_adjust()).
 */
#include <getopt.h>

#include "kvm_util.h"
#include "stats.h"
#include "ucall.h"
#include "variant.h"
#include "x86_64/nested.h"
#include "x86_64/processor.h"

#define SLOT_2M		1
#define SLOT_1G		2
#define GPA_2M		(4ULL << 30)
#define GPA_1G		(5ULL << 30)
#define L2_GPA_BASE	(8ULL << 30)	/* L2 aliases, 1G apart */
#define MAX_PHASES	4
#define CHUNKS		4		/* l2_call()s per vCPU per phase */
#define L2_DONE		~0ULL

struct phase {
	gva_t gva;		/* the L2 range, through L2's direct map */
	uint64_t len;
	enum tdp_level leaf;	/* L1's EPT/NPT leaf */
	uint64_t backing_page;
};

/* Shared with the guest, in L1 memory. */
struct smoke_args {
	uint64_t nr_vcpus;
	uint64_t nr_phases;
	gva_t warm_gva;
	struct phase phases[MAX_PHASES];
};

struct smoke {
	const char *name;
	enum backing_type backing;
	uint64_t slot_size;
	int nr_vcpus;
	bool need_1g;
	enum tdp_level leaves[MAX_PHASES];
	int nr_phases;
};

static uint64_t opt_size_2m = 32ULL << 20;
static uint64_t opt_touch = 16ULL << 20;

static void l2_touch(gva_t gva, uint64_t len)
{
	uint64_t off;

	for (off = 0; off < len; off += SZ_4K)
		*(volatile uint64_t *)(gva + off) = gva + off;
}

static void l2_guest_code(struct smoke_args *a, uint64_t vcpu)
{
	uint64_t p, c;

	/* Warm up code, stacks and the L1 exit path before the baseline. */
	l2_touch(a->warm_gva + vcpu * SZ_4K, SZ_4K);
	l2_call(0);
	GUEST_SYNC(0);

	for (p = 0; p < a->nr_phases; p++) {
		struct phase *ph = &a->phases[p];
		uint64_t slice = ph->len / a->nr_vcpus;
		uint64_t chunk = slice / CHUNKS;
		gva_t base = ph->gva + vcpu * slice;

		for (c = 0; c < CHUNKS; c++) {
			l2_touch(base + c * chunk, chunk);
			l2_call(p * CHUNKS + c + 1);
		}
		/* Read back through the same mapping: it must be the same memory. */
		for (c = 0; c < slice; c += SZ_4K)
			GUEST_ASSERT_EQ(*(volatile uint64_t *)(base + c), base + c);
		GUEST_SYNC(p + 1);
	}
	l2_call(L2_DONE);
	GUEST_DONE();
}

static void l1_guest_code(struct nested_state *s, struct smoke_args *a)
{
	uint64_t calls = 0, arg;

	nested_l1_init(s);
	nested_l2_start(s, l2_guest_code, 2, (uint64_t)a, (uint64_t)s->vcpu_id);
	while ((arg = nested_run_l2_call(s)) != L2_DONE) {
		/* L2 numbers its calls: none lost, none repeated. */
		GUEST_ASSERT_EQ(arg, calls);
		calls++;
	}
	GUEST_ASSERT_EQ(calls, 1 + a->nr_phases * CHUNKS);
	/* Let L2 finish with its own ucall. */
	nested_run_l2_call(s);
	GUEST_FAIL("L2 returned after its final ucall");
}

/*
 * Leaf mappings the nested MMU needs for a touched L2 range: the level is
 * the smallest of L1's leaf and the host page size; the count is the
 * number of such blocks the range covers.
 */
static void expect_mappings(const struct phase *ph, uint64_t exp[3])
{
	uint64_t size = tdp_level_size(ph->leaf);

	if (ph->backing_page < size)
		size = ph->backing_page;
	exp[size == SZ_4K ? 0 : size == SZ_2M ? 1 : 2] +=
		DIV_ROUND_UP(ph->gva + ph->len, size) - ph->gva / size;
}

static void run_smoke(void *arg)
{
	const struct smoke *sm = arg;
	uint64_t page = backing_page_size(sm->backing);
	gpa_t slot_gpa = sm->backing == BACKING_HUGETLB_1G ? GPA_1G : GPA_2M;
	struct kvm_vcpu *vcpus[2];
	struct smoke_args *a;
	struct page_stats prev = { 0 }, now;
	struct kvm_vm *vm;
	struct ucall uc;
	gpa_t args_gpa;
	const char *why;
	int i, p;

	test_check("setup");
	if (sm->need_1g)
		TEST_REQUIRE(nested_has_1g(), "no 1G pages in EPT/NPT for L1 or on the host");
	why = backing_reserve(sm->backing, sm->slot_size);
	TEST_REQUIRE(!why, "%s", why);

	vm = nested_vm_create(0);
	vm_memslot_add(vm, SLOT_2M + (slot_gpa == GPA_1G), slot_gpa, sm->slot_size,
		       sm->backing, 0);
	why = vm_memslot_prefault(vm, SLOT_2M + (slot_gpa == GPA_1G));
	TEST_REQUIRE(!why, "%s", why);

	args_gpa = vm_alloc_pages(vm, 1);
	a = addr_gpa2hva(vm, args_gpa);
	a->nr_vcpus = sm->nr_vcpus;
	a->nr_phases = sm->nr_phases;
	a->warm_gva = direct_gva(vm_alloc_pages(vm, sm->nr_vcpus));
	for (p = 0; p < sm->nr_phases; p++) {
		struct phase *ph = &a->phases[p];
		l2_gpa_t l2 = L2_GPA_BASE + (uint64_t)p * SZ_1G;
		uint64_t map_size = ALIGN_UP(opt_touch, tdp_level_size(sm->leaves[p]));

		if (map_size > sm->slot_size)
			map_size = sm->slot_size;
		/* Each phase goes through its own alias of the slot. */
		tdp_map(vm, 0, l2, slot_gpa, map_size, sm->leaves[p]);
		ph->gva = direct_gva(l2);
		ph->len = sm->leaves[p] == TDP_1G ? map_size : opt_touch;
		ph->leaf = sm->leaves[p];
		ph->backing_page = page;
	}

	for (i = 0; i < sm->nr_vcpus; i++) {
		vcpus[i] = vm_vcpu_add(vm, l1_guest_code);
		vcpu_args_set(vcpus[i], 2, nested_vcpu_setup(vcpus[i], 0),
			      direct_gva(args_gpa));
	}

	for (p = 0; p <= sm->nr_phases; p++) {
		static const char *const ids[] = {
			[TDP_4K] = "leaf-4k", [TDP_2M] = "leaf-2m", [TDP_1G] = "leaf-1g",
		};
		uint64_t exp[3] = { 0, 0, 0 }, got[3];

		/* Phase 0 is L2's warm-up; phase p goes through L1 leaves of leaves[p - 1]. */
		test_check(p ? ids[sm->leaves[p - 1]] : "warm-up");
		for (i = 0; i < sm->nr_vcpus; i++) {
			TEST_ASSERT_EQ(vcpu_run_ucall(vcpus[i], &uc), UCALL_SYNC,
				       "ucall from L2");
			TEST_ASSERT_EQ(uc.args[0], p, "L2 phase");
		}
		vm_page_stats(vm, &now);
		if (p) {
			const struct phase *ph = &a->phases[p - 1];

			expect_mappings(ph, exp);
			got[0] = now.pages_4k - prev.pages_4k;
			got[1] = now.pages_2m - prev.pages_2m;
			got[2] = now.pages_1g - prev.pages_1g;
			pr_debug("phase %d: %s leaves over %s backing: +%lu/+%lu/+%lu\n",
				 p, tdp_level_name(ph->leaf), backing_name(sm->backing),
				 got[0], got[1], got[2]);
			TEST_ASSERT(!memcmp(exp, got, sizeof(exp)),
				    "phase %d (%lu MiB through %s %s leaves over %s memory): "
				    "expected 4K/2M/1G mappings +%lu/+%lu/+%lu, found +%lu/+%lu/+%lu",
				    p, ph->len >> 20, nested_vendor_name(kvm_nested_vendor()),
				    tdp_level_name(ph->leaf), backing_name(sm->backing),
				    exp[0], exp[1], exp[2], got[0], got[1], got[2]);
		}
		prev = now;
	}
	test_check("finish");
	for (i = 0; i < sm->nr_vcpus; i++)
		TEST_ASSERT_EQ(vcpu_run_ucall(vcpus[i], &uc), UCALL_DONE, "final ucall from L2");
	vm_free(vm);
}

static void usage(const char *name, int code)
{
	printf("usage: %s [-b size] [-t size] [-V] [-h]\n"
	       "  -b size  2M-backed memslot size (default 32M, 2M multiple)\n"
	       "  -t size  bytes L2 touches per phase (default 16M, 2M multiple,\n"
	       "           at most -b)\n"
	       "  -V       print page counts per phase\n"
	       "  -h       this help\n", name);
	exit(code);
}

int main(int argc, char *argv[])
{
	struct smoke smokes[] = {
		{ "2M hugetlb slot via 4K and 2M leaves", BACKING_HUGETLB_2M, 0, 1, false,
		  { TDP_4K, TDP_2M }, 2 },
		{ "1G hugetlb slot via 4K, 2M and 1G leaves", BACKING_HUGETLB_1G, SZ_1G, 1, true,
		  { TDP_4K, TDP_2M, TDP_1G }, 3 },
		{ "THP slot via 2M and 4K leaves", BACKING_THP, 0, 2, false,
		  { TDP_2M, TDP_4K }, 2 },
		{ "1G hugetlb slot via 1G, 2M and 4K leaves", BACKING_HUGETLB_1G, SZ_1G, 2, true,
		  { TDP_1G, TDP_2M, TDP_4K }, 3 },
	};
	char desc[256];
	unsigned int i;
	int opt;

	while ((opt = getopt(argc, argv, "b:t:Vh")) != -1) {
		switch (opt) {
		case 'b':
		case 't': {
			uint64_t v;

			if (parse_size(optarg, &v) || !v || !IS_ALIGNED(v, SZ_2M)) {
				fprintf(stderr, "-%c: '%s' is not a size in 2M multiples\n",
					opt, optarg);
				usage(argv[0], KSFT_FAIL);
			}
			*(opt == 'b' ? &opt_size_2m : &opt_touch) = v;
			break;
		}
		default:
			test_opt_common(opt, usage, argv[0]);
		}
	}
	if (optind < argc)
		usage(argv[0], KSFT_FAIL);
	if (opt_touch > opt_size_2m) {
		fprintf(stderr, "-t must not exceed -b\n");
		usage(argv[0], KSFT_FAIL);
	}

	ksft_print_header();
	nested_require(false);
	ksft_set_plan(ARRAY_SIZE(smokes));
	for (i = 0; i < ARRAY_SIZE(smokes); i++) {
		if (!smokes[i].slot_size)
			smokes[i].slot_size = opt_size_2m;
		snprintf(desc, sizeof(desc), "%s %d vCPU%s: %s",
			 nested_vendor_name(kvm_nested_vendor()), smokes[i].nr_vcpus,
			 smokes[i].nr_vcpus > 1 ? "s" : "", smokes[i].name);
		variant_run(desc, run_smoke, &smokes[i]);
	}
	ksft_finished();
}
