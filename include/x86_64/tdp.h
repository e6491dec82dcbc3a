/* SPDX-License-Identifier: GPL-2.0 */
/*
 * L1's EPT (VMX) or NPT (SVM) tables, built by the host in L1 memory: one
 * builder for both formats, several roots per VM when a test wants them.
 */
#ifndef SELFTEST_X86_TDP_H
#define SELFTEST_X86_TDP_H

#include "kvm_util.h"

enum tdp_format { TDP_EPT, TDP_NPT };

enum tdp_level { TDP_4K = 1, TDP_2M = 2, TDP_1G = 3 };

#define TDP_MAX_ROOTS	8

static inline uint64_t tdp_level_size(enum tdp_level level)
{
	return 1ULL << (12 + 9 * (level - 1));
}

/* The level of a 4K, 2M or 1G mapping; anything else counts as 4K. */
static inline enum tdp_level tdp_size_level(uint64_t size)
{
	return size == 1ULL << 30 ? TDP_1G : size == 1ULL << 21 ? TDP_2M : TDP_4K;
}

const char *tdp_level_name(enum tdp_level level);

/*
 * Start building tables of the given format.  Root 0 exists at once; every
 * root identity-maps L1's own memslot, so L2 runs L1's code with L1's page
 * tables and stacks, and reaches the host with ucalls.
 */
void vm_tdp_init(struct kvm_vm *vm, enum tdp_format format);
/* Another root (for vCPUs that must not share nested page tables). */
unsigned int tdp_root_add(struct kvm_vm *vm);
gpa_t tdp_root_gpa(struct kvm_vm *vm, unsigned int root);

/*
 * Map [l2_gpa, l2_gpa + size) to [l1_gpa, l1_gpa + size) with leaves of
 * the given level, in one root.  Every leaf must overlap a memslot that
 * exists now; it need not lie inside one (a leaf may be larger than the
 * slot, or cover a partial huge page at an unaligned slot's head or tail,
 * of which L2 touches only the slot's pages).  No vCPU may have run yet:
 * KVM shadows these tables and would not notice the host rewriting them
 * behind its back.  Mapping one L1 range at several L2 addresses makes
 * aliases.
 */
void tdp_map(struct kvm_vm *vm, unsigned int root, l2_gpa_t l2_gpa,
	     gpa_t l1_gpa, uint64_t size, enum tdp_level level);

#endif /* SELFTEST_X86_TDP_H */
