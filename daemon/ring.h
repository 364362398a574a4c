/* SPDX-License-Identifier: MIT */
/*
 * ring.h - the ring driver: one io_uring per session, created disabled,
 * given the session's arena as fixed buffers, a sparse fixed-file table
 * (whose upper part the kernel fills for multishot accepts), and a
 * provided-buffer ring (the receive pool), restricted by the kernel to
 * the opcodes the session may use with IOSQE_FIXED_FILE required, then
 * enabled.  Turns checked operations into SQEs and CQEs back into
 * (user_data, res, flags).
 *
 * Knows nothing of protobuf, sockets or slots; trusts its caller to have
 * validated every operation and to keep every pointer it passes (iovecs,
 * msghdr, address, timespec, pool buffers) valid until the operation's
 * last CQE.  Must never be torn down with operations in flight: cancel,
 * drain, then ring_driver_exit().
 */
#ifndef SAFERRINGD_RING_H
#define SAFERRINGD_RING_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <liburing.h>

struct ring_threads;

struct ring_driver {
	struct io_uring ring;
	bool live;
	/* Set when the driver runs on threads (ring_threads.c) instead of
	 * io_uring: every ring_driver_* call goes there. */
	struct ring_threads *threads;
	struct io_uring_buf_ring *pool; /* the receive pool's ring */
	size_t pool_bytes;
	unsigned pool_entries;
};

struct ring_config {
	unsigned entries;          /* SQ entries */
	unsigned files;            /* fixed-file table size */
	unsigned alloc_start;      /* kernel-chosen indices: [alloc_start, files) */
	const struct iovec *bufs;  /* fixed buffers (the slots) */
	unsigned nbufs;
	unsigned pool_entries;     /* receive pool size, a power of two */
	uint64_t allowed_ops;      /* bit (1 << enum sr_opcode) */
	/* io_uring's worker threads, bounded and unbounded, at most (0: the
	 * kernel's default).  The kernel keeps one pool per submitting
	 * thread, so the bound is that thread's, shared by its sessions. */
	unsigned iowq_bounded, iowq_unbounded;
	/* Do the operations with plain system calls on a thread pool
	 * (ring_threads.h), for where io_uring is unavailable. */
	bool threads;
};

/* An operation the validator accepted, in kernel terms. */
struct ring_op {
	uint32_t opcode;       /* enum sr_opcode */
	uint32_t file_index;
	void *addr;            /* slot bytes, iovec array, msghdr, sockaddr
				* or timespec, per opcode */
	uint32_t len;          /* bytes, iovec count or address length */
	uint16_t buf_index;    /* READ/WRITE: the slot */
	uint64_t offset;       /* file offset */
	uint64_t length;       /* FALLOCATE */
	uint32_t op_flags;     /* fsync flags, fallocate mode, poll events,
				* shutdown how, or MSG_* flags */
	uint64_t target;       /* POLL_REMOVE/ASYNC_CANCEL: user_data */
	uint32_t accept_index; /* single-shot ACCEPT: fixed-file index */
	bool multishot;        /* RECV (from the pool), ACCEPT */
	bool async;            /* straight to io_uring's workers (IOSQE_ASYNC):
				* never tried in the submitting thread */
	uint32_t link;         /* SR_LINK, SR_LINK_HARD or 0 */
	uint64_t user_data;
};

/* user_data of the driver's own cancel requests; never a caller's. */
#define RING_CANCEL_USER_DATA UINT64_MAX
/* A user_data no SQE ever carries: cancelling it finds nothing. */
#define RING_NO_TARGET (UINT64_MAX - 1)

/* -ENOSYS/-EPERM when io_uring is missing or denied to this process. */
int ring_driver_init(struct ring_driver *rd, const struct ring_config *cfg);
void ring_driver_exit(struct ring_driver *rd);
int ring_driver_fd(const struct ring_driver *rd);

int ring_driver_set_file(struct ring_driver *rd, unsigned index, int fd);
int ring_driver_clear_file(struct ring_driver *rd, unsigned index);

/* Make room for @n SQEs in the SQ, submitting what is queued if needed,
 * so that a chain is queued whole.  -EBUSY when there cannot be room. */
int ring_driver_reserve(struct ring_driver *rd, unsigned n);
/* Queue one SQE (submitted by the next ring_driver_submit).  -EBUSY when
 * the SQ is full, which ring_driver_reserve and the caller's in-flight
 * quota must prevent; -EINVAL for an opcode the kernel does not run. */
int ring_driver_queue(struct ring_driver *rd, const struct ring_op *op);
/* Queue a request that cancels the operation with @user_data. */
int ring_driver_cancel(struct ring_driver *rd, uint64_t user_data);
/* Queue a request that cancels everything in flight. */
int ring_driver_cancel_all(struct ring_driver *rd);
int ring_driver_submit(struct ring_driver *rd);

/* Put @len bytes at @addr in the receive pool as buffer @bid.  The caller
 * never has more than pool_entries buffers in the pool. */
void ring_driver_provide(struct ring_driver *rd, void *addr, uint32_t len,
			 uint16_t bid);

/* Reap every ready CQE, calling @fn for each; returns how many. */
typedef void (*ring_cqe_fn)(void *arg, uint64_t user_data, int32_t res,
			    uint32_t flags);
unsigned ring_driver_reap(struct ring_driver *rd, ring_cqe_fn fn, void *arg);
/* Completions are waiting to be reaped (a look at shared memory, no
 * system call): for polling without epoll. */
bool ring_driver_ready(const struct ring_driver *rd);

/* Create and destroy a throwaway ring: tells whether io_uring works for
 * this process at all.  0, or the -errno io_uring_setup failed with.
 * Also asks that ring which opcodes the running kernel has
 * (IORING_REGISTER_PROBE): @lacks gets bit (1 << enum sr_opcode) for
 * each operation it cannot run.  Once, at start-up, before the seccomp
 * filter: nothing later asks again. */
int ring_driver_probe(uint64_t *lacks);
/* The operations a kernel that answered @probe lacks, as above; none
 * of those the daemon does itself. */
uint64_t ring_kernel_lacks(const struct io_uring_probe *probe);

#endif
