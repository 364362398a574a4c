/* SPDX-License-Identifier: MIT */
/*
 * server.h - the event loop: one epoll set over the listening socket, a
 * signalfd, and every session's socket and ring.  Accepts clients, routes
 * readiness to sessions, keeps each session's epoll interest in step with
 * what it wants (backpressure), and frees sessions once drained.  Picks
 * each peer's policy at accept and holds every uid to its session quota.
 *
 * Must never block on one client and never free a session the kernel may
 * still write into.
 */
#ifndef SAFERRINGD_SERVER_H
#define SAFERRINGD_SERVER_H

#include "config.h"

struct server;

/* Takes ownership of @listen_fd (a bound, listening SOCK_SEQPACKET) and
 * of @cfg, which maps each peer's SO_PEERCRED uid/gid to its policy. */
int server_new(int listen_fd, struct config *cfg, struct server **out);
/* Use @cfg for connections accepted from now on (sessions keep the policy
 * they started with); returns the old config for the caller to free. */
struct config *server_swap_config(struct server *srv, struct config *cfg);
/* On SIGHUP, @fn is asked for a new config (NULL: keep the old one; it
 * has said why). */
typedef struct config *(*server_reload_fn)(void);
/* After the last work on any v2 session, poll their rings for @usec
 * microseconds before sleeping (as SQPOLL's idle time does); 0 never
 * polls.  The config's spin_us until this is called. */
void server_set_spin(struct server *srv, unsigned usec);
void server_set_reload(struct server *srv, server_reload_fn fn);
/* Serve until SIGTERM or SIGINT; then stop accepting, cancel what every
 * session has in flight, deliver the completions, and return 0 once all
 * sessions are drained, or after SERVER_STOP_TIMEOUT_MS regardless (the
 * kernel then cancels and waits for what is left as the process exits). */
#define SERVER_STOP_TIMEOUT_MS 10000
int server_run(struct server *srv);
void server_free(struct server *srv);

#endif
