// SPDX-License-Identifier: GPL-2.0
/*
 * Dirty logging on memslots of every geometry: a slot A at 4K-aligned
 * GPAs off 2M and 1G boundaries, of sizes that leave partial huge pages at
 * its head and tail or cover part of a 1G page, or with a host address off
 * congruence, and a neighbour slot B that starts where A ends (sharing A's
 * tail huge page).  KVM may map huge only what lpage_info allows
 * (kvm_alloc_memslot_metadata() disallows the huge pages a slot does not
 * wholly hold, and every huge page of an incongruent slot), which the
 * fixture's model (nmmu_model_map_size(), nmmu_state_*()) turns into exact
 * page counts.  For the nested MMU (L2 through L1's 2M or 1G EPT/NPT
 * leaves) and, as a control, the TDP MMU (L1 itself), with
 * kvm.eager_page_split=Y and N, each variant goes through:
 *   populate    L2 (L1) writes A and B: the counts of every level, exactly;
 *   enable      logging on A: eager=Y splits exactly A's huge mappings, to
 *               4K, and nothing of B; eager=N changes nothing;
 *   read        reads of every page of A find what populate wrote (a split
 *               keeps every translation), and fault nothing in;
 *   write       writes to the first, middle and last page of every mapping
 *               of A: with eager=N the write faults on write-protected huge
 *               mappings break them as the MMU does (the shadow MMU drops the
 *               huge SPTE, the TDP MMU splits it since 6.2), and the dirty
 *               log is exact in L1 GPA terms;
 *   reread      reads of the pages not written since find populate's
 *               values; a read that faults a page in while logging maps it
 *               writable, and KVM logs it dirty: the log must say so;
 *   disable     logging off zaps exactly the collapsible mappings (not a
 *               partial head or tail, not an incongruent slot), or, in the
 *               TDP MMU since 6.13, makes them huge in place;
 *   huge-return writes to A map huge again what the model allows.
 */
#include "x86_64/kvm_caps.h"
#include "x86_64/nested_mmu.h"
#include "variant.h"

#define SLOT_A		1
#define SLOT_B		2
#define GPA_BASE	(5ULL << 30)	/* a 1G boundary: geometries are offsets from it */
#define L2_BASE_A	(16ULL << 30)
#define L2_BASE_B	(32ULL << 30)

#define K		(1LL << 10)
#define M		(1LL << 20)
#define G		(1LL << 30)

struct geom {
	int64_t off;		/* of A's GPA from GPA_BASE */
	uint64_t size;
	uint64_t skew;		/* host address off congruence */
	bool sweep;		/* only with -a: large */
};

static const struct geom geoms[] = {
	/* Aligned: the control. */
	{ .off = 0, .size = 4 * M },
	/* A head of 511 4K pages, a tail of 1. */
	{ .off = 4 * K, .size = 4 * M },
	/* Partial head and tail around two huge pages. */
	{ .off = 128 * K, .size = 6 * M + 64 * K },
	{ .off = 1 * M - 4 * K, .size = 5 * M },
	/* One head page and one tail page. */
	{ .off = 2 * M - 4 * K, .size = 4 * M + 8 * K },
	/* Inside one huge page: 4K only. */
	{ .off = 128 * K, .size = 1 * M },
	/* Two pages across a 2M boundary. */
	{ .off = 2 * M - 4 * K, .size = 8 * K },
	/* The host address 4K off congruence: 4K only. */
	{ .off = 128 * K, .size = 6 * M + 64 * K, .skew = 4 * K },
	/* Across a 1G boundary. */
	{ .off = -2 * M - 128 * K, .size = 4 * M + 256 * K },
	/* Off a 2M boundary inside a 1G page. */
	{ .off = 6 * M + 128 * K, .size = 4 * M + 64 * K },
	/* The sweep: a 1G page inside, 2M head and tail. */
	{ .off = -2 * M, .size = 1 * G + 4 * M, .sweep = true },
	/* hugetlb1g 2M off congruence: 2M, never 1G. */
	{ .off = 0, .size = 1 * G, .skew = 2 * M, .sweep = true },
	/* A 1G page with 4K partial neighbours. */
	{ .off = 4 * K, .size = 1 * G + 4 * K, .sweep = true },
};

enum mmu { MMU_NESTED_2M, MMU_NESTED_1G, MMU_TDP, NR_MMUS };

static const enum backing_type backings[] = {
	BACKING_HUGETLB_2M, BACKING_HUGETLB_1G, BACKING_THP,
};

struct variant {
	int geom;
	enum backing_type backing;
	enum mmu mmu;
	bool eager;
};

#define NR_VARIANTS	(ARRAY_SIZE(geoms) * ARRAY_SIZE(backings) * NR_MMUS * 2)
static struct variant variants[NR_VARIANTS];

static bool all;
static int only_geom = -1;

static bool parse_all(const char *arg)
{
	all = true;
	return true;
}

static bool parse_geom(const char *arg)
{
	uint64_t val;

	if (parse_uint(arg, ARRAY_SIZE(geoms) - 1, &val))
		return false;
	only_geom = (int)val;
	return true;
}

/* -g's help: the geometries, listed by main(). */
static char geom_help[2048] = "only this geometry, every variant of it:";

static struct nmmu_cli cli = {
	.about = "dirty logging and splits on memslots at unaligned GPAs and sizes, "
		 "nested MMU and TDP MMU",
	.s = { "only this backing: thp, hugetlb2m, hugetlb1g",
	       1 << BACKING_THP | 1 << BACKING_HUGETLB_2M | 1 << BACKING_HUGETLB_1G },
	.opts = (const struct nmmu_opt[]){
		{ 'a', NULL, "every geometry, backing, MMU and eager_page_split (the sweep)",
		  parse_all },
		{ 'g', "index", geom_help, parse_geom },
		{ 0 },
	},
};

/* "6M+64K", "1M-4K", "-2M-128K", "1G+4M": a size in the units it reads best in. */
static const char *size_str(int64_t v, char *buf, size_t len)
{
	static const struct { int64_t unit; char c; } u[] = { { G, 'G' }, { M, 'M' }, { K, 'K' } };
	uint64_t a = v < 0 ? -v : v;
	size_t n = 0;
	unsigned int i;
	int sign = v < 0 ? -1 : 1;

	buf[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(u) && a; i++) {
		uint64_t q = a / u[i].unit, r = a % u[i].unit;

		/* 1M-4K reads better than 1020K: round up when close below. */
		if (i + 1 < ARRAY_SIZE(u) && r && r >= (uint64_t)u[i].unit / 2 && u[i].unit > K) {
			q++;
			n += snprintf(buf + n, len - n, "%s%lu%c", sign < 0 ? "-" : n ? "+" : "",
				      q, u[i].c);
			a = q * u[i].unit - a;
			sign = -sign;
			continue;
		}
		if (!q)
			continue;
		n += snprintf(buf + n, len - n, "%s%lu%c", sign < 0 ? "-" : n ? "+" : "",
			      q, u[i].c);
		a = r;
	}
	if (!n)
		snprintf(buf, len, "0");
	return buf;
}

static const char *mmu_name(enum mmu m)
{
	return m == MMU_TDP ? "tdp-mmu" : nested_vendor_name(kvm_nested_vendor());
}

static void variant_name(const void *p, char *buf, size_t len)
{
	const struct variant *v = p;
	const struct geom *g = &geoms[v->geom];
	char off[32], size[32], skew[48] = "", buf16[16];

	size_str(g->size, size, sizeof(size));
	if (g->skew)
		snprintf(skew, sizeof(skew), " hva %s off",
			 size_str(g->skew, buf16, sizeof(buf16)));
	snprintf(buf, len, "%s %s slot at %s%s size %s%s%s eager_page_split=%c",
		 mmu_name(v->mmu), backing_name(v->backing), g->off >= 0 ? "+" : "",
		 size_str(g->off, off, sizeof(off)), size, skew,
		 v->mmu == MMU_NESTED_2M ? " 2M leaf" : v->mmu == MMU_NESTED_1G ? " 1G leaf" : "",
		 v->eager ? 'Y' : 'N');
}

/*
 * The default set, under a second each under TCG: every small geometry
 * twice, once nested and once through the TDP MMU, with the backing, the
 * L1 leaf and eager_page_split rotating: each geometry meets both MMUs and
 * both eager settings, each (leaf, eager) pair and each backing several
 * geometries.
 */
static bool in_default(const struct variant *v)
{
	int g = v->geom;
	bool even = g % 2 == 0, leaf_2m = !((g >> 1) & 1);

	if (geoms[g].sweep)
		return false;
	if (v->mmu == MMU_TDP)
		return v->backing == backings[(g + 1) % 3] && v->eager == even;
	return v->backing == backings[g % 3] && (v->mmu == MMU_NESTED_2M) == leaf_2m &&
	       v->eager == (leaf_2m == even);
}

/* Combinations that exist: a skew below the host page, huge host pages. */
static bool valid(const struct variant *v)
{
	return geoms[v->geom].skew < backing_page_size(v->backing);
}

static bool selected(const void *p)
{
	const struct variant *v = p;

	if (!valid(v))
		return false;
	if (cli.s.backing >= 0 && (int)v->backing != cli.s.backing)
		return false;
	if (only_geom >= 0)
		return v->geom == only_geom;
	return all || in_default(v);
}

struct run {
	const struct variant *v;
	const struct geom *g;
	struct nmmu f;
	struct nmmu_view *a, *b;
	struct nmmu_state ma, mb;	/* the model of A's and B's mappings */
	struct nmmu_delta last;		/* the model's counts at the end of the last phase */
	uint32_t *written;		/* pages of A written while logging */
	uint64_t nr_written;
	bool logging;
};

/* The model's counts now, minus those at the last phase's end: the phase's delta. */
static void phase_end(struct run *r, const char *phase)
{
	const struct nmmu_state *m[] = { &r->ma, &r->mb };
	struct nmmu_delta d = nmmu_state_delta(m, 2, &r->last);

	nmmu_phase_end(&r->f, phase, &d);
}

static void setup(struct run *r)
{
	const struct variant *v = r->v;
	const struct geom *g = r->g;
	enum backing_type b_backing = v->backing == BACKING_HUGETLB_1G ? BACKING_HUGETLB_2M :
				      v->backing;
	gpa_t gpa_a = GPA_BASE + g->off, gpa_b = gpa_a + g->size;
	/* B: to the end of A's tail huge page, and one more 2M page. */
	uint64_t b_size = ALIGN_UP(gpa_b, SZ_2M) + SZ_2M - gpa_b;
	struct nmmu_slot *a, *b;

	test_check("setup");
	if (v->mmu == MMU_NESTED_1G)
		TEST_REQUIRE(nested_has_1g(), "no 1G pages in L1's EPT/NPT or on the host");
	if (v->mmu == MMU_TDP) {
		kvm_require_tdp_mmu();
		TEST_REQUIRE(v->backing != BACKING_HUGETLB_1G || kvm_tdp_has_1g_pages(),
			     "the host CPU has no 1G EPT/NPT pages");
	}
	/* The expectations assume these knobs: set them, never inherit them. */
	kvm_param_require("kvm", "eager_page_split", v->eager ? "Y" : "N", v->eager);
	kvm_param_require("kvm", "nx_huge_pages", "off", false);

	nmmu_create(&r->f);
	a = nmmu_slot_require_geom(&r->f, SLOT_A, gpa_a, g->size, v->backing, g->skew);
	b = nmmu_slot_require_geom(&r->f, SLOT_B, gpa_b, b_size, b_backing, 0);
	if (v->mmu == MMU_TDP) {
		r->a = nmmu_view_add_l1(&r->f, a);
		r->b = nmmu_view_add_l1(&r->f, b);
	} else {
		enum tdp_level leaf = v->mmu == MMU_NESTED_1G ? TDP_1G : TDP_2M;

		/* L2 GPAs congruent to L1's modulo 1G, so modulo either leaf. */
		r->a = nmmu_view_add(&r->f, a, 0, L2_BASE_A + (gpa_a & (SZ_1G - 1)), leaf);
		r->b = nmmu_view_add(&r->f, b, 0, L2_BASE_B + (gpa_b & (SZ_1G - 1)), leaf);
	}
	nmmu_state_init_kernel(&r->ma, r->a);
	nmmu_state_init_kernel(&r->mb, r->b);
	r->written = calloc(a->nr_pages, sizeof(*r->written));
	TEST_ASSERT(r->written, "out of memory");
	if (v->mmu == MMU_TDP)
		nmmu_start_l1(&r->f, 1);
	else
		nmmu_start(&r->f, 1, NULL);
}

static void model_access(struct run *r, struct nmmu_state *m, uint64_t first, uint64_t n,
		   bool write)
{
	nmmu_state_access(m, first, n, write, m == &r->ma && r->logging,
			  m == &r->ma && r->logging ? r->a->slot->written : NULL);
}

static void populate(struct run *r)
{
	test_check("populate");
	nmmu_write(&r->f, r->a, 1);
	nmmu_write(&r->f, r->b, 1);
	model_access(r, &r->ma, 0, r->a->slot->nr_pages, true);
	model_access(r, &r->mb, 0, r->b->slot->nr_pages, true);
	phase_end(r, "populate A and B");
}

static void enable(struct run *r)
{
	test_check("enable");
	vm_dirty_log_enable(r->f.vm, SLOT_A);
	r->logging = true;
	if (r->v->eager)
		nmmu_state_split(&r->ma, 0, r->a->slot->nr_pages, SZ_4K);
	phase_end(r, r->v->eager ? "enable logging on A (eager split of A only)" :
		  "enable logging on A, eager_page_split=N (nothing split)");
}

/* Item 7: after the split, every page still holds what populate wrote. */
static void read_after_enable(struct run *r)
{
	test_check("read-after-split");
	nmmu_check(&r->f, r->a, 1);
	model_access(r, &r->ma, 0, r->a->slot->nr_pages, false);
	phase_end(r, "reads of all of A after logging went on");
	test_check("read-dirty");
	nmmu_assert_dirty(&r->f, r->a->slot, "reads of A after logging went on", NULL);
}

static void add_page(struct run *r, uint64_t p)
{
	if (!r->nr_written || r->written[r->nr_written - 1] < p)
		r->written[r->nr_written++] = (uint32_t)p;
}

/*
 * The first, middle and last page of every huge mapping populate made in A,
 * and of every 2M range of A's 4K mappings (its head, its tail, all of an
 * incongruent slot).
 */
static void pick_pages(struct run *r)
{
	const struct nmmu_slot *s = r->a->slot;
	uint64_t p = 0, size, end;

	while (p < s->nr_pages) {
		gpa_t gpa = s->gpa + p * SZ_4K;

		size = nmmu_model_map_size(r->a, p);
		if (size < SZ_2M)
			size = SZ_2M;
		end = (ALIGN_DOWN(gpa, size) + size - s->gpa) / SZ_4K;
		if (end > s->nr_pages)
			end = s->nr_pages;
		add_page(r, p);
		if (end - p > 2)
			add_page(r, p + (end - p) / 2 + 1);
		add_page(r, end - 1);
		p = end;
	}
}

static void writes(struct run *r)
{
	uint64_t i;

	test_check("write");
	pick_pages(r);
	nmmu_write_pages(&r->f, r->a, r->written, r->nr_written, 2);
	for (i = 0; i < r->nr_written; i++)
		model_access(r, &r->ma, r->written[i], 1, true);
	phase_end(r, r->v->eager ? "writes to A while logging" :
		  "writes to A while logging, eager_page_split=N (write faults split)");
	test_check("dirty");
	nmmu_assert_dirty(&r->f, r->a->slot, "writes to A while logging", NULL);
}

/*
 * Item 7 after the lazy split: the pages not written since populate, read
 * before anything writes them, hold populate's values.  A read that faults
 * a page in (the write fault dropped its huge mapping) maps it writable,
 * and KVM logs the page dirty when it maps it so.
 */
static void reread(struct run *r)
{
	uint64_t i, from = 0, nr = r->a->slot->nr_pages;

	test_check("reread");
	for (i = 0; i <= r->nr_written; i++) {
		uint64_t to = i < r->nr_written ? r->written[i] : nr;

		if (to > from) {
			nmmu_check_range(&r->f, r->a, from, to - from, 1);
			model_access(r, &r->ma, from, to - from, false);
		}
		from = to + 1;
	}
	phase_end(r, "reads of the pages of A not written since populate");
	test_check("reread-dirty");
	nmmu_assert_dirty(&r->f, r->a->slot, "reads of A's unwritten pages", NULL);
}

static void disable(struct run *r)
{
	test_check("disable");
	vm_dirty_log_disable(r->f.vm, SLOT_A);
	r->logging = false;
	nmmu_state_zap_collapsible(&r->ma);
	phase_end(r, "disable logging on A (zap the collapsible mappings)");
}

static void huge_return(struct run *r)
{
	test_check("huge-return");
	nmmu_write(&r->f, r->a, 4);
	nmmu_check(&r->f, r->a, 4);
	model_access(r, &r->ma, 0, r->a->slot->nr_pages, true);
	phase_end(r, "logging off, writes to A: huge again where the model allows");
	/* B saw none of it. */
	nmmu_check(&r->f, r->b, 1);
	phase_end(r, "reads of B");
}

static void run_variant(void *arg)
{
	struct run r = { .v = arg, .g = &geoms[((struct variant *)arg)->geom] };

	setup(&r);
	populate(&r);
	enable(&r);
	read_after_enable(&r);
	writes(&r);
	reread(&r);
	disable(&r);
	huge_return(&r);
	free(r.written);
	nmmu_state_free(&r.ma);
	nmmu_state_free(&r.mb);
	nmmu_free(&r.f);
}

int main(int argc, char *argv[])
{
	size_t g, b, m, e, n = 0, len = strlen(geom_help);
	char off[32], size[32], skew[32];

	for (g = 0; g < ARRAY_SIZE(geoms); g++)
		len += snprintf(geom_help + len, sizeof(geom_help) - len,
				"\n%16s%2zu: at %s%s size %s%s%s%s%s", "", g,
				geoms[g].off >= 0 ? "+" : "",
				size_str(geoms[g].off, off, sizeof(off)),
				size_str(geoms[g].size, size, sizeof(size)),
				geoms[g].skew ? " hva " : "",
				geoms[g].skew ? size_str(geoms[g].skew, skew, sizeof(skew)) : "",
				geoms[g].skew ? " off" : "", geoms[g].sweep ? " (-a only)" : "");

	for (g = 0; g < ARRAY_SIZE(geoms); g++)
		for (b = 0; b < ARRAY_SIZE(backings); b++)
			for (m = 0; m < NR_MMUS; m++)
				for (e = 0; e < 2; e++)
					variants[n++] = (struct variant){
						.geom = (int)g, .backing = backings[b],
						.mmu = (enum mmu)m, .eager = !e };
	return nmmu_main(&cli, &NMMU_TABLE(variants, .require = nmmu_require,
					   .select = selected, .name = variant_name,
					   .run = run_variant), argc, argv);
}
