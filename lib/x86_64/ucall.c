// SPDX-License-Identifier: GPL-2.0
/* x86 ucall transport: an OUT to a port L1 never intercepts, RDI = &ucall. */
#include "kvm_util.h"
#include "ucall.h"

#define UCALL_PIO_PORT	0xe0

void arch_ucall_trigger(struct ucall *uc)
{
	__asm__ volatile("outb %%al, %%dx"
			 :: "a"(0), "d"(UCALL_PIO_PORT), "D"(uc) : "memory");
}

uint64_t arch_ucall_gva(struct kvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct kvm_regs regs;

	if (run->exit_reason != KVM_EXIT_IO || run->io.port != UCALL_PIO_PORT ||
	    run->io.direction != KVM_EXIT_IO_OUT)
		return 0;
	vcpu_regs_get(vcpu, &regs);
	return regs.rdi;
}
