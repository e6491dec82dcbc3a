/* SPDX-License-Identifier: GPL-2.0 */
/* Shared pieces of the host unit tests: checks, suites, the fake system. */
#ifndef UNIT_H
#define UNIT_H

#include <sys/types.h>

#include "test_util.h"

/*
 * One KTAP result per case; CHECK() records a failed expectation as a
 * diagnostic with its file and line and lets the case go on, so one run
 * lists every broken expectation of a case.
 */
extern bool unit_ok;
void __printf(4, 5) unit_check(bool ok, const char *file, int line, const char *fmt, ...);
#define CHECK(cond, fmt, ...)	unit_check(!!(cond), __FILE__, __LINE__, fmt, ##__VA_ARGS__)

/* A topic: nr cases, each with a name. */
struct unit_suite {
	unsigned int nr;
	const char *(*name)(unsigned int i);
	void (*run)(unsigned int i);
};

struct unit_case {
	const char *name;
	void (*fn)(void);
};

/* A suite from a table of unit_case. */
#define UNIT_SUITE(sym, table)						\
static const char *sym##_name(unsigned int i) { return table[i].name; }	\
static void sym##_run(unsigned int i) { table[i].fn(); }		\
const struct unit_suite sym = { ARRAY_SIZE(table), sym##_name, sym##_run }

extern const struct unit_suite unit_parse, unit_backing, unit_stats, unit_stats_corruption,
	unit_guest_printf, unit_bitmap, unit_knobs, unit_variant, unit_leftovers, unit_model;

/*
 * The fake system every test that touches knobs works on: a tmpfs, in a
 * private mount namespace when the process may make one, holding
 *	root/	what the library sees as / for /sys and /proc knob paths
 *		(KVM_NESTED_SELFTESTS_SYSROOT)
 *	journal/	the knob journal (KVM_NESTED_SELFTESTS_JOURNAL)
 *	scratch/	anything else
 */
extern char unit_dir[];
/* Create (or replace) ROOT/path holding val and a newline; returns its real path. */
const char *fake_file(const char *path, const char *val);
/* Remove ROOT/path. */
void fake_remove(const char *path);
/* The real path of ROOT/path (static buffer, one of several in rotation). */
const char *fake_path(const char *path);
/* The sandbox is a private mount namespace: mounting there stays there. */
bool unit_private_mounts(void);
/* A file's content without its newline, or "<unreadable: ...>". */
const char *file_value(const char *path);
/* Number of entries in the journal directory (not counting dot files). */
int journal_entries(void);
/* Empty the journal (between cases). */
void journal_reset(void);

/*
 * Fork a child that runs fn(arg) with its output discarded; returns once
 * fn has returned (the child then waits to be killed) or the child exited.
 */
pid_t fork_ready(void (*fn)(void *arg), void *arg);
/* waitpid() status of a child. */
int wait_status(pid_t pid);

#endif /* UNIT_H */
