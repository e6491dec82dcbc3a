// SPDX-License-Identifier: GPL-2.0
/*
 * Dirty logging of nested huge pages while L2 writes, as a migration does
 * it: vCPUs in L2 write slot A in a loop, each write carrying a sequence
 * number that L2 publishes after it, while the host toggles
 * KVM_MEM_LOG_DIRTY_PAGES on A, harvests its log (KVM_GET_DIRTY_LOG;
 * manual-protect with INITIALLY_SET: GET, then KVM_CLEAR_DIRTY_LOG word by
 * word), deletes logging slot B and moves logging slot C into B's place.
 *
 * Checks: every write L2 had completed before a harvest's GET was called
 * is reported by that harvest or by an earlier one of the same logging
 * period that had not returned before the write started; pages L2 never
 * writes are never reported (classic) or only by the first harvest
 * (INITIALLY_SET); the host finds L2's last write in every page; after
 * quiescing, the mapping counts are the model's (slot A all 4K; B's
 * mappings gone after the delete, C's old ones gone after the move); C's
 * log survives the move (pages L2 wrote to C just before it, unharvested,
 * are in the first GET after it); and L2 reading B's L2 range after the
 * move finds C's data, not B's.
 *
 * L2 never touches an L1 GPA without a memslot (that would be an MMIO
 * exit, not memory): it stops using B's range before B is deleted and
 * C's old range before C moves; after the move, B's range (L1's EPT/NPT
 * still maps it to B's old GPA) is C's new home.  KVM may zap every
 * mapping of the VM when a slot goes (KVM_X86_QUIRK_SLOT_ZAP_ALL, the
 * default) or only the slot's, so the counts around a delete or move are
 * compared between two states that the same re-warm (every vCPU through
 * the loop code, L2 writing every live view) produced after a deletion:
 * a control slot D that nothing maps is deleted first.  The "memslot zap
 * only" variant disables that quirk (6.12+), so that a deletion or move
 * goes through the zap of the slot's own rmaps and shadow pages.
 *
 * Before each ioctl the host waits until every writer made a batch of
 * writes since the last one (failing if one stalls) and, for up to 50 ms,
 * until each went once through all its pages: a page that a racing ioctl
 * left writable but clean is then written, unlogged, before the next GET.  The
 * writes made during the ioctls are counted and printed per phase.
 */
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include "x86_64/kvm_caps.h"
#include "x86_64/nested_mmu.h"
#include "variant.h"

#define SLOT_A		1
#define SLOT_B		2
#define SLOT_C		3
#define SLOT_D		4		/* the control deletion: never mapped */
#define GPA_A		(4ULL << 30)
#define GPA_B		(5ULL << 30)
#define GPA_C		(6ULL << 30)
#define GPA_D		(7ULL << 30)
#define SIZE_BC		(4ULL << 20)
#define SIZE_D		(64ULL << 10)
/* All views in one 1 GiB of L2 addresses: one L1 page-directory page for all. */
#define L2_GPA_A	(16ULL << 30)
#define L2_GPA_B	(L2_GPA_A + (256ULL << 20))
#define L2_GPA_C	(L2_GPA_A + (512ULL << 20))
/* The last 2M of A: no writer touches them. */
#define RESERVE_PAGES	512
#define WAIT_NS		(20ULL * 1000000000)
#define PASS_NS		(50ULL * 1000000)

/* Not in Debian 12's headers: since 6.12, a deletion may zap only its slot. */
#ifndef KVM_CAP_DISABLE_QUIRKS2
#define KVM_CAP_DISABLE_QUIRKS2		213
#endif
#ifndef KVM_X86_QUIRK_SLOT_ZAP_ALL
#define KVM_X86_QUIRK_SLOT_ZAP_ALL	(1 << 7)
#endif

struct variant {
	enum backing_type backing;
	bool manual;
	bool slot_zap;		/* KVM_X86_QUIRK_SLOT_ZAP_ALL off: deleting zaps the slot only */
};

static const struct variant variants[] = {
	{ .backing = BACKING_HUGETLB_2M },
	{ .backing = BACKING_HUGETLB_2M, .manual = true },
	{ .backing = BACKING_HUGETLB_2M, .slot_zap = true },
};

static uint64_t opt_toggles = 3;
static uint64_t opt_harvests = 12;

static bool parse_toggles(const char *arg)
{
	return !parse_uint(arg, 10000, &opt_toggles) && opt_toggles;
}

static bool parse_harvests(const char *arg)
{
	return !parse_uint(arg, 100000, &opt_harvests) && opt_harvests >= 2;
}

static struct nmmu_cli cli = {
	.about = "dirty logging stays exact while L2 writes and logging, memslots change",
	.b = { "size of slot A, which L2 writes in a loop", 16ULL << 20,
	       .min = 4ULL << 20, .max = 256ULL << 20 },
	.v = { "vCPUs writing in L2 at once", 2 },
	.verbose = "every harvest and page count change",
	.opts = (const struct nmmu_opt[]){
		{ 'i', "toggles", "logging on/off cycles while L2 writes (default 3, at most 10000)",
		  parse_toggles },
		{ 'g', "harvests", "harvests of the long GET phase (default 12, 2 to 100000)",
		  parse_harvests },
		{ 0 },
	},
};

/* The writers, the model of what they wrote, and the harvest bookkeeping. */
struct race {
	struct nmmu f;
	const struct variant *v;
	struct nmmu_slot *a, *b, *c;
	struct nmmu_view *va, *vb, *vc;
	int nr;				/* writer vCPUs */
	uint64_t slice;			/* pages per writer: writer i has [i * slice, (i + 1) * slice) */
	uint64_t tag[NESTED_WORKER_MAX_VCPUS];
	uint64_t seq[NESTED_WORKER_MAX_VCPUS];	/* the last write, while stopped */
	pthread_t tid[NESTED_WORKER_MAX_VCPUS];
	struct l2_cmd cmd[NESTED_WORKER_MAX_VCPUS];
	uint64_t end[NESTED_WORKER_MAX_VCPUS];
	bool running;
	gpa_t scratch;			/* a page per vCPU in slot 0: the loop's re-warm */

	/* The logging period of A. */
	bool logging;
	int harvest;			/* harvests since logging was enabled */
	uint64_t epoch[NESTED_WORKER_MAX_VCPUS];	/* L2's last write when enable returned */
	uint64_t *cover;		/* per page: the writer's seq when a harvest reporting it returned */
	uint64_t after[NESTED_WORKER_MAX_VCPUS];	/* the seqs after the last ioctl */
	unsigned long *buf;

	/* Overlap of L2's writes with the ioctls, per phase. */
	uint64_t between, during;
	int nr_ioctls;
	int full_passes;		/* ioctls after a full pass of every writer */
	uint64_t phase_ns;
	uint64_t next_tag;
	uint64_t tag_c;			/* L2's last write to C: tag ^ page */
};

static uint64_t seq_of(struct race *r, int i)
{
	return nested_worker_loop_seq(r->f.w, i);
}

static void seqs(struct race *r, uint64_t *s)
{
	int i;

	for (i = 0; i < r->nr; i++)
		s[i] = r->running ? seq_of(r, i) : r->seq[i];
}

/* The writer of page p of A, or -1 for the pages no writer touches. */
static int owner(struct race *r, uint64_t p)
{
	return p < r->nr * r->slice ? (int)(p / r->slice) : -1;
}

/* The last write numbered at most s that writer i made to page p, 0 if none. */
static uint64_t last_write(struct race *r, int i, uint64_t p, uint64_t s)
{
	uint64_t off = p - (uint64_t)i * r->slice;

	if (s < off)
		return 0;
	return s - (s - off) % r->slice;
}

struct writer_arg {
	struct race *r;
	int i;
};

static struct writer_arg writer_args[NESTED_WORKER_MAX_VCPUS];

static void *writer_fn(void *p)
{
	struct writer_arg *a = p;

	a->r->end[a->i] = nested_worker_loop(a->r->f.w, a->i, &a->r->cmd[a->i], 0);
	return NULL;
}

/* Wait until every writer has made min writes since s[]; a writer that stalls fails the phase. */
static void wait_writes(struct race *r, const uint64_t *s, uint64_t min, const char *phase)
{
	uint64_t deadline = now_ns() + WAIT_NS;
	int i;

	for (i = 0; i < r->nr; i++)
		while (seq_of(r, i) < s[i] + min) {
			TEST_ASSERT(now_ns() < deadline,
				    "%s: L2 on vCPU %d made %lu writes in %llu s, expected at least "
				    "%lu: the phase would race nothing", phase, i,
				    seq_of(r, i) - s[i], WAIT_NS / 1000000000, min);
			usleep(2000);
		}
}

/*
 * Before an ioctl: every writer made a batch of writes since the last one
 * (a writer that stalls fails the phase) and, for at most PASS_NS more,
 * went once through all its pages, so that a page an earlier ioctl left
 * writable but clean is written again before the next GET.
 */
static void wait_pass(struct race *r, const char *phase)
{
	uint64_t until;
	bool full = true;
	int i;

	wait_writes(r, r->after, NESTED_WORKER_LOOP_BATCH, phase);
	until = now_ns() + PASS_NS;
	for (i = 0; i < r->nr; i++) {
		while (seq_of(r, i) < r->after[i] + r->slice && now_ns() < until)
			usleep(2000);
		full &= seq_of(r, i) >= r->after[i] + r->slice;
	}
	r->full_passes += full;
}

static void writers_start(struct race *r, const char *phase)
{
	int i;

	for (i = 0; i < r->nr; i++) {
		r->cmd[i] = (struct l2_cmd){
			.op = L2_OP_WRITE_LOOP, .gva = r->va->gva, .first = i * r->slice,
			.nr_pages = r->slice, .tag = r->tag[i], .seq = r->seq[i],
		};
		/* nested_worker_loop() copies the command: no stop before it did. */
		r->f.w->cmds[i].seq = r->seq[i];
		writer_args[i] = (struct writer_arg){ r, i };
		TEST_ASSERT(!pthread_create(&r->tid[i], NULL, writer_fn, &writer_args[i]),
			    "pthread_create");
	}
	r->running = true;
	wait_writes(r, r->seq, 1, phase);
	seqs(r, r->after);
}

/* Stop the writers; the host's copy of A now holds their last writes. */
static void writers_stop(struct race *r)
{
	uint64_t p;
	int i;

	for (i = 0; i < r->nr; i++)
		nested_worker_loop_stop(r->f.w, i);
	for (i = 0; i < r->nr; i++)
		pthread_join(r->tid[i], NULL);
	r->running = false;
	for (p = 0; p < r->nr * r->slice; p++) {
		int o = owner(r, p);
		uint64_t k = last_write(r, o, p, r->end[o]);

		if (k > r->seq[o])
			r->a->expect[p] = r->tag[o] ^ k;
	}
	for (i = 0; i < r->nr; i++)
		r->seq[i] = r->end[i];
}

/* An ioctl while L2 writes: count the writes between it and the last one, and during it. */
static void ioctl_begin(struct race *r, uint64_t *before)
{
	int i;

	seqs(r, before);
	for (i = 0; i < r->nr; i++)
		r->between += before[i] - r->after[i];
}

static void ioctl_end(struct race *r, const uint64_t *before)
{
	int i;

	seqs(r, r->after);
	for (i = 0; i < r->nr; i++)
		r->during += r->after[i] - before[i];
	r->nr_ioctls++;
}

static void phase_begin(struct race *r)
{
	r->between = r->during = 0;
	r->nr_ioctls = r->full_passes = 0;
	r->phase_ns = now_ns();
	seqs(r, r->after);
}

static void phase_report(struct race *r, const char *phase)
{
	ksft_print_msg("%s: %d ioctls while L2 wrote (%d after a full pass): %lu writes "
		       "between them, %lu during them (%.2f s)\n", phase, r->nr_ioctls,
		       r->full_passes, r->between, r->during, (now_ns() - r->phase_ns) / 1e9);
}

static void log_enable(struct race *r, bool on)
{
	uint64_t before[NESTED_WORKER_MAX_VCPUS];

	if (r->running)
		wait_pass(r, on ? "enable" : "disable");
	ioctl_begin(r, before);
	if (on)
		vm_dirty_log_enable(r->f.vm, SLOT_A);
	else
		vm_dirty_log_disable(r->f.vm, SLOT_A);
	ioctl_end(r, before);
	r->logging = on;
	if (on) {
		/* Writes that started after enable returned must be logged. */
		memcpy(r->epoch, r->after, sizeof(r->epoch));
		memset(r->cover, 0, r->a->nr_pages * sizeof(*r->cover));
		r->harvest = 0;
	}
}

/*
 * One harvest of A: GET, and in manual-protect mode CLEAR of each non-empty
 * 64-page word, while L2 writes; then the checks against the writes L2 had
 * published before the GET.
 */
static void harvest(struct race *r, const char *phase)
{
	uint64_t before[NESTED_WORKER_MAX_VCPUS], p;
	uint64_t nr_pages = r->a->nr_pages, words = DIV_ROUND_UP(nr_pages, 64), w, n = 0;
	bool first = !r->harvest++;

	if (r->running)
		wait_pass(r, phase);
	ioctl_begin(r, before);
	vm_dirty_log_get(r->f.vm, SLOT_A, r->buf);
	if (r->v->manual) {
		for (w = 0; w < words; w++) {
			uint64_t first_page = w * 64;

			if (!r->buf[w])
				continue;
			vm_dirty_log_clear(r->f.vm, SLOT_A, &r->buf[w], first_page,
					   (uint32_t)(nr_pages - first_page < 64 ?
						      nr_pages - first_page : 64));
		}
	}
	ioctl_end(r, before);

	for (p = 0; p < nr_pages; p++) {
		bool dirty = bitmap_test(r->buf, p);
		int o = owner(r, p);
		uint64_t k;

		n += dirty;
		if (o < 0) {
			/* INITIALLY_SET: every page is dirty until its first CLEAR. */
			bool expect = r->v->manual && first;

			TEST_ASSERT(dirty == expect,
				    "%s, harvest %d: page %lu of slot A, which L2 never writes: "
				    "expected %s, found %s", phase, r->harvest, p,
				    expect ? "dirty (INITIALLY_SET)" : "clean",
				    dirty ? "dirty" : "clean");
			continue;
		}
		if (dirty)
			r->cover[p] = r->after[o];
		k = last_write(r, o, p, before[o]);
		/*
		 * Write k finished before GET was called.  A harvest that
		 * reported the page covers it unless it returned before write
		 * k started, i.e. when L2 had not even finished write k - 1.
		 */
		if (k && k >= r->epoch[o] + 2)
			TEST_ASSERT(r->cover[p] + 1 >= k,
				    "%s, harvest %d: page %lu of slot A: L2 (vCPU %d) completed "
				    "write %lu (0x%lx) to it before KVM_GET_DIRTY_LOG was called; "
				    "expected the page dirty in this harvest or one since logging "
				    "was enabled that returned after write %lu, found it %s",
				    phase, r->harvest, p, o, k, r->tag[o] ^ k, k - 1,
				    r->cover[p] ? "last reported when L2 had completed only an "
				    "earlier write" : "never reported");
	}
	pr_debug("%s, harvest %d: %lu pages dirty\n", phase, r->harvest, n);
}

/* Every page of A holds L2's last write to it. */
static void assert_content(struct race *r, const char *phase)
{
	uint64_t p;

	for (p = 0; p < r->a->nr_pages; p++) {
		uint64_t found = *(uint64_t *)(r->a->hva + p * SZ_4K);

		TEST_ASSERT(found == r->a->expect[p],
			    "%s: page %lu of slot A: expected 0x%lx (L2's last write) on the "
			    "host, found 0x%lx", phase, p, r->a->expect[p], found);
	}
}

/* Harvest whatever is left once L2 stopped, so that the fixture's log check starts clean. */
static void quiesce(struct race *r, const char *phase)
{
	writers_stop(r);
	assert_content(r, phase);
	if (r->logging)
		harvest(r, phase);
	phase_report(r, phase);
}

static int memslot_ioctl(struct kvm_vm *vm, struct vm_memslot *s, gpa_t gpa, uint64_t size)
{
	struct kvm_userspace_memory_region region = {
		.slot = s->slot, .flags = s->flags, .guest_phys_addr = gpa,
		.memory_size = size, .userspace_addr = (uintptr_t)s->hva,
	};

	return __vm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) ? -errno : 0;
}

/* Delete a memslot and unmap its memory, as a VMM does. */
static void memslot_delete(struct kvm_vm *vm, uint32_t id)
{
	struct vm_memslot *s = vm_memslot(vm, id);
	int ret = memslot_ioctl(vm, s, s->gpa, 0);

	TEST_ASSERT(!ret, "deleting memslot %u: %s", id, strerror(-ret));
	vm->slots[id] = NULL;
	munmap(s->mmap_start, s->mmap_size);
	free(s);
}

static void memslot_move(struct kvm_vm *vm, uint32_t id, gpa_t gpa)
{
	struct vm_memslot *s = vm_memslot(vm, id);
	int ret = memslot_ioctl(vm, s, gpa, s->size);

	TEST_ASSERT(!ret, "moving memslot %u from GPA 0x%lx to 0x%lx: %s", id, s->gpa, gpa,
		    strerror(-ret));
	s->gpa = gpa;
}

/*
 * The same L2 and L1 accesses before and after a slot goes, so that the
 * counts compare whatever KVM zapped: each vCPU through the loop code, L2
 * writing every live view (L1 runs at its calls).
 */
static void loop_warm(struct race *r)
{
	int i;

	for (i = 0; i < r->nr; i++)
		nested_worker_loop(r->f.w, i, &(struct l2_cmd){
			.op = L2_OP_WRITE_LOOP, .gva = direct_gva(r->scratch + i * SZ_4K),
			.nr_pages = 1 }, 1);
}

static void rewarm(struct race *r, bool b, bool c)
{
	loop_warm(r);
	nmmu_write(&r->f, r->va, r->next_tag++ << 32);
	if (b)
		nmmu_write(&r->f, r->vb, r->next_tag++ << 32);
	if (c) {
		r->tag_c = r->next_tag++ << 32;
		nmmu_write(&r->f, r->vc, r->tag_c);
	}
}

/* The fixture's log check of A, then in manual-protect mode the CLEAR that re-arms it. */
static void assert_dirty(struct race *r, struct nmmu_slot *s, const char *phase)
{
	nmmu_assert_dirty(&r->f, s, phase, r->buf);
	if (r->v->manual)
		vm_dirty_log_clear(r->f.vm, s->id, r->buf, 0, (uint32_t)s->nr_pages);
}

/* Logging on B and C, split to 4K (at enable, or by a CLEAR of every page). */
static void enable_bc(struct race *r)
{
	struct nmmu_slot *s[2] = { r->b, r->c };
	struct nmmu_delta d = { 0 };
	int i;

	test_check("enable-bc");
	for (i = 0; i < 2; i++) {
		uint64_t n;

		vm_dirty_log_enable(r->f.vm, s[i]->id);
		vm_dirty_log_get(r->f.vm, s[i]->id, r->buf);
		n = bitmap_weight(r->buf, s[i]->nr_pages);
		TEST_ASSERT(n == (r->v->manual ? s[i]->nr_pages : 0),
			    "enable logging on slot %u: expected %lu pages dirty, found %lu",
			    s[i]->id, r->v->manual ? s[i]->nr_pages : 0, n);
		if (r->v->manual)
			vm_dirty_log_clear(r->f.vm, s[i]->id, r->buf, 0,
					   (uint32_t)s[i]->nr_pages);
	}
	nmmu_delta_view(&d, r->vb, -1);
	nmmu_delta_view(&d, r->vc, -1);
	nmmu_delta_maps(&d, SZ_4K, (int64_t)(r->b->nr_pages + r->c->nr_pages));
	nmmu_phase_end(&r->f, "enable logging on slots B and C", &d);
}

static void toggle_phase(struct race *r)
{
	uint64_t t, h;

	test_check("toggle");
	phase_begin(r);
	writers_start(r, "toggle");
	for (t = 0; t < opt_toggles; t++) {
		log_enable(r, true);
		for (h = 0; h < 4; h++)
			harvest(r, "toggle");
		log_enable(r, false);
	}
	writers_stop(r);
	assert_content(r, "toggle");
	phase_report(r, "toggle");
}

static void get_phase(struct race *r)
{
	struct nmmu_delta d = { 0 };
	uint64_t h;

	test_check("get");
	phase_begin(r);
	writers_start(r, "get");
	log_enable(r, true);
	for (h = 0; h < opt_harvests; h++)
		harvest(r, "get");
	quiesce(r, "get");

	/*
	 * Quiet now: L2 writes all of A once more; with logging on every page
	 * is a 4K mapping, whatever the races split, zapped or faulted.
	 */
	test_check("quiesce");
	nmmu_write(&r->f, r->va, r->next_tag++ << 32);
	nmmu_delta_view(&d, r->va, -1);
	nmmu_delta_maps(&d, SZ_4K, (int64_t)r->a->nr_pages);
	nmmu_phase_end(&r->f, "after the races, L2 wrote all of slot A", &d);
	assert_dirty(r, r->a, "after the races, L2 wrote all of slot A");
}

/* A state to compare with: a deletion of a slot nothing maps, then the re-warm. */
static void control_delete(struct race *r, bool b, bool c)
{
	vm_memslot_add(r->f.vm, SLOT_D, GPA_D, SIZE_D, BACKING_ANON_4K, 0);
	memslot_delete(r->f.vm, SLOT_D);
	rewarm(r, b, c);
	/* Not asserted: what a deletion zaps besides its slot is KVM's choice. */
	vm_page_stats(r->f.vm, &r->f.last);
	r->f.new_tables = 0;
}

static void delete_phase(struct race *r)
{
	struct nmmu_delta d = { 0 };
	uint64_t before[NESTED_WORKER_MAX_VCPUS];

	test_check("delete");
	control_delete(r, true, true);
	assert_dirty(r, r->a, "control deletion");
	assert_dirty(r, r->b, "control deletion");
	assert_dirty(r, r->c, "control deletion");

	phase_begin(r);
	writers_start(r, "delete");
	harvest(r, "delete");
	harvest(r, "delete");
	wait_pass(r, "delete");
	ioctl_begin(r, before);
	memslot_delete(r->f.vm, SLOT_B);
	ioctl_end(r, before);
	harvest(r, "delete");
	harvest(r, "delete");
	quiesce(r, "delete");

	rewarm(r, false, true);
	nmmu_delta_maps(&d, SZ_4K, -(int64_t)r->b->nr_pages);
	nmmu_phase_end(&r->f, "slot B deleted while L2 wrote A (after the re-warm)", &d);
	assert_dirty(r, r->a, "slot B deleted");
	assert_dirty(r, r->c, "slot B deleted");
}

static void move_phase(struct race *r)
{
	struct nmmu_delta d = { 0 };
	uint64_t before[NESTED_WORKER_MAX_VCPUS], tag, n, nr = 0;
	uint32_t pages[SIZE_BC / SZ_4K / 5 + 2];

	test_check("move");
	/*
	 * C's log carries over a move: L2 writes some pages of C (the values
	 * they hold already), and no GET reports them before C moves.
	 */
	for (n = 0; n < r->c->nr_pages; n += 5)
		pages[nr++] = (uint32_t)n;
	pages[nr++] = (uint32_t)(r->c->nr_pages - 1);
	nmmu_write_pages(&r->f, r->vc, pages, nr, r->tag_c);

	phase_begin(r);
	writers_start(r, "move");
	harvest(r, "move");
	harvest(r, "move");
	wait_pass(r, "move");
	ioctl_begin(r, before);
	memslot_move(r->f.vm, SLOT_C, GPA_B);
	ioctl_end(r, before);
	r->c->gpa = GPA_B;
	harvest(r, "move");
	harvest(r, "move");
	quiesce(r, "move");

	rewarm(r, false, false);
	nmmu_delta_maps(&d, SZ_4K, -(int64_t)r->c->nr_pages);
	nmmu_phase_end(&r->f, "slot C moved while L2 wrote A (after the re-warm)", &d);
	assert_dirty(r, r->a, "slot C moved");
	assert_dirty(r, r->c, "slot C moved: the pages L2 wrote to C before the move");

	/*
	 * B's L2 range now reaches C: L2 must read what it last wrote to C
	 * (not B's old data), then its writes there are C's dirty pages.
	 */
	test_check("moved");
	r->vb->slot = r->c;
	nmmu_check(&r->f, r->vb, r->tag_c);
	tag = r->next_tag++ << 32;
	nmmu_write(&r->f, r->vb, tag);
	d = (struct nmmu_delta){ 0 };
	nmmu_delta_maps(&d, SZ_4K, (int64_t)r->c->nr_pages);
	nmmu_phase_end(&r->f, "L2 read and wrote slot C at its new GPA", &d);
	assert_dirty(r, r->c, "L2 read and wrote slot C at its new GPA");
}

static void run_variant(void *arg)
{
	const struct variant *v = arg;
	struct nmmu_delta d = { 0 };
	struct race *r = calloc(1, sizeof(*r));
	int i;

	TEST_ASSERT(r, "out of memory");
	test_check("setup");
	if (v->manual)
		TEST_REQUIRE(kvm_has_manual_protect(true),
			     "KVM lacks KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 with INITIALLY_SET");
	if (v->slot_zap)
		TEST_REQUIRE(kvm_check_cap(KVM_CAP_DISABLE_QUIRKS2) & KVM_X86_QUIRK_SLOT_ZAP_ALL,
			     "KVM always zaps every mapping when a memslot goes "
			     "(KVM_X86_QUIRK_SLOT_ZAP_ALL cannot be disabled before 6.12)");
	/* Eager splits at enable and CLEAR are part of what races: set it, never inherit it. */
	kvm_param_require("kvm", "eager_page_split", "Y", true);

	r->v = v;
	r->nr = cli.v.nr;
	nmmu_create(&r->f);
	if (v->manual)
		vm_manual_protect_enable(r->f.vm, true);
	if (v->slot_zap) {
		int ret = vm_enable_cap(r->f.vm, KVM_CAP_DISABLE_QUIRKS2,
					KVM_X86_QUIRK_SLOT_ZAP_ALL);

		TEST_ASSERT(!ret, "disabling KVM_X86_QUIRK_SLOT_ZAP_ALL: %s", strerror(-ret));
	}
	r->a = nmmu_slot_require(&r->f, SLOT_A, GPA_A, cli.b.size, v->backing);
	r->b = nmmu_slot_require(&r->f, SLOT_B, GPA_B, SIZE_BC, BACKING_HUGETLB_2M);
	r->c = nmmu_slot_require(&r->f, SLOT_C, GPA_C, SIZE_BC, BACKING_HUGETLB_2M);
	r->va = nmmu_view_add(&r->f, r->a, 0, L2_GPA_A, TDP_2M);
	r->vb = nmmu_view_add(&r->f, r->b, 0, L2_GPA_B, TDP_2M);
	r->vc = nmmu_view_add(&r->f, r->c, 0, L2_GPA_C, TDP_2M);
	r->scratch = vm_alloc_pages(r->f.vm, r->nr);
	r->slice = (r->a->nr_pages - RESERVE_PAGES) / r->nr;
	r->cover = calloc(r->a->nr_pages, sizeof(*r->cover));
	r->buf = bitmap_zalloc(r->a->nr_pages);
	TEST_ASSERT(r->cover, "out of memory");
	for (i = 0; i < r->nr; i++)
		r->tag[i] = (0xace0ULL + (uint64_t)i) << 44;
	r->next_tag = 1;
	nmmu_start(&r->f, r->nr, NULL);
	/* The loop's code too is mapped before the baseline, as nmmu_start() does for the rest. */
	loop_warm(r);
	vm_page_stats(r->f.vm, &r->f.last);
	r->f.new_tables = 0;

	test_check("populate");
	nmmu_write(&r->f, r->va, r->next_tag++ << 32);
	nmmu_write(&r->f, r->vb, r->next_tag++ << 32);
	r->tag_c = r->next_tag++ << 32;
	nmmu_write(&r->f, r->vc, r->tag_c);
	nmmu_delta_view(&d, r->va, 1);
	nmmu_delta_view(&d, r->vb, 1);
	nmmu_delta_view(&d, r->vc, 1);
	nmmu_phase_end(&r->f, "populate slots A, B and C", &d);

	enable_bc(r);
	toggle_phase(r);
	get_phase(r);
	delete_phase(r);
	move_phase(r);

	free(r->cover);
	free(r->buf);
	nmmu_free(&r->f);
	free(r);
}

static void require(void)
{
	nested_require(false);
	ksft_print_msg("%d vCPUs writing a %lu MiB slot in L2, %lu logging toggles, %lu harvests\n",
		       cli.v.nr, cli.b.size >> 20, opt_toggles, opt_harvests);
}

static void variant_name(const void *p, char *buf, size_t len)
{
	const struct variant *v = p;

	snprintf(buf, len, "%s %s 2M leaf %d vCPU%s %s%s",
		 nested_vendor_name(kvm_nested_vendor()), backing_name(v->backing),
		 cli.v.nr, cli.v.nr == 1 ? "" : "s", v->manual ? "manual-protect" : "classic",
		 v->slot_zap ? " memslot zap only" : "");
}

int main(int argc, char *argv[])
{
	return nmmu_main(&cli, &NMMU_TABLE(variants, .require = require, .name = variant_name,
					   .run = run_variant), argc, argv);
}
