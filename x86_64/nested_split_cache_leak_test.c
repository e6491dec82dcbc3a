// SPDX-License-Identifier: GPL-2.0
/*
 * The split caches are freed when a VM is destroyed.  Splitting a nested
 * huge page fills three per-VM caches (kvm->arch.split_desc_cache of
 * pte_list_desc rmap descriptors, split_page_header_cache of shadow-page
 * headers, split_shadow_page_cache of page-table pages; topup_split_caches
 * in arch/x86/kvm/mmu/mmu.c), which nothing empties until
 * kvm_mmu_uninit_vm() frees them at VM destruction: also when the VM dies
 * with dirty logging still on (freeing them only when logging is switched
 * off would leak).  The objects are charged to the memory cgroup of the
 * process that made the VM, so the test runs many VM lifetimes in a cgroup
 * of its own, each splitting nested huge pages, and checks that the
 * cgroup's kernel memory does not grow with the number of lifetimes.
 */
#include <unistd.h>

#include "cgroup.h"
#include "variant.h"
#include "x86_64/kvm_caps.h"
#include "x86_64/nested_mmu.h"

#define SLOT		1
#define SLOT_GPA	(4ULL << 30)
#define L2_GPA		(16ULL << 30)	/* alias j at + j GiB */
#define WARMUP		2

/*
 * The caches' sizes (mmu.c, kvm_host.h, kvm_types.h; the same in 6.1 and
 * 6.12): topup_split_caches() fills the descriptor cache to 513 + 40
 * (SPLIT_DESC_CACHE_MIN_NR_OBJECTS + KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE)
 * whenever it holds fewer than 513 before a split, and the header and
 * page caches to 40 when they are empty.  A pte_list_desc is 128 bytes
 * (a next pointer, two counts and 14 SPTE pointers).
 */
#define DESC_CACHE_MIN		513
#define DESC_CACHE_CAPACITY	(DESC_CACHE_MIN + 40)
#define PAGE_CACHE_CAPACITY	40
#define DESC_SIZE		128

struct variant {
	const char *name;
	int nr_aliases;		/* L2 GPA ranges mapping the slot, 2M leaves */
	bool disable_first;	/* switch dirty logging off before destruction */
};

static const struct variant variants[] = {
	{ .name = "destroyed with dirty logging on", .nr_aliases = 1 },
	{ .name = "dirty logging disabled before destruction", .nr_aliases = 1,
	  .disable_first = true },
	{ .name = "2 L2 aliases (descriptors consumed), destroyed with dirty logging on",
	  .nr_aliases = 2 },
};

static uint64_t opt_lifetimes = 16;

static bool parse_lifetimes(const char *arg)
{
	return !parse_uint(arg, 100000, &opt_lifetimes) && opt_lifetimes >= 4;
}

static struct nmmu_cli cli = {
	.about = "the split caches are freed at VM destruction",
	.b = { "slot size", 8ULL << 20, .max = SZ_1G },
	.s = { "host memory of the slot: hugetlb2m (default) or thp",
	       1 << BACKING_HUGETLB_2M | 1 << BACKING_THP },
	.verbose = "print the cgroup's memory after every lifetime",
	.opts = (const struct nmmu_opt[]){
		{ 'n', "count", "VM lifetimes measured per variant (default 16, 4 to 100000;\n"
				"                2 more run first to settle)", parse_lifetimes },
		{ 0 },
	},
};

static enum backing_type slot_backing(void)
{
	return cli.s.backing >= 0 ? (enum backing_type)cli.s.backing : BACKING_HUGETLB_2M;
}

/*
 * One VM lifetime: L2 writes the slot through each alias (huge nested
 * mappings), enabling dirty logging splits them all, which fills the
 * caches, and the VM is destroyed.
 */
static void lifetime(const struct variant *v, uint64_t n)
{
	struct nmmu_view *views[2];
	struct nmmu_slot *slot;
	struct nmmu_delta d = { 0 };
	char phase[64];
	struct nmmu f;
	int j;

	nmmu_create(&f);
	slot = nmmu_slot_require(&f, SLOT, SLOT_GPA, cli.b.size, slot_backing());
	for (j = 0; j < v->nr_aliases; j++)
		views[j] = nmmu_view_add(&f, slot, 0, L2_GPA + j * SZ_1G, TDP_2M);
	nmmu_start(&f, 1, NULL);
	for (j = 0; j < v->nr_aliases; j++) {
		nmmu_write(&f, views[j], n);
		nmmu_delta_view(&d, views[j], 1);
	}
	snprintf(phase, sizeof(phase), "lifetime %lu, populate", n);
	nmmu_phase_end(&f, phase, &d);

	/* Without a split nothing filled the caches and there is nothing to leak. */
	vm_dirty_log_enable(f.vm, SLOT);
	d = (struct nmmu_delta){ 0 };
	for (j = 0; j < v->nr_aliases; j++)
		nmmu_delta_view(&d, views[j], -1);
	nmmu_delta_maps(&d, SZ_4K, slot->nr_pages);
	snprintf(phase, sizeof(phase), "lifetime %lu, enable dirty logging", n);
	nmmu_phase_end(&f, phase, &d);

	if (v->disable_first)
		vm_dirty_log_disable(f.vm, SLOT);
	nmmu_free(&f);
}

/* Object size of a slab cache from SLUB's sysfs, or 0 when unknown. */
static uint64_t slab_object_size(const char *cache)
{
	char path[128], buf[32];

	snprintf(path, sizeof(path), "/sys/kernel/slab/%s/object_size", cache);
	if (__file_read_str(path, buf, sizeof(buf)) <= 0)
		return 0;
	return strtoull(buf, NULL, 10);
}

/*
 * kvm_create_vm() and kvm_destroy_vm() switch the preempt-notifier static
 * key on and off (preempt_notifier_inc/dec) when the VM is the only one:
 * every lifetime would live-patch the scheduler twice, and under QEMU TCG
 * another vCPU occasionally executes the int3 of that patching after it
 * completed (seen as "Oops: int3" in __schedule).  An idle VM with a vCPU
 * (which also holds the lapic's deferred static keys) kept for the whole
 * run keeps the keys on; it is created before the test enters its cgroup,
 * so it is not in the measurement.
 */
static struct kvm_vm *static_keys_hold(void)
{
	struct kvm_vm *vm = vm_create();

	vm_vcpu_add(vm, NULL);
	return vm;
}

struct sample {
	uint64_t kernel, slab, current;
};

static void sample_read(struct memcg *cg, struct sample *s)
{
	static const char *const keys[] = { "kernel", "slab_unreclaimable" };
	uint64_t vals[2];

	memcg_stat_read(cg, keys, vals, 2);
	s->kernel = vals[0];
	s->slab = vals[1];
	s->current = memcg_current(cg);
}

/* Least-squares slope of y over x = 0..n-1, in y units per step. */
static double slope(const double *y, uint64_t n)
{
	double mx = (n - 1) / 2.0, my = 0, num = 0, den = 0;
	uint64_t i;

	for (i = 0; i < n; i++)
		my += y[i] / n;
	for (i = 0; i < n; i++) {
		num += (i - mx) * (y[i] - my);
		den += (i - mx) * (i - mx);
	}
	return den ? num / den : 0;
}

static void run_variant(void *arg)
{
	const struct variant *v = arg;
	uint64_t hdr = slab_object_size("kvm_mmu_page_header");
	uint64_t footprint_min, footprint_max, limit, i, n = opt_lifetimes;
	double *kernel, *slab, *cur, growth, growth_slab, growth_cur;
	struct sample base, s;
	struct kvm_vm *idle;
	struct memcg *cg;
	char name[64], why[256];
	const char *reason;
	int ret;

	test_check("setup");
	/* Every lifetime asserts an eager split: set it, never inherit it. */
	kvm_param_require("kvm", "eager_page_split", "Y", true);
	reason = backing_reserve(slot_backing(), cli.b.size);
	TEST_REQUIRE(!reason, "%s", reason);
	idle = static_keys_hold();
	snprintf(name, sizeof(name), "kvm_split_cache_leak_%d", getpid());
	cg = memcg_create(name, why, sizeof(why));
	TEST_REQUIRE(cg, "%s", why);
	ret = __memcg_enter(cg);
	TEST_ASSERT(!ret, "moving the test into the cgroup %s: %s", cg->path, strerror(-ret));

	/*
	 * What one VM's caches hold once a split filled them: at most 553
	 * descriptors, 40 headers and 40 pages; at least the 513 descriptors
	 * topped up before the last split minus the one it may have used
	 * (these VMs consume at most one descriptor per split).
	 */
	footprint_max = DESC_CACHE_CAPACITY * DESC_SIZE + PAGE_CACHE_CAPACITY * (hdr + SZ_4K);
	footprint_min = (DESC_CACHE_MIN - 1) * DESC_SIZE;
	limit = footprint_min / 4;
	ksft_print_msg("%s: one VM's split caches hold %lu to %lu KiB (%d-%d descriptors of "
		       "%d B, up to %d shadow pages of 4 KiB + %lu B headers); allowed growth "
		       "%lu KiB per lifetime\n", v->name, footprint_min >> 10, footprint_max >> 10,
		       DESC_CACHE_MIN - 1, DESC_CACHE_CAPACITY, DESC_SIZE, PAGE_CACHE_CAPACITY,
		       hdr, limit >> 10);

	/* First allocations of a new cgroup and process settle here. */
	test_check("warm-up");
	for (i = 0; i < WARMUP; i++)
		lifetime(v, i);

	kernel = calloc(n + 1, sizeof(*kernel));
	slab = calloc(n + 1, sizeof(*slab));
	cur = calloc(n + 1, sizeof(*cur));
	TEST_ASSERT(kernel && slab && cur, "out of memory");
	test_check("lifetimes");
	sample_read(cg, &base);
	kernel[0] = 0;
	slab[0] = 0;
	cur[0] = 0;
	for (i = 1; i <= n; i++) {
		uint64_t t0 = now_ns();

		lifetime(v, WARMUP + i);
		sample_read(cg, &s);
		kernel[i] = (double)s.kernel - base.kernel;
		slab[i] = (double)s.slab - base.slab;
		cur[i] = (double)s.current - base.current;
		pr_debug("%s: lifetime %lu (%lu ms): kernel %+.0f KiB, slab %+.0f KiB, "
			 "memory.current %+.0f KiB\n", v->name, i, (now_ns() - t0) / 1000000,
			 kernel[i] / 1024, slab[i] / 1024, cur[i] / 1024);
	}

	/*
	 * The growth per lifetime is the slope of a line fitted through the
	 * samples: one-off noise (per-CPU charge stocks, objects freed after
	 * an RCU grace period, up to a few dozen KiB at any sample) does not
	 * grow with the lifetimes, a leak does.
	 */
	test_check("growth");
	growth = slope(kernel, n + 1);
	growth_slab = slope(slab, n + 1);
	growth_cur = slope(cur, n + 1);
	ksft_print_msg("%s: after %lu lifetimes: kernel %+.0f KiB (%+.1f KiB per lifetime), "
		       "slab_unreclaimable %+.0f KiB (%+.1f), memory.current %+.0f KiB (%+.1f)\n",
		       v->name, n, kernel[n] / 1024, growth / 1024, slab[n] / 1024,
		       growth_slab / 1024, cur[n] / 1024, growth_cur / 1024);
	TEST_ASSERT(growth < (double)limit,
		    "%s, %lu VM lifetimes: expected the cgroup's kernel memory to grow by less "
		    "than %lu KiB per lifetime (a quarter of the at least %lu KiB one VM's split "
		    "caches hold), found %.1f KiB per lifetime (%+.0f KiB in all)",
		    v->name, n, limit >> 10, footprint_min >> 10, growth / 1024,
		    kernel[n] / 1024);
	free(kernel);
	free(slab);
	free(cur);
	vm_free(idle);
}

static void variant_name(const void *p, char *buf, size_t len)
{
	snprintf(buf, len, "%s", ((const struct variant *)p)->name);
}

int main(int argc, char *argv[])
{
	return nmmu_main(&cli, &NMMU_TABLE(variants, .require = nmmu_require,
					   .name = variant_name, .run = run_variant), argc, argv);
}
