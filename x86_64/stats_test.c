// SPDX-License-Identifier: GPL-2.0
/*
 * The binary stats fd of a VM and of a vCPU: the header and descriptors are
 * well formed, and the page counters this suite relies on (pages_4k,
 * pages_2m, pages_1g) exist, are instantaneous counts and start at zero.
 */
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvm_util.h"
#include "stats.h"

static const char *const page_stats_names[] = { "pages_4k", "pages_2m", "pages_1g" };

static void check_fd(const char *what, int fd, const char *id_prefix)
{
	struct kvm_stats st;
	const char *why;
	char id[256] = "";
	int ret;

	ret = kvm_stats_parse(fd, &st, &why);
	ksft_test_result(!ret, "%s stats: header and %u descriptors well formed%s%s\n",
			 what, ret ? 0 : st.header.num_desc, ret ? ": " : "",
			 ret ? (why ? why : strerror(-ret)) : "");
	if (ret)
		return;

	/* The id string sits between the header and the descriptors. */
	if (st.header.name_size < sizeof(id) &&
	    pread(fd, id, st.header.name_size, st.header.id_offset) ==
	    (ssize_t)st.header.name_size) {
		id[sizeof(id) - 1] = '\0';
		ksft_test_result(!strncmp(id, id_prefix, strlen(id_prefix)),
				 "%s stats: id '%s' starts with '%s'\n", what, id,
				 id_prefix);
	} else {
		ksft_test_result_fail("%s stats: cannot read the id string\n", what);
	}
	kvm_stats_release(&st);
}

int main(int argc, char *argv[])
{
	struct kvm_stats *st;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	unsigned int i;
	int fd;

	if (argc > 1) {
		printf("usage: %s\n  Checks the VM and vCPU binary stats fds.\n", argv[0]);
		return strcmp(argv[1], "-h") ? KSFT_FAIL : KSFT_PASS;
	}

	ksft_print_header();
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_BINARY_STATS_FD),
		     "KVM_CAP_BINARY_STATS_FD is not supported (needs Linux 5.14+)");
	ksft_set_plan(2 + 2 + ARRAY_SIZE(page_stats_names) + 1);

	vm = vm_create(0);
	vcpu = vm_vcpu_add(vm, NULL);

	fd = ioctl(vm->fd, KVM_GET_STATS_FD, NULL);
	TEST_ASSERT(fd >= 0, "KVM_GET_STATS_FD on the VM");
	check_fd("VM", fd, "kvm-");
	fd = ioctl(vcpu->fd, KVM_GET_STATS_FD, NULL);
	TEST_ASSERT(fd >= 0, "KVM_GET_STATS_FD on vCPU 0");
	check_fd("vCPU", fd, "kvm-");

	st = vm_stats(vm);
	for (i = 0; i < ARRAY_SIZE(page_stats_names); i++) {
		struct kvm_stats_desc *d = kvm_stats_find(st, page_stats_names[i]);

		ksft_test_result(d && (d->flags & KVM_STATS_TYPE_MASK) == KVM_STATS_TYPE_INSTANT &&
				 (d->flags & KVM_STATS_UNIT_MASK) == KVM_STATS_UNIT_NONE &&
				 d->size == 1,
				 "VM stat %s: %s\n", page_stats_names[i],
				 d ? "present, an instantaneous count" : "missing");
	}

	/* Nothing has run: neither MMU can have mapped anything yet. */
	{
		struct page_stats ps;

		vm_page_stats(vm, &ps);
		ksft_test_result(!ps.pages_4k && !ps.huge,
				 "fresh VM maps nothing: expected 0/0/0 4K/2M/1G mappings, "
				 "found %lu/%lu/%lu\n",
				 ps.pages_4k, ps.pages_2m, ps.pages_1g);
	}

	vm_free(vm);
	ksft_finished();
}
