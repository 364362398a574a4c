/* SPDX-License-Identifier: MIT */
/*
 * inline.c - the inline attempt: a read or write of a regular file, in
 * no chain, is first tried here, with
 * preadv2/pwritev2 and RWF_NOWAIT into or out of its slots.  When the
 * page cache can serve it at once it completes without the daemon, in a
 * microsecond instead of two context switches; when it would block, is
 * short, or fails, the daemon is asked as usual and decides.
 *
 * It never widens what the client may do: the descriptor is our own copy
 * of one the daemon admitted, the operation is one the daemon's policy
 * allows (Welcome.allowed_ops), and the kernel checks our own identity
 * and limits, not the daemon's.  Its completion passes the same checks
 * and bookkeeping as the daemon's, with the slot's generation unchanged
 * (the daemon never saw the operation, so its generation did not move).
 *
 * At depth the work is shared (srl_inline_split): the daemon gets at
 * least three quarters of what will be in flight, on its own CPU, and we
 * do the rest here while it works, so that both CPUs read.  A lone
 * operation is thus always tried.  After a few misses in a row (files
 * not in the page cache) the attempt rests for a while.
 * Files opened O_DIRECT are never tried: their I/O waits for the device
 * whatever RWF_NOWAIT says.
 *
 * Must never try a linked operation, one the policy refuses, one whose
 * handle is no longer the one it was prepared with, or a write past our
 * RLIMIT_FSIZE (the kernel would send SIGXFSZ where the daemon answers
 * FILE_TOO_LARGE), and never keep a descriptor past its handle.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "client.h"

/* The daemon's share of what will be in flight, in eighths.  A read the
 * daemon does costs it about as much CPU as one costs us here (the
 * syscall's entry and exit are dear on this kind of machine, and io_uring
 * saves the daemon those), but we also prepare and take the daemon's
 * share.  4K cached reads at QD128 (make bench's cell), share against
 * raw io_uring: 4/8 0.63x, 5/8 0.73x, 6/8 0.86-0.89x, 7/8 0.85-0.88x. */
#define INLINE_DAEMON_EIGHTHS 6U

/* Misses in a row before resting, and operations sent while resting. */
#define INLINE_MAX_MISSES 4U
#define INLINE_REST_OPS 256U

void srl_inline_adopt(struct sr_client *c, uint32_t handle, int fd)
{
	struct stat st;
	int flags, copy;

	if (!c->inline_on || handle >= c->fd_table_size)
		return;
	flags = fcntl(fd, F_GETFL);
	/* Regular files only: their reads and writes mean the same whoever
	 * does them.  O_APPEND writes ignore the offset; leave those to
	 * the daemon, which knows how to refuse them.  O_DIRECT I/O never
	 * says "would block": RWF_NOWAIT only spares it the locks, and the
	 * call then waits for the device, which would make sr_submit block
	 * for as long as the disk takes. */
	if (flags < 0 || (flags & (O_APPEND | O_DIRECT)) ||
	    fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (copy >= 0)
		c->handles[handle].fd = copy;
}

void srl_inline_forget(struct sr_client *c, uint32_t handle)
{
	struct sr_handle *h;

	if (handle >= c->fd_table_size)
		return;
	h = &c->handles[handle];
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
}

/* The slot ranges of @o as our own iovecs; how many, 0 when none. */
static unsigned inline_iov(const struct sr_client *c,
			   const struct op_request *o, struct iovec *iov,
			   size_t *total)
{
	unsigned n = 0;

	*total = 0;
	if (o->has_slot) {
		iov[0].iov_base = c->arena + (size_t)o->slot_index *
					     c->lim.slot_size + o->slot_offset;
		iov[0].iov_len = o->slot_length;
		*total = o->slot_length;
		return 1;
	}
	for (; n < o->n_iov && n < OP_MAX_IOV; n++) {
		const struct op_slot_ref *v = &o->iov[n];

		iov[n].iov_base = c->arena + (size_t)v->index *
					     c->lim.slot_size + v->offset;
		iov[n].iov_len = v->length;
		*total += v->length;
	}
	return n;
}

static void inline_missed(struct sr_client *c)
{
	if (++c->inline_misses >= INLINE_MAX_MISSES) {
		c->inline_misses = 0;
		c->inline_skip = INLINE_REST_OPS;
	}
}

/* May @o be tried here at all?  No side effects: the share asks first. */
static bool inline_can(const struct sr_client *c, const struct op_request *o)
{
	const struct sr_handle *h;
	bool write;

	switch (o->opcode) {
	case SR_OP_READ:
	case SR_OP_READV:
		write = false;
		break;
	case SR_OP_WRITE:
	case SR_OP_WRITEV:
		write = true;
		break;
	default:
		return false;
	}
	if (o->link || !(c->lim.allowed_ops & (1ULL << o->opcode)) ||
	    !o->has_fd || o->fd_index >= c->fd_table_size ||
	    o->file_offset > INT64_MAX)
		return false;
	/* The handle may have been unregistered since the operation was
	 * prepared, and its index given to another file: the daemon
	 * refuses such an operation (BAD_HANDLE, STALE_HANDLE), so it is
	 * the daemon's to answer, never ours through the new file. */
	h = &c->handles[o->fd_index];
	return h->state == SR_HANDLE_LIVE &&
	       h->generation == o->fd_generation && h->fd >= 0 &&
	       !(write && h->no_inline_write);
}

/* Does ops[i] stand alone, in no chain?  A chain's last member does not
 * link itself, but the one before it does. */
static bool inline_alone(const struct op_request *ops, unsigned i)
{
	return !ops[i].link && (i == 0 || !ops[i - 1].link);
}

int srl_inline_split(struct sr_client *c, const struct op_request *ops,
		     unsigned n)
{
	unsigned busy, share, keep = n, min_keep;
	int ret;

	if (c->inline_skip) {
		c->inline_skip -= c->inline_skip < n ? c->inline_skip : n;
		return (int)n;
	}
	/* Candidates come from the end: none there, nothing to share (a
	 * socket's batch), and nothing to look at first. */
	if (!n || !inline_alone(ops, n - 1) || !inline_can(c, &ops[n - 1]))
		return (int)n;
	/* What the daemon finished already is not its work: take it in.
	 * Not for an event loop's session: taking costs it a system call
	 * (the doorbell's read), and its next sr_peek_cqe takes them. */
	if (c->rings.on && !c->rings.notify && c->in_flight > c->cq_len) {
		ret = srl_rings_take(c);
		if (ret < 0)
			return ret;
	}
	/* Ours, not yet completed by the daemon (completions queued here
	 * are done); multishot ones may make this a little off. */
	busy = c->in_flight > c->cq_len ? c->in_flight - c->cq_len : 0;
	share = (busy + n) * INLINE_DAEMON_EIGHTHS / 8;
	min_keep = share > busy ? share - busy : 0;
	while (keep > min_keep && inline_alone(ops, keep - 1) &&
	       inline_can(c, &ops[keep - 1]))
		keep--;
	return (int)keep;
}

unsigned srl_inline_run(struct sr_client *c, struct op_request *ops,
			unsigned n)
{
	unsigned left = 0;

	for (unsigned i = 0; i < n; i++) {
		if (srl_inline_try(c, &ops[i]))
			continue;
		/* Candidates are reads and writes: no address points into
		 * batch_addr, so they move as they are. */
		if (i != left)
			ops[left] = ops[i];
		left++;
	}
	return left;
}

bool srl_inline_try(struct sr_client *c, const struct op_request *o)
{
	struct iovec iov[OP_MAX_IOV];
	struct op_completion cc;
	const struct sr_op *op;
	bool write;
	size_t total;
	unsigned n;
	ssize_t ret;
	int fd;

	if (c->inline_skip) {
		c->inline_skip--;
		return false;
	}
	if (!inline_can(c, o))
		return false;
	write = o->opcode == SR_OP_WRITE || o->opcode == SR_OP_WRITEV;
	fd = c->handles[o->fd_index].fd;
	n = inline_iov(c, o, iov, &total);
	if (!n || total > INT32_MAX)
		return false;
	if (write && (o->file_offset > c->file_size_limit ||
		      total > c->file_size_limit - o->file_offset))
		return false;
	ret = write ? pwritev2(fd, iov, (int)n, (off_t)o->file_offset,
			       RWF_NOWAIT) :
		      preadv2(fd, iov, (int)n, (off_t)o->file_offset,
			      RWF_NOWAIT);
	if (ret < 0 && errno == EOPNOTSUPP) {
		/* This file cannot say "would block" for this direction:
		 * never again.  Reads and writes differ (ext4 takes
		 * RWF_NOWAIT reads, and buffered writes only on some
		 * kernels), so a write keeps the reads. */
		if (write)
			c->handles[o->fd_index].no_inline_write = true;
		else
			srl_inline_forget(c, o->fd_index);
		return false;
	}
	/* Would block, short (perhaps half cached), or an error: the
	 * daemon's answer is the one that counts. */
	if (ret < 0 || (size_t)ret != total) {
		inline_missed(c);
		return false;
	}
	c->inline_misses = 0;

	/* Completed: through the same checks as the daemon's completion. */
	op = &c->ops[o->tag];
	/* Field by field: the slot list is long and mostly unused. */
	cc.tag = o->tag;
	cc.status = SR_STATUS_OK;
	cc.result = (int32_t)ret;
	cc.flags = 0;
	cc.has_slot = cc.has_handle = false;
	cc.n_slots = 0;
	if (op->vectored) {
		for (unsigned i = 0; i < op->nslots; i++) {
			const struct sr_slot *s = &c->slots[op->slots[i]];

			if (s->refs != 1)
				continue;
			cc.slots[cc.n_slots++] = (struct op_slot_back){
				.index = (uint32_t)op->slots[i],
				.generation = s->generation,
			};
		}
	} else if (op->nslots && c->slots[op->slots[0]].refs == 1) {
		cc.has_slot = true;
		cc.slot_index = (uint32_t)op->slots[0];
		cc.slot_generation = c->slots[op->slots[0]].generation;
	}
	c->ops[o->tag].state = SR_OP_SENT;
	c->in_flight++;
	/* Done either way: should our own completion fail the checks, the
	 * session has failed, and the caller's next call says so. */
	srl_take_decoded(c, &cc, 1);
	return true;
}
