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

/* THP "enabled" mode: "always", "madvise", "never"; NULL if THP is missing. */
static const char *thp_mode(char *buf, size_t len)
{
	char path[256], raw[128], *l, *r;

	knobs_sys_path(path, sizeof(path), "/sys/kernel/mm/transparent_hugepage/enabled");
	if (__file_read_str(path, raw, sizeof(raw)) <= 0)
		return NULL;
	/* The file reads like "always [madvise] never". */
	l = strchr(raw, '[');
	r = l ? strchr(l, ']') : NULL;
	if (!l || !r)
		return NULL;
	*r = '\0';
	snprintf(buf, len, "%s", l + 1);
	return buf;
}

static const char *hugepages_path(uint64_t page_size, const char *file, char *path,
				  size_t len)
{
	return knobs_sys_path(path, len, "/sys/kernel/mm/hugepages/hugepages-%lukB/%s",
			      page_size >> 10, file);
}

/* A count from the pool's directory: 0 or -errno. */
static int hugepages_read(uint64_t page_size, const char *file, uint64_t *val)
{
	char path[256], buf[64];
	ssize_t n = __file_read_str(hugepages_path(page_size, file, path, sizeof(path)),
				    buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	return parse_uint(buf, UINT64_MAX, val);
}

/* A "Key: N kB" line of /proc/meminfo, in bytes; 0 if missing. */
static uint64_t meminfo_bytes(const char *key)
{
	char path[256], line[256];
	size_t klen = strlen(key);
	unsigned long long kb;
	uint64_t bytes = 0;
	FILE *f = fopen(knobs_sys_path(path, sizeof(path), "/proc/meminfo"), "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, klen) && line[klen] == ':' &&
		    sscanf(line + klen + 1, "%llu", &kb) == 1) {
			bytes = (uint64_t)kb << 10;
			break;
		}
	}
	fclose(f);
	return bytes;
}

static const char *hugetlb_name(uint64_t page)
{
	return page == SZ_1G ? "1G" : "2M";
}

const char *backing_unavailable(enum backing_type type, uint64_t size)
{
	static char why[512];
	uint64_t page = backing_page_size(type), mem_total = meminfo_bytes("MemTotal");
	uint64_t need, free_pages;
	char path[256], mode[64];

	if (!page)
		return "unknown backing type";
	if (size > PARSE_SIZE_MAX || (mem_total && size > mem_total)) {
		snprintf(why, sizeof(why), "%lu MiB of %s memory asked, the machine has %lu MiB "
			 "(MemTotal)", size >> 20, backing_name(type), mem_total >> 20);
		return why;
	}
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
		need = DIV_ROUND_UP(size, page);
		if (hugepages_read(page, "free_hugepages", &free_pages)) {
			snprintf(why, sizeof(why), "the kernel has no %s hugetlb pages (%s)",
				 hugetlb_name(page), hugepages_path(page, "", path, sizeof(path)));
			return why;
		}
		if (free_pages >= need)
			return NULL;
		if (access(hugepages_path(page, "nr_hugepages", path, sizeof(path)), W_OK)) {
			snprintf(why, sizeof(why), "needs %lu free %s hugetlb pages, %lu are free and "
				 "%s is not writable (reserve them with hugepagesz=/hugepages= on "
				 "the kernel command line)", need, hugetlb_name(page), free_pages, path);
			return why;
		}
		return NULL;	/* backing_reserve() may grow the pool */
	default:
		return "unknown backing type";
	}
}

const char *backing_reserve(enum backing_type type, uint64_t size)
{
	static char why[512];
	const char *reason = backing_unavailable(type, size);
	uint64_t page = backing_page_size(type), need, free_pages, nr, extra, avail;
	char path[256], val[32];
	int ret;

	if (reason || (type != BACKING_HUGETLB_2M && type != BACKING_HUGETLB_1G))
		return reason;
	need = DIV_ROUND_UP(size, page);
	if (hugepages_read(page, "free_hugepages", &free_pages) ||
	    hugepages_read(page, "nr_hugepages", &nr))
		return "the hugetlb pool cannot be read";
	if (free_pages >= need)
		return NULL;
	extra = need - free_pages;
	avail = meminfo_bytes("MemAvailable");
	if (extra * page > avail) {
		snprintf(why, sizeof(why), "needs %lu more free %s hugetlb pages (%lu MiB), only "
			 "%lu MiB are available (MemAvailable); the pool was not grown",
			 extra, hugetlb_name(page), (extra * page) >> 20, avail >> 20);
		return why;
	}
	hugepages_path(page, "nr_hugepages", path, sizeof(path));
	snprintf(val, sizeof(val), "%lu", nr + extra);
	ret = __knob_set(path, val);
	if (ret) {
		snprintf(why, sizeof(why), "growing the %s hugetlb pool to %lu pages: %s",
			 hugetlb_name(page), nr + extra, strerror(-ret));
		return why;
	}
	if (hugepages_read(page, "free_hugepages", &free_pages))
		free_pages = 0;
	if (free_pages >= need)
		return NULL;
	/* Fragmented memory: give back what was had, right away. */
	knob_restore(path);
	snprintf(why, sizeof(why), "needs %lu free %s hugetlb pages, only %lu could be had "
		 "(reserve them with hugepagesz=/hugepages= on the kernel command line)",
		 need, hugetlb_name(page), free_pages);
	return why;
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
