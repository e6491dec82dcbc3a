// SPDX-License-Identifier: GPL-2.0
/*
 * A nested dirty-logging benchmark that explains its numbers.  N vCPUs run
 * in L2 (or, with -L, in L1 as the TDP MMU reference), each writing its own
 * region of one huge-backed memslot, through the phases of a dirty-logging
 * migration: populate, enable logging, passes of writes with GET (and
 * CLEAR in manual-protect mode) after each, disable logging, and a last
 * pass in which the huge mappings come back.  Every phase is timed and
 * comes with what explains its time: the change of the VM's pages_4k,
 * pages_2m and pages_1g, the vCPUs' page faults, and, where tracefs has
 * kvmmmu:kvm_mmu_split_huge_page, the huge pages split and the mmu_lock
 * drops to top up the split caches (-EAGAIN).
 *
 * Never a timed test: a run fails only when KVM misbehaves (a write the
 * dirty log lost), never because of its speed.  Results are KTAP
 * diagnostics, one "bench-json:" line per run for scripts/bench.sh.
 */
#include <getopt.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "dirty_log.h"
#include "knobs.h"
#include "kvm_util.h"
#include "stats.h"
#include "tracefs.h"
#include "ucall.h"
#include "variant.h"
#include "x86_64/kvm_caps.h"
#include "x86_64/nested_worker.h"
#include "x86_64/processor.h"

#define SLOT		1
#define SLOT_GPA	(4ULL << 30)	/* with -L; in L2 the top of L1's memory */
#define L2_GPA_BASE	(16ULL << 30)	/* alias j at + j * the slot size rounded to 1G */
#define MAX_ALIASES	4
/* Every vCPU's seed + index stays a non-zero state of the 2^31 - 1 generator. */
#define MAX_SEED	2147483000
#define MAX_ITERATIONS	64
#define MAX_PHASES	(4 + 3 * MAX_ITERATIONS)
#define MAX_VCPUS	NESTED_WORKER_MAX_VCPUS

#define SPLIT_EVENT_SYSTEM	"kvmmmu"
#define SPLIT_EVENT		"kvm_mmu_split_huge_page"

enum eager_mode { EAGER_ON, EAGER_OFF, EAGER_BOTH };

struct bench_opts {
	uint64_t mem_per_vcpu;
	int nr_vcpus;
	enum backing_type backing;
	enum tdp_level leaf;
	uint64_t write_percent;
	uint64_t iterations;
	bool manual;		/* manual-protect: GET, then CLEAR */
	uint64_t clear_chunk;	/* pages per KVM_CLEAR_DIRTY_LOG, 0: whole slot */
	enum eager_mode eager;
	uint64_t aliases;	/* L2 ranges mapping the slot */
	bool in_l1;		/* TDP MMU reference: the vCPUs write from L1 */
	bool trace;
	bool ept_ad;		/* VMX: A/D bits in L1's EPT pointer, if KVM offers them */
	uint64_t seed;
	const char *json_path;
};

static struct bench_opts opt = {
	.mem_per_vcpu = 64ULL << 20,
	.nr_vcpus = 1,
	.backing = BACKING_HUGETLB_2M,
	.leaf = TDP_1G,
	.write_percent = 100,
	.iterations = 2,
	.eager = EAGER_BOTH,
	.aliases = 1,
	.trace = true,
	.ept_ad = true,
	.seed = 1,
};

/* What one phase cost and what explains it. */
struct phase {
	char name[16];
	double seconds;
	int64_t d4k, d2m, d1g;		/* VM-wide leaf mappings (both MMUs) */
	bool traced;
	uint64_t split_ok[4];		/* successful splits by level of the huge SPTE */
	uint64_t split_eagain;		/* mmu_lock dropped to top up the caches */
	uint64_t split_failed;		/* other errors (-ENOMEM ...) */
	uint64_t trace_lost;
	uint64_t pf_taken, pf_fixed;	/* summed over the vCPUs */
	uint64_t pages_written;		/* passes: pages the vCPUs wrote */
	uint64_t pages_dirty;		/* GET: pages the log reported */
	uint64_t pages_read_dirty;	/* GET: of those, pages the pass only read */
};

/* One run's results, in memory shared with the parent for the ratios. */
struct run_result {
	bool done;
	bool eager;
	bool ept_ad;			/* L1's EPTP had A/D bits on */
	uint64_t slot_gpa;		/* the slot's L1 GPA */
	int nr_phases;
	struct phase phases[MAX_PHASES];
	double floor_write_s;		/* per 2M split: 8 KiB of stores */
	double floor_alloc_s;		/* the same into a freshly faulted page */
};

/* Host side. */

struct bench {
	struct kvm_vm *vm;
	bool ept_ad;
	int nr_vcpus;
	uint64_t size;			/* the slot */
	uint64_t pages_per_vcpu;
	gva_t gva[MAX_ALIASES];		/* where the vCPUs see the slot */
	struct nested_worker *w;	/* in L2, or with -L in L1 itself */
	struct kvm_stats vstats[MAX_VCPUS];
	bool has_pf_stats;
	struct trace_instance *ti;
	unsigned long *dirty, *written;
	uint32_t rng[MAX_VCPUS];	/* each vCPU's written-page draw */
	gpa_t slot_gpa;
};

static uint32_t *bench_list(struct bench *b, int vcpu)
{
	return nested_worker_list(b->w, vcpu);
}

/* All vCPUs at once, one host thread each; returns when all are done. */
static void run_parallel(struct bench *b, const struct l2_cmd *cmds)
{
	nested_worker_run_parallel(b->w, cmds);
}

static void vcpu_stats_open(struct bench *b)
{
	const char *why;
	uint64_t v;
	int i, fd, ret;

	b->has_pf_stats = true;
	for (i = 0; i < b->nr_vcpus; i++) {
		struct kvm_vcpu *vcpu = b->w->vcpus[i];

		fd = ioctl(vcpu->fd, KVM_GET_STATS_FD, NULL);
		TEST_REQUIRE(fd >= 0, "vCPU KVM_GET_STATS_FD is not supported (Linux 5.14+): %s",
			     strerror(errno));
		ret = kvm_stats_parse(fd, &b->vstats[i], &why);
		TEST_ASSERT(!ret, "vCPU %d stats fd is malformed: %s", i,
			    why ? why : strerror(-ret));
		if (__kvm_stats_read(&b->vstats[i], "pf_taken", &v) ||
		    __kvm_stats_read(&b->vstats[i], "pf_fixed", &v))
			b->has_pf_stats = false;
	}
}

static void vcpu_stats_sum(struct bench *b, uint64_t *taken, uint64_t *fixed)
{
	uint64_t v;
	int i;

	*taken = *fixed = 0;
	if (!b->has_pf_stats)
		return;
	for (i = 0; i < b->nr_vcpus; i++) {
		TEST_ASSERT(!__kvm_stats_read(&b->vstats[i], "pf_taken", &v),
			    "reading pf_taken of vCPU %d", i);
		*taken += v;
		TEST_ASSERT(!__kvm_stats_read(&b->vstats[i], "pf_fixed", &v),
			    "reading pf_fixed of vCPU %d", i);
		*fixed += v;
	}
}

static void split_event(const char *fields, void *arg)
{
	struct phase *p = arg;
	unsigned long long gfn, spte;
	int level, err;

	TEST_ASSERT(sscanf(fields, "gfn %llx spte %llx level %d errno %d", &gfn, &spte,
			   &level, &err) == 4 && level >= 1 && level <= 3,
		    "phase %s: cannot parse the %s event '%s'", p->name, SPLIT_EVENT, fields);
	if (!err)
		p->split_ok[level]++;
	else if (err == -EAGAIN)
		p->split_eagain++;
	else
		p->split_failed++;
}

/* Bracket a phase: counters before, timer around the body, counters after. */
struct phase_mark {
	struct page_stats ps;
	uint64_t pf_taken, pf_fixed;
	uint64_t t0;
};

static struct phase *phase_begin(struct bench *b, struct run_result *r, const char *name,
				 struct phase_mark *m)
{
	struct phase *p;

	TEST_ASSERT(r->nr_phases < MAX_PHASES, "too many phases");
	p = &r->phases[r->nr_phases++];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	vm_page_stats(b->vm, &m->ps);
	vcpu_stats_sum(b, &m->pf_taken, &m->pf_fixed);
	if (b->ti)
		TEST_ASSERT(!__trace_clear(b->ti) && !__trace_set_on(b->ti, true),
			    "phase %s: starting the trace instance", name);
	m->t0 = now_ns();
	return p;
}

static void phase_end(struct bench *b, struct phase *p, const struct phase_mark *m)
{
	uint64_t t1 = now_ns(), taken, fixed;
	struct page_stats ps;
	long n;

	p->seconds = (double)(t1 - m->t0) / 1e9;
	if (b->ti) {
		TEST_ASSERT(!__trace_set_on(b->ti, false), "phase %s: stopping the trace", p->name);
		n = __trace_for_each(b->ti, SPLIT_EVENT, split_event, p, &p->trace_lost);
		TEST_ASSERT(n >= 0, "phase %s: reading the trace: %s", p->name, strerror((int)-n));
		p->traced = true;
	}
	vm_page_stats(b->vm, &ps);
	vcpu_stats_sum(b, &taken, &fixed);
	p->d4k = (int64_t)(ps.pages_4k - m->ps.pages_4k);
	p->d2m = (int64_t)(ps.pages_2m - m->ps.pages_2m);
	p->d1g = (int64_t)(ps.pages_1g - m->ps.pages_1g);
	p->pf_taken = taken - m->pf_taken;
	p->pf_fixed = fixed - m->pf_fixed;
}

/*
 * The written-page draw of upstream's memstress guest, so that the two
 * tools write the same pages: per vCPU, a Park-Miller "minimal standard"
 * generator (multiplier 48271, modulus 2^31 - 1) seeded with seed + the
 * vCPU's index, one draw per page of the vCPU's region in address order
 * in every pass, populate (which writes everything) included; a page is
 * written when its draw modulo 100 is below write_percent.
 */
static uint32_t minstd(uint32_t *s)
{
	*s = (uint32_t)((uint64_t)*s * 48271 % 0x7fffffffU);
	return *s;
}

/*
 * The commands of one pass, the access pattern of upstream's memstress
 * guest: each vCPU touches every page of its region in address order,
 * writing the pages the draw picks and reading the others.  The reads
 * matter: without eager split, the first write into a huge mapping drops
 * it, and every later access to the rest of that 2M range, read or
 * write, then faults in a 4K map.  @draw is false for the aliases after
 * the first in populate: the peer has one pass there, not one per alias.
 */
static uint64_t pass_cmds(struct bench *b, uint64_t pass, uint64_t percent, int alias,
			  bool draw, struct l2_cmd *cmds)
{
	uint64_t total = 0, i, first, n;
	int c;

	for (c = 0; c < b->nr_vcpus; c++) {
		uint32_t *list = bench_list(b, c);

		first = (uint64_t)c * b->pages_per_vcpu;
		cmds[c] = (struct l2_cmd){ .gva = b->gva[alias], .tag = pass << 32,
					   .first = first, .nr_pages = b->pages_per_vcpu };
		if (percent >= 100) {
			/* Every page is written; the peer still draws for each. */
			for (i = 0; draw && i < b->pages_per_vcpu; i++)
				minstd(&b->rng[c]);
			cmds[c].op = L2_OP_WRITE;
			bitmap_fill_range(b->written, first, b->pages_per_vcpu);
			total += b->pages_per_vcpu;
			continue;
		}
		n = 0;
		for (i = 0; i < b->pages_per_vcpu; i++) {
			if (minstd(&b->rng[c]) % 100 >= percent)
				continue;
			list[n++] = (uint32_t)(first + i);
			bitmap_set_bit(b->written, first + i);
		}
		cmds[c].op = L2_OP_ACCESS;
		cmds[c].list_len = n;
		total += n;
	}
	return total;
}

static void run_pass(struct bench *b, struct run_result *r, const char *name, uint64_t pass,
		     uint64_t percent, int alias)
{
	struct l2_cmd cmds[MAX_VCPUS];
	struct phase_mark m;
	struct phase *p;
	uint64_t n;

	bitmap_zero_all(b->written, b->size / SZ_4K);
	n = pass_cmds(b, pass, percent, alias, true, cmds);
	p = phase_begin(b, r, name, &m);
	run_parallel(b, cmds);
	phase_end(b, p, &m);
	p->pages_written = n;
}

/*
 * Harvest after pass it: GET, and in manual-protect mode CLEAR of what GET
 * reported.  Every page written since the last harvest must be in the
 * dirty log (nothing else writes the slot), and in the first manual
 * harvest every page: KVM_DIRTY_LOG_INITIALLY_SET.  A page the pass only
 * read may be reported too: when a read fault maps a page writable, KVM
 * marks it dirty right away (make_spte(), to spare the write fault that
 * would follow), which the shadow MMU does for the 4K maps it creates
 * after dropping a huge SPTE.  Those are counted, not failed.
 */
static void harvest(struct bench *b, struct run_result *r, uint64_t it)
{
	uint64_t nr_pages = b->size / SZ_4K, chunk, first, lost;
	struct dirty_diff diff;
	struct phase_mark m;
	struct phase *p;
	char name[16];

	snprintf(name, sizeof(name), "get_%lu", it);
	p = phase_begin(b, r, name, &m);
	vm_dirty_log_get(b->vm, SLOT, b->dirty);
	phase_end(b, p, &m);
	p->pages_dirty = bitmap_weight(b->dirty, nr_pages);

	if (opt.manual && it == 1)
		bitmap_fill_range(b->written, 0, nr_pages);
	dirty_diff(b->dirty, b->written, nr_pages, &diff);
	for (lost = 0; diff.missing && lost < nr_pages; lost++)
		if (bitmap_test(b->written, lost) && !bitmap_test(b->dirty, lost))
			break;
	TEST_ASSERT(!diff.missing,
		    "check dirty-log: after pass %lu, of %lu pages written, %lu are not in the "
		    "log (the first: page %lu)",
		    it, bitmap_weight(b->written, nr_pages), diff.missing, lost);
	p->pages_read_dirty = diff.extra;

	if (!opt.manual)
		return;
	snprintf(name, sizeof(name), "clear_%lu", it);
	chunk = opt.clear_chunk ? opt.clear_chunk : nr_pages;
	p = phase_begin(b, r, name, &m);
	for (first = 0; first < nr_pages; first += chunk)
		vm_dirty_log_clear(b->vm, SLOT, b->dirty + first / (8 * sizeof(long)), first,
				   (uint32_t)(nr_pages - first < chunk ? nr_pages - first : chunk));
	phase_end(b, p, &m);
}

/*
 * The physical floor of a 2M split: 512 SPTEs (4 KiB) written into a new
 * page-table page and an rmap entry (8 bytes) per SPTE, as plain stores
 * from this process: into memory already mapped (writes only), and into
 * freshly faulted pages (a page allocation each, like the page-table page
 * KVM takes from its cache).
 */
static void measure_floor(uint64_t nr_splits, double *write_s, double *alloc_s)
{
	size_t len = nr_splits * SZ_4K;
	volatile uint64_t *pt, *rmap, *fresh;
	uint64_t i, j, t0;

	if (!nr_splits) {
		*write_s = *alloc_s = 0;
		return;
	}
	pt = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		  -1, 0);
	rmap = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	fresh = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(pt != MAP_FAILED && rmap != MAP_FAILED && fresh != MAP_FAILED,
		    "mapping %lu KiB for the floor measurement", (uint64_t)len >> 10);
	madvise((void *)fresh, len, MADV_NOHUGEPAGE);

	t0 = now_ns();
	for (i = 0; i < nr_splits * 512; i += 512)
		for (j = 0; j < 512; j++) {
			pt[i + j] = (i + j) << 12 | 0x7;
			rmap[i + j] = i + j;
		}
	*write_s = (double)(now_ns() - t0) / 1e9 / (double)nr_splits;

	t0 = now_ns();
	for (i = 0; i < nr_splits * 512; i += 512)
		for (j = 0; j < 512; j++) {
			fresh[i + j] = (i + j) << 12 | 0x7;
			rmap[i + j] = i + j;
		}
	*alloc_s = (double)(now_ns() - t0) / 1e9 / (double)nr_splits;
	munmap((void *)pt, len);
	munmap((void *)rmap, len);
	munmap((void *)fresh, len);
}

static const char *leaf_name(enum tdp_level leaf)
{
	return leaf == TDP_1G ? "1G" : "2M";
}

static void bench_setup(struct bench *b, bool eager)
{
	uint64_t page = backing_page_size(opt.backing), stride, j;
	char why_trace[256];
	const char *why;
	int ret, i;

	b->nr_vcpus = opt.nr_vcpus;
	b->size = opt.mem_per_vcpu * opt.nr_vcpus;
	b->pages_per_vcpu = opt.mem_per_vcpu / SZ_4K;
	for (i = 0; i < b->nr_vcpus; i++)
		b->rng[i] = (uint32_t)opt.seed + (uint32_t)i;
	TEST_ASSERT(IS_ALIGNED(opt.mem_per_vcpu, page),
		    "-b %lu MiB is not a multiple of the %s page", opt.mem_per_vcpu >> 20,
		    backing_name(opt.backing));

	if (opt.in_l1) {
		kvm_require_tdp_mmu();
		if (opt.backing == BACKING_HUGETLB_1G)
			TEST_REQUIRE(kvm_tdp_has_1g_pages(), "the host CPU has no 1G EPT/NPT pages");
	} else {
		nested_require(opt.leaf == TDP_1G || opt.backing == BACKING_HUGETLB_1G);
	}
	if (opt.manual)
		TEST_REQUIRE(kvm_has_manual_protect(true),
			     "KVM lacks KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 with INITIALLY_SET");
	ret = __kvm_param_set("kvm", "eager_page_split", eager ? "Y" : "N");
	TEST_REQUIRE(!ret, "kvm.eager_page_split is not writable: %s", strerror(-ret));
	why = backing_unavailable(opt.backing, b->size);
	TEST_REQUIRE(!why, "%s", why);

	if (opt.trace) {
		char name[64];

		snprintf(name, sizeof(name), "kvm_dirty_log_perf_%d", getpid());
		b->ti = trace_instance_create(name, why_trace, sizeof(why_trace));
		if (b->ti) {
			ret = __trace_event_enable(b->ti, SPLIT_EVENT_SYSTEM, SPLIT_EVENT);
			if (ret) {
				snprintf(why_trace, sizeof(why_trace), "cannot enable %s:%s: %s",
					 SPLIT_EVENT_SYSTEM, SPLIT_EVENT, strerror(-ret));
				b->ti = NULL;
			}
		}
		if (!b->ti)
			ksft_print_msg("split counts not measured: %s\n", why_trace);
	}

	/* L1's memory: code, stacks, tables, plus a page list per vCPU. */
	if (opt.in_l1)
		b->vm = vm_create();
	else
		b->vm = nested_vm_create();
	/*
	 * Upstream's memstress turns on EPT A/D bits when KVM offers them.
	 * That makes KVM's shadow of L1's EPT use hardware A/D bits, and with
	 * them off (ad_disabled) write-protecting or zapping a writable SPTE
	 * also marks its page dirty (kvm_set_pfn_dirty()): per-page work in
	 * enable, GET and disable that differs between the two settings.
	 */
	if (!opt.in_l1 && opt.ept_ad)
		b->ept_ad = nested_vm_use_ept_ad(b->vm);
	if (opt.manual)
		vm_manual_protect_enable(b->vm, true);
	/*
	 * In L2 the slot sits at the top of L1's physical memory, as
	 * upstream's memstress puts it: there KVM's MMU for L1 has no table
	 * below the root over it, and GET and CLEAR, which walk that MMU once
	 * per 64-page word, stop at the root as the peer's do (at 4G, next to
	 * L1's own memory, each walk went deeper: GET took 8-18 % longer under
	 * Bochs).  L1 itself (-L) reaches the slot through its direct map.
	 */
	if (opt.in_l1)
		b->slot_gpa = vm_memslot_add(b->vm, SLOT, SLOT_GPA, b->size, opt.backing, 0)->gpa;
	else
		b->slot_gpa = vm_memslot_add_top(b->vm, SLOT, b->size, opt.backing, 0)->gpa;
	why = vm_memslot_prefault(b->vm, SLOT);
	TEST_REQUIRE(!why, "%s", why);
	b->dirty = bitmap_zalloc(b->size / SZ_4K);
	b->written = bitmap_zalloc(b->size / SZ_4K);

	if (opt.in_l1) {
		b->gva[0] = direct_gva(SLOT_GPA);
		b->w = nested_worker_create_l1(b->vm, b->nr_vcpus);
	} else {
		stride = ALIGN_UP(b->size, SZ_1G);
		for (j = 0; j < opt.aliases; j++) {
			/* A 1G leaf over a smaller slot: KVM maps what the slot has. */
			tdp_map(b->vm, 0, L2_GPA_BASE + j * stride, b->slot_gpa,
				ALIGN_UP(b->size, tdp_level_size(opt.leaf)), opt.leaf);
			b->gva[j] = direct_gva(L2_GPA_BASE + j * stride);
		}
		b->w = nested_worker_create(b->vm, b->nr_vcpus, NULL);
	}
	vcpu_stats_open(b);
}

static void bench_free(struct bench *b)
{
	int i;

	for (i = 0; i < b->nr_vcpus; i++)
		kvm_stats_release(&b->vstats[i]);
	free(b->dirty);
	free(b->written);
	if (b->w)
		nested_worker_free(b->w);
	vm_free(b->vm);
}

static void print_phase_table(const struct run_result *r)
{
	int i;

	ksft_print_msg("%-12s %10s %9s %7s %5s %7s %7s %7s %8s %8s\n", "phase", "seconds",
		       "4K", "2M", "1G", "split2M", "split1G", "EAGAIN", "faults", "pages");
	for (i = 0; i < r->nr_phases; i++) {
		const struct phase *p = &r->phases[i];
		char s2[16] = "-", s1[16] = "-", ea[16] = "-";

		if (p->traced) {
			snprintf(s2, sizeof(s2), "%lu", p->split_ok[2]);
			snprintf(s1, sizeof(s1), "%lu", p->split_ok[3]);
			snprintf(ea, sizeof(ea), "%lu", p->split_eagain);
		}
		ksft_print_msg("%-12s %10.6f %+9ld %+7ld %+5ld %7s %7s %7s %8lu %8lu\n", p->name,
			       p->seconds, p->d4k, p->d2m, p->d1g, s2, s1, ea, p->pf_taken,
			       p->pages_written ? p->pages_written : p->pages_dirty);
	}
}

/*
 * The summary phases, named as results.json wants them.  first_pass is the
 * first pass that writes into write-protected memory, where lazy splitting
 * costs: pass 1 in classic mode; in manual-protect mode pass 2, as
 * INITIALLY_SET leaves the mappings writable until the first CLEAR, so
 * pass 1 is pass_initially_set.  GET and CLEAR are summed over the
 * iterations.
 */
enum { SUM_POPULATE, SUM_ENABLE, SUM_INITIALLY_SET, SUM_FIRST, SUM_LATER, SUM_GET, SUM_CLEAR,
       SUM_DISABLE, SUM_REPOPULATE, NR_SUM };
static const char *const sum_names[NR_SUM] = {
	"populate", "enable", "pass_initially_set", "first_pass", "later_passes", "get",
	"clear", "disable", "repopulate",
};

/* Summary phases that exist in this mode. */
static bool sum_applies(int k)
{
	return (k != SUM_CLEAR && k != SUM_INITIALLY_SET) || opt.manual;
}

static void summarize(const struct run_result *r, double *s)
{
	int i, k;

	memset(s, 0, NR_SUM * sizeof(*s));
	for (i = 0; i < r->nr_phases; i++) {
		const struct phase *p = &r->phases[i];

		if (!strcmp(p->name, "pass_1"))
			k = opt.manual ? SUM_INITIALLY_SET : SUM_FIRST;
		else if (!strcmp(p->name, "pass_2") && opt.manual)
			k = SUM_FIRST;
		else if (!strncmp(p->name, "pass_", 5))
			k = SUM_LATER;
		else if (!strncmp(p->name, "get_", 4))
			k = SUM_GET;
		else if (!strncmp(p->name, "clear_", 6))
			k = SUM_CLEAR;
		else
			for (k = 0; k < NR_SUM && strcmp(p->name, sum_names[k]); k++)
				;
		TEST_ASSERT(k < NR_SUM, "phase %s has no summary", p->name);
		s[k] += p->seconds;
	}
}

static void json_escape(char *dst, size_t len, const char *src)
{
	size_t n = 0;

	for (; *src && n + 2 < len; src++) {
		if (*src == '"' || *src == '\\')
			dst[n++] = '\\';
		dst[n++] = (unsigned char)*src < 0x20 ? ' ' : *src;
	}
	dst[n] = '\0';
}

#define JSON_MAX	65536

static void emit_json(const struct run_result *r)
{
	char *buf = malloc(JSON_MAX), kernel[256], cpu[256] = "unknown", line[512];
	double s[NR_SUM];
	struct utsname u;
	size_t n = 0;
	FILE *f;
	int i;

	TEST_ASSERT(buf, "out of memory");
	uname(&u);
	json_escape(kernel, sizeof(kernel), u.release);
	f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && colon) {
			line[strcspn(line, "\n")] = '\0';
			json_escape(cpu, sizeof(cpu), colon + 2);
			break;
		}
	}
	if (f)
		fclose(f);
	summarize(r, s);

#define OUT(...) (n += (size_t)snprintf(buf + n, n < JSON_MAX ? JSON_MAX - n : 0, __VA_ARGS__))
	OUT("{\"tool\": \"ours\", \"mmu\": \"%s\", \"eager_page_split\": %s, "
	    "\"write_percent\": %lu, \"vcpus\": %d, \"mem_per_vcpu\": %lu, \"backing\": \"%s\", "
	    "\"l1_leaf\": \"%s\", \"dirty_log\": \"%s\", \"clear_chunk_pages\": %lu, "
	    "\"iterations\": %lu, \"aliases\": %lu, \"kernel\": \"%s\", \"vendor\": \"%s\", "
	    "\"cpu\": \"%s\", \"ept_ad\": %s, \"traced\": %s, \"floor_write_s\": %.9f, \"floor_alloc_s\": %.9f, "
	    "\"slot_gpa\": %lu, \"seed\": %lu, ",
	    opt.in_l1 ? "tdp" : "nested", r->eager ? "true" : "false", opt.write_percent,
	    opt.nr_vcpus, opt.mem_per_vcpu, backing_name(opt.backing),
	    opt.in_l1 ? "none" : leaf_name(opt.leaf), opt.manual ? "clear" : "get",
	    opt.manual ? (opt.clear_chunk ? opt.clear_chunk : opt.mem_per_vcpu * opt.nr_vcpus / SZ_4K) : 0,
	    opt.iterations, opt.aliases, kernel,
	    nested_vendor_name(kvm_nested_vendor()), cpu, r->ept_ad ? "true" : "false",
	    r->nr_phases && r->phases[0].traced ? "true" : "false",
	    r->floor_write_s, r->floor_alloc_s, r->slot_gpa, opt.seed);
	OUT("\"phases\": {");
	for (i = 0; i < NR_SUM; i++)
		if (sum_applies(i))
			OUT("%s\"%s\": %.9f", i ? ", " : "", sum_names[i], s[i]);
	OUT("}, \"detail\": [");
	for (i = 0; i < r->nr_phases; i++) {
		const struct phase *p = &r->phases[i];

		OUT("%s{\"phase\": \"%s\", \"seconds\": %.9f, \"d4k\": %ld, \"d2m\": %ld, "
		    "\"d1g\": %ld, \"pf_taken\": %lu, \"pf_fixed\": %lu, \"pages_written\": %lu, "
		    "\"pages_dirty\": %lu, \"pages_read_dirty\": %lu", i ? ", " : "", p->name,
		    p->seconds, p->d4k, p->d2m, p->d1g, p->pf_taken, p->pf_fixed, p->pages_written,
		    p->pages_dirty, p->pages_read_dirty);
		if (p->traced)
			OUT(", \"splits_4k\": %lu, \"splits_2m\": %lu, \"splits_1g\": %lu, "
			    "\"eagain\": %lu, \"split_failed\": %lu, \"trace_lost\": %lu",
			    p->split_ok[1], p->split_ok[2], p->split_ok[3], p->split_eagain,
			    p->split_failed, p->trace_lost);
		OUT("}");
	}
	OUT("]}");
#undef OUT
	TEST_ASSERT(n < JSON_MAX, "JSON record too long");
	ksft_print_msg("bench-json: %s\n", buf);
	if (opt.json_path) {
		f = fopen(opt.json_path, "a");
		TEST_ASSERT(f, "cannot open %s for appending", opt.json_path);
		fprintf(f, "%s\n", buf);
		fclose(f);
	}
	free(buf);
}

static void run_bench(struct run_result *r, bool eager)
{
	struct l2_cmd pop[MAX_ALIASES][MAX_VCPUS];
	struct bench b = { 0 };
	struct phase_mark m;
	struct phase *p;
	uint64_t it, j;
	char name[16];

	memset(r, 0, sizeof(*r));
	r->eager = eager;
	bench_setup(&b, eager);
	r->ept_ad = b.ept_ad;
	r->slot_gpa = b.slot_gpa;

	/*
	 * Huge mappings of the slot through every alias, as in a running
	 * guest.  The commands are made before the clock starts.
	 */
	for (j = 0; j < opt.aliases; j++)
		pass_cmds(&b, 0, 100, (int)j, j == 0, pop[j]);
	p = phase_begin(&b, r, "populate", &m);
	for (j = 0; j < opt.aliases; j++)
		run_parallel(&b, pop[j]);
	phase_end(&b, p, &m);
	p->pages_written = b.size / SZ_4K * opt.aliases;

	p = phase_begin(&b, r, "enable", &m);
	vm_dirty_log_enable(b.vm, SLOT);
	phase_end(&b, p, &m);

	for (it = 1; it <= opt.iterations; it++) {
		snprintf(name, sizeof(name), "pass_%lu", it);
		run_pass(&b, r, name, it, opt.write_percent, 0);
		harvest(&b, r, it);
	}

	p = phase_begin(&b, r, "disable", &m);
	vm_dirty_log_disable(b.vm, SLOT);
	phase_end(&b, p, &m);

	/* Every page once more: KVM maps huge again where logging split. */
	run_pass(&b, r, "repopulate", opt.iterations + 1, 100, 0);

	measure_floor(b.size / SZ_2M, &r->floor_write_s, &r->floor_alloc_s);
	print_phase_table(r);
	emit_json(r);
	r->done = true;
	bench_free(&b);
}

static struct run_result *results;	/* shared with the children */

static void run_variant(void *arg)
{
	int idx = (int)(uintptr_t)arg;
	bool eager = opt.eager == EAGER_ON || (opt.eager == EAGER_BOTH && idx == 0);

	run_bench(&results[idx], eager);
}

static void print_ratios(void)
{
	double on[NR_SUM], off[NR_SUM];
	int i;

	summarize(&results[0], on);
	summarize(&results[1], off);
	ksft_print_msg("%-13s %12s %12s %10s\n", "phase", "eager=Y s", "eager=N s", "N/Y");
	for (i = 0; i < NR_SUM; i++) {
		if (!sum_applies(i))
			continue;
		ksft_print_msg("%-13s %12.6f %12.6f %10.2f\n", sum_names[i], on[i], off[i],
			       on[i] > 0 ? off[i] / on[i] : 0.0);
	}
}

static void usage(const char *name, int code)
{
	printf("usage: %s [-b size] [-v vcpus] [-s backing] [-l leaf] [-w percent]\n"
	       "       [-i iterations] [-m mode] [-c pages] [-e eager] [-a aliases] [-L] [-T]\n"
	       "       [-A ad] [-o file] [-S seed] [-V] [-h]\n"
	       "  -b size        memory per vCPU (default 64M; a multiple of the backing's\n"
	       "                 page, at most 1G)\n"
	       "  -v vcpus       vCPUs, each writing its own region (default 1, max %d)\n"
	       "  -s backing     thp, hugetlb2m (default) or hugetlb1g\n"
	       "  -l leaf        L1's EPT/NPT leaf over the test memory: 2M or 1G (default 1G,\n"
	       "                 as upstream's memstress)\n"
	       "  -w percent     pages written per pass, 0 to 100 (default 100)\n"
	       "  -i iterations  passes with logging on, 1 to %d (default 2; clear: 2+)\n"
	       "  -m mode        get (default): classic KVM_GET_DIRTY_LOG; clear:\n"
	       "                 manual-protect with INITIALLY_SET, GET then CLEAR\n"
	       "  -c pages       pages per KVM_CLEAR_DIRTY_LOG, a multiple of 64\n"
	       "                 (default: the whole slot at once)\n"
	       "  -e eager       kvm.eager_page_split: on, off or both (default both)\n"
	       "  -a aliases     L2 ranges mapping the memory, 1 to %d (default 1); more\n"
	       "                 than one consumes split-cache descriptors\n"
	       "  -L             run the vCPUs in L1 (the TDP MMU) instead of L2\n"
	       "  -T             do not count splits with the tracepoint\n"
	       "  -A ad          VMX: A/D bits in L1's EPT pointer, on (default, when KVM\n"
	       "                 offers them, as upstream's memstress) or off\n"
	       "  -o file        also append each run's JSON record to file\n"
	       "  -S seed        seed of the written-page draw, 1 to %d (default 1, as\n"
	       "                 upstream's -r: both tools then write the same pages)\n"
	       "  -V             verbose\n"
	       "  -h             this help\n",
	       name, MAX_VCPUS, MAX_ITERATIONS, MAX_ALIASES, MAX_SEED);
	exit(code);
}

static void usage_error(const char *prog, const char *fmt, const char *arg)
{
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	usage(prog, KSFT_FAIL);
}

int main(int argc, char *argv[])
{
	char desc[200], size[16];
	uint64_t val;
	int nr_runs, i, opt_c;

	while ((opt_c = getopt(argc, argv, "b:v:s:l:w:i:m:c:e:a:A:LTo:S:Vh")) != -1) {
		switch (opt_c) {
		case 'b':
			if (parse_size(optarg, &opt.mem_per_vcpu) || !opt.mem_per_vcpu ||
			    !IS_ALIGNED(opt.mem_per_vcpu, SZ_2M) || opt.mem_per_vcpu > SZ_1G)
				usage_error(argv[0], "-b: '%s' is not a size in 2M multiples up to 1G",
					    optarg);
			break;
		case 'v':
			if (parse_uint(optarg, MAX_VCPUS, &val) || !val)
				usage_error(argv[0], "-v: '%s' is not 1 to 8 vCPUs", optarg);
			opt.nr_vcpus = (int)val;
			break;
		case 's':
			if (backing_parse(optarg, &opt.backing) || opt.backing == BACKING_ANON_4K)
				usage_error(argv[0], "-s: '%s' is not thp, hugetlb2m or hugetlb1g",
					    optarg);
			break;
		case 'l':
			if (!strcmp(optarg, "2M"))
				opt.leaf = TDP_2M;
			else if (!strcmp(optarg, "1G"))
				opt.leaf = TDP_1G;
			else
				usage_error(argv[0], "-l: '%s' is not 2M or 1G", optarg);
			break;
		case 'w':
			if (parse_uint(optarg, 100, &opt.write_percent))
				usage_error(argv[0], "-w: '%s' is not 0 to 100", optarg);
			break;
		case 'i':
			if (parse_uint(optarg, MAX_ITERATIONS, &opt.iterations) || !opt.iterations)
				usage_error(argv[0], "-i: '%s' is not 1 to 64 iterations", optarg);
			break;
		case 'm':
			if (!strcmp(optarg, "get"))
				opt.manual = false;
			else if (!strcmp(optarg, "clear"))
				opt.manual = true;
			else
				usage_error(argv[0], "-m: '%s' is not get or clear", optarg);
			break;
		case 'c':
			if (parse_uint(optarg, 1ULL << 31, &opt.clear_chunk) || !opt.clear_chunk ||
			    opt.clear_chunk % 64)
				usage_error(argv[0], "-c: '%s' is not a positive multiple of 64 pages",
					    optarg);
			break;
		case 'e':
			if (!strcmp(optarg, "on"))
				opt.eager = EAGER_ON;
			else if (!strcmp(optarg, "off"))
				opt.eager = EAGER_OFF;
			else if (!strcmp(optarg, "both"))
				opt.eager = EAGER_BOTH;
			else
				usage_error(argv[0], "-e: '%s' is not on, off or both", optarg);
			break;
		case 'a':
			if (parse_uint(optarg, MAX_ALIASES, &opt.aliases) || !opt.aliases)
				usage_error(argv[0], "-a: '%s' is not 1 to 4 aliases", optarg);
			break;
		case 'A':
			if (!strcmp(optarg, "on"))
				opt.ept_ad = true;
			else if (!strcmp(optarg, "off"))
				opt.ept_ad = false;
			else
				usage_error(argv[0], "-A: '%s' is not on or off", optarg);
			break;
		case 'L':
			opt.in_l1 = true;
			break;
		case 'T':
			opt.trace = false;
			break;
		case 'o':
			opt.json_path = optarg;
			break;
		case 'S':
			if (parse_uint(optarg, MAX_SEED, &opt.seed) || !opt.seed)
				usage_error(argv[0], "-S: '%s' is not a seed from 1 to 2147483000",
					    optarg);
			break;
		default:
			test_opt_common(opt_c, usage, argv[0]);
		}
	}
	if (optind < argc)
		usage(argv[0], KSFT_FAIL);
	if (opt.backing == BACKING_HUGETLB_1G && opt.mem_per_vcpu != SZ_1G)
		usage_error(argv[0], "-s hugetlb1g needs -b 1G%s", "");
	if (opt.manual && opt.iterations < 2)
		usage_error(argv[0], "-m clear needs -i 2 or more: pass 1 runs before the first CLEAR%s",
			    "");
	if (opt.in_l1 && opt.aliases > 1)
		usage_error(argv[0], "-L runs without L2, so without L2 aliases (-a)%s", "");

	results = mmap(NULL, 2 * sizeof(*results), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(results != MAP_FAILED, "mapping the shared results");

	ksft_print_header();
	nr_runs = opt.eager == EAGER_BOTH ? 2 : 1;
	ksft_set_plan(nr_runs);
	ksft_print_msg("%s, %d vCPU(s) x %lu MiB %s, %s leaf, %lu%% writes, %lu iterations, %s, "
		       "%lu alias(es), seed %lu\n", opt.in_l1 ? "L1 (TDP MMU)" : "L2 (nested MMU)",
		       opt.nr_vcpus, opt.mem_per_vcpu >> 20,
		       backing_name(opt.backing), opt.in_l1 ? "no" : leaf_name(opt.leaf),
		       opt.write_percent, opt.iterations,
		       opt.manual ? "manual-protect CLEAR" : "classic GET", opt.aliases, opt.seed);
	for (i = 0; i < nr_runs; i++) {
		bool eager = opt.eager == EAGER_ON || (opt.eager == EAGER_BOTH && i == 0);

		snprintf(desc, sizeof(desc), "%s %s%s%s %d vCPU %s %lu%% writes %s%s "
			 "eager_page_split=%c",
			 opt.in_l1 ? "l1" : nested_vendor_name(kvm_nested_vendor()),
			 backing_name(opt.backing), opt.in_l1 ? "" : " ",
			 opt.in_l1 ? "" : (opt.leaf == TDP_1G ? "1G leaf" : "2M leaf"),
			 opt.nr_vcpus, size, opt.write_percent, opt.manual ? "clear" : "get",
			 opt.aliases > 1 ? (opt.aliases == 2 ? " 2 aliases" :
					    opt.aliases == 3 ? " 3 aliases" : " 4 aliases") : "",
			 eager ? 'Y' : 'N');
		variant_run(desc, run_variant, (void *)(uintptr_t)i);
	}
	if (nr_runs == 2 && results[0].done && results[1].done)
		print_ratios();
	ksft_finished();
}
