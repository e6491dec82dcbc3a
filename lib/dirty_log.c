// SPDX-License-Identifier: GPL-2.0
/* Dirty logging on memslots: flags, GET/CLEAR and manual protection. */
#include "dirty_log.h"
#include "kvm_util.h"

void vm_dirty_log_enable(struct kvm_vm *vm, uint32_t slot)
{
	vm_memslot_set_flags(vm, slot,
			     vm_memslot(vm, slot)->flags | KVM_MEM_LOG_DIRTY_PAGES);
}

void vm_dirty_log_disable(struct kvm_vm *vm, uint32_t slot)
{
	vm_memslot_set_flags(vm, slot,
			     vm_memslot(vm, slot)->flags & ~KVM_MEM_LOG_DIRTY_PAGES);
}

static uint64_t manual_protect_flags(bool initially_set)
{
	return KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE |
	       (initially_set ? KVM_DIRTY_LOG_INITIALLY_SET : 0);
}

bool kvm_has_manual_protect(bool initially_set)
{
	uint64_t want = manual_protect_flags(initially_set);

	return ((uint64_t)kvm_check_cap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) & want) == want;
}

int __vm_manual_protect_enable(struct kvm_vm *vm, bool initially_set)
{
	return vm_enable_cap(vm, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
			     manual_protect_flags(initially_set));
}

void vm_manual_protect_enable(struct kvm_vm *vm, bool initially_set)
{
	int ret = __vm_manual_protect_enable(vm, initially_set);

	TEST_ASSERT(!ret, "enabling KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2%s: %s",
		    initially_set ? " with INITIALLY_SET" : "", strerror(-ret));
}

void vm_dirty_log_get(struct kvm_vm *vm, uint32_t slot, unsigned long *bitmap)
{
	struct kvm_dirty_log log = { .slot = slot, .dirty_bitmap = bitmap };

	vm_ioctl(vm, KVM_GET_DIRTY_LOG, &log);
}

void vm_dirty_log_clear(struct kvm_vm *vm, uint32_t slot, unsigned long *bitmap,
			uint64_t first_page, uint32_t nr_pages)
{
	struct kvm_clear_dirty_log clear = {
		.slot = slot,
		.first_page = first_page,
		.num_pages = nr_pages,
		.dirty_bitmap = bitmap,
	};

	vm_ioctl(vm, KVM_CLEAR_DIRTY_LOG, &clear);
}

unsigned long *bitmap_zalloc(uint64_t nr_bits)
{
	size_t words = DIV_ROUND_UP(nr_bits, 8 * sizeof(long));
	unsigned long *map = calloc(words ? words : 1, sizeof(long));

	TEST_ASSERT(map, "out of memory for a %lu-bit bitmap", nr_bits);
	return map;
}

void bitmap_fill_range(unsigned long *map, uint64_t start, uint64_t nr)
{
	uint64_t i;

	for (i = start; i < start + nr; i++)
		bitmap_set_bit(map, i);
}

void bitmap_zero_all(unsigned long *map, uint64_t nr_bits)
{
	memset(map, 0, DIV_ROUND_UP(nr_bits, 8 * sizeof(long)) * sizeof(long));
}

uint64_t bitmap_weight(const unsigned long *map, uint64_t nr_bits)
{
	uint64_t i, n = 0;

	for (i = 0; i < nr_bits; i++)
		n += bitmap_test(map, i);
	return n;
}

void dirty_diff(const unsigned long *dirty, const unsigned long *written,
		uint64_t nr_pages, struct dirty_diff *d)
{
	uint64_t i;

	*d = (struct dirty_diff){ .first = ~0ULL };
	for (i = 0; i < nr_pages; i++) {
		bool dt = bitmap_test(dirty, i), wr = bitmap_test(written, i);

		if (dt != wr && d->first == ~0ULL)
			d->first = i;
		d->missing += wr && !dt;
		d->extra += dt && !wr;
	}
}
