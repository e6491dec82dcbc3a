// SPDX-License-Identifier: GPL-2.0
/* /dev/kvm, VM and vCPU lifecycle, ioctls and KVM_RUN. */
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm_util.h"
#include "stats.h"

#define KVM_DEV_PATH	"/dev/kvm"

int kvm_open(void)
{
	int fd = open(KVM_DEV_PATH, O_RDWR | O_CLOEXEC);

	TEST_ASSERT(fd >= 0, "opening %s (kvm_require() first)", KVM_DEV_PATH);
	return fd;
}

void kvm_require(void)
{
	int fd = open(KVM_DEV_PATH, O_RDWR | O_CLOEXEC);

	TEST_REQUIRE(fd >= 0, "cannot open %s: %s (load kvm and kvm_intel/kvm_amd)",
		     KVM_DEV_PATH, strerror(errno));
	close(fd);
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_BINARY_STATS_FD),
		     "KVM_CAP_BINARY_STATS_FD is not supported (needs Linux 5.14+)");
}

int kvm_check_cap(long cap)
{
	int fd = kvm_open();
	int ret = ioctl(fd, KVM_CHECK_EXTENSION, cap);

	close(fd);
	TEST_ASSERT(ret >= 0, "KVM_CHECK_EXTENSION(%ld) failed", cap);
	return ret;
}

int __vm_ioctl(struct kvm_vm *vm, unsigned long cmd, void *arg)
{
	return ioctl(vm->fd, cmd, arg);
}

int __vcpu_ioctl(struct kvm_vcpu *vcpu, unsigned long cmd, void *arg)
{
	return ioctl(vcpu->fd, cmd, arg);
}

int vm_enable_cap(struct kvm_vm *vm, uint32_t cap, uint64_t arg0)
{
	struct kvm_enable_cap ec = { .cap = cap, .args = { arg0 } };

	return __vm_ioctl(vm, KVM_ENABLE_CAP, &ec) ? -errno : 0;
}

struct kvm_vm *vm_create(void)
{
	struct kvm_vm *vm = calloc(1, sizeof(*vm));
	int api;

	TEST_ASSERT(vm, "out of memory");
	vm->kvm_fd = kvm_open();
	api = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	TEST_ASSERT(api == KVM_API_VERSION, "KVM API version: expected %d, found %d",
		    KVM_API_VERSION, api);
	vm->fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	TEST_ASSERT(vm->fd >= 0, "KVM_CREATE_VM failed");

	vm_memslot_add(vm, VM_L1_SLOT, 0, VM_L1_SIZE, BACKING_ANON_4K, 0);
	/* Page 0 stays unused so a null GPA is never valid memory. */
	vm->l1_next_free = SZ_4K;
	vm->l1_end = VM_L1_SIZE;

	arch_vm_setup(vm);
	arch_load_elf(vm);
	return vm;
}

void vm_free(struct kvm_vm *vm)
{
	unsigned int i;

	if (!vm)
		return;
	for (i = 0; i < vm->nr_vcpus; i++) {
		struct kvm_vcpu *vcpu = vm->vcpus[i];

		munmap(vcpu->run, vcpu->run_size);
		close(vcpu->fd);
		free(vcpu);
	}
	if (vm->stats) {
		kvm_stats_release(vm->stats);
		free(vm->stats);
	}
	/* Closing the VM fd drops KVM's last reference: the VM is destroyed. */
	close(vm->fd);
	close(vm->kvm_fd);
	for (i = 0; i < VM_MAX_SLOTS; i++) {
		struct vm_memslot *s = vm->slots[i];

		if (!s)
			continue;
		munmap(s->mmap_start, s->mmap_size);
		free(s);
	}
	free(vm->tdp);
	free(vm);
}

struct kvm_vcpu *vm_vcpu_add(struct kvm_vm *vm, void *guest_code)
{
	struct kvm_vcpu *vcpu = calloc(1, sizeof(*vcpu));
	int mmap_size;

	TEST_ASSERT(vcpu, "out of memory");
	TEST_ASSERT(vm->nr_vcpus < VM_MAX_VCPUS, "too many vCPUs (max %d)",
		    VM_MAX_VCPUS);
	vcpu->vm = vm;
	vcpu->id = vm->nr_vcpus;
	vcpu->fd = ioctl(vm->fd, KVM_CREATE_VCPU, vcpu->id);
	TEST_ASSERT(vcpu->fd >= 0, "KVM_CREATE_VCPU(%u) failed", vcpu->id);

	mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	TEST_ASSERT(mmap_size >= (int)sizeof(struct kvm_run),
		    "KVM_GET_VCPU_MMAP_SIZE: %d", mmap_size);
	vcpu->run_size = (size_t)mmap_size;
	vcpu->run = mmap(NULL, vcpu->run_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, vcpu->fd, 0);
	TEST_ASSERT(vcpu->run != MAP_FAILED, "mmap of kvm_run failed");

	vm->vcpus[vm->nr_vcpus++] = vcpu;
	arch_vcpu_setup(vcpu, guest_code);
	return vcpu;
}

int __vcpu_run(struct kvm_vcpu *vcpu)
{
	int r;

	vcpu->vm->has_run = true;
	do {
		r = ioctl(vcpu->fd, KVM_RUN, NULL);
	} while (r < 0 && errno == EINTR);
	return r;
}

void vcpu_run(struct kvm_vcpu *vcpu)
{
	TEST_ASSERT(!__vcpu_run(vcpu), "KVM_RUN failed on vCPU %u", vcpu->id);
}

void vcpu_regs_get(struct kvm_vcpu *vcpu, struct kvm_regs *regs)
{
	vcpu_ioctl(vcpu, KVM_GET_REGS, regs);
}

void vcpu_regs_set(struct kvm_vcpu *vcpu, struct kvm_regs *regs)
{
	vcpu_ioctl(vcpu, KVM_SET_REGS, regs);
}

void vcpu_sregs_get(struct kvm_vcpu *vcpu, struct kvm_sregs *sregs)
{
	vcpu_ioctl(vcpu, KVM_GET_SREGS, sregs);
}

void vcpu_sregs_set(struct kvm_vcpu *vcpu, struct kvm_sregs *sregs)
{
	vcpu_ioctl(vcpu, KVM_SET_SREGS, sregs);
}

void vcpu_args_set(struct kvm_vcpu *vcpu, unsigned int nr, ...)
{
	struct kvm_regs regs;
	__u64 *slots[] = { &regs.rdi, &regs.rsi, &regs.rdx,
			      &regs.rcx, &regs.r8, &regs.r9 };
	unsigned int i;
	va_list ap;

	TEST_ASSERT(nr <= ARRAY_SIZE(slots), "at most %zu guest arguments",
		    ARRAY_SIZE(slots));
	vcpu_regs_get(vcpu, &regs);
	va_start(ap, nr);
	for (i = 0; i < nr; i++)
		*slots[i] = va_arg(ap, uint64_t);
	va_end(ap);
	vcpu_regs_set(vcpu, &regs);
}

const char *exit_reason_str(uint32_t reason)
{
	static const char *const names[] = {
		[KVM_EXIT_UNKNOWN] = "UNKNOWN",
		[KVM_EXIT_EXCEPTION] = "EXCEPTION",
		[KVM_EXIT_IO] = "IO",
		[KVM_EXIT_HYPERCALL] = "HYPERCALL",
		[KVM_EXIT_DEBUG] = "DEBUG",
		[KVM_EXIT_HLT] = "HLT",
		[KVM_EXIT_MMIO] = "MMIO",
		[KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
		[KVM_EXIT_SHUTDOWN] = "SHUTDOWN (triple fault)",
		[KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
		[KVM_EXIT_INTR] = "INTR",
		[KVM_EXIT_SET_TPR] = "SET_TPR",
		[KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
		[KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
		[KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
		[KVM_EXIT_X86_RDMSR] = "X86_RDMSR",
		[KVM_EXIT_X86_WRMSR] = "X86_WRMSR",
	};

	if (reason < ARRAY_SIZE(names) && names[reason])
		return names[reason];
	return "(unknown exit reason)";
}
