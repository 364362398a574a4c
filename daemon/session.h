/* SPDX-License-Identifier: MIT */
/*
 * session.h - one client's session: decodes its requests, validates each
 * operation against daemon-private state (slot table, fd registry,
 * quotas), hands accepted ones to the ring driver, and sends replies and
 * completions back in batches.
 *
 * A session never blocks: its socket is non-blocking, and when the client
 * stops reading, the session stops taking requests (backpressure) instead
 * of queueing without bound.  Everything it queues is bounded by
 * max_in_flight + slot_count + max_fds + 2 * WIRE_MAX_BATCH completions
 * (multishot operations complete many times, but each interim completion
 * holds a pooled slot or an accepted handle) and one unsent datagram.
 *
 * It must never free its arena, files or ring while the kernel may still
 * use them: session_close() cancels, and the session may only be freed
 * once session_drained() says every completion came back, and never
 * while its set-up runs on the offload thread.
 *
 * Every descriptor it is given passes admission (admission.h) first, and
 * the client's own RLIMIT_FSIZE applies to writes on regular files.
 */
#ifndef SAFERRINGD_SESSION_H
#define SAFERRINGD_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "offload.h"
#include "policy.h"
#include "saferring.h"

struct session;

struct session_scratch;
struct numa_topo;

/* What the sessions of one thread share (a worker's), owned by it. */
struct session_env {
	struct offload *offload;   /* runs each session's set-up */
	bool rings;                /* protocol v2 rings offered */
	/* Arena bytes of all sessions of all threads together stay under
	 * pinned_max.  The count held now is *pinned_shared, which every
	 * thread's env points to and which is only touched atomically
	 * (once per Hello and once per session end); NULL: this env's own
	 * @pinned, for a single-threaded embedder (the session fuzzer). */
	uint64_t pinned_max;
	uint64_t pinned;
	uint64_t *pinned_shared;
	/* Buffers for decoding requests and encoding replies, used by one
	 * session at a time and never across events: one set per thread,
	 * so that the hot path shares nothing.  NULL: session_new()
	 * allocates them into the env. */
	struct session_scratch *scratch;
	/* Operations the running kernel lacks (ring_driver_probe): refused
	 * UNKNOWN_OP, and left out of every ring's restrictions. */
	uint64_t kernel_lacks;
	/* The machine's NUMA topology (numa.h), read-only; NULL: sessions
	 * are never placed.  @node: the node this thread is pinned to, -1
	 * when it is not. */
	const struct numa_topo *topo;
	int node;
	/* Rings on a thread pool (ring_threads.h) instead of io_uring: for
	 * libsaferring's threads backend, never in the daemon. */
	bool ring_threads;
};

/* A thread's buffers (several MiB of address space, touched only as far
 * as requests need them).  NULL when out of memory. */
struct session_scratch *session_scratch_new(void);
void session_scratch_free(struct session_scratch *sc);

/* Who the client is, as the kernel vouches for it when it connected. */
struct session_peer {
	struct ucred cred;         /* SO_PEERCRED */
	uint64_t file_size_limit;  /* its RLIMIT_FSIZE; UINT64_MAX: none */
	int incoming_cpu;          /* SO_INCOMING_CPU; -1: unknown */
};

/* Takes ownership of @sock (non-blocking).  @env must outlive the
 * session, which is served from then on by the thread that owns @env
 * alone (made on another, it is handed over through a lock).  NULL when
 * out of memory. */
struct session *session_new(uint64_t id, int sock,
			    const struct session_peer *peer,
			    const struct policy *policy,
			    struct session_env *env);
/* Only once session_drained(). */
void session_free(struct session *s);
/* Also only once drained: starts freeing @s, unmapping a large arena on
 * the offload thread (60 ms for 512 MiB here, which every session of
 * this event loop would wait for).  false: nothing started, call
 * session_free() now; true: the job comes back through offload like a
 * set-up, session_releasing() says so, and session_free() finishes. */
bool session_free_begin(struct session *s);
bool session_releasing(const struct session *s);
/* The caller's pointer, kept for it (the server's record). */
void session_set_owner(struct session *s, void *owner);
void *session_owner(const struct session *s);
/* The session whose set-up @job was (handed back by offload). */
struct session *session_of_setup(struct offload_job *job);
/* Its set-up finished on the offload thread: welcome or refuse. */
void session_on_setup_done(struct session *s);
/* The offload thread is gone (offload_stop): whatever it did or did not
 * do of this session's set-up is the event loop's again; the session
 * closes if it was waiting for it. */
void session_setup_reclaim(struct session *s);

/* Event handlers; each does a bounded amount of work. */
void session_on_readable(struct session *s);
void session_on_writable(struct session *s);
void session_on_ring(struct session *s);

/* Answer this session's Hello with @status and end it: for refusals
 * decided at accept time (e.g. too many sessions for the uid), delivered
 * where the client waits for an answer.  @why must be a static string. */
void session_deny(struct session *s, enum sr_status status, const char *why);

/* Stop serving: close the socket, cancel what is in flight.  Idempotent. */
void session_close(struct session *s, const char *reason);

/* Stop taking requests, cancel what is in flight, deliver every
 * completion, then close: the orderly end of a daemon stop. */
void session_shutdown(struct session *s);

/* What saferringctl shows of a session. */
struct session_stats {
	uint64_t id;
	uint32_t uid;
	int32_t pid;
	uint32_t slots_in_use;
	uint32_t in_flight;
	uint32_t fds;
	uint64_t ops_done;
	uint64_t ops_refused;
	uint64_t bytes_read;
	uint64_t bytes_written;
	uint64_t refusals[SR_STATUS__COUNT]; /* by enum sr_status */
	int node;      /* its arena's NUMA node; -1: none (struct arena) */
};

void session_get_stats(const struct session *s, struct session_stats *st);

/* Who answers a StatsRequest (the server).  The handler replies through
 * session_send_stats() or session_stats_unavailable(), at once or, after
 * session_hold(), from a later event of the session's thread; a session
 * whose policy does not allow control is refused NOT_PERMITTED before
 * the handler is asked.  Set once, before any thread starts. */
typedef void (*session_stats_handler)(void *arg, struct session *asker,
				      uint32_t seq, bool with_sessions);
void session_set_stats_handler(session_stats_handler fn, void *arg);
/* @stats is a Saferring__Stats; void here so callers need no protobuf.
 * Also ends a session_hold(). */
void session_send_stats(struct session *s, uint32_t seq, void *stats);
/* Answer StatsRequest @seq with Error{INTERNAL} instead (it counts
 * toward max_errors, as every Error does).  Also ends a session_hold(). */
void session_stats_unavailable(struct session *s, uint32_t seq);
/* Read no more requests from the socket until the StatsRequest being
 * answered is (the handler gathers figures from other threads and
 * answers later): its reply keeps its place among the others, and a
 * session has one such question open at most.  Rings keep being
 * served. */
void session_hold(struct session *s);

/* Protocol v2: the session's doorbell (an eventfd the client rings when
 * it submits into a ring the daemon sleeps on); -1 for a v1 session. */
int session_doorbell_fd(const struct session *s);
/* The doorbell rang: take what the submission ring holds. */
void session_rings_on_doorbell(struct session *s);
/* Polling: reap the kernel's completions, publish completions, take
 * new submissions; whether there was anything to do. */
bool session_rings_poll(struct session *s);
/* About to sleep: tell the client to ring the doorbell, unless there is
 * work after all (false: do not sleep on this session). */
bool session_rings_idle(struct session *s);
/* Awake for it again: the client need not ring. */
void session_rings_busy(struct session *s);

uint64_t session_id(const struct session *s);
int session_sock(const struct session *s);    /* -1 once closed */
int session_ring_fd(const struct session *s); /* -1 before Hello */
bool session_wants_read(const struct session *s);
bool session_wants_write(const struct session *s);
bool session_drained(const struct session *s);

#endif
