/* SPDX-License-Identifier: MIT */
/*
 * ring.h - the ring driver: one io_uring per session, created disabled,
 * given the session's arena as fixed buffers and a sparse fixed-file
 * table, restricted by the kernel to the opcodes the session may use with
 * IOSQE_FIXED_FILE required, then enabled.  Turns checked operations into
 * SQEs and CQEs back into (user_data, res, flags).
 *
 * Knows nothing of protobuf, sockets or slots; trusts its caller to have
 * validated every operation.  Must never be torn down with operations in
 * flight: cancel, drain, then ring_driver_exit().
 */
#ifndef SAFERRINGD_RING_H
#define SAFERRINGD_RING_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <liburing.h>

struct ring_driver {
	struct io_uring ring;
	bool live;
};

/* An operation the validator accepted, in kernel terms. */
struct ring_op {
	uint32_t opcode; /* enum sr_opcode */
	uint32_t file_index;
	void *addr;
	uint32_t len;
	uint16_t buf_index;
	uint64_t offset;
	uint32_t fsync_flags; /* SR_FSYNC_* */
	uint64_t user_data;
};

/* user_data of the driver's own cancel requests; never a caller's. */
#define RING_CANCEL_USER_DATA UINT64_MAX

/* -ENOSYS/-EPERM when io_uring is missing or denied to this process. */
int ring_driver_init(struct ring_driver *rd, unsigned entries,
		     unsigned max_files, const struct iovec *bufs,
		     unsigned nbufs, uint64_t allowed_ops);
void ring_driver_exit(struct ring_driver *rd);
int ring_driver_fd(const struct ring_driver *rd);

int ring_driver_set_file(struct ring_driver *rd, unsigned index, int fd);
int ring_driver_clear_file(struct ring_driver *rd, unsigned index);

/* Queue one SQE (submitted by the next ring_driver_submit).  -EBUSY when
 * the SQ is full, which the caller's in-flight quota must prevent. */
int ring_driver_queue(struct ring_driver *rd, const struct ring_op *op);
/* Queue a request that cancels everything in flight. */
int ring_driver_cancel_all(struct ring_driver *rd);
int ring_driver_submit(struct ring_driver *rd);

/* Reap every ready CQE, calling @fn for each; returns how many. */
typedef void (*ring_cqe_fn)(void *arg, uint64_t user_data, int32_t res,
			    uint32_t flags);
unsigned ring_driver_reap(struct ring_driver *rd, ring_cqe_fn fn, void *arg);

/* Create and destroy a throwaway ring: tells whether io_uring works for
 * this process at all.  0, or the -errno io_uring_setup failed with. */
int ring_driver_probe(void);

#endif
