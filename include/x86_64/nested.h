/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One interface to nested virtualization for tests: L1 enters L2 at a C
 * function with its own stack and arguments, L2 calls back into L1 with
 * l2_call(), L1 resumes it.  VMX or SVM is chosen once from the CPU; the
 * guest-side dispatch lives in lib/x86_64/nested.c only.
 */
#ifndef SELFTEST_X86_NESTED_H
#define SELFTEST_X86_NESTED_H

#include "kvm_util.h"
#include "x86_64/tdp.h"

enum nested_vendor { NESTED_VMX = 1, NESTED_SVM = 2 };

/* L2's general purpose registers, saved and restored around every exit. */
struct l2_regs {
	uint64_t rax, rcx, rdx, rbx, rbp, rsi, rdi;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
};

/* Per-vCPU L1 state, in L1 memory; the host fills in the addresses. */
struct nested_state {
	uint32_t vendor;
	uint32_t vcpu_id;
	uint64_t tdp_root;		/* EPT PML4 / nested CR3, L1 GPA */

	/* VMX */
	uint64_t vmxon_gpa;
	uint64_t vmcs_gpa;
	uint64_t msr_bitmap_gpa;
	/* SVM */
	uint64_t vmcb_gpa;
	gva_t vmcb;
	uint64_t hsave_gpa;
	uint64_t iopm_gpa;
	uint64_t msrpm_gpa;

	gva_t l2_stack_top;
	struct l2_regs l2;		/* rsp and rip live in the VMCS/VMCB */
	uint64_t launched;
	uint64_t nr_exits;

	/* The last exit, raw: VMX exit reason or SVM exit code. */
	uint64_t exit_reason;
	uint64_t exit_qual;		/* VMX qualification / SVM EXITINFO1 */
	uint64_t exit_info2;		/* VMX guest-physical address / SVM EXITINFO2 */
};

/* Host side. */
enum nested_vendor kvm_nested_vendor(void);
const char *nested_vendor_name(enum nested_vendor vendor);

/*
 * Documented skips: nested virtualization with EPT/NPT on this host
 * (VMX/SVM in KVM's supported CPUID, the vendor module's nested and
 * ept/npt parameters, the TDP MMU for L1), and, with need_1g, 1G pages in
 * both L1's EPT/NPT and the host's.
 */
void nested_require(bool need_1g);
/* Can L1's EPT/NPT and the host map 1G pages?  For per-variant skips. */
bool nested_has_1g(void);

/*
 * A VM ready for nesting on this host's vendor: TDP tables of its format
 * with root 0, and the vendor recorded in the VM's guest image for L2.
 */
struct kvm_vm *nested_vm_create(void);
/*
 * VMX: L1 enables accessed/dirty bits in its EPT pointer (as upstream's
 * selftests do when KVM offers them), which decides whether KVM's shadow
 * of that EPT uses hardware A/D bits (role.ad_disabled).  Call before the
 * vCPUs first run; false (and nothing changed) on SVM or without the cap.
 */
bool nested_vm_use_ept_ad(struct kvm_vm *vm);

/*
 * Give a vCPU its L1 state and an L2 stack, with L2 on the given TDP root.
 * Returns the guest address of its nested_state, for the L1 code's args.
 */
gva_t nested_vcpu_setup(struct kvm_vcpu *vcpu, unsigned int tdp_root);

/* Guest side (L1). */
void nested_l1_init(struct nested_state *s);
/* Point L2 at fn(args...) on its own stack; at most 6 arguments. */
void nested_l2_start(struct nested_state *s, void *fn, int nargs, ...);

#define NESTED_EXIT_CALL	1
#define NESTED_EXIT_OTHER	2
/*
 * Enter (or resume) L2 until it exits.  For an l2_call() exit, returns
 * NESTED_EXIT_CALL with L2's RIP moved past the call and the argument in
 * s->l2.rdi; anything else returns NESTED_EXIT_OTHER with the raw exit in
 * s->exit_reason/exit_qual/exit_info2.
 */
int nested_run_l2(struct nested_state *s);
/*
 * Run L2 until it makes a call; an exit of any other kind is a guest
 * assertion failure naming it.  Returns the call's argument.
 */
uint64_t nested_run_l2_call(struct nested_state *s);

/* Guest side (L2): exit to L1 with an argument. */
void l2_call(uint64_t arg);

#endif /* SELFTEST_X86_NESTED_H */
