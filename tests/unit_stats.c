// SPDX-License-Identifier: GPL-2.0
/* Unit tests: kvm_stats_parse() and reads on synthetic binary stats files. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <unistd.h>

#include "kvm_util.h"
#include "stats.h"
#include "unit.h"

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
		CHECK(ret == -EIO, "a stat at data_offset + 4G - 8 read as %d and %lu, expected -EIO",
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
} stats_corruptions[] = {
	{ "header flags not zero",			corrupt_flags },
	{ "name_size 0",				corrupt_name_size },
	{ "id block inside the header",			corrupt_id_in_header },
	{ "id block overlaps the descriptors",		corrupt_id_over_descs },
	{ "id block at the end of the 32-bit range",	corrupt_id_wraps },
	{ "descriptors overlap the data block",		corrupt_descs_over_data },
	{ "data block before the descriptors",		corrupt_data_before_descs },
	{ "unterminated name",				corrupt_unterminated },
	{ "empty name",					corrupt_empty_name },
	{ "upper-case name",				corrupt_upper_name },
	{ "name with a dash",				corrupt_dash_name },
	{ "name with a space",				corrupt_space_name },
	{ "name with a newline",			corrupt_ctrl_name },
	{ "duplicate names",				corrupt_dup_name },
	{ "unknown type",				corrupt_type },
	{ "unknown unit",				corrupt_unit },
	{ "unknown base",				corrupt_base },
	{ "stat of size 0",				corrupt_size0 },
	{ "file truncated in the header",		corrupt_trunc_header },
	{ "file truncated in the descriptors",		corrupt_trunc_descs },
	{ "one-byte file",				corrupt_one_byte },
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

static const struct unit_case cases[] = {
	{ "kvm_stats_parse accepts KVM's layout and reads by name", test_stats_valid },
	{ "kvm_stats_parse edge layouts",			test_stats_valid_edges },
};
UNIT_SUITE(unit_stats, cases);

static const char *corruption_name(unsigned int i)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), "kvm_stats_parse rejects: %s", stats_corruptions[i].what);
	return buf;
}

const struct unit_suite unit_stats_corruption = {
	ARRAY_SIZE(stats_corruptions), corruption_name, test_stats_corruption,
};
