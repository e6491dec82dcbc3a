// SPDX-License-Identifier: GPL-2.0
/* Host-driven L2 workers: L1 relays, L2 executes memory commands. */

#include "ucall.h"
#include "x86_64/nested_worker.h"

#define L2_CHUNK_PAGES	512	/* an l2_call() to L1 every 2M of work */

/* The commands, in L2 (or, with in_l1, in L1 itself: no L1 to return to). */
static void worker_exec(struct l2_cmd *c, bool in_l1)
{
	uint32_t *list = (uint32_t *)c->list;
	uint64_t i, page, done = 0, next = 0;

	c->calls = 0;
	for (i = 0; ; i++) {
		if (c->op == L2_OP_WRITE_LIST) {
			if (i >= c->list_len)
				break;
			page = list[i];
		} else {
			if (i >= c->nr_pages || c->op == L2_OP_NOP)
				break;
			page = c->first + i;
		}
		volatile uint64_t *p = (volatile uint64_t *)(c->gva + page * SZ_4K);

		if (c->op == L2_OP_CHECK)
			GUEST_ASSERT_MSG(*p == l2_page_value(c->tag, page),
					 "page %lu at GVA 0x%lx: expected 0x%lx, found 0x%lx",
					 page, (uint64_t)p, l2_page_value(c->tag, page), *p);
		else if (c->op != L2_OP_ACCESS)
			*p = l2_page_value(c->tag, page);
		else if (next < c->list_len && list[next] == page)
			*p = l2_page_value(c->tag, list[next++]);
		else
			(void)*p;

		/* Exits to L1 along the way: L1 must resume L2 where it was. */
		if (!in_l1 && ++done % L2_CHUNK_PAGES == 0) {
			l2_call(done);
			c->calls++;
		}
	}
}

/*
 * Writes in a loop, each published (x86 keeps stores in order, so the host
 * that reads seq = k also finds write k in memory); a ucall per batch lets
 * the host thread run and the emulators switch vCPUs.
 */
static void l2_write_loop(struct l2_cmd *c)
{
	volatile struct l2_cmd *vc = c;
	uint64_t k = vc->seq, n = 0;

	while (!vc->stop) {
		k++;
		*(volatile uint64_t *)(c->gva + (c->first + k % c->nr_pages) * SZ_4K) = c->tag ^ k;
		vc->seq = k;
		if (++n % NESTED_WORKER_LOOP_BATCH == 0)
			GUEST_SYNC(1);
	}
}

/*
 * The command loop, in L2 (or, with in_l1, in L1 itself).  First fault in
 * everything it will use, the page lists included, so that later page
 * counts only move for test memory.
 */
static void worker_loop(struct l2_cmd *c, gva_t warm, gva_t list, bool in_l1)
{
	uint64_t off;

	*(volatile uint64_t *)warm = 1;
	for (off = 0; off < NESTED_WORKER_LIST_MAX * sizeof(uint32_t); off += SZ_4K)
		(void)*(volatile uint64_t *)(list + off);
	if (!in_l1)
		l2_call(0);
	for (;;) {
		GUEST_SYNC(0);
		if (c->op == L2_OP_WRITE_LOOP)
			l2_write_loop(c);
		else
			worker_exec(c, in_l1);
	}
}

static void l2_worker(struct l2_cmd *c, gva_t warm, gva_t list)
{
	worker_loop(c, warm, list, false);
}

/* The TDP MMU counterpart: L1 runs the commands itself, no L2. */
static void l1_only_worker(struct l2_cmd *c, gva_t warm, gva_t list)
{
	worker_loop(c, warm, list, true);
}

static void l1_worker(struct nested_state *s, struct l2_cmd *c, gva_t warm, gva_t list)
{
	nested_l1_init(s);
	nested_l2_start(s, l2_worker, 3, (uint64_t)c, warm, list);
	for (;;)
		nested_run_l2_call(s);
}

static struct nested_worker *worker_create(struct kvm_vm *vm, int nr_vcpus,
					   const unsigned int *roots, bool l1_only)
{
	struct nested_worker *w = calloc(1, sizeof(*w));
	uint64_t list_pages = NESTED_WORKER_LIST_MAX * sizeof(uint32_t) / SZ_4K;
	gpa_t cmds, warm;
	int i;

	TEST_ASSERT(w, "out of memory");
	TEST_ASSERT(nr_vcpus > 0 && nr_vcpus <= NESTED_WORKER_MAX_VCPUS,
		    "1 to %d worker vCPUs", NESTED_WORKER_MAX_VCPUS);
	w->vm = vm;
	w->nr_vcpus = nr_vcpus;
	w->l1_only = l1_only;
	cmds = vm_alloc_pages(vm, DIV_ROUND_UP(nr_vcpus * sizeof(struct l2_cmd), SZ_4K));
	w->cmds = addr_gpa2hva(vm, cmds);
	warm = vm_alloc_pages(vm, nr_vcpus);

	for (i = 0; i < nr_vcpus; i++) {
		struct kvm_vcpu *vcpu = vm_vcpu_add(vm, l1_only ? (void *)l1_only_worker :
							(void *)l1_worker);
		gpa_t list = vm_alloc_pages(vm, list_pages);
		gva_t cmd = direct_gva(cmds + i * sizeof(struct l2_cmd));

		w->vcpus[i] = vcpu;
		w->lists[i] = addr_gpa2hva(vm, list);
		w->lists_gva[i] = direct_gva(list);
		if (l1_only)
			vcpu_args_set(vcpu, 3, cmd, direct_gva(warm + i * SZ_4K), w->lists_gva[i]);
		else
			vcpu_args_set(vcpu, 4, nested_vcpu_setup(vcpu, roots ? roots[i] : 0), cmd,
				      direct_gva(warm + i * SZ_4K), w->lists_gva[i]);
	}
	for (i = 0; i < nr_vcpus; i++) {
		struct ucall uc;

		TEST_ASSERT_EQ(vcpu_run_ucall(w->vcpus[i], &uc), UCALL_SYNC,
			       "first ucall from the worker");
		/* Once more through the command path, on nothing. */
		nested_worker_run(w, i, &(struct l2_cmd){ .op = L2_OP_NOP });
	}
	return w;
}

struct nested_worker *nested_worker_create(struct kvm_vm *vm, int nr_vcpus,
					   const unsigned int *roots)
{
	return worker_create(vm, nr_vcpus, roots, false);
}

struct nested_worker *nested_worker_create_l1(struct kvm_vm *vm, int nr_vcpus)
{
	return worker_create(vm, nr_vcpus, NULL, true);
}

void nested_worker_free(struct nested_worker *w)
{
	free(w);
}

uint32_t *nested_worker_list(struct nested_worker *w, int vcpu)
{
	return w->lists[vcpu];
}

void nested_worker_run(struct nested_worker *w, int vcpu, const struct l2_cmd *cmd)
{
	struct l2_cmd *c = &w->cmds[vcpu];
	bool has_list = cmd->op == L2_OP_WRITE_LIST || cmd->op == L2_OP_ACCESS;
	struct ucall uc;

	TEST_ASSERT(!has_list || cmd->list_len <= NESTED_WORKER_LIST_MAX, "page list too long");
	*c = *cmd;
	if (has_list)
		c->list = w->lists_gva[vcpu];
	TEST_ASSERT_EQ(vcpu_run_ucall(w->vcpus[vcpu], &uc), UCALL_SYNC,
		       "ucall from the worker");
}

void nested_worker_run_all(struct nested_worker *w, enum l2_op op, gva_t gva,
			   uint64_t nr_pages, uint64_t tag)
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

		nested_worker_run(w, i, &c);
	}
}

uint64_t nested_worker_loop(struct nested_worker *w, int vcpu, const struct l2_cmd *cmd,
			    uint64_t max_batches)
{
	struct l2_cmd *c = &w->cmds[vcpu];
	uint64_t batches = 0;
	struct ucall uc;

	TEST_ASSERT(cmd->op == L2_OP_WRITE_LOOP && cmd->nr_pages,
		    "nested_worker_loop() takes an L2_OP_WRITE_LOOP over at least one page");
	*c = *cmd;
	for (;;) {
		TEST_ASSERT_EQ(vcpu_run_ucall(w->vcpus[vcpu], &uc), UCALL_SYNC,
			       "ucall from the L2 write loop");
		if (!uc.args[0])
			break;
		if (max_batches && ++batches == max_batches)
			nested_worker_loop_stop(w, vcpu);
	}
	return __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
}

void nested_worker_loop_stop(struct nested_worker *w, int vcpu)
{
	__atomic_store_n(&w->cmds[vcpu].stop, 1, __ATOMIC_RELEASE);
}

uint64_t nested_worker_loop_seq(struct nested_worker *w, int vcpu)
{
	return __atomic_load_n(&w->cmds[vcpu].seq, __ATOMIC_ACQUIRE);
}

struct worker_batch {
	struct nested_worker *w;
	const struct l2_cmd *cmds;
};

static void worker_batch_run(int i, void *arg)
{
	struct worker_batch *b = arg;

	nested_worker_run(b->w, i, &b->cmds[i]);
}

void nested_worker_run_parallel(struct nested_worker *w, const struct l2_cmd *cmds)
{
	struct worker_batch b = { w, cmds };

	run_threads(w->nr_vcpus, worker_batch_run, &b);
}
