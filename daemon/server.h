/* SPDX-License-Identifier: MIT */
/*
 * server.h - the listener thread and its worker threads.  The listener
 * (the thread that calls server_run) owns the listening socket and a
 * signalfd: it accepts each client, reads its credentials and limits,
 * picks its policy, holds every uid to its session quota and the daemon
 * to max_sessions_total, and hands the new session to the least-loaded
 * worker (worker.h; of the client's NUMA node where workers are pinned
 * per node, numa.h), which serves it from then on.  SIGHUP swaps the
 * policy for new sessions; SIGTERM and SIGINT stop every worker.
 *
 * Must never block on one client, never free a session the kernel may
 * still write into, and never let a slow session on one worker hold up
 * another worker's.
 */
#ifndef SAFERRINGD_SERVER_H
#define SAFERRINGD_SERVER_H

#include "config.h"

struct server;

struct server_options {
	/* Worker threads serving sessions, each with its own event loop
	 * and set-up thread: 1 to CONFIG_LIMIT_WORKERS. */
	unsigned workers;
	/* After the last work on any v2 session of a worker, it polls
	 * their rings for this many microseconds before sleeping (as
	 * SQPOLL's idle time does); 0 never polls. */
	unsigned spin_us;
	/* What ring_driver_probe() found the running kernel lacks. */
	uint64_t kernel_lacks;
};

/* Takes ownership of @listen_fd (a bound, listening SOCK_SEQPACKET) and
 * of @cfg, which maps each peer's SO_PEERCRED uid/gid to its policy.
 * Starts every thread, so that the seccomp filter installed next covers
 * them all. */
int server_new(int listen_fd, struct config *cfg,
	       const struct server_options *opts, struct server **out);
/* Use @cfg for connections accepted from now on (sessions keep the policy
 * they started with); returns the old config for the caller to free.
 * The listener's thread only. */
struct config *server_swap_config(struct server *srv, struct config *cfg);
/* On SIGHUP, @fn is asked for a new config (NULL: keep the old one; it
 * has said why). */
typedef struct config *(*server_reload_fn)(void);
void server_set_reload(struct server *srv, server_reload_fn fn);
/* Serve until SIGTERM or SIGINT; then stop accepting, have every worker
 * cancel what its sessions have in flight and deliver the completions,
 * and return 0 once all sessions are drained, or after
 * SERVER_STOP_TIMEOUT_MS regardless (the kernel then cancels and waits
 * for what is left as the process exits). */
#define SERVER_STOP_TIMEOUT_MS 10000
int server_run(struct server *srv);
void server_free(struct server *srv);

#endif
