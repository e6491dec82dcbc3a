/* SPDX-License-Identifier: GPL-2.0 */
/* Guest-to-host calls: sync points, done, printf-style guest assertions. */
#ifndef SELFTEST_UCALL_H
#define SELFTEST_UCALL_H

#include <stdint.h>

#include "test_util.h"

struct kvm_vcpu;

enum ucall_cmd {
	UCALL_NONE,
	UCALL_SYNC,
	UCALL_DONE,
	UCALL_ABORT,
};

#define UCALL_MAX_ARGS	6
#define UCALL_BUF_LEN	512

struct ucall {
	uint64_t cmd;
	uint64_t args[UCALL_MAX_ARGS];
	char buf[UCALL_BUF_LEN];
};

/*
 * Guest side.  Both L1 and L2 use these: the port is not intercepted by L1,
 * so L2's access exits straight to L0 and on to userspace.
 */
void ucall(uint64_t cmd, int nargs, ...);
void __printf(4, 5) ucall_fmt(uint64_t cmd, const char *file, int line,
			      const char *fmt, ...);
int guest_vsnprintf(char *buf, int len, const char *fmt, va_list ap);
int __printf(3, 4) guest_snprintf(char *buf, int len, const char *fmt, ...);

#define GUEST_SYNC(stage)		ucall(UCALL_SYNC, 1, (uint64_t)(stage))
#define GUEST_DONE()			ucall(UCALL_DONE, 0)


#define GUEST_ASSERT_MSG(cond, fmt, ...)				\
do {									\
	if (!(cond))							\
		ucall_fmt(UCALL_ABORT, __FILE__, __LINE__,		\
			  "%s: " fmt, #cond, ##__VA_ARGS__);		\
} while (0)

#define GUEST_ASSERT(cond)	GUEST_ASSERT_MSG(cond, "assertion failed")

#define GUEST_ASSERT_EQ(found, expected)				\
do {									\
	uint64_t __f = (uint64_t)(found), __e = (uint64_t)(expected);	\
	GUEST_ASSERT_MSG(__f == __e, "expected 0x%lx, found 0x%lx",	\
			 __e, __f);					\
} while (0)

#define GUEST_FAIL(fmt, ...)						\
	ucall_fmt(UCALL_ABORT, __FILE__, __LINE__, fmt, ##__VA_ARGS__)

/*
 * Host side: the vCPU must have exited for a ucall; anything else (an
 * internal error, a shutdown, an unexpected MMIO) fails the test with the
 * exit reason.
 */
uint64_t get_ucall(struct kvm_vcpu *vcpu, struct ucall *uc);

/* Fail the test with a guest assertion's message. */
#define REPORT_GUEST_ASSERT(uc)						\
	TEST_FAIL("guest assertion: %s", (uc).buf)

/* Run until the next ucall and return it; a guest assertion fails the test here. */
uint64_t vcpu_run_ucall(struct kvm_vcpu *vcpu, struct ucall *uc);

/* Arch hook: where the guest's ucall struct is, or 0 if not a ucall exit. */
uint64_t arch_ucall_gva(struct kvm_vcpu *vcpu);

#endif /* SELFTEST_UCALL_H */
