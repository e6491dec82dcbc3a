# SPDX-License-Identifier: GPL-2.0
# KVM x86 nested-MMU eager page splitting selftests (kselftest style).
#
# In a kernel tree (this directory as tools/testing/selftests/kvm) the tree's
# lib.mk and uapi headers are used.  Standalone, scripts/ksft-headers.sh
# unpacks lib.mk, kselftest.h and the kselftest runner from Debian's
# linux-source package into the build directory.

LIBKVM := lib/variant.c lib/assert.c lib/util.c lib/backing.c lib/knobs.c lib/kvm.c \
	  lib/memslot.c lib/stats.c lib/dirty_log.c lib/ucall.c lib/cgroup.c lib/tracefs.c
# Code that runs in the guest too: built without instrumentation.
LIBKVM_GUEST := lib/ucall_guest.c lib/string_override.c

LIBKVM_x86_64 := lib/x86_64/processor.c lib/x86_64/ucall.c lib/x86_64/kvm_caps.c \
		 lib/x86_64/tdp.c lib/x86_64/nested.c
LIBKVM_GUEST_x86_64 := lib/x86_64/handlers.S lib/x86_64/nested_entry.S lib/x86_64/vmx.c lib/x86_64/svm.c \
		       lib/x86_64/nested_worker.c

TEST_GEN_PROGS_x86_64 := x86_64/stats_test
TEST_GEN_PROGS_x86_64 += x86_64/tdp_mmu_map_test
TEST_GEN_PROGS_x86_64 += x86_64/nested_smoke_test
TEST_GEN_PROGS_x86_64 += x86_64/nested_eager_split_test
TEST_GEN_PROGS_x86_64 += x86_64/nested_split_alias_test
TEST_GEN_PROGS_x86_64 += x86_64/nested_split_cache_leak_test
TEST_GEN_PROGS_x86_64 += x86_64/nested_clear_split_test
TEST_GEN_PROGS_x86_64 += x86_64/nested_dirty_exact_test

# Built with the suite, never run by run_tests: the benchmark (make bench).
TEST_GEN_PROGS_EXTENDED_x86_64 := x86_64/nested_dirty_log_perf

# Host-side unit tests of library pieces that need no KVM (make check).
UNIT_TESTS := tests/unit_test

ARCH ?= $(shell uname -m | sed -e 's/i.86/x86/' -e 's/amd64/x86_64/')
ifeq ($(ARCH),x86)
ARCH := x86_64
endif
TEST_GEN_PROGS := $(TEST_GEN_PROGS_$(ARCH))
TEST_GEN_PROGS_EXTENDED := $(TEST_GEN_PROGS_EXTENDED_$(ARCH))

# Never let an empty OUTPUT turn $(OUTPUT)/lib into /lib.
ifeq ($(OUTPUT),)
OUTPUT := $(CURDIR)
endif

ifneq ($(wildcard $(CURDIR)/../lib.mk),)
KSFT_DIR := $(abspath $(CURDIR)/..)
IN_TREE := 1
else
KSFT_DIR := $(abspath $(OUTPUT))/ksft/tools/testing/selftests
endif

ifeq ($(wildcard $(KSFT_DIR)/lib.mk),)
# Standalone, first use: fetch the framework, then run make again.
all run_tests install clean vmtest vmtest-bin unit_tests check bench: fetch-ksft
	@$(MAKE) --no-print-directory $(MAKECMDGOALS)
fetch-ksft:
	$(CURDIR)/scripts/ksft-headers.sh $(abspath $(KSFT_DIR)/../../..)
.PHONY: fetch-ksft
else
include $(KSFT_DIR)/lib.mk

STATIC ?= 1
CFLAGS += -std=gnu11 -O2 -g -Wall -Wextra -Wno-unused-parameter \
	  -fno-stack-protector -fno-pie -fno-builtin-memcmp \
	  -fno-builtin-memcpy -fno-builtin-memset -fno-builtin-strnlen \
	  -I$(CURDIR)/include -I$(KSFT_DIR) $(KHDR_INCLUDES) -MD -MP
LDFLAGS += -no-pie $(if $(filter 1,$(STATIC)),-static)
LDLIBS += -pthread

LIBKVM_SRCS := $(LIBKVM) $(LIBKVM_GUEST) $(LIBKVM_$(ARCH)) $(LIBKVM_GUEST_$(ARCH))
LIBKVM_OBJS := $(patsubst %.c,$(OUTPUT)/%.o,$(patsubst %.S,$(OUTPUT)/%.o,$(LIBKVM_SRCS)))

$(OUTPUT)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(OUTPUT)/%.o: %.S
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(OUTPUT)/libkvm.a: $(LIBKVM_OBJS)
	$(AR) crs $@ $^

$(TEST_GEN_PROGS) $(TEST_GEN_PROGS_EXTENDED): $(OUTPUT)/%: $(OUTPUT)/%.o $(OUTPUT)/libkvm.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(OUTPUT)/libkvm.a $(LDLIBS)

EXTRA_CLEAN += $(LIBKVM_OBJS) $(OUTPUT)/libkvm.a $(OUTPUT)/x86_64/*.o \
	       $(shell find $(OUTPUT) -name '*.d' 2>/dev/null)

-include $(shell find $(OUTPUT) -name '*.d' 2>/dev/null)

# --- Standalone conveniences: host unit tests and the VM runner. ---
ifndef IN_TREE
UNIT_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Wno-unused-parameter \
	       -fsanitize=address,undefined -fno-omit-frame-pointer \
	       -I$(CURDIR)/include -I$(KSFT_DIR)
UNIT_SRCS := tests/unit_test.c lib/variant.c lib/assert.c lib/util.c lib/backing.c \
	     lib/knobs.c lib/stats.c lib/dirty_log.c lib/ucall_guest.c

$(OUTPUT)/tests/unit_test: $(UNIT_SRCS) $(wildcard include/*.h)
	@mkdir -p $(@D)
	$(CC) $(UNIT_CFLAGS) -o $@ $(UNIT_SRCS)

# kselftest's runner reads the settings of the test directory relative to
# lib.mk's directory, which standalone means $(KSFT_DIR)$(CURDIR).
KSFT_SETTINGS := $(KSFT_DIR)$(CURDIR)/settings
$(KSFT_SETTINGS): settings
	@mkdir -p $(@D)
	ln -sf $(CURDIR)/settings $@
run_tests: $(KSFT_SETTINGS)

.PHONY: unit_tests vmtest check bench
unit_tests: $(OUTPUT)/tests/unit_test
	$(OUTPUT)/tests/unit_test

VMTEST_BIN := $(OUTPUT)/vmtest-bin
vmtest-bin: all
	@rm -rf $(VMTEST_BIN) && mkdir -p $(VMTEST_BIN)
	cp $(TEST_GEN_PROGS) settings $(VMTEST_BIN)/
	printf '%s\n' $(notdir $(TEST_GEN_PROGS)) > $(VMTEST_BIN)/tests.list

KERNEL ?= 6.12
EMULATOR ?= qemu
VMTEST_ARGS ?=
vmtest: vmtest-bin
	$(CURDIR)/scripts/vmtest.sh --bindir $(VMTEST_BIN) --kernel $(KERNEL) \
		--emulator $(EMULATOR) $(VMTEST_ARGS)

# The benchmark and upstream's peer in one VM (scripts/bench.sh --help).
BENCH_ARGS ?=
bench: all
	$(CURDIR)/scripts/bench.sh --prog $(OUTPUT)/x86_64/nested_dirty_log_perf \
		--kernel $(KERNEL) --emulator $(EMULATOR) $(BENCH_ARGS)

check:
	$(CURDIR)/scripts/check.sh
endif
endif # lib.mk present
