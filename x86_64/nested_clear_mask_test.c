// SPDX-License-Identifier: GPL-2.0
/*
 * KVM_CLEAR_DIRTY_LOG one 64-page word at a time, on memslots whose base
 * is not 64-page aligned, on the nested MMU, in manual-protect mode with
 * INITIALLY_SET.  kvm_arch_mmu_enable_log_dirty_pt_masked() gets a word's
 * mask of pages that were dirty and cleared; with eager_page_split=Y it
 * splits every huge mapping that intersects [first set bit, last set bit]
 * down to 4K (a 1G mapping to 2M, then the 2M pieces in the range to 4K),
 * and with either setting it write-protects the huge mappings holding the
 * first and the last set bit, which lie in two huge pages when the word
 * straddles a huge page boundary (possible only when base_gfn is not
 * 64-page aligned).
 *
 * Cases are generated: slot geometries (offsets off a 2M boundary, an
 * aligned control, 2M and 1G pages) crossed with mask shapes placed
 * relative to the huge page boundaries of the geometry (a single page
 * first/last/inside a 2M or 1G page, a word across two huge pages, a word
 * whose last set bit is the first page of the next huge page, the slot's
 * first and last words), plus seeded random words and masks.  After each
 * CLEAR the mapping counts change exactly as a model of the slot's
 * mappings says; then L2 reads the split (or, with eager_page_split=N,
 * write-protected) huge pages around the first and last cleared page (the
 * whole 2M range, a 1G page's first and last page) and finds what it
 * wrote there, writes each cleared page and a few others, and the next
 * KVM_GET_DIRTY_LOG reports exactly the pages still dirty plus those
 * written: no write may be lost.  With eager_page_split=N a sample of the
 * huge mappings broken by the write faults is read again afterwards (the
 * lazy split keeps every translation), and the counts of the L2 phase
 * follow the model too.
 */
#include <string.h>
#include <time.h>

#include "x86_64/kvm_caps.h"
#include "x86_64/nested_mmu.h"
#include "variant.h"

#define SLOT_A		1
#define L2_GPA_A	(16ULL << 30)
#define PAGES_2M	512UL
#define PAGES_1G	(512UL * 512)
#define WORD		64
#define MAX_CASES	256
#define MAX_U64(a, b)	((uint64_t)(a) > (uint64_t)(b) ? (uint64_t)(a) : (uint64_t)(b))
#define MIN_U64(a, b)	((uint64_t)(a) < (uint64_t)(b) ? (uint64_t)(a) : (uint64_t)(b))

/* A memslot geometry. */
struct geom {
	const char *name;	/* the variant name's geometry: where the slot starts */
	enum backing_type backing;
	gpa_t gpa;
	uint64_t size;
	bool sweep;		/* only with -a */
	bool sweep_n;		/* the eager_page_split=N variant only with -a */
};

#define G1		(1UL << 30)
#define K(x)		((x) * 1024UL)
#define M(x)		((x) * 1024UL * 1024)

#define GEOM(n, b, g, sz, ...) { .name = (n), .backing = (b), .gpa = (g), .size = (sz), __VA_ARGS__ }

static const struct geom geoms[] = {
	GEOM("slot at +0, 64-page words inside 2M", BACKING_HUGETLB_2M, 4 * G1, M(32)),
	GEOM("slot at +128K, 64-page words across 2M", BACKING_HUGETLB_2M, 4 * G1 + K(128),
	     M(32) - K(128) - K(20)),
	GEOM("slot at +4K, 64-page words across 2M", BACKING_HUGETLB_2M, 4 * G1 + K(4),
	     M(32) - K(8)),
	GEOM("slot at +252K, 64-page words across 2M", BACKING_HUGETLB_2M, 4 * G1 + K(252),
	     M(32) + K(8) - K(252)),
	/* A 1G page and its split; only the first case meets it whole. */
	GEOM("slot at +0, 64-page words inside 1G", BACKING_HUGETLB_1G, 4 * G1, G1,
	     .sweep_n = true),
	/* From a 4K head into a 1G page: two 1G pages of host memory. */
	GEOM("slot at +4K, 64-page words across 1G", BACKING_HUGETLB_1G, 5 * G1 - M(2) + K(4),
	     G1 + M(2) - K(4)),
	/* -a */
	GEOM("slot at +8K, 64-page words across 2M", BACKING_HUGETLB_2M, 4 * G1 + K(8),
	     M(12) - K(8), .sweep = true),
	GEOM("slot at +124K, 64-page words across 2M", BACKING_HUGETLB_2M, 4 * G1 + K(124),
	     M(12) + K(60), .sweep = true),
	GEOM("slot at +1M+4K, 64-page words across 2M", BACKING_HUGETLB_2M, 4 * G1 + M(1) + K(4),
	     M(12) - K(4), .sweep = true),
	GEOM("slot at +252K, 64-page words across 2M, 4M slot", BACKING_HUGETLB_2M,
	     4 * G1 + K(252), M(4) - K(252) + K(4), .sweep = true),
	GEOM("slot at +2M-4K, 64-page words across 2M", BACKING_HUGETLB_2M, 4 * G1 + M(2) - K(4),
	     M(8) + K(4), .sweep = true),
	GEOM("slot at +132K, 64-page words across 1G", BACKING_HUGETLB_1G, 5 * G1 - M(4) + K(132),
	     G1 + M(4) - K(132), .sweep = true),
};

struct variant {
	const struct geom *g;
	bool eager;
};

static struct variant variants[2 * ARRAY_SIZE(geoms)];

static uint64_t opt_seed = 20261201;
#define RANDOM_UNSET	(~0ULL)
static uint64_t opt_random = RANDOM_UNSET;
static bool opt_all;

static bool parse_seed(const char *arg)
{
	return !parse_uint(arg, UINT64_MAX, &opt_seed) && opt_seed;
}

static bool parse_random(const char *arg)
{
	return !parse_uint(arg, MAX_CASES - 64, &opt_random);
}

static struct nmmu_cli cli = {
	.about = "KVM_CLEAR_DIRTY_LOG word by word on unaligned memslots: splits and the log "
		 "stay exact\n  -a            the larger sweep: more geometries, 64 random cases",
	.verbose = "print each case and its page count changes",
	.opts = (const struct nmmu_opt[]){
		{ 'R', "count", "random cases per variant (default 8, -a: 64; at most 192)",
		  parse_random },
		{ 'S', "seed", "random seed, a non-zero decimal (default 20261201)", parse_seed },
		{ 0 },
	},
};

/*
 * The model of the slot's nested mappings: the library's, with write
 * protection per huge mapping (INITIALLY_SET protects nothing at enable,
 * each CLEAR the huge mappings of its first and last cleared page), and
 * KVM's dirty bitmap as it must be.
 */
struct model {
	const struct geom *g;
	struct nmmu_view *view;
	uint64_t nr_pages;
	struct nmmu_state st;
	unsigned long *kdirty;	/* KVM's dirty bitmap as it must be */
	struct nmmu_delta last;	/* the model's counts at the last phase end */
};

static uint64_t lvl_pages(int lvl)
{
	return lvl == TDP_1G ? PAGES_1G : lvl == TDP_2M ? PAGES_2M : 1;
}

/* The gfn of a slot page. */
static uint64_t gfn_of(const struct model *m, uint64_t page)
{
	return m->g->gpa / SZ_4K + page;
}

/* The first slot page of the mapping of that level around page. */
static uint64_t map_first(const struct model *m, uint64_t page, int lvl)
{
	return page - gfn_of(m, page) % lvl_pages(lvl);
}

/* L2 touches a page, the slot logging. */
static void model_touch(struct model *m, uint64_t page, bool write)
{
	nmmu_state_access(&m->st, page, 1, write, true, NULL);
}

/* The mapping KVM installs for a page when L2 first touches it, logging off. */
static int initial_lvl(const struct model *m, uint64_t page)
{
	return tdp_size_level(nmmu_model_map_size(m->view, page));
}

/* A CLEAR: what KVM must do with the pages whose bits it really cleared. */
static void model_clear(struct model *m, bool eager, uint64_t s, uint64_t e)
{
	if (eager) {
		/* Every 1G mapping intersecting [s, e] to 2M, then every 2M one to 4K. */
		nmmu_state_split(&m->st, s, e - s + 1, SZ_2M);
		nmmu_state_split(&m->st, s, e - s + 1, SZ_4K);
	}
	/* The huge mappings holding the first and the last bit. */
	nmmu_state_protect(&m->st, s);
	nmmu_state_protect(&m->st, e);
}

/* End a phase: the counts must have moved as the model's did since the last one. */
static void model_phase_end(struct nmmu *f, struct model *m, const char *phase)
{
	const struct nmmu_state *st = &m->st;
	struct nmmu_delta d = nmmu_state_delta(&st, 1, &m->last);

	nmmu_phase_end(f, phase, &d);
}

/* The cases. */

struct clear_case {
	char id[24];		/* check id suffix: the shape */
	char what[80];
	uint64_t word;		/* word index in the slot */
	uint64_t mask;		/* bits of the user's bitmap for that word */
};

struct gen {
	struct model *m;
	struct clear_case cases[MAX_CASES];
	int nr;
	uint8_t *used;		/* per 2M range of the slot: a table case sits there */
	uint64_t rnd;
};

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64: deterministic from the printed seed. */
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t nr_words(const struct model *m)
{
	return DIV_ROUND_UP(m->nr_pages, WORD);
}

static void add_case(struct gen *gen, const char *id, uint64_t first, uint64_t last,
		     uint64_t extra, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* A case whose set bits are first, last and the pages in extra (relative to the word). */
static void add_case(struct gen *gen, const char *id, uint64_t first, uint64_t last,
		     uint64_t extra, const char *fmt, ...)
{
	struct clear_case *c;
	va_list ap;

	TEST_ASSERT(first / WORD == last / WORD, "case %s: pages %lu and %lu in two words",
		    id, first, last);
	TEST_ASSERT(gen->nr < MAX_CASES, "more than %d cases", MAX_CASES);
	c = &gen->cases[gen->nr++];
	snprintf(c->id, sizeof(c->id), "%s", id);
	va_start(ap, fmt);
	vsnprintf(c->what, sizeof(c->what), fmt, ap);
	va_end(ap);
	c->word = first / WORD;
	c->mask = extra | 1ULL << (first % WORD) | 1ULL << (last % WORD);
}

static bool huge_at(const struct model *m, uint64_t page, int lvl)
{
	return page < m->nr_pages && initial_lvl(m, page) >= lvl;
}

/* Mark the 2M ranges of pages [a, b] used; false if one already was. */
static bool take(struct gen *gen, uint64_t a, uint64_t b, bool check)
{
	uint64_t r, off = gfn_of(gen->m, 0) % PAGES_2M;

	for (r = (a + off) / PAGES_2M; r <= (b + off) / PAGES_2M; r++)
		if (check && gen->used[r])
			return false;
	if (!check)
		for (r = (a + off) / PAGES_2M; r <= (b + off) / PAGES_2M; r++)
			gen->used[r] = 1;
	return true;
}

/*
 * The first slot page of a huge page of that level (the mapping's first
 * page) that is still unused, else the first one at all; ~0 if none.
 */
static uint64_t pick_huge(struct gen *gen, int lvl, uint64_t skip)
{
	const struct model *m = gen->m;
	uint64_t p, any = ~0ULL, n = lvl_pages(lvl);

	for (p = (n - gfn_of(m, 0) % n) % n; p < m->nr_pages; p += n) {
		if (!huge_at(m, p, lvl) || !huge_at(m, p + n - 1, lvl))
			continue;
		if (skip) {
			skip--;
			continue;
		}
		if (any == ~0ULL)
			any = p;
		if (take(gen, p + n / 2 - 1, p + n / 2, true))
			return p;
	}
	return any;
}

/*
 * A 2M boundary inside a word, between two mappings of which the second
 * is huge (both if both_huge): returns the slot page of the boundary (the
 * first page of the second mapping), ~0 if the geometry has none.
 */
static uint64_t pick_boundary(struct gen *gen, bool both_huge, uint64_t before, uint64_t after)
{
	const struct model *m = gen->m;
	uint64_t b, any = ~0ULL;

	for (b = (PAGES_2M - gfn_of(m, 0) % PAGES_2M) % PAGES_2M; b < m->nr_pages; b += PAGES_2M) {
		if (!b || b % WORD < before || WORD - b % WORD <= after || b + after >= m->nr_pages)
			continue;
		if (!huge_at(m, b, TDP_2M) || (both_huge && !huge_at(m, b - 1, TDP_2M)))
			continue;
		if (any == ~0ULL)
			any = b;
		if (take(gen, b - before, b + after, true))
			return b;
	}
	return any;
}

/* From the 4K head of the slot to the first page of a huge page, if there is one. */
static bool head_case(struct gen *gen)
{
	const struct model *m = gen->m;
	uint64_t b = pick_boundary(gen, false, 1, 0);

	if (b == ~0ULL || huge_at(m, b - 1, TDP_2M))
		return false;
	add_case(gen, "head-next-first", ALIGN_DOWN(b, WORD), b, 0,
		 "pages %lu and %lu: from the 4K head to the first page of a huge page",
		 ALIGN_DOWN(b, WORD), b);
	return true;
}

static void table_cases(struct gen *gen, bool is_1g)
{
	const struct model *m = gen->m;
	uint64_t p, b, last = m->nr_pages - 1, w, mask;
	bool head = false;

	/* 1G geometries: the 1G page is whole for the first case only. */
	if (is_1g && (p = pick_huge(gen, TDP_1G, 0)) != ~0ULL) {
		head = p % WORD && head_case(gen);
		add_case(gen, "first-1g", p, p, 0, "the first page of a 1G page (page %lu)", p);
		add_case(gen, "inside-1g", p + PAGES_1G / 2 + 77, p + PAGES_1G / 2 + 77, 0,
			 "an interior page of a 1G page (page %lu)", p + PAGES_1G / 2 + 77);
		add_case(gen, "last-1g", p + PAGES_1G - 1, p + PAGES_1G - 1, 0,
			 "the last page of a 1G page (page %lu)", p + PAGES_1G - 1);
	}

	/* Words across a boundary between two huge pages. */
	if ((b = pick_boundary(gen, true, 1, 1)) != ~0ULL) {
		uint64_t a = MAX_U64(ALIGN_DOWN(b, WORD), b - 2);
		uint64_t z = MIN_U64(ALIGN_DOWN(b, WORD) + WORD - 1, b + 2);

		take(gen, a, z, false);
		add_case(gen, "across", a, z, 1ULL << ((b - 1) % WORD) | 1ULL << (b % WORD),
			 "pages %lu-%lu and %lu-%lu across a 2M boundary", a, b - 1, b, z);
	}
	if ((b = pick_boundary(gen, true, 1, 0)) != ~0ULL) {
		uint64_t f = ALIGN_DOWN(b, WORD);

		take(gen, f, b, false);
		add_case(gen, "ends-next-first", f, b, 0,
			 "pages %lu and %lu: the last set bit is the first page of the next 2M "
			 "page", f, b);
	}
	if ((b = pick_boundary(gen, true, 1, 1)) != ~0ULL) {
		take(gen, b - 1, b + 1, false);
		add_case(gen, "starts-prev-last", b - 1, b + 1, 0,
			 "pages %lu and %lu: the first set bit is the last page of a 2M page",
			 b - 1, b + 1);
	}
	if ((b = pick_boundary(gen, true, 1, 0)) != ~0ULL) {
		take(gen, b - 1, b, false);
		add_case(gen, "pair-across", b - 1, b, 0,
			 "pages %lu and %lu: the last page of a 2M page and the first of the next",
			 b - 1, b);
	}
	if ((b = pick_boundary(gen, true, 1, 0)) != ~0ULL) {
		w = b / WORD;
		take(gen, w * WORD, w * WORD + WORD - 1, false);
		add_case(gen, "full-word-across", w * WORD, MIN_U64(w * WORD + WORD, m->nr_pages) - 1,
			 ~0ULL, "all of word %lu, across a 2M boundary at page %lu", w, b);
	}
	/* Single pages of a 2M page (inside a 1G page for the 1G geometries). */
	if ((p = pick_huge(gen, TDP_2M, is_1g ? 1 : 0)) != ~0ULL) {
		take(gen, p, p + PAGES_2M - 1, false);
		add_case(gen, "first-2m", p, p, 0, "the first page of a 2M page (page %lu)", p);
	}
	if ((p = pick_huge(gen, TDP_2M, is_1g ? 3 : 0)) != ~0ULL) {
		take(gen, p, p + PAGES_2M - 1, false);
		p += PAGES_2M - 1;
		add_case(gen, "last-2m", p, p, 0, "the last page of a 2M page (page %lu)", p);
	}
	if ((p = pick_huge(gen, TDP_2M, is_1g ? 5 : 0)) != ~0ULL) {
		take(gen, p, p + PAGES_2M - 1, false);
		p += 300;
		add_case(gen, "inside-2m", p, p, 0, "an interior page of a 2M page (page %lu)", p);
	}

	if (!head)
		head_case(gen);

	/* The slot's first and last words: all bits, also those beyond the slot. */
	add_case(gen, "slot-first-page", 0, 0, 0, "the slot's first page");
	w = nr_words(m) - 1;
	mask = ~0ULL;
	add_case(gen, "slot-last-word", w * WORD, last, mask,
		 "the slot's last word (%lu pages, bits beyond the slot set too)",
		 m->nr_pages - w * WORD);
	add_case(gen, "slot-first-word", 0, MIN_U64(WORD, m->nr_pages) - 1, ~0ULL,
		 "the slot's first word");
}

static void random_cases(struct gen *gen, uint64_t n)
{
	const struct model *m = gen->m;
	uint64_t i, w, a, b, mask, bnd;

	for (i = 0; i < n; i++) {
		uint64_t kind = rnd(&gen->rnd) % 6;

		w = rnd(&gen->rnd) % nr_words(m);
		a = rnd(&gen->rnd) % WORD;
		b = rnd(&gen->rnd) % WORD;
		switch (kind) {
		case 0:
			mask = 1ULL << a;
			break;
		case 1:
			mask = 1ULL << a | 1ULL << b;
			break;
		case 2:
			if (a > b) {
				uint64_t t = a;

				a = b;
				b = t;
			}
			mask = (b - a == 63 ? ~0ULL : ((1ULL << (b - a + 1)) - 1) << a);
			break;
		case 3:
			mask = rnd(&gen->rnd) | 1;
			break;
		case 4:
			mask = ~0ULL;
			break;
		default:
			/* Around a 2M boundary: the word holding one, bits on both sides. */
			bnd = (PAGES_2M - gfn_of(m, 0) % PAGES_2M) % PAGES_2M +
			      PAGES_2M * (rnd(&gen->rnd) % (m->nr_pages / PAGES_2M + 1));
			if (bnd >= m->nr_pages)
				bnd = m->nr_pages - 1;
			w = bnd / WORD;
			mask = 1ULL << (bnd % WORD) | 1ULL << a;
			break;
		}
		TEST_ASSERT(gen->nr < MAX_CASES, "more than %d cases", MAX_CASES);
		gen->cases[gen->nr] = (struct clear_case){ .word = w, .mask = mask };
		snprintf(gen->cases[gen->nr].id, sizeof(gen->cases[0].id), "random");
		snprintf(gen->cases[gen->nr].what, sizeof(gen->cases[0].what),
			 "random case %lu (kind %lu)", i, kind);
		gen->nr++;
	}
}

/* Running a case. */

/* Seconds spent per part of the cases, for -V. */
enum { T_CLEAR, T_READ, T_WRITE, T_DIRTY, T_REREAD, T_NR };
static double t_part[T_NR];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct runner {
	struct nmmu *f;
	struct nmmu_view *v;
	struct nmmu_slot *s;
	struct model *m;
	const struct variant *var;
	unsigned long *user;	/* the bitmap passed to CLEAR */
	unsigned long *got;	/* GET's result */
	uint32_t *list;
	uint64_t tag;
	uint64_t rnd;		/* the few other pages each case writes */
};

/* L2 reads pages [first, first + n) and finds what was written there last. */
static void l2_read(struct runner *r, uint64_t first, uint64_t n)
{
	uint64_t p = first, q, tag;

	while (p < first + n) {
		tag = r->s->expect[p] ^ p;
		for (q = p + 1; q < first + n && (r->s->expect[q] ^ q) == tag; q++)
			;
		nmmu_check_range(r->f, r->v, p, q - p, tag);
		for (; p < q; p++)
			model_touch(r->m, p, false);
	}
}

/*
 * The ranges L2 reads for a case: the 2M ranges (within the slot) around
 * the first and the last set bit; for a 1G mapping also its first and last
 * page.  Only where the page was in a huge mapping before the CLEAR.
 */
struct span { uint64_t a, b; };

static int add_span(struct span *sp, int n, uint64_t a, uint64_t b)
{
	int i;

	for (i = 0; i < n; i++)
		if (sp[i].a == a && sp[i].b == b)
			return n;
	sp[n] = (struct span){ a, b };
	return n + 1;
}

static int read_spans(const struct model *m, const uint8_t *before, uint64_t s, uint64_t e,
		      struct span *sp)
{
	uint64_t pts[2] = { s, e }, a;
	int n = 0, i;

	for (i = 0; i < 2; i++) {
		if (before[i] < TDP_2M)
			continue;
		a = map_first(m, pts[i], TDP_2M);
		n = add_span(sp, n, a, a + PAGES_2M - 1);
		if (before[i] == TDP_1G) {
			a = map_first(m, pts[i], TDP_1G);
			n = add_span(sp, n, a, a);
			n = add_span(sp, n, a + PAGES_1G - 1, a + PAGES_1G - 1);
		}
	}
	return n;
}

#define REREAD	8

/* L2 reads pages [a, b] of span sp (clipped to it), unless already read. */
static void reread_part(struct runner *r, const struct span *sp, uint8_t *done,
			uint64_t a, uint64_t b)
{
	uint64_t p, q;

	a = MAX_U64(a, sp->a);
	b = MIN_U64(b, sp->b);
	for (p = a; p <= b && b >= a; p = q) {
		for (; p <= b && done[p - sp->a]; p++)
			;
		for (q = p; q <= b && !done[q - sp->a]; q++)
			done[q - sp->a] = 1;
		if (q > p)
			l2_read(r, p, q - p);
	}
}

static void reread(struct runner *r, const struct span *sp, uint64_t s, uint64_t e)
{
	uint8_t done[PAGES_2M] = { 0 };

	reread_part(r, sp, done, sp->a, sp->a + REREAD - 1);
	reread_part(r, sp, done, s > REREAD / 2 ? s - REREAD / 2 : 0, s + REREAD / 2);
	reread_part(r, sp, done, e > REREAD / 2 ? e - REREAD / 2 : 0, e + REREAD / 2);
	reread_part(r, sp, done, sp->b > REREAD ? sp->b - REREAD + 1 : 0, sp->b);
}

static void run_case(struct runner *r, int idx, const struct clear_case *c)
{
	struct model *m = r->m;
	uint64_t first = c->word * WORD, nr = MIN_U64((uint64_t)WORD, m->nr_pages - first);
	uint64_t valid = nr == WORD ? ~0ULL : (1ULL << nr) - 1, eff, s, e, i, n = 0;
	uint64_t word_dirty = 0;
	uint8_t before[2];
	struct span sp[8];
	char id[40], phase[320];
	double t0, t1;
	int nsp, k;

	for (i = 0; i < nr; i++)
		word_dirty |= (uint64_t)bitmap_test(m->kdirty, first + i) << i;
	eff = c->mask & valid & word_dirty;
	r->tag = (uint64_t)(idx + 2) << 40 | 0x5a5a;

	snprintf(phase, sizeof(phase), "%s, case %d (%s: %s): CLEAR of word %lu (pages %lu-%lu) "
		 "mask 0x%016lx, 0x%016lx of it dirty", r->var->g->name, idx, c->id, c->what,
		 c->word, first, first + nr - 1, c->mask, eff);
	pr_debug("%s\n", phase);

	snprintf(id, sizeof(id), "clear-%s", c->id);
	test_check(id);
	t0 = now();
	bitmap_zero_all(r->user, WORD);
	r->user[0] = c->mask;
	vm_dirty_log_clear(r->f->vm, SLOT_A, r->user, first, (uint32_t)nr);
	if (eff) {
		s = first + __builtin_ctzll(eff);
		e = first + 63 - __builtin_clzll(eff);
		before[0] = m->st.level[s];
		before[1] = m->st.level[e];
		for (i = 0; i < nr; i++)
			if (eff & 1ULL << i)
				bitmap_clear_bit(m->kdirty, first + i);
		model_clear(m, r->var->eager, s, e);
	} else {
		s = e = first;
		before[0] = before[1] = 0;
	}
	model_phase_end(r->f, m, phase);

	t1 = now();
	t_part[T_CLEAR] += t1 - t0;

	/* L2 reads the split or protected huge pages before writing anything. */
	snprintf(id, sizeof(id), "read-%s", c->id);
	test_check(id);
	nsp = read_spans(m, before, s, e, sp);
	for (k = 0; k < nsp; k++)
		l2_read(r, sp[k].a, sp[k].b - sp[k].a + 1);
	t0 = now();
	t_part[T_READ] += t0 - t1;

	/* Then writes each cleared page and a few others. */
	snprintf(id, sizeof(id), "dirty-%s", c->id);
	test_check(id);
	for (i = 0; i < nr; i++)
		if (eff & 1ULL << i)
			r->list[n++] = (uint32_t)(first + i);
	if (s > 0)
		r->list[n++] = (uint32_t)(s - 1);
	if (e + 1 < m->nr_pages)
		r->list[n++] = (uint32_t)(e + 1);
	r->list[n++] = (uint32_t)((e + PAGES_2M + 5) % m->nr_pages);
	r->list[n++] = (uint32_t)(rnd(&r->rnd) % m->nr_pages);
	nmmu_write_pages(r->f, r->v, r->list, n, r->tag);
	for (i = 0; i < n; i++)
		model_touch(m, r->list[i], true);
	t1 = now();
	t_part[T_WRITE] += t1 - t0;
	/* KVM's bitmap keeps what no CLEAR took; what L2 wrote is added. */
	for (i = 0; i < DIV_ROUND_UP(m->nr_pages, 64); i++)
		r->s->written[i] |= m->kdirty[i];
	nmmu_assert_dirty(r->f, r->s, phase, r->got);
	memcpy(m->kdirty, r->got, DIV_ROUND_UP(m->nr_pages, 64) * sizeof(long));
	t0 = now();
	t_part[T_DIRTY] += t0 - t1;

	/*
	 * eager_page_split=N: the writes broke the protected huge mappings into
	 * 4K mappings one fault at a time; the other pages still read back
	 * (a sample of each range: its ends and around the first and last
	 * cleared page, one 4K fault per page under emulation being slow).
	 */
	if (!r->var->eager) {
		snprintf(id, sizeof(id), "reread-%s", c->id);
		test_check(id);
		for (k = 0; k < nsp; k++)
			reread(r, &sp[k], s, e);
	}

	t_part[T_REREAD] += now() - t0;
	snprintf(id, sizeof(id), "access-%s", c->id);
	test_check(id);
	snprintf(phase + strlen(phase), sizeof(phase) - strlen(phase),
		 "; L2 read %d ranges and wrote %lu pages", nsp, n);
	model_phase_end(r->f, m, phase);
}

/* Mark the pages of the 2M range around page, within the slot. */
static void need_2m(const struct model *m, uint8_t *need, uint64_t page)
{
	uint64_t off = gfn_of(m, page) % PAGES_2M, a = page > off ? page - off : 0, i;

	for (i = a; i < page - off + PAGES_2M && i < m->nr_pages; i++)
		need[i] = 1;
}

/*
 * L2 maps the slot before logging starts, writing the pages the cases will
 * read (the 2M ranges around every page of their words, a 1G page's first
 * and last page), every page that KVM maps at 4K (the slot's partial head
 * and tail), and the first page of each huge mapping, which maps all of it.
 * Pages never written hold 0 on the host, as the fixture expects; writing
 * all of a 1G slot would only cost time.
 */
static void populate(struct runner *r, struct gen *gen)
{
	struct model *m = r->m;
	uint8_t *need = calloc(m->nr_pages, 1);
	uint64_t p, q, w, lvl;
	int c;

	TEST_ASSERT(need, "out of memory");
	for (c = 0; c < gen->nr; c++) {
		for (w = gen->cases[c].word * WORD;
		     w < (gen->cases[c].word + 1) * WORD && w < m->nr_pages; w++) {
			need_2m(m, need, w);
			if (initial_lvl(m, w) == TDP_1G) {
				p = map_first(m, w, TDP_1G);
				need[p] = need[p + PAGES_1G - 1] = 1;
			}
		}
	}
	for (p = 0; p < m->nr_pages; p++) {
		lvl = initial_lvl(m, p);
		if (lvl == TDP_4K || p == map_first(m, p, lvl))
			need[p] = 1;
	}
	for (p = 0; p < m->nr_pages; p = q) {
		for (; p < m->nr_pages && !need[p]; p++)
			;
		for (q = p; q < m->nr_pages && need[q]; q++)
			;
		if (q == p)
			break;
		nmmu_write_range(r->f, r->v, p, q - p, 1);
		/* Logging is off: the first touch maps the whole huge page. */
		nmmu_state_access(&m->st, p, q - p, true, false, NULL);
		p = q;
	}
	free(need);
}

static void run_variant(void *arg)
{
	const struct variant *var = arg;
	const struct geom *g = var->g;
	bool is_1g = g->backing == BACKING_HUGETLB_1G;
	uint64_t nr_random = opt_random;
	struct runner r = { .var = var };
	struct gen *gen;
	struct model m = { .g = g };
	double t_start = now(), t_setup, t_pop;
	struct nmmu f;
	int c;

	test_check("setup");
	TEST_REQUIRE(kvm_has_manual_protect(true),
		     "KVM lacks KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 with INITIALLY_SET");
	if (is_1g)
		TEST_REQUIRE(nested_has_1g(), "no 1G pages in L1's EPT/NPT or on the host");
	/* The model assumes the knob: set it, never inherit it. */
	kvm_param_require("kvm", "eager_page_split", var->eager ? "Y" : "N", var->eager);
	nmmu_create(&f);
	vm_manual_protect_enable(f.vm, true);
	r.f = &f;
	r.s = nmmu_slot_require_geom(&f, SLOT_A, g->gpa, g->size, g->backing, 0);
	r.v = nmmu_view_add(&f, r.s, 0, L2_GPA_A + g->gpa % SZ_1G, is_1g ? TDP_1G : TDP_2M);
	m.view = r.v;
	m.nr_pages = r.s->nr_pages;
	nmmu_state_init_kernel(&m.st, r.v);
	nmmu_state_track_wp(&m.st);
	m.kdirty = bitmap_zalloc(m.nr_pages);
	r.m = &m;
	r.user = bitmap_zalloc(WORD);
	r.got = bitmap_zalloc(m.nr_pages);
	r.list = calloc(WORD + 8, sizeof(*r.list));
	gen = calloc(1, sizeof(*gen));
	TEST_ASSERT(r.list && gen, "out of memory");
	gen->m = &m;
	gen->used = calloc(m.nr_pages / PAGES_2M + 2, 1);
	TEST_ASSERT(gen->used, "out of memory");
	gen->rnd = opt_seed ^ (uint64_t)(var - variants + 1) * 0x9e3779b97f4a7c15ULL;
	if (!gen->rnd)
		gen->rnd = 1;
	table_cases(gen, is_1g);
	random_cases(gen, nr_random);
	r.rnd = gen->rnd;
	nmmu_start(&f, 1, NULL);

	test_check("populate");
	t_setup = now();
	populate(&r, gen);
	model_phase_end(&f, &m, "populate");

	/* Enabling with INITIALLY_SET splits nothing and reports every page. */
	test_check("enable");
	vm_dirty_log_enable(f.vm, SLOT_A);
	model_phase_end(&f, &m, "enable logging with INITIALLY_SET");
	bitmap_fill_range(m.kdirty, 0, m.nr_pages);
	bitmap_fill_range(r.s->written, 0, m.nr_pages);
	nmmu_assert_dirty(&f, r.s, "GET right after enabling with INITIALLY_SET", r.got);

	t_pop = now();
	for (c = 0; c < gen->nr; c++)
		run_case(&r, c, &gen->cases[c]);
	pr_debug("%d cases in %.2f s (CLEAR %.2f, reads %.2f, writes %.2f, GET %.2f, rereads "
		 "%.2f), setup %.2f s, populate and enable %.2f s\n", gen->nr, now() - t_pop,
		 t_part[T_CLEAR], t_part[T_READ], t_part[T_WRITE], t_part[T_DIRTY],
		 t_part[T_REREAD], t_setup - t_start, t_pop - t_setup);

	free(gen->used);
	free(gen);
	free(r.list);
	free(r.got);
	free(r.user);
	free(m.kdirty);
	nmmu_state_free(&m.st);
	nmmu_free(&f);
}

static bool select_variant(const void *p)
{
	const struct variant *v = p;

	return opt_all || !(v->g->sweep || (!v->eager && v->g->sweep_n));
}

static void variant_name(const void *p, char *buf, size_t len)
{
	const struct variant *v = p;

	snprintf(buf, len, "%s %s %s eager_page_split=%c",
		 nested_vendor_name(kvm_nested_vendor()), backing_name(v->g->backing),
		 v->g->name, v->eager ? 'Y' : 'N');
}

static void require(void)
{
	nested_require(false);
	if (opt_random == RANDOM_UNSET)
		opt_random = opt_all ? 64 : 8;
	ksft_print_msg("seed %lu (replay with -S %lu), %lu random cases per variant%s\n",
		       opt_seed, opt_seed, opt_random, opt_all ? ", larger sweep (-a)" : "");
}

/* -a takes no argument, which the common parser has no room for: take it out first. */
static int take_sweep_flag(int argc, char *argv[])
{
	int i, j = 1;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			for (; i < argc; i++)
				argv[j++] = argv[i];
			break;
		}
		if (!strcmp(argv[i], "-a"))
			opt_all = true;
		else
			argv[j++] = argv[i];
	}
	argv[j] = NULL;
	return j;
}

int main(int argc, char *argv[])
{
	size_t i;

	argc = take_sweep_flag(argc, argv);
	for (i = 0; i < ARRAY_SIZE(geoms); i++) {
		variants[2 * i] = (struct variant){ &geoms[i], true };
		variants[2 * i + 1] = (struct variant){ &geoms[i], false };
	}
	return nmmu_main(&cli, &NMMU_TABLE(variants, .require = require,
					   .select = select_variant, .name = variant_name,
					   .run = run_variant), argc, argv);
}
