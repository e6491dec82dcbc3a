/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Entering L2 from L1 and coming back: L2's general purpose registers are
 * loaded from and saved to a struct l2_regs around VMLAUNCH/VMRESUME and
 * VMRUN, so L2 can be stopped and resumed anywhere.
 */

/* Offsets in struct l2_regs. */
#define R_RAX	0
#define R_RCX	8
#define R_RDX	16
#define R_RBX	24
#define R_RBP	32
#define R_RSI	40
#define R_RDI	48
#define R_R8	56
#define R_R9	64
#define R_R10	72
#define R_R11	80
#define R_R12	88
#define R_R13	96
#define R_R14	104
#define R_R15	112

#define VMCS_HOST_RSP	0x6c14

.macro SAVE_L1
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
.endm

.macro RESTORE_L1
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
.endm

/* Load L2's registers except rax and rdi, from the struct at %rdi. */
.macro LOAD_L2_MOST
	movq R_RCX(%rdi), %rcx
	movq R_RDX(%rdi), %rdx
	movq R_RBX(%rdi), %rbx
	movq R_RBP(%rdi), %rbp
	movq R_RSI(%rdi), %rsi
	movq R_R8(%rdi), %r8
	movq R_R9(%rdi), %r9
	movq R_R10(%rdi), %r10
	movq R_R11(%rdi), %r11
	movq R_R12(%rdi), %r12
	movq R_R13(%rdi), %r13
	movq R_R14(%rdi), %r14
	movq R_R15(%rdi), %r15
.endm

/*
 * After an exit: L2's rdi is on top of the stack, the struct pointer just
 * below it.  Save everything but rax (the caller decides about rax).
 */
.macro SAVE_L2_MOST
	movq 8(%rsp), %rdi
	movq %rcx, R_RCX(%rdi)
	movq %rdx, R_RDX(%rdi)
	movq %rbx, R_RBX(%rdi)
	movq %rbp, R_RBP(%rdi)
	movq %rsi, R_RSI(%rdi)
	movq %r8, R_R8(%rdi)
	movq %r9, R_R9(%rdi)
	movq %r10, R_R10(%rdi)
	movq %r11, R_R11(%rdi)
	movq %r12, R_R12(%rdi)
	movq %r13, R_R13(%rdi)
	movq %r14, R_R14(%rdi)
	movq %r15, R_R15(%rdi)
.endm

	.text

/* int vmx_enter(struct l2_regs *regs, uint64_t launched) */
	.globl vmx_enter
vmx_enter:
	SAVE_L1
	pushq %rdi
	/* The exit comes back to vmx_exit_trampoline on this very stack. */
	movq $VMCS_HOST_RSP, %rax
	vmwrite %rsp, %rax
	/* Movs below leave the flags alone: pick launch or resume now. */
	cmpq $0, %rsi
	movq R_RAX(%rdi), %rax
	LOAD_L2_MOST
	movq R_RDI(%rdi), %rdi
	jne 1f
	vmlaunch
	jmp 2f
1:	vmresume
2:	/* VMfail: still in L1 with L2's registers loaded. */
	popq %rdi
	movl $1, %eax
	jmp 3f

	.globl vmx_exit_trampoline
vmx_exit_trampoline:
	pushq %rdi
	SAVE_L2_MOST
	movq %rax, R_RAX(%rdi)
	popq %rax
	movq %rax, R_RDI(%rdi)
	popq %rdi
	xorl %eax, %eax
3:	RESTORE_L1
	ret

/* int svm_enter(struct l2_regs *regs, uint64_t vmcb_gpa); rax lives in the VMCB. */
	.globl svm_enter
svm_enter:
	SAVE_L1
	pushq %rdi
	movq %rsi, %rax
	LOAD_L2_MOST
	movq R_RDI(%rdi), %rdi
	vmrun %rax
	/* #VMEXIT restored L1's rax, rsp and rip; the rest is L2's. */
	pushq %rdi
	SAVE_L2_MOST
	popq %rax
	movq %rax, R_RDI(%rdi)
	popq %rdi
	xorl %eax, %eax
	RESTORE_L1
	ret

	.section .note.GNU-stack, "", @progbits
