/* SPDX-License-Identifier: GPL-2.0 */
/* AMD SVM: the VMCB layout, intercepts and exit codes (APM Vol. 2, App. B). */
#ifndef SELFTEST_X86_SVM_H
#define SELFTEST_X86_SVM_H

#include <stddef.h>
#include <stdint.h>

#define MSR_VM_HSAVE_PA		0xc0010117

#define SVM_INTERCEPT_VMRUN	(1U << 0)	/* vector 4 */
#define SVM_INTERCEPT_VMMCALL	(1U << 1)	/* vector 4 */
#define SVM_NESTED_CTL_NP	(1ULL << 0)

#define SVM_EXIT_EXCP_BASE	0x040
#define SVM_EXIT_CPUID		0x072
#define SVM_EXIT_SHUTDOWN	0x07f
#define SVM_EXIT_VMMCALL	0x081
#define SVM_EXIT_NPF		0x400
#define SVM_EXIT_INVALID	((uint64_t)-1)

#define SVM_IOPM_PAGES		3
#define SVM_MSRPM_PAGES		2

struct vmcb_seg {
	uint16_t selector;
	uint16_t attrib;
	uint32_t limit;
	uint64_t base;
} __attribute__((packed));

struct vmcb_control {
	uint32_t intercept_cr;
	uint32_t intercept_dr;
	uint32_t intercept_exceptions;
	uint32_t intercept_misc1;	/* vector 3 */
	uint32_t intercept_misc2;	/* vector 4 */
	uint32_t intercept_misc3;	/* vector 5 */
	uint8_t reserved_18[0x3c - 0x18];
	uint16_t pause_threshold;
	uint16_t pause_count;
	uint64_t iopm_base_pa;
	uint64_t msrpm_base_pa;
	uint64_t tsc_offset;
	uint32_t asid;
	uint8_t tlb_ctl;
	uint8_t reserved_5d[3];
	uint32_t int_ctl;
	uint32_t int_vector;
	uint64_t int_state;
	uint64_t exit_code;
	uint64_t exit_info1;
	uint64_t exit_info2;
	uint64_t exit_int_info;
	uint64_t nested_ctl;
	uint64_t avic_bar;
	uint64_t ghcb_pa;
	uint64_t event_inj;
	uint64_t nested_cr3;
	uint64_t virt_ext;
	uint32_t clean;
	uint32_t reserved_c4;
	uint64_t next_rip;
	uint8_t reserved_d0[0x400 - 0xd0];
} __attribute__((packed));

struct vmcb_save {
	struct vmcb_seg es, cs, ss, ds, fs, gs, gdtr, ldtr, idtr, tr;
	uint8_t reserved_a0[0xcb - 0xa0];
	uint8_t cpl;
	uint32_t reserved_cc;
	uint64_t efer;
	uint8_t reserved_d8[0x148 - 0xd8];
	uint64_t cr4;
	uint64_t cr3;
	uint64_t cr0;
	uint64_t dr7;
	uint64_t dr6;
	uint64_t rflags;
	uint64_t rip;
	uint8_t reserved_180[0x1d8 - 0x180];
	uint64_t rsp;
	uint8_t reserved_1e0[0x1f8 - 0x1e0];
	uint64_t rax;
	uint8_t reserved_200[0x268 - 0x200];
	uint64_t g_pat;
	uint8_t reserved_270[0xc00 - 0x270];
} __attribute__((packed));

struct vmcb {
	struct vmcb_control control;
	struct vmcb_save save;
} __attribute__((packed));

_Static_assert(offsetof(struct vmcb_control, iopm_base_pa) == 0x40, "VMCB IOPM");
_Static_assert(offsetof(struct vmcb_control, exit_code) == 0x70, "VMCB exit code");
_Static_assert(offsetof(struct vmcb_control, nested_cr3) == 0xb0, "VMCB nCR3");
_Static_assert(offsetof(struct vmcb_control, next_rip) == 0xc8, "VMCB nRIP");
_Static_assert(offsetof(struct vmcb, save) == 0x400, "VMCB save area");
_Static_assert(offsetof(struct vmcb_save, efer) == 0xd0, "VMCB EFER");
_Static_assert(offsetof(struct vmcb_save, cr4) == 0x148, "VMCB CR4");
_Static_assert(offsetof(struct vmcb_save, rip) == 0x178, "VMCB RIP");
_Static_assert(offsetof(struct vmcb_save, rsp) == 0x1d8, "VMCB RSP");
_Static_assert(offsetof(struct vmcb_save, rax) == 0x1f8, "VMCB RAX");
_Static_assert(offsetof(struct vmcb_save, g_pat) == 0x268, "VMCB G_PAT");
_Static_assert(sizeof(struct vmcb) == 4096, "VMCB size");

#endif /* SELFTEST_X86_SVM_H */
