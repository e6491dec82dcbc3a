/* SPDX-License-Identifier: GPL-2.0 */
/* x86-64: CPU features, MSRs, control registers and guest-side helpers. */
#ifndef SELFTEST_X86_PROCESSOR_H
#define SELFTEST_X86_PROCESSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "kvm_util.h"

/* Control register and EFER bits. */
#define X86_CR0_PE	(1UL << 0)
#define X86_CR0_MP	(1UL << 1)
#define X86_CR0_ET	(1UL << 4)
#define X86_CR0_NE	(1UL << 5)
#define X86_CR0_WP	(1UL << 16)
#define X86_CR0_PG	(1UL << 31)
#define X86_CR4_PAE	(1UL << 5)
#define X86_CR4_PGE	(1UL << 7)
#define X86_CR4_OSFXSR	(1UL << 9)
#define X86_CR4_OSXMMEXCPT (1UL << 10)
#define X86_CR4_VMXE	(1UL << 13)
#define X86_CR4_OSXSAVE	(1UL << 18)
#define EFER_SCE	(1UL << 0)
#define EFER_LME	(1UL << 8)
#define EFER_LMA	(1UL << 10)
#define EFER_NX		(1UL << 11)
#define EFER_SVME	(1UL << 12)

#define MSR_EFER		0xc0000080
#define MSR_IA32_FEAT_CTL	0x3a
#define FEAT_CTL_LOCKED		(1UL << 0)
#define FEAT_CTL_VMX_OUTSIDE_SMX (1UL << 2)

/* Page table entry bits (L1's own paging). */
#define PTE_PRESENT	(1UL << 0)
#define PTE_WRITE	(1UL << 1)
#define PTE_LARGE	(1UL << 7)
#define PTE_ADDR_MASK	0x000ffffffffff000ULL

/* GDT layout shared by L1 and L2 (L2 runs on L1's tables). */
#define GDT_CODE_SEL	0x08
#define GDT_DATA_SEL	0x10
#define GDT_TSS_SEL	0x18
#define GDT_ENTRIES	5

/*
 * A CPUID feature bit: leaf, subleaf, output register and bit.  The same
 * descriptor is tested on the host against KVM's supported CPUID
 * (kvm_cpu_has) and in the guest with the CPUID instruction (this_cpu_has).
 */
enum cpuid_reg { CPUID_EAX, CPUID_EBX, CPUID_ECX, CPUID_EDX };
struct x86_cpu_feature {
	uint32_t function;
	uint32_t index;
	uint8_t reg;
	uint8_t bit;
};
#define X86_FEATURE(fn, idx, r, b)					\
	((struct x86_cpu_feature){ .function = fn, .index = idx,	\
				   .reg = CPUID_##r, .bit = b })

#define X86_FEATURE_VMX		X86_FEATURE(0x1, 0, ECX, 5)
#define X86_FEATURE_XSAVE	X86_FEATURE(0x1, 0, ECX, 26)
#define X86_FEATURE_OSXSAVE	X86_FEATURE(0x1, 0, ECX, 27)
#define X86_FEATURE_SVM		X86_FEATURE(0x80000001, 0, ECX, 2)
#define X86_FEATURE_NX		X86_FEATURE(0x80000001, 0, EDX, 20)
#define X86_FEATURE_GBPAGES	X86_FEATURE(0x80000001, 0, EDX, 26)
#define X86_FEATURE_LM		X86_FEATURE(0x80000001, 0, EDX, 29)
#define X86_FEATURE_NPT		X86_FEATURE(0x8000000A, 0, EDX, 0)
#define X86_FEATURE_NRIPS	X86_FEATURE(0x8000000A, 0, EDX, 3)

/* Host side: is the feature in KVM_GET_SUPPORTED_CPUID? */
struct kvm_cpuid2 *kvm_supported_cpuid(void);
bool kvm_cpu_has(struct x86_cpu_feature feature);
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *cpuid,
				    uint32_t function, uint32_t index);

/* Guest side. */
static inline void cpuid(uint32_t fn, uint32_t idx, uint32_t *eax,
			 uint32_t *ebx, uint32_t *ecx, uint32_t *edx)
{
	__asm__ volatile("cpuid"
			 : "=a"(*eax), "=b"(*ebx), "=c"(*ecx), "=d"(*edx)
			 : "a"(fn), "c"(idx)
			 : "memory");
}

static inline bool this_cpu_has(struct x86_cpu_feature f)
{
	uint32_t r[4];

	cpuid(f.function, f.index, &r[0], &r[1], &r[2], &r[3]);
	return r[f.reg] & (1U << f.bit);
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr) : "memory");
	return lo | ((uint64_t)hi << 32);
}

static inline void wrmsr(uint32_t msr, uint64_t val)
{
	__asm__ volatile("wrmsr"
			 :: "a"((uint32_t)val), "d"((uint32_t)(val >> 32)),
			    "c"(msr) : "memory");
}

#define DEFINE_CR_ACCESSORS(n)						\
static inline uint64_t get_cr##n(void)					\
{									\
	uint64_t v;							\
	__asm__ volatile("mov %%cr" #n ", %0" : "=r"(v) :: "memory");	\
	return v;							\
}									\
static inline void set_cr##n(uint64_t v)				\
{									\
	__asm__ volatile("mov %0, %%cr" #n :: "r"(v) : "memory");	\
}
DEFINE_CR_ACCESSORS(0)
DEFINE_CR_ACCESSORS(3)
DEFINE_CR_ACCESSORS(4)

static inline uint64_t get_rflags(void)
{
	uint64_t v;

	__asm__ volatile("pushfq; popq %0" : "=r"(v) :: "memory");
	return v;
}

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

static inline void get_gdt(struct desc_ptr *p)
{
	__asm__ volatile("sgdt %0" : "=m"(*p));
}

static inline void get_idt(struct desc_ptr *p)
{
	__asm__ volatile("sidt %0" : "=m"(*p));
}

static inline uint16_t get_tr(void)
{
	uint16_t v;

	__asm__ volatile("str %0" : "=r"(v));
	return v;
}

static inline void outl(uint16_t port, uint32_t val)
{
	__asm__ volatile("outl %0, %1" :: "a"(val), "Nd"(port) : "memory");
}

/*
 * L1 page-table pages that a first access to [gpa, gpa + size) through the
 * direct map walks and no earlier access did: none when the direct map
 * uses 1G pages (its one PDPT is walked for every stack access), else one
 * page directory per 1G region outside the first.  Each becomes one more
 * 4K mapping in whichever MMU runs the walk.
 */
uint64_t direct_map_tables(gpa_t gpa, uint64_t size);

/* Segment base from the guest's GDT (needed for VMX host state). */
uint64_t guest_tss_base(void);

/*
 * An exception in L1 or L2 is always a test failure: the handler reports
 * vector, error code and RIP to the host as a guest assertion.
 */
struct ex_regs {
	uint64_t rax, rcx, rdx, rbx, rbp, rsi, rdi;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t vector, error_code;
	uint64_t rip, cs, rflags, rsp, ss;
};
void guest_exception(struct ex_regs *regs);

#endif /* SELFTEST_X86_PROCESSOR_H */
