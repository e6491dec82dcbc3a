// SPDX-License-Identifier: GPL-2.0
/*
 * The TDP MMU maps L1 memory at the largest size the host backing allows:
 * a vCPU writing every 4K page of a memslot makes pages_4k, pages_2m or
 * pages_1g grow by exactly the slot's size in pages of that backing, and
 * no other level grows.  This pins down the mapping-level logic
 * (kvm_mmu_max_mapping_level / host page size lookup) the nested tests
 * depend on, on the non-nested path.
 */
#include "knobs.h"
#include "ucall.h"
#include "variant.h"
#include "x86_64/kvm_caps.h"
#include "x86_64/nested_mmu.h"
#include "x86_64/processor.h"

#define TEST_SLOT	1
#define TEST_GPA	(4ULL << 30)

struct variant {
	enum backing_type backing;
};

static struct nmmu_cli cli;

/* -b, and for the 1G backing at least 1G. */
static uint64_t slot_size(const struct variant *v)
{
	return v->backing == BACKING_HUGETLB_1G ? ALIGN_UP(cli.b.size, SZ_1G) : cli.b.size;
}

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
	uint64_t page = backing_page_size(v->backing), size = slot_size(v);
	struct page_stats before, after;
	uint64_t exp[3] = { 0, 0, 0 }, got[3];
	const char *why;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct ucall uc;
	gpa_t warm;

	test_check("setup");
	/* Exact counts: no page-count noise (restored at exit). */
	knobs_quiet_page_counts();
	why = backing_reserve(v->backing, size);
	TEST_REQUIRE(!why, "%s", why);
	TEST_REQUIRE(v->backing != BACKING_HUGETLB_1G || kvm_tdp_has_1g_pages(),
		     "the host CPU has no 1G EPT/NPT pages");

	vm = vm_create();
	vm_memslot_add(vm, TEST_SLOT, TEST_GPA, size, v->backing, 0);
	why = vm_memslot_prefault(vm, TEST_SLOT);
	TEST_REQUIRE(!why, "%s", why);
	warm = vm_alloc_pages(vm, 1);
	vcpu = vm_vcpu_add(vm, guest_code);
	vcpu_args_set(vcpu, 3, direct_gva(warm), direct_gva(TEST_GPA), size);
	TEST_ASSERT_EQ(vcpu_run_ucall(vcpu, &uc), UCALL_SYNC, "warm-up: ucall");

	test_check("map");
	vm_page_stats(vm, &before);
	TEST_ASSERT_EQ(vcpu_run_ucall(vcpu, &uc), UCALL_SYNC, "touch the slot: ucall");
	vm_page_stats(vm, &after);
	page_stats_print("before touching", &before);
	page_stats_print("after touching", &after);

	exp[page == SZ_4K ? 0 : page == SZ_2M ? 1 : 2] = size / page;
	exp[0] += direct_map_tables(TEST_GPA, size);
	got[0] = after.pages_4k - before.pages_4k;
	got[1] = after.pages_2m - before.pages_2m;
	got[2] = after.pages_1g - before.pages_1g;
	TEST_ASSERT(!memcmp(exp, got, sizeof(exp)),
		    "touch every page of the %lu MiB %s slot: expected 4K/2M/1G mappings "
		    "+%lu/+%lu/+%lu, found +%lu/+%lu/+%lu", size >> 20,
		    backing_name(v->backing), exp[0], exp[1], exp[2], got[0], got[1], got[2]);

	test_check("finish");
	TEST_ASSERT_EQ(vcpu_run_ucall(vcpu, &uc), UCALL_DONE, "last ucall");
	vm_free(vm);
}

static struct nmmu_cli cli = {
	.about = "the TDP MMU maps L1 memory at the host page size",
	.b = { "memslot size; the 1G backing rounds it up to 1G", 64ULL << 20 },
	.s = { "run only this backing: anon, thp, hugetlb2m, hugetlb1g",
	       (1 << NR_BACKING_TYPES) - 1 },
	.verbose = "print page counts before and after",
};

static const struct variant variants[] = {
	{ .backing = BACKING_ANON_4K }, { .backing = BACKING_THP },
	{ .backing = BACKING_HUGETLB_2M }, { .backing = BACKING_HUGETLB_1G },
};

static bool selected(const void *p)
{
	const struct variant *v = p;

	return cli.s.backing < 0 || (int)v->backing == cli.s.backing;
}

static void variant_name(const void *p, char *buf, size_t len)
{
	const struct variant *v = p;

	snprintf(buf, len, "%s: %lu MiB slot, one mapping per host page",
		 backing_name(v->backing), slot_size(v) >> 20);
}

int main(int argc, char *argv[])
{
	return nmmu_main(&cli, &NMMU_TABLE(variants, .require = kvm_require_tdp_mmu,
					   .select = selected, .name = variant_name,
					   .run = run_variant), argc, argv);
}
