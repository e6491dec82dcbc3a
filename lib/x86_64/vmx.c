// SPDX-License-Identifier: GPL-2.0
/* The VMX half of the nested interface: VMXON, one VMCS per vCPU, EPT. */
#include "nested_internal.h"
#include "ucall.h"
#include "x86_64/processor.h"
#include "x86_64/vmx.h"

static inline bool vmxon(uint64_t pa)
{
	uint8_t fail;

	__asm__ volatile("vmxon %[pa]; setna %[fail]"
			 : [fail] "=rm"(fail) : [pa] "m"(pa) : "cc", "memory");
	return !fail;
}

static inline bool vmclear(uint64_t pa)
{
	uint8_t fail;

	__asm__ volatile("vmclear %[pa]; setna %[fail]"
			 : [fail] "=rm"(fail) : [pa] "m"(pa) : "cc", "memory");
	return !fail;
}

static inline bool vmptrld(uint64_t pa)
{
	uint8_t fail;

	__asm__ volatile("vmptrld %[pa]; setna %[fail]"
			 : [fail] "=rm"(fail) : [pa] "m"(pa) : "cc", "memory");
	return !fail;
}

static inline uint64_t vmread(uint64_t field)
{
	uint64_t val;

	__asm__ volatile("vmread %[field], %[val]"
			 : [val] "=r"(val) : [field] "r"(field) : "cc", "memory");
	return val;
}

static void vmwrite(uint64_t field, uint64_t val)
{
	uint8_t fail;

	__asm__ volatile("vmwrite %[val], %[field]; setna %[fail]"
			 : [fail] "=rm"(fail) : [val] "r"(val), [field] "r"(field)
			 : "cc", "memory");
	GUEST_ASSERT_MSG(!fail, "VMWRITE of field 0x%lx failed, VM-instruction error %lu",
			 field, vmread(VM_INSTRUCTION_ERROR));
}

/*
 * A control value with what we want, adjusted by what the CPU allows: bits
 * 31:0 of the capability MSR must be 1, bits 63:32 may be 1.
 */
static uint32_t vmx_ctl(uint32_t msr, uint32_t want, uint32_t must_not)
{
	uint64_t cap = rdmsr(msr);
	uint32_t ctl = (want | (uint32_t)cap) & (uint32_t)(cap >> 32);

	GUEST_ASSERT_MSG((ctl & want) == want, "VMX control MSR 0x%x lacks bits 0x%x",
			 msr, want & ~ctl);
	GUEST_ASSERT_MSG(!(ctl & must_not), "VMX control MSR 0x%x forces bits 0x%x",
			 msr, ctl & must_not);
	return ctl;
}

static void vmx_setup_controls(struct nested_state *s)
{
	vmwrite(PIN_BASED_VM_EXEC_CONTROL, vmx_ctl(MSR_IA32_VMX_TRUE_PINBASED_CTLS, 0, 0));
	/* No I/O exiting: L2's ucalls must go straight to L0 and the host. */
	vmwrite(CPU_BASED_VM_EXEC_CONTROL,
		vmx_ctl(MSR_IA32_VMX_TRUE_PROCBASED_CTLS,
			CPU_BASED_USE_MSR_BITMAPS | CPU_BASED_ACTIVATE_SECONDARY,
			CPU_BASED_UNCOND_IO_EXITING | CPU_BASED_USE_IO_BITMAPS));
	vmwrite(SECONDARY_VM_EXEC_CONTROL,
		vmx_ctl(MSR_IA32_VMX_PROCBASED_CTLS2, SECONDARY_EXEC_ENABLE_EPT, 0));
	vmwrite(VM_EXIT_CONTROLS,
		vmx_ctl(MSR_IA32_VMX_TRUE_EXIT_CTLS,
			VM_EXIT_HOST_ADDR_SPACE_SIZE | VM_EXIT_LOAD_IA32_EFER, 0));
	vmwrite(VM_ENTRY_CONTROLS,
		vmx_ctl(MSR_IA32_VMX_TRUE_ENTRY_CTLS,
			VM_ENTRY_IA32E_MODE | VM_ENTRY_LOAD_IA32_EFER, 0));
	vmwrite(EXCEPTION_BITMAP, 0);
	vmwrite(MSR_BITMAP, s->msr_bitmap_gpa);
	vmwrite(EPT_POINTER, s->tdp_root | EPTP_MT_WB | EPTP_WALK_4 |
		(nested_guest_ept_ad ? EPTP_AD : 0));
}

/* L1 and L2 share CR3, GDT, IDT and TSS: L2 state mirrors L1's. */
static void vmx_setup_state(void)
{
	struct desc_ptr gdt, idt;
	uint64_t tss = guest_tss_base();
	static const uint32_t data_sel[] = {
		GUEST_ES_SELECTOR, GUEST_SS_SELECTOR, GUEST_DS_SELECTOR,
		GUEST_FS_SELECTOR, GUEST_GS_SELECTOR,
	};
	unsigned int i;

	get_gdt(&gdt);
	get_idt(&idt);

	vmwrite(HOST_CR0, get_cr0());
	vmwrite(HOST_CR3, get_cr3());
	vmwrite(HOST_CR4, get_cr4());
	vmwrite(HOST_IA32_EFER, rdmsr(MSR_EFER));
	vmwrite(HOST_CS_SELECTOR, GDT_CODE_SEL);
	vmwrite(HOST_SS_SELECTOR, GDT_DATA_SEL);
	vmwrite(HOST_DS_SELECTOR, GDT_DATA_SEL);
	vmwrite(HOST_ES_SELECTOR, GDT_DATA_SEL);
	vmwrite(HOST_FS_SELECTOR, GDT_DATA_SEL);
	vmwrite(HOST_GS_SELECTOR, GDT_DATA_SEL);
	vmwrite(HOST_TR_SELECTOR, GDT_TSS_SEL);
	vmwrite(HOST_FS_BASE, 0);
	vmwrite(HOST_GS_BASE, 0);
	vmwrite(HOST_TR_BASE, tss);
	vmwrite(HOST_GDTR_BASE, gdt.base);
	vmwrite(HOST_IDTR_BASE, idt.base);
	vmwrite(HOST_IA32_SYSENTER_CS, 0);
	vmwrite(HOST_IA32_SYSENTER_ESP, 0);
	vmwrite(HOST_IA32_SYSENTER_EIP, 0);
	vmwrite(HOST_RIP, (uint64_t)vmx_exit_trampoline);

	vmwrite(GUEST_CR0, get_cr0());
	vmwrite(GUEST_CR3, get_cr3());
	vmwrite(GUEST_CR4, get_cr4());
	vmwrite(GUEST_IA32_EFER, rdmsr(MSR_EFER));
	vmwrite(GUEST_CS_SELECTOR, GDT_CODE_SEL);
	vmwrite(GUEST_CS_BASE, 0);
	vmwrite(GUEST_CS_LIMIT, 0xffffffff);
	vmwrite(GUEST_CS_AR_BYTES, 0xa09b);	/* code, P, S, L, G */
	for (i = 0; i < ARRAY_SIZE(data_sel); i++) {
		uint32_t sel = data_sel[i], idx = (sel - GUEST_ES_SELECTOR) / 2;

		vmwrite(sel, GDT_DATA_SEL);
		vmwrite(GUEST_ES_BASE + 2 * idx, 0);
		vmwrite(GUEST_ES_LIMIT + 2 * idx, 0xffffffff);
		vmwrite(GUEST_ES_AR_BYTES + 2 * idx, 0xc093);	/* data, P, S, D/B, G */
	}
	vmwrite(GUEST_LDTR_SELECTOR, 0);
	vmwrite(GUEST_LDTR_BASE, 0);
	vmwrite(GUEST_LDTR_LIMIT, 0);
	vmwrite(GUEST_LDTR_AR_BYTES, 1U << 16);		/* unusable */
	vmwrite(GUEST_TR_SELECTOR, GDT_TSS_SEL);
	vmwrite(GUEST_TR_BASE, tss);
	vmwrite(GUEST_TR_LIMIT, 0x67);
	vmwrite(GUEST_TR_AR_BYTES, 0x8b);		/* busy 64-bit TSS, P */
	vmwrite(GUEST_GDTR_BASE, gdt.base);
	vmwrite(GUEST_GDTR_LIMIT, gdt.limit);
	vmwrite(GUEST_IDTR_BASE, idt.base);
	vmwrite(GUEST_IDTR_LIMIT, idt.limit);
	vmwrite(GUEST_DR7, 0x400);
	vmwrite(GUEST_RFLAGS, 0x2);
	vmwrite(GUEST_IA32_DEBUGCTL, 0);
	vmwrite(GUEST_SYSENTER_CS, 0);
	vmwrite(GUEST_SYSENTER_ESP, 0);
	vmwrite(GUEST_SYSENTER_EIP, 0);
	vmwrite(GUEST_INTERRUPTIBILITY_INFO, 0);
	vmwrite(GUEST_ACTIVITY_STATE, 0);
	vmwrite(VMCS_LINK_POINTER, ~0ULL);
}

void vmx_l1_init(struct nested_state *s)
{
	uint64_t feat = rdmsr(MSR_IA32_FEAT_CTL);
	uint64_t basic = rdmsr(MSR_IA32_VMX_BASIC);
	uint32_t rev = (uint32_t)basic & 0x7fffffff;

	if (!(feat & FEAT_CTL_LOCKED))
		wrmsr(MSR_IA32_FEAT_CTL,
		      feat | FEAT_CTL_LOCKED | FEAT_CTL_VMX_OUTSIDE_SMX);
	else
		GUEST_ASSERT_MSG(feat & FEAT_CTL_VMX_OUTSIDE_SMX,
				 "IA32_FEATURE_CONTROL locked with VMX off");
	GUEST_ASSERT_MSG(basic & (1ULL << 55), "no VMX TRUE control MSRs");

	set_cr0((get_cr0() | rdmsr(MSR_IA32_VMX_CR0_FIXED0)) &
		rdmsr(MSR_IA32_VMX_CR0_FIXED1));
	set_cr4(((get_cr4() | X86_CR4_VMXE) | rdmsr(MSR_IA32_VMX_CR4_FIXED0)) &
		rdmsr(MSR_IA32_VMX_CR4_FIXED1));

	*(volatile uint32_t *)direct_gva(s->vmxon_gpa) = rev;
	*(volatile uint32_t *)direct_gva(s->vmcs_gpa) = rev;
	GUEST_ASSERT_MSG(vmxon(s->vmxon_gpa), "VMXON failed");
	GUEST_ASSERT_MSG(vmclear(s->vmcs_gpa), "VMCLEAR failed");
	GUEST_ASSERT_MSG(vmptrld(s->vmcs_gpa), "VMPTRLD failed");
	vmx_setup_controls(s);
	vmx_setup_state();
}

void vmx_l2_set_entry(struct nested_state *s, uint64_t rip, uint64_t rsp)
{
	vmwrite(GUEST_RIP, rip);
	vmwrite(GUEST_RSP, rsp);
	vmwrite(GUEST_RFLAGS, 0x2);
}

int vmx_run_l2(struct nested_state *s)
{
	uint64_t reason;

	if (vmx_enter(&s->l2, s->launched))
		GUEST_FAIL("VM%s failed, VM-instruction error %lu",
			   s->launched ? "RESUME" : "LAUNCH",
			   vmread(VM_INSTRUCTION_ERROR));
	s->launched = 1;
	s->nr_exits++;

	reason = vmread(VM_EXIT_REASON);
	s->exit_reason = reason;
	s->exit_qual = vmread(EXIT_QUALIFICATION);
	s->exit_info2 = vmread(GUEST_PHYSICAL_ADDRESS);
	if (reason & EXIT_REASON_FAILED_ENTRY)
		GUEST_FAIL("VM entry into L2 failed: exit reason 0x%lx, qualification 0x%lx",
			   reason, s->exit_qual);
	if ((reason & 0xffff) == EXIT_REASON_VMCALL) {
		vmwrite(GUEST_RIP, vmread(GUEST_RIP) + vmread(VM_EXIT_INSTRUCTION_LEN));
		return NESTED_EXIT_CALL;
	}
	return NESTED_EXIT_OTHER;
}
