// SPDX-License-Identifier: GPL-2.0
/* Host-driven L1 workers: the vCPU itself executes memory commands. */

#include "ucall.h"
#include "x86_64/l1_worker.h"

/* Guest side (L1). */

static void l1_worker_exec(struct l2_cmd *c)
{
	uint32_t *list = (uint32_t *)c->list;
	uint64_t i, page;

	c->calls = 0;
	for (i = 0; ; i++) {
		if (c->op == L2_OP_WRITE_LIST) {
			if (i >= c->list_len)
				break;
			page = list[i];
		} else {
			if (c->op == L2_OP_NOP || i >= c->nr_pages)
				break;
			page = c->first + i;
		}
		volatile uint64_t *p = (volatile uint64_t *)(c->gva + page * SZ_4K);

		if (c->op == L2_OP_CHECK)
			GUEST_ASSERT_MSG(*p == l2_page_value(c->tag, page),
					 "L1: page %lu at GVA 0x%lx: expected 0x%lx, found 0x%lx",
					 page, (uint64_t)p, l2_page_value(c->tag, page), *p);
		else
			*p = l2_page_value(c->tag, page);
	}
}

static void l1_worker_main(struct l2_cmd *c, gva_t warm, gva_t list)
{
	uint64_t off;

	/* Map the code, stack and page list before the first command. */
	*(volatile uint64_t *)warm = 1;
	for (off = 0; off < NESTED_WORKER_LIST_MAX * sizeof(uint32_t); off += SZ_4K)
		(void)*(volatile uint64_t *)(list + off);
	for (;;) {
		GUEST_SYNC(0);
		l1_worker_exec(c);
	}
}

/* Host side. */

struct l1_worker *l1_worker_create(struct kvm_vm *vm, int nr_vcpus)
{
	struct l1_worker *w = calloc(1, sizeof(*w));
	uint64_t list_pages = NESTED_WORKER_LIST_MAX * sizeof(uint32_t) / SZ_4K;
	gpa_t cmds, warm;
	int i;

	TEST_ASSERT(w, "out of memory");
	TEST_ASSERT(nr_vcpus > 0 && nr_vcpus <= NESTED_WORKER_MAX_VCPUS,
		    "1 to %d worker vCPUs", NESTED_WORKER_MAX_VCPUS);
	w->vm = vm;
	w->nr_vcpus = nr_vcpus;
	cmds = vm_alloc_pages(vm, DIV_ROUND_UP(nr_vcpus * sizeof(struct l2_cmd), SZ_4K));
	w->cmds = addr_gpa2hva(vm, cmds);
	warm = vm_alloc_pages(vm, nr_vcpus);

	for (i = 0; i < nr_vcpus; i++) {
		struct kvm_vcpu *vcpu = vm_vcpu_add(vm, l1_worker_main);
		gpa_t list = vm_alloc_pages(vm, list_pages);

		w->vcpus[i] = vcpu;
		w->lists[i] = addr_gpa2hva(vm, list);
		w->lists_gva[i] = direct_gva(list);
		vcpu_args_set(vcpu, 3, direct_gva(cmds + i * sizeof(struct l2_cmd)),
			      direct_gva(warm + i * SZ_4K), w->lists_gva[i]);
	}
	for (i = 0; i < nr_vcpus; i++) {
		struct ucall uc;

		TEST_ASSERT_EQ(vcpu_run_ucall(w->vcpus[i], &uc), UCALL_SYNC,
			       "first ucall from the L1 worker");
		/* Once more through the command path, on nothing. */
		l1_worker_run(w, i, &(struct l2_cmd){ .op = L2_OP_NOP });
	}
	return w;
}

void l1_worker_free(struct l1_worker *w)
{
	free(w);
}

uint32_t *l1_worker_list(struct l1_worker *w, int vcpu)
{
	return w->lists[vcpu];
}

void l1_worker_run(struct l1_worker *w, int vcpu, const struct l2_cmd *cmd)
{
	struct l2_cmd *c = &w->cmds[vcpu];
	struct ucall uc;

	TEST_ASSERT(cmd->op != L2_OP_WRITE_LIST || cmd->list_len <= NESTED_WORKER_LIST_MAX,
		    "page list too long");
	*c = *cmd;
	if (c->op == L2_OP_WRITE_LIST)
		c->list = w->lists_gva[vcpu];
	TEST_ASSERT_EQ(vcpu_run_ucall(w->vcpus[vcpu], &uc), UCALL_SYNC,
		       "ucall from the L1 worker");
}

void l1_worker_run_all(struct l1_worker *w, enum l2_op op, gva_t gva, uint64_t nr_pages,
		       uint64_t tag)
{
	uint64_t slice = DIV_ROUND_UP(nr_pages, w->nr_vcpus);
	int i;

	for (i = 0; i < w->nr_vcpus; i++) {
		uint64_t first = (uint64_t)i * slice;
		struct l2_cmd c = {
			.op = op, .gva = gva, .tag = tag, .first = first,
			.nr_pages = first >= nr_pages ? 0 :
				    (nr_pages - first < slice ? nr_pages - first : slice),
		};

		l1_worker_run(w, i, &c);
	}
}

struct l1_batch {
	struct l1_worker *w;
	const struct l2_cmd *cmds;
};

static void l1_batch_run(int i, void *arg)
{
	struct l1_batch *b = arg;

	l1_worker_run(b->w, i, &b->cmds[i]);
}

void l1_worker_run_parallel(struct l1_worker *w, const struct l2_cmd *cmds)
{
	struct l1_batch b = { w, cmds };

	run_threads(w->nr_vcpus, l1_batch_run, &b);
}
