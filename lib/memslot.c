// SPDX-License-Identifier: GPL-2.0
/* Memslots, the L1 page allocator and address translation. */
#include <sys/mman.h>

#include "kvm_util.h"

static int memslot_update(struct kvm_vm *vm, struct vm_memslot *s)
{
	struct kvm_userspace_memory_region region = {
		.slot = s->slot,
		.flags = s->flags,
		.guest_phys_addr = s->gpa,
		.memory_size = s->size,
		.userspace_addr = (uintptr_t)s->hva,
	};

	return __vm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) ? -errno : 0;
}

/*
 * The common part: size bytes at gpa, the host address hva_off bytes past
 * a page-aligned mapping of span bytes of the backing.
 */
static struct vm_memslot *memslot_add(struct kvm_vm *vm, uint32_t slot, gpa_t gpa,
				      uint64_t size, enum backing_type backing,
				      uint32_t flags, uint64_t hva_off, uint64_t span)
{
	struct vm_memslot *s;
	unsigned int i;
	void *base;
	int ret;

	TEST_ASSERT(slot < VM_MAX_SLOTS && !vm->slots[slot],
		    "memslot %u: out of range or already in use", slot);
	for (i = 0; i < VM_MAX_SLOTS; i++) {
		struct vm_memslot *o = vm->slots[i];

		TEST_ASSERT(!o || gpa + size <= o->gpa || o->gpa + o->size <= gpa,
			    "memslot %u overlaps memslot %u", slot, o ? o->slot : 0);
	}

	s = calloc(1, sizeof(*s));
	TEST_ASSERT(s, "out of memory");
	s->slot = slot;
	s->gpa = gpa;
	s->size = size;
	s->flags = flags;
	s->backing = backing;
	base = backing_alloc(backing, span, &s->mmap_start, &s->mmap_size);
	TEST_ASSERT(base, "cannot allocate %lu MiB of %s memory for memslot %u",
		    span >> 20, backing_name(backing), slot);
	s->hva = (char *)base + hva_off;

	ret = memslot_update(vm, s);
	TEST_ASSERT(!ret, "KVM_SET_USER_MEMORY_REGION slot %u GPA 0x%lx size 0x%lx: %s",
		    slot, gpa, size, strerror(-ret));
	vm->slots[slot] = s;
	return s;
}

/* Slots L1 reaches through the direct map. */
static void assert_direct_mapped(uint32_t slot, gpa_t gpa, uint64_t size)
{
	TEST_ASSERT(gpa < DIRECT_MAP_SIZE && size <= DIRECT_MAP_SIZE - gpa,
		    "memslot %u ends at GPA 0x%lx, beyond the guest direct map (0x%llx)",
		    slot, gpa + size, DIRECT_MAP_SIZE);
}

static void assert_huge_aligned(uint32_t slot, gpa_t gpa, uint64_t size,
				enum backing_type backing)
{
	uint64_t page = backing_page_size(backing);

	TEST_ASSERT(page && size && IS_ALIGNED(gpa, page) && IS_ALIGNED(size, page),
		    "memslot %u: GPA 0x%lx size 0x%lx not aligned to the %s page size",
		    slot, gpa, size, backing_name(backing));
}

struct vm_memslot *vm_memslot_add(struct kvm_vm *vm, uint32_t slot, gpa_t gpa,
				  uint64_t size, enum backing_type backing,
				  uint32_t flags)
{
	assert_huge_aligned(slot, gpa, size, backing);
	assert_direct_mapped(slot, gpa, size);
	return memslot_add(vm, slot, gpa, size, backing, flags, 0, size);
}

struct vm_memslot *vm_memslot_add_top(struct kvm_vm *vm, uint32_t slot, uint64_t size,
				      enum backing_type backing, uint32_t flags)
{
	uint64_t limit = guest_phys_limit();
	gpa_t gpa;

	TEST_ASSERT(size && size <= limit - DIRECT_MAP_SIZE,
		    "memslot %u: 0x%lx bytes do not fit between the direct map and the "
		    "top of guest physical memory (0x%lx)", slot, size, limit);
	/* DIRECT_MAP_SIZE is a 1G multiple: the slot stays above the direct map. */
	gpa = ALIGN_DOWN(limit - size, SZ_1G);
	assert_huge_aligned(slot, gpa, size, backing);
	return memslot_add(vm, slot, gpa, size, backing, flags, 0, size);
}

struct vm_memslot *vm_memslot_add_geom(struct kvm_vm *vm, uint32_t slot, gpa_t gpa,
				       uint64_t size, enum backing_type backing,
				       uint32_t flags, uint64_t hva_skew)
{
	uint64_t page = backing_page_size(backing), off;

	TEST_ASSERT(page && size && IS_ALIGNED(gpa, SZ_4K) && IS_ALIGNED(size, SZ_4K),
		    "memslot %u: GPA 0x%lx size 0x%lx not 4K aligned (or bad backing)",
		    slot, gpa, size);
	TEST_ASSERT(IS_ALIGNED(hva_skew, SZ_4K) && hva_skew < page,
		    "memslot %u: host address skew 0x%lx is not a 4K multiple below the %s "
		    "page size", slot, hva_skew, backing_name(backing));
	TEST_ASSERT(size <= PARSE_SIZE_MAX, "memslot %u: size 0x%lx out of range", slot, size);
	assert_direct_mapped(slot, gpa, size);
	/* hva - gpa is hva_skew modulo the host page size. */
	off = (gpa + hva_skew) & (page - 1);
	return memslot_add(vm, slot, gpa, size, backing, flags, off, ALIGN_UP(off + size, page));
}

struct vm_memslot *vm_memslot(struct kvm_vm *vm, uint32_t slot)
{
	TEST_ASSERT(slot < VM_MAX_SLOTS && vm->slots[slot],
		    "no memslot %u in this VM", slot);
	return vm->slots[slot];
}

int __vm_memslot_set_flags(struct kvm_vm *vm, uint32_t slot, uint32_t flags)
{
	struct vm_memslot *s = vm_memslot(vm, slot);
	uint32_t old = s->flags;
	int ret;

	s->flags = flags;
	ret = memslot_update(vm, s);
	if (ret)
		s->flags = old;
	return ret;
}

void vm_memslot_set_flags(struct kvm_vm *vm, uint32_t slot, uint32_t flags)
{
	int ret = __vm_memslot_set_flags(vm, slot, flags);

	TEST_ASSERT(!ret, "setting flags 0x%x on memslot %u: %s", flags, slot,
		    strerror(-ret));
}

const char *vm_memslot_prefault(struct kvm_vm *vm, uint32_t slot)
{
	struct vm_memslot *s = vm_memslot(vm, slot);
	uint64_t page = backing_page_size(s->backing);
	uintptr_t start = ALIGN_DOWN((uintptr_t)s->hva, page);
	uintptr_t end = ALIGN_UP((uintptr_t)s->hva + s->size, page), p;

	/*
	 * One write per host page allocates it (a THP where one can be had),
	 * every host page that holds some of the slot, also where the slot
	 * starts or ends inside it: KVM maps no larger than the host does.
	 */
	for (p = start; p < end; p += page)
		*(volatile char *)p = 0;
	if (s->backing != BACKING_ANON_4K &&
	    !backing_fully_huge(s->backing, (void *)start, end - start))
		return "the host could not back the whole memslot with transparent huge pages";
	return NULL;
}

gpa_t vm_alloc_pages(struct kvm_vm *vm, uint64_t nr_pages)
{
	gpa_t gpa = vm->l1_next_free;
	uint64_t size = nr_pages * SZ_4K;

	TEST_ASSERT(nr_pages && size / SZ_4K == nr_pages &&
		    gpa + size <= vm->l1_end,
		    "L1 memory exhausted: %lu pages asked, %lu free (grow the L1 memslot)",
		    nr_pages, (vm->l1_end - gpa) / SZ_4K);
	vm->l1_next_free += size;
	/* Anonymous memory starts zeroed; nothing reuses freed pages. */
	return gpa;
}

void *addr_gpa2hva(struct kvm_vm *vm, gpa_t gpa)
{
	unsigned int i;

	for (i = 0; i < VM_MAX_SLOTS; i++) {
		struct vm_memslot *s = vm->slots[i];

		if (s && gpa >= s->gpa && gpa < s->gpa + s->size)
			return (char *)s->hva + (gpa - s->gpa);
	}
	TEST_FAIL("GPA 0x%lx is not in any memslot", gpa);
}

void *addr_gva2hva(struct kvm_vm *vm, gva_t gva)
{
	return addr_gpa2hva(vm, addr_gva2gpa(vm, gva));
}

/* Guest virtual ranges may cross pages with unrelated GPAs: go page by page. */
void vm_copy_from_guest(struct kvm_vm *vm, void *dst, gva_t gva, size_t len)
{
	size_t done = 0;

	while (done < len) {
		size_t chunk = SZ_4K - ((gva + done) & (SZ_4K - 1));

		if (chunk > len - done)
			chunk = len - done;
		memcpy((char *)dst + done, addr_gva2hva(vm, gva + done), chunk);
		done += chunk;
	}
}
