/* SPDX-License-Identifier: GPL-2.0 */
/*
 * L1 workers driven by the host, the TDP MMU counterpart of the L2 workers
 * (nested_worker.h): each vCPU runs, in L1 itself, one memory command per
 * KVM_RUN (the same struct l2_cmd: write or check a range or a list of
 * pages, through L1's direct map) and reports completion with a ucall.
 * No L2 and no EPT/NPT of L1's: what KVM maps is L1's own memory.
 */
#ifndef SELFTEST_X86_L1_WORKER_H
#define SELFTEST_X86_L1_WORKER_H

#include "kvm_util.h"
#include "x86_64/nested_worker.h"

struct l1_worker {
	struct kvm_vm *vm;
	int nr_vcpus;
	struct kvm_vcpu *vcpus[NESTED_WORKER_MAX_VCPUS];
	struct l2_cmd *cmds;		/* host view, one per vCPU */
	uint32_t *lists[NESTED_WORKER_MAX_VCPUS];	/* host view */
	gva_t lists_gva[NESTED_WORKER_MAX_VCPUS];
};

/*
 * Add nr_vcpus vCPUs that run commands in L1.  Returns once each has
 * touched its code, stack, command page and page list and run one empty
 * command, so that page counts taken afterwards move only for the memory
 * the commands touch.
 */
struct l1_worker *l1_worker_create(struct kvm_vm *vm, int nr_vcpus);
void l1_worker_free(struct l1_worker *w);
/* Run one vCPU through one command. */
void l1_worker_run(struct l1_worker *w, int vcpu, const struct l2_cmd *cmd);
/* A command over [gva, gva + nr_pages pages), a contiguous slice per vCPU. */
void l1_worker_run_all(struct l1_worker *w, enum l2_op op, gva_t gva, uint64_t nr_pages,
		       uint64_t tag);
/* cmds[i] on vCPU i, all at once (a host thread each). */
void l1_worker_run_parallel(struct l1_worker *w, const struct l2_cmd *cmds);
/* The page list buffer of a vCPU (L2_OP_WRITE_LIST). */
uint32_t *l1_worker_list(struct l1_worker *w, int vcpu);

#endif /* SELFTEST_X86_L1_WORKER_H */
