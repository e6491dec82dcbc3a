/* SPDX-License-Identifier: GPL-2.0 */
/* Vendor halves of the nested interface; only nested.c calls these. */
#ifndef SELFTEST_X86_NESTED_INTERNAL_H
#define SELFTEST_X86_NESTED_INTERNAL_H

#include "x86_64/nested.h"

/* nested_entry.S: returns 0 after an exit from L2, 1 if the entry failed. */
int vmx_enter(struct l2_regs *regs, uint64_t launched);
int svm_enter(struct l2_regs *regs, uint64_t vmcb_gpa);
void vmx_exit_trampoline(void);

/* Set in a VM's image by nested_vm_use_ept_ad(): L1 turns on EPT A/D bits. */
extern uint32_t nested_guest_ept_ad;

void vmx_l1_init(struct nested_state *s);
void vmx_l2_set_entry(struct nested_state *s, uint64_t rip, uint64_t rsp);
int vmx_run_l2(struct nested_state *s);

void svm_l1_init(struct nested_state *s);
void svm_l2_set_entry(struct nested_state *s, uint64_t rip, uint64_t rsp);
int svm_run_l2(struct nested_state *s);

#endif /* SELFTEST_X86_NESTED_INTERNAL_H */
