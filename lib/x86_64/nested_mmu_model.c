// SPDX-License-Identifier: GPL-2.0
/*
 * The mapping model of the nested-MMU fixture (nested_mmu.h): which size
 * of mapping KVM gives each page of a memslot, and the count changes that
 * follow.  Host-only and free of KVM calls, so the unit tests run it.
 */
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
