/* SPDX-License-Identifier: MIT */
/*
 * cq.c - completions: libsaferring's become the program's CQEs, in the
 * CQ ring struct io_uring points at, and the program waits for them.
 *
 * A completion's data is copied into the program's memory before its
 * CQE is posted, never after; a CQE that does not fit the CQ ring waits
 * in order behind the ones that did (IORING_FEAT_NODROP) and the SQ ring
 * says so (IORING_SQ_CQ_OVERFLOW).  Must never drop or reorder a CQE,
 * and never post one for the facade's own internal operations.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "facade.h"

/* Kernel CQE flags libsaferring hands on (same values). */
#define SRU_CQE_FLAGS (IORING_CQE_F_MORE | IORING_CQE_F_SOCK_NONEMPTY)

static bool cq_put(struct sru_state *st, const struct io_uring_cqe *cqe)
{
	unsigned tail = st->cq_ktail;

	if (tail - __atomic_load_n(&st->cq_khead, __ATOMIC_ACQUIRE) >=
	    st->cq_ring_entries)
		return false;
	st->cqes[tail & st->cq_ring_mask] = *cqe;
	__atomic_store_n(&st->cq_ktail, tail + 1, __ATOMIC_RELEASE);
	return true;
}

void sru_flush_overflow(struct sru_state *st)
{
	while (st->over_len && cq_put(st, &st->over[st->over_head])) {
		st->over_head = (st->over_head + 1) % st->over_cap;
		st->over_len--;
	}
	if (!st->over_len)
		st->sq_kflags &= ~IORING_SQ_CQ_OVERFLOW;
}

void sru_post(struct sru_state *st, uint64_t user_data, int32_t res,
	      uint32_t flags)
{
	struct io_uring_cqe cqe = {
		.user_data = user_data, .res = res, .flags = flags,
	};

	if (!st->over_len && cq_put(st, &cqe))
		return;
	if (st->over_len == st->over_cap) {
		size_t cap = st->over_cap ? 2 * st->over_cap : 64;
		struct io_uring_cqe *o = malloc(cap * sizeof(*o));

		if (!o) {
			/* As a kernel without NODROP: counted, gone. */
			st->cq_koverflow++;
			return;
		}
		for (size_t i = 0; i < st->over_len; i++)
			o[i] = st->over[(st->over_head + i) % st->over_cap];
		free(st->over);
		st->over = o;
		st->over_cap = cap;
		st->over_head = 0;
	}
	st->over[(st->over_head + st->over_len) % st->over_cap] = cqe;
	st->over_len++;
	st->sq_kflags |= IORING_SQ_CQ_OVERFLOW;
}

void sru_complete(struct sru_state *st, struct sru_op *op, int32_t res,
		  uint32_t flags)
{
	bool more = flags & IORING_CQE_F_MORE;
	/* A link timeout that fired (-ETIME) or was disarmed because its
	 * operation finished in time (-ECANCELED) did its job: to the
	 * kernel neither is a failure, and CQE_SKIP_SUCCESS hides both. */
	bool skip = (op->sqe_flags & IOSQE_CQE_SKIP_SUCCESS) &&
		    (res >= 0 || (op->opcode == IORING_OP_LINK_TIMEOUT &&
				  (res == -ECANCELED || res == -ETIME)));

	if (!skip)
		sru_post(st, op->user_data, res, flags);
	if (!more) {
		st->outstanding--;
		sru_op_free(st, op);
	}
}

/* A POLL_ADD the facade sent for an ACCEPT or a multishot poll came
 * back: accept here, or hand on the events; then wait again, or end as
 * the kernel ends a cancelled multishot operation. */
static void take_accept(struct sru_state *st, struct sru_op *op, int32_t res)
{
	int fd = res;

	if (res < 0) {
		sru_complete(st, op, res, 0);
		return;
	}
	if (op->opcode == IORING_OP_ACCEPT) {
		struct pollfd ready = { .fd = op->fd, .events = POLLIN };

		/* Another accept of ours (or the program's) may have taken
		 * the one connection this poll saw, and accept4() on a
		 * blocking listener would then wait for the next. */
		if (poll(&ready, 1, 0) == 0)
			goto again;
		fd = accept4(op->fd, op->acc_addr, op->acc_addrlen,
			     op->acc_flags | SOCK_NONBLOCK);
		if (fd < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			goto again; /* another acceptor took it: no CQE */
		if (fd < 0) {
			sru_complete(st, op, -errno, 0);
			return;
		}
		/* Non-blocking only so that a connection another acceptor
		 * took cannot block us here. */
		if (!(op->acc_flags & SOCK_NONBLOCK)) {
			int fl = fcntl(fd, F_GETFL);

			if (fl >= 0)
				fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
		}
		if (op->acc_file_index) {
			int r = sru_fixed_install(st, fd, op->acc_file_index);

			close(fd);
			fd = r;
			if (fd < 0) {
				sru_complete(st, op, fd, 0);
				return;
			}
		}
	}
	if (!op->multishot) {
		sru_complete(st, op, fd, 0);
		return;
	}
	sru_post(st, op->user_data, fd, IORING_CQE_F_MORE);
again:
	if (op->cancel_pending) {
		sru_complete(st, op, -ECANCELED, 0);
		return;
	}
	/* Next round: the same operation waits again, at its turn. */
	sru_backlog_push(st, op);
}

static void take(struct sru_state *st, const struct sr_cqe *c)
{
	uint32_t flags = c->flags & SRU_CQE_FLAGS;
	bool last = !(c->flags & SR_CQE_F_MORE);
	struct sru_op *op;
	int32_t res = c->res;

	if (last)
		st->sent--;
	if (c->user_data & SRU_INTERNAL)
		return;
	if (c->user_data >= st->nops)
		return; /* cannot be: libsaferring checked the tag */
	op = &st->ops[c->user_data];
	if (op->how == SRU_ACCEPT) {
		take_accept(st, op, res);
		return;
	}
	if (last && op->sync)
		st->sync_sent--;
	if (op->standin) {
		if (res >= 0)
			res = op->local_res;
		if (op->standin_quiet) {
			st->outstanding--;
			sru_op_free(st, op);
			return;
		}
	}
	if (op->told_gone && res >= 0 && op->to_memory)
		res = -ECANCELED;
	if (op->to_memory && res > 0)
		sru_copy_out(st, op, (size_t)res);
	sru_unmap(st, op);
	if (op->pos_fd >= 0 && res > 0)
		lseek(op->pos_fd, res, SEEK_CUR);
	if (op->pbuf >= 0) {
		if (res >= 0 || res == -ECANCELED) {
			flags |= IORING_CQE_F_BUFFER |
				 ((uint32_t)st->pbufs[op->pbuf].bid
				  << IORING_CQE_BUFFER_SHIFT);
			st->pbufs[op->pbuf].next = st->pbuf_free;
			st->pbuf_free = op->pbuf;
		} else {
			sru_pbuf_return(st, op->pbuf);
		}
		op->pbuf = -1;
	}
	if (op->msg && res >= 0)
		op->msg->msg_flags = 0;
	if (res == -ENOENT && op->target_id >= 0) {
		/* A multishot accept or poll between two rounds is still
		 * the program's operation: it ends here. */
		struct sru_op *t = &st->ops[op->target_id];

		if (t->state == SRU_OP_WAITING && t->multishot &&
		    t->user_data == op->target) {
			sru_backlog_remove(st, t);
			sru_complete(st, t, -ECANCELED, 0);
			res = 0;
		}
	}
	if (res == 0 && op->target_id >= 0 &&
	    (op->opcode == IORING_OP_ASYNC_CANCEL ||
	     op->opcode == IORING_OP_POLL_REMOVE ||
	     op->opcode == IORING_OP_TIMEOUT_REMOVE))
		st->ops[op->target_id].told_gone = true;
	sru_complete(st, op, res, flags);
}

int sru_pump(struct sru_state *st, bool wait)
{
	struct sr_cqe cqes[64];
	int n;

	sru_flush_overflow(st);
	n = sr_wait_cqes(st->c, cqes, 64, wait ? 1 : 0);
	if (n == -EAGAIN || n == -ENODATA)
		n = 0;
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++)
		take(st, &cqes[i]);
	/* What came back may let the backlog go. */
	sru_run_backlog(st);
	sru_flush_overflow(st);
	return n;
}

unsigned __sr_uring_reap(struct io_uring *ring)
{
	struct sru_state *st = sru(ring);

	if (!st)
		return 0;
	sru_pump(st, false);
	return st->cq_ktail - st->cq_khead;
}

static unsigned cq_ready(struct sru_state *st)
{
	return st->cq_ktail - __atomic_load_n(&st->cq_khead, __ATOMIC_ACQUIRE);
}

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/*
 * Wait until @wait_nr CQEs are ready (0: just look), for @ts at most
 * (NULL: no limit), with @sigmask in force while sleeping; the first in
 * *cqe_ptr.  -EAGAIN (nothing, no wait), -ETIME, -EINTR.
 */
int sru_wait(struct sru_state *st, struct io_uring_cqe **cqe_ptr,
	     unsigned wait_nr, const struct __kernel_timespec *ts,
	     const sigset_t *sigmask)
{
	int64_t deadline = ts ? now_ns() + ts->tv_sec * 1000000000LL +
				ts->tv_nsec : 0;
	unsigned want = wait_nr ? wait_nr : 1;
	int ret;

	*cqe_ptr = NULL;
	if (sru_forked(st))
		return sru_unsupported(-EOPNOTSUPP, "a ring set up before fork(), used in the child");
	for (;;) {
		ret = sru_pump(st, false);
		if (ret < 0)
			return ret;
		if (cq_ready(st) >= want) {
			*cqe_ptr = &st->cqes[st->cq_khead & st->cq_ring_mask];
			return 0;
		}
		if (!wait_nr) {
			if (cq_ready(st)) {
				*cqe_ptr = &st->cqes[st->cq_khead &
						     st->cq_ring_mask];
				return 0;
			}
			return -EAGAIN;
		}
		if (st->over_len) {
			/* Room only comes when the program reaps. */
			*cqe_ptr = &st->cqes[st->cq_khead & st->cq_ring_mask];
			return 0;
		}
		/* About to sleep: descriptors the program closed must not
		 * keep their files open in the daemon meanwhile. */
		sru_fd_sweep(st);
		sr_submit_and_wait(st->c, 0);
		if (!ts && !sigmask && st->sent) {
			ret = sru_pump(st, true);
			if (ret < 0)
				return ret;
			continue;
		}
		{
			struct pollfd p = { .fd = -1, .events = POLLIN };
			struct timespec rel, *relp = NULL;

			if (st->sent)
				p.fd = sr_fd(st->c);
			if (ts) {
				int64_t left = deadline - now_ns();

				if (left <= 0) {
					/* What came is there to see, as
					 * with the kernel. */
					if (cq_ready(st))
						*cqe_ptr = &st->cqes[st->cq_khead &
								     st->cq_ring_mask];
					return -ETIME;
				}
				rel.tv_sec = left / 1000000000LL;
				rel.tv_nsec = left % 1000000000LL;
				relp = &rel;
			}
			/* Nothing in flight and no limit: as the kernel,
			 * wait for a signal. */
			ret = ppoll(&p, 1, relp, sigmask);
			if (ret < 0 && errno == EINTR)
				return -EINTR;
		}
	}
}
