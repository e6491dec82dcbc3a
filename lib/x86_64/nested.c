// SPDX-License-Identifier: GPL-2.0
/*
 * Nested virtualization behind one interface: requirement checks and L1
 * state allocation on the host, and the only vendor dispatch on the guest
 * side.
 */
#include <sys/ioctl.h>
#include <unistd.h>

#include "knobs.h"
#include "nested_internal.h"
#include "ucall.h"
#include "x86_64/kvm_caps.h"
#include "x86_64/processor.h"
#include "x86_64/svm.h"
#include "x86_64/vmx.h"

#define L2_STACK_PAGES	8

/*
 * Read by L2's l2_call(), which has no nested_state at hand: the guest's
 * copy in each VM's image is set by nested_vm_create() for that VM; the
 * host's own copy is never used.
 */
static uint32_t nested_guest_vendor;
/* Likewise, per VM: 0 unless nested_vm_use_ept_ad() set it. */
uint32_t nested_guest_ept_ad;

enum nested_vendor kvm_nested_vendor(void)
{
	if (kvm_cpu_has(X86_FEATURE_VMX))
		return NESTED_VMX;
	if (kvm_cpu_has(X86_FEATURE_SVM))
		return NESTED_SVM;
	return 0;
}

const char *nested_vendor_name(enum nested_vendor vendor)
{
	return vendor == NESTED_VMX ? "vmx" : vendor == NESTED_SVM ? "svm" : "none";
}

/* A VMX capability MSR as KVM will show it to L1 (a feature MSR). */
static uint64_t kvm_feature_msr(uint32_t index)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entry;
	} msrs = { .hdr.nmsrs = 1, .entry.index = index };
	int fd = kvm_open(), r;

	r = ioctl(fd, KVM_GET_MSRS, &msrs);
	close(fd);
	return r == 1 ? msrs.entry.data : 0;
}

static bool l1_tdp_has_1g(enum nested_vendor vendor)
{
	if (vendor == NESTED_VMX)
		return kvm_feature_msr(MSR_IA32_VMX_EPT_VPID_CAP) & VMX_EPT_CAP_1G;
	return kvm_cpu_has(X86_FEATURE_GBPAGES);
}

bool nested_has_1g(void)
{
	return l1_tdp_has_1g(kvm_nested_vendor()) && kvm_tdp_has_1g_pages();
}

void nested_require(bool need_1g)
{
	const char *module = kvm_vendor_module();
	enum nested_vendor vendor;

	kvm_require();
	vendor = kvm_nested_vendor();
	TEST_REQUIRE(module, "neither kvm_intel nor kvm_amd is loaded");
	TEST_REQUIRE(kvm_param_bool(module, "nested") == 1,
		     "%s.nested is off (load %s with nested=1)", module, module);
	TEST_REQUIRE(vendor, "KVM offers neither VMX nor SVM to guests "
		     "(no nested virtualization on this host)");
	kvm_require_tdp_mmu();
	if (vendor == NESTED_VMX) {
		uint64_t ctl2 = kvm_feature_msr(MSR_IA32_VMX_PROCBASED_CTLS2);
		uint64_t ept = kvm_feature_msr(MSR_IA32_VMX_EPT_VPID_CAP);

		TEST_REQUIRE((ctl2 >> 32) & SECONDARY_EXEC_ENABLE_EPT,
			     "KVM offers no EPT to L1 (kvm_intel.ept=1 needs host EPT)");
		TEST_REQUIRE((ept & VMX_EPT_CAP_WB) && (ept & VMX_EPT_CAP_WALK_4),
			     "L1's EPT lacks write-back memory or 4-level walks");
	} else {
		TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_NPT),
			     "KVM offers no NPT to L1 (kvm_amd.npt=1 needs host NPT)");
	}
	if (need_1g)
		TEST_REQUIRE(nested_has_1g(),
			     "no 1G pages in %s (L1: %s, host: %s)",
			     vendor == NESTED_VMX ? "EPT" : "NPT",
			     l1_tdp_has_1g(vendor) ? "yes" : "no",
			     kvm_tdp_has_1g_pages() ? "yes" : "no");
}

struct kvm_vm *nested_vm_create(void)
{
	enum nested_vendor vendor = kvm_nested_vendor();
	struct kvm_vm *vm;

	TEST_ASSERT(vendor, "nested_vm_create() without VMX or SVM; call nested_require() first");
	vm = vm_create();
	*(uint32_t *)addr_gva2hva(vm, (gva_t)&nested_guest_vendor) = vendor;
	vm_tdp_init(vm, vendor == NESTED_VMX ? TDP_EPT : TDP_NPT);
	return vm;
}

bool nested_vm_use_ept_ad(struct kvm_vm *vm)
{
	if (kvm_nested_vendor() != NESTED_VMX ||
	    !(kvm_feature_msr(MSR_IA32_VMX_EPT_VPID_CAP) & VMX_EPT_CAP_AD))
		return false;
	*(uint32_t *)addr_gva2hva(vm, (gva_t)&nested_guest_ept_ad) = 1;
	return true;
}

gva_t nested_vcpu_setup(struct kvm_vcpu *vcpu, unsigned int tdp_root)
{
	struct kvm_vm *vm = vcpu->vm;
	gpa_t state_gpa = vm_alloc_pages(vm, 1);
	struct nested_state *s = addr_gpa2hva(vm, state_gpa);
	gpa_t stack;

	_Static_assert(sizeof(*s) <= SZ_4K, "nested_state fits a page");
	s->vendor = kvm_nested_vendor();
	s->vcpu_id = vcpu->id;
	s->tdp_root = tdp_root_gpa(vm, tdp_root);
	if (s->vendor == NESTED_VMX) {
		s->vmxon_gpa = vm_alloc_pages(vm, 1);
		s->vmcs_gpa = vm_alloc_pages(vm, 1);
		s->msr_bitmap_gpa = vm_alloc_pages(vm, 1);
	} else {
		s->vmcb_gpa = vm_alloc_pages(vm, 1);
		s->vmcb = direct_gva(s->vmcb_gpa);
		s->hsave_gpa = vm_alloc_pages(vm, 1);
		s->iopm_gpa = vm_alloc_pages(vm, SVM_IOPM_PAGES);
		s->msrpm_gpa = vm_alloc_pages(vm, SVM_MSRPM_PAGES);
	}
	stack = vm_alloc_pages(vm, L2_STACK_PAGES);
	s->l2_stack_top = direct_gva(stack + L2_STACK_PAGES * SZ_4K);
	return direct_gva(state_gpa);
}

/* Guest side: the one place that looks at the vendor. */

void nested_l1_init(struct nested_state *s)
{
	if (s->vendor == NESTED_VMX)
		vmx_l1_init(s);
	else
		svm_l1_init(s);
}

void nested_l2_start(struct nested_state *s, void *fn, int nargs, ...)
{
	uint64_t *argv[] = { &s->l2.rdi, &s->l2.rsi, &s->l2.rdx,
			     &s->l2.rcx, &s->l2.r8, &s->l2.r9 };
	/* As after a call: RSP + 8 is 16-byte aligned at function entry. */
	uint64_t rsp = s->l2_stack_top - 8;
	va_list ap;
	int i;

	GUEST_ASSERT(nargs >= 0 && nargs <= (int)ARRAY_SIZE(argv));
	s->l2 = (struct l2_regs){ 0 };
	va_start(ap, nargs);
	for (i = 0; i < nargs; i++)
		*argv[i] = va_arg(ap, uint64_t);
	va_end(ap);
	if (s->vendor == NESTED_VMX)
		vmx_l2_set_entry(s, (uint64_t)fn, rsp);
	else
		svm_l2_set_entry(s, (uint64_t)fn, rsp);
}

int nested_run_l2(struct nested_state *s)
{
	return s->vendor == NESTED_VMX ? vmx_run_l2(s) : svm_run_l2(s);
}

uint64_t nested_run_l2_call(struct nested_state *s)
{
	if (nested_run_l2(s) != NESTED_EXIT_CALL)
		GUEST_FAIL("L2 exited to L1 with %s exit 0x%lx (qualification/info1 0x%lx, "
			   "GPA/info2 0x%lx) instead of a call",
			   nested_vendor_name(s->vendor), s->exit_reason,
			   s->exit_qual, s->exit_info2);
	return s->l2.rdi;
}

void l2_call(uint64_t arg)
{
	if (nested_guest_vendor == NESTED_VMX)
		__asm__ volatile("vmcall" :: "D"(arg) : "memory");
	else
		__asm__ volatile("vmmcall" :: "D"(arg) : "memory");
}
