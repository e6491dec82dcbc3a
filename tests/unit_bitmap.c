// SPDX-License-Identifier: GPL-2.0
/* Unit tests: dirty bitmap helpers, in KVM's layout. */
#include "dirty_log.h"
#include "unit.h"

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

static const struct unit_case cases[] = {
	{ "dirty bitmap helpers",	test_bitmap },
};
UNIT_SUITE(unit_bitmap, cases);
