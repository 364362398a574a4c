/* SPDX-License-Identifier: MIT */
/*
 * ring_threads.h - the ring driver without io_uring: the same operations,
 * results (res as -errno) and CQE flags as the io_uring driver in ring.c,
 * done with plain system calls on a few threads of this process.  For
 * machines where io_uring is missing or denied; ring.c branches here when
 * struct ring_config asks for it (ring_config.threads), so its callers
 * never know which driver runs.
 *
 * Socket (and pipe) operations are tried non-blocking and otherwise wait
 * for readiness on one poller thread, which also keeps the timeouts;
 * regular-file I/O runs on a small pool of worker threads.  Everything
 * waiting can be cancelled; completions reach the caller only through
 * ring_threads_reap(), in the caller's thread.
 *
 * Must never: block a thread indefinitely on a socket; touch caller
 * memory (buffers, iovecs, msghdrs, addresses, timespecs, the receive
 * pool) after the operation's last completion was posted or after
 * ring_threads_exit() returned; call the caller back from its own
 * threads; close a descriptor the caller gave it (it keeps a duplicate).
 */
#ifndef SAFERRINGD_RING_THREADS_H
#define SAFERRINGD_RING_THREADS_H

#include <stdbool.h>
#include <stdint.h>

#include "ring.h"

struct ring_threads;

/* Sets rd->threads and rd->live on success; -errno otherwise, with
 * nothing left behind. */
int ring_threads_init(struct ring_driver *rd, const struct ring_config *cfg);
/* Cancels everything, joins every thread, closes every duplicate. */
void ring_threads_exit(struct ring_driver *rd);
/* An eventfd, readable exactly while ring_threads_reap would find a
 * completion. */
int ring_threads_fd(const struct ring_threads *rt);

int ring_threads_set_file(struct ring_threads *rt, unsigned index, int fd);
int ring_threads_clear_file(struct ring_threads *rt, unsigned index);

int ring_threads_reserve(struct ring_threads *rt, unsigned n);
int ring_threads_queue(struct ring_threads *rt, const struct ring_op *op);
int ring_threads_cancel(struct ring_threads *rt, uint64_t user_data);
int ring_threads_cancel_all(struct ring_threads *rt);
int ring_threads_submit(struct ring_threads *rt);

void ring_threads_provide(struct ring_threads *rt, void *addr, uint32_t len,
			  uint16_t bid);
unsigned ring_threads_reap(struct ring_threads *rt, ring_cqe_fn fn, void *arg);
bool ring_threads_ready(const struct ring_threads *rt);

/* Which operations this driver cannot run: none (0), always. */
int ring_threads_probe(uint64_t *lacks);

#endif
