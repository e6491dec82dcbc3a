/* SPDX-License-Identifier: GPL-2.0 */
/* Host memory behind memslots: 4K-only anonymous, THP, hugetlb 2M and 1G. */
#ifndef SELFTEST_BACKING_H
#define SELFTEST_BACKING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum backing_type {
	BACKING_ANON_4K,	/* anonymous, MADV_NOHUGEPAGE */
	BACKING_THP,		/* anonymous, MADV_HUGEPAGE, 2M aligned */
	BACKING_HUGETLB_2M,
	BACKING_HUGETLB_1G,
	NR_BACKING_TYPES,
};

const char *backing_name(enum backing_type type);
uint64_t backing_page_size(enum backing_type type);
/* Parse a name as printed by backing_name(); -EINVAL if unknown. */
int backing_parse(const char *name, enum backing_type *type);
/* "anon, thp, hugetlb2m, hugetlb1g", for usage messages. */
const char *backing_names(void);

/*
 * Map size bytes of the given backing, with the returned address aligned to
 * its page size.  Returns NULL with errno set when the memory cannot be had
 * (no hugetlb pages reserved, for instance); *mmap_start and *mmap_size get
 * what must be passed to munmap().
 */
void *backing_alloc(enum backing_type type, uint64_t size, void **mmap_start,
		    size_t *mmap_size);

/*
 * Query, changes nothing: why size bytes of a backing cannot be had on this
 * machine, as a sentence for a skip, or NULL when they can, possibly after
 * backing_reserve() grew the hugetlb pool.  Refused: more than MemTotal (or
 * PARSE_SIZE_MAX), THP disabled, no pool of that page size, too few free
 * hugetlb pages and a pool that cannot be written.
 */
const char *backing_unavailable(enum backing_type type, uint64_t size);

/*
 * Changes the system: make size bytes of the backing available, growing
 * the hugetlb pool through the knob journal (restored at exit) when it has
 * too few free pages.  Returns NULL, or the reason for a skip.  Refuses
 * before changing anything what backing_unavailable() refuses and a growth
 * larger than MemAvailable; a pool that grew less than asked is put back
 * at once.
 */
const char *backing_reserve(enum backing_type type, uint64_t size);

/*
 * After the host touched the memory: is all of it mapped by the host with
 * pages of the backing's size?  KVM never maps larger than the host does, so
 * the huge-page counts a test expects rely on this.
 */
bool backing_fully_huge(enum backing_type type, void *hva, uint64_t size);

#endif /* SELFTEST_BACKING_H */
