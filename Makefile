# SPDX-License-Identifier: GPL-2.0
# KVM x86 nested-MMU eager page splitting selftests (kselftest style).
#
# In a kernel tree this directory is tools/testing/selftests/kvm/nested_mmu,
# the kselftest target "kvm/nested_mmu" (scripts/tree-install.sh puts it
# there): the tree's lib.mk, kselftest headers and usr/include are used.
# Standalone, the kselftest framework is unpacked from Debian's
# linux-source-6.12 into OUTPUT/ksft on first use; only "make vmtest" and
# "make check" install that package when it is missing.
#
# Standalone options: O=DIR (or OUTPUT=DIR) puts every output under DIR;
# SANITIZE=1 builds the host-only library code with ASan and UBSan.

.DEFAULT_GOAL := all

# Library code that only the host runs: built with the sanitizers under
# SANITIZE=1.
LIBKVM := lib/variant.c lib/assert.c lib/util.c lib/backing.c lib/knobs.c lib/kvm.c \
	  lib/memslot.c lib/stats.c lib/dirty_log.c lib/ucall.c lib/cgroup.c lib/tracefs.c
LIBKVM_x86_64 := lib/x86_64/kvm_caps.c lib/x86_64/tdp.c lib/x86_64/nested_mmu.c \
		 lib/x86_64/nested_mmu_model.c

# Code that the guest (L1 or L2) runs: never instrumented, since the guest
# has neither the sanitizers' shadow memory nor their runtime.
LIBKVM_GUEST := lib/ucall_guest.c
LIBKVM_GUEST_x86_64 := lib/x86_64/handlers.S lib/x86_64/nested_entry.S lib/x86_64/vmx.c \
		       lib/x86_64/svm.c
# Host code and guest code in one file: not instrumented either.
LIBKVM_MIXED_x86_64 := lib/x86_64/processor.c lib/x86_64/ucall.c lib/x86_64/nested.c \
		       lib/x86_64/nested_worker.c

# The string functions the compiler may call, in guest code too; built with
# -ffreestanding (see its rule).
LIBKVM_STRING := lib/string_override.c

TEST_GEN_PROGS_x86_64 := x86_64/stats_test
TEST_GEN_PROGS_x86_64 += x86_64/tdp_mmu_map_test
TEST_GEN_PROGS_x86_64 += x86_64/nested_smoke_test
TEST_GEN_PROGS_x86_64 += x86_64/nested_eager_split_test
TEST_GEN_PROGS_x86_64 += x86_64/nested_split_alias_test
TEST_GEN_PROGS_x86_64 += x86_64/nested_split_cache_leak_test
TEST_GEN_PROGS_x86_64 += x86_64/nested_clear_split_test
TEST_GEN_PROGS_x86_64 += x86_64/nested_dirty_exact_test
TEST_GEN_PROGS_x86_64 += x86_64/nested_geometry_test
TEST_GEN_PROGS_x86_64 += x86_64/nested_split_fail_test
TEST_GEN_PROGS_x86_64 += x86_64/nested_dirty_race_test
TEST_GEN_PROGS_x86_64 += x86_64/nested_clear_mask_test

# Built with the suite, never run by run_tests: the benchmark (make bench).
TEST_GEN_PROGS_EXTENDED_x86_64 := x86_64/nested_dirty_log_perf

# Host-side unit tests of library pieces that need no KVM (standalone only).
UNIT_SRCS := tests/unit_main.c tests/unit_parse.c tests/unit_backing.c tests/unit_stats.c \
	     tests/unit_guest_printf.c tests/unit_bitmap.c tests/unit_knobs.c \
	     tests/unit_variant.c tests/unit_leftovers.c tests/unit_model.c \
	     lib/variant.c lib/assert.c lib/util.c lib/backing.c \
	     lib/knobs.c lib/stats.c lib/dirty_log.c lib/ucall_guest.c \
	     lib/x86_64/nested_mmu_model.c

ARCH ?= $(shell uname -m | sed -e 's/i.86/x86/' -e 's/amd64/x86_64/')
ifeq ($(ARCH),x86)
ARCH := x86_64
endif
TEST_GEN_PROGS := $(TEST_GEN_PROGS_$(ARCH))
TEST_GEN_PROGS_EXTENDED := $(TEST_GEN_PROGS_EXTENDED_$(ARCH))

# In a kernel tree: tools/testing/selftests/kvm/nested_mmu, or a direct
# subdirectory of tools/testing/selftests.
KSFT_TREE_DIR := $(firstword $(foreach d,$(CURDIR)/../.. $(CURDIR)/..,\
			$(if $(wildcard $(d)/lib.mk $(d)/kselftest.h),$(abspath $(d)))))
ifneq ($(KSFT_TREE_DIR),)
IN_TREE := 1
KSFT_DIR := $(KSFT_TREE_DIR)
else ifeq ($(OUTPUT),)
# Standalone O=DIR, as kselftest's: every output under DIR.
ifneq ($(O),)
OUTPUT := $(O)
endif
endif

# Never let an empty OUTPUT turn $(OUTPUT)/lib into /lib.
ifeq ($(OUTPUT),)
OUTPUT := $(CURDIR)
endif
override OUTPUT := $(abspath $(OUTPUT))

ifndef IN_TREE
KSFT_PKG ?= linux-source-6.12
KSFT_DIR := $(OUTPUT)/ksft/tools/testing/selftests
endif

ifeq ($(SANITIZE),1)
SANITIZERS := -fsanitize=address,undefined -fno-omit-frame-pointer
else ifneq ($(filter-out 0,$(SANITIZE)),)
$(error SANITIZE=$(SANITIZE): use SANITIZE=1 (ASan and UBSan) or SANITIZE=0)
else
override SANITIZE := 0
endif

# Goals that need no kselftest framework.
NO_KSFT_GOALS := clean check
ifeq ($(wildcard $(KSFT_DIR)/lib.mk),)
ifneq ($(MAKECMDGOALS),)
ifeq ($(filter-out $(NO_KSFT_GOALS),$(MAKECMDGOALS)),)
NO_KSFT := 1
endif
endif
endif

ifndef NO_KSFT
OVERRIDE_TARGETS := 1
# Standalone, a missing lib.mk is made by the rule below; make then starts
# over with it, once, whatever the goals and -j.
include $(KSFT_DIR)/lib.mk
else
TEST_GEN_PROGS := $(patsubst %,$(OUTPUT)/%,$(TEST_GEN_PROGS))
TEST_GEN_PROGS_EXTENDED := $(patsubst %,$(OUTPUT)/%,$(TEST_GEN_PROGS_EXTENDED))
endif

obj = $(patsubst %.S,$(OUTPUT)/%.o,$(patsubst %.c,$(OUTPUT)/%.o,$(1)))
LIBKVM_HOST_OBJS := $(call obj,$(LIBKVM) $(LIBKVM_$(ARCH)))
LIBKVM_GUEST_ONLY_OBJS := $(call obj,$(LIBKVM_GUEST) $(LIBKVM_GUEST_$(ARCH)))
LIBKVM_GUEST_OBJS := $(LIBKVM_GUEST_ONLY_OBJS) $(call obj,$(LIBKVM_MIXED_$(ARCH)))
LIBKVM_STRING_OBJS := $(call obj,$(LIBKVM_STRING))
LIBKVM_OBJS := $(LIBKVM_HOST_OBJS) $(LIBKVM_GUEST_OBJS) $(LIBKVM_STRING_OBJS)
TEST_OBJS := $(addsuffix .o,$(TEST_GEN_PROGS) $(TEST_GEN_PROGS_EXTENDED))
UNIT_OBJS := $(patsubst %.c,$(OUTPUT)/unit/%.o,$(UNIT_SRCS))
UNIT_TEST := $(OUTPUT)/tests/unit_test
VMTEST_BIN := $(OUTPUT)/vmtest-bin
VMTEST_PROGS := $(addprefix $(VMTEST_BIN)/,$(notdir $(TEST_GEN_PROGS)))
VMTEST_EXTENDED := $(addprefix $(VMTEST_BIN)/,$(notdir $(TEST_GEN_PROGS_EXTENDED)))
# The sanitizer setting the objects were built with: changing it rebuilds.
SANITIZE_STAMP := $(OUTPUT)/.sanitize

# Dependency files of exactly the objects above, never a search of OUTPUT
# (it may hold other projects' files).
DEP_FILES := $(patsubst %.o,%.d,$(LIBKVM_OBJS) $(TEST_OBJS) $(UNIT_OBJS))

EXTRA_CLEAN += $(LIBKVM_OBJS) $(TEST_OBJS) $(UNIT_OBJS) $(DEP_FILES) $(UNIT_TEST) \
	       $(VMTEST_PROGS) $(VMTEST_EXTENDED) $(addprefix $(VMTEST_BIN)/,settings tests.list) \
	       $(SANITIZE_STAMP)

ifdef NO_KSFT
# lib.mk's clean, for an output directory without the framework.
clean:
	rm -rf $(TEST_GEN_PROGS) $(EXTRA_CLEAN)
else ifeq ($(wildcard $(KSFT_DIR)/lib.mk),)
$(KSFT_DIR)/lib.mk:
	$(if $(filter vmtest bench,$(MAKECMDGOALS)),$(CURDIR)/scripts/deps.sh $(KSFT_PKG))
	KSFT_SOURCE_PKG=$(KSFT_PKG) $(CURDIR)/scripts/ksft-headers.sh $(OUTPUT)/ksft
else
-include $(DEP_FILES)

ifneq ($(shell cat $(SANITIZE_STAMP) 2>/dev/null),$(SANITIZE))
$(shell mkdir -p $(OUTPUT) && echo '$(SANITIZE)' > $(SANITIZE_STAMP))
endif

# Our headers come first: the tree's selftests directory, which lib.mk may
# add to CFLAGS, must never provide one of ours.
INCLUDES := -I$(CURDIR)/include -I$(KSFT_DIR) $(KHDR_INCLUDES)
CFLAGS += -std=gnu11 -O2 -g -Wall -Wextra -Wno-unused-parameter \
	  -fno-stack-protector -fno-pie -fno-builtin-memcmp \
	  -fno-builtin-memcpy -fno-builtin-memset -fno-builtin-strnlen -MD -MP
# Guest code is linked into the test and mapped into the guest at the
# addresses the host sees.
LDFLAGS += -no-pie
LDLIBS += -pthread

$(LIBKVM_HOST_OBJS): $(OUTPUT)/%.o: %.c $(SANITIZE_STAMP)
	@mkdir -p $(@D)
	$(CC) $(INCLUDES) $(CFLAGS) $(SANITIZERS) -c $< -o $@

GUEST_SRCS := $(LIBKVM_GUEST) $(LIBKVM_GUEST_$(ARCH)) $(LIBKVM_MIXED_$(ARCH))
$(call obj,$(filter %.c,$(GUEST_SRCS))) $(TEST_OBJS): $(OUTPUT)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(INCLUDES) $(CFLAGS) -c $< -o $@

$(call obj,$(filter %.S,$(GUEST_SRCS))): $(OUTPUT)/%.o: %.S
	@mkdir -p $(@D)
	$(CC) $(INCLUDES) $(CFLAGS) -c $< -o $@

# As upstream: freestanding, so that the compiler never turns these loops
# into calls to the very functions they implement, or to libc's.
$(LIBKVM_STRING_OBJS): $(OUTPUT)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(INCLUDES) $(CFLAGS) -ffreestanding -c $< -o $@

# All objects, no archive: the string functions must be the test's own even
# when a sanitizer runtime, linked first, defines them too.
$(TEST_GEN_PROGS) $(TEST_GEN_PROGS_EXTENDED): %: %.o $(LIBKVM_OBJS) $(SANITIZE_STAMP)
	$(CC) $(LDFLAGS) $(SANITIZERS) -o $@ $< $(LIBKVM_OBJS) $(LDLIBS)

# --- Standalone conveniences: host unit tests and the VM runner. ---
ifndef IN_TREE
UNIT_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Wno-unused-parameter \
	       -fsanitize=address,undefined -fno-omit-frame-pointer -MD -MP

$(UNIT_OBJS): $(OUTPUT)/unit/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(INCLUDES) $(UNIT_CFLAGS) -c $< -o $@

$(UNIT_TEST): $(UNIT_OBJS)
	@mkdir -p $(@D)
	$(CC) $(UNIT_CFLAGS) -o $@ $^

# kselftest's runner reads the settings of the test directory relative to
# lib.mk's directory, which standalone means $(KSFT_DIR)$(CURDIR).
KSFT_SETTINGS := $(KSFT_DIR)$(CURDIR)/settings
$(KSFT_SETTINGS): settings
	@mkdir -p $(@D)
	ln -sf $(CURDIR)/settings $@
run_tests: $(KSFT_SETTINGS)

.PHONY: unit_tests vmtest-bin vmtest check bench
unit_tests: $(UNIT_TEST)
	$(UNIT_TEST)

# The VM's /init has no dynamic loader or libraries: link these statically.
$(VMTEST_PROGS) $(VMTEST_EXTENDED): $(VMTEST_BIN)/%: $(OUTPUT)/$(ARCH)/%.o $(LIBKVM_OBJS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -static -o $@ $< $(LIBKVM_OBJS) $(LDLIBS)

$(VMTEST_BIN)/settings: settings
	@mkdir -p $(@D)
	cp $< $@

ifeq ($(SANITIZE),1)
vmtest-bin:
	$(error the VM runner needs static tests, and SANITIZE=1 builds are dynamic)
else
vmtest-bin: $(VMTEST_PROGS) $(VMTEST_EXTENDED) $(VMTEST_BIN)/settings
	printf '%s\n' $(notdir $(TEST_GEN_PROGS)) > $(VMTEST_BIN)/tests.list
endif

KERNEL ?= 6.12
EMULATOR ?= qemu
VMTEST_ARGS ?=
vmtest: vmtest-bin
	$(CURDIR)/scripts/vmtest.sh --bindir $(VMTEST_BIN) --kernel $(KERNEL) \
		--emulator $(EMULATOR) $(VMTEST_ARGS)

# The benchmark and upstream's peer in one VM (scripts/bench.sh --help); a
# static copy, like the tests the VM runs.
BENCH_ARGS ?=
bench: $(VMTEST_BIN)/nested_dirty_log_perf
	$(CURDIR)/scripts/bench.sh --prog $(VMTEST_BIN)/nested_dirty_log_perf \
		--kernel $(KERNEL) --emulator $(EMULATOR) $(BENCH_ARGS)
endif # !IN_TREE
endif # lib.mk present

ifndef IN_TREE
check:
	$(CURDIR)/scripts/check.sh
endif
