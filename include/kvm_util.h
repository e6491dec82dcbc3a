/* SPDX-License-Identifier: GPL-2.0 */
/* VM, vCPU and memslot handles: the core of the selftest library. */
#ifndef SELFTEST_KVM_UTIL_H
#define SELFTEST_KVM_UTIL_H

#include <linux/kvm.h>
#include <sys/types.h>

#include "test_util.h"
#include "backing.h"

/* The three address spaces, kept apart by name at every call site. */
typedef uint64_t gpa_t;		/* guest physical (L1 physical) */
typedef uint64_t gva_t;		/* guest virtual */
typedef uint64_t l2_gpa_t;	/* L2 physical, translated by L1's EPT/NPT */

#define VM_MAX_SLOTS		16
#define VM_MAX_VCPUS		64

/* Slot 0 holds everything L1 needs: code, stacks, page tables, VMCS/VMCB. */
#define VM_L1_SLOT		0
#define VM_L1_SIZE		(96ULL << 20)

/*
 * Guest virtual layout: the test ELF at its link addresses, and a direct
 * map of guest physical memory at DIRECT_MAP_BASE.  The direct map is built
 * once at VM creation and covers every GPA a slot may use (but for
 * vm_memslot_add_top()'s), so memslots can be added in any order.
 */
#define DIRECT_MAP_BASE		0x10000000000ULL	/* 1 TiB */
#define DIRECT_MAP_SIZE		(256ULL << 30)

static inline gva_t direct_gva(gpa_t gpa)
{
	return DIRECT_MAP_BASE + gpa;
}

struct vm_memslot {
	uint32_t slot;
	uint32_t flags;
	gpa_t gpa;
	uint64_t size;
	enum backing_type backing;
	void *hva;		/* aligned to the backing page size */
	void *mmap_start;
	size_t mmap_size;
};

struct kvm_vcpu {
	struct kvm_vm *vm;
	uint32_t id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	gpa_t stack_gpa;
	uint64_t stack_size;
};

struct kvm_vm {
	int kvm_fd;
	int fd;
	struct kvm_stats *stats;

	struct vm_memslot *slots[VM_MAX_SLOTS];
	struct kvm_vcpu *vcpus[VM_MAX_VCPUS];
	unsigned int nr_vcpus;

	/* Bump allocator for L1 pages in slot 0. */
	gpa_t l1_next_free;
	gpa_t l1_end;

	gpa_t pml4;		/* L1 page table root */
	gpa_t gdt, idt, tss;
	void *tdp;		/* EPT/NPT builder state, owned by tdp.c */
	bool has_run;		/* a vCPU has entered KVM_RUN */
};

/* /dev/kvm */
/*
 * Documented skip: /dev/kvm opens and has the binary stats fd every test
 * reads its page counts from.
 */
void kvm_require(void);
int kvm_open(void);
int kvm_check_cap(long cap);

/* VM lifecycle. */
struct kvm_vm *vm_create(void);
void vm_free(struct kvm_vm *vm);
int __vm_ioctl(struct kvm_vm *vm, unsigned long cmd, void *arg);
#define vm_ioctl(vm, cmd, arg)						\
do {									\
	int __r = __vm_ioctl(vm, cmd, arg);				\
	TEST_ASSERT(!__r, "%s failed: %s", #cmd, strerror(errno));	\
} while (0)
int vm_enable_cap(struct kvm_vm *vm, uint32_t cap, uint64_t arg0);

/* Memslots. */
struct vm_memslot *vm_memslot_add(struct kvm_vm *vm, uint32_t slot, gpa_t gpa,
				  uint64_t size, enum backing_type backing,
				  uint32_t flags);
/*
 * A memslot at the top of guest physical memory, 1G-aligned, beyond the
 * direct map (L1 cannot reach it; L2 can, through L1's EPT/NPT), where
 * upstream's memstress puts its test memory: no page table of L1's own
 * memory shares even an upper level with it in the MMU that maps L1.
 */
struct vm_memslot *vm_memslot_add_top(struct kvm_vm *vm, uint32_t slot, uint64_t size,
				      enum backing_type backing, uint32_t flags);
/* The end of guest physical memory: 1 << MAXPHYADDR, as KVM reports it. */
uint64_t guest_phys_limit(void);
/*
 * A memslot at any 4K-aligned GPA with any 4K-multiple size.  The host
 * address is congruent to the GPA modulo the backing's page size, plus
 * hva_skew (a 4K multiple below that page size); the host memory covers
 * whole host pages around the slot.
 */
struct vm_memslot *vm_memslot_add_geom(struct kvm_vm *vm, uint32_t slot, gpa_t gpa,
				       uint64_t size, enum backing_type backing,
				       uint32_t flags, uint64_t hva_skew);
struct vm_memslot *vm_memslot(struct kvm_vm *vm, uint32_t slot);
int __vm_memslot_set_flags(struct kvm_vm *vm, uint32_t slot, uint32_t flags);
void vm_memslot_set_flags(struct kvm_vm *vm, uint32_t slot, uint32_t flags);
/*
 * Fault in a memslot's host memory and check that the host maps all of it
 * with pages of the backing's size (KVM never maps larger than the host).
 * Returns NULL, or why not as a sentence for a skip.
 */
const char *vm_memslot_prefault(struct kvm_vm *vm, uint32_t slot);

/* L1 memory. */
gpa_t vm_alloc_pages(struct kvm_vm *vm, uint64_t nr_pages);
void *addr_gpa2hva(struct kvm_vm *vm, gpa_t gpa);
gpa_t addr_gva2gpa(struct kvm_vm *vm, gva_t gva);
void *addr_gva2hva(struct kvm_vm *vm, gva_t gva);

void vm_copy_from_guest(struct kvm_vm *vm, void *dst, gva_t gva, size_t len);

/* vCPUs: each starts in 64-bit mode at guest_code with its own stack. */
struct kvm_vcpu *vm_vcpu_add(struct kvm_vm *vm, void *guest_code);
void vcpu_args_set(struct kvm_vcpu *vcpu, unsigned int nr, ...);
int __vcpu_run(struct kvm_vcpu *vcpu);
void vcpu_run(struct kvm_vcpu *vcpu);
int __vcpu_ioctl(struct kvm_vcpu *vcpu, unsigned long cmd, void *arg);
#define vcpu_ioctl(vcpu, cmd, arg)					\
do {									\
	int __r = __vcpu_ioctl(vcpu, cmd, arg);				\
	TEST_ASSERT(!__r, "%s failed on vCPU %u: %s", #cmd, (vcpu)->id,	\
		    strerror(errno));					\
} while (0)
void vcpu_regs_get(struct kvm_vcpu *vcpu, struct kvm_regs *regs);
void vcpu_regs_set(struct kvm_vcpu *vcpu, struct kvm_regs *regs);
void vcpu_sregs_get(struct kvm_vcpu *vcpu, struct kvm_sregs *sregs);
void vcpu_sregs_set(struct kvm_vcpu *vcpu, struct kvm_sregs *sregs);
const char *exit_reason_str(uint32_t reason);

/* Filled by the arch code. */
void arch_vm_setup(struct kvm_vm *vm);
void arch_vcpu_setup(struct kvm_vcpu *vcpu, void *guest_code);
void arch_load_elf(struct kvm_vm *vm);

#endif /* SELFTEST_KVM_UTIL_H */
