// SPDX-License-Identifier: GPL-2.0
/*
 * The binary stats fd of a VM and of a vCPU: the header and descriptors are
 * well formed, and the page counters this suite relies on (pages_4k,
 * pages_2m, pages_1g) exist, are instantaneous counts and start at zero.
 */
#include <sys/ioctl.h>
#include <unistd.h>

#include "variant.h"
#include "x86_64/nested_mmu.h"

enum stats_fd { FD_VM, FD_VCPU };

struct variant {
	const char *name;
	const char *check;
	void (*run)(const struct variant *v);
	enum stats_fd fd;
	const char *stat;	/* for check_page_stat */
};

static int stats_fd(enum stats_fd which, struct kvm_vm **vm)
{
	struct kvm_vcpu *vcpu;
	int fd;

	*vm = vm_create();
	vcpu = vm_vcpu_add(*vm, NULL);
	if (which == FD_VM)
		fd = ioctl((*vm)->fd, KVM_GET_STATS_FD, NULL);
	else
		fd = ioctl(vcpu->fd, KVM_GET_STATS_FD, NULL);
	TEST_ASSERT(fd >= 0, "KVM_GET_STATS_FD on the %s: expected an fd, found %d",
		    which == FD_VM ? "VM" : "vCPU", fd);
	return fd;
}

static void check_header(const struct variant *v)
{
	struct kvm_stats st;
	const char *why = NULL;
	struct kvm_vm *vm;
	int fd = stats_fd(v->fd, &vm);
	int ret;

	test_check(v->check);
	ret = kvm_stats_parse(fd, &st, &why);
	TEST_ASSERT(!ret, "%s: expected a well-formed header and descriptors, found: %s",
		    v->name, why ? why : strerror(-ret));
	ksft_print_msg("%s: %u descriptors\n", v->name, st.header.num_desc);
	kvm_stats_release(&st);
	vm_free(vm);
}

/* The id string sits between the header and the descriptors. */
static void check_id(const struct variant *v)
{
	static const char prefix[] = "kvm-";
	struct kvm_stats st;
	const char *why = NULL;
	char id[256] = "";
	struct kvm_vm *vm;
	int ret;

	ret = kvm_stats_parse(stats_fd(v->fd, &vm), &st, &why);
	TEST_ASSERT(!ret, "parsing the stats fd: %s", why ? why : strerror(-ret));
	test_check(v->check);
	TEST_ASSERT(st.header.name_size < sizeof(id),
		    "%s: expected an id of less than %zu bytes, found name_size %u",
		    v->name, sizeof(id), st.header.name_size);
	ret = (int)pread(st.fd, id, st.header.name_size, st.header.id_offset);
	TEST_ASSERT(ret == (int)st.header.name_size,
		    "%s: reading the %u-byte id at offset %u: expected %u bytes, found %d",
		    v->name, st.header.name_size, st.header.id_offset, st.header.name_size, ret);
	id[sizeof(id) - 1] = '\0';
	TEST_ASSERT(!strncmp(id, prefix, strlen(prefix)),
		    "%s: expected an id starting with '%s', found '%s'", v->name, prefix, id);
	kvm_stats_release(&st);
	vm_free(vm);
}

static void check_page_stat(const struct variant *v)
{
	struct kvm_vm *vm = vm_create();
	struct kvm_stats_desc *d;

	test_check(v->check);
	d = kvm_stats_find(vm_stats(vm), v->stat);
	TEST_ASSERT(d, "%s: expected a descriptor named %s, found none", v->name, v->stat);
	TEST_ASSERT((d->flags & KVM_STATS_TYPE_MASK) == KVM_STATS_TYPE_INSTANT &&
		    (d->flags & KVM_STATS_UNIT_MASK) == KVM_STATS_UNIT_NONE && d->size == 1,
		    "%s: expected an instantaneous count without unit of size 1 "
		    "(type 0x%x, unit 0x%x), found type 0x%x, unit 0x%x, size %u",
		    v->name, KVM_STATS_TYPE_INSTANT, KVM_STATS_UNIT_NONE,
		    d->flags & KVM_STATS_TYPE_MASK, d->flags & KVM_STATS_UNIT_MASK, d->size);
	vm_free(vm);
}

/* Nothing has run: neither MMU can have mapped anything yet. */
static void check_fresh(const struct variant *v)
{
	struct kvm_vm *vm = vm_create();
	struct page_stats ps;

	vm_vcpu_add(vm, NULL);
	test_check(v->check);
	vm_page_stats(vm, &ps);
	TEST_ASSERT(!ps.pages_4k && !ps.huge,
		    "%s: expected 0/0/0 4K/2M/1G mappings, found %lu/%lu/%lu",
		    v->name, ps.pages_4k, ps.pages_2m, ps.pages_1g);
	vm_free(vm);
}

static const struct variant variants[] = {
	{ .name = "VM stats: header and descriptors well formed", .check = "vm-header",
	  .run = check_header, .fd = FD_VM },
	{ .name = "VM stats: id starts with 'kvm-'", .check = "vm-id",
	  .run = check_id, .fd = FD_VM },
	{ .name = "vCPU stats: header and descriptors well formed", .check = "vcpu-header",
	  .run = check_header, .fd = FD_VCPU },
	{ .name = "vCPU stats: id starts with 'kvm-'", .check = "vcpu-id",
	  .run = check_id, .fd = FD_VCPU },
	{ .name = "VM stat pages_4k: present, an instantaneous count", .check = "pages-4k",
	  .run = check_page_stat, .stat = "pages_4k" },
	{ .name = "VM stat pages_2m: present, an instantaneous count", .check = "pages-2m",
	  .run = check_page_stat, .stat = "pages_2m" },
	{ .name = "VM stat pages_1g: present, an instantaneous count", .check = "pages-1g",
	  .run = check_page_stat, .stat = "pages_1g" },
	{ .name = "fresh VM maps nothing", .check = "fresh-vm", .run = check_fresh },
};

static void run_variant(void *arg)
{
	const struct variant *v = arg;

	test_check("setup");
	v->run(v);
}

static void variant_name(const void *p, char *buf, size_t len)
{
	snprintf(buf, len, "%s", ((const struct variant *)p)->name);
}

int main(int argc, char *argv[])
{
	static struct nmmu_cli cli = {
		.about = "the VM and vCPU binary stats fds, and the page counters in them",
		.verbose = "verbose progress",
	};

	return nmmu_main(&cli, &NMMU_TABLE(variants, .require = kvm_require,
					   .name = variant_name, .run = run_variant), argc, argv);
}
