/* SPDX-License-Identifier: MIT */
/*
 * local.h - the in-process backends (SR_BACKEND_DIRECT, SR_BACKEND_THREADS):
 * saferringd's own session code (decoding, slot table, fd registry,
 * validator, admission, quotas) served by one of its workers on a thread
 * of this process, over a socketpair, so that a program gets the same
 * checks, statuses and completions whether the daemon, an io_uring of
 * its own or a pool of threads does the I/O.  The worker runs on the
 * client's own thread, in its calls: nothing happens between them but
 * the kernel's (or the pool's) own work, as with a plain io_uring.
 *
 * Must never hold privilege the program does not have (it runs with the
 * program's credentials and limits), and never free the worker while
 * the kernel or a pool thread may still write into the session's arena.
 */
#ifndef SAFERRING_LOCAL_H
#define SAFERRING_LOCAL_H

#include <stdbool.h>

struct sr_local;

/* Start a worker for @backend (SR_BACKEND_DIRECT or SR_BACKEND_THREADS)
 * with one session on it; *sock is the client's end of the session's
 * socket (non-blocking is the caller's choice).  -errno: io_uring is
 * unusable for DIRECT (-ENOSYS, -EPERM), or out of resources. */
int srl_local_start(int backend, struct sr_local **out, int *sock);
/* After the client closed its end: the session drains (everything in
 * flight cancelled and completed), the worker stops, all is freed. */
void srl_local_stop(struct sr_local *l);
/* One pass of the worker's loop, never sleeping: the session takes
 * what the client sent, submits, reaps, and publishes completions.
 * Whether it did anything.  Never from two threads at once (the
 * client's lock, when it has one, covers it). */
bool srl_local_poll(struct sr_local *l);
/* Readable when a pass may find work: to poll beside the client's own
 * descriptors before sleeping. */
int srl_local_fd(const struct sr_local *l);
/* Whether io_uring works for this process (for SR_BACKEND_AUTO): 0 or
 * -errno, asked once. */
int srl_local_direct_usable(void);

#endif
