// SPDX-License-Identifier: GPL-2.0
/*
 * Eager splitting of nested huge mappings when L1 pages have several of
 * them: a huge-backed slot mapped at k L2 GPAs (aliases) with huge EPT/NPT
 * leaves, or through k EPT/NPT roots (one per vCPU), or with 4K aliases of
 * some or all of its pages.  Each alias gives the L1 gfns one more rmap
 * entry, so splitting allocates rmap descriptors (pte_list_desc) from the
 * VM's split caches, which KVM tops up with mmu_lock dropped
 * (shadow_mmu_try_split_huge_page -> topup_split_caches).  Enabling dirty
 * logging must split every huge mapping of every alias before the ioctl
 * returns, dirty logging must see L2's writes through every alias, and
 * the kvmmmu:kvm_mmu_split_huge_page events must show each huge SPTE split
 * once and few lock drops to top up (-EAGAIN): the descriptor cache is
 * filled beyond the worst case of one huge page so that the descriptors a
 * few aliases consume don't force a drop per huge page.  Without the
 * tracepoint (Linux 5.18+) the variants skip.
 */
#include <unistd.h>

#include "tracefs.h"
#include "variant.h"
#include "x86_64/kvm_caps.h"
#include "x86_64/nested_mmu.h"

#define SLOT		1
#define SLOT_GPA	(4ULL << 30)
#define L2_4K_BASE	(8ULL << 30)	/* the 4K aliases */
#define L2_HUGE_BASE	(16ULL << 30)	/* huge alias j at + j * ALIGN_UP(size, 1G) */

/*
 * KVM's split cache sizes (arch/x86/kvm/mmu/mmu.c, arch/x86/include/asm/
 * kvm_host.h and kvm_types.h, the same in 6.1 and 6.12).  Before every
 * split, need_topup_split_caches_or_resched() asks for SPLIT_DESC_MIN free
 * descriptors (one per child SPTE of a huge page, plus one for the parent
 * list) and one free shadow-page header and page; topup_split_caches()
 * then fills the descriptor cache to SPLIT_DESC_CAPACITY and the other two
 * to SPLIT_PAGE_CAPACITY.  A pte_list_desc holds PTE_LIST_EXT SPTEs.
 */
#define SPLIT_DESC_MIN		513
#define SPLIT_DESC_CAPACITY	(SPLIT_DESC_MIN + 40)
#define SPLIT_PAGE_CAPACITY	40
#define PTE_LIST_EXT		14

#define SPLIT_EVENT_SYSTEM	"kvmmmu"
#define SPLIT_EVENT		"kvm_mmu_split_huge_page"

enum alias_kind {
	ALIAS_L2,	/* k L2 GPA ranges in one root, huge leaves */
	ALIAS_ROOTS,	/* k roots, one per vCPU, same L2 GPA range, huge leaves */
	ALIAS_SPARSE_4K,	/* one huge range, plus one page of each huge page at 4K */
	ALIAS_DENSE_4K,	/* one huge range, plus every page at 4K */
};

struct variant {
	enum alias_kind kind;
	int k;			/* huge mappings of each L1 huge page */
	enum tdp_level leaf;	/* L1's huge leaf, the size of the host pages too */
};

static const struct variant variants[] = {
	{ .kind = ALIAS_L2, .k = 2, .leaf = TDP_2M },
	{ .kind = ALIAS_L2, .k = 4, .leaf = TDP_2M },
	{ .kind = ALIAS_L2, .k = 16, .leaf = TDP_2M },
	{ .kind = ALIAS_ROOTS, .k = 4, .leaf = TDP_2M },
	{ .kind = ALIAS_L2, .k = 2, .leaf = TDP_1G },
	{ .kind = ALIAS_SPARSE_4K, .k = 1, .leaf = TDP_2M },
	{ .kind = ALIAS_DENSE_4K, .k = 1, .leaf = TDP_2M },
};

static uint64_t opt_trace_size = 128ULL << 20;

static bool parse_trace_size(const char *arg)
{
	return !parse_size(arg, &opt_trace_size) && opt_trace_size >= (32ULL << 20) &&
	       IS_ALIGNED(opt_trace_size, SZ_2M) && opt_trace_size <= SZ_1G;
}

static struct nmmu_cli cli = {
	.about = "eager splitting of nested huge pages with several aliases or roots",
	.b = { "slot size of the 2M-leaf alias variants", 64ULL << 20, .max = SZ_1G },
	.s = { "host memory of the 2M-leaf variants: hugetlb2m (default) or thp;\n"
	       "                the 1G-leaf variant uses hugetlb1g",
	       1 << BACKING_HUGETLB_2M | 1 << BACKING_THP },
	.opts = (const struct nmmu_opt[]){
		{ 't', "size", "slot size of the sparse 4K alias (tracepoint) variant\n"
			       "                (default 128M, a 2M multiple from 32M to 1G)",
		  parse_trace_size },
		{ 0 },
	},
};

struct setup {
	const struct variant *v;
	struct nmmu f;
	struct nmmu_slot *slot;
	uint64_t huge_size;		/* size of L1's huge leaves and host pages */
	uint64_t nr_huge;		/* huge pages in the slot */
	int nr_views;			/* huge views */
	struct nmmu_view *views[16];
	struct nmmu_view *view_4k;	/* NULL, or the 4K aliases */
	uint32_t *pages_4k;		/* pages mapped by the 4K view */
	uint64_t nr_pages_4k;
};

/*
 * L2 writes the whole slot through every huge view and its pages through
 * the 4K view.  Writes, not reads: on NPT (which has dirty bits) a read
 * through a clean gpte records the mapping without write access
 * (FNAME(protect_clean_gpte)), and that different access would give the
 * alias split pages of its own.  Every view maps page i of its range to
 * page i of the slot, so the values (tag ^ page) agree across views.
 */
static void touch_all_views(struct setup *s, uint64_t tag)
{
	int j;

	for (j = 0; j < s->nr_views; j++)
		nmmu_write(&s->f, s->views[j], tag);
	if (s->view_4k)
		nmmu_write_pages(&s->f, s->view_4k, s->pages_4k, s->nr_pages_4k, tag);
	/* And read through the first what the last wrote. */
	nmmu_check(&s->f, s->views[0], tag);
}

/* kvmmmu:kvm_mmu_split_huge_page events, by result. */
struct split_events {
	uint64_t ok[4];		/* successful splits, by level of the huge SPTE */
	uint64_t eagain;	/* mmu_lock dropped to top up or reschedule */
	uint64_t other;		/* any other error (-ENOSPC, -ENOMEM) */
	int other_errno;
	uint64_t unparsed;
};

static void split_event(const char *fields, void *arg)
{
	struct split_events *e = arg;
	unsigned long long gfn, spte;
	int level, err;

	if (sscanf(fields, "gfn %llx spte %llx level %d errno %d", &gfn, &spte, &level,
		   &err) != 4 || level < 1 || level > 3) {
		e->unparsed++;
		return;
	}
	if (!err) {
		e->ok[level]++;
	} else if (err == -EAGAIN) {
		e->eagain++;
	} else {
		e->other++;
		e->other_errno = err;
	}
}

/*
 * How much the split consumes from the caches, per L1 huge page of the
 * slot, derived from shadow_mmu_split_huge_page():
 * - New shadow pages: the huge SPTEs of all aliases with the same EPT/NPT
 *   permissions share one direct shadow page per L1 huge page
 *   (shadow_mmu_get_sp_for_split() looks it up by gfn and role, and the
 *   role does not depend on the alias), and a 1G one gets 512 more below
 *   it for its 2M children.
 * - Descriptors: linking that shared page under k parents puts k entries
 *   in its parent list (mmu_page_add_parent_pte), a list once it has two:
 *   DIV_ROUND_UP(k, PTE_LIST_EXT) descriptors for k >= 2.  A 4K child
 *   whose gfn is already mapped at 4K by a 4K alias puts a second entry in
 *   that gfn's rmap: one descriptor.
 */
static void split_consumption(const struct setup *s, uint64_t *sps, uint64_t *descs)
{
	const struct variant *v = s->v;
	uint64_t per_page = s->huge_size == SZ_1G ? 1 + 512 : 1;

	*sps = s->nr_huge * per_page;
	*descs = 0;
	if (v->k >= 2)
		*descs += s->nr_huge * DIV_ROUND_UP(v->k, PTE_LIST_EXT);
	*descs += s->nr_pages_4k;
}

static void check_split_events(struct setup *s, const char *desc,
			       const struct split_events *e, uint64_t lost)
{
	uint64_t sps, descs, refills, bound;
	int level = s->huge_size == SZ_1G ? 3 : 2;

	TEST_ASSERT(!lost, "%s: the trace buffer dropped %lu events", desc, lost);
	TEST_ASSERT(!e->unparsed, "%s: %lu %s events could not be parsed", desc,
		    e->unparsed, SPLIT_EVENT);
	TEST_ASSERT(!e->other, "%s, enable dirty logging: %lu splits failed, the last "
		    "with errno %d (expected only 0 and -EAGAIN)", desc, e->other, e->other_errno);
	/*
	 * Each huge SPTE of each alias is split once, successfully; a 1G one
	 * leaves 512 2M SPTEs in the shared split page, each split once.
	 */
	TEST_ASSERT(e->ok[level] == s->v->k * s->nr_huge,
		    "%s, enable dirty logging: expected %lu successful splits of %s SPTEs "
		    "(every alias's mapping of every huge page, once), found %lu",
		    desc, s->v->k * s->nr_huge, tdp_level_name(level), e->ok[level]);
	if (level == 3)
		TEST_ASSERT(e->ok[2] == s->nr_huge * 512,
			    "%s, enable dirty logging: expected %lu successful splits of the 2M "
			    "SPTEs made from the 1G ones, found %lu", desc, s->nr_huge * 512,
			    e->ok[2]);

	split_consumption(s, &sps, &descs);
	ksft_print_msg("%s: %lu huge SPTEs split, %lu mmu_lock drops (-EAGAIN); "
		       "%lu new shadow pages, %lu descriptors consumed\n",
		       desc, e->ok[1] + e->ok[2] + e->ok[3], e->eagain, sps, descs);
	if (s->v->kind == ALIAS_DENSE_4K) {
		/*
		 * 512 descriptors per huge page leave 553 - 512 < 513 in the
		 * cache: a top-up before every huge page is the design here.
		 */
		return;
	}
	/*
	 * The caches start empty, so the first split drops the lock once to
	 * fill them.  After that the header and page caches (40 each, one
	 * taken per new shadow page) run dry every 40 new shadow pages, and
	 * the descriptor cache (553, topped up when below 513) every 40
	 * descriptors: at most 1 + DIV_ROUND_UP(sps, 40) + DIV_ROUND_UP(descs,
	 * 40) top-ups.  need_resched() and lock contention may add drops the
	 * test does not control; allow 4 + 1/8 of the L1 huge pages for them.
	 * A descriptor cache filled only to its minimum drops the lock before
	 * almost every split once a descriptor was consumed: about one drop per
	 * descriptor, at least the number of L1 huge pages here.
	 */
	test_check("lock-drops");
	refills = 1 + DIV_ROUND_UP(sps, SPLIT_PAGE_CAPACITY) +
		  DIV_ROUND_UP(descs, SPLIT_DESC_CAPACITY - SPLIT_DESC_MIN);
	bound = refills + 4 + s->nr_huge / 8;
	TEST_ASSERT(e->eagain <= bound,
		    "%s, enable dirty logging: mmu_lock dropped %lu times to top up the split "
		    "caches (-EAGAIN) for %lu huge pages; expected at most %lu (%lu top-ups "
		    "for %lu new shadow pages and %lu descriptors, 40 per top-up, plus slack)",
		    desc, e->eagain, s->nr_huge, bound, refills, sps, descs);
}

struct trace_ctx {
	struct trace_instance *ti;
	char why[256];
};

static void trace_setup(struct trace_ctx *t)
{
	char name[64];
	int ret;

	snprintf(name, sizeof(name), "kvm_split_alias_%d", getpid());
	t->ti = trace_instance_create(name, t->why, sizeof(t->why));
	if (!t->ti)
		return;
	ret = __trace_event_enable(t->ti, SPLIT_EVENT_SYSTEM, SPLIT_EVENT);
	if (ret) {
		snprintf(t->why, sizeof(t->why), "cannot enable %s:%s: %s%s", SPLIT_EVENT_SYSTEM,
			 SPLIT_EVENT, strerror(-ret),
			 ret == -ENOENT ? " (the event exists since Linux 5.18)" : "");
		t->ti = NULL;
	}
}

static void region_setup(struct setup *s, const struct variant *v)
{
	unsigned int roots[NESTED_WORKER_MAX_VCPUS] = { 0 };
	uint64_t size, stride, per, i;
	int j;

	s->v = v;
	s->huge_size = tdp_level_size(v->leaf);
	size = v->leaf == TDP_1G ? SZ_1G : v->kind == ALIAS_SPARSE_4K ? opt_trace_size : cli.b.size;
	s->nr_huge = size / s->huge_size;
	if (v->leaf == TDP_1G)
		TEST_REQUIRE(nested_has_1g(), "no 1G pages in L1's EPT/NPT or on the host");

	nmmu_create(&s->f);
	s->slot = nmmu_slot_require(&s->f, SLOT, SLOT_GPA, size, v->leaf == TDP_1G ?
				    BACKING_HUGETLB_1G : cli.s.backing >= 0 ? (enum backing_type)
				    cli.s.backing : BACKING_HUGETLB_2M);
	stride = ALIGN_UP(size, SZ_1G);
	s->nr_views = v->kind == ALIAS_L2 || v->kind == ALIAS_ROOTS ? v->k : 1;
	TEST_ASSERT(s->nr_views <= (int)ARRAY_SIZE(s->views), "too many aliases");
	for (j = 0; j < s->nr_views; j++) {
		if (v->kind == ALIAS_ROOTS)
			roots[j] = j ? nmmu_root_add(&s->f) : 0;
		s->views[j] = nmmu_view_add(&s->f, s->slot, roots[j], L2_HUGE_BASE +
					    (v->kind == ALIAS_L2 ? j * stride : 0), v->leaf);
		if (v->kind == ALIAS_ROOTS)
			s->views[j]->vcpu = j;
	}

	if (v->kind == ALIAS_SPARSE_4K || v->kind == ALIAS_DENSE_4K) {
		s->pages_4k = calloc(s->slot->nr_pages, sizeof(*s->pages_4k));
		TEST_ASSERT(s->pages_4k, "out of memory");
		/*
		 * Sparse: one odd page of each huge page (the huge views write
		 * even pages in the dirty phase, so every written page is
		 * written through one alias).  Dense: every page, the worst
		 * case the descriptor cache's minimum is sized for.
		 */
		per = s->huge_size / SZ_4K;
		for (i = 0; i < s->slot->nr_pages; i++)
			if (v->kind == ALIAS_DENSE_4K ||
			    i % per == 2 * ((i / per) * 37 % (per / 2)) + 1)
				s->pages_4k[s->nr_pages_4k++] = i;
		s->view_4k = nmmu_view_add_pages(&s->f, s->slot, L2_4K_BASE, s->pages_4k,
						 s->nr_pages_4k);
	}
	nmmu_start(&s->f, v->kind == ALIAS_ROOTS ? v->k : 1,
		   v->kind == ALIAS_ROOTS ? roots : NULL);
}

static const char *variant_desc(const struct variant *v, char *buf, size_t len)
{
	const char *vendor = nested_vendor_name(kvm_nested_vendor());

	switch (v->kind) {
	case ALIAS_L2:
		snprintf(buf, len, "%s %d L2 aliases, %s leaves", vendor, v->k,
			 tdp_level_name(v->leaf));
		break;
	case ALIAS_ROOTS:
		snprintf(buf, len, "%s %d vCPUs with distinct EPT/NPT roots, %s leaves", vendor,
			 v->k, tdp_level_name(v->leaf));
		break;
	case ALIAS_SPARSE_4K:
		snprintf(buf, len, "%s one 4K alias per %s page: few mmu_lock drops to top up "
			 "(tracepoint)", vendor, tdp_level_name(v->leaf));
		break;
	case ALIAS_DENSE_4K:
		snprintf(buf, len, "%s 4K aliases of every page, %s leaves", vendor,
			 tdp_level_name(v->leaf));
		break;
	}
	return buf;
}

static void run_variant(void *arg)
{
	const struct variant *v = arg;
	struct setup s = { 0 };
	struct split_events ev = { 0 };
	struct trace_ctx t = { 0 };
	uint64_t i, nr, lost = 0;
	struct nmmu_delta d = { 0 };
	char desc[160], phase[224];
	uint32_t *list;
	long n;
	int j;

	test_check("setup");
	variant_desc(v, desc, sizeof(desc));
	/* Every phase after populate assumes eager splitting: set it, never inherit it. */
	kvm_param_require("kvm", "eager_page_split", "Y", true);
	trace_setup(&t);
	/* Every variant checks the split events: no tracepoint, no variant. */
	TEST_REQUIRE(t.ti, "%s", t.why);
	region_setup(&s, v);

	/* 1: L2 maps the slot through every view. */
	test_check("populate");
	touch_all_views(&s, 1);
	if (s.view_4k)
		nmmu_delta_view(&d, s.view_4k, 1);
	nmmu_delta_maps(&d, s.huge_size, v->k * s.nr_huge);
	snprintf(phase, sizeof(phase), "%s, populate (huge mappings of every alias)", desc);
	nmmu_phase_end(&s.f, phase, &d);

	/*
	 * 2: enabling logging splits every huge mapping of every alias.  How
	 * many 4K mappings that makes: the huge SPTEs of aliases with the same
	 * permissions all split into one direct shadow page per L1 huge page
	 * (shadow_mmu_get_sp_for_split() finds the one the first alias
	 * created; shadow_mmu_split_huge_page() skips its present SPTEs and
	 * only links it under the next alias), so the 4K count grows by the
	 * slot's pages once, not once per alias; the huge counts drop by
	 * every alias's mappings.  (Aliases whose EPT/NPT permissions differ
	 * would each get their own split pages: k x the slot's pages.)  4K
	 * aliases keep their own 4K mappings.
	 */
	test_check("enable");
	TEST_ASSERT(!__trace_clear(t.ti) && !__trace_set_on(t.ti, true),
		    "starting the trace instance");
	vm_dirty_log_enable(s.f.vm, SLOT);
	TEST_ASSERT(!__trace_set_on(t.ti, false), "stopping the trace instance");
	n = __trace_for_each(t.ti, SPLIT_EVENT, split_event, &ev, &lost);
	TEST_ASSERT(n >= 0, "reading the trace instance: %s", strerror((int)-n));
	d = (struct nmmu_delta){ 0 };
	nmmu_delta_maps(&d, SZ_4K, s.slot->nr_pages);
	nmmu_delta_maps(&d, s.huge_size, -(int64_t)(v->k * s.nr_huge));
	snprintf(phase, sizeof(phase), "%s, enable dirty logging (eager split)", desc);
	nmmu_phase_end(&s.f, phase, &d);
	test_check("split-events");
	check_split_events(&s, desc, &ev, lost);

	/*
	 * 3: L2 writes even pages through the huge views, view j every
	 * (6k)th from page 2j, and odd pages through the 4K view: each of them
	 * must be dirty in L1 GPA terms, nothing else, and nothing merges
	 * back.
	 */
	test_check("alias-writes");
	list = calloc(s.slot->nr_pages, sizeof(*list));
	TEST_ASSERT(list, "out of memory");
	for (j = 0; j < s.nr_views; j++) {
		for (nr = 0, i = 2 * j; i < s.slot->nr_pages; i += 2 * s.nr_views * 3)
			list[nr++] = i;
		nmmu_write_pages(&s.f, s.views[j], list, nr, 2);
	}
	if (s.view_4k) {
		for (nr = 0, i = 0; i < s.nr_pages_4k; i++)
			if (s.pages_4k[i] % 2 && (v->kind == ALIAS_SPARSE_4K || i % 6 == 1))
				list[nr++] = s.pages_4k[i];
		nmmu_write_pages(&s.f, s.view_4k, list, nr, 2);
	}
	snprintf(phase, sizeof(phase), "%s, L2 writes through every alias", desc);
	nmmu_phase_end(&s.f, phase, &(struct nmmu_delta){ 0 });
	test_check("alias-dirty");
	nmmu_assert_dirty(&s.f, s.slot, phase, NULL);

	free(list);
	free(s.pages_4k);
	nmmu_free(&s.f);
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
