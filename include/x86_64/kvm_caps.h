/* SPDX-License-Identifier: GPL-2.0 */
/* What the host's KVM can do for these tests: TDP, the TDP MMU, 1G TDP pages. */
#ifndef SELFTEST_X86_KVM_CAPS_H
#define SELFTEST_X86_KVM_CAPS_H

#include <stdbool.h>

/* "ept" for kvm_intel, "npt" for kvm_amd, NULL without a vendor module. */
const char *kvm_tdp_param(void);
/* EPT/NPT in use for L1 (the vendor module's ept/npt parameter is Y). */
bool kvm_tdp_enabled(void);
/* kvm.tdp_mmu=Y: L1's memory is mapped by the TDP MMU. */
bool kvm_tdp_mmu_enabled(void);
/* The host CPU can map 1G pages in EPT/NPT (ept_1gb / pdpe1gb). */
bool kvm_tdp_has_1g_pages(void);

/*
 * Documented skips: TDP with the TDP MMU, which every test of huge-page
 * mappings needs; the reason names the parameter to set.
 */
void kvm_require_tdp_mmu(void);

/*
 * Documented skip: give module parameter MOD.NAME the value val through the
 * knob journal (restored on exit), for tests whose expectations assume it.
 * If it cannot be written, the test runs only if the parameter already
 * reads as want (Y/N; "never" for nx_huge_pages reads as neither), and
 * skips otherwise.
 */
void kvm_param_require(const char *module, const char *name, const char *val, bool want);

#endif /* SELFTEST_X86_KVM_CAPS_H */
