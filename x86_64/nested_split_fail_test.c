// SPDX-License-Identifier: GPL-2.0
/*
 * Eager splitting of nested huge mappings that fails part way.  Splitting
 * a huge SPTE of the shadow MMU when dirty logging is enabled
 * (shadow_mmu_try_split_huge_page() in arch/x86/kvm/mmu/mmu.c) gives up on
 * that huge page in two ways the kernel can be driven to:
 *  - -ENOSPC: the VM has at most KVM_MIN_FREE_MMU_PAGES shadow pages left
 *    under its KVM_SET_NR_MMU_PAGES limit;
 *  - -ENOMEM: topping up the split caches (GFP_KERNEL_ACCOUNT) fails,
 *    here under a memory cgroup limit on the test process.
 * The walk then goes on with the next huge page, and KVM's fallback is
 * that every huge mapping it could not split stays huge and write-protected
 * (kvm_mmu_slot_remove_write_access() after the split), so that L2's first
 * write to it faults and breaks it lazily: the fault drops the huge SPTE and
 * maps the written page alone at 4K (FNAME(fetch) -> __link_shadow_page ->
 * drop_large_spte).  The test forces each failure, reads every attempt and
 * its errno from the kvmmmu:kvm_mmu_split_huge_page tracepoint, and checks
 * that failures happened where the limits say, that the mapping counts are
 * the successful splits at 4K and the failed ones still huge, that L2 reads
 * back what it wrote before, and that its later writes all land in the
 * dirty log and in memory, and break exactly the failed huge mappings.
 */
#include <fcntl.h>
#include <unistd.h>

#include "cgroup.h"
#include "knobs.h"
#include "tracefs.h"
#include "variant.h"
#include "x86_64/kvm_caps.h"
#include "x86_64/nested_mmu.h"

#define SLOT_A		1
#define SLOT_P		2
#define GPA_A		(4ULL << 30)
#define GPA_P		(6ULL << 30)
#define L2_GPA_A	(16ULL << 30)
#define L2_GPA_P	(32ULL << 30)
#define PAGES_2M	512

/*
 * KVM's constants (arch/x86/include/asm/kvm_host.h, kvm_types.h and
 * mmu.c; the same in 6.1 and 6.12): a split needs more than
 * KVM_MIN_FREE_MMU_PAGES shadow pages left; KVM_SET_NR_MMU_PAGES takes no
 * less than KVM_MIN_ALLOC_MMU_PAGES; topup_split_caches() fills the
 * shadow-page and header caches to KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE when
 * they are empty, and a split of a huge page without aliases takes one of
 * each.
 */
#define MIN_FREE_MMU_PAGES	5
#define MIN_ALLOC_MMU_PAGES	64
#define SPLIT_PAGE_CAPACITY	40
/* A limit that nothing in these VMs reaches. */
#define NR_MMU_PAGES_AMPLE	(1UL << 20)

/* The -ENOMEM variant with 2M pages: the primer slot's huge pages, A's beyond the cache. */
#define PRIMER_HUGE		8
#define ENOMEM_BEYOND		4
#define BUDGET_TRIES		6

#define SPLIT_EVENT_SYSTEM	"kvmmmu"
#define SPLIT_EVENT		"kvm_mmu_split_huge_page"

enum failure {
	FAIL_ENOSPC,	/* KVM_SET_NR_MMU_PAGES */
	FAIL_ENOMEM,	/* memory.max of the test's cgroup */
};

struct variant {
	enum backing_type backing;	/* also L1's leaf size */
	enum failure fail;
	bool at_clear;			/* the split of KVM_CLEAR_DIRTY_LOG, not of enabling */
	const char *what;
};

static const struct variant variants[] = {
	{ BACKING_HUGETLB_2M, FAIL_ENOSPC, false,
	  "shadow pages run out part way (KVM_SET_NR_MMU_PAGES): -ENOSPC" },
	{ BACKING_HUGETLB_2M, FAIL_ENOSPC, true,
	  "KVM_CLEAR_DIRTY_LOG (manual protect, initially set): shadow pages run out "
	  "part way (KVM_SET_NR_MMU_PAGES): -ENOSPC" },
	{ BACKING_HUGETLB_1G, FAIL_ENOSPC, false,
	  "the 1G split succeeds, shadow pages run out half way through its 2M "
	  "splits (KVM_SET_NR_MMU_PAGES): -ENOSPC" },
	{ BACKING_HUGETLB_2M, FAIL_ENOMEM, false,
	  "the split caches run dry under a memory cgroup limit after the "
	  "cached shadow pages: -ENOMEM" },
	{ BACKING_HUGETLB_1G, FAIL_ENOMEM, false,
	  "the 1G split cannot top up its caches under a memory cgroup limit: -ENOMEM" },
};

static struct nmmu_cli cli = {
	.about = "nested eager splits that fail (-ENOSPC, -ENOMEM) fall back to "
		 "write protection and lose no write",
	.b = { "slot size of the hugetlb2m -ENOSPC variants", 128ULL << 20,
	       .min = 128ULL << 20, .max = SZ_1G },
	.verbose = "print page count changes per phase and every failed split",
};

/* What the tracepoint says about the attempts on slot A. */
struct split_log {
	uint64_t base;			/* A's first gfn */
	uint64_t nr_ranges;		/* A's 2M ranges */
	int8_t *range;			/* per 2M range: 1 split, -1 failed, 0 no final event */
	int result_1g;			/* the same for the 1G page */
	uint64_t ok[4], failed[4];	/* final results by level of the huge SPTE */
	uint64_t eagain;
	uint64_t twice;			/* huge pages with two final results */
	bool refail;			/* a failed page may fail again (each CLEAR word tries) */
	uint64_t outside;		/* events outside A or at an unexpected level */
	uint64_t unparsed;
	int want_errno;
	uint64_t bad_errno;		/* failures with another errno */
	int first_bad_errno;
};

static void split_event(const char *fields, void *arg)
{
	struct split_log *l = arg;
	unsigned long long gfn, spte;
	int level, err, result;
	int8_t *slot;
	uint64_t off;

	if (sscanf(fields, "gfn %llx spte %llx level %d errno %d", &gfn, &spte, &level,
		   &err) != 4) {
		l->unparsed++;
		return;
	}
	if (err == -EAGAIN) {
		l->eagain++;
		return;
	}
	off = gfn - l->base;
	if (gfn < l->base || off >= l->nr_ranges * PAGES_2M || level < 2 || level > 3 ||
	    off % (level == 3 ? SZ_1G / SZ_4K : PAGES_2M)) {
		l->outside++;
		return;
	}
	result = err ? -1 : 1;
	if (err) {
		l->failed[level]++;
		if (err != l->want_errno && !l->bad_errno++)
			l->first_bad_errno = err;
		pr_debug("split of the %s SPTE of gfn 0x%llx failed: errno %d\n",
			 level == 3 ? "1G" : "2M", gfn, err);
	} else {
		l->ok[level]++;
	}
	if (level == 3) {
		l->twice += l->result_1g != 0;
		l->result_1g = result;
		return;
	}
	slot = &l->range[off / PAGES_2M];
	l->twice += *slot != 0 && !(l->refail && *slot < 0 && result < 0);
	*slot = (int8_t)result;
}

struct run {
	const struct variant *v;
	struct nmmu f;
	struct nmmu_slot *a, *p;
	struct nmmu_view *va, *vp;
	uint64_t huge_size;		/* A's huge pages, L1's leaves over A */
	uint64_t nr_huge;		/* huge pages in A */
	struct trace_instance *ti;
	struct memcg *cg;
	struct split_log log;
	char desc[224];
};

static void trace_start(struct run *r)
{
	TEST_ASSERT(!__trace_clear(r->ti) && !__trace_set_on(r->ti, true),
		    "starting the trace instance %s", r->ti->path);
}

static void trace_collect(struct run *r, struct split_log *l)
{
	uint64_t lost;
	long n;

	TEST_ASSERT(!__trace_set_on(r->ti, false), "stopping the trace instance %s",
		    r->ti->path);
	n = __trace_for_each(r->ti, SPLIT_EVENT, split_event, l, &lost);
	TEST_ASSERT(n >= 0, "reading the trace instance %s: %s", r->ti->path,
		    strerror((int)-n));
	TEST_ASSERT(!lost, "%s: the trace buffer dropped %lu events", r->desc, lost);
	TEST_ASSERT(!l->unparsed, "%s: %lu %s events could not be parsed", r->desc,
		    l->unparsed, SPLIT_EVENT);
}

static void log_reset(struct split_log *l, struct nmmu_slot *s, int want_errno)
{
	free(l->range);
	*l = (struct split_log){ .base = s->gpa / SZ_4K, .nr_ranges = s->size / SZ_2M,
				 .want_errno = want_errno };
	l->range = calloc(l->nr_ranges, sizeof(*l->range));
	TEST_ASSERT(l->range, "out of memory");
}

static void setup(struct run *r)
{
	const struct variant *v = r->v;
	uint64_t size;
	char why[256];
	int ret;

	test_check("setup");
	r->huge_size = backing_page_size(v->backing);
	if (v->backing == BACKING_HUGETLB_1G)
		TEST_REQUIRE(nested_has_1g(), "no 1G pages in L1's EPT/NPT or on the host");
	/* Every phase assumes eager splitting: set it, never inherit it. */
	kvm_param_require("kvm", "eager_page_split", "Y", true);

	r->ti = trace_instance_create("split-fail", why, sizeof(why));
	TEST_REQUIRE(r->ti, "%s", why);
	ret = __trace_event_enable(r->ti, SPLIT_EVENT_SYSTEM, SPLIT_EVENT);
	TEST_REQUIRE(!ret, "cannot enable %s:%s: %s%s", SPLIT_EVENT_SYSTEM, SPLIT_EVENT,
		     strerror(-ret), ret == -ENOENT ? " (the event exists since Linux 5.18)" : "");

	if (v->fail == FAIL_ENOMEM) {
		r->cg = memcg_create("split-fail", why, sizeof(why));
		TEST_REQUIRE(r->cg, "%s", why);
		/*
		 * The charges the limit refuses go through the memory cgroup's
		 * OOM killer; this process (a variant child, so the setting
		 * dies with it) must not be its victim: then the charge fails
		 * with -ENOMEM.  Keep the OOM report short.
		 */
		ret = __file_write_str("/proc/self/oom_score_adj", "-1000");
		TEST_REQUIRE(!ret, "cannot make this process unkillable by the OOM killer "
			     "(/proc/self/oom_score_adj): %s", strerror(-ret));
		if (!access("/proc/sys/vm/oom_dump_tasks", F_OK)) {
			ret = __knob_set("/proc/sys/vm/oom_dump_tasks", "0");
			TEST_ASSERT(!ret, "setting vm.oom_dump_tasks=0: %s", strerror(-ret));
		}
	}

	if (v->backing == BACKING_HUGETLB_1G)
		size = SZ_1G;
	else if (v->fail == FAIL_ENOSPC)
		size = cli.b.size;
	else
		size = (SPLIT_PAGE_CAPACITY - PRIMER_HUGE + ENOMEM_BEYOND) * SZ_2M;
	r->nr_huge = size / r->huge_size;

	if (v->at_clear)
		TEST_REQUIRE(kvm_has_manual_protect(true),
			     "KVM lacks KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 with INITIALLY_SET");

	nmmu_create(&r->f);
	if (v->at_clear)
		vm_manual_protect_enable(r->f.vm, true);
	r->a = nmmu_slot_require(&r->f, SLOT_A, GPA_A, size, v->backing);
	r->va = nmmu_view_add(&r->f, r->a, 0, L2_GPA_A,
			      v->backing == BACKING_HUGETLB_1G ? TDP_1G : TDP_2M);
	if (v->fail == FAIL_ENOMEM && v->backing == BACKING_HUGETLB_2M) {
		r->p = nmmu_slot_require(&r->f, SLOT_P, GPA_P, PRIMER_HUGE * SZ_2M,
					 BACKING_HUGETLB_2M);
		r->vp = nmmu_view_add(&r->f, r->p, 0, L2_GPA_P, TDP_2M);
	}
	nmmu_start(&r->f, 1, NULL);
}

/* L2 writes all of A (and the primer slot): huge nested mappings. */
static void populate(struct run *r)
{
	struct nmmu_delta d = { 0 };

	test_check("populate");
	nmmu_write(&r->f, r->va, 1);
	nmmu_delta_view(&d, r->va, 1);
	if (r->vp) {
		nmmu_write(&r->f, r->vp, 1);
		nmmu_delta_view(&d, r->vp, 1);
	}
	nmmu_phase_end(&r->f, "populate (huge nested mappings)", &d);
}

static void set_nr_mmu_pages(struct run *r, unsigned long n)
{
	int ret = __vm_ioctl(r->f.vm, KVM_SET_NR_MMU_PAGES, (void *)n);

	TEST_ASSERT(!ret, "KVM_SET_NR_MMU_PAGES %lu: %s", n, strerror(errno));
}

/*
 * -ENOSPC: limit the VM's shadow pages so that the split stops after
 * *want successful splits of the last level.  Shadow pages in use:
 * every one KVM allocates is a mmu_cache_miss, and none was zapped.
 */
static void enable_enospc(struct run *r, uint64_t *want)
{
	uint64_t used = vm_get_stat(r->f.vm, "mmu_cache_miss");
	uint64_t zapped = vm_get_stat(r->f.vm, "mmu_shadow_zapped");
	uint64_t first = r->huge_size == SZ_1G;	/* the 1G split's page */
	uint64_t nr_last = r->huge_size == SZ_1G ? SZ_1G / SZ_2M : r->nr_huge;
	unsigned long limit;

	TEST_ASSERT(!zapped, "%s: %lu shadow pages were zapped before the split: the "
		    "pages in use cannot be told from mmu_cache_miss (%lu)", r->desc, zapped,
		    used);
	/* Half the last level's splits, but KVM_SET_NR_MMU_PAGES takes no less than 64. */
	*want = nr_last / 2;
	if (used + MIN_FREE_MMU_PAGES + first + *want < MIN_ALLOC_MMU_PAGES)
		*want = MIN_ALLOC_MMU_PAGES - used - MIN_FREE_MMU_PAGES - first;
	TEST_ASSERT(*want < nr_last, "%s: with %lu shadow pages in use, the smallest limit "
		    "KVM takes (%d) lets all %lu splits succeed: use a larger -b", r->desc,
		    used, MIN_ALLOC_MMU_PAGES, nr_last);
	limit = used + MIN_FREE_MMU_PAGES + first + *want;
	ksft_print_msg("%s: %lu shadow pages in use, limit %lu: %lu of %lu 2M splits "
		       "should succeed\n", r->desc, used, limit, *want, nr_last);

	set_nr_mmu_pages(r, limit);
	trace_start(r);
	if (r->v->at_clear) {
		/*
		 * One CLEAR of the whole slot: each 64-page word splits the
		 * huge page it lies in (kvm_arch_mmu_enable_log_dirty_pt_masked),
		 * so a huge page that cannot be split is tried once per word.
		 */
		unsigned long *bits = bitmap_zalloc(r->a->nr_pages);

		bitmap_fill_range(bits, 0, r->a->nr_pages);
		vm_dirty_log_clear(r->f.vm, SLOT_A, bits, 0, (uint32_t)r->a->nr_pages);
		free(bits);
	} else {
		vm_dirty_log_enable(r->f.vm, SLOT_A);
	}
	trace_collect(r, &r->log);
	/* Before L2 runs again: faults at the limit would zap shadow pages. */
	set_nr_mmu_pages(r, NR_MMU_PAGES_AMPLE);
	TEST_ASSERT(vm_get_stat(r->f.vm, "mmu_shadow_zapped") == 0,
		    "%s: shadow pages were zapped while the limit was in force", r->desc);
}

static int fd_write(int fd, const char *val)
{
	ssize_t n = pwrite(fd, val, strlen(val), 0);

	return n == (ssize_t)strlen(val) ? 0 : n < 0 ? -errno : -EIO;
}

static int open_in(const char *dir, const char *file)
{
	char path[320];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	TEST_ASSERT(fd >= 0, "opening %s: %s", path, strerror(errno));
	return fd;
}

static uint64_t memcg_oom_events(struct memcg *cg)
{
	char path[320], buf[512], *p;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/memory.events", cg->path);
	n = __file_read_str(path, buf, sizeof(buf));
	TEST_ASSERT(n > 0, "reading %s: %s", path, strerror((int)-n));
	p = strstr(buf, "oom ");
	return p ? strtoull(p + 4, NULL, 10) : 0;
}

/* Bytes a kmalloc of size charges: its size class, at most 8K (SLUB), else pages. */
static uint64_t kmalloc_charge(uint64_t size)
{
	uint64_t c = 8;

	while (c < size)
		c *= 2;
	return c;
}

/*
 * -ENOMEM: enable logging with the process in a fresh memory cgroup whose
 * memory.max leaves room for the ioctl's own allocations (the new memslot
 * and its dirty bitmap) and nothing more, so that the first top-up of the
 * split caches that needs a page fails.  Nothing else of this process may
 * allocate in that window (a page fault it cannot charge would loop), so
 * the files are opened before and written with pwrite().  If the budget
 * was too small for the memslot itself, the ioctl fails with nothing
 * split: one more page, and again.
 */
static void enable_enomem(struct run *r)
{
	struct vm_memslot *ms = vm_memslot(r->f.vm, SLOT_A);
	uint64_t bitmap = 2 * ALIGN_UP(r->a->nr_pages, 64) / 8;
	uint64_t budget = DIV_ROUND_UP(kmalloc_charge(bitmap), SZ_4K) + 1, oom0;
	uint32_t flags = ms->flags | KVM_MEM_LOG_DIRTY_PAGES;
	char max_path[320], val[32];
	int in, out, max, ret = -ENOMEM, tries;

	snprintf(max_path, sizeof(max_path), "%s/memory.max", r->cg->path);
	in = open_in(r->cg->path, "cgroup.procs");
	out = open_in(r->cg->origin, "cgroup.procs");
	max = open_in(r->cg->path, "memory.max");
	oom0 = memcg_oom_events(r->cg);
	for (tries = 0; tries < BUDGET_TRIES && ret == -ENOMEM; tries++, budget++) {
		snprintf(val, sizeof(val), "%lu", budget * SZ_4K);
		ret = __knob_set(max_path, val);
		TEST_ASSERT(!ret, "setting %s to %s: %s", max_path, val, strerror(-ret));
		trace_start(r);
		ret = fd_write(in, "0");
		TEST_ASSERT(!ret, "moving the test into %s: %s", r->cg->path, strerror(-ret));
		ret = __vm_memslot_set_flags(r->f.vm, SLOT_A, flags);
		TEST_ASSERT(!fd_write(max, "max") && !fd_write(out, "0"),
			    "lifting the limit of %s and leaving it", r->cg->path);
		trace_collect(r, &r->log);
		if (ret == -ENOMEM)
			TEST_ASSERT(!r->log.ok[2] && !r->log.ok[3] && !r->log.failed[2] &&
				    !r->log.failed[3], "%s: the ioctl failed with -ENOMEM, yet "
				    "split attempts were traced", r->desc);
	}
	TEST_ASSERT(!ret, "%s: enabling dirty logging with memory.max at %lu pages (the last "
		    "of %d budgets): %s", r->desc, budget - 1, tries, strerror(-ret));
	ret = knob_restore(max_path);
	TEST_ASSERT(!ret, "restoring %s: %s", max_path, strerror(-ret));
	close(in);
	close(out);
	close(max);
	ksft_print_msg("%s: memory.max %lu pages for the ioctl (%d tries); %lu OOM events "
		       "in the cgroup\n", r->desc, budget - 1, tries,
		       memcg_oom_events(r->cg) - oom0);
}

/*
 * The -ENOMEM variant with 2M pages first splits a small primer slot with
 * no limit: the first top-up fills the header and shadow-page caches to 40,
 * the primer's splits take PRIMER_HUGE of them, and A's splits under the
 * limit can use the rest.
 */
static void primer(struct run *r)
{
	struct split_log l = { 0 };
	struct nmmu_delta d = { 0 };

	test_check("primer");
	log_reset(&l, r->p, 0);
	trace_start(r);
	vm_dirty_log_enable(r->f.vm, SLOT_P);
	trace_collect(r, &l);
	TEST_ASSERT(l.ok[2] == PRIMER_HUGE && !l.failed[2] && !l.failed[3],
		    "%s, primer slot: expected %d successful 2M splits and no failure, "
		    "found %lu and %lu failures", r->desc, PRIMER_HUGE, l.ok[2],
		    l.failed[2] + l.failed[3]);
	nmmu_delta_view(&d, r->vp, -1);
	nmmu_delta_maps(&d, SZ_4K, r->p->nr_pages);
	nmmu_phase_end(&r->f, "enable logging on the primer slot (eager split)", &d);
	free(l.range);
}

/* The failing split, and what the trace says about it. */
static void failing_split(struct run *r)
{
	const struct variant *v = r->v;
	struct split_log *l = &r->log;
	uint64_t want = 0, nr_last, last_ok, last_failed, i, missing = 0;
	struct nmmu_delta d = { 0 };
	char phase[320];

	test_check("enable");
	log_reset(l, r->a, v->fail == FAIL_ENOSPC ? -ENOSPC : -ENOMEM);
	l->refail = v->at_clear;
	if (v->at_clear) {
		/* With INITIALLY_SET, enabling splits nothing and protects nothing. */
		vm_dirty_log_enable(r->f.vm, SLOT_A);
		nmmu_phase_end(&r->f, "enable logging with INITIALLY_SET",
			       &(struct nmmu_delta){ 0 });
		test_check("clear");
	}
	if (v->fail == FAIL_ENOSPC)
		enable_enospc(r, &want);
	else
		enable_enomem(r);

	test_check("split-events");
	TEST_ASSERT(!l->outside, "%s: %lu split events outside slot A's huge pages",
		    r->desc, l->outside);
	TEST_ASSERT(!l->twice, "%s: %lu huge pages had more than one final split result "
		    "(0 or an error other than -EAGAIN)", r->desc, l->twice);
	TEST_ASSERT(!l->bad_errno, "%s: %lu splits failed with errno %d, expected %d",
		    r->desc, l->bad_errno, l->first_bad_errno, l->want_errno);
	if (r->huge_size == SZ_1G) {
		TEST_ASSERT(l->result_1g, "%s: no split attempt of the 1G page was traced",
			    r->desc);
		if (v->fail == FAIL_ENOMEM)
			TEST_ASSERT(l->result_1g < 0, "%s: expected the split of the 1G page "
				    "to fail with -ENOMEM (empty split caches, no memory "
				    "left in the cgroup), it succeeded", r->desc);
		else
			TEST_ASSERT(l->result_1g > 0, "%s: expected the split of the 1G page "
				    "to succeed (%d shadow pages left), it failed", r->desc,
				    MIN_FREE_MMU_PAGES + 1 + (int)want);
	}
	/* After a split 1G page every 2M range is attempted; else none. */
	nr_last = r->huge_size == SZ_2M ? r->nr_huge : l->result_1g > 0 ? SZ_1G / SZ_2M : 0;
	last_ok = l->ok[2];
	last_failed = 0;
	for (i = 0; i < (nr_last ? l->nr_ranges : 0); i++) {
		missing += !l->range[i];
		last_failed += l->range[i] < 0;
	}
	TEST_ASSERT(!missing && last_ok + last_failed == nr_last,
		    "%s: expected a final split result for each of the %lu 2M mappings, "
		    "found %lu successes and %lu failures (%lu without a result)", r->desc,
		    nr_last, last_ok, last_failed, missing);
	ksft_print_msg("%s: %lu 1G and %lu 2M splits succeeded, %lu 1G and %lu 2M mappings "
		       "failed (%lu failed attempts), %lu mmu_lock drops (-EAGAIN)\n", r->desc,
		       l->ok[3], l->ok[2], l->failed[3], last_failed,
		       l->failed[2] + l->failed[3], l->eagain);
	TEST_ASSERT(l->failed[2] + l->failed[3] > 0,
		    "%s: no split failed: the limit did not bite (%lu splits succeeded)",
		    r->desc, l->ok[2] + l->ok[3]);
	if (v->fail == FAIL_ENOSPC)
		TEST_ASSERT(last_ok == want,
			    "%s: expected exactly %lu successful 2M splits (until %d shadow "
			    "pages are left under the limit), found %lu", r->desc, want,
			    MIN_FREE_MMU_PAGES, last_ok);
	else if (r->huge_size == SZ_2M)
		TEST_ASSERT(last_ok >= SPLIT_PAGE_CAPACITY - PRIMER_HUGE,
			    "%s: expected at least %d successful 2M splits (the shadow pages "
			    "left in the split cache), found %lu", r->desc,
			    SPLIT_PAGE_CAPACITY - PRIMER_HUGE, last_ok);

	/* The fallback: split pages at 4K, the others exactly as they were. */
	test_check("split-counts");
	if (l->result_1g > 0) {
		nmmu_delta_maps(&d, SZ_1G, -1);
		nmmu_delta_maps(&d, SZ_2M, SZ_1G / SZ_2M);
	}
	nmmu_delta_maps(&d, SZ_2M, -(int64_t)last_ok);
	nmmu_delta_maps(&d, SZ_4K, (int64_t)last_ok * PAGES_2M);
	snprintf(phase, sizeof(phase), "%s, %s: %lu 2M splits at 4K, the failed mappings "
		 "still huge", r->desc, v->at_clear ? "CLEAR" : "enable dirty logging", last_ok);
	nmmu_phase_end(&r->f, phase, &d);
}

/* Is A's 2M range i still mapped huge (by a 2M or the 1G mapping)? */
static bool range_huge(const struct run *r, uint64_t i)
{
	if (r->huge_size == SZ_1G && r->log.result_1g < 0)
		return true;
	return r->log.range[i] < 0;
}

/*
 * L2 reads all of A before writing anything: split or still huge, every
 * mapping translates as before.  Then it writes one page of every 2M
 * range, two in every other one: each first write to a still-huge mapping
 * breaks it, and each written page there gets a 4K mapping of its own.
 */
static void after_split(struct run *r)
{
	uint64_t nr = r->log.nr_ranges, i, n = 0, broken = 0, fresh = 0;
	struct nmmu_delta d = { 0 };
	uint32_t *pages;
	char phase[320];

	test_check("read-after-split");
	nmmu_check(&r->f, r->va, 1);
	snprintf(phase, sizeof(phase), "%s, L2 reads A after the split", r->desc);
	nmmu_phase_end(&r->f, phase, &d);

	pages = calloc(2 * nr, sizeof(*pages));
	TEST_ASSERT(pages, "out of memory");
	for (i = 0; i < nr; i++) {
		uint64_t off = (i * 37) % PAGES_2M, w = i % 2 ? 1 : 2;

		pages[n++] = i * PAGES_2M + off;
		if (w == 2)
			pages[n++] = i * PAGES_2M + (off + PAGES_2M / 2) % PAGES_2M;
		if (range_huge(r, i)) {
			broken++;
			fresh += w;
		}
	}
	test_check("writes");
	nmmu_write_pages(&r->f, r->va, pages, n, 2);
	snprintf(phase, sizeof(phase), "%s, L2 writes %lu pages (%lu into still-huge "
		 "mappings)", r->desc, n, fresh);

	/* First what a lost write would break, then how the writes were mapped. */
	test_check("dirty");
	nmmu_assert_dirty(&r->f, r->a, phase, NULL);

	test_check("lazy-break");
	if (r->huge_size == SZ_1G && r->log.result_1g < 0)
		nmmu_delta_maps(&d, SZ_1G, -1);
	else
		nmmu_delta_maps(&d, SZ_2M, -(int64_t)broken);
	nmmu_delta_maps(&d, SZ_4K, (int64_t)fresh);
	nmmu_phase_end(&r->f, phase, &d);
	free(pages);
}

static void variant_desc(const struct variant *v, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s %s leaf: %s", nested_vendor_name(kvm_nested_vendor()),
		 backing_name(v->backing),
		 tdp_level_name(v->backing == BACKING_HUGETLB_1G ? TDP_1G : TDP_2M), v->what);
}

static void run_variant(void *arg)
{
	struct run r = { .v = arg };

	variant_desc(r.v, r.desc, sizeof(r.desc));
	setup(&r);
	populate(&r);
	if (r.p)
		primer(&r);
	failing_split(&r);
	after_split(&r);
	free(r.log.range);
	nmmu_free(&r.f);
}

static void variant_name(const void *v, char *buf, size_t len)
{
	variant_desc(v, buf, len);
}

int main(int argc, char *argv[])
{
	return nmmu_main(&cli, &NMMU_TABLE(variants, .require = nmmu_require,
					   .name = variant_name, .run = run_variant), argc, argv);
}
