/* SPDX-License-Identifier: MIT */
/*
 * ring.c - see ring.h.  The kernel restrictions installed here are the
 * second layer of defence: they must hold even if the validator is wrong,
 * so they are derived from the policy's allowed opcodes, not from what the
 * validator happens to accept.
 */
#include "ring.h"

#include <errno.h>
#include <string.h>

#include "saferring.h"

/* The kernel opcode behind each saferring opcode; 0xff = none. */
static const uint8_t kernel_opcode[] = {
	[SR_OP_NOP] = IORING_OP_NOP,
	[SR_OP_READ] = IORING_OP_READ_FIXED,
	[SR_OP_WRITE] = IORING_OP_WRITE_FIXED,
	[SR_OP_FSYNC] = IORING_OP_FSYNC,
};
#define KERNEL_OPCODE_COUNT (sizeof(kernel_opcode) / sizeof(kernel_opcode[0]))

static int ring_driver_restrict(struct ring_driver *rd, uint64_t allowed_ops)
{
	struct io_uring_restriction res[KERNEL_OPCODE_COUNT + 4];
	unsigned n = 0;

	memset(res, 0, sizeof(res));
	for (unsigned op = 0; op < KERNEL_OPCODE_COUNT; op++) {
		if (!(allowed_ops & (1ULL << op)))
			continue;
		res[n].opcode = IORING_RESTRICTION_SQE_OP;
		res[n++].sqe_op = kernel_opcode[op];
	}
	/* Teardown must be able to cancel whatever the session started. */
	res[n].opcode = IORING_RESTRICTION_SQE_OP;
	res[n++].sqe_op = IORING_OP_ASYNC_CANCEL;
	/* Every SQE names a registered file, never a raw descriptor. */
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED;
	res[n++].sqe_flags = IOSQE_FIXED_FILE;
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[n++].sqe_flags = IOSQE_FIXED_FILE;
	/* After enabling, the only registration left is swapping files. */
	res[n].opcode = IORING_RESTRICTION_REGISTER_OP;
	res[n++].register_op = IORING_REGISTER_FILES_UPDATE;

	int r = io_uring_register_restrictions(&rd->ring, res, n);
	if (r < 0)
		return r;
	return io_uring_enable_rings(&rd->ring);
}

static int ring_driver_setup(struct ring_driver *rd, unsigned entries)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_R_DISABLED | IORING_SETUP_CQSIZE |
			 IORING_SETUP_COOP_TASKRUN,
		.cq_entries = entries * 2,
	};
	int r = io_uring_queue_init_params(entries, &rd->ring, &p);

	if (r == -EINVAL) {
		/* Kernels before 5.19 lack COOP_TASKRUN; it is only a speedup. */
		p = (struct io_uring_params){
			.flags = IORING_SETUP_R_DISABLED | IORING_SETUP_CQSIZE,
			.cq_entries = entries * 2,
		};
		r = io_uring_queue_init_params(entries, &rd->ring, &p);
	}
	return r;
}

int ring_driver_init(struct ring_driver *rd, unsigned entries,
		     unsigned max_files, const struct iovec *bufs,
		     unsigned nbufs, uint64_t allowed_ops)
{
	int r;

	memset(rd, 0, sizeof(*rd));
	r = ring_driver_setup(rd, entries);
	if (r < 0)
		return r;
	rd->live = true;
	r = io_uring_register_buffers(&rd->ring, bufs, nbufs);
	if (r == 0)
		r = io_uring_register_files_sparse(&rd->ring, max_files);
	if (r == 0)
		r = ring_driver_restrict(rd, allowed_ops);
	if (r < 0)
		ring_driver_exit(rd);
	return r;
}

void ring_driver_exit(struct ring_driver *rd)
{
	if (!rd->live)
		return;
	/* Closing the ring drops the registered buffers and files. */
	io_uring_queue_exit(&rd->ring);
	rd->live = false;
}

int ring_driver_fd(const struct ring_driver *rd)
{
	return rd->ring.ring_fd;
}

int ring_driver_set_file(struct ring_driver *rd, unsigned index, int fd)
{
	int r = io_uring_register_files_update(&rd->ring, index, &fd, 1);

	return r < 0 ? r : 0;
}

int ring_driver_clear_file(struct ring_driver *rd, unsigned index)
{
	return ring_driver_set_file(rd, index, -1);
}

int ring_driver_queue(struct ring_driver *rd, const struct ring_op *op)
{
	struct io_uring_sqe *sqe;

	/* Refuse before taking an SQE: a taken SQE is submitted. */
	if (op->opcode >= KERNEL_OPCODE_COUNT)
		return -EINVAL;
	sqe = io_uring_get_sqe(&rd->ring);
	if (!sqe)
		return -EBUSY;
	switch (op->opcode) {
	case SR_OP_NOP:
		io_uring_prep_nop(sqe);
		break;
	case SR_OP_READ:
		io_uring_prep_read_fixed(sqe, (int)op->file_index, op->addr,
					 op->len, op->offset, op->buf_index);
		break;
	case SR_OP_WRITE:
		io_uring_prep_write_fixed(sqe, (int)op->file_index, op->addr,
					  op->len, op->offset, op->buf_index);
		break;
	case SR_OP_FSYNC:
		io_uring_prep_fsync(sqe, (int)op->file_index,
				    (op->fsync_flags & SR_FSYNC_DATASYNC) ?
				    IORING_FSYNC_DATASYNC : 0);
		break;
	}
	/* NOP names no file, but the ring requires the flag on every SQE. */
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, op->user_data);
	return 0;
}

int ring_driver_cancel_all(struct ring_driver *rd)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&rd->ring);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, RING_CANCEL_USER_DATA);
	return 0;
}

int ring_driver_submit(struct ring_driver *rd)
{
	int r;

	do
		r = io_uring_submit(&rd->ring);
	while (r == -EINTR);
	return r;
}

unsigned ring_driver_reap(struct ring_driver *rd, ring_cqe_fn fn, void *arg)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&rd->ring, head, cqe) {
		fn(arg, cqe->user_data, cqe->res, cqe->flags);
		n++;
	}
	io_uring_cq_advance(&rd->ring, n);
	return n;
}

int ring_driver_probe(void)
{
	struct io_uring ring;
	int r = io_uring_queue_init(2, &ring, 0);

	if (r == 0)
		io_uring_queue_exit(&ring);
	return r;
}
