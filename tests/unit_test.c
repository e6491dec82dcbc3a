// SPDX-License-Identifier: GPL-2.0
/* Host-side unit tests of the library pieces that need no KVM (make check). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backing.h"
#include "dirty_log.h"
#include "knobs.h"
#include "kvm_util.h"
#include "stats.h"
#include "test_util.h"
#include "ucall.h"

/*
 * The library objects linked in here (stats.c, dirty_log.c, ucall_guest.c)
 * also hold code that talks to a VM.  None of it runs in these tests; these
 * definitions only satisfy the linker and fail loudly if that ever changes.
 */
static void __noret no_vm(const char *fn)
{
	TEST_FAIL("%s() called from a unit test: it needs a real VM", fn);
}
int __vm_ioctl(struct kvm_vm *vm, unsigned long cmd, void *arg) { no_vm(__func__); }
int kvm_check_cap(long cap) { no_vm(__func__); }
int vm_enable_cap(struct kvm_vm *vm, uint32_t cap, uint64_t arg0) { no_vm(__func__); }
struct vm_memslot *vm_memslot(struct kvm_vm *vm, uint32_t slot) { no_vm(__func__); }
void vm_memslot_set_flags(struct kvm_vm *vm, uint32_t slot, uint32_t flags) { no_vm(__func__); }
void arch_ucall_trigger(struct ucall *uc) { no_vm(__func__); }

/*
 * One KTAP result per test function; CHECK() records a failed expectation
 * as a diagnostic with its line and lets the function go on, so one run
 * lists every broken case of a group.
 */
static bool test_ok;

static void __printf(3, 4) check(bool ok, int line, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		return;
	test_ok = false;
	printf("# unit_test.c:%d: ", line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

#define CHECK(cond, fmt, ...)	check(!!(cond), __LINE__, fmt, ##__VA_ARGS__)

/*
 * A check that fails because of a known library bug (described in the
 * report of the run that found it).  It is exactly as strict as CHECK(); the
 * note names the bug so the failure is not mistaken for a new one, and the
 * check passes once the library is fixed.
 */
#define CHECK_LIBBUG(bug, cond, fmt, ...)				\
	check(!!(cond), __LINE__, "library bug (%s): " fmt, bug, ##__VA_ARGS__)

#define BUG_PARSE_UINT_MAX	"lib/util.c parse_uint: max - digit wraps when max < 9"
#define BUG_WRITE_NO_TRUNC	"lib/util.c file_write_str, lib/knobs.c knob_write_raw: no O_TRUNC"
#define BUG_STATS_ID_WRAP	"lib/stats.c kvm_stats_parse: id_offset + name_size wraps in 32 bits"
#define BUG_STATS_DATA_WRAP	"lib/stats.c __kvm_stats_read: data_offset + offset wraps in 32 bits"

/* ---- parse_size, parse_uint, size_str ---- */

static void test_parse_size_valid(void)
{
	static const struct {
		const char *str;
		uint64_t size;
	} cases[] = {
		{ "0",		0 },
		{ "4096",	4096 },
		{ "512K",	512ULL << 10 },
		{ "512M",	512ULL << 20 },
		{ "2G",		2ULL << 30 },
		{ "1T",		1ULL << 40 },
		{ "512k",	512ULL << 10 },
		{ "512m",	512ULL << 20 },
		{ "2g",		2ULL << 30 },
		{ "1t",		1ULL << 40 },
		/* The largest values that fit in 64 bits, per suffix. */
		{ "18446744073709551615", UINT64_MAX },
		{ "18014398509481983K", (UINT64_MAX >> 10) << 10 },
		{ "17179869183G", (UINT64_MAX >> 30) << 30 },
		{ "16777215T",	(UINT64_MAX >> 40) << 40 },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t size = 12345;
		int ret = parse_size(cases[i].str, &size);

		CHECK(!ret && size == cases[i].size,
		      "parse_size(\"%s\"): expected 0 and %lu, got %d and %lu",
		      cases[i].str, cases[i].size, ret, size);
	}
}

static void test_parse_size_invalid(void)
{
	static const char *const cases[] = {
		"", "M", "K", "12Q", "-1", "+1", "1.5G", " 1", "1 ", "1G ",
		"0x10", "1KB", "1MM", "1B", "G1", "1e3",
		/* Overflow, with and without a suffix. */
		"99999999999T", "16777216T", "17179869184G",
		"18014398509481984K", "18446744073709551616",
		"99999999999999999999", "123456789012345678901234567890",
	};
	unsigned int i;
	uint64_t size;
	int ret;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		size = 12345;
		ret = parse_size(cases[i], &size);
		CHECK(ret == -EINVAL && size == 12345,
		      "parse_size(\"%s\"): expected -EINVAL and the output untouched, got %d and %lu",
		      cases[i], ret, size);
	}
	size = 12345;
	ret = parse_size(NULL, &size);
	CHECK(ret == -EINVAL && size == 12345, "parse_size(NULL): got %d and %lu",
	      ret, size);
}

static void test_parse_uint(void)
{
	static const struct {
		const char *str;
		uint64_t max;
		int ret;
		uint64_t val;
	} cases[] = {
		{ "0",		0,		0,	0 },
		{ "5",		5,		0,	5 },
		{ "10",		9,		-EINVAL, 0 },
		{ "255",	255,		0,	255 },
		{ "256",	255,		-EINVAL, 0 },
		{ "1000",	UINT32_MAX,	0,	1000 },
		{ "4294967296",	UINT32_MAX,	-EINVAL, 0 },
		{ "18446744073709551615", UINT64_MAX, 0, UINT64_MAX },
		{ "18446744073709551616", UINT64_MAX, -EINVAL, 0 },
		{ "99999999999999999999", UINT64_MAX, -EINVAL, 0 },
		{ "",		UINT64_MAX,	-EINVAL, 0 },
		{ "-1",		UINT64_MAX,	-EINVAL, 0 },
		{ "1K",		UINT64_MAX,	-EINVAL, 0 },
		{ "1 ",		UINT64_MAX,	-EINVAL, 0 },
	};
	/*
	 * A single digit larger than max: the overflow test computes
	 * max - digit, which wraps around when max < 9.
	 */
	static const struct {
		const char *str;
		uint64_t max;
	} over_small_max[] = {
		{ "6", 5 }, { "7", 5 }, { "1", 0 }, { "9", 8 }, { "17", 5 },
	};
	unsigned int i;
	uint64_t val;
	int ret;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		val = 12345;
		ret = parse_uint(cases[i].str, cases[i].max, &val);
		if (cases[i].ret)
			CHECK(ret == cases[i].ret && val == 12345,
			      "parse_uint(\"%s\", max %lu): expected %d with the output untouched, got %d and %lu",
			      cases[i].str, cases[i].max, cases[i].ret, ret, val);
		else
			CHECK(!ret && val == cases[i].val,
			      "parse_uint(\"%s\", max %lu): expected 0 and %lu, got %d and %lu",
			      cases[i].str, cases[i].max, cases[i].val, ret, val);
	}
	for (i = 0; i < ARRAY_SIZE(over_small_max); i++) {
		val = 12345;
		ret = parse_uint(over_small_max[i].str, over_small_max[i].max, &val);
		CHECK_LIBBUG(BUG_PARSE_UINT_MAX, ret == -EINVAL && val == 12345,
			     "parse_uint(\"%s\", max %lu): expected -EINVAL, got %d and %lu",
			     over_small_max[i].str, over_small_max[i].max, ret, val);
	}
	val = 12345;
	ret = parse_uint(NULL, UINT64_MAX, &val);
	CHECK(ret == -EINVAL && val == 12345, "parse_uint(NULL): got %d and %lu", ret, val);
}

static void test_size_str(void)
{
	static const struct {
		uint64_t size;
		const char *str;
	} cases[] = {
		{ 0,			"0B" },
		{ 512,			"512B" },
		{ 1536,			"1536B" },
		{ 4096,			"4K" },
		{ 512ULL << 10,		"512K" },
		{ 1025ULL << 10,	"1025K" },
		{ 512ULL << 20,		"512M" },
		{ 3ULL << 29,		"1536M" },
		{ 2ULL << 30,		"2G" },
		{ 1ULL << 40,		"1T" },
		{ 1ULL << 50,		"1024T" },
		{ UINT64_MAX,		"18446744073709551615B" },
	};
	char buf[32], small[4];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *s = size_str(cases[i].size, buf, sizeof(buf));
		uint64_t back;

		CHECK(s == buf && !strcmp(s, cases[i].str),
		      "size_str(%lu): expected \"%s\", got \"%s\"",
		      cases[i].size, cases[i].str, s);
		/* What size_str() prints with a suffix, parse_size() reads back. */
		if (cases[i].str[strlen(cases[i].str) - 1] != 'B')
			CHECK(!parse_size(s, &back) && back == cases[i].size,
			      "parse_size(size_str(%lu) = \"%s\") gave %lu",
			      cases[i].size, s, back);
	}
	memset(small, 'x', sizeof(small));
	size_str(512ULL << 20, small, 3);
	CHECK(!memcmp(small, "51\0x", 4), "size_str into 3 bytes: expected \"51\", got \"%.3s\"",
	      small);
}

/* ---- backing names ---- */

static void test_backing_names(void)
{
	static const uint64_t page_size[NR_BACKING_TYPES] = {
		[BACKING_ANON_4K] = SZ_4K, [BACKING_THP] = SZ_2M,
		[BACKING_HUGETLB_2M] = SZ_2M, [BACKING_HUGETLB_1G] = SZ_1G,
	};
	static const char *const unknown[] = {
		"", "Anon", "THP", "hugetlb", "hugetlb2M", "hugetlb1g ",
		" thp", "anon4k", "invalid", "hugetlb_2m",
	};
	enum backing_type t, u;
	unsigned int i;

	for (t = 0; t < NR_BACKING_TYPES; t++) {
		const char *name = backing_name(t);

		u = NR_BACKING_TYPES;
		CHECK(!backing_parse(name, &u) && u == t,
		      "backing_parse(backing_name(%d) = \"%s\") gave type %d", t, name, u);
		CHECK(backing_page_size(t) == page_size[t],
		      "backing_page_size(%s): expected %lu, got %lu", name,
		      page_size[t], backing_page_size(t));
		CHECK(strstr(backing_names(), name),
		      "backing_names() \"%s\" does not list \"%s\"", backing_names(), name);
		for (u = 0; u < t; u++)
			CHECK(strcmp(backing_name(u), name),
			      "backings %d and %d are both named \"%s\"", u, t, name);
	}
	for (i = 0; i < ARRAY_SIZE(unknown); i++) {
		u = BACKING_HUGETLB_1G;
		CHECK(backing_parse(unknown[i], &u) == -EINVAL && u == BACKING_HUGETLB_1G,
		      "backing_parse(\"%s\") accepted an unknown name (type %d)",
		      unknown[i], u);
	}
	u = BACKING_HUGETLB_1G;
	CHECK(backing_parse(NULL, &u) == -EINVAL && u == BACKING_HUGETLB_1G,
	      "backing_parse(NULL) accepted");
	CHECK(!strcmp(backing_name(NR_BACKING_TYPES), "invalid"),
	      "backing_name(NR_BACKING_TYPES) is \"%s\"", backing_name(NR_BACKING_TYPES));
	CHECK(backing_page_size(NR_BACKING_TYPES) == 0,
	      "backing_page_size(NR_BACKING_TYPES) is %lu",
	      backing_page_size(NR_BACKING_TYPES));
}

static void test_backing_alloc(void)
{
	static const enum backing_type types[] = { BACKING_ANON_4K, BACKING_THP };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(types); i++) {
		uint64_t page = backing_page_size(types[i]);
		void *start = NULL, *p;
		size_t len = 0;

		p = backing_alloc(types[i], 2 * page, &start, &len);
		CHECK(p, "backing_alloc(%s, %lu): %s", backing_name(types[i]),
		      2 * page, strerror(errno));
		if (!p)
			continue;
		CHECK(IS_ALIGNED((uintptr_t)p, page),
		      "backing_alloc(%s) returned %p, not aligned to %lu",
		      backing_name(types[i]), p, page);
		CHECK((char *)start <= (char *)p &&
		      (char *)p + 2 * page <= (char *)start + len,
		      "backing_alloc(%s): [%p, +%lu) is outside the mapping [%p, +%zu)",
		      backing_name(types[i]), p, 2 * page, start, len);
		memset(p, 0x5a, 2 * page);
		munmap(start, len);

		errno = 0;
		p = backing_alloc(types[i], page + SZ_4K / 2, &start, &len);
		CHECK(!p && errno == EINVAL,
		      "backing_alloc(%s) of an unaligned size: got %p, errno %d",
		      backing_name(types[i]), p, errno);
	}
	errno = 0;
	CHECK(!backing_alloc(NR_BACKING_TYPES, SZ_2M, &(void *){ NULL }, &(size_t){ 0 }) &&
	      errno == EINVAL, "backing_alloc of an invalid type did not fail with EINVAL");
}

/* ---- kvm_stats_parse on synthetic stats files ---- */

#define FAKE_NAME_SIZE	48	/* KVM_STATS_NAME_SIZE */
#define FAKE_NR_DESCS	3
#define FAKE_MAX_FILE	4096

struct fake_desc {
	uint32_t flags;
	uint16_t size;
	uint32_t offset;
	char name[FAKE_NAME_SIZE + 1];	/* written without the extra byte */
};

struct fake_stats {
	struct kvm_stats_header h;
	struct fake_desc d[FAKE_NR_DESCS];
	uint64_t val[FAKE_NR_DESCS];
	size_t file_len;	/* 0: everything */
};

static size_t fake_desc_size(const struct fake_stats *fs)
{
	return sizeof(struct kvm_stats_desc) + fs->h.name_size;
}

/*
 * The layout KVM produces: header, id string, descriptors, data, each block
 * right after the previous one.  The data offsets are deliberately not in
 * descriptor order, so a reader that indexes data by descriptor number
 * reads the wrong values.
 */
static void fake_stats_init(struct fake_stats *fs)
{
	static const struct {
		const char *name;
		uint32_t offset;
		uint64_t val;
	} stats[FAKE_NR_DESCS] = {
		{ "pages_4k", 16, 4097 },
		{ "pages_2m", 0,  513 },
		{ "pages_1g", 8,  3 },
	};
	unsigned int i;

	memset(fs, 0, sizeof(*fs));
	fs->h.name_size = FAKE_NAME_SIZE;
	fs->h.num_desc = FAKE_NR_DESCS;
	fs->h.id_offset = sizeof(fs->h);
	fs->h.desc_offset = fs->h.id_offset + FAKE_NAME_SIZE;
	fs->h.data_offset = fs->h.desc_offset + FAKE_NR_DESCS * fake_desc_size(fs);
	for (i = 0; i < FAKE_NR_DESCS; i++) {
		fs->d[i].flags = KVM_STATS_TYPE_INSTANT | KVM_STATS_UNIT_NONE |
				 KVM_STATS_BASE_POW10;
		fs->d[i].size = 1;
		fs->d[i].offset = stats[i].offset;
		strcpy(fs->d[i].name, stats[i].name);
		fs->val[i] = stats[i].val;
	}
}

static void put_bytes(unsigned char *img, size_t *end, size_t off,
		      const void *src, size_t len)
{
	if (off + len > FAKE_MAX_FILE)
		return;		/* a corruption pointed outside the image */
	memcpy(img + off, src, len);
	if (off + len > *end)
		*end = off + len;
}

/* A memfd holding the image, positioned like a stats fd (reads use pread). */
static int fake_stats_fd(const struct fake_stats *fs)
{
	static const char id[FAKE_NAME_SIZE] = "kvm-4242";
	unsigned char *img = calloc(1, FAKE_MAX_FILE);
	size_t end = 0, dsize = fake_desc_size(fs);
	unsigned int i;
	int fd;

	TEST_ASSERT(img, "out of memory");
	put_bytes(img, &end, fs->h.id_offset, id,
		  fs->h.name_size < sizeof(id) ? fs->h.name_size : sizeof(id));
	for (i = 0; i < FAKE_NR_DESCS; i++) {
		struct kvm_stats_desc d = {
			.flags = fs->d[i].flags,
			.size = fs->d[i].size,
			.offset = fs->d[i].offset,
		};
		size_t off = fs->h.desc_offset + i * dsize;
		size_t nlen = strnlen(fs->d[i].name, FAKE_NAME_SIZE);

		put_bytes(img, &end, off, &d, sizeof(d));
		/* The NUL is written when it fits in name_size. */
		put_bytes(img, &end, off + sizeof(d), fs->d[i].name,
			  nlen < fs->h.name_size ? nlen + 1 : fs->h.name_size);
		put_bytes(img, &end, (size_t)fs->h.data_offset + fs->d[i].offset,
			  &fs->val[i], sizeof(fs->val[i]));
	}
	/* Last: a corrupted layout must not clobber the header itself. */
	put_bytes(img, &end, 0, &fs->h, sizeof(fs->h));
	if (fs->file_len)
		end = fs->file_len;

	fd = memfd_create("fake-kvm-stats", MFD_CLOEXEC);
	TEST_ASSERT(fd >= 0, "memfd_create");
	TEST_ASSERT(write(fd, img, end) == (ssize_t)end, "writing the stats image");
	free(img);
	return fd;
}

static void test_stats_valid(void)
{
	struct fake_stats fs;
	struct kvm_stats st;
	struct kvm_stats_desc *d;
	const char *why = "not set";
	unsigned int i;
	uint64_t val;
	int fd, ret;

	fake_stats_init(&fs);
	fd = fake_stats_fd(&fs);
	ret = kvm_stats_parse(fd, &st, &why);
	CHECK(!ret && !why, "a valid stats file was rejected: %d (%s)", ret, why);
	if (ret)
		return;
	CHECK(st.header.num_desc == FAKE_NR_DESCS && st.header.name_size == FAKE_NAME_SIZE &&
	      st.header.data_offset == fs.h.data_offset,
	      "header read back as num_desc %u name_size %u data_offset %u",
	      st.header.num_desc, st.header.name_size, st.header.data_offset);
	CHECK(st.desc_size == fake_desc_size(&fs), "desc_size %zu, expected %zu",
	      st.desc_size, fake_desc_size(&fs));
	for (i = 0; i < FAKE_NR_DESCS; i++) {
		CHECK(!strcmp(kvm_stats_desc(&st, i)->name, fs.d[i].name),
		      "descriptor %u is \"%s\", expected \"%s\"", i,
		      kvm_stats_desc(&st, i)->name, fs.d[i].name);
		d = kvm_stats_find(&st, fs.d[i].name);
		CHECK(d == kvm_stats_desc(&st, i), "kvm_stats_find(\"%s\") gave descriptor %p, expected %p",
		      fs.d[i].name, (void *)d, (void *)kvm_stats_desc(&st, i));
		val = 0;
		ret = __kvm_stats_read(&st, fs.d[i].name, &val);
		CHECK(!ret && val == fs.val[i],
		      "__kvm_stats_read(\"%s\"): expected 0 and %lu (at data_offset + %u), got %d and %lu",
		      fs.d[i].name, fs.val[i], fs.d[i].offset, ret, val);
	}
	/* Unknown names are an error, never a silent zero. */
	val = 12345;
	ret = __kvm_stats_read(&st, "pages_512g", &val);
	CHECK(ret == -ENOENT && val == 12345, "__kvm_stats_read(\"pages_512g\"): got %d and %lu",
	      ret, val);
	CHECK(!kvm_stats_find(&st, "pages_4") && !kvm_stats_find(&st, "pages_4k_") &&
	      !kvm_stats_find(&st, ""), "kvm_stats_find matched a prefix or an empty name");
	kvm_stats_release(&st);
	CHECK(st.fd == -1 && !st.descs, "kvm_stats_release left fd %d, descs %p", st.fd, st.descs);
}

/* Layouts that are odd but valid must still parse. */
static void test_stats_valid_edges(void)
{
	struct fake_stats fs;
	struct kvm_stats st;
	const char *why;
	uint64_t val = 0;
	int fd, ret;

	/* A name using all of name_size but the NUL; gaps between blocks. */
	fake_stats_init(&fs);
	memset(fs.d[0].name, 'a', FAKE_NAME_SIZE - 1);
	fs.d[0].name[FAKE_NAME_SIZE - 1] = '\0';
	fs.h.id_offset += 8;
	fs.h.desc_offset += 16;
	fs.h.data_offset += 64;
	fd = fake_stats_fd(&fs);
	ret = kvm_stats_parse(fd, &st, &why);
	CHECK(!ret, "longest name and padded blocks rejected: %d (%s)", ret, why);
	if (!ret) {
		ret = __kvm_stats_read(&st, fs.d[0].name, &val);
		CHECK(!ret && val == fs.val[0], "read of the long-named stat: %d, %lu", ret, val);
		kvm_stats_release(&st);
	} else {
		close(fd);
	}

	/* A data block cut short parses (it is not read) but reads fail. */
	fake_stats_init(&fs);
	fs.file_len = fs.h.data_offset + 12;
	fd = fake_stats_fd(&fs);
	ret = kvm_stats_parse(fd, &st, &why);
	CHECK(!ret, "a stats file with a short data block did not parse: %d (%s)", ret, why);
	if (!ret) {
		ret = __kvm_stats_read(&st, "pages_2m", &val);	/* offset 0: present */
		CHECK(!ret && val == fs.val[1], "pages_2m in the short file: %d, %lu", ret, val);
		ret = __kvm_stats_read(&st, "pages_4k", &val);	/* offset 16: cut */
		CHECK(ret == -EIO, "reading a stat past the end of the file: expected -EIO, got %d",
		      ret);
		kvm_stats_release(&st);
	} else {
		close(fd);
	}

	/*
	 * A data offset near the top of the u32 range: the stat lies ~4G
	 * into the file, past its end, and reading it must fail rather than
	 * wrap around to the descriptors at the start of the file.
	 */
	fake_stats_init(&fs);
	fs.d[0].offset = UINT32_MAX - 7;
	fd = fake_stats_fd(&fs);
	ret = kvm_stats_parse(fd, &st, &why);
	if (!ret) {
		val = 12345;
		ret = __kvm_stats_read(&st, fs.d[0].name, &val);
		CHECK_LIBBUG(BUG_STATS_DATA_WRAP, ret == -EIO,
			     "a stat at data_offset + 4G - 8 read as %d and %lu, expected -EIO",
			     ret, val);
		kvm_stats_release(&st);
	} else {
		CHECK(why, "a stat at data_offset + 4G - 8 rejected (%d) without a reason", ret);
		close(fd);
	}
}

static void corrupt_flags(struct fake_stats *fs)	{ fs->h.flags = 1; }
static void corrupt_name_size(struct fake_stats *fs)	{ fs->h.name_size = 0; }
static void corrupt_id_in_header(struct fake_stats *fs)	{ fs->h.id_offset = 8; }
static void corrupt_id_wraps(struct fake_stats *fs)
{
	/* Past the descriptors, but the 32-bit end of the block wraps to 32. */
	fs->h.id_offset = UINT32_MAX - FAKE_NAME_SIZE + 1 + 32;
}
static void corrupt_id_over_descs(struct fake_stats *fs)
{
	fs->h.desc_offset = fs->h.id_offset + fs->h.name_size - 8;
}
static void corrupt_descs_over_data(struct fake_stats *fs)
{
	fs->h.data_offset -= 8;
}
static void corrupt_data_before_descs(struct fake_stats *fs)
{
	fs->h.data_offset = fs->h.desc_offset - 16;
}
static void corrupt_unterminated(struct fake_stats *fs)
{
	memset(fs->d[1].name, 'a', FAKE_NAME_SIZE);
}
static void corrupt_empty_name(struct fake_stats *fs)	{ fs->d[2].name[0] = '\0'; }
static void corrupt_upper_name(struct fake_stats *fs)	{ strcpy(fs->d[1].name, "Pages_2M"); }
static void corrupt_dash_name(struct fake_stats *fs)	{ strcpy(fs->d[1].name, "pages-2m"); }
static void corrupt_space_name(struct fake_stats *fs)	{ strcpy(fs->d[2].name, "pages 1g"); }
static void corrupt_ctrl_name(struct fake_stats *fs)	{ strcpy(fs->d[0].name, "pages\n4k"); }
static void corrupt_dup_name(struct fake_stats *fs)	{ strcpy(fs->d[2].name, fs->d[0].name); }
static void corrupt_type(struct fake_stats *fs)
{
	fs->d[1].flags = (fs->d[1].flags & ~KVM_STATS_TYPE_MASK) |
			 (KVM_STATS_TYPE_MAX + (1 << KVM_STATS_TYPE_SHIFT));
}
static void corrupt_unit(struct fake_stats *fs)
{
	fs->d[1].flags = (fs->d[1].flags & ~KVM_STATS_UNIT_MASK) |
			 (KVM_STATS_UNIT_MAX + (1 << KVM_STATS_UNIT_SHIFT));
}
static void corrupt_base(struct fake_stats *fs)
{
	fs->d[1].flags = (fs->d[1].flags & ~KVM_STATS_BASE_MASK) |
			 (KVM_STATS_BASE_MAX + (1 << KVM_STATS_BASE_SHIFT));
}
static void corrupt_size0(struct fake_stats *fs)	{ fs->d[2].size = 0; }
static void corrupt_trunc_header(struct fake_stats *fs)	{ fs->file_len = sizeof(fs->h) - 4; }
static void corrupt_trunc_descs(struct fake_stats *fs)
{
	fs->file_len = fs->h.desc_offset + fake_desc_size(fs) + 5;
}
static void corrupt_one_byte(struct fake_stats *fs)	{ fs->file_len = 1; }

static const struct {
	const char *what;
	void (*corrupt)(struct fake_stats *fs);
	const char *bug;	/* accepted because of this library bug */
} stats_corruptions[] = {
	{ "header flags not zero",			corrupt_flags, NULL },
	{ "name_size 0",				corrupt_name_size, NULL },
	{ "id block inside the header",			corrupt_id_in_header, NULL },
	{ "id block overlaps the descriptors",		corrupt_id_over_descs, NULL },
	{ "id block at the end of the 32-bit range",	corrupt_id_wraps, BUG_STATS_ID_WRAP },
	{ "descriptors overlap the data block",		corrupt_descs_over_data, NULL },
	{ "data block before the descriptors",		corrupt_data_before_descs, NULL },
	{ "unterminated name",				corrupt_unterminated, NULL },
	{ "empty name",					corrupt_empty_name, NULL },
	{ "upper-case name",				corrupt_upper_name, NULL },
	{ "name with a dash",				corrupt_dash_name, NULL },
	{ "name with a space",				corrupt_space_name, NULL },
	{ "name with a newline",			corrupt_ctrl_name, NULL },
	{ "duplicate names",				corrupt_dup_name, NULL },
	{ "unknown type",				corrupt_type, NULL },
	{ "unknown unit",				corrupt_unit, NULL },
	{ "unknown base",				corrupt_base, NULL },
	{ "stat of size 0",				corrupt_size0, NULL },
	{ "file truncated in the header",		corrupt_trunc_header, NULL },
	{ "file truncated in the descriptors",		corrupt_trunc_descs, NULL },
	{ "one-byte file",				corrupt_one_byte, NULL },
};

static void test_stats_corruption(unsigned int i)
{
	struct fake_stats fs;
	struct kvm_stats st;
	const char *why = NULL;
	int fd, ret;

	fake_stats_init(&fs);
	stats_corruptions[i].corrupt(&fs);
	fd = fake_stats_fd(&fs);
	ret = kvm_stats_parse(fd, &st, &why);
	if (stats_corruptions[i].bug)
		CHECK_LIBBUG(stats_corruptions[i].bug, (ret == -EINVAL || ret == -EIO) && why,
			     "%s: expected -EINVAL or -EIO with a reason, got %d (%s)",
			     stats_corruptions[i].what, ret, why ? why : "no reason");
	else
		CHECK((ret == -EINVAL || ret == -EIO) && why,
		      "%s: expected -EINVAL or -EIO with a reason, got %d (%s)",
		      stats_corruptions[i].what, ret, why ? why : "no reason");
	CHECK(!ret || !st.descs, "rejected, but the descriptors were not freed");
	if (why)
		printf("# %s: %s\n", stats_corruptions[i].what, why);
	if (!ret)
		kvm_stats_release(&st);
	else
		close(fd);
}

/* ---- the guest's vsnprintf ---- */

static void __printf(4, 5) check_fmt(int line, const char *expected, int len,
				     const char *fmt, ...)
{
	size_t want = strlen(expected), written;
	char buf[130];
	va_list ap;
	int ret;

	/* len < sizeof(buf): a byte after the buffer shows overruns. */
	memset(buf, '#', sizeof(buf));
	va_start(ap, fmt);
	ret = guest_vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	check(ret == (int)want, line, "guest_snprintf(\"%s\", len %d): returned %d, expected %zu",
	      fmt, len, ret, want);
	check(buf[len] == '#', line, "guest_snprintf(\"%s\", len %d) wrote past the buffer",
	      fmt, len);
	if (len <= 0)
		return;
	written = want < (size_t)len - 1 ? want : (size_t)len - 1;
	check(!memcmp(buf, expected, written) && buf[written] == '\0', line,
	      "guest_snprintf(\"%s\", len %d): expected \"%.*s\", got \"%.*s\"",
	      fmt, len, (int)written, expected, len, buf);
}

/* Compare with the expected text and, when it is standard, with libc's. */
#define FMT(expected, fmt, ...)						\
do {									\
	char __libc[128];						\
	check_fmt(__LINE__, expected, 128, fmt, ##__VA_ARGS__);		\
	snprintf(__libc, sizeof(__libc), fmt, ##__VA_ARGS__);		\
	CHECK(!strcmp(__libc, expected), "test bug: libc prints \"%s\" for \"%s\"", \
	      __libc, fmt);						\
} while (0)
#define FMT_NONSTD(expected, fmt, ...)	check_fmt(__LINE__, expected, 128, fmt, ##__VA_ARGS__)
#define FMT_LEN(expected, len, fmt, ...) check_fmt(__LINE__, expected, len, fmt, ##__VA_ARGS__)

static void test_guest_snprintf(void)
{
	/* Hidden from GCC, which warns about a literal NULL for %s. */
	const char *volatile null_str = NULL;
	int ret;

	FMT("plain text", "plain text");
	FMT("0 42 -42 2147483647 -2147483648", "%d %d %d %d %d", 0, 42, -42, INT_MAX, INT_MIN);
	FMT("7 -7", "%i %i", 7, -7);
	FMT("0 4294967295 3000000000", "%u %u %u", 0U, UINT_MAX, 3000000000U);
	FMT("ff FF deadbeef ffffffff", "%x %X %x %x", 255U, 255U, 0xdeadbeefU, (unsigned int)-1);
	FMT("ffffffffffffffff 1ffffffffff", "%lx %lx", ULONG_MAX, 0x1ffffffffffUL);
	FMT("18446744073709551615 0", "%lu %lu", ULONG_MAX, 0UL);
	FMT("-9223372036854775808 9223372036854775807 -1", "%ld %ld %ld", LONG_MIN, LONG_MAX, -1L);
	FMT("-5000000000", "%ld", -5000000000L);
	FMT("123 -77", "%zu %lld", (size_t)123, -77LL);
	FMT("[   42] [00042] [  -42] [-0042] [4242]", "[%5d] [%05d] [%5d] [%05d] [%2d]",
	    42, 42, -42, -42, 4242);
	FMT("[0000beef] [    BEEF] [0000000000000001]", "[%08x] [%8X] [%016lx]",
	    0xbeefU, 0xbeefU, 1UL);
	FMT("[      -1234567890123]", "[%20ld]", -1234567890123L);
	FMT("a b c", "%s %s %s", "a", "b", "c");
	FMT("(null)", "%s", null_str);
	FMT("xyz!", "%c%c%c%c", 'x', 'y', 'z', '!');
	FMT("100%", "%d%%", 100);
	FMT("%", "%%");
	FMT_NONSTD("0x1234abcd", "%p", (void *)0x1234abcdUL);
	FMT_NONSTD("0xffff800000000000", "%p", (void *)0xffff800000000000UL);
	FMT_NONSTD("0x0", "%p", NULL);

	/* Truncation: NUL-terminated in the buffer, return value = full length. */
	FMT_LEN("hello world", 8, "hello %s", "world");
	FMT_LEN("-123456", 4, "%d", -123456);
	FMT_LEN("00000abc", 4, "%08x", 0xabcU);
	FMT_LEN("abc", 1, "%s", "abc");
	FMT_LEN("exact", 6, "exact");
	FMT_LEN("exact", 5, "exact");
	FMT_LEN("nothing", 0, "nothing");
	ret = guest_snprintf(NULL, 0, "%d-%s", 12345, "xy");
	CHECK(ret == 8, "guest_snprintf(NULL, 0) returned %d, expected 8", ret);

	/* A string longer than UCALL_BUF_LEN, as a guest assert may produce. */
	{
		char big[UCALL_BUF_LEN + 100], out[UCALL_BUF_LEN];

		memset(big, 'q', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		ret = guest_snprintf(out, sizeof(out), "%s", big);
		CHECK(ret == (int)sizeof(big) - 1 && strlen(out) == sizeof(out) - 1,
		      "a %zu-byte string into %zu bytes: returned %d, wrote %zu",
		      sizeof(big) - 1, sizeof(out), ret, strlen(out));
	}
}

/* ---- dirty bitmaps ---- */

static void test_bitmap(void)
{
	static const uint64_t bits[] = { 0, 1, 63, 64, 65, 127, 128, 511, 1000, 1023 };
	const uint64_t nr = 1024 + 3;	/* not a multiple of the word size */
	unsigned long *map = bitmap_zalloc(nr), *one;
	unsigned char *bytes = (unsigned char *)map;
	unsigned int i;
	uint64_t b;

	CHECK(bitmap_weight(map, nr) == 0, "a new bitmap has weight %lu", bitmap_weight(map, nr));
	for (i = 0; i < ARRAY_SIZE(bits); i++) {
		bitmap_set_bit(map, bits[i]);
		CHECK(bitmap_test(map, bits[i]), "bit %lu not set", bits[i]);
	}
	CHECK(bitmap_weight(map, nr) == ARRAY_SIZE(bits), "weight %lu after setting %zu bits",
	      bitmap_weight(map, nr), ARRAY_SIZE(bits));
	/* KVM's layout: bit n is bit n % 8 of byte n / 8 (little endian longs). */
	CHECK(bytes[0] == 0x03 && bytes[7] == 0x80 && bytes[8] == 0x03 && bytes[125] == 0x01,
	      "bitmap bytes 0, 7, 8, 125 are %#x %#x %#x %#x, expected 0x3 0x80 0x3 0x1",
	      bytes[0], bytes[7], bytes[8], bytes[125]);
	for (b = 0; b < nr; b++) {
		bool want = false;

		for (i = 0; i < ARRAY_SIZE(bits); i++)
			want |= bits[i] == b;
		if (bitmap_test(map, b) != want) {
			CHECK(false, "bit %lu is %d, expected %d", b, !want, want);
			break;
		}
	}
	bitmap_clear_bit(map, 64);
	bitmap_clear_bit(map, 64);
	CHECK(!bitmap_test(map, 64) && bitmap_test(map, 63) && bitmap_test(map, 65),
	      "clearing bit 64 disturbed its neighbours or did not clear it");

	bitmap_zero_all(map, nr);
	CHECK(bitmap_weight(map, nr) == 0, "weight %lu after bitmap_zero_all",
	      bitmap_weight(map, nr));
	CHECK(!bitmap_test(map, nr - 1), "the last bit survived bitmap_zero_all");

	/* Ranges across word boundaries, empty ranges, up to the last bit. */
	bitmap_fill_range(map, 60, 10);
	CHECK(bitmap_weight(map, nr) == 10 && !bitmap_test(map, 59) && bitmap_test(map, 60) &&
	      bitmap_test(map, 69) && !bitmap_test(map, 70),
	      "bitmap_fill_range(60, 10) gave weight %lu", bitmap_weight(map, nr));
	bitmap_fill_range(map, 500, 0);
	CHECK(bitmap_weight(map, nr) == 10, "an empty range changed the weight to %lu",
	      bitmap_weight(map, nr));
	bitmap_fill_range(map, 0, nr);
	CHECK(bitmap_weight(map, nr) == nr, "filling all %lu bits gave weight %lu",
	      nr, bitmap_weight(map, nr));
	/* dirty_diff: lost writes, false reports and the first mismatch. */
	{
		unsigned long *dirty = bitmap_zalloc(nr), *written = bitmap_zalloc(nr);
		struct dirty_diff d;

		bitmap_set_bit(written, 3);
		bitmap_set_bit(written, 70);
		bitmap_set_bit(dirty, 70);
		bitmap_set_bit(dirty, 129);
		dirty_diff(dirty, written, nr, &d);
		CHECK(d.missing == 1 && d.extra == 1 && d.first == 3,
		      "dirty_diff: missing %lu extra %lu first %lu, expected 1 1 3",
		      d.missing, d.extra, d.first);
		dirty_diff(dirty, dirty, nr, &d);
		CHECK(!d.missing && !d.extra && d.first == ~0ULL,
		      "dirty_diff of equal maps: missing %lu extra %lu first %lu",
		      d.missing, d.extra, d.first);
		free(dirty);
		free(written);
	}

	/* Weight counts only the first nr bits, whatever lies beyond. */
	CHECK(bitmap_weight(map, 100) == 100 && bitmap_weight(map, 0) == 0,
	      "bitmap_weight of 100 / 0 bits: %lu / %lu", bitmap_weight(map, 100),
	      bitmap_weight(map, 0));
	free(map);

	/* A zero-bit bitmap is still a valid allocation. */
	one = bitmap_zalloc(0);
	CHECK(one, "bitmap_zalloc(0) returned NULL");
	free(one);
	one = bitmap_zalloc(1);
	bitmap_fill_range(one, 0, 1);
	CHECK(bitmap_weight(one, 1) == 1 && one[0] == 1, "a one-bit bitmap holds %#lx", one[0]);
	free(one);
}

/* ---- knobs: save and restore, on temporary files, never real sysfs ---- */

static char tmpdir[] = "/tmp/kvm-unit-XXXXXX";
static pid_t tmpdir_owner;	/* forked children inherit the atexit handler */
static bool parent_used_knobs;

/* Create or replace a temporary "knob" file holding val and a newline. */
static const char *tmp_knob(const char *name, const char *val)
{
	static char paths[32][64];
	static unsigned int n;
	char *path;
	int fd;

	TEST_ASSERT(n < ARRAY_SIZE(paths), "too many temporary knobs");
	path = paths[n++];
	snprintf(path, sizeof(paths[0]), "%s/%s", tmpdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	TEST_ASSERT(fd >= 0, "creating %s", path);
	TEST_ASSERT(dprintf(fd, "%s\n", val) == (int)strlen(val) + 1, "writing %s", path);
	close(fd);
	return path;
}

static const char *knob_value(const char *path)
{
	static char buf[128];
	ssize_t n = file_read_str(path, buf, sizeof(buf));

	if (n < 0)
		snprintf(buf, sizeof(buf), "<unreadable: %s>", strerror((int)-n));
	return buf;
}

static void tmp_cleanup(void)
{
	char cmd[64];

	if (getpid() != tmpdir_owner)
		return;
	/* Only the directory mkdtemp() made; the name has no shell specials. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd)) {
		/* Leaving a few bytes in /tmp is not a test failure. */
	}
}

/*
 * Fork a child that runs fn(path, val) with its output discarded, and
 * return once fn has returned (the child then waits to be killed) or the
 * child has exited.
 */
static pid_t fork_knob_child(void (*fn)(const char *path, const char *val),
			     const char *path, const char *val)
{
	int pipefd[2], null;
	pid_t pid;
	char c;

	TEST_ASSERT(!pipe(pipefd), "pipe");
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid) {
		close(pipefd[0]);
		null = open("/dev/null", O_WRONLY);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		fn(path, val);
		if (write(pipefd[1], "r", 1) != 1)
			_exit(99);
		for (;;)
			pause();
	}
	close(pipefd[1]);
	if (read(pipefd[0], &c, 1) != 1) {
		/* The child exited before it was ready; waitpid() tells how. */
	}
	close(pipefd[0]);
	return pid;
}

static int wait_child(pid_t pid)
{
	int status;

	TEST_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid");
	return status;
}

static void child_set(const char *path, const char *val)
{
	if (knob_set(path, val))
		_exit(98);
}

static void child_set_and_exit(const char *path, const char *val)
{
	child_set(path, val);
	exit(0);
}

static void child_set_and_assert(const char *path, const char *val)
{
	child_set(path, val);
	TEST_ASSERT(false, "deliberate failure after changing a knob");
}

static void child_set_and_skip(const char *path, const char *val)
{
	child_set(path, val);
	TEST_REQUIRE(false, "deliberate skip after changing a knob");
}

/*
 * A test killed by the kselftest runner's timeout gets SIGTERM: the knobs
 * it changed (eager_page_split, nr_hugepages ...) must be put back.
 */
static void test_knobs_signal(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	unsigned int i;

	CHECK(!parent_used_knobs, "test order: the parent changed knobs before this test");
	for (i = 0; i < ARRAY_SIZE(sigs); i++) {
		const char *path = tmp_knob(i ? "sig_other" : "sig_term", "Y");
		pid_t pid = fork_knob_child(child_set, path, "N");
		int status;

		CHECK(!strcmp(knob_value(path), "N"),
		      "signal %d: before the signal the child's knob reads \"%s\", expected \"N\"",
		      sigs[i], knob_value(path));
		kill(pid, sigs[i]);
		status = wait_child(pid);
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == sigs[i],
		      "signal %d: the child did not die of it (status %#x)", sigs[i], status);
		CHECK(!strcmp(knob_value(path), "Y"),
		      "signal %d: the knob reads \"%s\" after the child died, expected \"Y\"",
		      sigs[i], knob_value(path));
	}
}

/* A failed TEST_ASSERT, a skip and a plain exit() all restore too. */
static void test_knobs_exit_paths(void)
{
	static const struct {
		void (*fn)(const char *path, const char *val);
		const char *what;
		int code;
	} paths[] = {
		{ child_set_and_assert,	"failed assertion", KSFT_FAIL },
		{ child_set_and_skip,	"skip",		    KSFT_SKIP },
		{ child_set_and_exit,	"exit(0)",	    0 },
	};
	unsigned int i;

	CHECK(!parent_used_knobs, "test order: the parent changed knobs before this test");
	for (i = 0; i < ARRAY_SIZE(paths); i++) {
		const char *path = tmp_knob(i == 0 ? "exit_assert" : i == 1 ? "exit_skip" :
					    "exit_plain", "always");
		pid_t pid = fork_knob_child(paths[i].fn, path, "madvis");
		int status = wait_child(pid);

		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == paths[i].code,
		      "%s: child status %#x, expected exit code %d", paths[i].what,
		      status, paths[i].code);
		CHECK(!strcmp(knob_value(path), "always"),
		      "%s: the knob reads \"%s\" afterwards, expected \"always\"",
		      paths[i].what, knob_value(path));
	}
}

static int hook_calls;
static const char *hook_knob;
static bool hook_saw_restored;

static void restore_hook(void)
{
	hook_calls++;
	/* Hooks run after the knobs (a cgroup is removed once emptied). */
	hook_saw_restored = !strcmp(knob_value(hook_knob), "Y");
}

static void test_knobs_restore(void)
{
	const char *a = tmp_knob("param_a", "Y");
	const char *b = tmp_knob("pool_b", "2048");
	char missing[128];
	int ret;

	parent_used_knobs = true;
	hook_knob = a;
	knobs_at_restore(restore_hook);
	ret = knob_set(a, "N");
	CHECK(!ret && !strcmp(knob_value(a), "N"), "knob_set(a, N): %d, reads \"%s\"", ret,
	      knob_value(a));
	/* A second change must not overwrite the saved original. */
	ret = knob_set(a, "1");
	CHECK(!ret && !strcmp(knob_value(a), "1"), "knob_set(a, 1): %d, reads \"%s\"", ret,
	      knob_value(a));
	ret = knob_set(b, "4096");
	CHECK(!ret && !strcmp(knob_value(b), "4096"), "knob_set(b, 4096): %d, reads \"%s\"",
	      ret, knob_value(b));
	snprintf(missing, sizeof(missing), "%s/no_such_knob", tmpdir);
	ret = knob_set(missing, "1");
	CHECK(ret == -ENOENT, "knob_set on a missing file: expected -ENOENT, got %d", ret);

	knobs_restore();
	CHECK(!strcmp(knob_value(a), "Y"), "after knobs_restore knob a reads \"%s\", expected \"Y\"",
	      knob_value(a));
	CHECK(!strcmp(knob_value(b), "2048"),
	      "after knobs_restore knob b reads \"%s\", expected \"2048\"", knob_value(b));
	CHECK(access(missing, F_OK), "knobs_restore created the missing knob's file");
	CHECK(hook_calls == 1 && hook_saw_restored,
	      "restore hook: %d calls, saw the knobs restored: %d", hook_calls, hook_saw_restored);

	/* Restoring forgets: a second restore changes nothing. */
	TEST_ASSERT(!file_write_str(a, "Z"), "writing knob a");
	knobs_restore();
	CHECK(!strcmp(knob_value(a), "Z") && hook_calls == 1,
	      "a second knobs_restore wrote \"%s\" / ran the hook %d times", knob_value(a),
	      hook_calls);
}

/*
 * Values of different lengths: "echo 0 > nr_hugepages" semantics.  Kernel
 * attribute files don't care about the file offset, but a regular file does.
 */
static void test_knobs_lengths(void)
{
	const char *shrink = tmp_knob("shrink", "1024");
	const char *grow = tmp_knob("grow", "0");
	int ret;

	parent_used_knobs = true;
	ret = file_write_str(shrink, "7");
	CHECK_LIBBUG(BUG_WRITE_NO_TRUNC, !ret && !strcmp(knob_value(shrink), "7"),
		     "file_write_str(\"7\") over \"1024\": %d, reads \"%s\"", ret,
		     knob_value(shrink));
	tmp_knob("shrink", "1024");
	ret = knob_set(shrink, "0");
	CHECK_LIBBUG(BUG_WRITE_NO_TRUNC, !ret && !strcmp(knob_value(shrink), "0"),
		     "knob_set(\"0\") over \"1024\": %d, reads \"%s\"", ret, knob_value(shrink));
	ret = knob_set(grow, "1024");
	CHECK(!ret && !strcmp(knob_value(grow), "1024"),
	      "knob_set(\"1024\") over \"0\": %d, reads \"%s\"", ret, knob_value(grow));
	knobs_restore();
	CHECK(!strcmp(knob_value(shrink), "1024"), "restored \"1024\" reads \"%s\"",
	      knob_value(shrink));
	CHECK_LIBBUG(BUG_WRITE_NO_TRUNC, !strcmp(knob_value(grow), "0"),
		     "restored \"0\" (over \"1024\") reads \"%s\"", knob_value(grow));
}

/*
 * Children of a process that changed knobs: they must not undo the
 * parent's changes when they exit, and must restore the knobs they change
 * themselves (a test may run its variants in forked children).
 */
static void test_knobs_children(void)
{
	const char *parent_knob = tmp_knob("parent", "Y");
	const char *killed = tmp_knob("child_killed", "Y");
	const char *exited = tmp_knob("child_exited", "Y");
	pid_t pid;
	int status, ret;

	parent_used_knobs = true;
	ret = knob_set(parent_knob, "N");
	CHECK(!ret, "knob_set in the parent: %d", ret);

	pid = fork_knob_child(child_set_and_exit, exited, "N");
	status = wait_child(pid);
	CHECK(WIFEXITED(status) && !WEXITSTATUS(status), "child status %#x", status);
	CHECK(!strcmp(knob_value(parent_knob), "N"),
	      "a child's exit restored the parent's knob (reads \"%s\", expected \"N\")",
	      knob_value(parent_knob));
	CHECK(!strcmp(knob_value(exited), "Y"),
	      "a child's own knob reads \"%s\" after it exited, expected \"Y\"",
	      knob_value(exited));

	pid = fork_knob_child(child_set, killed, "N");
	kill(pid, SIGTERM);
	status = wait_child(pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "child status %#x", status);
	CHECK(!strcmp(knob_value(parent_knob), "N"),
	      "a child's SIGTERM restored the parent's knob (reads \"%s\", expected \"N\")",
	      knob_value(parent_knob));
	CHECK(!strcmp(knob_value(killed), "Y"),
	      "a child's own knob reads \"%s\" after SIGTERM, expected \"Y\"",
	      knob_value(killed));

	knobs_restore();
	CHECK(!strcmp(knob_value(parent_knob), "Y"), "the parent's knob reads \"%s\" after restore",
	      knob_value(parent_knob));
}

static const struct {
	const char *name;
	void (*fn)(void);
} tests[] = {
	{ "parse_size accepts sizes with and without K/M/G/T",	test_parse_size_valid },
	{ "parse_size rejects junk and overflow",		test_parse_size_invalid },
	{ "parse_uint honours max",				test_parse_uint },
	{ "size_str",						test_size_str },
	{ "backing names, page sizes and parse round trip",	test_backing_names },
	{ "backing_alloc alignment (anon, thp)",		test_backing_alloc },
	{ "kvm_stats_parse accepts KVM's layout and reads by name", test_stats_valid },
	{ "kvm_stats_parse edge layouts",			test_stats_valid_edges },
	{ "guest_snprintf",					test_guest_snprintf },
	{ "dirty bitmap helpers",				test_bitmap },
	/* The two below fork before this process ever touches a knob. */
	{ "knobs restored when a child dies of SIGTERM/SIGINT/SIGHUP", test_knobs_signal },
	{ "knobs restored on assert, skip and exit",		test_knobs_exit_paths },
	{ "knob_set and knobs_restore round trip",		test_knobs_restore },
	{ "knobs of different lengths",				test_knobs_lengths },
	{ "knobs of forked children",				test_knobs_children },
};

int main(int argc, char **argv)
{
	unsigned int i;

	TEST_ASSERT(mkdtemp(tmpdir), "mkdtemp");
	tmpdir_owner = getpid();
	atexit(tmp_cleanup);

	ksft_print_header();
	ksft_set_plan(ARRAY_SIZE(tests) + ARRAY_SIZE(stats_corruptions));
	for (i = 0; i < ARRAY_SIZE(tests); i++) {
		test_ok = true;
		tests[i].fn();
		ksft_test_result(test_ok, "%s\n", tests[i].name);
	}
	for (i = 0; i < ARRAY_SIZE(stats_corruptions); i++) {
		test_ok = true;
		test_stats_corruption(i);
		ksft_test_result(test_ok, "kvm_stats_parse rejects: %s\n",
				 stats_corruptions[i].what);
	}
	ksft_finished();
}
