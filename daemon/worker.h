/* SPDX-License-Identifier: MIT */
/*
 * worker.h - a worker thread: one epoll loop over the sessions the
 * listener handed it.  It alone serves each of them for its whole life:
 * socket, ring, doorbell, the polling of hot v2 rings, set-up on its own
 * offload thread, with its own scratch buffers.  So the hot path takes
 * no lock and shares no cache line with another worker.
 *
 * Other threads reach a worker only through its mailbox (a mutex-guarded
 * queue and an eventfd): new sessions from the listener, parts of Stats
 * questions (stats.h) and their answers, stop, exit.  A worker reaches
 * the server only through the server_* calls below, once per session end
 * and once when it has drained.
 *
 * Must never block on one client, never free a session the kernel may
 * still write into, and never touch another worker's sessions.
 */
#ifndef SAFERRINGD_WORKER_H
#define SAFERRINGD_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "session.h"
#include "stats.h"

struct server;
struct worker;
struct numa_topo;

struct worker_config {
	unsigned index;     /* from 0; in logs and Stats */
	unsigned spin_us;   /* see server_options */
	uint64_t pinned_max;
	uint64_t *pinned;   /* the daemon-wide count every worker shares */
	uint64_t kernel_lacks; /* see session_env */
	const struct numa_topo *topo; /* see session_env */
	int node;           /* pinned to this NUMA node's CPUs; -1: not */
	bool ring_threads;  /* see session_env */
	/* No thread of its own: its embedder runs the loop on a thread of
	 * its choosing with worker_poll(), never concurrently (libsaferring's
	 * in-process backends, from the client's calls).  Its sessions are
	 * polled at every pass: no doorbells. */
	bool embedded;
};

/* Embedded workers: one pass of the loop without sleeping (mail, set-ups,
 * sockets, rings, kernel completions); whether it did anything.  Sleep on
 * worker_fd() (readable when a pass may find work) between passes. */
bool worker_poll(struct worker *w);
int worker_fd(const struct worker *w);

/* Make a worker and start its thread (and its offload thread), with
 * every signal blocked: they are the listener's.  Before the seccomp
 * filter: returns once both threads are past their start-up.  0 or
 * -errno. */
int worker_new(struct server *srv, const struct worker_config *cfg,
	       struct worker **out);
/* The NUMA node the worker is pinned to; -1: none.  Fixed once made. */
int worker_node(const struct worker *w);
/* For session_new() on the listener's thread: the session is this
 * worker's from then on (worker_adopt). */
struct session_env *worker_env(struct worker *w);
/* Hand @s (made with worker_env(w), counted for @uid as a session, or
 * as a pending refusal when @refused) to the worker.  -ENOMEM: not
 * taken, the caller still owns it. */
int worker_adopt(struct worker *w, struct session *s, uint32_t uid,
		 bool refused);
/* The daemon stops: end every session as session_shutdown() does; the
 * worker says server_worker_drained() once none is left. */
void worker_stop(struct worker *w);
/* Leave the loop now, whatever is left (worker_free deals with it). */
void worker_exit(struct worker *w);
void worker_join(struct worker *w);
/* After worker_join (or when the thread never ran): stop the offload
 * thread, then free every session that is drained (one whose kernel
 * work may still run is left to the process's exit, and logged). */
void worker_free(struct worker *w);

/* The StatsRequest handler (session_set_stats_handler; @arg is the
 * server): asks every worker for its sessions' figures. */
void worker_answer_stats(void *arg, struct session *asker, uint32_t seq,
			 bool with_sessions);

/* ---- the server's side, called from worker threads (server.c) ------ */

/* A session of worker @index is gone (@refused: it was a pending
 * refusal, not a session); @st its final figures.  Whether it was the
 * daemon's last connection. */
bool server_session_gone(struct server *srv, unsigned index, uint32_t uid,
			 bool refused, const struct session_stats *st);
/* Worker @index has stopped and has no session left. */
void server_worker_drained(struct server *srv, unsigned index);
/* The daemon-wide figures of a Stats reply. */
void server_stats_totals(struct server *srv, struct stats_totals *t);
/* Every worker, by index (fixed once the server runs). */
struct worker *const *server_workers(struct server *srv, unsigned *n);

#endif
