/* SPDX-License-Identifier: GPL-2.0 */
/* Reading KVM's binary statistics (KVM_GET_STATS_FD). */
#ifndef SELFTEST_STATS_H
#define SELFTEST_STATS_H

#include <linux/kvm.h>
#include <stdint.h>

struct kvm_vm;

/* A parsed stats fd: header, descriptors and their names. */
struct kvm_stats {
	int fd;
	struct kvm_stats_header header;
	size_t desc_size;	/* one descriptor with its name */
	void *descs;
};

/*
 * Read and validate the header and descriptors of a stats fd.  Returns 0
 * or -errno; -EINVAL for a header or descriptor that breaks the documented
 * layout, with a reason in *why.
 */
int kvm_stats_parse(int fd, struct kvm_stats *stats, const char **why);
void kvm_stats_release(struct kvm_stats *stats);

struct kvm_stats_desc *kvm_stats_desc(struct kvm_stats *stats, unsigned int i);
struct kvm_stats_desc *kvm_stats_find(struct kvm_stats *stats, const char *name);
/* Read the first value of a stat; -ENOENT if there is no stat of that name. */
int __kvm_stats_read(struct kvm_stats *stats, const char *name, uint64_t *val);

/* The VM's stats (the fd is opened once per VM). */
struct kvm_stats *vm_stats(struct kvm_vm *vm);
int __vm_get_stat(struct kvm_vm *vm, const char *name, uint64_t *val);
uint64_t vm_get_stat(struct kvm_vm *vm, const char *name);

/* Leaf mappings per level, as KVM's MMUs (TDP and shadow) count them. */
struct page_stats {
	uint64_t pages_4k;
	uint64_t pages_2m;
	uint64_t pages_1g;
	uint64_t huge;		/* 2M + 1G */
};

void vm_page_stats(struct kvm_vm *vm, struct page_stats *ps);
void page_stats_print(const char *phase, const struct page_stats *ps);

#endif /* SELFTEST_STATS_H */
