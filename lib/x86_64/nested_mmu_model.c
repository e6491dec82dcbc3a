// SPDX-License-Identifier: GPL-2.0
/*
 * The mapping model of the nested-MMU fixture (nested_mmu.h): which size
 * of mapping KVM gives each page of a memslot, and the count changes that
 * follow.  Host-only and free of KVM calls, so the unit tests run it.
 */
#include <sys/utsname.h>

#include "x86_64/nested_mmu.h"

void nmmu_delta_maps(struct nmmu_delta *d, uint64_t map_size, int64_t n)
{
	if (map_size == SZ_1G)
		d->d1g += n;
	else if (map_size == SZ_2M)
		d->d2m += n;
	else
		d->d4k += n;
}

uint64_t nmmu_model_map_size(const struct nmmu_view *v, uint64_t page)
{
	const struct nmmu_slot *s = v->slot;
	uint64_t max = backing_page_size(s->backing), size;
	gpa_t gpa = s->gpa + page * SZ_4K, base;

	TEST_ASSERT(page < s->nr_pages, "page %lu beyond the %lu pages of slot %u",
		    page, s->nr_pages, s->id);
	if (!v->l1 && tdp_level_size(v->leaf) < max)
		max = tdp_level_size(v->leaf);
	for (size = SZ_1G; size > SZ_4K; size >>= 9) {
		if (size > max)
			continue;
		/* lpage_info: the slot must hold the whole aligned range... */
		base = ALIGN_DOWN(gpa, size);
		if (base < s->gpa || base + size > s->gpa + s->size)
			continue;
		/* ...and the host address must be congruent to the GPA. */
		if (((uintptr_t)s->hva - s->gpa) & (size - 1))
			continue;
		return size;
	}
	return SZ_4K;
}

void nmmu_model_delta(struct nmmu_delta *d, const struct nmmu_view *v,
		      uint64_t first, uint64_t n, int64_t sign)
{
	const struct nmmu_slot *s = v->slot;
	uint64_t i = first, size;

	TEST_ASSERT(!v->listed, "the model covers whole-slot views, not listed pages");
	TEST_ASSERT(first <= s->nr_pages && n <= s->nr_pages - first,
		    "pages %lu+%lu beyond the %lu pages of slot %u", first, n, s->nr_pages, s->id);
	while (i < first + n) {
		gpa_t gpa = s->gpa + i * SZ_4K;

		size = nmmu_model_map_size(v, i);
		nmmu_delta_maps(d, size, sign);
		/* On to the first page after this mapping. */
		i = (ALIGN_DOWN(gpa, size) + size - s->gpa) / SZ_4K;
	}
}

void nmmu_delta_view(struct nmmu_delta *d, const struct nmmu_view *v, int64_t sign)
{
	if (v->listed)
		nmmu_delta_maps(d, SZ_4K, sign * (int64_t)v->nr_maps);
	else
		nmmu_model_delta(d, v, 0, v->slot->nr_pages, sign);
}

/* The model with state. */


/* Is the running kernel at least major.minor? */
static bool kernel_at_least(unsigned int want_major, unsigned int want_minor)
{
	unsigned int major = 0, minor = 0;
	struct utsname u;

	TEST_ASSERT(!uname(&u) && sscanf(u.release, "%u.%u", &major, &minor) == 2,
		    "cannot read the kernel release");
	return major > want_major || (major == want_major && minor >= want_minor);
}

enum nmmu_wp_fault nmmu_wp_fault(const struct nmmu_view *v)
{
	/* kvm_tdp_mmu_map() splits a huge SPTE on a fault since 6.2 (c4b33d28ea51). */
	return v->l1 && kernel_at_least(6, 2) ? NMMU_WP_FAULT_SPLIT : NMMU_WP_FAULT_DROP;
}

bool nmmu_recovers_huge(const struct nmmu_view *v)
{
	/* kvm_mmu_recover_huge_pages(), since 6.13; the shadow MMU still zaps. */
	return v->l1 && kernel_at_least(6, 13);
}

void nmmu_state_init(struct nmmu_state *m, const struct nmmu_view *v, enum nmmu_wp_fault f)
{
	TEST_ASSERT(!v->listed, "the model covers whole-slot views, not listed pages");
	m->v = v;
	m->wp_fault = f;
	m->recover = false;
	m->wp = NULL;
	m->level = calloc(v->slot->nr_pages, 1);
	TEST_ASSERT(m->level, "out of memory");
}

void nmmu_state_init_kernel(struct nmmu_state *m, const struct nmmu_view *v)
{
	nmmu_state_init(m, v, nmmu_wp_fault(v));
	m->recover = nmmu_recovers_huge(v);
}

void nmmu_state_free(struct nmmu_state *m)
{
	free(m->level);
	free(m->wp);
	m->level = NULL;
	m->wp = NULL;
}

void nmmu_state_track_wp(struct nmmu_state *m)
{
	if (!m->wp)
		m->wp = calloc(m->v->slot->nr_pages, 1);
	TEST_ASSERT(m->wp, "out of memory");
}

void nmmu_state_counts(const struct nmmu_state *m, struct nmmu_delta *c)
{
	uint64_t i, n[4] = { 0 };

	for (i = 0; i < m->v->slot->nr_pages; i++)
		n[m->level[i]]++;
	/* Mappings never reach past the slot, so a huge one is whole in it. */
	TEST_ASSERT(n[TDP_2M] % 512 == 0 && n[TDP_1G] % (512 * 512) == 0,
		    "model: %lu pages in 2M and %lu in 1G mappings", n[TDP_2M], n[TDP_1G]);
	*c = (struct nmmu_delta){ .d4k = n[TDP_4K], .d2m = n[TDP_2M] / 512,
				  .d1g = n[TDP_1G] / (512 * 512) };
}

struct nmmu_delta nmmu_state_delta(const struct nmmu_state *const *m, int n,
				   struct nmmu_delta *last)
{
	struct nmmu_delta sum = { 0 }, c, d;
	int i;

	for (i = 0; i < n; i++) {
		nmmu_state_counts(m[i], &c);
		sum.d4k += c.d4k;
		sum.d2m += c.d2m;
		sum.d1g += c.d1g;
	}
	d = (struct nmmu_delta){ sum.d4k - last->d4k, sum.d2m - last->d2m,
				 sum.d1g - last->d1g };
	*last = sum;
	return d;
}

/* The pages [*lo, *hi) of the size-aligned range of the slot that holds page. */
static void range_of(const struct nmmu_state *m, uint64_t page, uint64_t size,
		     uint64_t *lo, uint64_t *hi)
{
	const struct nmmu_slot *s = m->v->slot;
	gpa_t base = ALIGN_DOWN(s->gpa + page * SZ_4K, size);

	*lo = base < s->gpa ? 0 : (base - s->gpa) / SZ_4K;
	*hi = (base + size - s->gpa) / SZ_4K;
	if (*hi > s->nr_pages)
		*hi = s->nr_pages;
}

/* The size-aligned range around page maps at level, write-protected or not. */
static void set_range_wp(struct nmmu_state *m, uint64_t page, uint64_t size, uint8_t level,
			 bool wp)
{
	uint64_t lo, hi, i;

	range_of(m, page, size, &lo, &hi);
	for (i = lo; i < hi; i++) {
		m->level[i] = level;
		if (m->wp)
			m->wp[i] = wp;
	}
}

static void set_range(struct nmmu_state *m, uint64_t page, uint64_t size, uint8_t level)
{
	set_range_wp(m, page, size, level, false);
}

void nmmu_state_protect(struct nmmu_state *m, uint64_t page)
{
	uint8_t l = m->level[page];

	TEST_ASSERT(m->wp, "model: protection is not tracked");
	if (l > TDP_4K)
		set_range_wp(m, page, tdp_level_size(l), l, true);
}

void nmmu_state_access(struct nmmu_state *m, uint64_t first, uint64_t n, bool write,
		       bool logging, unsigned long *dirty)
{
	const struct nmmu_slot *s = m->v->slot;
	uint64_t p, lo, hi, i, size;

	TEST_ASSERT(first <= s->nr_pages && n <= s->nr_pages - first,
		    "model: pages %lu+%lu beyond slot %u", first, n, s->id);
	for (p = first; p < first + n; p++) {
		uint8_t l = m->level[p];

		if (!l && logging) {
			m->level[p] = TDP_4K;
			if (dirty)
				bitmap_set_bit(dirty, p);
			continue;
		}
		if (!l) {
			size = nmmu_model_map_size(m->v, p);
			range_of(m, p, size, &lo, &hi);
			for (i = lo; i < hi; i++)
				TEST_ASSERT(!m->level[i], "model: page %lu of slot %u maps %lu KiB "
					    "while page %lu of that range is mapped", p, s->id,
					    size >> 10, i);
			set_range(m, p, size, tdp_size_level(size));
			continue;
		}
		if (write && logging && dirty)
			bitmap_set_bit(dirty, p);
		if (!write || !logging || l == TDP_4K || (m->wp && !m->wp[p]))
			continue;
		/* A write to a write-protected huge mapping while logging. */
		if (m->wp_fault == NMMU_WP_FAULT_DROP) {
			set_range(m, p, tdp_level_size(l), 0);
			m->level[p] = TDP_4K;
		} else {
			/* The split SPTEs are protected copies of the huge one. */
			if (l == TDP_1G)
				set_range_wp(m, p, SZ_1G, TDP_2M, true);
			set_range(m, p, SZ_2M, TDP_4K);
		}
	}
}

void nmmu_state_split(struct nmmu_state *m, uint64_t first, uint64_t n, uint64_t size)
{
	const struct nmmu_slot *s = m->v->slot;
	uint8_t to = tdp_size_level(size);
	uint64_t p;

	TEST_ASSERT(first <= s->nr_pages && n <= s->nr_pages - first,
		    "model: pages %lu+%lu beyond slot %u", first, n, s->id);
	for (p = first; p < first + n; p++) {
		uint8_t l = m->level[p];

		if (l > to) {
			uint64_t lo, hi, i;

			/*
			 * The whole mapping splits, also its pages outside the
			 * range; the pieces copy its protection.
			 */
			range_of(m, p, tdp_level_size(l), &lo, &hi);
			for (i = lo; i < hi; i++) {
				m->level[i] = to;
				if (m->wp && to == TDP_4K)
					m->wp[i] = 0;
			}
		}
	}
}

void nmmu_state_zap_collapsible(struct nmmu_state *m)
{
	uint64_t p, size;

	for (p = 0; p < m->v->slot->nr_pages; p++) {
		if (!m->level[p])
			continue;
		size = nmmu_model_map_size(m->v, p);
		if (tdp_level_size(m->level[p]) >= size)
			continue;
		if (m->recover)
			set_range(m, p, size, tdp_size_level(size));
		else
			m->level[p] = 0;
	}
}
