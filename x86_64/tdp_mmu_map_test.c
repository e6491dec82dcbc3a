// SPDX-License-Identifier: GPL-2.0
/*
 * The TDP MMU maps L1 memory at the largest size the host backing allows:
 * a vCPU writing every 4K page of a memslot makes pages_4k, pages_2m or
 * pages_1g grow by exactly the slot's size in pages of that backing, and
 * no other level grows.  This pins down the mapping-level logic
 * (kvm_mmu_max_mapping_level / host page size lookup) the nested tests
 * depend on, on the non-nested path.
 */
#include <getopt.h>

#include "kvm_util.h"
#include "stats.h"
#include "ucall.h"
#include "variant.h"
#include "x86_64/kvm_caps.h"
#include "x86_64/processor.h"

#define TEST_SLOT	1
#define TEST_GPA	(4ULL << 30)

struct variant {
	enum backing_type backing;
	uint64_t size;
};

static void guest_touch(uint64_t gva, uint64_t size)
{
	uint64_t off;

	for (off = 0; off < size; off += SZ_4K)
		*(volatile uint64_t *)(gva + off) = off;
}

static void guest_code(uint64_t warm_gva, uint64_t gva, uint64_t size)
{
	/* Fault in the code, stack and ucall path before the baseline. */
	guest_touch(warm_gva, SZ_4K);
	GUEST_SYNC(1);
	guest_touch(gva, size);
	GUEST_SYNC(2);
	GUEST_DONE();
}

static void run_variant(void *arg)
{
	const struct variant *v = arg;
	uint64_t page = backing_page_size(v->backing);
	struct page_stats before, after;
	uint64_t exp[3] = { 0, 0, 0 }, got[3];
	const char *why;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct ucall uc;
	gpa_t warm;

	test_check("setup");
	why = backing_reserve(v->backing, v->size);
	TEST_REQUIRE(!why, "%s", why);
	TEST_REQUIRE(v->backing != BACKING_HUGETLB_1G || kvm_tdp_has_1g_pages(),
		     "the host CPU has no 1G EPT/NPT pages");

	vm = vm_create(0);
	vm_memslot_add(vm, TEST_SLOT, TEST_GPA, v->size, v->backing, 0);
	why = vm_memslot_prefault(vm, TEST_SLOT);
	TEST_REQUIRE(!why, "%s", why);
	warm = vm_alloc_pages(vm, 1);
	vcpu = vm_vcpu_add(vm, guest_code);
	vcpu_args_set(vcpu, 3, direct_gva(warm), direct_gva(TEST_GPA), v->size);
	TEST_ASSERT_EQ(vcpu_run_ucall(vcpu, &uc), UCALL_SYNC, "warm-up: ucall");

	test_check("map");
	vm_page_stats(vm, &before);
	TEST_ASSERT_EQ(vcpu_run_ucall(vcpu, &uc), UCALL_SYNC, "touch the slot: ucall");
	vm_page_stats(vm, &after);
	page_stats_print("before touching", &before);
	page_stats_print("after touching", &after);

	exp[page == SZ_4K ? 0 : page == SZ_2M ? 1 : 2] = v->size / page;
	exp[0] += direct_map_tables(TEST_GPA, v->size);
	got[0] = after.pages_4k - before.pages_4k;
	got[1] = after.pages_2m - before.pages_2m;
	got[2] = after.pages_1g - before.pages_1g;
	TEST_ASSERT(!memcmp(exp, got, sizeof(exp)),
		    "touch every page of the %lu MiB %s slot: expected 4K/2M/1G mappings "
		    "+%lu/+%lu/+%lu, found +%lu/+%lu/+%lu", v->size >> 20,
		    backing_name(v->backing), exp[0], exp[1], exp[2], got[0], got[1], got[2]);

	test_check("finish");
	TEST_ASSERT_EQ(vcpu_run_ucall(vcpu, &uc), UCALL_DONE, "last ucall");
	vm_free(vm);
}

static void usage(const char *name, int code)
{
	printf("usage: %s [-b size] [-s backing] [-V] [-h]\n"
	       "  -b size     memslot size for 4K and 2M backings (default 64M;\n"
	       "              the 1G backing uses max(size, 1G) rounded to 1G)\n"
	       "  -s backing  run only this backing: %s\n"
	       "  -V          print page counts per phase\n"
	       "  -h          this help\n", name, backing_names());
	exit(code);
}

int main(int argc, char *argv[])
{
	struct variant variants[NR_BACKING_TYPES];
	uint64_t size = 64ULL << 20;
	int only = -1, opt;
	char desc[96];
	unsigned int i;

	while ((opt = getopt(argc, argv, "b:s:Vh")) != -1) {
		enum backing_type b;

		switch (opt) {
		case 'b':
			if (parse_size(optarg, &size) || !size || !IS_ALIGNED(size, SZ_2M)) {
				fprintf(stderr, "-b: '%s' is not a size in 2M multiples\n", optarg);
				usage(argv[0], KSFT_FAIL);
			}
			break;
		case 's':
			if (backing_parse(optarg, &b)) {
				fprintf(stderr, "-s: unknown backing '%s'\n", optarg);
				usage(argv[0], KSFT_FAIL);
			}
			only = b;
			break;
		default:
			test_opt_common(opt, usage, argv[0]);
		}
	}
	if (optind < argc)
		usage(argv[0], KSFT_FAIL);

	ksft_print_header();
	kvm_require_tdp_mmu();

	for (i = 0; i < NR_BACKING_TYPES; i++) {
		variants[i].backing = i;
		variants[i].size = i == BACKING_HUGETLB_1G ?
				   ALIGN_UP(size, SZ_1G) : size;
	}
	ksft_set_plan(only < 0 ? NR_BACKING_TYPES : 1);
	for (i = 0; i < NR_BACKING_TYPES; i++) {
		if (only >= 0 && (int)i != only)
			continue;
		snprintf(desc, sizeof(desc), "%s: %lu MiB slot, one mapping per host page",
			 backing_name(variants[i].backing), variants[i].size >> 20);
		variant_run(desc, run_variant, &variants[i]);
	}
	ksft_finished();
}
