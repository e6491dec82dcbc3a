// SPDX-License-Identifier: GPL-2.0
/* The nested-MMU test fixture (see nested_mmu.h). */
#include <getopt.h>

#include "knobs.h"
#include "x86_64/nested_mmu.h"
#include "x86_64/processor.h"

/* Options. */

static const struct nmmu_cli *usage_cli;

static void usage_line(const char *flag, const char *arg, const char *help)
{
	char head[32];

	snprintf(head, sizeof(head), "-%s%s%s", flag, arg ? " " : "", arg ? arg : "");
	printf("  %-13s %s\n", head, help);
}

/* A size as -b takes it: "64M", "2G". */
static const char *size_str(uint64_t size, char *buf, size_t len)
{
	if (size % SZ_1G)
		snprintf(buf, len, "%luM", size >> 20);
	else
		snprintf(buf, len, "%luG", size >> 30);
	return buf;
}

static void usage(const char *prog, int code)
{
	const struct nmmu_cli *c = usage_cli;
	const struct nmmu_opt *o;
	char flag[2] = "", help[160], min[16], max[16];

	printf("usage: %s%s%s%s", prog, c->b.help ? " [-b size]" : "",
	       c->s.help ? " [-s backing]" : "", c->v.help ? " [-v vcpus]" : "");
	for (o = c->opts; o && o->letter; o++)
		printf(" [-%c%s%s]", o->letter, o->arg ? " " : "", o->arg ? o->arg : "");
	printf(" [-V] [-h]\n");
	if (c->about)
		printf("  %s\n", c->about);
	if (c->b.help) {
		size_str(c->b.min ? c->b.min : SZ_2M, min, sizeof(min));
		size_str(c->b.max ? c->b.max : NMMU_SIZE_MAX, max, sizeof(max));
		usage_line("b", "size", c->b.help);
		printf("  %-13s (default %s, a 2M multiple from %s to %s)\n", "",
		       size_str(c->b.size, help, sizeof(help)), min, max);
	}
	if (c->s.help)
		usage_line("s", "backing", c->s.help);
	if (c->v.help) {
		snprintf(help, sizeof(help), "%s (default %d, 1 to %d)", c->v.help, c->v.nr,
			 NESTED_WORKER_MAX_VCPUS);
		usage_line("v", "vcpus", help);
	}
	for (o = c->opts; o && o->letter; o++) {
		flag[0] = (char)o->letter;
		usage_line(flag, o->arg, o->help);
	}
	usage_line("V", NULL, c->verbose ? c->verbose : "print page count changes per phase");
	usage_line("h", NULL, "this help");
	exit(code);
}

static void __noret bad(const char *prog, int opt, const char *arg, const char *help)
{
	int len = (int)strcspn(help, "\n");

	fprintf(stderr, "-%c: '%s' is not valid: %.*s\n", opt, arg, len, help);
	usage(prog, KSFT_FAIL);
	exit(KSFT_FAIL);
}

void nmmu_parse_args(struct nmmu_cli *c, int argc, char *argv[])
{
	const struct nmmu_opt *o;
	char optstring[64] = "";
	size_t len = 0;
	uint64_t val;
	int opt;

	usage_cli = c;
	c->s.backing = -1;
	if (c->b.help)
		len += snprintf(optstring + len, sizeof(optstring) - len, "b:");
	if (c->s.help)
		len += snprintf(optstring + len, sizeof(optstring) - len, "s:");
	if (c->v.help)
		len += snprintf(optstring + len, sizeof(optstring) - len, "v:");
	for (o = c->opts; o && o->letter; o++)
		len += snprintf(optstring + len, sizeof(optstring) - len, "%c%s", o->letter,
				o->arg ? ":" : "");
	snprintf(optstring + len, sizeof(optstring) - len, "Vh");

	while ((opt = getopt(argc, argv, optstring)) != -1) {
		enum backing_type b;

		switch (opt) {
		case 'b':
			if (parse_size(optarg, &val) || !val || !IS_ALIGNED(val, SZ_2M) ||
			    val < c->b.min || val > (c->b.max ? c->b.max : NMMU_SIZE_MAX))
				bad(argv[0], opt, optarg, "not a 2M multiple in the range of -h");
			c->b.size = val;
			continue;
		case 's':
			if (backing_parse(optarg, &b) || !(c->s.accepted & (1U << b)))
				bad(argv[0], opt, optarg, c->s.help);
			c->s.backing = b;
			continue;
		case 'v':
			if (parse_uint(optarg, NESTED_WORKER_MAX_VCPUS, &val) || !val)
				bad(argv[0], opt, optarg, c->v.help);
			c->v.nr = (int)val;
			continue;
		}
		for (o = c->opts; o && o->letter; o++)
			if (opt == o->letter)
				break;
		if (o && o->letter) {
			if (!o->parse(o->arg ? optarg : NULL))
				bad(argv[0], opt, o->arg ? optarg : "", o->help);
			continue;
		}
		test_opt_common(opt, usage, argv[0]);
	}
	if (optind < argc) {
		fprintf(stderr, "unexpected argument '%s'\n", argv[optind]);
		usage(argv[0], KSFT_FAIL);
	}
}

/* The VM. */

void nmmu_create(struct nmmu *f)
{
	static bool quiet;

	/* Once per process: each variant is a child of its own. */
	if (!quiet)
		knobs_quiet_page_counts();
	quiet = true;
	memset(f, 0, sizeof(*f));
	f->vm = nested_vm_create();
}

void nmmu_free(struct nmmu *f)
{
	int i;

	for (i = 0; i < f->nr_slots; i++) {
		free(f->slots[i].expect);
		free(f->slots[i].written);
	}
	if (f->w)
		nested_worker_free(f->w);
	vm_free(f->vm);
}

static struct nmmu_slot *slot_add(struct nmmu *f, uint32_t id, gpa_t gpa, uint64_t size,
				  enum backing_type backing, uint64_t hva_skew, bool geom)
{
	uint64_t page = backing_page_size(backing);
	struct nmmu_slot *s;
	const char *why;

	TEST_ASSERT(f->nr_slots < NMMU_MAX_SLOTS, "more than %d slots", NMMU_MAX_SLOTS);
	TEST_ASSERT(page && IS_ALIGNED(hva_skew, SZ_4K) && hva_skew < page,
		    "slot %u: host address skew 0x%lx is not a 4K multiple below the %s "
		    "page size", id, hva_skew, backing_name(backing));
	/* The host pages the slot touches, whole. */
	why = backing_reserve(backing, ALIGN_UP(((gpa + hva_skew) & (page - 1)) + size, page));
	TEST_REQUIRE(!why, "slot %u: %s", id, why);
	s = &f->slots[f->nr_slots++];
	*s = (struct nmmu_slot){
		.id = id, .gpa = gpa, .size = size, .nr_pages = size / SZ_4K,
		.backing = backing, .hva_skew = hva_skew,
	};
	if (geom)
		vm_memslot_add_geom(f->vm, id, gpa, size, backing, 0, hva_skew);
	else
		vm_memslot_add(f->vm, id, gpa, size, backing, 0);
	why = vm_memslot_prefault(f->vm, id);
	TEST_REQUIRE(!why, "slot %u: %s", id, why);
	s->hva = vm_memslot(f->vm, id)->hva;
	s->expect = calloc(s->nr_pages, sizeof(*s->expect));
	s->written = bitmap_zalloc(s->nr_pages);
	TEST_ASSERT(s->expect, "out of memory");
	return s;
}

struct nmmu_slot *nmmu_slot_require(struct nmmu *f, uint32_t id, gpa_t gpa,
				    uint64_t size, enum backing_type backing)
{
	return slot_add(f, id, gpa, size, backing, 0, false);
}

struct nmmu_slot *nmmu_slot_require_geom(struct nmmu *f, uint32_t id, gpa_t gpa,
					 uint64_t size, enum backing_type backing,
					 uint64_t hva_skew)
{
	return slot_add(f, id, gpa, size, backing, hva_skew, true);
}

static struct nmmu_view *view_new(struct nmmu *f, struct nmmu_slot *s, unsigned int root,
				  l2_gpa_t l2_gpa, enum tdp_level leaf)
{
	struct nmmu_view *v;

	TEST_ASSERT(f->nr_views < NMMU_MAX_VIEWS, "more than %d views", NMMU_MAX_VIEWS);
	v = &f->views[f->nr_views++];
	*v = (struct nmmu_view){
		.slot = s, .root = root, .vcpu = -1, .l2_gpa = l2_gpa,
		.gva = direct_gva(l2_gpa), .leaf = leaf,
	};
	return v;
}

/* The view's summary: the largest mapping the model gives it, and how many in all. */
static void view_sizes(struct nmmu_view *v)
{
	struct nmmu_delta d = { 0 };

	nmmu_model_delta(&d, v, 0, v->slot->nr_pages, 1);
	v->map_size = d.d1g ? SZ_1G : d.d2m ? SZ_2M : SZ_4K;
	v->nr_maps = d.d4k + d.d2m + d.d1g;
}

struct nmmu_view *nmmu_view_add(struct nmmu *f, struct nmmu_slot *s, unsigned int root,
				l2_gpa_t l2_gpa, enum tdp_level leaf)
{
	uint64_t step = tdp_level_size(leaf);
	struct nmmu_view *v;
	gpa_t first = ALIGN_DOWN(s->gpa, step), end = ALIGN_UP(s->gpa + s->size, step);

	TEST_ASSERT(!((l2_gpa ^ s->gpa) & (step - 1)),
		    "view of slot %u: L2 GPA 0x%lx and L1 GPA 0x%lx differ modulo the %s leaf "
		    "size: L1's %s leaves map %s-aligned ranges, so page i of the slot would not "
		    "be at l2_gpa + i pages", s->id, l2_gpa, s->gpa, tdp_level_name(leaf),
		    tdp_level_name(leaf), tdp_level_name(leaf));
	v = view_new(f, s, root, l2_gpa, leaf);
	view_sizes(v);
	/*
	 * Leaves over every aligned range the slot touches: at a slot's head
	 * and tail a leaf also covers L1 GPAs outside the slot (tdp_map()
	 * wants each leaf to overlap a memslot, not to lie inside one).
	 */
	tdp_map(f->vm, root, l2_gpa - (s->gpa - first), first, end - first, leaf);
	return v;
}

struct nmmu_view *nmmu_view_add_l1(struct nmmu *f, struct nmmu_slot *s)
{
	struct nmmu_view *v = view_new(f, s, 0, s->gpa, TDP_1G);

	v->l1 = true;
	view_sizes(v);
	return v;
}

struct nmmu_view *nmmu_view_add_pages(struct nmmu *f, struct nmmu_slot *s, l2_gpa_t l2_gpa,
				      const uint32_t *pages, uint64_t n)
{
	struct nmmu_view *v = view_new(f, s, 0, l2_gpa, TDP_4K);
	uint64_t i;

	for (i = 0; i < n; i++)
		tdp_map(f->vm, 0, l2_gpa + (uint64_t)pages[i] * SZ_4K,
			s->gpa + (uint64_t)pages[i] * SZ_4K, SZ_4K, TDP_4K);
	v->listed = true;
	v->map_size = SZ_4K;
	v->nr_maps = n;
	return v;
}

unsigned int nmmu_root_add(struct nmmu *f)
{
	return tdp_root_add(f->vm);
}

void nmmu_start(struct nmmu *f, int nr_vcpus, const unsigned int *roots)
{
	int i;

	for (i = 0; i < f->nr_views; i++)
		TEST_ASSERT(!f->views[i].l1, "nmmu_start() with an L1 view: use nmmu_start_l1()");
	f->w = nested_worker_create(f->vm, nr_vcpus, roots);
	vm_page_stats(f->vm, &f->last);
	f->new_tables = 0;
}

void nmmu_start_l1(struct nmmu *f, int nr_vcpus)
{
	int i;

	for (i = 0; i < f->nr_views; i++)
		TEST_ASSERT(f->views[i].l1, "nmmu_start_l1() with an L2 view: use nmmu_start()");
	f->w = nested_worker_create_l1(f->vm, nr_vcpus);
	vm_page_stats(f->vm, &f->last);
	f->new_tables = 0;
}

/* A view goes through workers of its kind: L2 views through L2, L1 views through L1. */
static void assert_view_kind(struct nmmu *f, const struct nmmu_view *v)
{
	TEST_ASSERT(v->l1 == f->w->l1_only, "a view of %s through a fixture of %s workers",
		    v->l1 ? "L1" : "L2", f->w->l1_only ? "L1" : "L2");
}

/* Accounting: the L1 page-directory pages L2 walks for the first time. */
void nmmu_touched(struct nmmu *f, l2_gpa_t l2_gpa, uint64_t size)
{
	uint64_t r;

	if (!size || kvm_cpu_has(X86_FEATURE_GBPAGES))
		return;
	for (r = l2_gpa / SZ_1G; r <= (l2_gpa + size - 1) / SZ_1G; r++) {
		TEST_ASSERT(r < DIRECT_MAP_SIZE / SZ_1G, "L2 GPA 0x%lx beyond the direct map",
			    r * SZ_1G);
		/* The first 1 GiB holds L1's own memory: walked before any baseline. */
		if (!r || (f->touched[r / 64] & (1ULL << (r % 64))))
			continue;
		f->touched[r / 64] |= 1ULL << (r % 64);
		f->new_tables++;
	}
}

/* What the host must see, and, while the slot logs, what its log must report. */
static void note_write(struct nmmu *f, struct nmmu_view *v, uint64_t page, uint64_t tag)
{
	struct nmmu_slot *s = v->slot;

	s->expect[page] = l2_page_value(tag, page);
	if (vm_memslot(f->vm, s->id)->flags & KVM_MEM_LOG_DIRTY_PAGES)
		bitmap_set_bit(s->written, page);
}

static void run_range(struct nmmu *f, struct nmmu_view *v, enum l2_op op, uint64_t tag)
{
	uint64_t n = v->slot->nr_pages, i;

	assert_view_kind(f, v);
	if (v->vcpu < 0)
		nested_worker_run_all(f->w, op, v->gva, n, tag);
	else
		nested_worker_run(f->w, v->vcpu, &(struct l2_cmd){
			.op = op, .gva = v->gva, .nr_pages = n, .tag = tag });
	nmmu_touched(f, v->l2_gpa, v->slot->size);
	if (op == L2_OP_WRITE)
		for (i = 0; i < n; i++)
			note_write(f, v, i, tag);
}

static void run_sub(struct nmmu *f, struct nmmu_view *v, enum l2_op op, uint64_t first,
		    uint64_t n, uint64_t tag)
{
	uint64_t i;

	assert_view_kind(f, v);
	TEST_ASSERT(first <= v->slot->nr_pages && n <= v->slot->nr_pages - first,
		    "pages %lu+%lu beyond slot %u", first, n, v->slot->id);
	if (!n)
		return;
	nested_worker_run(f->w, v->vcpu < 0 ? 0 : v->vcpu, &(struct l2_cmd){
		.op = op, .gva = v->gva, .first = first, .nr_pages = n, .tag = tag });
	nmmu_touched(f, v->l2_gpa + first * SZ_4K, n * SZ_4K);
	if (op == L2_OP_WRITE)
		for (i = first; i < first + n; i++)
			note_write(f, v, i, tag);
}

void nmmu_write_range(struct nmmu *f, struct nmmu_view *v, uint64_t first, uint64_t n,
		      uint64_t tag)
{
	run_sub(f, v, L2_OP_WRITE, first, n, tag);
}

void nmmu_check_range(struct nmmu *f, struct nmmu_view *v, uint64_t first, uint64_t n,
		      uint64_t tag)
{
	run_sub(f, v, L2_OP_CHECK, first, n, tag);
}

void nmmu_write(struct nmmu *f, struct nmmu_view *v, uint64_t tag)
{
	run_range(f, v, L2_OP_WRITE, tag);
}

void nmmu_check(struct nmmu *f, struct nmmu_view *v, uint64_t tag)
{
	run_range(f, v, L2_OP_CHECK, tag);
}

static void list_run(struct nmmu *f, struct nmmu_view *v, int vcpu, const uint32_t *pages,
		     uint64_t n, uint64_t tag, struct l2_cmd *c)
{
	uint64_t i;

	TEST_ASSERT(n <= NESTED_WORKER_LIST_MAX, "%lu pages in one list, at most %d",
		    n, NESTED_WORKER_LIST_MAX);
	assert_view_kind(f, v);
	memcpy(nested_worker_list(f->w, vcpu), pages, n * sizeof(*pages));
	*c = (struct l2_cmd){ .op = L2_OP_WRITE_LIST, .gva = v->gva, .tag = tag,
			      .list_len = n };
	for (i = 0; i < n; i++) {
		TEST_ASSERT(pages[i] < v->slot->nr_pages, "page %u beyond slot %u",
			    pages[i], v->slot->id);
		note_write(f, v, pages[i], tag);
		nmmu_touched(f, v->l2_gpa + (uint64_t)pages[i] * SZ_4K, SZ_4K);
	}
}

void nmmu_write_pages(struct nmmu *f, struct nmmu_view *v, const uint32_t *pages,
		      uint64_t n, uint64_t tag)
{
	int nr = v->vcpu < 0 ? f->w->nr_vcpus : 1, i;
	struct l2_cmd c;

	for (i = 0; i < nr; i++) {
		uint64_t lo = n * i / nr, hi = n * (i + 1) / nr;
		int vcpu = v->vcpu < 0 ? i : v->vcpu;

		list_run(f, v, vcpu, pages + lo, hi - lo, tag, &c);
		nested_worker_run(f->w, vcpu, &c);
	}
}

void nmmu_write_parallel(struct nmmu *f, const struct nmmu_write *w)
{
	struct l2_cmd cmds[NESTED_WORKER_MAX_VCPUS];
	int i;

	for (i = 0; i < f->w->nr_vcpus; i++)
		list_run(f, w[i].view, i, w[i].pages, w[i].n, w[i].tag, &cmds[i]);
	nested_worker_run_parallel(f->w, cmds);
}

/* The model. */

void nmmu_phase_end_since(struct nmmu *f, const char *phase, const struct page_stats *from,
			  const struct nmmu_delta *d)
{
	struct page_stats now;
	int64_t d4k, d2m, d1g, e4k = d->d4k + f->new_tables;

	vm_page_stats(f->vm, &now);
	d4k = (int64_t)(now.pages_4k - from->pages_4k);
	d2m = (int64_t)(now.pages_2m - from->pages_2m);
	d1g = (int64_t)(now.pages_1g - from->pages_1g);
	pr_debug("%-50s 4K %+ld 2M %+ld 1G %+ld\n", phase, d4k, d2m, d1g);
	TEST_ASSERT(d4k == e4k && d2m == d->d2m && d1g == d->d1g,
		    "%s: expected the 4K/2M/1G mapping counts to change by "
		    "%+ld/%+ld/%+ld, found %+ld/%+ld/%+ld",
		    phase, e4k, d->d2m, d->d1g, d4k, d2m, d1g);
	f->last = now;
	f->new_tables = 0;
}

void nmmu_phase_end(struct nmmu *f, const char *phase, const struct nmmu_delta *d)
{
	struct page_stats from = f->last;

	nmmu_phase_end_since(f, phase, &from, d);
}

void nmmu_assert_dirty(struct nmmu *f, struct nmmu_slot *s, const char *phase,
		       unsigned long *dirty)
{
	unsigned long *bitmap = dirty ? dirty : bitmap_zalloc(s->nr_pages);
	struct dirty_diff diff;
	uint64_t i, n = bitmap_weight(s->written, s->nr_pages);

	for (i = 0; i < s->nr_pages; i++) {
		uint64_t val = *(uint64_t *)(s->hva + i * SZ_4K);

		TEST_ASSERT(val == s->expect[i],
			    "%s: page %lu of slot %u: expected 0x%lx (L2's last write) on the "
			    "host, found 0x%lx", phase, i, s->id, s->expect[i], val);
	}
	vm_dirty_log_get(f->vm, s->id, bitmap);
	dirty_diff(bitmap, s->written, s->nr_pages, &diff);
	TEST_ASSERT(!diff.missing && !diff.extra,
		    "%s: dirty log of slot %u: expected the %lu pages written, found %lu of "
		    "them missing and %lu unwritten pages dirty (first mismatch: page %lu)",
		    phase, s->id, n, diff.missing, diff.extra, diff.first);
	bitmap_zero_all(s->written, s->nr_pages);
	if (!dirty)
		free(bitmap);
}
