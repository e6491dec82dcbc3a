/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Counting kernel tracepoint events from a test: a private ftrace instance
 * (its own ring buffer and event switches, so the system-wide tracing state
 * is never touched), removed on every exit path.
 */
#ifndef SELFTEST_TRACEFS_H
#define SELFTEST_TRACEFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct trace_instance {
	char path[256];		/* .../tracing/instances/NAME */
};

/*
 * Create the instance kvmnm-PID-NAME (the PID is the caller's), journalled
 * first; it is switched off (tracing_on 0) with an empty buffer, and removed
 * at exit by knobs_restore(), or after a SIGKILL by the journal replay.
 * Leftover kvmnm-PID-* instances of dead PIDs are removed first.  Returns
 * NULL with a sentence in why when tracefs or ftrace instances are missing.
 */
struct trace_instance *trace_instance_create(const char *name, char *why, size_t len);

/*
 * Enable SYSTEM/EVENT in the instance (through __knob_set(), so it is switched
 * off again at exit).  Returns 0, -ENOENT if the kernel has no such event
 * (e.g. its module is not loaded), or another -errno.
 */
int __trace_event_enable(struct trace_instance *ti, const char *system, const char *event);

/* Start or stop recording into the instance's buffer. */
int __trace_set_on(struct trace_instance *ti, bool on);

/* Empty the instance's buffer. */
int __trace_clear(struct trace_instance *ti);

/*
 * Call fn(fields, arg) for each recorded EVENT, with fields the text the
 * event prints after "EVENT: ".  *lost gets the number of events the
 * buffer dropped (entries written minus entries kept).  Returns the number
 * of events passed to fn, or -errno.
 */
long __trace_for_each(struct trace_instance *ti, const char *event,
		    void (*fn)(const char *fields, void *arg), void *arg,
		    uint64_t *lost);

#endif /* SELFTEST_TRACEFS_H */
