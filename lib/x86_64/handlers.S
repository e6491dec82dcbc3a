/* SPDX-License-Identifier: GPL-2.0 */
/* Exception entry stubs for L1 and L2: save registers, report, stop. */

.macro EX_STUB vec, has_error_code
	.balign 16
	.if \has_error_code == 0
	pushq $0
	.endif
	pushq $\vec
	jmp ex_common
.endm

	.text
	.balign 16
	.globl ex_stubs_start
ex_stubs_start:
	EX_STUB 0, 0
	EX_STUB 1, 0
	EX_STUB 2, 0
	EX_STUB 3, 0
	EX_STUB 4, 0
	EX_STUB 5, 0
	EX_STUB 6, 0
	EX_STUB 7, 0
	EX_STUB 8, 1
	EX_STUB 9, 0
	EX_STUB 10, 1
	EX_STUB 11, 1
	EX_STUB 12, 1
	EX_STUB 13, 1
	EX_STUB 14, 1
	EX_STUB 15, 0
	EX_STUB 16, 0
	EX_STUB 17, 1
	EX_STUB 18, 0
	EX_STUB 19, 0
	EX_STUB 20, 0
	EX_STUB 21, 1
	EX_STUB 22, 0
	EX_STUB 23, 0
	EX_STUB 24, 0
	EX_STUB 25, 0
	EX_STUB 26, 0
	EX_STUB 27, 0
	EX_STUB 28, 0
	EX_STUB 29, 1
	EX_STUB 30, 1
	EX_STUB 31, 0

ex_common:
	/* Build struct ex_regs: rax ends up at the lowest address. */
	pushq %r15
	pushq %r14
	pushq %r13
	pushq %r12
	pushq %r11
	pushq %r10
	pushq %r9
	pushq %r8
	pushq %rdi
	pushq %rsi
	pushq %rbp
	pushq %rbx
	pushq %rdx
	pushq %rcx
	pushq %rax
	movq %rsp, %rdi
	andq $-16, %rsp
	call guest_exception
	/* The host stops the vCPU at the ucall; never come back. */
1:	ud2
	jmp 1b

	.section .note.GNU-stack, "", @progbits
