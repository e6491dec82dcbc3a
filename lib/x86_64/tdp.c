// SPDX-License-Identifier: GPL-2.0
/* EPT and NPT tables for L1, written by the host into L1 memory. */
#include "kvm_util.h"
#include "x86_64/processor.h"
#include "x86_64/tdp.h"
#include "x86_64/vmx.h"

#define TDP_ENTRIES	512

struct tdp_state {
	enum tdp_format format;
	unsigned int nr_roots;
	gpa_t roots[TDP_MAX_ROOTS];
};

static struct tdp_state *tdp_state(struct kvm_vm *vm)
{
	TEST_ASSERT(vm->tdp, "vm_tdp_init() was not called for this VM");
	return vm->tdp;
}

const char *tdp_level_name(enum tdp_level level)
{
	switch (level) {
	case TDP_4K: return "4K";
	case TDP_2M: return "2M";
	case TDP_1G: return "1G";
	}
	return "?";
}

/* Entry bits per format: EPT has R/W/X and a memory type, NPT is x86 paging. */
static uint64_t tdp_table_bits(enum tdp_format f)
{
	/* NPT walks count as user accesses: U must be set at every level. */
	return f == TDP_EPT ? EPT_READ | EPT_WRITE | EPT_EXEC
			    : PTE_PRESENT | PTE_WRITE | (1ULL << 2);
}

static uint64_t tdp_leaf_bits(enum tdp_format f, enum tdp_level level)
{
	uint64_t bits = tdp_table_bits(f);

	if (f == TDP_EPT)
		bits |= EPT_MT_WB;
	if (level > TDP_4K)
		bits |= f == TDP_EPT ? EPT_LARGE : PTE_LARGE;
	return bits;
}

static bool tdp_present(enum tdp_format f, uint64_t e)
{
	return f == TDP_EPT ? (e & (EPT_READ | EPT_WRITE | EPT_EXEC)) : (e & PTE_PRESENT);
}

static bool tdp_is_leaf(enum tdp_format f, uint64_t e, int level)
{
	return level == TDP_4K || (e & (f == TDP_EPT ? EPT_LARGE : PTE_LARGE));
}

static uint64_t *tdp_entry(struct kvm_vm *vm, gpa_t table, uint64_t addr, int level)
{
	unsigned int idx = (addr >> (12 + 9 * (level - 1))) & (TDP_ENTRIES - 1);

	return (uint64_t *)addr_gpa2hva(vm, table) + idx;
}

static void tdp_map_one(struct kvm_vm *vm, gpa_t root, l2_gpa_t l2, gpa_t l1,
			enum tdp_level level)
{
	enum tdp_format f = tdp_state(vm)->format;
	gpa_t table = root;
	uint64_t *e;
	int l;

	for (l = 4; l > (int)level; l--) {
		e = tdp_entry(vm, table, l2, l);
		if (!tdp_present(f, *e))
			*e = vm_alloc_pages(vm, 1) | tdp_table_bits(f);
		TEST_ASSERT(!tdp_is_leaf(f, *e, l),
			    "L2 GPA 0x%lx is already mapped by a larger leaf", l2);
		table = *e & PTE_ADDR_MASK;
	}
	e = tdp_entry(vm, table, l2, level);
	TEST_ASSERT(!tdp_present(f, *e), "L2 GPA 0x%lx is already mapped", l2);
	*e = l1 | tdp_leaf_bits(f, level);
}

void tdp_map(struct kvm_vm *vm, unsigned int root, l2_gpa_t l2_gpa,
	     gpa_t l1_gpa, uint64_t size, enum tdp_level level)
{
	struct tdp_state *t = tdp_state(vm);
	uint64_t step = tdp_level_size(level), off;
	unsigned int i;
	bool in_slot = false;

	TEST_ASSERT(!vm->has_run,
		    "EPT/NPT changed after a vCPU ran: KVM shadows these tables "
		    "and would not see the host rewrite them");
	TEST_ASSERT(root < t->nr_roots, "no TDP root %u", root);
	TEST_ASSERT(level >= TDP_4K && level <= TDP_1G, "bad TDP level %d", level);
	TEST_ASSERT(size && IS_ALIGNED(l2_gpa, step) && IS_ALIGNED(l1_gpa, step) &&
		    IS_ALIGNED(size, step),
		    "L2 GPA 0x%lx -> L1 GPA 0x%lx, size 0x%lx: not aligned to %s leaves",
		    l2_gpa, l1_gpa, size, tdp_level_name(level));
	TEST_ASSERT(l2_gpa + size <= DIRECT_MAP_SIZE,
		    "L2 GPA range ends at 0x%lx, beyond the guests' direct map", l2_gpa + size);
	/*
	 * Every leaf must overlap some memslot: a leaf may be larger than the
	 * slot under it (a 1G leaf over a 64M slot is a case worth testing),
	 * or hold a partial huge page at an unaligned slot's head or tail,
	 * but mapping memory that has no slot yet is a setup-order mistake.
	 */
	for (off = 0; off < size; off += step) {
		in_slot = false;
		for (i = 0; i < VM_MAX_SLOTS; i++) {
			struct vm_memslot *s = vm->slots[i];

			if (s && l1_gpa + off < s->gpa + s->size &&
			    s->gpa < l1_gpa + off + step)
				in_slot = true;
		}
		TEST_ASSERT(in_slot,
			    "L1 GPA range 0x%lx-0x%lx has no memslot: add memslots "
			    "before mapping them for L2", l1_gpa + off, l1_gpa + off + step);
	}

	for (off = 0; off < size; off += step)
		tdp_map_one(vm, t->roots[root], l2_gpa + off, l1_gpa + off, level);
}

unsigned int tdp_root_add(struct kvm_vm *vm)
{
	struct tdp_state *t = tdp_state(vm);
	unsigned int root = t->nr_roots;

	TEST_ASSERT(root < TDP_MAX_ROOTS, "at most %d TDP roots", TDP_MAX_ROOTS);
	t->roots[root] = vm_alloc_pages(vm, 1);
	t->nr_roots++;
	/* L1's memslot, identity mapped: L2 shares L1's code, stacks, tables. */
	tdp_map(vm, root, 0, 0, vm->l1_end, TDP_2M);
	return root;
}

gpa_t tdp_root_gpa(struct kvm_vm *vm, unsigned int root)
{
	struct tdp_state *t = tdp_state(vm);

	TEST_ASSERT(root < t->nr_roots, "no TDP root %u", root);
	return t->roots[root];
}

void vm_tdp_init(struct kvm_vm *vm, enum tdp_format format)
{
	struct tdp_state *t;

	TEST_ASSERT(!vm->tdp, "TDP tables already set up for this VM");
	t = calloc(1, sizeof(*t));
	TEST_ASSERT(t, "out of memory");
	t->format = format;
	vm->tdp = t;
	tdp_root_add(vm);
}
