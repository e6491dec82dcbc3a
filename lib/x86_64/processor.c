// SPDX-License-Identifier: GPL-2.0
/*
 * x86-64 VM setup: CPUID, 64-bit mode with GDT/IDT/TSS, L1 page tables with
 * a direct map of guest physical memory, and loading the test ELF.
 */
#include <elf.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvm_util.h"
#include "ucall.h"
#include "x86_64/processor.h"

#define PT_ENTRIES	512
#define VCPU_STACK_SIZE	(64 * 1024)

extern char ex_stubs_start[];	/* handlers.S: 32 stubs, 16 bytes apart */
#define EX_STUB_SIZE	16
#define NR_EXCEPTIONS	32

struct kvm_cpuid2 *kvm_supported_cpuid(void)
{
	static struct kvm_cpuid2 *cpuid;
	int nent = 64, fd, r;

	if (cpuid)
		return cpuid;
	fd = kvm_open();
	for (;;) {
		cpuid = calloc(1, sizeof(*cpuid) + nent * sizeof(cpuid->entries[0]));
		TEST_ASSERT(cpuid, "out of memory");
		cpuid->nent = nent;
		r = ioctl(fd, KVM_GET_SUPPORTED_CPUID, cpuid);
		if (!r)
			break;
		TEST_ASSERT(errno == E2BIG, "KVM_GET_SUPPORTED_CPUID failed");
		free(cpuid);
		nent *= 2;
	}
	close(fd);
	return cpuid;
}

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *cpuid, uint32_t function,
				    uint32_t index)
{
	uint32_t i;

	for (i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function == function &&
		    (e->index == index ||
		     !(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX)))
			return e;
	}
	return NULL;
}

uint64_t guest_phys_limit(void)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(kvm_supported_cpuid(), 0x80000008, 0);
	unsigned int bits = e ? e->eax & 0xff : 36;	/* 36: the architectural default */

	TEST_ASSERT(bits >= 36 && bits <= 52, "MAXPHYADDR %u from KVM_GET_SUPPORTED_CPUID", bits);
	return 1ULL << bits;
}

bool kvm_cpu_has(struct x86_cpu_feature f)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(kvm_supported_cpuid(),
						f.function, f.index);
	uint32_t regs[4];

	if (!e)
		return false;
	regs[CPUID_EAX] = e->eax;
	regs[CPUID_EBX] = e->ebx;
	regs[CPUID_ECX] = e->ecx;
	regs[CPUID_EDX] = e->edx;
	return regs[f.reg] & (1U << f.bit);
}

/* L1 page tables. */
static uint64_t *pt_entry(struct kvm_vm *vm, gpa_t table, unsigned int index)
{
	return (uint64_t *)addr_gpa2hva(vm, table) + index;
}

static unsigned int pt_index(gva_t gva, int level)
{
	return (gva >> (12 + 9 * (level - 1))) & (PT_ENTRIES - 1);
}

/* Next-level table under *entry, allocated on first use. */
static gpa_t pt_next(struct kvm_vm *vm, uint64_t *entry, gva_t gva, int level)
{
	if (!(*entry & PTE_PRESENT))
		*entry = vm_alloc_pages(vm, 1) | PTE_PRESENT | PTE_WRITE;
	TEST_ASSERT(!(*entry & PTE_LARGE),
		    "GVA 0x%lx is already mapped by a level-%d huge page", gva, level);
	return *entry & PTE_ADDR_MASK;
}

/* Map one page at level 1 (4K), 2 (2M) or 3 (1G). */
static void virt_map_page(struct kvm_vm *vm, gva_t gva, gpa_t gpa, int level)
{
	uint64_t size = 1ULL << (12 + 9 * (level - 1));
	gpa_t table = vm->pml4;
	uint64_t *e;
	int l;

	TEST_ASSERT(IS_ALIGNED(gva, size) && IS_ALIGNED(gpa, size),
		    "GVA 0x%lx / GPA 0x%lx not aligned for a level-%d mapping",
		    gva, gpa, level);
	for (l = 4; l > level; l--)
		table = pt_next(vm, pt_entry(vm, table, pt_index(gva, l)), gva, l);
	e = pt_entry(vm, table, pt_index(gva, level));
	TEST_ASSERT(!(*e & PTE_PRESENT), "GVA 0x%lx is already mapped", gva);
	*e = gpa | PTE_PRESENT | PTE_WRITE | (level > 1 ? PTE_LARGE : 0);
}

static bool virt_walk(struct kvm_vm *vm, gva_t gva, gpa_t *gpa)
{
	gpa_t table = vm->pml4;
	int level;

	for (level = 4; level >= 1; level--) {
		uint64_t e = *pt_entry(vm, table, pt_index(gva, level));
		uint64_t size = 1ULL << (12 + 9 * (level - 1));

		if (!(e & PTE_PRESENT))
			return false;
		if (level == 1 || (e & PTE_LARGE)) {
			*gpa = (e & PTE_ADDR_MASK & ~(size - 1)) | (gva & (size - 1));
			return true;
		}
		table = e & PTE_ADDR_MASK;
	}
	return false;
}

gpa_t addr_gva2gpa(struct kvm_vm *vm, gva_t gva)
{
	gpa_t gpa;

	TEST_ASSERT(virt_walk(vm, gva, &gpa), "GVA 0x%lx is not mapped in the guest", gva);
	return gpa;
}

uint64_t direct_map_tables(gpa_t gpa, uint64_t size)
{
	uint64_t first = gpa / SZ_1G, last = (gpa + size - 1) / SZ_1G;

	if (kvm_cpu_has(X86_FEATURE_GBPAGES) || !size)
		return 0;
	/* Region 0 holds L1's memory: its directory is walked already. */
	return last - first + 1 - (first == 0);
}

static void build_direct_map(struct kvm_vm *vm)
{
	bool gbpages = kvm_cpu_has(X86_FEATURE_GBPAGES);
	uint64_t step = gbpages ? SZ_1G : SZ_2M;
	gpa_t gpa;

	for (gpa = 0; gpa < DIRECT_MAP_SIZE; gpa += step)
		virt_map_page(vm, direct_gva(gpa), gpa, gbpages ? 3 : 2);
}

static void gdt_set(uint64_t *gdt, unsigned int sel, uint64_t desc)
{
	gdt[sel / 8] = desc;
}

static void build_descriptor_tables(struct kvm_vm *vm)
{
	uint64_t *gdt, *idt, tss_gva;
	unsigned int v;

	vm->gdt = vm_alloc_pages(vm, 1);
	vm->idt = vm_alloc_pages(vm, 1);
	vm->tss = vm_alloc_pages(vm, 1);
	gdt = addr_gpa2hva(vm, vm->gdt);
	idt = addr_gpa2hva(vm, vm->idt);
	tss_gva = direct_gva(vm->tss);

	/* 64-bit code (L=1, P, S, type 0xb), data (P, S, type 0x3, D/B, G). */
	gdt_set(gdt, GDT_CODE_SEL, 0x00209b0000000000ULL);
	gdt_set(gdt, GDT_DATA_SEL, 0x00cf93000000ffffULL);
	/* 64-bit busy TSS, limit 0x67, base split over two descriptors. */
	gdt_set(gdt, GDT_TSS_SEL,
		0x67ULL | ((tss_gva & 0xffffff) << 16) | (0x8bULL << 40) |
		(((tss_gva >> 24) & 0xff) << 56));
	gdt_set(gdt, GDT_TSS_SEL + 8, tss_gva >> 32);

	/* 64-bit interrupt gates to the exception stubs. */
	for (v = 0; v < NR_EXCEPTIONS; v++) {
		uint64_t h = (uintptr_t)ex_stubs_start + v * EX_STUB_SIZE;

		idt[2 * v] = (h & 0xffff) | ((uint64_t)GDT_CODE_SEL << 16) |
			     (0x8eULL << 40) | (((h >> 16) & 0xffff) << 48);
		idt[2 * v + 1] = h >> 32;
	}
}

void arch_vm_setup(struct kvm_vm *vm)
{
	int r;

	r = ioctl(vm->fd, KVM_SET_TSS_ADDR, 0xfffbd000UL);
	TEST_ASSERT(!r, "KVM_SET_TSS_ADDR failed");
	r = ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0);
	TEST_ASSERT(!r, "KVM_CREATE_IRQCHIP failed");

	vm->pml4 = vm_alloc_pages(vm, 1);
	build_direct_map(vm);
	build_descriptor_tables(vm);
}

/*
 * Map the test binary's loadable segments at their link addresses and copy
 * them from this process's own memory, not from the file: relocations and
 * IFUNCs resolved at startup are then valid in the guest too, and so is
 * anything the host wrote before creating the VM.
 */
void arch_load_elf(struct kvm_vm *vm)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	int fd, i;

	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	TEST_ASSERT(fd >= 0, "cannot open /proc/self/exe");
	TEST_ASSERT(pread(fd, &eh, sizeof(eh), 0) == sizeof(eh) &&
		    !memcmp(eh.e_ident, ELFMAG, SELFMAG) &&
		    eh.e_ident[EI_CLASS] == ELFCLASS64,
		    "/proc/self/exe is not a 64-bit ELF file");
	TEST_ASSERT(eh.e_type == ET_EXEC,
		    "the test is position independent; link it with -no-pie so "
		    "guest code runs at the addresses the host sees");

	for (i = 0; i < eh.e_phnum; i++) {
		gva_t start, end, gva;
		gpa_t gpa;

		TEST_ASSERT(pread(fd, &ph, sizeof(ph),
				  eh.e_phoff + (off_t)i * eh.e_phentsize) == sizeof(ph),
			    "short read of ELF program header %d", i);
		if (ph.p_type != PT_LOAD || !ph.p_memsz)
			continue;
		start = ALIGN_DOWN(ph.p_vaddr, SZ_4K);
		end = ALIGN_UP(ph.p_vaddr + ph.p_memsz, SZ_4K);
		for (gva = start; gva < end; gva += SZ_4K) {
			/* Two segments may share a page: map it once. */
			if (!virt_walk(vm, gva, &gpa)) {
				gpa = vm_alloc_pages(vm, 1);
				virt_map_page(vm, gva, gpa, 1);
			}
			memcpy(addr_gpa2hva(vm, gpa), (void *)gva, SZ_4K);
		}
	}
	close(fd);
}

static uint64_t host_xcr0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return lo | ((uint64_t)hi << 32);
}

void arch_vcpu_setup(struct kvm_vcpu *vcpu, void *guest_code)
{
	struct kvm_vm *vm = vcpu->vm;
	struct kvm_cpuid2 *cpuid = kvm_supported_cpuid();
	struct kvm_segment code = {
		.selector = GDT_CODE_SEL, .limit = 0xffffffff, .type = 0xb,
		.present = 1, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data = {
		.selector = GDT_DATA_SEL, .limit = 0xffffffff, .type = 0x3,
		.present = 1, .s = 1, .db = 1, .g = 1,
	};
	struct kvm_segment tr = {
		.base = direct_gva(vm->tss), .limit = 0x67, .selector = GDT_TSS_SEL,
		.type = 0xb, .present = 1,
	};
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rflags = 0x2 };
	int r;

	r = ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid);
	TEST_ASSERT(!r, "KVM_SET_CPUID2 failed");

	/*
	 * With the in-kernel local APIC every vCPU but the first is an AP
	 * waiting for INIT/SIPI, and KVM_RUN would block forever: start all
	 * of them running.
	 */
	{
		struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };

		vcpu_ioctl(vcpu, KVM_SET_MP_STATE, &mp);
	}

	vcpu_sregs_get(vcpu, &sregs);
	sregs.cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE |
		    X86_CR0_WP | X86_CR0_PG;
	sregs.cr3 = vm->pml4;
	sregs.cr4 = X86_CR4_PAE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
	/*
	 * EFER.NX on, as any real L1 kernel has it.  KVM's nested NPT MMU
	 * takes its reserved-bit checks from L1's EFER, and with NX off it
	 * WARNs in make_spte() when the iTLB multihit mitigation puts NX on
	 * a huge SPTE (6.1 and 6.12 alike).
	 */
	sregs.efer = EFER_LME | EFER_LMA | (kvm_cpu_has(X86_FEATURE_NX) ? EFER_NX : 0);
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.tr = tr;
	sregs.ldt = (struct kvm_segment){ .unusable = 1, .type = 0x2 };
	sregs.gdt.base = direct_gva(vm->gdt);
	sregs.gdt.limit = GDT_ENTRIES * 8 - 1;
	sregs.idt.base = direct_gva(vm->idt);
	sregs.idt.limit = NR_EXCEPTIONS * 16 - 1;

	/*
	 * glibc picked its string functions for this CPU and XCR0; give the
	 * guest the same XSAVE features so they run there too.
	 */
	if (kvm_cpu_has(X86_FEATURE_XSAVE) && this_cpu_has(X86_FEATURE_OSXSAVE)) {
		struct kvm_cpuid_entry2 *xs = cpuid_find(cpuid, 0xd, 0);
		uint64_t supported = xs ? (xs->eax | ((uint64_t)xs->edx << 32)) : 1;
		struct kvm_xcrs xcrs = { .nr_xcrs = 1 };

		sregs.cr4 |= X86_CR4_OSXSAVE;
		vcpu_sregs_set(vcpu, &sregs);
		xcrs.xcrs[0].xcr = 0;
		xcrs.xcrs[0].value = host_xcr0() & supported;
		vcpu_ioctl(vcpu, KVM_SET_XCRS, &xcrs);
	} else {
		vcpu_sregs_set(vcpu, &sregs);
	}

	vcpu->stack_size = VCPU_STACK_SIZE;
	vcpu->stack_gpa = vm_alloc_pages(vm, vcpu->stack_size / SZ_4K);
	/* As after a call: RSP + 8 is 16-byte aligned at function entry. */
	regs.rsp = direct_gva(vcpu->stack_gpa + vcpu->stack_size) - 8;
	regs.rip = (uintptr_t)guest_code;
	vcpu_regs_set(vcpu, &regs);
}

uint64_t guest_tss_base(void)
{
	struct desc_ptr gdt;
	uint64_t *d;

	get_gdt(&gdt);
	d = (uint64_t *)(gdt.base + GDT_TSS_SEL);
	return ((d[0] >> 16) & 0xffffff) | (((d[0] >> 56) & 0xff) << 24) |
	       (d[1] << 32);
}

static const char *exception_name(uint64_t v)
{
	static const char *const names[NR_EXCEPTIONS] = {
		"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF",
		"#MF-old", "#TS", "#NP", "#SS", "#GP", "#PF", "reserved", "#MF",
		"#AC", "#MC", "#XM", "#VE", "#CP",
	};

	return v < NR_EXCEPTIONS && names[v] ? names[v] : "exception";
}

void guest_exception(struct ex_regs *regs)
{
	uint64_t cr2;

	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	ucall_fmt(UCALL_ABORT, __FILE__, __LINE__,
		  "unexpected %s (vector %lu) at RIP 0x%lx, error code 0x%lx, "
		  "CR2 0x%lx, RSP 0x%lx",
		  exception_name(regs->vector), regs->vector, regs->rip,
		  regs->error_code, cr2, regs->rsp);
}
