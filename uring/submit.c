/* SPDX-License-Identifier: MIT */
/*
 * submit.c - io_uring_submit: each SQE the program queued becomes one
 * libsaferring operation (or a few steps of the facade's own), linked as
 * the program linked them.
 *
 * First every SQE is read, checked and turned into an operation: what
 * the kernel would refuse at submission, or what saferringd cannot do,
 * completes at once with the errno liburing's program would see from a
 * kernel without it (-EOPNOTSUPP for an operation, -EINVAL for a flag or
 * field).  Then operations are sent as slots and the daemon's in-flight
 * quota allow; what must wait stays in a backlog, in order, a chain
 * always whole, and goes as completions free room.  Must never read an
 * SQE twice, never send part of a chain, and never let the program's
 * submission fail for want of room the facade can wait for.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "facade.h"

/* SQE flags the facade honours.  IOSQE_ASYNC is a hint: everything the
 * daemon does is asynchronous to the program anyway. */
#define SRU_SQE_FLAGS (IOSQE_FIXED_FILE | IOSQE_IO_LINK | IOSQE_IO_HARDLINK | \
		       IOSQE_ASYNC | IOSQE_BUFFER_SELECT | \
		       IOSQE_CQE_SKIP_SUCCESS)

/* Bound on the bytes one operation adds to libsaferring's batch
 * (saferring.h: a batch must fit one 64 KiB datagram). */
#define SRU_OP_WIRE(nranges, addrlen) (96U + (nranges) * 48U + (addrlen))
#define SRU_BATCH_BYTES (65536U - 256U)

/* ---- operations ------------------------------------------------------ */

struct sru_op *sru_op_new(struct sru_state *st)
{
	struct sru_op *op;
	int32_t i;

	if (st->op_free < 0) {
		uint32_t n = st->nops ? 2 * st->nops : 256;
		struct sru_op *o = realloc(st->ops, n * sizeof(*o));

		if (!o)
			return NULL;
		st->ops = o;
		for (uint32_t k = n; k-- > st->nops;) {
			o[k].state = SRU_OP_FREE;
			o[k].next = st->op_free;
			st->op_free = (int32_t)k;
		}
		st->nops = n;
	}
	i = st->op_free;
	op = &st->ops[i];
	st->op_free = op->next;
	memset(op, 0, sizeof(*op));
	op->id = (uint32_t)i;
	op->fd = -1;
	op->handle = -1;
	op->pos_fd = -1;
	op->pbuf = -1;
	op->next = -1;
	op->target_id = -1;
	op->state = SRU_OP_LOCAL;
	return op;
}

static uint32_t ud_bucket(uint64_t user_data)
{
	return (uint32_t)((user_data * 0x9e3779b97f4a7c15ULL) >> 52) &
	       (SRU_UD_BUCKETS - 1);
}

static void ud_hash(struct sru_state *st, struct sru_op *op)
{
	uint32_t b = ud_bucket(op->user_data);

	op->hnext = st->by_ud[b];
	st->by_ud[b] = (int32_t)op->id;
	op->hashed = true;
}

static void ud_unhash(struct sru_state *st, struct sru_op *op)
{
	int32_t *p = &st->by_ud[ud_bucket(op->user_data)];

	if (!op->hashed)
		return;
	while (*p >= 0 && *p != (int32_t)op->id)
		p = &st->ops[*p].hnext;
	if (*p >= 0)
		*p = op->hnext;
	op->hashed = false;
}

void sru_op_free(struct sru_state *st, struct sru_op *op)
{
	ud_unhash(st, op);
	free(op->pieces);
	op->pieces = NULL;
	op->state = SRU_OP_FREE;
	op->next = st->op_free;
	st->op_free = (int32_t)op->id;
}

void sru_backlog_push(struct sru_state *st, struct sru_op *op)
{
	op->state = SRU_OP_WAITING;
	op->next = -1;
	if (st->backlog_tail >= 0)
		st->ops[st->backlog_tail].next = (int32_t)op->id;
	else
		st->backlog_head = (int32_t)op->id;
	st->backlog_tail = (int32_t)op->id;
}

/* ---- reading an SQE -------------------------------------------------- */

static int set_pieces_iov(struct sru_op *op, const struct iovec *iov,
			  size_t n)
{
	uint64_t total = 0;

	if (n > SRU_MAX_PIECES)
		return -EINVAL;
	if (!iov && n)
		return -EFAULT;
	free(op->pieces); /* a provided buffer's second try */
	op->pieces = NULL;
	if (n > 1) {
		op->pieces = calloc(n, sizeof(*op->pieces));
		if (!op->pieces)
			return -ENOMEM;
	}
	op->npieces = 0;
	for (size_t i = 0; i < n; i++) {
		if (!iov[i].iov_len)
			continue;
		if (!iov[i].iov_base)
			return -EFAULT;
		sru_op_pieces(op)[op->npieces++] = (struct sru_piece){
			.p = iov[i].iov_base, .len = iov[i].iov_len,
		};
		total += iov[i].iov_len;
	}
	if (total > INT32_MAX)
		return -EINVAL;
	op->len = (uint32_t)total;
	return 0;
}

static int set_piece(struct sru_op *op, uint64_t addr, uint32_t len)
{
	struct iovec v = { .iov_base = (void *)(uintptr_t)addr,
			   .iov_len = len };

	return set_pieces_iov(op, &v, 1);
}

static int timespec_ns(struct sru_state *st, uint64_t addr, uint32_t flags,
		       uint64_t *ns)
{
	const struct __kernel_timespec *ts = (const void *)(uintptr_t)addr;
	struct timespec now;
	int64_t t;
	clockid_t clk = CLOCK_MONOTONIC;

	(void)st;
	if (!ts)
		return -EFAULT;
	if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000LL)
		return -EINVAL;
	t = ts->tv_sec * 1000000000LL + ts->tv_nsec;
	if (flags & IORING_TIMEOUT_ABS) {
		if (flags & IORING_TIMEOUT_REALTIME)
			clk = CLOCK_REALTIME;
		else if (flags & IORING_TIMEOUT_BOOTTIME)
			clk = CLOCK_BOOTTIME;
		clock_gettime(clk, &now);
		t -= (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
		if (t < 0)
			t = 0;
	}
	/* 0 would be "no timeout" to nobody: the kernel fires at once. */
	*ns = t > 0 ? (uint64_t)t : 1;
	return 0;
}

/* The program's file: a registered file's handle, or its descriptor's. */
static int resolve_fd(struct sru_state *st, const struct io_uring_sqe *sqe,
		      struct sru_op *op)
{
	bool seekable = false;
	int h;

	if (sqe->flags & IOSQE_FIXED_FILE) {
		if (sqe->fd < 0 || (unsigned)sqe->fd >= st->nfixed)
			return -EBADF;
		h = st->fixed[sqe->fd];
		if (h < 0)
			return -EBADF;
		op->handle = h;
		op->fd = -1;
		return 0;
	}
	h = sru_fd_handle(st, sqe->fd, &seekable);
	if (h < 0)
		return h;
	op->handle = h;
	op->fd = sqe->fd;
	op->stream = !seekable;
	return 0;
}

/* Reads and writes: off -1 means the file's own position, which the
 * facade reads now and moves by the result at completion. */
static int rw_offset(struct sru_op *op, const struct io_uring_sqe *sqe)
{
	op->off = sqe->off;
	if (op->stream) {
		op->off = 0; /* a pipe or a socket has no offset */
		return 0;
	}
	if (sqe->off != (uint64_t)-1 || op->fd < 0)
		return op->off > INT64_MAX ? -EINVAL : 0;
	off_t pos = lseek(op->fd, 0, SEEK_CUR);

	if (pos < 0) {
		op->off = 0; /* a pipe or a socket */
		return 0;
	}
	op->off = (uint64_t)pos;
	op->pos_fd = op->fd;
	return 0;
}

/* The first operation in flight or waiting with @user_data. */
static struct sru_op *find_target(struct sru_state *st, uint64_t user_data,
				  const struct sru_op *self)
{
	for (int32_t i = st->by_ud[ud_bucket(user_data)]; i >= 0;
	     i = st->ops[i].hnext) {
		struct sru_op *o = &st->ops[i];

		if (o != self && o->user_data == user_data &&
		    (o->state == SRU_OP_SENT || o->state == SRU_OP_WAITING))
			return o;
	}
	return NULL;
}

void sru_backlog_remove(struct sru_state *st, struct sru_op *op)
{
	int32_t prev = -1;

	for (int32_t i = st->backlog_head; i >= 0; i = st->ops[i].next) {
		if (i == (int32_t)op->id) {
			if (prev >= 0)
				st->ops[prev].next = op->next;
			else
				st->backlog_head = op->next;
			if (st->backlog_tail == i)
				st->backlog_tail = prev;
			return;
		}
		prev = i;
	}
}

/* A cancel, poll remove or timeout remove: 0 when it is for the
 * daemon to do, or its result when the facade knows it already. */
static int cancel_target(struct sru_state *st, struct sru_op *op)
{
	struct sru_op *t = find_target(st, op->target, op);

	if (!t)
		return -ENOENT;
	if (op->opcode == IORING_OP_POLL_REMOVE &&
	    t->opcode != IORING_OP_POLL_ADD)
		return -ENOENT;
	if (op->opcode == IORING_OP_TIMEOUT_REMOVE &&
	    t->opcode != IORING_OP_TIMEOUT)
		return -ENOENT;
	if (t->state == SRU_OP_WAITING && !t->chained && !t->link) {
		/* Not sent yet: it is gone before it started. */
		sru_backlog_remove(st, t);
		sru_unmap(st, t);
		if (t->pbuf >= 0)
			sru_pbuf_return(st, t->pbuf);
		t->pbuf = -1;
		sru_complete(st, t, -ECANCELED, 0);
		return 1;
	}
	if (t->state == SRU_OP_WAITING)
		return -EALREADY; /* a chain on its way: cannot split it */
	t->cancel_pending = true;
	op->target_id = (int32_t)t->id;
	return 0;
}

/* Operations the facade does itself, at once. */
static int do_local(struct sru_state *st, const struct io_uring_sqe *sqe,
		    struct sru_op *op)
{
	switch (sqe->opcode) {
	case IORING_OP_PROVIDE_BUFFERS:
		if (sqe->off > 0xffff || sqe->fd <= 0)
			return -EINVAL;
		return sru_provide(st, (unsigned char *)(uintptr_t)sqe->addr,
				   sqe->len, (uint32_t)sqe->fd, sqe->buf_group,
				   (uint32_t)sqe->off);
	case IORING_OP_REMOVE_BUFFERS:
		if (sqe->fd <= 0 || sqe->addr || sqe->len || sqe->off)
			return -EINVAL;
		return sru_remove_bufs(st, (uint32_t)sqe->fd, sqe->buf_group);
	case IORING_OP_FILES_UPDATE:
		if (sqe->flags & IOSQE_FIXED_FILE)
			return -EBADF;
		return sru_files_update(st, (uint32_t)sqe->off,
					(const int *)(uintptr_t)sqe->addr,
					sqe->len, true);
	case IORING_OP_CLOSE:
		if (sqe->flags & IOSQE_FIXED_FILE)
			return -EINVAL;
		if (sqe->file_index) {
			uint32_t i = sqe->file_index - 1;

			if (sqe->fd || i >= st->nfixed || st->fixed[i] < 0)
				return -ENXIO;
			sru_handle_drop(st, st->fixed[i]);
			st->fixed[i] = -1;
			return 0;
		}
		sru_fd_forget(st, sqe->fd);
		return close(sqe->fd) < 0 ? -errno : 0;
	default:
		(void)op;
		return sru_unsupported(-EOPNOTSUPP, "IORING_OP %u", sqe->opcode);
	}
}

static bool io_takes_ioprio(unsigned opcode)
{
	switch (opcode) {
	case IORING_OP_READ:
	case IORING_OP_WRITE:
	case IORING_OP_READV:
	case IORING_OP_WRITEV:
	case IORING_OP_READ_FIXED:
	case IORING_OP_WRITE_FIXED:
	case IORING_OP_SEND:
	case IORING_OP_RECV:
	case IORING_OP_SENDMSG:
	case IORING_OP_RECVMSG:
	case IORING_OP_ACCEPT:
		return true;
	default:
		return false;
	}
}

/*
 * Turn @sqe into @op.  0: it goes to the daemon (or, SRU_ACCEPT, the
 * facade's accept); 1: done already, op->local_res is its result;
 * -errno: it fails with that.
 */
static int parse(struct sru_state *st, const struct io_uring_sqe *sqe,
		 struct sru_op *op)
{
	uint64_t allowed = st->lim.allowed_ops;
	int ret;

	op->user_data = sqe->user_data;
	ud_hash(st, op);
	op->opcode = sqe->opcode;
	op->sqe_flags = sqe->flags;
	if (sqe->flags & ~SRU_SQE_FLAGS)
		return sru_unsupported(-EINVAL, "SQE flags 0x%x (IOSQE_IO_DRAIN, ...)",
				       sqe->flags & ~SRU_SQE_FLAGS);
	if (sqe->personality)
		return sru_unsupported(-EINVAL, "SQE personality");
	if ((sqe->flags & IOSQE_BUFFER_SELECT) &&
	    sqe->opcode != IORING_OP_READ && sqe->opcode != IORING_OP_RECV)
		return sru_unsupported(-EINVAL, "IOSQE_BUFFER_SELECT on IORING_OP %u",
				       sqe->opcode);

	/* The kernel refuses an I/O priority where the operation takes
	 * none; send, receive and accept use the field for their flags. */
	if (sqe->ioprio && !io_takes_ioprio(sqe->opcode))
		return -EINVAL;

	switch (sqe->opcode) {
	case IORING_OP_NOP:
		op->sr_opcode = SR_OP_NOP;
		/* Done at once, as the kernel completes it inside
		 * io_uring_submit, unless a chain orders it. */
		if (!op->chained && !(sqe->flags & (IOSQE_IO_LINK |
						    IOSQE_IO_HARDLINK))) {
			op->local_res = 0;
			return 1;
		}
		break;
	case IORING_OP_READ:
	case IORING_OP_WRITE:
	case IORING_OP_READ_FIXED:
	case IORING_OP_WRITE_FIXED:
	case IORING_OP_READV:
	case IORING_OP_WRITEV: {
		bool vec = sqe->opcode == IORING_OP_READV ||
			   sqe->opcode == IORING_OP_WRITEV;
		bool fixed = sqe->opcode == IORING_OP_READ_FIXED ||
			     sqe->opcode == IORING_OP_WRITE_FIXED;

		op->to_memory = sqe->opcode == IORING_OP_READ ||
				sqe->opcode == IORING_OP_READ_FIXED ||
				sqe->opcode == IORING_OP_READV;
		op->sr_opcode = op->to_memory ? SR_OP_READ : SR_OP_WRITE;
		if (sqe->ioprio || sqe->rw_flags)
			return sru_unsupported(-EOPNOTSUPP, "I/O priorities and RWF_* flags");
		ret = resolve_fd(st, sqe, op);
		if (ret)
			return ret;
		ret = rw_offset(op, sqe);
		if (ret)
			return ret;
		if (sqe->flags & IOSQE_BUFFER_SELECT) {
			op->bgid = sqe->buf_group;
			op->len = sqe->len;
			return 0;
		}
		if (vec)
			ret = set_pieces_iov(op, (const struct iovec *)
					     (uintptr_t)sqe->addr, sqe->len);
		else
			ret = set_piece(op, sqe->addr, sqe->len);
		if (ret)
			return ret;
		if (fixed) {
			const struct iovec *b;

			if (sqe->buf_index >= st->nbufs)
				return -EFAULT;
			b = &st->bufs[sqe->buf_index];
			if (sqe->addr < (uintptr_t)b->iov_base ||
			    sqe->addr + sqe->len >
			    (uintptr_t)b->iov_base + b->iov_len)
				return -EFAULT;
		}
		break;
	}
	case IORING_OP_FSYNC:
		if (sqe->fsync_flags & ~IORING_FSYNC_DATASYNC || sqe->addr ||
		    sqe->ioprio || sqe->buf_index)
			return -EINVAL;
		op->sr_opcode = SR_OP_FSYNC;
		op->flags = sqe->fsync_flags & IORING_FSYNC_DATASYNC ?
			    SR_FSYNC_DATASYNC : 0;
		ret = resolve_fd(st, sqe, op);
		if (ret)
			return ret;
		break;
	case IORING_OP_FALLOCATE:
		if (sqe->ioprio || sqe->buf_index || sqe->rw_flags)
			return -EINVAL;
		op->sr_opcode = SR_OP_FALLOCATE;
		op->flags = sqe->len; /* mode */
		op->off = sqe->off;
		op->length = sqe->addr;
		ret = resolve_fd(st, sqe, op);
		op->off = sqe->off;
		if (ret)
			return ret;
		break;
	case IORING_OP_SEND:
	case IORING_OP_RECV:
		op->to_memory = sqe->opcode == IORING_OP_RECV;
		op->sr_opcode = op->to_memory ? SR_OP_RECV : SR_OP_SEND;
		if (sqe->ioprio & ~IORING_RECVSEND_POLL_FIRST)
			return sru_unsupported(-EINVAL, "send/recv flags 0x%x (multishot, fixed buffers)",
					       sqe->ioprio);
		if (sqe->addr2 || sqe->file_index)
			return sru_unsupported(-EOPNOTSUPP, "sendto's address");
		op->msg_flags = sqe->msg_flags;
		ret = resolve_fd(st, sqe, op);
		if (ret)
			return ret;
		if (sqe->flags & IOSQE_BUFFER_SELECT) {
			op->bgid = sqe->buf_group;
			op->len = sqe->len;
			return 0;
		}
		ret = set_piece(op, sqe->addr, sqe->len);
		if (ret)
			return ret;
		break;
	case IORING_OP_SENDMSG:
	case IORING_OP_RECVMSG: {
		struct msghdr *m = (struct msghdr *)(uintptr_t)sqe->addr;

		op->to_memory = sqe->opcode == IORING_OP_RECVMSG;
		op->sr_opcode = op->to_memory ? SR_OP_RECVMSG : SR_OP_SENDMSG;
		if (sqe->ioprio)
			return -EINVAL;
		if (!m)
			return -EFAULT;
		/* The daemon moves data only: no addresses, no control
		 * messages. */
		if ((m->msg_name && m->msg_namelen) ||
		    (m->msg_control && m->msg_controllen))
			return sru_unsupported(-EOPNOTSUPP,
					       "sendmsg/recvmsg addresses and control messages");
		op->msg_flags = sqe->msg_flags;
		ret = resolve_fd(st, sqe, op);
		if (ret)
			return ret;
		ret = set_pieces_iov(op, m->msg_iov, m->msg_iovlen);
		if (ret)
			return ret;
		if (op->to_memory)
			op->msg = m;
		break;
	}
	case IORING_OP_CONNECT: {
		const struct sockaddr *a = (const void *)(uintptr_t)sqe->addr;

		if (sqe->len || sqe->buf_index || sqe->rw_flags)
			return -EINVAL;
		if (!a)
			return -EFAULT;
		if (sqe->off > sizeof(op->addr))
			return -EINVAL;
		op->sr_opcode = SR_OP_CONNECT;
		op->addrlen = (socklen_t)sqe->off;
		memcpy(&op->addr, a, op->addrlen);
		ret = resolve_fd(st, sqe, op);
		if (ret)
			return ret;
		break;
	}
	case IORING_OP_SHUTDOWN:
		op->sr_opcode = SR_OP_SHUTDOWN;
		op->flags = sqe->len;
		ret = resolve_fd(st, sqe, op);
		if (ret)
			return ret;
		break;
	case IORING_OP_ACCEPT:
		if (sqe->flags & IOSQE_FIXED_FILE) /* needs the descriptor here */
			return sru_unsupported(-EOPNOTSUPP, "accept on a fixed file");
		if (sqe->ioprio & ~IORING_ACCEPT_MULTISHOT)
			return -EINVAL;
		if (sqe->accept_flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
			return -EINVAL;
		op->how = SRU_ACCEPT;
		op->sr_opcode = SR_OP_POLL_ADD;
		op->flags = POLLIN;
		op->multishot = sqe->ioprio & IORING_ACCEPT_MULTISHOT;
		op->acc_addr = (struct sockaddr *)(uintptr_t)sqe->addr;
		op->acc_addrlen = (socklen_t *)(uintptr_t)sqe->off;
		op->acc_flags = (int)sqe->accept_flags;
		if (sqe->file_index) {
			if (op->multishot &&
			    sqe->file_index != IORING_FILE_INDEX_ALLOC)
				return -EINVAL;
			op->acc_file_index = sqe->file_index;
		}
		ret = resolve_fd(st, sqe, op);
		if (ret)
			return ret;
		break;
	case IORING_OP_POLL_ADD: {
		uint32_t ev = sqe->poll32_events;

		/* The kernel always reports these; the daemon may not be
		 * asked for others. */
		ev &= ~(uint32_t)(POLLERR | POLLHUP);
		if (ev & ~(uint32_t)SR_POLL_EVENTS)
			return sru_unsupported(-EINVAL, "poll events 0x%x",
					       ev & ~(uint32_t)SR_POLL_EVENTS);
		if (sqe->len & ~IORING_POLL_ADD_MULTI)
			return sru_unsupported(-EINVAL, "poll flags 0x%x (poll update)",
					       sqe->len);
		op->sr_opcode = SR_OP_POLL_ADD;
		op->flags = ev;
		if (sqe->len & IORING_POLL_ADD_MULTI) {
			/* Re-armed by the facade after each event. */
			op->how = SRU_ACCEPT;
			op->multishot = true;
		}
		ret = resolve_fd(st, sqe, op);
		if (ret)
			return ret;
		break;
	}
	case IORING_OP_POLL_REMOVE:
	case IORING_OP_ASYNC_CANCEL:
	case IORING_OP_TIMEOUT_REMOVE:
		if (sqe->opcode == IORING_OP_POLL_REMOVE && sqe->len)
			return sru_unsupported(-EINVAL, "poll update");
		if (sqe->opcode == IORING_OP_ASYNC_CANCEL && sqe->cancel_flags)
			return sru_unsupported(-EINVAL, "cancel flags 0x%x (ALL, FD, ANY)",
					       sqe->cancel_flags);
		if (sqe->opcode == IORING_OP_TIMEOUT_REMOVE &&
		    sqe->timeout_flags)
			return sru_unsupported(-EINVAL, "timeout update");
		op->sr_opcode = sqe->opcode == IORING_OP_POLL_REMOVE ?
				SR_OP_POLL_REMOVE : SR_OP_ASYNC_CANCEL;
		op->target = sqe->addr;
		/* The kernel cancels inside io_uring_submit: the program
		 * may look for both CQEs as soon as it returns. */
		op->sync = !op->chained &&
			   !(sqe->flags & (IOSQE_IO_LINK | IOSQE_IO_HARDLINK));
		ret = cancel_target(st, op);
		if (ret == 1) {
			op->local_res = 0;
			return 1;
		}
		if (ret)
			return ret;
		break;
	case IORING_OP_TIMEOUT:
	case IORING_OP_LINK_TIMEOUT:
		if (sqe->len != 1 || sqe->buf_index)
			return -EINVAL;
		if (sqe->timeout_flags & ~(IORING_TIMEOUT_ABS |
					   IORING_TIMEOUT_BOOTTIME |
					   IORING_TIMEOUT_REALTIME))
			return sru_unsupported(-EINVAL, "timeout flags 0x%x",
					       sqe->timeout_flags);
		if (sqe->opcode == IORING_OP_TIMEOUT && sqe->off)
			return sru_unsupported(-EINVAL, "timeout completion counts");
		op->sr_opcode = sqe->opcode == IORING_OP_TIMEOUT ?
				SR_OP_TIMEOUT : SR_OP_LINK_TIMEOUT;
		ret = timespec_ns(st, sqe->addr, sqe->timeout_flags,
				  &op->timeout_ns);
		if (ret)
			return ret;
		break;
	case IORING_OP_PROVIDE_BUFFERS:
	case IORING_OP_REMOVE_BUFFERS:
	case IORING_OP_FILES_UPDATE:
	case IORING_OP_CLOSE:
		op->how = SRU_LOCAL;
		return 0;
	default:
		return sru_unsupported(-EOPNOTSUPP, "IORING_OP %u", sqe->opcode);
	}
	if (!(allowed & (1ULL << op->sr_opcode)))
		return sru_unsupported(-EOPNOTSUPP,
				       "IORING_OP %u: the daemon's policy forbids it",
				       sqe->opcode);
	return 0;
}

/* ---- sending --------------------------------------------------------- */

static int prep_one(struct sru_state *st, struct sru_op *op)
{
	struct sr_client *c = st->c;
	uint64_t ud = op->id;
	/* The facade keeps plain indices; the typed API gets them here. */
	sr_handle_t h = SR_HANDLE(op->handle);
	struct sr_iov iov[SR_MAX_IOV];
	bool single = op->nranges == 1;

	for (uint32_t i = 0; i < op->nranges; i++)
		iov[i] = (struct sr_iov){ .slot = SR_SLOT(op->ranges[i].slot),
					  .offset = op->ranges[i].off,
					  .len = op->ranges[i].len };
	switch (op->sr_opcode) {
	case SR_OP_NOP:
		return sr_prep_nop(c, ud);
	case SR_OP_READ:
		if (!op->nranges) /* a zero-length read */
			return sr_prep_nop(c, ud);
		if (single)
			return sr_prep_read(c, ud, h, iov[0].slot,
					    iov[0].offset, iov[0].len, op->off);
		return sr_prep_readv(c, ud, h, iov, op->nranges,
				     op->off);
	case SR_OP_WRITE:
		if (!op->nranges)
			return sr_prep_nop(c, ud);
		if (single)
			return sr_prep_write(c, ud, h, iov[0].slot,
					     iov[0].offset, iov[0].len, op->off);
		return sr_prep_writev(c, ud, h, iov, op->nranges,
				      op->off);
	case SR_OP_RECV:
	case SR_OP_RECVMSG:
		if (!op->nranges)
			return -EINVAL;
		if (single)
			return sr_prep_recv(c, ud, h, iov[0].slot,
					    iov[0].offset, iov[0].len,
					    op->msg_flags);
		return sr_prep_recvmsg(c, ud, h, iov, op->nranges,
				       op->msg_flags);
	case SR_OP_SEND:
	case SR_OP_SENDMSG:
		if (!op->nranges)
			return -EINVAL;
		if (single)
			return sr_prep_send(c, ud, h, iov[0].slot,
					    iov[0].offset, iov[0].len,
					    op->msg_flags);
		return sr_prep_sendmsg(c, ud, h, iov, op->nranges,
				       op->msg_flags);
	case SR_OP_FSYNC:
		return sr_prep_fsync(c, ud, h, op->flags);
	case SR_OP_FALLOCATE:
		return sr_prep_fallocate(c, ud, h, op->flags, op->off,
					 op->length);
	case SR_OP_CONNECT:
		return sr_prep_connect(c, ud, h,
				       (const struct sockaddr *)&op->addr,
				       op->addrlen);
	case SR_OP_SHUTDOWN:
		return sr_prep_shutdown(c, ud, h, (int)op->flags);
	case SR_OP_POLL_ADD:
		return sr_prep_poll_add(c, ud, h, op->flags);
	case SR_OP_POLL_REMOVE:
		return sr_prep_poll_remove(c, ud, (uint64_t)op->target_id);
	case SR_OP_ASYNC_CANCEL:
		return sr_prep_cancel(c, ud, (uint64_t)op->target_id);
	case SR_OP_TIMEOUT:
		return sr_prep_timeout(c, ud, op->timeout_ns);
	case SR_OP_LINK_TIMEOUT:
		return sr_prep_link_timeout(c, ud, op->timeout_ns);
	default:
		return -EOPNOTSUPP;
	}
}

/* Slots (and a provided buffer) for @op.  0, -EAGAIN, or -errno for
 * the operation itself. */
static int take_memory(struct sru_state *st, struct sru_op *op,
		       uint32_t chain)
{
	int ret;

	if (op->how != SRU_DAEMON)
		return 0;
	if ((op->sqe_flags & IOSQE_BUFFER_SELECT) && op->pbuf < 0) {
		int32_t b = sru_pbuf_take(st, (uint16_t)op->bgid);

		if (b < 0)
			return b;
		op->pbuf = b;
		if (!op->len || op->len > st->pbufs[b].len)
			op->len = st->pbufs[b].len;
		ret = set_piece(op, (uintptr_t)st->pbufs[b].addr, op->len);
		if (ret)
			return ret;
	}
	if (!op->npieces)
		return 0;
	ret = sru_map(st, op, !op->to_memory, chain);
	if (ret == -EAGAIN && op->pbuf >= 0) {
		sru_pbuf_return(st, op->pbuf);
		op->pbuf = -1;
		free(op->pieces);
		op->pieces = NULL;
		op->npieces = 0;
	}
	return ret;
}

/* The ops of the chain that starts at @head, in order. */
static unsigned chain_len(struct sru_state *st, int32_t head)
{
	unsigned n = 1;

	for (int32_t i = head; st->ops[i].link && st->ops[i].next >= 0;
	     i = st->ops[i].next)
		n++;
	return n;
}

static int32_t batch_n;
static uint32_t batch_bytes;

static void flush_batch(struct sru_state *st)
{
	if (batch_n)
		sr_submit_and_wait(st->c, 0);
	batch_n = 0;
	batch_bytes = 0;
}

/* Fail a whole chain that cannot be sent: @bad with @err, the rest
 * -ECANCELED, as the kernel fails a chain one of whose members it
 * refused. */
static int32_t fail_chain(struct sru_state *st, int32_t head, unsigned n,
			  struct sru_op *bad, int err)
{
	int32_t i = head;

	for (unsigned k = 0; k < n; k++) {
		struct sru_op *o = &st->ops[i];
		int32_t next = o->next;

		sru_unmap(st, o);
		if (o->pbuf >= 0)
			sru_pbuf_return(st, o->pbuf);
		o->pbuf = -1;
		sru_complete(st, o, o == bad ? err : -ECANCELED, 0);
		i = next;
	}
	return i;
}

int sru_run_backlog(struct sru_state *st)
{
	uint32_t max_if = st->lim.max_in_flight;
	uint32_t max_b = st->lim.max_batch;

	while (st->backlog_head >= 0) {
		int32_t head = st->backlog_head;
		unsigned n = chain_len(st, head);
		uint32_t chain = n > 1 ? ++st->chain_seq : 0;
		uint32_t bytes = 0;
		int32_t i = head, after;
		unsigned k;
		int ret = 0;
		struct sru_op *bad = NULL;

		if (n > max_b || n > max_if) {
			st->backlog_head = fail_chain(st, head, n,
				&st->ops[head],
				sru_unsupported(-EINVAL, "a chain of %u operations (at most %u)",
						n, max_b < max_if ? max_b : max_if));
			if (st->backlog_head < 0)
				st->backlog_tail = -1;
			continue;
		}
		if (sr_in_flight(st->c) + (unsigned)batch_n + n > max_if)
			break; /* completions will make room */
		/* Memory for every member first: all or nothing. */
		if (n > 1)
			sru_chain_forget(st);
		for (k = 0; k < n; k++) {
			ret = take_memory(st, &st->ops[i], chain);
			if (ret) {
				bad = &st->ops[i];
				break;
			}
			bytes += SRU_OP_WIRE(st->ops[i].nranges,
					     st->ops[i].addrlen);
			i = st->ops[i].next;
		}
		after = i;
		if (ret == -EAGAIN) {
			for (int32_t j = head; j != after && j >= 0;
			     j = st->ops[j].next)
				sru_unmap(st, &st->ops[j]);
			if (!st->sent && !batch_n) {
				/* Nothing will come back to free a slot. */
				st->backlog_head = fail_chain(st, head, n, bad,
							      -ENOMEM);
				if (st->backlog_head < 0)
					st->backlog_tail = -1;
				continue;
			}
			break;
		}
		if (ret) {
			st->backlog_head = fail_chain(st, head, n, bad, ret);
			if (st->backlog_head < 0)
				st->backlog_tail = -1;
			continue;
		}
		if ((uint32_t)batch_n + n > max_b ||
		    batch_bytes + bytes > SRU_BATCH_BYTES)
			flush_batch(st);
		/* Sent: out of the backlog, in order. */
		i = head;
		for (k = 0; k < n; k++) {
			struct sru_op *o = &st->ops[i];

			if (!o->to_memory)
				sru_copy_in(st, o);
			ret = prep_one(st, o);
			if (ret == 0 && o->link && k + 1 < n)
				ret = sr_link_last(st->c, o->link);
			if (ret) {
				/* The library refused what the facade let
				 * through: cut the chain here. */
				if (k)
					sr_link_last(st->c, 0);
				st->backlog_head = o->next;
				sru_unmap(st, o);
				if (o->pbuf >= 0)
					sru_pbuf_return(st, o->pbuf);
				o->pbuf = -1;
				st->backlog_head = fail_chain(st, i, n - k, o,
							      ret);
				break;
			}
			o->state = SRU_OP_SENT;
			st->sync_sent += o->sync;
			st->sent++;
			batch_n++;
			i = o->next;
		}
		batch_bytes += bytes;
		if (k == n)
			st->backlog_head = i;
		if (st->backlog_head < 0)
			st->backlog_tail = -1;
	}
	flush_batch(st);
	return 0;
}

/* ---- io_uring_submit --------------------------------------------------- */

int sru_submit(struct io_uring *ring)
{
	struct sru_state *st = sru(ring);
	unsigned head = st->sq_khead, tail = ring->sq.sqe_tail;
	unsigned n = tail - head;
	int32_t chain_head = -1;   /* first member of the open chain */
	bool chain_failed = false;
	bool chain_quiet = false;  /* its cancelled members post no CQE */
	bool chain_standin = false; /* failed when it runs: members after
				     * the failure keep their places */

	if (n > st->sq_ring_entries)
		return -EINVAL;
	if (sru_forked(st))
		return sru_unsupported(-EOPNOTSUPP, "a ring set up before fork(), used in the child");
	st->submits++;
	for (unsigned k = 0; k < n; k++) {
		const struct io_uring_sqe *sqe =
			&st->sqes[(head + k) & st->sq_ring_mask];
		struct sru_op *op = sru_op_new(st);
		bool links = sqe->flags & (IOSQE_IO_LINK | IOSQE_IO_HARDLINK);
		bool last = k + 1 == n;
		int ret;

		if (!op)
			return k ? (int)k : -ENOMEM;
		st->outstanding++;
		op->chained = chain_head >= 0;
		if (chain_failed && chain_standin) {
			/* Cancelled by a member that failed when it ran:
			 * after that member's CQE, in order. */
			op->user_data = sqe->user_data;
			op->sqe_flags = sqe->flags;
			op->opcode = sqe->opcode;
			op->sr_opcode = SR_OP_NOP;
			op->standin = true;
			op->standin_quiet = chain_quiet;
			op->local_res = -ECANCELED;
			if (!links || last) {
				chain_failed = false;
				chain_quiet = false;
				chain_standin = false;
			}
			goto queue;
		}
		if (chain_failed) {
			/* The kernel fails the rest of a chain it refused
			 * a member of. */
			op->user_data = sqe->user_data;
			op->sqe_flags = sqe->flags;
			if (chain_quiet) {
				st->outstanding--;
				sru_op_free(st, op);
			} else {
				sru_complete(st, op, -ECANCELED, 0);
			}
			if (!links || last) {
				chain_failed = false;
				chain_quiet = false;
				chain_head = -1;
			}
			continue;
		}
		ret = parse(st, sqe, op);
		if (ret == -EFAULT || ret == -EBADF) {
			/* The kernel finds a bad address or descriptor when
			 * the operation runs, not when it is submitted: what
			 * came before in its chain runs, the rest is
			 * cancelled (unless hard-linked), and unseen when
			 * this one asked to skip its success CQE (the
			 * kernel's REQ_F_SKIP_LINK_CQES). */
			free(op->pieces);
			op->pieces = NULL;
			op->npieces = 0;
			op->how = SRU_DAEMON;
			op->sr_opcode = SR_OP_NOP;
			op->standin = true;
			op->local_res = ret;
			chain_failed = links && !last &&
				       !(sqe->flags & IOSQE_IO_HARDLINK);
			chain_standin = chain_failed;
			chain_quiet = chain_failed &&
				      (sqe->flags & IOSQE_CQE_SKIP_SUCCESS);
			if (chain_head < 0 && (!links || last)) {
				/* Alone: nothing to keep a place in. */
				sru_complete(st, op, ret, 0);
				chain_head = -1;
				continue;
			}
			goto queue;
		}
		if (ret == 0 && op->how == SRU_LOCAL) {
			if (op->chained)
				ret = -EINVAL; /* only at a chain's head */
			else {
				op->local_res = do_local(st, sqe, op);
				ret = 1;
			}
		}
		if (ret == 0 && op->how == SRU_ACCEPT && links &&
		    op->multishot)
			ret = -EINVAL; /* a chain cannot follow a multishot */
		if (ret != 0) {
			int32_t res = ret == 1 ? op->local_res : ret;

			if (chain_head >= 0) {
				/* Members already waiting go too. */
				int32_t i = chain_head;

				while (i >= 0) {
					struct sru_op *o = &st->ops[i];
					int32_t nx = o->next;

					sru_backlog_remove(st, o);
					sru_complete(st, o, -ECANCELED, 0);
					i = nx;
				}
				res = ret == 1 ? res : ret;
			}
			sru_complete(st, op, res, 0);
			if (ret < 0 && !(ring->flags & IORING_SETUP_SUBMIT_ALL)) {
				/* The kernel stops at an SQE it refuses:
				 * the rest stay in the SQ ring. */
				tail = head + k + 1;
				break;
			}
			if (ret == 1 && res >= 0 && links && chain_head < 0 &&
			    !last)
				continue; /* a local head that succeeded: the
					   * rest of the chain goes on alone */
			chain_failed = links && !last && (ret != 1 || res < 0);
			chain_head = -1;
			continue;
		}
queue:
		/* Link to the next SQE of this submission, never past it. */
		if (links && !last)
			op->link = sqe->flags & IOSQE_IO_HARDLINK ?
				   SR_LINK_HARD : SR_LINK;
		sru_backlog_push(st, op);
		if (chain_head < 0 && op->link)
			chain_head = (int32_t)op->id;
		else if (!op->link)
			chain_head = -1;
	}
	__atomic_store_n(&st->sq_khead, tail, __ATOMIC_RELEASE);
	st->sq_ktail = tail;
	sru_run_backlog(st);
	if (st->sync_sent) {
		sr_submit_and_wait(st->c, 0);
		while (st->sync_sent && sru_pump(st, true) >= 0)
			;
	}
	return (int)(tail - head);
}
