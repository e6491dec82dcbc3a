// SPDX-License-Identifier: GPL-2.0
/* The SVM half of the nested interface: one VMCB per vCPU, NPT. */
#include "nested_internal.h"
#include "ucall.h"
#include "x86_64/processor.h"
#include "x86_64/svm.h"

#define MSR_IA32_CR_PAT		0x277
#define VMMCALL_LEN		3	/* 0f 01 d9 */

/* VMCB attribute format: type, S, DPL, P, AVL, L, D/B, G in 12 bits. */
#define SVM_ATTR_CODE64		0xa9b
#define SVM_ATTR_DATA		0xc93
#define SVM_ATTR_TSS64		0x08b

static void vmcb_seg(struct vmcb_seg *seg, uint16_t sel, uint16_t attrib,
		     uint32_t limit, uint64_t base)
{
	seg->selector = sel;
	seg->attrib = attrib;
	seg->limit = limit;
	seg->base = base;
}

void svm_l1_init(struct nested_state *s)
{
	struct vmcb *vmcb = (struct vmcb *)s->vmcb;
	struct vmcb_control *c = &vmcb->control;
	struct vmcb_save *v = &vmcb->save;
	struct desc_ptr gdt, idt;

	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
	wrmsr(MSR_VM_HSAVE_PA, s->hsave_gpa);

	/* VMRUN must be intercepted; L2's I/O and MSRs are not. */
	c->intercept_misc2 = SVM_INTERCEPT_VMRUN | SVM_INTERCEPT_VMMCALL;
	c->iopm_base_pa = s->iopm_gpa;
	c->msrpm_base_pa = s->msrpm_gpa;
	c->asid = 1;
	c->nested_ctl = SVM_NESTED_CTL_NP;
	c->nested_cr3 = s->tdp_root;

	/* L1 and L2 share CR3, GDT, IDT and TSS: L2 state mirrors L1's. */
	get_gdt(&gdt);
	get_idt(&idt);
	vmcb_seg(&v->cs, GDT_CODE_SEL, SVM_ATTR_CODE64, 0xffffffff, 0);
	vmcb_seg(&v->ds, GDT_DATA_SEL, SVM_ATTR_DATA, 0xffffffff, 0);
	vmcb_seg(&v->es, GDT_DATA_SEL, SVM_ATTR_DATA, 0xffffffff, 0);
	vmcb_seg(&v->ss, GDT_DATA_SEL, SVM_ATTR_DATA, 0xffffffff, 0);
	vmcb_seg(&v->fs, GDT_DATA_SEL, SVM_ATTR_DATA, 0xffffffff, 0);
	vmcb_seg(&v->gs, GDT_DATA_SEL, SVM_ATTR_DATA, 0xffffffff, 0);
	vmcb_seg(&v->tr, GDT_TSS_SEL, SVM_ATTR_TSS64, 0x67, guest_tss_base());
	vmcb_seg(&v->ldtr, 0, 0, 0, 0);
	vmcb_seg(&v->gdtr, 0, 0, gdt.limit, gdt.base);
	vmcb_seg(&v->idtr, 0, 0, idt.limit, idt.base);
	v->cpl = 0;
	v->efer = rdmsr(MSR_EFER);
	v->cr0 = get_cr0();
	v->cr3 = get_cr3();
	v->cr4 = get_cr4();
	v->dr6 = 0xffff0ff0;
	v->dr7 = 0x400;
	v->rflags = 0x2;
	v->g_pat = rdmsr(MSR_IA32_CR_PAT);
}

void svm_l2_set_entry(struct nested_state *s, uint64_t rip, uint64_t rsp)
{
	struct vmcb *vmcb = (struct vmcb *)s->vmcb;

	vmcb->save.rip = rip;
	vmcb->save.rsp = rsp;
	vmcb->save.rflags = 0x2;
}

int svm_run_l2(struct nested_state *s)
{
	struct vmcb *vmcb = (struct vmcb *)s->vmcb;

	vmcb->save.rax = s->l2.rax;
	svm_enter(&s->l2, s->vmcb_gpa);
	s->l2.rax = vmcb->save.rax;
	s->nr_exits++;

	s->exit_reason = vmcb->control.exit_code;
	s->exit_qual = vmcb->control.exit_info1;
	s->exit_info2 = vmcb->control.exit_info2;
	if (s->exit_reason == SVM_EXIT_INVALID)
		GUEST_FAIL("VMRUN failed: L1's VMCB was rejected (VMEXIT_INVALID)");
	if (s->exit_reason == SVM_EXIT_VMMCALL) {
		/*
		 * next_rip is only written with NRIPS; QEMU's SVM model has
		 * none and leaves it 0, so step over VMMCALL by hand then.
		 */
		if (vmcb->control.next_rip)
			vmcb->save.rip = vmcb->control.next_rip;
		else
			vmcb->save.rip += VMMCALL_LEN;
		return NESTED_EXIT_CALL;
	}
	return NESTED_EXIT_OTHER;
}
