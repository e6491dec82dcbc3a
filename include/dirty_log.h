/* SPDX-License-Identifier: GPL-2.0 */
/* Memslot dirty logging: enable/disable, GET, CLEAR, manual protect. */
#ifndef SELFTEST_DIRTY_LOG_H
#define SELFTEST_DIRTY_LOG_H

#include <stdbool.h>
#include <stdint.h>

struct kvm_vm;

/* Toggle KVM_MEM_LOG_DIRTY_PAGES on a memslot, keeping its other flags. */
void vm_dirty_log_enable(struct kvm_vm *vm, uint32_t slot);
void vm_dirty_log_disable(struct kvm_vm *vm, uint32_t slot);

/*
 * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: GET no longer write-protects, CLEAR
 * does.  With initially_set, enabling logging marks every page dirty and
 * write-protects nothing.  Returns -errno if KVM refuses the mode.
 */
int __vm_manual_protect_enable(struct kvm_vm *vm, bool initially_set);
void vm_manual_protect_enable(struct kvm_vm *vm, bool initially_set);
bool kvm_has_manual_protect(bool initially_set);

void vm_dirty_log_get(struct kvm_vm *vm, uint32_t slot, unsigned long *bitmap);
void vm_dirty_log_clear(struct kvm_vm *vm, uint32_t slot,
			unsigned long *bitmap, uint64_t first_page,
			uint32_t nr_pages);

/* Bitmaps of guest pages, in the layout KVM uses (unsigned long words). */
unsigned long *bitmap_zalloc(uint64_t nr_bits);
static inline bool bitmap_test(const unsigned long *map, uint64_t bit)
{
	return map[bit / (8 * sizeof(long))] & (1UL << (bit % (8 * sizeof(long))));
}
static inline void bitmap_set_bit(unsigned long *map, uint64_t bit)
{
	map[bit / (8 * sizeof(long))] |= 1UL << (bit % (8 * sizeof(long)));
}
static inline void bitmap_clear_bit(unsigned long *map, uint64_t bit)
{
	map[bit / (8 * sizeof(long))] &= ~(1UL << (bit % (8 * sizeof(long))));
}
void bitmap_fill_range(unsigned long *map, uint64_t start, uint64_t nr);
void bitmap_zero_all(unsigned long *map, uint64_t nr_bits);
uint64_t bitmap_weight(const unsigned long *map, uint64_t nr_bits);

/* How a memslot's dirty bitmap differs from the set of pages written. */
struct dirty_diff {
	uint64_t missing;	/* written, not reported dirty: a lost write */
	uint64_t extra;		/* reported dirty, not written */
	uint64_t first;		/* first page that differs, ~0 if none */
};

void dirty_diff(const unsigned long *dirty, const unsigned long *written,
		uint64_t nr_pages, struct dirty_diff *d);

#endif /* SELFTEST_DIRTY_LOG_H */
