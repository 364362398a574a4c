/* SPDX-License-Identifier: MIT */
/*
 * server.h - the event loop: one epoll set over the listening socket, a
 * signalfd, and every session's socket and ring.  Accepts clients, routes
 * readiness to sessions, keeps each session's epoll interest in step with
 * what it wants (backpressure), and frees sessions once drained.
 *
 * Must never block on one client and never free a session the kernel may
 * still write into.
 */
#ifndef SAFERRINGD_SERVER_H
#define SAFERRINGD_SERVER_H

#include "policy.h"

struct server;

/* Takes ownership of @listen_fd (a bound, listening SOCK_SEQPACKET). */
int server_new(int listen_fd, const struct policy *policy,
	       struct server **out);
/* Serve until SIGTERM or SIGINT; then close every session, drain their
 * rings and return 0. */
int server_run(struct server *srv);
void server_free(struct server *srv);

#endif
