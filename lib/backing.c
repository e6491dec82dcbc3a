// SPDX-License-Identifier: GPL-2.0
/* Host memory for memslots, aligned to the backing's page size. */
#include <fcntl.h>
#include <linux/mman.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backing.h"
#include "knobs.h"
#include "test_util.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT	26
#endif

static const struct {
	const char *name;
	uint64_t page_size;
} backings[NR_BACKING_TYPES] = {
	[BACKING_ANON_4K]	= { "anon",	 SZ_4K },
	[BACKING_THP]		= { "thp",	 SZ_2M },
	[BACKING_HUGETLB_2M]	= { "hugetlb2m", SZ_2M },
	[BACKING_HUGETLB_1G]	= { "hugetlb1g", SZ_1G },
};

const char *backing_name(enum backing_type type)
{
	return type < NR_BACKING_TYPES ? backings[type].name : "invalid";
}

uint64_t backing_page_size(enum backing_type type)
{
	return type < NR_BACKING_TYPES ? backings[type].page_size : 0;
}

int backing_parse(const char *name, enum backing_type *type)
{
	unsigned int i;

	for (i = 0; i < NR_BACKING_TYPES; i++) {
		if (name && !strcmp(name, backings[i].name)) {
			*type = i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *backing_names(void)
{
	return "anon, thp, hugetlb2m, hugetlb1g";
}

void *backing_alloc(enum backing_type type, uint64_t size, void **mmap_start,
		    size_t *mmap_size)
{
	uint64_t page = backing_page_size(type);
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	size_t len = size;
	void *p, *aligned;

	if (!page || !size || !IS_ALIGNED(size, page)) {
		errno = EINVAL;
		return NULL;
	}

	if (type == BACKING_HUGETLB_2M || type == BACKING_HUGETLB_1G) {
		/* hugetlb mappings come aligned to their page size. */
		flags &= ~MAP_NORESERVE;
		flags |= MAP_HUGETLB |
			 ((type == BACKING_HUGETLB_1G ? 30 : 21) << MAP_HUGE_SHIFT);
	} else if (type == BACKING_THP) {
		len += page;	/* room to align */
	}

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED)
		return NULL;

	aligned = (void *)ALIGN_UP((uintptr_t)p, page);
	if (type == BACKING_THP && madvise(aligned, size, MADV_HUGEPAGE)) {
		int err = errno;

		munmap(p, len);
		errno = err;
		return NULL;
	}
	if (type == BACKING_ANON_4K && madvise(aligned, size, MADV_NOHUGEPAGE)) {
		int err = errno;

		munmap(p, len);
		errno = err;
		return NULL;
	}
	*mmap_start = p;
	*mmap_size = len;
	return aligned;
}

const char *backing_unavailable(enum backing_type type, uint64_t size)
{
	static char why[256];
	uint64_t page = backing_page_size(type);
	char mode[64];
	uint64_t need, have;

	switch (type) {
	case BACKING_ANON_4K:
		return NULL;
	case BACKING_THP:
		if (!thp_mode(mode, sizeof(mode)))
			return "THP is not available (no /sys/kernel/mm/transparent_hugepage)";
		if (!strcmp(mode, "never"))
			return "THP is disabled (transparent_hugepage/enabled is 'never')";
		return NULL;
	case BACKING_HUGETLB_2M:
	case BACKING_HUGETLB_1G:
		need = size / page;
		have = hugepages_ensure(page, need);
		if (have >= need)
			return NULL;
		snprintf(why, sizeof(why),
			 "needs %lu free %s hugetlb pages, only %lu could be had "
			 "(reserve them with hugepagesz=/hugepages= on the kernel command line)",
			 need, page == SZ_1G ? "1G" : "2M", have);
		return why;
	default:
		return "unknown backing type";
	}
}

/* Sum a field of /proc/self/smaps over the VMA that contains addr. */
static uint64_t smaps_field_kb(void *addr, const char *field)
{
	uintptr_t a = (uintptr_t)addr, start, end;
	bool in_vma = false;
	uint64_t kb = 0;
	char line[512];
	size_t flen = strlen(field);
	FILE *f;

	f = fopen("/proc/self/smaps", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in_vma = a >= start && a < end;
			continue;
		}
		if (in_vma && !strncmp(line, field, flen) && line[flen] == ':') {
			kb = strtoull(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

bool backing_fully_huge(enum backing_type type, void *hva, uint64_t size)
{
	switch (type) {
	case BACKING_THP:
		/*
		 * The VMA may be larger than the slot (alignment slack), so
		 * ask for at least the slot's size in THPs.
		 */
		return smaps_field_kb(hva, "AnonHugePages") * 1024 >= size;
	case BACKING_HUGETLB_2M:
	case BACKING_HUGETLB_1G:
		return true;	/* hugetlb can't be mapped any smaller */
	default:
		return false;
	}
}
