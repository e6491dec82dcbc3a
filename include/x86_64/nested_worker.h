/* SPDX-License-Identifier: GPL-2.0 */
/*
 * L2 workers driven by the host: each vCPU runs L1, which runs an L2 that
 * executes one memory command per KVM_RUN (write or check a range or a
 * list of pages) and reports completion with a ucall.  Tests then read as
 * a sequence of phases on the host, with page stats taken in between.
 */
#ifndef SELFTEST_X86_NESTED_WORKER_H
#define SELFTEST_X86_NESTED_WORKER_H

#include "kvm_util.h"
#include "x86_64/nested.h"

enum l2_op {
	L2_OP_NOP,
	/* Write tag ^ page index into the first word of each 4K page. */
	L2_OP_WRITE,
	/* Read each 4K page and assert it holds tag ^ page index. */
	L2_OP_CHECK,
	/* Write tag ^ page index to the pages of an index list. */
	L2_OP_WRITE_LIST,
	/*
	 * Until the host sets stop: write k = seq + 1, seq + 2, ... stores
	 * tag ^ k into page first + k % nr_pages and then publishes k in
	 * seq; a ucall every NESTED_WORKER_LOOP_BATCH writes keeps each
	 * KVM_RUN short (see nested_worker_loop()).
	 */
	L2_OP_WRITE_LOOP,
	/*
	 * Touch every page of the range, as upstream's memstress guest does:
	 * write tag ^ page index to the pages of the index list (ascending
	 * page indices within the range), read the first word of the others.
	 */
	L2_OP_ACCESS,
};

/* One command, in L1 memory; page indices count from gva. */
struct l2_cmd {
	uint64_t op;
	gva_t gva;		/* L2 virtual address of the range */
	uint64_t nr_pages;	/* range length, in 4K pages */
	uint64_t first;		/* first page index this vCPU handles */
	uint64_t tag;
	gva_t list;		/* L2_OP_WRITE_LIST, L2_OP_ACCESS: uint32_t page indices */
	uint64_t list_len;
	uint64_t calls;		/* l2_call()s L2 makes while executing */
	uint64_t seq;		/* L2_OP_WRITE_LOOP: the last write completed */
	uint64_t stop;		/* L2_OP_WRITE_LOOP: set by the host */
};

#define NESTED_WORKER_MAX_VCPUS	8
#define NESTED_WORKER_LIST_MAX	(256 * 1024)

struct nested_worker {
	struct kvm_vm *vm;
	int nr_vcpus;
	bool l1_only;			/* nested_worker_create_l1() */
	struct kvm_vcpu *vcpus[NESTED_WORKER_MAX_VCPUS];
	struct l2_cmd *cmds;		/* host view, one per vCPU */
	uint32_t *lists[NESTED_WORKER_MAX_VCPUS];	/* host view */
	gva_t lists_gva[NESTED_WORKER_MAX_VCPUS];
};

/* The value L2 writes to a page, and checks for. */
static inline uint64_t l2_page_value(uint64_t tag, uint64_t page)
{
	return tag ^ page;
}

/*
 * Add nr_vcpus vCPUs running L1 and an L2 worker each; vCPU i uses TDP
 * root roots[i] (root 0 for all when roots is NULL).  Returns once every
 * L2 has started, touched a page of its own and reached its first ucall,
 * so the code and stacks of the whole path are mapped before a test's
 * baseline.
 */
struct nested_worker *nested_worker_create(struct kvm_vm *vm, int nr_vcpus,
					   const unsigned int *roots);
/*
 * The TDP MMU counterpart: the vCPUs run the same commands in L1 itself,
 * through L1's direct map, with no L2 and no EPT/NPT of L1's; what KVM
 * maps is L1's own memory.  The other calls work on either kind.
 */
struct nested_worker *nested_worker_create_l1(struct kvm_vm *vm, int nr_vcpus);
void nested_worker_free(struct nested_worker *w);

/* Run one vCPU's L2 through one command. */
void nested_worker_run(struct nested_worker *w, int vcpu, const struct l2_cmd *cmd);

/*
 * Run a command over [gva, gva + nr_pages pages) on every vCPU, each on
 * its own contiguous slice, one vCPU after the other.
 */
void nested_worker_run_all(struct nested_worker *w, enum l2_op op, gva_t gva,
			   uint64_t nr_pages, uint64_t tag);

/*
 * Run cmds[i] on vCPU i, all vCPUs at once (a host thread each), and
 * return when all are done.  L2s never wait for each other, so this is
 * safe on emulators that don't preempt a spinning guest.
 */
void nested_worker_run_parallel(struct nested_worker *w, const struct l2_cmd *cmds);

/*
 * L2_OP_WRITE_LOOP on one vCPU: run it until L2 has seen
 * nested_worker_loop_stop(), or, with max_batches, until L2 made that many
 * batches of writes.  Returns the last write's sequence number.  Meant for
 * a host thread of its own while another reads nested_worker_loop_seq().
 */
#define NESTED_WORKER_LOOP_BATCH	64
uint64_t nested_worker_loop(struct nested_worker *w, int vcpu, const struct l2_cmd *cmd,
			    uint64_t max_batches);
void nested_worker_loop_stop(struct nested_worker *w, int vcpu);
/* The sequence number of the last write L2 completed, as L2 published it. */
uint64_t nested_worker_loop_seq(struct nested_worker *w, int vcpu);

/* Host side of L2_OP_WRITE_LIST and L2_OP_ACCESS: the list buffer of a vCPU. */
uint32_t *nested_worker_list(struct nested_worker *w, int vcpu);

#endif /* SELFTEST_X86_NESTED_WORKER_H */
