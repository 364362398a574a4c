/* SPDX-License-Identifier: MIT */
/*
 * ring.c - see ring.h.  The kernel restrictions installed here are the
 * second layer of defence: they must hold even if the validator is wrong,
 * so they are derived from the policy's allowed opcodes, not from what the
 * validator happens to accept.
 *
 * Every SQE carries IOSQE_FIXED_FILE, and the ring requires it, so no SQE
 * can name a raw descriptor.  Operations without a file (NOP, TIMEOUT,
 * LINK_TIMEOUT, POLL_REMOVE, ASYNC_CANCEL) ignore the flag on Linux 6.x.
 * IORING_OP_CLOSE refuses it (-EBADF), so CLOSE is not a kernel operation
 * here: the daemon clears the table entry itself (ring_driver_clear_file).
 */
#include "ring.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "op_table.h"
#include "ring_threads.h"
#include "saferring.h"

/*
 * liburing (2.3, static) maps and unmaps a ring's memory with raw system
 * calls, which ThreadSanitizer cannot see: when a ring's addresses go to
 * a later ring that another thread uses, it would take the old ring's
 * accesses for a race with the new one's.  The kernel reuses an address
 * only after the unmap: tell ThreadSanitizer exactly that, each teardown
 * happening before each later set-up.  Nothing in other builds.
 */
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
static char ring_memory_reuse;
#define ring_memory_released() __tsan_release(&ring_memory_reuse)
#define ring_memory_acquired() __tsan_acquire(&ring_memory_reuse)
#else
#define ring_memory_released() do { } while (0)
#define ring_memory_acquired() do { } while (0)
#endif

/* The threads driver: one branch a call, never taken on io_uring's path,
 * so that path stays as it was. */
#define ON_THREADS(rd) __builtin_expect((rd)->threads != NULL, 0)

#define NO_KERNEL_OP 0xff
/* The receive pool's buffer group. */
#define POOL_GROUP 0

/* The kernel opcode behind each saferring opcode, from the one table of
 * operations: both the restrictions and the SQEs come from it. */
#define KERNEL_ROW(op, name, fd, slot, iov, off, len, to, tgt, addr, msg,   \
		   flags, msgf, daemon, arg, kernel)                        \
	[SR_OP_##op] = kernel,
static const uint8_t kernel_opcode[SR_OP__COUNT] = {
	SR_OP_TABLE(KERNEL_ROW)
};
#define KERNEL_OPCODE_COUNT (sizeof(kernel_opcode) / sizeof(kernel_opcode[0]))
_Static_assert(SR_CQE_F_MORE == IORING_CQE_F_MORE &&
	       SR_CQE_F_SOCK_NONEMPTY == IORING_CQE_F_SOCK_NONEMPTY,
	       "SR_CQE_F_* must be the kernel's CQE flags");

static int ring_driver_restrict(struct ring_driver *rd, uint64_t allowed_ops)
{
	struct io_uring_restriction res[KERNEL_OPCODE_COUNT + 4];
	unsigned n = 0;

	memset(res, 0, sizeof(res));
	for (unsigned op = 0; op < KERNEL_OPCODE_COUNT; op++) {
		if (!(allowed_ops & (1ULL << op)) ||
		    kernel_opcode[op] == NO_KERNEL_OP)
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
	/* Links for chains, buffer selection for the receive pool, ASYNC
	 * for files that may hold the submitter (the daemon sets it, never a
	 * request); never IO_DRAIN, which nothing asks for. */
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[n++].sqe_flags = IOSQE_FIXED_FILE | IOSQE_IO_LINK |
			     IOSQE_IO_HARDLINK | IOSQE_BUFFER_SELECT |
			     IOSQE_ASYNC;
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
	/* SUBMIT_ALL: one bad SQE must not leave the rest of a submission
	 * (and half a chain) sitting in the SQ. */
	struct io_uring_params p = {
		.flags = IORING_SETUP_R_DISABLED | IORING_SETUP_CQSIZE |
			 IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
		.cq_entries = entries * 4,
	};
	int r = io_uring_queue_init_params(entries, &rd->ring, &p);

	if (r == -EINVAL) {
		/* Kernels before 5.19 lack COOP_TASKRUN; it is only a speedup. */
		p = (struct io_uring_params){
			.flags = IORING_SETUP_R_DISABLED | IORING_SETUP_CQSIZE |
				 IORING_SETUP_SUBMIT_ALL,
			.cq_entries = entries * 4,
		};
		r = io_uring_queue_init_params(entries, &rd->ring, &p);
	}
	return r;
}

/* The receive pool: a buffer ring only this process can write, empty at
 * first.  Registered before the ring is enabled, since the restrictions
 * forbid it afterwards. */
static int ring_driver_pool(struct ring_driver *rd, unsigned entries)
{
	struct io_uring_buf_reg reg = { .ring_entries = entries,
					.bgid = POOL_GROUP };
	size_t bytes = (size_t)entries * sizeof(struct io_uring_buf);
	void *p;

	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	rd->pool = p;
	rd->pool_bytes = bytes;
	rd->pool_entries = entries;
	io_uring_buf_ring_init(rd->pool);
	reg.ring_addr = (uint64_t)(uintptr_t)p;
	return io_uring_register_buf_ring(&rd->ring, &reg, 0);
}

/*
 * Pinning faults the arena in while holding the daemon's mmap lock for
 * reading; a thread that maps or unmaps anything meanwhile (a worker
 * freeing a session) waits for the whole pin, and every session on that
 * worker with it: 100 ms for 256 MiB here.  Pinned a piece at a time,
 * the lock is let go between pieces, so nobody waits longer than one.
 */
#define RING_PIN_PIECE_BYTES (4U << 20)

static int ring_driver_buffers(struct ring_driver *rd, const struct iovec *iov,
			       unsigned n)
{
	int r = io_uring_register_buffers_sparse(&rd->ring, n);

	if (r == -EINVAL) /* before 5.19: all at once */
		return io_uring_register_buffers(&rd->ring, iov, n);
	for (unsigned off = 0; r == 0 && off < n;) {
		size_t bytes = iov[off].iov_len;
		unsigned k = 1;

		while (off + k < n &&
		       bytes + iov[off + k].iov_len <= RING_PIN_PIECE_BYTES)
			bytes += iov[off + k++].iov_len;
		r = io_uring_register_buffers_update_tag(&rd->ring, off,
							 iov + off, NULL, k);
		if (r > 0) {
			off += (unsigned)r;
			r = 0;
		} else if (r == 0) {
			r = -ENOMEM;
		}
	}
	return r;
}

int ring_driver_init(struct ring_driver *rd, const struct ring_config *cfg)
{
	int r;

	memset(rd, 0, sizeof(*rd));
	if (cfg->threads)
		return ring_threads_init(rd, cfg);
	r = ring_driver_setup(rd, cfg->entries);
	if (r < 0)
		return r;
	ring_memory_acquired();
	rd->live = true;
	r = ring_driver_buffers(rd, cfg->bufs, cfg->nbufs);
	if (r == 0)
		r = io_uring_register_files_sparse(&rd->ring, cfg->files);
	/* Multishot accepts take indices only from the kernel's part of the
	 * table, never one the daemon hands out. */
	if (r == 0 && cfg->alloc_start < cfg->files)
		r = io_uring_register_file_alloc_range(&rd->ring,
				cfg->alloc_start, cfg->files - cfg->alloc_start);
	if (r == 0)
		r = ring_driver_pool(rd, cfg->pool_entries);
	if (r == 0 && (cfg->iowq_bounded || cfg->iowq_unbounded)) {
		unsigned workers[2] = { cfg->iowq_bounded, cfg->iowq_unbounded };

		r = io_uring_register_iowq_max_workers(&rd->ring, workers);
	}
	if (r == 0)
		r = ring_driver_restrict(rd, cfg->allowed_ops);
	if (r < 0)
		ring_driver_exit(rd);
	return r;
}

void ring_driver_exit(struct ring_driver *rd)
{
	if (ON_THREADS(rd)) {
		ring_threads_exit(rd);
		return;
	}
	if (rd->live) {
		int fd = rd->ring.ring_fd;

		/* Closing the ring drops the registered buffers, files and
		 * the pool; only then may the pool's memory go.  The
		 * descriptor is closed here, through the C library, not by
		 * liburing's raw system call: what follows descriptors
		 * (ThreadSanitizer, valgrind) must see it go, or it takes
		 * the next descriptor with that number for this one. */
		ring_memory_released();
		rd->ring.ring_fd = -1;
		io_uring_queue_exit(&rd->ring);
		close(fd);
		rd->live = false;
	}
	if (rd->pool) {
		munmap(rd->pool, rd->pool_bytes);
		rd->pool = NULL;
	}
}

int ring_driver_fd(const struct ring_driver *rd)
{
	if (ON_THREADS(rd))
		return ring_threads_fd(rd->threads);
	return rd->ring.ring_fd;
}

int ring_driver_set_file(struct ring_driver *rd, unsigned index, int fd)
{
	if (ON_THREADS(rd))
		return ring_threads_set_file(rd->threads, index, fd);
	int r = io_uring_register_files_update(&rd->ring, index, &fd, 1);

	return r < 0 ? r : 0;
}

int ring_driver_clear_file(struct ring_driver *rd, unsigned index)
{
	if (ON_THREADS(rd))
		return ring_threads_clear_file(rd->threads, index);
	return ring_driver_set_file(rd, index, -1);
}

int ring_driver_reserve(struct ring_driver *rd, unsigned n)
{
	if (ON_THREADS(rd))
		return ring_threads_reserve(rd->threads, n);
	if (io_uring_sq_space_left(&rd->ring) >= n)
		return 0;
	int r = ring_driver_submit(rd);
	if (r < 0)
		return r;
	return io_uring_sq_space_left(&rd->ring) >= n ? 0 : -EBUSY;
}

static void ring_prep(struct io_uring_sqe *sqe, const struct ring_op *op)
{
	int fd = (int)op->file_index;

	/* As the enum, so that a new opcode without a case here does not
	 * compile (-Wswitch-enum). */
	switch ((enum sr_opcode)op->opcode) {
	case SR_OP_NOP:
		io_uring_prep_nop(sqe);
		break;
	case SR_OP_READ:
		io_uring_prep_read_fixed(sqe, fd, op->addr, op->len,
					 op->offset, op->buf_index);
		break;
	case SR_OP_WRITE:
		io_uring_prep_write_fixed(sqe, fd, op->addr, op->len,
					  op->offset, op->buf_index);
		break;
	case SR_OP_FSYNC:
		io_uring_prep_fsync(sqe, fd,
				    (op->op_flags & SR_FSYNC_DATASYNC) ?
				    IORING_FSYNC_DATASYNC : 0);
		break;
	case SR_OP_READV:
		io_uring_prep_readv(sqe, fd, op->addr, op->len, op->offset);
		break;
	case SR_OP_WRITEV:
		io_uring_prep_writev(sqe, fd, op->addr, op->len, op->offset);
		break;
	case SR_OP_FALLOCATE:
		io_uring_prep_fallocate(sqe, fd, (int)op->op_flags,
					(off_t)op->offset, (off_t)op->length);
		break;
	case SR_OP_SEND:
		/* A peer gone away is an -EPIPE result, never a SIGPIPE
		 * that would kill the daemon. */
		io_uring_prep_send(sqe, fd, op->addr, op->len,
				   (int)(op->op_flags | MSG_NOSIGNAL));
		break;
	case SR_OP_RECV:
		if (op->multishot) {
			io_uring_prep_recv_multishot(sqe, fd, NULL, 0,
						     (int)op->op_flags);
			sqe->flags |= IOSQE_BUFFER_SELECT;
			sqe->buf_group = POOL_GROUP;
		} else {
			io_uring_prep_recv(sqe, fd, op->addr, op->len,
					   (int)op->op_flags);
		}
		break;
	case SR_OP_SENDMSG:
		io_uring_prep_sendmsg(sqe, fd, op->addr,
				      op->op_flags | MSG_NOSIGNAL);
		break;
	case SR_OP_RECVMSG:
		io_uring_prep_recvmsg(sqe, fd, op->addr, op->op_flags);
		break;
	case SR_OP_ACCEPT:
		/* Straight into the fixed-file table: no descriptor ever
		 * appears in the daemon. */
		if (op->multishot)
			io_uring_prep_multishot_accept_direct(sqe, fd, NULL,
							      NULL, 0);
		else
			io_uring_prep_accept_direct(sqe, fd, NULL, NULL, 0,
						    op->accept_index);
		break;
	case SR_OP_CONNECT:
		io_uring_prep_connect(sqe, fd, op->addr, op->len);
		break;
	case SR_OP_POLL_ADD:
		io_uring_prep_poll_add(sqe, fd, op->op_flags);
		break;
	case SR_OP_POLL_REMOVE:
		io_uring_prep_poll_remove(sqe, op->target);
		break;
	case SR_OP_TIMEOUT:
		io_uring_prep_timeout(sqe, op->addr, 0, 0);
		break;
	case SR_OP_LINK_TIMEOUT:
		io_uring_prep_link_timeout(sqe, op->addr, 0);
		break;
	case SR_OP_ASYNC_CANCEL:
		io_uring_prep_cancel64(sqe, op->target, 0);
		break;
	case SR_OP_SHUTDOWN:
		io_uring_prep_shutdown(sqe, fd, (int)op->op_flags);
		break;
	case SR_OP_CLOSE:
	case SR_OP_PROVIDE:
	case SR_OP__COUNT:
	default:
		/* Done by the daemon, never queued: ring_driver_queue
		 * refuses them first. */
		io_uring_prep_nop(sqe);
		break;
	}
}

int ring_driver_queue(struct ring_driver *rd, const struct ring_op *op)
{
	struct io_uring_sqe *sqe;

	if (ON_THREADS(rd))
		return ring_threads_queue(rd->threads, op);
	/* Refuse before taking an SQE: a taken SQE is submitted. */
	if (op->opcode >= KERNEL_OPCODE_COUNT ||
	    kernel_opcode[op->opcode] == NO_KERNEL_OP)
		return -EINVAL;
	sqe = io_uring_get_sqe(&rd->ring);
	if (!sqe)
		return -EBUSY;
	ring_prep(sqe, op);
	/* Operations without a file ignore it, but the ring requires the
	 * flag on every SQE. */
	sqe->flags |= IOSQE_FIXED_FILE;
	if (op->link == SR_LINK)
		sqe->flags |= IOSQE_IO_LINK;
	else if (op->link == SR_LINK_HARD)
		sqe->flags |= IOSQE_IO_HARDLINK;
	if (op->async)
		sqe->flags |= IOSQE_ASYNC;
	io_uring_sqe_set_data64(sqe, op->user_data);
	return 0;
}

static int ring_driver_queue_cancel(struct ring_driver *rd, uint64_t target,
				    int flags)
{
	struct io_uring_sqe *sqe;
	int r = ring_driver_reserve(rd, 1);

	if (r < 0)
		return r;
	sqe = io_uring_get_sqe(&rd->ring);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_cancel64(sqe, target, flags);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, RING_CANCEL_USER_DATA);
	return 0;
}

int ring_driver_cancel(struct ring_driver *rd, uint64_t user_data)
{
	if (ON_THREADS(rd))
		return ring_threads_cancel(rd->threads, user_data);
	return ring_driver_queue_cancel(rd, user_data, 0);
}

int ring_driver_cancel_all(struct ring_driver *rd)
{
	if (ON_THREADS(rd))
		return ring_threads_cancel_all(rd->threads);
	return ring_driver_queue_cancel(rd, 0, IORING_ASYNC_CANCEL_ANY);
}

int ring_driver_submit(struct ring_driver *rd)
{
	int r;

	if (ON_THREADS(rd))
		return ring_threads_submit(rd->threads);
	do
		r = io_uring_submit(&rd->ring);
	while (r == -EINTR);
	return r;
}

void ring_driver_provide(struct ring_driver *rd, void *addr, uint32_t len,
			 uint16_t bid)
{
	if (ON_THREADS(rd)) {
		ring_threads_provide(rd->threads, addr, len, bid);
		return;
	}
	io_uring_buf_ring_add(rd->pool, addr, len, bid,
			      io_uring_buf_ring_mask(rd->pool_entries), 0);
	/* A release store of the tail: the kernel sees the entry whole. */
	io_uring_buf_ring_advance(rd->pool, 1);
}

unsigned ring_driver_reap(struct ring_driver *rd, ring_cqe_fn fn, void *arg)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	if (ON_THREADS(rd))
		return ring_threads_reap(rd->threads, fn, arg);
	io_uring_for_each_cqe(&rd->ring, head, cqe) {
		fn(arg, cqe->user_data, cqe->res, cqe->flags);
		n++;
	}
	io_uring_cq_advance(&rd->ring, n);
	return n;
}

bool ring_driver_ready(const struct ring_driver *rd)
{
	if (ON_THREADS(rd))
		return ring_threads_ready(rd->threads);
	return rd->live && io_uring_cq_ready(&rd->ring) > 0;
}

uint64_t ring_kernel_lacks(const struct io_uring_probe *probe)
{
	uint64_t lacks = 0;

	for (unsigned op = 0; op < KERNEL_OPCODE_COUNT; op++)
		if (kernel_opcode[op] != NO_KERNEL_OP &&
		    !io_uring_opcode_supported(probe, kernel_opcode[op]))
			lacks |= 1ULL << op;
	return lacks;
}

int ring_driver_probe(uint64_t *lacks)
{
	struct io_uring_probe *probe;
	struct io_uring ring;
	int r = io_uring_queue_init(2, &ring, 0);

	*lacks = 0;
	if (r < 0)
		return r;
	/* NULL only before Linux 5.6, which lacks the set-up flags every
	 * session ring needs anyway: that failure is the one reported. */
	probe = io_uring_get_probe_ring(&ring);
	if (probe)
		*lacks = ring_kernel_lacks(probe);
	io_uring_free_probe(probe);
	io_uring_queue_exit(&ring);
	return 0;
}
