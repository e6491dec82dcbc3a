// SPDX-License-Identifier: GPL-2.0
/* KVM binary statistics: header and descriptor validation, lookup by name. */
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvm_util.h"
#include "stats.h"

#define STATS_MAX_DESCS		4096
#define STATS_MAX_NAME		1024

static int pread_all(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n = pread(fd, buf, len, off);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static bool name_ok(const char *name, size_t max)
{
	size_t len = strnlen(name, max);
	size_t i;

	if (!len || len == max)
		return false;	/* empty or not NUL-terminated */
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

int kvm_stats_parse(int fd, struct kvm_stats *st, const char **why)
{
	struct kvm_stats_header *h = &st->header;
	unsigned int i, j;
	size_t descs_len;
	int ret;

	memset(st, 0, sizeof(*st));
	st->fd = fd;
	*why = NULL;

	ret = pread_all(fd, h, sizeof(*h), 0);
	if (ret) {
		*why = "short read of the header";
		return ret;
	}
	if (h->flags) {
		*why = "header flags are not zero";
		return -EINVAL;
	}
	if (!h->name_size || h->name_size > STATS_MAX_NAME ||
	    h->num_desc > STATS_MAX_DESCS) {
		*why = "name_size or num_desc out of range";
		return -EINVAL;
	}
	if (h->id_offset < sizeof(*h) ||
	    h->desc_offset < (uint64_t)h->id_offset + h->name_size ||
	    h->data_offset < h->desc_offset) {
		*why = "id, descriptor and data blocks out of order or overlapping";
		return -EINVAL;
	}

	st->desc_size = sizeof(struct kvm_stats_desc) + h->name_size;
	descs_len = st->desc_size * h->num_desc;
	if (h->data_offset < h->desc_offset + descs_len) {
		*why = "descriptors overlap the data block";
		return -EINVAL;
	}
	st->descs = calloc(h->num_desc ? h->num_desc : 1, st->desc_size);
	if (!st->descs)
		return -ENOMEM;
	ret = pread_all(fd, st->descs, descs_len, h->desc_offset);
	if (ret) {
		*why = "short read of the descriptors";
		goto err;
	}

	for (i = 0; i < h->num_desc; i++) {
		struct kvm_stats_desc *d = kvm_stats_desc(st, i);
		uint32_t type = d->flags & KVM_STATS_TYPE_MASK;
		uint32_t unit = d->flags & KVM_STATS_UNIT_MASK;
		uint32_t base = d->flags & KVM_STATS_BASE_MASK;

		ret = -EINVAL;
		if (!name_ok(d->name, h->name_size)) {
			*why = "a stat name is empty, unterminated or not [a-z0-9_]";
			goto err;
		}
		if (type > KVM_STATS_TYPE_MAX || unit > KVM_STATS_UNIT_MAX ||
		    base > KVM_STATS_BASE_MAX) {
			*why = "a stat has an unknown type, unit or base";
			goto err;
		}
		if (!d->size) {
			*why = "a stat has size 0";
			goto err;
		}
		if (d->offset + d->size * sizeof(uint64_t) < d->offset) {
			*why = "a stat's data offset overflows";
			goto err;
		}
		for (j = 0; j < i; j++) {
			if (!strcmp(kvm_stats_desc(st, j)->name, d->name)) {
				*why = "two stats have the same name";
				goto err;
			}
		}
	}
	return 0;
err:
	free(st->descs);
	st->descs = NULL;
	return ret;
}

void kvm_stats_release(struct kvm_stats *st)
{
	free(st->descs);
	st->descs = NULL;
	if (st->fd >= 0)
		close(st->fd);
	st->fd = -1;
}

struct kvm_stats_desc *kvm_stats_desc(struct kvm_stats *st, unsigned int i)
{
	return (struct kvm_stats_desc *)((char *)st->descs + (size_t)i * st->desc_size);
}

struct kvm_stats_desc *kvm_stats_find(struct kvm_stats *st, const char *name)
{
	unsigned int i;

	for (i = 0; i < st->header.num_desc; i++) {
		struct kvm_stats_desc *d = kvm_stats_desc(st, i);

		if (!strcmp(d->name, name))
			return d;
	}
	return NULL;
}

int __kvm_stats_read(struct kvm_stats *st, const char *name, uint64_t *val)
{
	struct kvm_stats_desc *d = kvm_stats_find(st, name);

	if (!d)
		return -ENOENT;
	return pread_all(st->fd, val, sizeof(*val),
			 (off_t)st->header.data_offset + d->offset);
}

struct kvm_stats *vm_stats(struct kvm_vm *vm)
{
	const char *why;
	int fd, ret;

	if (vm->stats)
		return vm->stats;
	fd = ioctl(vm->fd, KVM_GET_STATS_FD, NULL);
	TEST_ASSERT(fd >= 0, "KVM_GET_STATS_FD on the VM (kvm_require() first): %s",
		    strerror(errno));
	vm->stats = calloc(1, sizeof(*vm->stats));
	TEST_ASSERT(vm->stats, "out of memory");
	ret = kvm_stats_parse(fd, vm->stats, &why);
	TEST_ASSERT(!ret, "VM stats fd is malformed: %s", why ? why : strerror(-ret));
	return vm->stats;
}

int __vm_get_stat(struct kvm_vm *vm, const char *name, uint64_t *val)
{
	return __kvm_stats_read(vm_stats(vm), name, val);
}

uint64_t vm_get_stat(struct kvm_vm *vm, const char *name)
{
	uint64_t val;
	int ret = __vm_get_stat(vm, name, &val);

	TEST_ASSERT(ret != -ENOENT, "the VM stats fd has no stat named '%s'", name);
	TEST_ASSERT(!ret, "reading VM stat '%s': %s", name, strerror(-ret));
	return val;
}

void vm_page_stats(struct kvm_vm *vm, struct page_stats *ps)
{
	ps->pages_4k = vm_get_stat(vm, "pages_4k");
	ps->pages_2m = vm_get_stat(vm, "pages_2m");
	ps->pages_1g = vm_get_stat(vm, "pages_1g");
	ps->huge = ps->pages_2m + ps->pages_1g;
}

void page_stats_print(const char *phase, const struct page_stats *ps)
{
	pr_debug("%-24s 4K: %8lu  2M: %6lu  1G: %4lu\n", phase, ps->pages_4k,
		 ps->pages_2m, ps->pages_1g);
}
