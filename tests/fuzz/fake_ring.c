/* SPDX-License-Identifier: MIT */
/*
 * fake_ring.c - a deterministic, kernel-free implementation of
 * daemon/ring.h for the session fuzzer (see fake_ring.h).
 *
 * One ring at a time (the fuzzer runs one session per input).  Operations
 * move SQ -> kernel list (at submit) -> CQ (when they finish) -> the
 * session (at reap).  Fast operations finish at the next reap, slow ones
 * at fake_ring_kick() or when cancelled.  Chains: a member starts when
 * the one before it finished; a failure (short transfers included) of a
 * soft-linked member cancels the rest of the chain; a hard link starts
 * the next member whatever happened.  A cancel finds only started
 * operations, as the kernel's does; a cancel-any repeats until none is
 * left, so it takes hard-linked members that its own cancels started.
 *
 * Must never be linked into saferringd: it is a test double.  Every check
 * of what the session hands over aborts with a message, which libFuzzer
 * reports as a crash with the input that caused it.
 */
#include "fake_ring.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "ring.h"
#include "saferring.h"

#define FAKE_MAX_IOV 16

struct fake_sqe {
	bool cancel;
	int cancel_flags;
	uint64_t cancel_target;
	struct ring_op op;
};

struct fake_kop {
	struct ring_op op;
	uint64_t serial;
	uint64_t prev;      /* serial of the chain member before, 0: none */
	bool running;       /* started: its predecessor finished */
};

struct fake_cqe {
	uint64_t user_data;
	int32_t res;
	uint32_t flags;
};

struct fake {
	struct ring_driver *owner;
	unsigned entries, nfiles, alloc_start;
	bool *files;
	struct iovec *bufs;
	unsigned nbufs;
	struct fake_sqe *sq;
	unsigned sq_len;
	struct fake_kop *kops;
	unsigned nkops, kops_cap;
	struct fake_cqe *cq;
	unsigned cq_len, cq_cap;
	/* The receive pool, a FIFO of provided buffers. */
	struct { void *addr; uint32_t len; uint16_t bid; } *pool;
	unsigned pool_entries, pool_head, pool_count;
	uint64_t next_serial;
};

static struct fake *fk;

static void __attribute__((noreturn, format(printf, 1, 2)))
bug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fake_ring: session broke the ring contract: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

static void check_owner(const struct ring_driver *rd)
{
	if (!fk || fk->owner != rd || !rd->live)
		bug("call on a ring that is not set up");
}

/* ------------------------------------------------------------------ */
/* What the kernel would dereference. */

static bool in_any_buf(const void *addr, size_t len)
{
	const unsigned char *p = addr;

	for (unsigned i = 0; i < fk->nbufs; i++) {
		const unsigned char *b = fk->bufs[i].iov_base;

		if (p >= b && len <= fk->bufs[i].iov_len &&
		    (size_t)(p - b) <= fk->bufs[i].iov_len - len)
			return true;
	}
	return false;
}

static size_t check_iovs(const struct iovec *iov, size_t n, const char *what)
{
	size_t total = 0;

	if (!iov || n == 0 || n > FAKE_MAX_IOV)
		bug("%s: %zu iovecs at %p", what, n, (const void *)iov);
	for (size_t i = 0; i < n; i++) {
		if (!in_any_buf(iov[i].iov_base, iov[i].iov_len))
			bug("%s: iovec %zu (%p, %zu) outside the registered buffers",
			    what, i, iov[i].iov_base, iov[i].iov_len);
		total += iov[i].iov_len;
	}
	return total;
}

static bool needs_file(uint32_t opcode)
{
	switch (opcode) {
	case SR_OP_NOP:
	case SR_OP_TIMEOUT:
	case SR_OP_LINK_TIMEOUT:
	case SR_OP_POLL_REMOVE:
	case SR_OP_ASYNC_CANCEL:
		return false;
	default:
		return true;
	}
}

/* Bytes the operation moves when it succeeds fully (0: not a transfer). */
static size_t check_memory(const struct ring_op *op)
{
	const struct msghdr *mh;
	const struct __kernel_timespec *ts;
	sa_family_t family;

	switch (op->opcode) {
	case SR_OP_READ:
	case SR_OP_WRITE:
		if (op->buf_index >= fk->nbufs)
			bug("fixed buffer %u of %u", op->buf_index, fk->nbufs);
		{
			const unsigned char *b = fk->bufs[op->buf_index].iov_base;
			const unsigned char *p = op->addr;
			size_t blen = fk->bufs[op->buf_index].iov_len;

			if (p < b || op->len > blen || (size_t)(p - b) > blen - op->len)
				bug("fixed %s (%p, %u) outside buffer %u",
				    op->opcode == SR_OP_READ ? "read" : "write",
				    op->addr, op->len, op->buf_index);
		}
		return op->len;
	case SR_OP_SEND:
	case SR_OP_RECV:
		if (op->multishot) {
			if (op->opcode != SR_OP_RECV || op->addr || op->len)
				bug("multishot %u with a buffer", op->opcode);
			return 0;
		}
		if (!in_any_buf(op->addr, op->len))
			bug("%s buffer (%p, %u) outside the registered buffers",
			    op->opcode == SR_OP_SEND ? "send" : "recv", op->addr,
			    op->len);
		return op->len;
	case SR_OP_READV:
	case SR_OP_WRITEV:
		return check_iovs(op->addr, op->len, "readv/writev");
	case SR_OP_SENDMSG:
	case SR_OP_RECVMSG:
		mh = op->addr;
		if (!mh)
			bug("sendmsg/recvmsg without a msghdr");
		if (mh->msg_name || mh->msg_namelen || mh->msg_control ||
		    mh->msg_controllen)
			bug("sendmsg/recvmsg msghdr carries a name or control data");
		return check_iovs(mh->msg_iov, mh->msg_iovlen, "sendmsg/recvmsg");
	case SR_OP_CONNECT:
		if (!op->addr || op->len < sizeof(family))
			bug("connect address (%p, %u)", op->addr, op->len);
		memcpy(&family, op->addr, sizeof(family));
		if (!((family == AF_INET && op->len == sizeof(struct sockaddr_in)) ||
		      (family == AF_INET6 &&
		       op->len == sizeof(struct sockaddr_in6))))
			bug("connect to family %u, %u bytes", family, op->len);
		return 0;
	case SR_OP_TIMEOUT:
	case SR_OP_LINK_TIMEOUT:
		ts = op->addr;
		if (!ts || ts->tv_sec < 0 || ts->tv_nsec < 0 ||
		    ts->tv_nsec >= 1000000000)
			bug("timeout with a bad timespec");
		return 0;
	default:
		return 0;
	}
}

/* ------------------------------------------------------------------ */
/* The kernel side. */

static void push_cqe(uint64_t user_data, int32_t res, uint32_t flags)
{
	if (fk->cq_len == fk->cq_cap) {
		unsigned cap = fk->cq_cap ? 2 * fk->cq_cap : 64;
		struct fake_cqe *n = realloc(fk->cq, cap * sizeof(*n));

		if (!n)
			abort();
		fk->cq = n;
		fk->cq_cap = cap;
	}
	fk->cq[fk->cq_len++] = (struct fake_cqe){ user_data, res, flags };
}

static int find_kop(uint64_t serial)
{
	for (unsigned i = 0; i < fk->nkops; i++)
		if (fk->kops[i].serial == serial)
			return (int)i;
	return -1;
}

static int find_next(uint64_t serial)
{
	for (unsigned i = 0; i < fk->nkops; i++)
		if (fk->kops[i].prev == serial)
			return (int)i;
	return -1;
}

static void remove_kop(int i)
{
	memmove(&fk->kops[i], &fk->kops[i + 1],
		(fk->nkops - (unsigned)i - 1) * sizeof(fk->kops[0]));
	fk->nkops--;
}

/* Cancel the rest of a chain, from the member at @i on. */
static void fail_chain(int i)
{
	while (i >= 0) {
		uint64_t serial = fk->kops[i].serial;

		push_cqe(fk->kops[i].op.user_data, -ECANCELED, 0);
		remove_kop(i);
		i = find_next(serial);
	}
}

/*
 * The operation at @i produced @res.  Interim completions (@flags has
 * IORING_CQE_F_MORE) leave it running.  Otherwise it leaves, and its
 * chain goes on (@ok, or a hard link) or is cancelled.  A LINK_TIMEOUT
 * after it is resolved with it: -ETIME when it was @timed_out (which
 * fails the chain), else -ECANCELED, passing the outcome on.
 */
static void finish(int i, int32_t res, uint32_t flags, bool ok,
		   bool timed_out)
{
	struct fake_kop k = fk->kops[i];
	int n;

	push_cqe(k.op.user_data, res, flags);
	if (flags & IORING_CQE_F_MORE)
		return;
	remove_kop(i);
	n = find_next(k.serial);
	if (n >= 0 && fk->kops[n].op.opcode == SR_OP_LINK_TIMEOUT) {
		struct fake_kop lt = fk->kops[n];

		push_cqe(lt.op.user_data, timed_out ? -ETIME : -ECANCELED, 0);
		remove_kop(n);
		if (timed_out)
			ok = false;
		/* The link that matters now is the timeout's own. */
		k.op.link = lt.op.link;
		k.serial = lt.serial;
		n = find_next(lt.serial);
	}
	if (n < 0)
		return;
	if (ok || k.op.link == SR_LINK_HARD)
		fk->kops[n].running = true;
	else
		fail_chain(n);
}

/* Cancel the started operation with @user_data, or with @any every
 * started one.  As the kernel's IORING_ASYNC_CANCEL_ANY does, @any keeps
 * going until nothing is found, so hard-linked members that start
 * because an earlier one was cancelled are cancelled as well (Linux 6.x:
 * checked against the real ring). */
static int do_cancel(uint64_t target, bool any)
{
	int count = 0;

	for (;;) {
		unsigned i;

		for (i = 0; i < fk->nkops; i++)
			if (fk->kops[i].running &&
			    (any || fk->kops[i].op.user_data == target))
				break;
		if (i == fk->nkops)
			break;
		finish((int)i, -ECANCELED, 0, false, false);
		count++;
		if (!any)
			break;
	}
	if (!count)
		return -ENOENT;
	return any ? count : 0;
}

static bool is_slow(const struct ring_op *op)
{
	switch (op->opcode) {
	case SR_OP_RECV:
	case SR_OP_RECVMSG:
	case SR_OP_ACCEPT:
	case SR_OP_POLL_ADD:
	case SR_OP_TIMEOUT:
		return true;
	default:
		return false;
	}
}

static void fill(void *addr, size_t len, unsigned char byte)
{
	memset(addr, byte, len);
}

/* Run the started operation at @i once. */
static void execute(int i)
{
	struct fake_kop *k = &fk->kops[i];
	const struct ring_op *op = &k->op;
	size_t want = check_memory(op);
	int32_t res = 0;

	if (needs_file(op->opcode) &&
	    (op->file_index >= fk->nfiles || !fk->files[op->file_index]))
		bug("opcode %u runs on file %u, which is not installed",
		    op->opcode, op->file_index);
	switch (op->opcode) {
	case SR_OP_NOP:
	case SR_OP_FSYNC:
	case SR_OP_SHUTDOWN:
		break;
	case SR_OP_READ:
		/* Offsets of 3 mod 4 read short, which fails soft links. */
		res = (int32_t)(op->offset % 4 == 3 ? want / 2 : want);
		fill(op->addr, (size_t)res, 0xab);
		break;
	case SR_OP_WRITE:
	case SR_OP_SEND:
	case SR_OP_WRITEV:
	case SR_OP_SENDMSG:
		res = (int32_t)want;
		break;
	case SR_OP_READV: {
		const struct iovec *iov = op->addr;

		for (uint32_t j = 0; j < op->len; j++)
			fill(iov[j].iov_base, iov[j].iov_len, 0xcd);
		res = (int32_t)want;
		break;
	}
	case SR_OP_FALLOCATE:
		res = op->length ? 0 : -EINVAL;
		break;
	case SR_OP_CONNECT:
		res = -ECONNREFUSED;
		break;
	case SR_OP_POLL_REMOVE:
	case SR_OP_ASYNC_CANCEL: {
		uint64_t serial = k->serial;

		/* Take this one out of the way first: the cancel must not
		 * find itself. */
		k->running = false;
		res = do_cancel(op->target, false);
		i = find_kop(serial);
		if (i < 0)
			bug("cancel request vanished");
		break;
	}
	case SR_OP_RECV:
		if (op->multishot) {
			if (!fk->pool_count) {
				finish(i, -ENOBUFS, 0, false, false);
				return;
			}
			unsigned h = fk->pool_head;
			uint32_t n = fk->pool[h].len < 9 ? fk->pool[h].len : 9;

			fill(fk->pool[h].addr, n, 0xef);
			fk->pool_head = (h + 1) % fk->pool_entries;
			fk->pool_count--;
			finish(i, (int32_t)n, IORING_CQE_F_BUFFER | IORING_CQE_F_MORE |
			       ((uint32_t)fk->pool[h].bid << IORING_CQE_BUFFER_SHIFT),
			       true, false);
			return;
		}
		res = (int32_t)(want < 5 ? want : 5);
		fill(op->addr, (size_t)res, 0x5a);
		break;
	case SR_OP_RECVMSG: {
		const struct msghdr *mh = op->addr;
		size_t n = mh->msg_iov[0].iov_len < 5 ? mh->msg_iov[0].iov_len : 5;

		fill(mh->msg_iov[0].iov_base, n, 0x5b);
		res = (int32_t)n;
		break;
	}
	case SR_OP_ACCEPT:
		if (op->multishot) {
			for (unsigned f = fk->alloc_start; f < fk->nfiles; f++) {
				if (fk->files[f])
					continue;
				fk->files[f] = true;
				finish(i, (int32_t)f, IORING_CQE_F_MORE, true, false);
				return;
			}
			finish(i, -ENFILE, 0, false, false);
			return;
		}
		fk->files[op->accept_index] = true;
		break;
	case SR_OP_POLL_ADD:
		res = (int32_t)(op->op_flags & (POLLIN | POLLOUT));
		break;
	case SR_OP_TIMEOUT:
		res = -ETIME;
		break;
	case SR_OP_LINK_TIMEOUT:
		/* Resolved with the member before it; never started alone. */
		bug("link timeout started on its own");
	default:
		bug("opcode %u reached the kernel", op->opcode);
	}
	finish(i, res, 0, res >= 0 && (want == 0 || (size_t)res == want),
	       false);
}

/* Run started fast operations until none is left. */
static void step(void)
{
	for (;;) {
		unsigned i;

		for (i = 0; i < fk->nkops; i++)
			if (fk->kops[i].running && !is_slow(&fk->kops[i].op))
				break;
		if (i == fk->nkops)
			return;
		execute((int)i);
	}
}

/* ------------------------------------------------------------------ */
/* ring.h */

int ring_driver_init(struct ring_driver *rd, const struct ring_config *cfg)
{
	memset(rd, 0, sizeof(*rd));
	if (fk)
		bug("a second ring while one is live");
	if (!cfg->entries || !cfg->files || cfg->alloc_start > cfg->files ||
	    !cfg->bufs || !cfg->nbufs || !cfg->pool_entries ||
	    (cfg->pool_entries & (cfg->pool_entries - 1)))
		bug("bad ring config: entries %u files %u alloc_start %u "
		    "nbufs %u pool %u", cfg->entries, cfg->files,
		    cfg->alloc_start, cfg->nbufs, cfg->pool_entries);
	fk = calloc(1, sizeof(*fk));
	if (!fk)
		return -ENOMEM;
	fk->owner = rd;
	fk->entries = cfg->entries;
	fk->nfiles = cfg->files;
	fk->alloc_start = cfg->alloc_start;
	fk->files = calloc(cfg->files, sizeof(*fk->files));
	fk->bufs = calloc(cfg->nbufs, sizeof(*fk->bufs));
	fk->sq = calloc(cfg->entries, sizeof(*fk->sq));
	fk->kops_cap = 2 * cfg->entries + 16;
	fk->kops = calloc(fk->kops_cap, sizeof(*fk->kops));
	fk->pool_entries = cfg->pool_entries;
	fk->pool = calloc(cfg->pool_entries, sizeof(*fk->pool));
	if (!fk->files || !fk->bufs || !fk->sq || !fk->kops || !fk->pool)
		abort();
	memcpy(fk->bufs, cfg->bufs, cfg->nbufs * sizeof(*fk->bufs));
	fk->nbufs = cfg->nbufs;
	rd->live = true;
	rd->ring.ring_fd = -1;
	return 0;
}

void ring_driver_exit(struct ring_driver *rd)
{
	if (!rd->live)
		return;
	check_owner(rd);
	if (fk->nkops)
		bug("ring torn down with %u operations in flight", fk->nkops);
	free(fk->files);
	free(fk->bufs);
	free(fk->sq);
	free(fk->kops);
	free(fk->cq);
	free(fk->pool);
	free(fk);
	fk = NULL;
	rd->live = false;
}

int ring_driver_fd(const struct ring_driver *rd)
{
	return rd->ring.ring_fd;
}

int ring_driver_set_file(struct ring_driver *rd, unsigned index, int fd)
{
	check_owner(rd);
	if (index >= fk->nfiles)
		return -EINVAL;
	if (fd >= 0 && fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	fk->files[index] = fd >= 0;
	return 0;
}

int ring_driver_clear_file(struct ring_driver *rd, unsigned index)
{
	return ring_driver_set_file(rd, index, -1);
}

int ring_driver_reserve(struct ring_driver *rd, unsigned n)
{
	check_owner(rd);
	if (fk->entries - fk->sq_len >= n)
		return 0;
	int r = ring_driver_submit(rd);
	if (r < 0)
		return r;
	return fk->entries - fk->sq_len >= n ? 0 : -EBUSY;
}

int ring_driver_queue(struct ring_driver *rd, const struct ring_op *op)
{
	check_owner(rd);
	if (op->opcode >= SR_OP__COUNT || op->opcode == SR_OP_CLOSE ||
	    op->opcode == SR_OP_PROVIDE)
		return -EINVAL;
	if (fk->sq_len == fk->entries)
		return -EBUSY;
	if (op->user_data == RING_CANCEL_USER_DATA ||
	    op->user_data == RING_NO_TARGET)
		bug("operation with reserved user_data %#llx",
		    (unsigned long long)op->user_data);
	if (op->link > SR_LINK_HARD)
		bug("link kind %u", op->link);
	(void)check_memory(op);
	fk->sq[fk->sq_len++] = (struct fake_sqe){ .op = *op };
	return 0;
}

static int queue_cancel(struct ring_driver *rd, uint64_t target, int flags)
{
	int r = ring_driver_reserve(rd, 1);

	if (r < 0)
		return r;
	fk->sq[fk->sq_len++] = (struct fake_sqe){
		.cancel = true,
		.cancel_flags = flags,
		.cancel_target = target,
	};
	return 0;
}

int ring_driver_cancel(struct ring_driver *rd, uint64_t user_data)
{
	check_owner(rd);
	return queue_cancel(rd, user_data, 0);
}

int ring_driver_cancel_all(struct ring_driver *rd)
{
	check_owner(rd);
	return queue_cancel(rd, 0, IORING_ASYNC_CANCEL_ANY);
}

int ring_driver_submit(struct ring_driver *rd)
{
	uint64_t prev = 0;
	unsigned n = fk ? fk->sq_len : 0;

	check_owner(rd);
	for (unsigned i = 0; i < n; i++) {
		struct fake_sqe *q = &fk->sq[i];

		if (q->cancel) {
			if (prev)
				bug("cancel queued inside a chain");
			push_cqe(RING_CANCEL_USER_DATA,
				 do_cancel(q->cancel_target,
					   q->cancel_flags & IORING_ASYNC_CANCEL_ANY),
				 0);
			continue;
		}
		if (q->op.opcode == SR_OP_ACCEPT && !q->op.multishot &&
		    (q->op.accept_index >= fk->alloc_start ||
		     fk->files[q->op.accept_index]))
			bug("single-shot accept into entry %u (installed %d)",
			    q->op.accept_index,
			    q->op.accept_index < fk->nfiles ?
			    fk->files[q->op.accept_index] : -1);
		if (needs_file(q->op.opcode) &&
		    (q->op.file_index >= fk->nfiles ||
		     !fk->files[q->op.file_index]))
			bug("opcode %u submitted on file %u, which is not installed",
			    q->op.opcode, q->op.file_index);
		for (unsigned j = 0; j < fk->nkops; j++)
			if (fk->kops[j].op.user_data == q->op.user_data)
				bug("two operations in flight with user_data %#llx",
				    (unsigned long long)q->op.user_data);
		if (fk->nkops == fk->kops_cap)
			bug("more than %u operations in flight", fk->kops_cap);
		fk->kops[fk->nkops++] = (struct fake_kop){
			.op = q->op,
			.serial = ++fk->next_serial,
			.prev = prev,
			.running = prev == 0,
		};
		prev = q->op.link ? fk->next_serial : 0;
	}
	if (prev)
		bug("chain split across submissions");
	fk->sq_len = 0;
	return (int)n;
}

void ring_driver_provide(struct ring_driver *rd, void *addr, uint32_t len,
			 uint16_t bid)
{
	check_owner(rd);
	if (!in_any_buf(addr, len) || len == 0)
		bug("pool buffer (%p, %u) outside the registered buffers", addr,
		    len);
	if (fk->pool_count == fk->pool_entries)
		bug("more than %u buffers in the pool", fk->pool_entries);
	for (unsigned i = 0; i < fk->pool_count; i++)
		if (fk->pool[(fk->pool_head + i) % fk->pool_entries].bid == bid)
			bug("buffer %u provided twice", bid);
	unsigned t = (fk->pool_head + fk->pool_count) % fk->pool_entries;
	fk->pool[t].addr = addr;
	fk->pool[t].len = len;
	fk->pool[t].bid = bid;
	fk->pool_count++;
}

unsigned ring_driver_reap(struct ring_driver *rd, ring_cqe_fn fn, void *arg)
{
	struct fake_cqe *cq;
	unsigned n;

	check_owner(rd);
	step();
	cq = fk->cq;
	n = fk->cq_len;
	/* The callback may queue cancels or clear files: hand it a list
	 * nothing else touches. */
	fk->cq = NULL;
	fk->cq_len = fk->cq_cap = 0;
	for (unsigned i = 0; i < n; i++)
		fn(arg, cq[i].user_data, cq[i].res, cq[i].flags);
	free(cq);
	return n;
}

bool ring_driver_ready(const struct ring_driver *rd)
{
	if (!rd->live)
		return false; /* as daemon/ring.c */
	check_owner(rd);
	/* What the next reap would hand over: completions already there,
	 * or started fast operations, which finish at the reap. */
	if (fk->cq_len)
		return true;
	for (unsigned i = 0; i < fk->nkops; i++)
		if (fk->kops[i].running && !is_slow(&fk->kops[i].op))
			return true;
	return false;
}

int ring_driver_probe(uint64_t *lacks)
{
	*lacks = 0;
	return 0;
}

/* ------------------------------------------------------------------ */
/* fake_ring.h */

void fake_ring_kick(void)
{
	uint64_t serials[256];
	unsigned n = 0;

	if (!fk)
		return;
	for (unsigned i = 0; i < fk->nkops && n < 256; i++)
		if (fk->kops[i].running && is_slow(&fk->kops[i].op))
			serials[n++] = fk->kops[i].serial;
	for (unsigned j = 0; j < n; j++) {
		int i = find_kop(serials[j]);

		if (i >= 0 && fk->kops[i].running)
			execute(i);
	}
}

unsigned fake_ring_pending(void)
{
	unsigned n;

	if (!fk)
		return 0;
	n = fk->nkops;
	for (unsigned i = 0; i < fk->sq_len; i++)
		n += !fk->sq[i].cancel;
	return n;
}

bool fake_ring_live(void)
{
	return fk != NULL;
}
