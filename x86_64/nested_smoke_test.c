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
#include "ucall.h"
#include "variant.h"
#include "x86_64/nested_mmu.h"

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
};

/* Shared with the guest, in L1 memory. */
struct smoke_args {
	uint64_t nr_vcpus;
	uint64_t nr_phases;
	gva_t warm_gva;
	struct phase phases[MAX_PHASES];
};

struct variant {
	const char *name;
	enum backing_type backing;
	bool slot_1g;		/* a 1G slot; else -b */
	int nr_vcpus;
	enum tdp_level leaves[MAX_PHASES];
	int nr_phases;
};

static const struct variant variants[] = {
	{ .name = "2M hugetlb slot via 4K and 2M leaves", .backing = BACKING_HUGETLB_2M,
	  .nr_vcpus = 1, .leaves = { TDP_4K, TDP_2M }, .nr_phases = 2 },
	{ .name = "1G hugetlb slot via 4K, 2M and 1G leaves", .backing = BACKING_HUGETLB_1G,
	  .slot_1g = true, .nr_vcpus = 1, .leaves = { TDP_4K, TDP_2M, TDP_1G }, .nr_phases = 3 },
	{ .name = "THP slot via 2M and 4K leaves", .backing = BACKING_THP,
	  .nr_vcpus = 2, .leaves = { TDP_2M, TDP_4K }, .nr_phases = 2 },
	{ .name = "1G hugetlb slot via 1G, 2M and 4K leaves", .backing = BACKING_HUGETLB_1G,
	  .slot_1g = true, .nr_vcpus = 2, .leaves = { TDP_1G, TDP_2M, TDP_4K }, .nr_phases = 3 },
};

static uint64_t opt_touch = 16ULL << 20;

static bool parse_touch(const char *arg)
{
	return !parse_size(arg, &opt_touch) && opt_touch && IS_ALIGNED(opt_touch, SZ_2M);
}

static struct nmmu_cli cli = {
	.about = "L2 runs through 4K, 2M and 1G EPT/NPT leaves, mapped at min(leaf, host page)",
	.b = { "size of the 2M-backed memslot", 32ULL << 20, .max = SZ_1G },
	.verbose = "print page counts per phase",
	.opts = (const struct nmmu_opt[]){
		{ 't', "size", "bytes L2 touches per phase (default 16M, 2M multiple,\n"
			       "                at most -b)", parse_touch },
		{ 0 },
	},
};

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

static void run_smoke(void *arg)
{
	static const char *const ids[] = {
		[TDP_4K] = "leaf-4k", [TDP_2M] = "leaf-2m", [TDP_1G] = "leaf-1g",
	};
	const struct variant *sm = arg;
	uint64_t slot_size = sm->slot_1g ? SZ_1G : cli.b.size;
	struct nmmu_view *views[MAX_PHASES];
	struct kvm_vcpu *vcpus[2];
	struct nmmu_slot *slot;
	struct smoke_args *a;
	struct nmmu f;
	struct ucall uc;
	gpa_t args_gpa;
	char phase[160];
	int i, p;

	test_check("setup");
	if (sm->slot_1g)
		TEST_REQUIRE(nested_has_1g(), "no 1G pages in EPT/NPT for L1 or on the host");
	nmmu_create(&f);
	slot = nmmu_slot_require(&f, sm->slot_1g ? SLOT_1G : SLOT_2M,
				 sm->slot_1g ? GPA_1G : GPA_2M, slot_size, sm->backing);

	args_gpa = vm_alloc_pages(f.vm, 1);
	a = addr_gpa2hva(f.vm, args_gpa);
	a->nr_vcpus = sm->nr_vcpus;
	a->nr_phases = sm->nr_phases;
	a->warm_gva = direct_gva(vm_alloc_pages(f.vm, sm->nr_vcpus));
	for (p = 0; p < sm->nr_phases; p++) {
		/* Each phase goes through its own alias of the slot. */
		views[p] = nmmu_view_add(&f, slot, 0, L2_GPA_BASE + (uint64_t)p * SZ_1G,
					 sm->leaves[p]);
		a->phases[p] = (struct phase){
			.gva = views[p]->gva, .leaf = sm->leaves[p],
			.len = sm->leaves[p] == TDP_1G ? slot_size : opt_touch,
		};
	}
	for (i = 0; i < sm->nr_vcpus; i++) {
		vcpus[i] = vm_vcpu_add(f.vm, l1_guest_code);
		vcpu_args_set(vcpus[i], 2, nested_vcpu_setup(vcpus[i], 0),
			      direct_gva(args_gpa));
	}

	/* Phase 0 is L2's warm-up; phase p goes through the leaves of view p - 1. */
	for (p = 0; p <= sm->nr_phases; p++) {
		struct nmmu_delta d = { 0 };

		test_check(p ? ids[sm->leaves[p - 1]] : "warm-up");
		for (i = 0; i < sm->nr_vcpus; i++) {
			TEST_ASSERT_EQ(vcpu_run_ucall(vcpus[i], &uc), UCALL_SYNC,
				       "ucall from L2");
			TEST_ASSERT_EQ(uc.args[0], p, "L2 phase");
		}
		if (!p) {
			vm_page_stats(f.vm, &f.last);
			continue;
		}
		/* The touched part of the view, mapped at the view's mapping size. */
		nmmu_touched(&f, views[p - 1]->l2_gpa, a->phases[p - 1].len);
		nmmu_delta_maps(&d, views[p - 1]->map_size,
				DIV_ROUND_UP(a->phases[p - 1].len, views[p - 1]->map_size));
		snprintf(phase, sizeof(phase), "phase %d (%lu MiB through %s %s leaves over %s "
			 "memory)", p, a->phases[p - 1].len >> 20,
			 nested_vendor_name(kvm_nested_vendor()), tdp_level_name(sm->leaves[p - 1]),
			 backing_name(sm->backing));
		nmmu_phase_end(&f, phase, &d);
	}
	test_check("finish");
	for (i = 0; i < sm->nr_vcpus; i++)
		TEST_ASSERT_EQ(vcpu_run_ucall(vcpus[i], &uc), UCALL_DONE, "final ucall from L2");
	nmmu_free(&f);
}

static void require(void)
{
	if (opt_touch > cli.b.size) {
		fprintf(stderr, "-t must not exceed -b\n");
		exit(KSFT_FAIL);
	}
	nested_require(false);
}

static void variant_name(const void *p, char *buf, size_t len)
{
	const struct variant *v = p;

	snprintf(buf, len, "%s %d vCPU%s: %s", nested_vendor_name(kvm_nested_vendor()),
		 v->nr_vcpus, v->nr_vcpus > 1 ? "s" : "", v->name);
}

int main(int argc, char *argv[])
{
	return nmmu_main(&cli, &NMMU_TABLE(variants, .require = require, .name = variant_name,
					   .run = run_smoke), argc, argv);
}
