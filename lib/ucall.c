// SPDX-License-Identifier: GPL-2.0
/* Host side of ucalls: decode the vCPU exit, fetch the guest's message. */
#include "kvm_util.h"
#include "ucall.h"

static void report_bad_exit(struct kvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
		TEST_FAIL("vCPU %u: KVM_RUN exited with KVM_EXIT_INTERNAL_ERROR "
			  "(suberror %u, %u data words: 0x%llx 0x%llx): KVM could not run "
			  "the guest",
			  vcpu->id, run->internal.suberror, run->internal.ndata,
			  run->internal.ndata > 0 ? run->internal.data[0] : 0ULL,
			  run->internal.ndata > 1 ? run->internal.data[1] : 0ULL);
	if (run->exit_reason == KVM_EXIT_FAIL_ENTRY)
		TEST_FAIL("vCPU %u: VM entry failed, hardware reason 0x%llx",
			  vcpu->id, run->fail_entry.hardware_entry_failure_reason);
	if (run->exit_reason == KVM_EXIT_IO)
		TEST_FAIL("vCPU %u: unexpected port I/O, port 0x%x %s",
			  vcpu->id, run->io.port,
			  run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in");
	if (run->exit_reason == KVM_EXIT_MMIO)
		TEST_FAIL("vCPU %u: unexpected MMIO at GPA 0x%llx (unmapped guest memory?)",
			  vcpu->id, run->mmio.phys_addr);
	TEST_FAIL("vCPU %u: unexpected exit %u (%s)", vcpu->id, run->exit_reason,
		  exit_reason_str(run->exit_reason));
}

uint64_t get_ucall(struct kvm_vcpu *vcpu, struct ucall *uc)
{
	gva_t gva = arch_ucall_gva(vcpu);

	if (!gva)
		report_bad_exit(vcpu);
	vm_copy_from_guest(vcpu->vm, uc, gva, sizeof(*uc));
	uc->buf[UCALL_BUF_LEN - 1] = '\0';
	return uc->cmd;
}

uint64_t vcpu_run_ucall(struct kvm_vcpu *vcpu, struct ucall *uc)
{
	uint64_t cmd;

	vcpu_run(vcpu);
	cmd = get_ucall(vcpu, uc);
	if (cmd == UCALL_ABORT)
		REPORT_GUEST_ASSERT(*uc);
	return cmd;
}
