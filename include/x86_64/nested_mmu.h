/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The nested-MMU test fixture: a VM ready for nesting, memslots backed by
 * huge pages, L2 views of them (EPT/NPT aliases, in one root or several),
 * host-driven L2 workers that write through the views, a model of what
 * the nested MMU must map, one assertion of a phase's mapping deltas and
 * one of the dirty log, and the options every test shares.
 *
 * A test reads as: nmmu_create(), nmmu_slot_require(), nmmu_view_add(),
 * nmmu_start() (the baseline), then phases, each ending in
 * nmmu_phase_end() with the mapping changes the phase must make.
 *
 * Accounting rules, applied inside the fixture so that a test states only
 * the mappings of its own memory:
 *  - nmmu_start() returns after every L2 worker touched its code, stacks,
 *    command page and page list: what the counts move by afterwards is the
 *    views' memory and nothing of the worker.
 *  - L2 reaches its memory through L1's direct map (2M pages without
 *    GBPAGES).  The first touch of each 1 GiB of L2 addresses walks one
 *    page-directory page of L1 that KVM then maps at 4K, once whichever
 *    root or vCPU walks it (the first 1 GiB is walked before the baseline,
 *    and 1G direct-map pages need no directory).  The fixture tracks the ranges
 *    L2 touched and adds these 4K mappings to the phase that made them.
 */
#ifndef SELFTEST_X86_NESTED_MMU_H
#define SELFTEST_X86_NESTED_MMU_H

#include "dirty_log.h"
#include "kvm_util.h"
#include "stats.h"
#include "variant.h"
#include "x86_64/nested_worker.h"
#include "x86_64/tdp.h"

/* Options: -b -s -v -V -h for every test, plus the test's own. */

/* The largest -b: slots and views must fit L1's direct map, 256 GiB. */
#define NMMU_SIZE_MAX	(64ULL << 30)

struct nmmu_opt {
	int letter;
	const char *arg;		/* the argument's name in the usage; NULL: a flag */
	const char *help;		/* the text after "-x arg" ("\n" + spaces for more) */
	/* Take the argument (NULL for a flag); false: a usage error naming help's first line. */
	bool (*parse)(const char *arg);
};

struct nmmu_cli {
	const char *about;		/* one line: what the test checks */
	/* -b, when help is set: a 2M multiple from min (2M if 0) to max (NMMU_SIZE_MAX if 0) */
	struct { const char *help; uint64_t size, min, max; } b;
	/* -s, when help is set: one of the backings, 1 << enum backing_type */
	struct { const char *help; unsigned int accepted; int backing; } s;
	/* -v, when help is set: 1 to NESTED_WORKER_MAX_VCPUS */
	struct { const char *help; int nr; } v;
	const char *verbose;		/* what -V prints, if not page count changes */
	const struct nmmu_opt *opts;	/* the test's own, ending with { 0 } */
};

/*
 * Parse argv into cli (b.size, s.backing or -1, v.nr); -h prints the usage
 * and exits 0, anything invalid says what is wrong, prints the usage and
 * exits 1.
 */
void nmmu_parse_args(struct nmmu_cli *cli, int argc, char *argv[]);

/* A test's table of variants, each run in a child with one KTAP line. */
struct nmmu_table {
	const void *variants;
	size_t nr, size;			/* entries, and the size of one */
	void (*require)(void);			/* before the plan: skip the whole test */
	bool (*select)(const void *v);		/* NULL: every variant */
	void (*name)(const void *v, char *buf, size_t len);
	void (*run)(void *v);
};

#define NMMU_TABLE(array, ...)						\
	((const struct nmmu_table){ .variants = (array), .nr = ARRAY_SIZE(array), \
				    .size = sizeof((array)[0]), __VA_ARGS__ })

/*
 * The main of every test: options, requirements, then the table.  Inline,
 * as variant_run() is: kselftest.h counts results per file.
 */
static inline int nmmu_main(struct nmmu_cli *cli, const struct nmmu_table *t,
			    int argc, char *argv[])
{
	const char *v, *end = (const char *)t->variants + t->nr * t->size;
	char name[192];
	int nr = 0;

	nmmu_parse_args(cli, argc, argv);
	ksft_print_header();
	if (t->require)
		t->require();
	for (v = t->variants; v < end; v += t->size)
		nr += !t->select || t->select(v);
	ksft_set_plan(nr);
	for (v = t->variants; v < end; v += t->size) {
		if (t->select && !t->select(v))
			continue;
		t->name(v, name, sizeof(name));
		variant_run(name, t->run, (void *)v);
	}
	ksft_finished();
	return KSFT_PASS;
}

/* For the require hook: nested virtualization with EPT/NPT. */
static inline void nmmu_require(void)
{
	nested_require(false);
}

/* The VM. */

#define NMMU_MAX_SLOTS	4
#define NMMU_MAX_VIEWS	20

struct nmmu_slot {
	uint32_t id;
	gpa_t gpa;
	uint64_t size;
	uint64_t nr_pages;		/* 4K pages */
	enum backing_type backing;
	char *hva;
	uint64_t hva_skew;		/* hva - gpa modulo the backing's page size */
	uint64_t *expect;		/* what each page holds: L2's last write */
	unsigned long *written;		/* pages written while logging, since the last check */
};

/* An L2 range that maps a slot, page i of the range to page i of the slot. */
struct nmmu_view {
	struct nmmu_slot *slot;
	unsigned int root;		/* EPT/NPT root */
	int vcpu;			/* the worker that writes it; -1: all, in slices */
	l2_gpa_t l2_gpa;
	gva_t gva;			/* through L1's direct map */
	enum tdp_level leaf;		/* L1's EPT/NPT leaf (TDP_1G for an L1 view) */
	bool l1;			/* L1 itself touches the slot: the TDP MMU */
	bool listed;			/* only listed pages mapped (nmmu_view_add_pages) */
	uint64_t map_size;		/* the largest mapping the model gives the view */
	uint64_t nr_maps;		/* the mappings the model gives the whole view */
};

struct nmmu {
	struct kvm_vm *vm;
	struct nested_worker *w;
	struct nmmu_slot slots[NMMU_MAX_SLOTS];
	int nr_slots;
	struct nmmu_view views[NMMU_MAX_VIEWS];
	int nr_views;
	uint64_t touched[DIRECT_MAP_SIZE / SZ_1G / 64];	/* 1 GiB ranges of L2 GPAs */
	int64_t new_tables;		/* L1 page tables first walked this phase */
	struct page_stats last;		/* the counts at the end of the last phase */
};

/*
 * A VM ready for nesting (nested_require() first), with root 0.  The first
 * call in a process also quiets the sources of page-count noise
 * (knobs_quiet_page_counts(), restored at exit).
 */
void nmmu_create(struct nmmu *f);
void nmmu_free(struct nmmu *f);

/*
 * Add memslot id at gpa, size bytes of the backing, faulted in on the
 * host.  Documented skip: the backing is not available in that size, or
 * the host did not map all of it with pages of the backing's size.
 */
struct nmmu_slot *nmmu_slot_require(struct nmmu *f, uint32_t id, gpa_t gpa,
				    uint64_t size, enum backing_type backing);

/*
 * Like nmmu_slot_require(), at any 4K-aligned gpa with any 4K-multiple size.
 * The host address is congruent to gpa modulo the backing's page size when
 * hva_skew is 0, else hva_skew bytes (a 4K multiple below the backing's
 * page size) off congruence, so that KVM may map it only at 4K (or, for
 * hugetlb1g with a 2M-multiple skew, at 2M).  The host memory covers the
 * whole host pages the slot touches, so a partial huge page at the slot's
 * head or tail is still a huge page on the host: only KVM's memslot rules
 * keep it from mapping it huge.
 */
struct nmmu_slot *nmmu_slot_require_geom(struct nmmu *f, uint32_t id, gpa_t gpa,
					 uint64_t size, enum backing_type backing,
					 uint64_t hva_skew);

/*
 * Map the whole slot at l2_gpa in a root with L1 leaves of the given level.
 * l2_gpa must be congruent to the slot's GPA modulo the leaf size (L1's
 * leaves map aligned ranges); the leaves cover every aligned range the slot
 * touches, so at an unaligned slot the first and last leaves also cover L1
 * GPAs outside the slot, which L2 never touches.  The model's rule for the
 * nested mappings is nmmu_model_map_size().
 */
struct nmmu_view *nmmu_view_add(struct nmmu *f, struct nmmu_slot *s, unsigned int root,
				l2_gpa_t l2_gpa, enum tdp_level leaf);
/* Map only the listed pages of the slot, with 4K leaves, in root 0. */
struct nmmu_view *nmmu_view_add_pages(struct nmmu *f, struct nmmu_slot *s, l2_gpa_t l2_gpa,
				      const uint32_t *pages, uint64_t n);
unsigned int nmmu_root_add(struct nmmu *f);
/*
 * The slot as L1 itself touches it, through its direct map (no L2, no
 * EPT/NPT of L1's): the TDP MMU's mappings, the model with no L1 leaf
 * limit.  For a fixture started with nmmu_start_l1().
 */
struct nmmu_view *nmmu_view_add_l1(struct nmmu *f, struct nmmu_slot *s);

/*
 * Start nr_vcpus L2 workers, vCPU i on root roots[i] (root 0 for all when
 * roots is NULL), and take the baseline counts.
 */
void nmmu_start(struct nmmu *f, int nr_vcpus, const unsigned int *roots);
/* Instead of nmmu_start(): nr_vcpus L1 workers (nested_worker_create_l1()) for L1 views. */
void nmmu_start_l1(struct nmmu *f, int nr_vcpus);

/* L2 writes tag ^ page to every page of the view. */
void nmmu_write(struct nmmu *f, struct nmmu_view *v, uint64_t tag);
/* L2 reads every page of the view and asserts it holds tag ^ page. */
void nmmu_check(struct nmmu *f, struct nmmu_view *v, uint64_t tag);
/* L2 writes (checks) pages [first, first + n) of the view, on one vCPU. */
void nmmu_write_range(struct nmmu *f, struct nmmu_view *v, uint64_t first, uint64_t n,
		      uint64_t tag);
void nmmu_check_range(struct nmmu *f, struct nmmu_view *v, uint64_t first, uint64_t n,
		      uint64_t tag);
/* L2 writes the listed pages, spread in contiguous pieces over the vCPUs. */
void nmmu_write_pages(struct nmmu *f, struct nmmu_view *v, const uint32_t *pages,
		      uint64_t n, uint64_t tag);

/* One vCPU's share of nmmu_write_parallel(). */
struct nmmu_write {
	struct nmmu_view *view;
	const uint32_t *pages;
	uint64_t n;
	uint64_t tag;
};
/* vCPU i writes w[i], all vCPUs at once. */
void nmmu_write_parallel(struct nmmu *f, const struct nmmu_write *w);

/* For tests with their own guest code: L2 touched [l2_gpa, l2_gpa + size). */
void nmmu_touched(struct nmmu *f, l2_gpa_t l2_gpa, uint64_t size);

/* The model: expected changes of the mapping counts. */

struct nmmu_delta {
	int64_t d4k, d2m, d1g;
};

/* n more (fewer, for n < 0) nested mappings of map_size. */
void nmmu_delta_maps(struct nmmu_delta *d, uint64_t map_size, int64_t n);
/*
 * All the mappings of a view as the model gives them (the listed pages at
 * 4K for nmmu_view_add_pages()), times sign.
 */
void nmmu_delta_view(struct nmmu_delta *d, const struct nmmu_view *v, int64_t sign);

/*
 * The model: the size of the mapping KVM installs for page i of the view's
 * slot when L2 touches it and nothing (dirty logging) forces 4K: the largest
 * of 1G/2M/4K that is no larger than L1's leaf and the host page, whose
 * aligned GPA range lies wholly inside the slot, and for which the host
 * address is congruent.  These are KVM's rules: lpage_info disallows the
 * huge pages at a slot's head and tail that the slot does not wholly hold,
 * and every huge page of a slot whose host address is not congruent to its
 * GPA at that size (kvm_alloc_memslot_metadata()); kvm_mmu_max_mapping_level()
 * caps the rest at the host's page (host_pfn_mapping_level()) and, in the
 * shadow MMU, at L1's leaf.  An L1 view (nmmu_view_add_l1()) has no leaf
 * limit.
 */
uint64_t nmmu_model_map_size(const struct nmmu_view *v, uint64_t page);
/*
 * d += sign x the mappings covering pages [first, first + n) of the view's
 * slot (a huge mapping that intersects the range counts once).  Not for
 * views of listed pages.
 */
void nmmu_model_delta(struct nmmu_delta *d, const struct nmmu_view *v,
		      uint64_t first, uint64_t n, int64_t sign);

/*
 * The model with state: which mapping covers each page of a view's slot
 * now, stepped through what L2 (or L1) and the host do, so that a phase's
 * expected delta is the change of nmmu_state_counts() across it.  The
 * rules, read in the 6.1 and 6.12 sources (mmu.c, paging_tmpl.h,
 * tdp_mmu.c, spte.c):
 *  - an access with logging off to an unmapped page maps the page's
 *    nmmu_model_map_size() range (the whole range must be unmapped);
 *  - with logging on, every fault maps 4K (kvm_mmu_hugepage_adjust()), and
 *    maps it writable, so the page is dirty even when only read
 *    (make_spte() marks a writable SPTE's page dirty; the gPTEs are dirty
 *    and the host page writable after populate);
 *  - a read of a mapped page never faults; so does a write with logging
 *    off (KVM makes the SPTE writable in place);
 *  - a write with logging on to a write-protected huge mapping: the shadow
 *    MMU (nested) drops the huge SPTE and maps the page at 4K
 *    (__link_shadow_page() zaps the huge SPTE), as does the TDP MMU before
 *    6.2 (kvm_tdp_mmu_map() zaps it); since 6.2 the TDP MMU splits it on
 *    the fault instead (tdp_mmu_split_huge_page() in kvm_tdp_mmu_map()):
 *    1G into 2M, the written page's 2M into 4K, the new SPTEs write-
 *    protected copies, only the written page dirty;
 *  - eager splitting (logging on, eager_page_split=Y) splits every huge
 *    mapping of the slot to 4K, write-protected (nothing dirty);
 *  - logging off zaps every mapping smaller than the page's
 *    nmmu_model_map_size() (kvm_mmu_zap_collapsible_sptes(): only where a
 *    huge page can be mapped again; a slot's partial head and tail and an
 *    incongruent slot keep their 4K mappings); the TDP MMU since 6.13
 *    instead replaces them in place with that huge mapping, wherever one
 *    page of its range is mapped (kvm_tdp_mmu_recover_huge_pages()).
 */
enum nmmu_wp_fault {
	NMMU_WP_FAULT_DROP,	/* the huge SPTE goes, the page maps 4K */
	NMMU_WP_FAULT_SPLIT,	/* the huge SPTE splits one level at a time, to 4K */
};

struct nmmu_state {
	const struct nmmu_view *v;
	enum nmmu_wp_fault wp_fault;
	bool recover;		/* logging off recovers huge mappings in place */
	uint8_t *level;		/* per page: 0 unmapped, else its mapping's tdp_level */
	/*
	 * Per page of a huge mapping: write-protected.  NULL unless
	 * nmmu_state_track_wp(): then enabling logging protects nothing
	 * (manual protect with INITIALLY_SET) and a huge mapping is protected
	 * only by nmmu_state_protect(); without it, every huge mapping of a
	 * logging slot is.
	 */
	uint8_t *wp;
};

/* How this kernel's MMU of the view handles a write to a write-protected huge SPTE. */
enum nmmu_wp_fault nmmu_wp_fault(const struct nmmu_view *v);
/* Does this kernel's MMU of the view recover huge mappings in place at logging off? */
bool nmmu_recovers_huge(const struct nmmu_view *v);
/* Nothing mapped yet; the rules of fault kind f, and logging off zaps (recover false). */
void nmmu_state_init(struct nmmu_state *m, const struct nmmu_view *v, enum nmmu_wp_fault f);
/* Nothing mapped yet; the rules of the running kernel's MMU of the view. */
void nmmu_state_init_kernel(struct nmmu_state *m, const struct nmmu_view *v);
void nmmu_state_free(struct nmmu_state *m);
/* The mappings the state holds, by size. */
void nmmu_state_counts(const struct nmmu_state *m, struct nmmu_delta *c);
/*
 * The change of the mappings that the n states hold together since *last,
 * which then holds their sum: a phase's expected delta for nmmu_phase_end().
 */
struct nmmu_delta nmmu_state_delta(const struct nmmu_state *const *m, int n,
				   struct nmmu_delta *last);
/*
 * L2 (or L1) reads or writes pages [first, first + n), with the slot
 * logging or not.  With dirty set, the pages the accesses make dirty in
 * KVM's log (written, or faulted in writable) are set in it.
 */
void nmmu_state_access(struct nmmu_state *m, uint64_t first, uint64_t n, bool write,
		       bool logging, unsigned long *dirty);
/* Every mapping larger than size that intersects pages [first, first + n) splits to size. */
void nmmu_state_split(struct nmmu_state *m, uint64_t first, uint64_t n, uint64_t size);
/* Logging off: the collapsible mappings go, or become huge (recover). */
void nmmu_state_zap_collapsible(struct nmmu_state *m);
/* Track write protection per huge mapping (see struct nmmu_state's wp). */
void nmmu_state_track_wp(struct nmmu_state *m);
/* Write-protect the huge mapping that holds page, if any (tracked states only). */
void nmmu_state_protect(struct nmmu_state *m, uint64_t page);

/*
 * End a phase: assert that the counts moved from those at the end of the
 * previous phase (or from *from) by exactly d plus the L1 page tables L2
 * walked first in this phase, and make the counts now the next phase's
 * start.  The failure names the phase, the expected and the found change.
 */
void nmmu_phase_end(struct nmmu *f, const char *phase, const struct nmmu_delta *d);
void nmmu_phase_end_since(struct nmmu *f, const char *phase, const struct page_stats *from,
			  const struct nmmu_delta *d);

/*
 * The dirty log equals what was written: the host sees in every page of the
 * slot what L2 last wrote there, and KVM_GET_DIRTY_LOG reports exactly the
 * pages written with logging on since the last check (in L1 GPA terms,
 * whichever view the writes went through; nothing else writes the slots).
 * The bitmap goes to dirty when not NULL (for a CLEAR in manual-protect
 * mode).
 */
void nmmu_assert_dirty(struct nmmu *f, struct nmmu_slot *s, const char *phase,
		       unsigned long *dirty);

#endif /* SELFTEST_X86_NESTED_MMU_H */
