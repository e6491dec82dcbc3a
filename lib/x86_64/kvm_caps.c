// SPDX-License-Identifier: GPL-2.0
/* Host KVM capabilities read from module parameters and /proc/cpuinfo. */
#include "knobs.h"
#include "kvm_util.h"
#include "x86_64/kvm_caps.h"

const char *kvm_tdp_param(void)
{
	const char *vendor = kvm_vendor_module();

	if (!vendor)
		return NULL;
	return strcmp(vendor, "kvm_intel") ? "npt" : "ept";
}

bool kvm_tdp_enabled(void)
{
	const char *param = kvm_tdp_param();

	return param && kvm_param_bool(kvm_vendor_module(), param) == 1;
}

bool kvm_tdp_mmu_enabled(void)
{
	return kvm_param_bool("kvm", "tdp_mmu") == 1;
}

/* Is word a whole word on a /proc/cpuinfo line starting with key? */
static bool cpuinfo_has(const char *key, const char *word)
{
	size_t klen = strlen(key), wlen = strlen(word);
	char line[8192];
	bool found = false;
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *p;

		if (strncmp(line, key, klen) || (line[klen] != ' ' && line[klen] != '\t'))
			continue;
		for (p = strchr(line, ':'); p && (p = strstr(p, word)); p += wlen) {
			if (p[-1] == ' ' && (p[wlen] == ' ' || p[wlen] == '\n' || !p[wlen])) {
				found = true;
				break;
			}
		}
	}
	fclose(f);
	return found;
}

bool kvm_tdp_has_1g_pages(void)
{
	const char *param = kvm_tdp_param();

	if (!param)
		return false;
	/* KVM uses 1G EPT pages when VMX reports them, 1G NPT pages with GBPAGES. */
	if (!strcmp(param, "ept"))
		return cpuinfo_has("vmx flags", "ept_1gb");
	return cpuinfo_has("flags", "pdpe1gb");
}

void kvm_require_tdp_mmu(void)
{
	const char *param = kvm_tdp_param();

	kvm_require();
	TEST_REQUIRE(param, "neither kvm_intel nor kvm_amd is loaded");
	TEST_REQUIRE(kvm_tdp_enabled(), "%s.%s=N: KVM runs without EPT/NPT (load it with %s=1)",
		     kvm_vendor_module(), param, param);
	TEST_REQUIRE(kvm_tdp_mmu_enabled(),
		     "kvm.tdp_mmu=N: L1 memory is shadow paged (load kvm with tdp_mmu=1)");
}

void kvm_param_require(const char *module, const char *name, const char *val, bool want)
{
	int ret = __kvm_param_set(module, name, val);
	char now[32] = "";
	bool has;

	if (!ret)
		return;
	/* Not writable: the test can still run if it already has the value. */
	if (__kvm_param_read(module, name, now, sizeof(now)))
		snprintf(now, sizeof(now), "unreadable");
	now[strcspn(now, "\n")] = '\0';
	if (want)
		has = strchr("Yy1", now[0]) && now[0];
	else
		has = (strchr("Nn0", now[0]) && now[0]) || !strcmp(now, "never") ||
		      !strcmp(now, "off");
	TEST_REQUIRE(has, "%s.%s is %s and cannot be set to %s: %s",
		     module, name, now, val, strerror(-ret));
}
