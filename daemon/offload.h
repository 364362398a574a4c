/* SPDX-License-Identifier: MIT */
/*
 * offload.h - slow, self-contained work done on a thread of its own, so
 * that the event loop serving every other session never waits for it.
 * Setting up a session (creating and pinning its arena, building and
 * restricting its ring: about 24 ms per 64 MiB here) is such work, and
 * so is unmapping a large arena when a session ends (session_free_begin).
 *
 * A job's run() executes on the offload thread and may touch only what
 * the job owns: memory nobody else reads until the job is done.  Jobs run
 * one at a time, in order.  When one is done, the offload descriptor
 * becomes readable and offload_take_done() hands it back to the event
 * loop, which alone acts on the result (logs, replies, state changes).
 *
 * run() must never block on a client or log: it may only make the system
 * calls the daemon's seccomp filter allows, and it must finish.
 */
#ifndef SAFERRINGD_OFFLOAD_H
#define SAFERRINGD_OFFLOAD_H

#include <sched.h>

struct offload_job {
	void (*run)(struct offload_job *job); /* on the offload thread */
	struct offload_job *next;            /* the queue's */
};

struct offload;

/* Starts the thread (signals blocked: they are the event loop's).  Call
 * before the seccomp filter is installed.  0 or -errno. */
int offload_start(struct offload **out);
/* Run the thread on @cpus alone: set-up faults the arena in, and where
 * it runs decides where the kernel's own allocations for the ring go.
 * Before the seccomp filter.  0 or -errno. */
int offload_pin(struct offload *o, const cpu_set_t *cpus);
/* Readable (EPOLLIN) when finished jobs wait; non-blocking. */
int offload_fd(const struct offload *o);
/* Queue @job; never blocks. */
void offload_submit(struct offload *o, struct offload_job *job);
/* One finished job, oldest first, or NULL when none is finished. */
struct offload_job *offload_take_done(struct offload *o);
/* Jobs queued or running. */
unsigned offload_pending(const struct offload *o);
/* Waits for the job running now (queued ones are handed back undone:
 * run is never called for them), stops the thread, frees everything. */
void offload_stop(struct offload *o);

#endif
