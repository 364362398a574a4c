/* SPDX-License-Identifier: MIT */
/*
 * ring_threads.c - see ring_threads.h.  The ring driver done with plain
 * system calls: what io_uring does in the kernel, done here so that the
 * session code above cannot tell the difference.
 *
 * One mutex guards all of the driver's state.  Socket and pipe attempts
 * are non-blocking system calls made with it held (they never wait), so
 * a cancel sees an operation either waiting or finished, never half-way;
 * only regular-file I/O runs unlocked, on a worker, where a cancel finds
 * it RUNNING and answers -EALREADY as the kernel does for io-wq work.
 *
 * Must never: wait for a socket in a system call (the poller waits in
 * ppoll for all of them at once, and for the timeouts and its wake-up
 * eventfd); post a completion for an operation twice, or touch its
 * memory after its final completion; call the caller's callback from
 * anywhere but ring_threads_reap.
 */
#include "ring_threads.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <linux/sockios.h>

#include "op_table.h"
#include "saferring.h"

/* At most this many worker threads for regular-file I/O. */
#define RT_MAX_WORKERS 4
/* Back-to-back receives of a multishot operation before it lets others
 * go first, as the kernel's MULTISHOT_MAX_RETRY. */
#define RT_MULTISHOT_MAX_RETRY 32

/* A registered file: a duplicate of the caller's descriptor, shared by
 * the table and by every operation in flight on it, closed with the last
 * of them (as the kernel keeps a file alive while an operation uses it). */
struct rt_file {
	int fd;
	unsigned refs;
	bool seekable;   /* regular file or block device: worker I/O */
	bool pollable;   /* not seekable: non-blocking attempts */
	bool stream_sock; /* SOCK_STREAM: reports bytes left (SOCK_NONEMPTY) */
	bool waitall_retry; /* STREAM or SEQPACKET: MSG_WAITALL goes on */
};

enum rt_state {
	RT_QUEUED,  /* not started: in the SQ or later in a chain */
	RT_WAITING, /* started, waits for readiness or its deadline */
	RT_WORKQ,   /* started, waits for a worker */
	RT_RUNNING, /* a worker does it now: cannot be cancelled */
};

struct rt_op {
	struct ring_op op;
	struct rt_file *file;
	enum rt_state state;
	struct rt_op *prev, *next;    /* the started list, or the work queue */
	struct rt_op *chain_next;     /* runs after this one completes */
	struct rt_op *ltimeout;       /* the LINK_TIMEOUT bounding this one */
	struct rt_op *guarded;        /* a LINK_TIMEOUT's operation */
	uint64_t deadline_ns;         /* TIMEOUT, armed LINK_TIMEOUT; 0: none */
	short events;                 /* readiness it waits for; 0: none */
	unsigned poll_round;          /* the poller round it is in */
	unsigned pfd_index;
	uint32_t done;                /* bytes moved so far (MSG_WAITALL) */
	uint64_t start_seq;           /* when it was started, for cancel-all */
	bool connecting;              /* CONNECT: in progress, ask SO_ERROR */
	bool nowait_unsupported;      /* stream without RWF_NOWAIT */
	int32_t res;                  /* a worker's result */
};

struct rt_cqe {
	uint64_t user_data;
	int32_t res;
	uint32_t flags;
};

struct rt_pool_buf {
	void *addr;
	uint32_t len;
	uint16_t bid;
};

struct ring_threads {
	pthread_mutex_t lock;
	pthread_cond_t work_cv;
	bool stopping;

	/* Submission: operations queued since the last submit. */
	struct rt_op **sq;
	unsigned sq_len, sq_cap;

	/* Started operations (WAITING, WORKQ, RUNNING). */
	struct rt_op *started;
	uint64_t start_seq;
	/* The workers' FIFO: a singly ordered list through prev/next of
	 * its own (ops in it are also on the started list through
	 * wq_next). */
	struct rt_op **workq;
	unsigned wq_head, wq_len, wq_cap;

	/* Completions not yet reaped. */
	struct rt_cqe *cq;
	unsigned cq_len, cq_cap;
	/* The other array, swapped in by reap (NULL while reap uses it). */
	struct rt_cqe *cq_spare;
	unsigned cq_spare_cap;
	atomic_uint cq_ready;
	int cq_event;   /* readable exactly while cq_len > 0 */

	/* The fixed-file table. */
	struct rt_file **files;
	unsigned nfiles, alloc_start, alloc_hint;

	/* Fixed buffers, for READ/WRITE's bounds. */
	struct iovec *bufs;
	unsigned nbufs;

	/* The receive pool, a FIFO as the kernel's buffer ring. */
	struct rt_pool_buf *pool;
	unsigned pool_entries, pool_head, pool_tail;

	uint64_t allowed_ops;

	/* The poller. */
	int wake_event;
	pthread_t poller;
	bool poller_up;
	struct pollfd *pfds;
	unsigned pfd_cap, poll_round;

	/* Workers: one from the start, more while all are busy, up to
	 * max_workers (as io-wq grows its pool). */
	pthread_t workers[RT_MAX_WORKERS];
	unsigned nworkers, max_workers, idle_workers;
};

static void rt_start(struct ring_threads *rt, struct rt_op *o);
static void rt_complete(struct ring_threads *rt, struct rt_op *o,
			int32_t res, uint32_t flags);

/* ---- small helpers ------------------------------------------------- */

static uint64_t rt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void rt_wake_poller(struct ring_threads *rt)
{
	uint64_t one = 1;

	/* Only fails when the counter is full, which wakes it anyway. */
	(void)!write(rt->wake_event, &one, sizeof(one));
}

static void rt_file_put(struct rt_file *f)
{
	if (f && --f->refs == 0) {
		close(f->fd);
		free(f);
	}
}

static void rt_free_op(struct rt_op *o)
{
	rt_file_put(o->file);
	free(o);
}

static void rt_started_add(struct ring_threads *rt, struct rt_op *o)
{
	o->start_seq = ++rt->start_seq;
	o->prev = NULL;
	o->next = rt->started;
	if (rt->started)
		rt->started->prev = o;
	rt->started = o;
}

static void rt_started_remove(struct ring_threads *rt, struct rt_op *o)
{
	if (o->prev)
		o->prev->next = o->next;
	else
		rt->started = o->next;
	if (o->next)
		o->next->prev = o->prev;
	o->prev = o->next = NULL;
}

static bool rt_is_started(const struct rt_op *o)
{
	return o->state != RT_QUEUED;
}

/* ---- completions --------------------------------------------------- */

static void rt_post(struct ring_threads *rt, uint64_t user_data, int32_t res,
		    uint32_t flags)
{
	if (rt->cq_len == rt->cq_cap) {
		unsigned cap = rt->cq_cap ? rt->cq_cap * 2 : 64;
		struct rt_cqe *cq = realloc(rt->cq, cap * sizeof(*cq));

		/* The kernel would keep it on its overflow list; with no
		 * memory left there is nowhere to keep it. */
		if (!cq)
			return;
		rt->cq = cq;
		rt->cq_cap = cap;
	}
	rt->cq[rt->cq_len++] = (struct rt_cqe){ user_data, res, flags };
	if (rt->cq_len == 1) {
		uint64_t one = 1;

		atomic_store_explicit(&rt->cq_ready, 1, memory_order_release);
		(void)!write(rt->cq_event, &one, sizeof(one));
	}
}

static size_t rt_msg_length(const struct msghdr *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->msg_iovlen; i++)
		n += m->msg_iov[i].iov_len;
	return n;
}

/* The bytes a READ, WRITE, READV or WRITEV asks for. */
static size_t rt_rw_length(const struct rt_op *o)
{
	const struct iovec *iov = o->op.addr;
	size_t want = 0;

	if (o->op.opcode == SR_OP_READ || o->op.opcode == SR_OP_WRITE)
		return o->op.len;
	for (uint32_t i = 0; i < o->op.len; i++)
		want += iov[i].iov_len;
	return want;
}

/* Whether @res breaks a soft link, as the kernel counts it: an error, a
 * short read or write, a short transfer with MSG_WAITALL. */
static bool rt_fails_link(const struct rt_op *o, int32_t res)
{
	if (res < 0)
		return true;
	switch ((enum sr_opcode)o->op.opcode) {
	case SR_OP_READ:
	case SR_OP_WRITE:
	case SR_OP_READV:
	case SR_OP_WRITEV:
		return (size_t)res != rt_rw_length(o);
	case SR_OP_SEND:
	case SR_OP_RECV:
		return (o->op.op_flags & MSG_WAITALL) && !o->op.multishot &&
		       (uint32_t)res < o->op.len;
	case SR_OP_SENDMSG:
	case SR_OP_RECVMSG:
		return (o->op.op_flags & MSG_WAITALL) &&
		       (size_t)res < rt_msg_length(o->op.addr);
	case SR_OP_NOP: case SR_OP_FSYNC: case SR_OP_FALLOCATE:
	case SR_OP_ACCEPT:
	case SR_OP_CONNECT: case SR_OP_POLL_ADD: case SR_OP_POLL_REMOVE:
	case SR_OP_TIMEOUT: case SR_OP_LINK_TIMEOUT: case SR_OP_ASYNC_CANCEL:
	case SR_OP_CLOSE: case SR_OP_SHUTDOWN: case SR_OP_PROVIDE:
	case SR_OP__COUNT:
	default:
		return false;
	}
}

/* The rest of a failed chain, and each member's link timeout, end with
 * -ECANCELED without running. */
static void rt_cancel_chain(struct ring_threads *rt, struct rt_op *o)
{
	while (o) {
		struct rt_op *next = o->chain_next;

		rt_post(rt, o->op.user_data, -ECANCELED, 0);
		if (o->ltimeout) {
			rt_post(rt, o->ltimeout->op.user_data, -ECANCELED, 0);
			rt_free_op(o->ltimeout);
		}
		rt_free_op(o);
		o = next;
	}
}

/* The operation a link timeout bounded finished first: the timeout ends
 * with -ECANCELED. */
static void rt_disarm_ltimeout(struct ring_threads *rt, struct rt_op *o)
{
	struct rt_op *lt = o->ltimeout;

	if (!lt)
		return;
	o->ltimeout = NULL;
	if (rt_is_started(lt))
		rt_started_remove(rt, lt);
	rt_post(rt, lt->op.user_data, -ECANCELED, 0);
	rt_free_op(lt);
}

static void rt_workq_remove(struct ring_threads *rt, struct rt_op *o)
{
	for (unsigned i = 0; i < rt->wq_len; i++) {
		unsigned at = (rt->wq_head + i) % rt->wq_cap;

		if (rt->workq[at] != o)
			continue;
		/* Close the gap, keeping the order. */
		for (unsigned k = i; k + 1 < rt->wq_len; k++)
			rt->workq[(rt->wq_head + k) % rt->wq_cap] =
				rt->workq[(rt->wq_head + k + 1) % rt->wq_cap];
		rt->wq_len--;
		return;
	}
}

/*
 * Post @o's completion.  With IORING_CQE_F_MORE it stays; otherwise it
 * leaves: its link timeout is disarmed, and its chain goes on (or is
 * cancelled, on a failure under a soft link).
 */
static void rt_complete(struct ring_threads *rt, struct rt_op *o,
			int32_t res, uint32_t flags)
{
	struct rt_op *next;

	rt_post(rt, o->op.user_data, res, flags);
	if (flags & IORING_CQE_F_MORE)
		return;
	if (o->state == RT_WORKQ)
		rt_workq_remove(rt, o);
	if (rt_is_started(o))
		rt_started_remove(rt, o);
	rt_disarm_ltimeout(rt, o);
	next = o->chain_next;
	o->chain_next = NULL;
	if (next && rt_fails_link(o, res) && o->op.link != SR_LINK_HARD)
		rt_cancel_chain(rt, next);
	else if (next)
		rt_start(rt, next);
	rt_free_op(o);
}

/* ---- the fixed-file table ------------------------------------------ */

static void rt_file_type(struct rt_file *f)
{
	struct stat st;
	int type = 0;
	socklen_t len = sizeof(type);

	if (fstat(f->fd, &st) == 0)
		f->seekable = S_ISREG(st.st_mode) || S_ISBLK(st.st_mode);
	f->pollable = !f->seekable;
	if (getsockopt(f->fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0) {
		f->stream_sock = type == SOCK_STREAM;
		f->waitall_retry = type == SOCK_STREAM || type == SOCK_SEQPACKET;
	}
}

static struct rt_file *rt_file_new(int fd)
{
	struct rt_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->fd = fd;
	f->refs = 1;
	rt_file_type(f);
	return f;
}

/* As the kernel's table: a set entry moves the allocation hint past it,
 * a cleared one back to it. */
static void rt_file_install(struct ring_threads *rt, unsigned index,
			    struct rt_file *f)
{
	struct rt_file *old = rt->files[index];

	rt->files[index] = f;
	if (old && !f)
		rt->alloc_hint = index;
	else if (!old && f)
		rt->alloc_hint = index + 1;
	rt_file_put(old);
}

/* A free entry in [alloc_start, files), searched from the hint and then
 * from the start, as io_file_bitmap_get does; -ENFILE when full. */
static int rt_file_alloc(struct ring_threads *rt)
{
	unsigned from = rt->alloc_hint < rt->alloc_start ? rt->alloc_start :
			rt->alloc_hint;

	for (unsigned i = from; i < rt->nfiles; i++)
		if (!rt->files[i])
			return (int)i;
	for (unsigned i = rt->alloc_start; i < from && i < rt->nfiles; i++)
		if (!rt->files[i])
			return (int)i;
	return -ENFILE;
}

int ring_threads_set_file(struct ring_threads *rt, unsigned index, int fd)
{
	struct rt_file *f = NULL;
	int dup_fd;

	if (index >= rt->nfiles)
		return -EINVAL;
	if (fd >= 0) {
		dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (dup_fd < 0)
			return -errno;
		f = rt_file_new(dup_fd);
		if (!f) {
			close(dup_fd);
			return -ENOMEM;
		}
	}
	pthread_mutex_lock(&rt->lock);
	rt_file_install(rt, index, f);
	pthread_mutex_unlock(&rt->lock);
	return 0;
}

int ring_threads_clear_file(struct ring_threads *rt, unsigned index)
{
	return ring_threads_set_file(rt, index, -1);
}

/* ---- the operations themselves --------------------------------------
 * Each attempt returns the result to post, or -EAGAIN with o->events
 * set to the readiness to wait for.  Called with the lock held; none of
 * them waits.
 */

/* READ/WRITE's range must lie inside its fixed buffer, as the kernel
 * checks (-EFAULT). */
static bool rt_fixed_range_ok(const struct ring_threads *rt,
			      const struct ring_op *op)
{
	const struct iovec *b;
	uintptr_t start = (uintptr_t)op->addr, base;

	if (op->buf_index >= rt->nbufs)
		return false;
	b = &rt->bufs[op->buf_index];
	base = (uintptr_t)b->iov_base;
	return start >= base && start - base <= b->iov_len &&
	       op->len <= b->iov_len - (start - base);
}

/* A non-seekable file (pipe, socket, character device) is read at its
 * current position, as the kernel does for streams. */
static off_t rt_offset(const struct rt_op *o)
{
	return o->file->seekable ? (off_t)o->op.offset : (off_t)-1;
}

/*
 * A write to a pipe whose reader is gone raises SIGPIPE in the writing
 * thread, which by default kills the process; io_uring's caller is the
 * daemon, which ignores it, but this driver may run in a client that
 * does not.  So the signal is blocked around the write and, if the write
 * raised it, taken back (one not pending before is ours).  Sockets need
 * none of this: MSG_NOSIGNAL.
 */
static ssize_t rt_pwritev_nosigpipe(int fd, const struct iovec *iov, int n,
				    off_t offset, int rwf)
{
	sigset_t pipe_set, old, pending;
	struct timespec zero = { 0, 0 };
	bool was_pending;
	ssize_t r;
	int err;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	r = pwritev2(fd, iov, n, offset, rwf);
	err = errno;
	if (r < 0 && err == EPIPE && !was_pending)
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = err;
	return r;
}

static int32_t rt_do_rw(struct rt_op *o, int rwf)
{
	struct iovec one = { o->op.addr, o->op.len };
	const struct iovec *iov = &one;
	int n = 1;
	ssize_t r;

	if (o->op.opcode == SR_OP_READV || o->op.opcode == SR_OP_WRITEV) {
		iov = o->op.addr;
		n = (int)o->op.len;
	}
	if (o->op.opcode == SR_OP_READ || o->op.opcode == SR_OP_READV)
		r = preadv2(o->file->fd, iov, n, rt_offset(o), rwf);
	else if (o->file->seekable)
		r = pwritev2(o->file->fd, iov, n, rt_offset(o), rwf);
	else
		r = rt_pwritev_nosigpipe(o->file->fd, iov, n, rt_offset(o), rwf);
	return r < 0 ? -errno : (int32_t)r;
}

/* On a worker, unlocked: regular-file I/O may take long, never forever. */
static int32_t rt_do_file_op(struct rt_op *o)
{
	int fd = o->file->fd;

	switch ((enum sr_opcode)o->op.opcode) {
	case SR_OP_FSYNC:
		if (o->op.op_flags & SR_FSYNC_DATASYNC)
			return fdatasync(fd) < 0 ? -errno : 0;
		return fsync(fd) < 0 ? -errno : 0;
	case SR_OP_FALLOCATE:
		return fallocate(fd, (int)o->op.op_flags, (off_t)o->op.offset,
				 (off_t)o->op.length) < 0 ? -errno : 0;
	case SR_OP_READ: case SR_OP_WRITE: case SR_OP_READV: case SR_OP_WRITEV:
		return rt_do_rw(o, 0);
	case SR_OP_NOP: case SR_OP_SEND: case SR_OP_RECV: case SR_OP_SENDMSG:
	case SR_OP_RECVMSG: case SR_OP_ACCEPT: case SR_OP_CONNECT:
	case SR_OP_POLL_ADD: case SR_OP_POLL_REMOVE: case SR_OP_TIMEOUT:
	case SR_OP_LINK_TIMEOUT: case SR_OP_ASYNC_CANCEL: case SR_OP_CLOSE:
	case SR_OP_SHUTDOWN: case SR_OP_PROVIDE: case SR_OP__COUNT:
	default:
		return -EINVAL;
	}
}

static uint32_t rt_sock_nonempty(const struct rt_op *o)
{
	int inq = 0;

	if (o->file->stream_sock && ioctl(o->file->fd, SIOCINQ, &inq) == 0 &&
	    inq > 0)
		return IORING_CQE_F_SOCK_NONEMPTY;
	return 0;
}

/* SEND and RECV into a slot.  MSG_WAITALL on a stream socket goes on
 * after a partial transfer, as the kernel retries it. */
static int32_t rt_try_send_recv(struct rt_op *o, uint32_t *flags)
{
	bool recv_op = o->op.opcode == SR_OP_RECV;
	char *buf = (char *)o->op.addr + o->done;
	size_t left = o->op.len - o->done;
	int msg_flags = (int)o->op.op_flags | MSG_DONTWAIT;
	ssize_t r;

	if (recv_op)
		r = recv(o->file->fd, buf, left, msg_flags);
	else
		r = send(o->file->fd, buf, left, msg_flags | MSG_NOSIGNAL);
	if (r < 0 && errno == EAGAIN && !(o->op.op_flags & MSG_DONTWAIT)) {
		o->events = recv_op ? POLLIN : POLLOUT;
		return -EAGAIN;
	}
	if (r < 0)
		return o->done ? (int32_t)o->done : -errno;
	o->done += (uint32_t)r;
	if (r > 0 && o->done < o->op.len && (o->op.op_flags & MSG_WAITALL) &&
	    o->file->waitall_retry) {
		o->events = recv_op ? POLLIN : POLLOUT;
		return -EAGAIN;
	}
	if (recv_op)
		*flags = rt_sock_nonempty(o);
	return (int32_t)o->done;
}

/* @in with its first @done bytes skipped, in @out over @iov (room for
 * in->msg_iovlen entries): the caller's msghdr stays as it gave it. */
static void rt_msg_skip(struct msghdr *out, struct iovec *iov,
			const struct msghdr *in, size_t done)
{
	size_t k = 0;

	*out = *in;
	for (size_t i = 0; i < in->msg_iovlen; i++) {
		struct iovec v = in->msg_iov[i];

		if (done >= v.iov_len) {
			done -= v.iov_len;
			continue;
		}
		v.iov_base = (char *)v.iov_base + done;
		v.iov_len -= done;
		done = 0;
		iov[k++] = v;
	}
	out->msg_iov = iov;
	out->msg_iovlen = k;
}

static ssize_t rt_msg_call(struct rt_op *o, struct msghdr *m, int flags)
{
	if (o->op.opcode == SR_OP_RECVMSG)
		return recvmsg(o->file->fd, m, flags);
	return sendmsg(o->file->fd, m, flags | MSG_NOSIGNAL);
}

/* SENDMSG/RECVMSG; after a partial MSG_WAITALL transfer, on the rest of
 * the caller's iovecs, the results recvmsg reports (name and control
 * lengths, flags) copied back to the caller's msghdr as recvmsg would. */
static ssize_t rt_msg_once(struct rt_op *o, int flags)
{
	struct msghdr *m = o->op.addr, rest;
	struct iovec *iov;
	ssize_t r;
	int err;

	if (!o->done)
		return rt_msg_call(o, m, flags);
	iov = malloc(m->msg_iovlen * sizeof(*iov));
	if (!iov) {
		errno = ENOMEM;
		return -1;
	}
	rt_msg_skip(&rest, iov, m, o->done);
	r = rt_msg_call(o, &rest, flags);
	err = errno;
	if (o->op.opcode == SR_OP_RECVMSG) {
		m->msg_namelen = rest.msg_namelen;
		m->msg_controllen = rest.msg_controllen;
		m->msg_flags = rest.msg_flags;
	}
	free(iov);
	errno = err;
	return r;
}

static int32_t rt_try_msg(struct rt_op *o, uint32_t *flags)
{
	bool recv_op = o->op.opcode == SR_OP_RECVMSG;
	ssize_t r = rt_msg_once(o, (int)o->op.op_flags | MSG_DONTWAIT);

	if (r < 0 && errno == EAGAIN && !(o->op.op_flags & MSG_DONTWAIT)) {
		o->events = recv_op ? POLLIN : POLLOUT;
		return -EAGAIN;
	}
	if (r < 0)
		return o->done ? (int32_t)o->done : -errno;
	o->done += (uint32_t)r;
	/* MSG_WAITALL on a stream goes on after a partial transfer, as the
	 * kernel retries it (io_net_retry). */
	if (r > 0 && (o->op.op_flags & MSG_WAITALL) && o->file->waitall_retry &&
	    o->done < rt_msg_length(o->op.addr)) {
		o->events = recv_op ? POLLIN : POLLOUT;
		return -EAGAIN;
	}
	if (recv_op)
		*flags = rt_sock_nonempty(o);
	return (int32_t)o->done;
}

/* One receive of a multishot RECV into the pool's oldest buffer: the
 * buffer is taken only when data came (the kernel recycles it
 * otherwise); no buffer at all ends the operation with -ENOBUFS. */
static int32_t rt_recv_pool_once(struct ring_threads *rt, struct rt_op *o,
				 uint32_t *flags)
{
	struct rt_pool_buf *b;
	ssize_t r;

	if (rt->pool_head == rt->pool_tail)
		return -ENOBUFS;
	b = &rt->pool[rt->pool_head % rt->pool_entries];
	r = recv(o->file->fd, b->addr, b->len,
		 (int)o->op.op_flags | MSG_DONTWAIT);
	if (r < 0)
		return -errno;
	*flags = rt_sock_nonempty(o);
	if (r > 0) {
		*flags |= IORING_CQE_F_BUFFER |
			  ((uint32_t)b->bid << IORING_CQE_BUFFER_SHIFT);
		rt->pool_head++;
	}
	return (int32_t)r;
}

/* Multishot RECV: a completion with F_MORE per receive while data comes,
 * until an error, the end of the stream (0) or an empty pool. */
static int32_t rt_try_recv_multishot(struct ring_threads *rt,
				     struct rt_op *o, uint32_t *flags)
{
	for (unsigned i = 0; i < RT_MULTISHOT_MAX_RETRY; i++) {
		int32_t res = rt_recv_pool_once(rt, o, flags);

		if (res == -EAGAIN)
			break;
		if (res <= 0)
			return res;
		rt_post(rt, o->op.user_data, res, *flags | IORING_CQE_F_MORE);
		/* The kernel goes on at once only when the socket says bytes
		 * are left or cannot say (datagrams); otherwise it waits for
		 * more, and only then finds an empty pool. */
		if (!(*flags & IORING_CQE_F_SOCK_NONEMPTY) &&
		    o->file->stream_sock)
			break;
		*flags = 0;
	}
	*flags = 0;
	o->events = POLLIN;
	return -EAGAIN;
}

/* Accept a connection without blocking.  There is no per-call
 * MSG_DONTWAIT for accept, and the listener's open file description is
 * shared with the caller (who may have it blocking), so readiness is
 * asked first: only someone else accepting on the same listener between
 * the two calls could make accept4 wait. */
static int rt_accept_fd(struct rt_op *o)
{
	struct pollfd p = { .fd = o->file->fd, .events = POLLIN };
	int fd;

	if (poll(&p, 1, 0) < 0)
		return -errno;
	if (!(p.revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL)))
		return -EAGAIN;
	fd = accept4(o->file->fd, NULL, NULL, SOCK_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int32_t rt_install_accepted(struct ring_threads *rt, int fd,
				   int index)
{
	struct rt_file *f = rt_file_new(fd);

	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	rt_file_install(rt, (unsigned)index, f);
	return 0;
}

static int32_t rt_try_accept(struct ring_threads *rt, struct rt_op *o)
{
	int fd = rt_accept_fd(o);

	if (fd == -EAGAIN) {
		o->events = POLLIN;
		return -EAGAIN;
	}
	if (fd < 0)
		return fd;
	if (o->op.accept_index >= rt->nfiles) {
		close(fd);
		return -EINVAL;
	}
	return rt_install_accepted(rt, fd, (int)o->op.accept_index);
}

/* Multishot ACCEPT: each connection into a free entry of the
 * allocation range, res its index; -ENFILE (the connection dropped)
 * when the range is full. */
static int32_t rt_try_accept_multishot(struct ring_threads *rt,
				       struct rt_op *o)
{
	for (;;) {
		int fd = rt_accept_fd(o), index;
		int32_t r;

		if (fd == -EAGAIN)
			break;
		if (fd < 0)
			return fd;
		index = rt_file_alloc(rt);
		if (index < 0) {
			close(fd);
			return index;
		}
		r = rt_install_accepted(rt, fd, index);
		if (r < 0)
			return r;
		rt_post(rt, o->op.user_data, index, IORING_CQE_F_MORE);
	}
	o->events = POLLIN;
	return -EAGAIN;
}

/* CONNECT without blocking: the caller's socket may be blocking, and
 * only its (shared) open file description says so, so it is made
 * non-blocking for the one call, as the kernel's io_uring forces it. */
static int rt_connect_nonblocking(struct rt_op *o)
{
	int fd = o->file->fd;
	int fl = fcntl(fd, F_GETFL);
	int r;

	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	r = connect(fd, o->op.addr, (socklen_t)o->op.len) < 0 ? -errno : 0;
	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl);
	return r;
}

static int32_t rt_try_connect(struct rt_op *o)
{
	int r, err = 0;
	socklen_t len = sizeof(err);

	if (o->connecting) {
		/* As the kernel: the socket's pending error is the result. */
		if (getsockopt(o->file->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			return -errno;
		return -err;
	}
	r = rt_connect_nonblocking(o);
	if (r == -EINPROGRESS || r == -EAGAIN) {
		o->connecting = r == -EINPROGRESS;
		o->events = POLLOUT;
		return -EAGAIN;
	}
	return r;
}

static int32_t rt_try_poll(struct rt_op *o)
{
	short want = (short)(o->op.op_flags | POLLERR | POLLHUP);
	struct pollfd p = { .fd = o->file->fd, .events = want };

	if (poll(&p, 1, 0) < 0)
		return -errno;
	if (p.revents & want)
		return p.revents & want;
	o->events = (short)o->op.op_flags;
	return -EAGAIN;
}

/* A file without RWF_NOWAIT (some character devices) is read or
 * written once poll says it is ready: then it does not wait, unless
 * someone else took the data meanwhile.  Never on a worker, where it
 * could hold the thread (and ring_threads_exit) for ever. */
static bool rt_stream_ready(const struct rt_op *o, short events)
{
	struct pollfd p = { .fd = o->file->fd, .events = events };

	return poll(&p, 1, 0) > 0 && p.revents;
}

/* A pipe or other stream: RWF_NOWAIT, else readiness. */
static int32_t rt_try_stream_rw(struct rt_op *o)
{
	bool reading = o->op.opcode == SR_OP_READ ||
		       o->op.opcode == SR_OP_READV;
	short events = reading ? POLLIN : POLLOUT;
	int32_t r;

	if (o->nowait_unsupported)
		r = rt_stream_ready(o, events) ? rt_do_rw(o, 0) : -EAGAIN;
	else
		r = rt_do_rw(o, RWF_NOWAIT);
	if (r == -EOPNOTSUPP && !o->nowait_unsupported) {
		o->nowait_unsupported = true;
		return rt_try_stream_rw(o);
	}
	/* Even on a file the caller made non-blocking: io_uring (6.18)
	 * waits there too (test_ring_threads checks it does). */
	if (r == -EAGAIN)
		o->events = events;
	return r;
}

/* One non-blocking attempt at a waiting operation. */
static int32_t rt_attempt(struct ring_threads *rt, struct rt_op *o,
			  uint32_t *flags)
{
	*flags = 0;
	o->events = 0;
	switch ((enum sr_opcode)o->op.opcode) {
	case SR_OP_SEND:
		return rt_try_send_recv(o, flags);
	case SR_OP_RECV:
		if (o->op.multishot)
			return rt_try_recv_multishot(rt, o, flags);
		return rt_try_send_recv(o, flags);
	case SR_OP_SENDMSG:
	case SR_OP_RECVMSG:
		return rt_try_msg(o, flags);
	case SR_OP_ACCEPT:
		if (o->op.multishot)
			return rt_try_accept_multishot(rt, o);
		return rt_try_accept(rt, o);
	case SR_OP_CONNECT:
		return rt_try_connect(o);
	case SR_OP_POLL_ADD:
		return rt_try_poll(o);
	case SR_OP_READ: case SR_OP_WRITE: case SR_OP_READV: case SR_OP_WRITEV:
		return rt_try_stream_rw(o);
	case SR_OP_NOP: case SR_OP_FSYNC: case SR_OP_FALLOCATE:
	case SR_OP_POLL_REMOVE: case SR_OP_TIMEOUT: case SR_OP_LINK_TIMEOUT:
	case SR_OP_ASYNC_CANCEL: case SR_OP_CLOSE: case SR_OP_SHUTDOWN:
	case SR_OP_PROVIDE: case SR_OP__COUNT:
	default:
		return -EINVAL;
	}
}

/* ---- starting and cancelling -------------------------------------- */

/* Create a thread running @fn with every signal blocked (it inherits
 * the mask): the process's signals are for its own threads.  0 or
 * -errno. */
static int rt_thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -r;
}

static void *rt_worker_main(void *arg);

/* One worker more when the queue outgrows the idle ones; if the thread
 * cannot be made, the workers there are take the queue in turn. */
static void rt_grow_workers(struct ring_threads *rt)
{
	if (rt->idle_workers >= rt->wq_len || rt->nworkers >= rt->max_workers)
		return;
	if (rt_thread_create(&rt->workers[rt->nworkers], rt_worker_main,
			     rt) == 0)
		rt->nworkers++;
}

static void rt_to_workers(struct ring_threads *rt, struct rt_op *o)
{
	if (rt->wq_len == rt->wq_cap) {
		unsigned cap = rt->wq_cap ? rt->wq_cap * 2 : 16;
		struct rt_op **q = malloc(cap * sizeof(*q));

		if (!q) {
			rt_complete(rt, o, -ENOMEM, 0);
			return;
		}
		for (unsigned i = 0; i < rt->wq_len; i++)
			q[i] = rt->workq[(rt->wq_head + i) % rt->wq_cap];
		free(rt->workq);
		rt->workq = q;
		rt->wq_head = 0;
		rt->wq_cap = cap;
	}
	rt->workq[(rt->wq_head + rt->wq_len++) % rt->wq_cap] = o;
	o->state = RT_WORKQ;
	rt_started_add(rt, o);
	pthread_cond_signal(&rt->work_cv);
	rt_grow_workers(rt);
}

/* Try it now; what would wait goes to the poller. */
static void rt_try_or_wait(struct ring_threads *rt, struct rt_op *o)
{
	uint32_t flags;
	int32_t res = rt_attempt(rt, o, &flags);

	if (res == -EAGAIN && o->events) {
		if (o->state != RT_WAITING) {
			o->state = RT_WAITING;
			rt_started_add(rt, o);
		}
		o->poll_round = 0;
		rt_wake_poller(rt);
		return;
	}
	rt_complete(rt, o, res, flags);
}

static uint64_t rt_timespec_ns(const void *addr)
{
	const struct __kernel_timespec *ts = addr;

	return (uint64_t)ts->tv_sec * 1000000000ULL + (uint64_t)ts->tv_nsec;
}

static void rt_arm_timer(struct ring_threads *rt, struct rt_op *o)
{
	o->deadline_ns = rt_now_ns() + rt_timespec_ns(o->op.addr);
	/* Never 0, which means no deadline. */
	if (!o->deadline_ns)
		o->deadline_ns = 1;
	o->state = RT_WAITING;
	o->poll_round = 0;
	rt_started_add(rt, o);
	rt_wake_poller(rt);
}

/* The started operation @user_data, if one can be cancelled by it: link
 * timeouts cannot (the kernel keeps them apart), nor the canceller. */
static struct rt_op *rt_find(struct ring_threads *rt, uint64_t user_data,
			     bool any, const struct rt_op *skip)
{
	for (struct rt_op *o = rt->started; o; o = o->next) {
		if (o == skip || o->op.opcode == SR_OP_LINK_TIMEOUT)
			continue;
		if (any || o->op.user_data == user_data)
			return o;
	}
	return NULL;
}

/* 0 when cancelled (-ECANCELED posted), -EALREADY when a worker runs
 * it now (it completes on its own). */
static int rt_cancel_one(struct ring_threads *rt, struct rt_op *o)
{
	if (o->state == RT_RUNNING)
		return -EALREADY;
	rt_complete(rt, o, -ECANCELED, 0);
	return 0;
}

static int32_t rt_cancel_target(struct ring_threads *rt, uint64_t target,
				const struct rt_op *self)
{
	struct rt_op *o = rt_find(rt, target, false, self);

	return o ? rt_cancel_one(rt, o) : -ENOENT;
}

/* Cancel everything started: res is how many, as IORING_ASYNC_CANCEL_ANY
 * counts (those running included).  What a cancel starts (the rest of a
 * hard chain) runs, as in the kernel, where it starts after the cancel. */
static int32_t rt_cancel_everything(struct ring_threads *rt,
				    const struct rt_op *self)
{
	uint64_t before = rt->start_seq;
	int32_t n = 0;
	bool again = true;

	while (again) {
		again = false;
		for (struct rt_op *o = rt->started; o; o = o->next) {
			if (o == self || o->op.opcode == SR_OP_LINK_TIMEOUT ||
			    o->state == RT_RUNNING || o->start_seq > before)
				continue;
			rt_cancel_one(rt, o);
			n++;
			/* The list changed under us: from the start. */
			again = true;
			break;
		}
	}
	for (struct rt_op *o = rt->started; o; o = o->next)
		if (o->state == RT_RUNNING && o->op.opcode != SR_OP_LINK_TIMEOUT &&
		    o->start_seq <= before)
			n++;
	return n;
}

static int32_t rt_poll_remove(struct ring_threads *rt, uint64_t target)
{
	for (struct rt_op *o = rt->started; o; o = o->next)
		if (o->op.opcode == SR_OP_POLL_ADD && o->op.user_data == target) {
			rt_complete(rt, o, -ECANCELED, 0);
			return 0;
		}
	return -ENOENT;
}

/* The driver's own cancel requests carry this in op.length. */
#define RT_CANCEL_ANY 1

/* Whether an operation names a file: the op table's fd column.  An
 * unknown opcode is taken as naming one, so its lookup fails. */
static bool rt_needs_file(uint32_t opcode)
{
	const struct op_info *info = op_info(opcode);

	return !info || info->fd != OPF_NO;
}

/* The file an operation names, referenced for as long as it runs. */
static int rt_take_file(struct ring_threads *rt, struct rt_op *o)
{
	struct rt_file *f;

	if (!rt_needs_file(o->op.opcode))
		return 0;
	f = o->op.file_index < rt->nfiles ? rt->files[o->op.file_index] : NULL;
	if (!f)
		return -EBADF;
	f->refs++;
	o->file = f;
	return 0;
}

/*
 * A read the page cache can answer whole is done at once, without a
 * worker, as io_uring first tries it inline (RWF_NOWAIT never waits for
 * the disk).  Only at an explicit offset, where reading again is
 * harmless: a partial answer is dropped and the worker reads it all,
 * since a short result would end a chain the full read would not.
 */
static bool rt_try_cached_read(struct ring_threads *rt, struct rt_op *o)
{
	int32_t r;

	if ((o->op.opcode != SR_OP_READ && o->op.opcode != SR_OP_READV) ||
	    o->op.offset == UINT64_MAX)
		return false;
	r = rt_do_rw(o, RWF_NOWAIT);
	if (r == -EAGAIN || r == -EOPNOTSUPP ||
	    (r > 0 && (size_t)r < rt_rw_length(o)))
		return false;
	rt_complete(rt, o, r, 0);
	return true;
}

static void rt_start_file_op(struct ring_threads *rt, struct rt_op *o)
{
	if ((o->op.opcode == SR_OP_READ || o->op.opcode == SR_OP_WRITE) &&
	    !rt_fixed_range_ok(rt, &o->op)) {
		rt_complete(rt, o, -EFAULT, 0);
		return;
	}
	if (o->file->seekable && rt_try_cached_read(rt, o))
		return;
	if (o->file->seekable || o->op.opcode == SR_OP_FSYNC ||
	    o->op.opcode == SR_OP_FALLOCATE)
		rt_to_workers(rt, o);
	else
		rt_try_or_wait(rt, o);
}

static void rt_start_op(struct ring_threads *rt, struct rt_op *o)
{
	switch ((enum sr_opcode)o->op.opcode) {
	case SR_OP_NOP:
		rt_complete(rt, o, 0, 0);
		break;
	case SR_OP_READ: case SR_OP_WRITE: case SR_OP_READV: case SR_OP_WRITEV:
	case SR_OP_FSYNC: case SR_OP_FALLOCATE:
		rt_start_file_op(rt, o);
		break;
	case SR_OP_SEND: case SR_OP_RECV: case SR_OP_SENDMSG:
	case SR_OP_RECVMSG: case SR_OP_ACCEPT: case SR_OP_CONNECT:
	case SR_OP_POLL_ADD:
		rt_try_or_wait(rt, o);
		break;
	case SR_OP_SHUTDOWN:
		rt_complete(rt, o, shutdown(o->file->fd, (int)o->op.op_flags) < 0 ?
			    -errno : 0, 0);
		break;
	case SR_OP_TIMEOUT:
		rt_arm_timer(rt, o);
		break;
	case SR_OP_POLL_REMOVE:
		rt_complete(rt, o, rt_poll_remove(rt, o->op.target), 0);
		break;
	case SR_OP_ASYNC_CANCEL:
		rt_complete(rt, o, o->op.length == RT_CANCEL_ANY ?
			    rt_cancel_everything(rt, o) :
			    rt_cancel_target(rt, o->op.target, o), 0);
		break;
	case SR_OP_LINK_TIMEOUT: /* not after a linked operation */
	case SR_OP_CLOSE: case SR_OP_PROVIDE: case SR_OP__COUNT:
	default:
		rt_complete(rt, o, -EINVAL, 0);
		break;
	}
}

/* Start @o (the head of what is left of its chain): its link timeout
 * first, so that it bounds the whole of the operation. */
static void rt_start(struct ring_threads *rt, struct rt_op *o)
{
	int r;

	if (rt->stopping) {
		rt_complete(rt, o, -ECANCELED, 0);
		return;
	}
	/* As the kernel's restrictions: what the policy does not allow is
	 * refused, except the cancels teardown needs. */
	if (o->op.opcode != SR_OP_ASYNC_CANCEL &&
	    !(rt->allowed_ops & (1ULL << o->op.opcode))) {
		rt_complete(rt, o, -EACCES, 0);
		return;
	}
	r = rt_take_file(rt, o);
	if (r < 0) {
		rt_complete(rt, o, r, 0);
		return;
	}
	if (o->ltimeout)
		rt_arm_timer(rt, o->ltimeout);
	rt_start_op(rt, o);
}

/* ---- the poller ----------------------------------------------------- */

/* The nearest deadline of a waiting operation, 0 if none. */
static uint64_t rt_next_deadline(const struct ring_threads *rt)
{
	uint64_t next = 0;

	for (const struct rt_op *o = rt->started; o; o = o->next)
		if (o->state == RT_WAITING && o->deadline_ns &&
		    (!next || o->deadline_ns < next))
			next = o->deadline_ns;
	return next;
}

/* The pollfd array for this round: the wake-up eventfd, then each
 * waiting operation's descriptor.  0 on success. */
static int rt_poll_set(struct ring_threads *rt, unsigned *n)
{
	unsigned count = 1;

	for (const struct rt_op *o = rt->started; o; o = o->next)
		count += o->state == RT_WAITING && o->events;
	if (count > rt->pfd_cap) {
		struct pollfd *p = realloc(rt->pfds, count * sizeof(*p));

		if (!p)
			return -ENOMEM;
		rt->pfds = p;
		rt->pfd_cap = count;
	}
	rt->poll_round++;
	if (!rt->poll_round)
		rt->poll_round = 1;
	rt->pfds[0] = (struct pollfd){ .fd = rt->wake_event, .events = POLLIN };
	*n = 1;
	for (struct rt_op *o = rt->started; o; o = o->next) {
		if (o->state != RT_WAITING || !o->events)
			continue;
		o->poll_round = rt->poll_round;
		o->pfd_index = *n;
		rt->pfds[(*n)++] = (struct pollfd){ .fd = o->file->fd,
						    .events = o->events };
	}
	return 0;
}

/* A link timeout fired: its operation is cancelled (-ETIME), or it runs
 * on a worker now and finishes on its own (-EALREADY). */
static void rt_fire_ltimeout(struct ring_threads *rt, struct rt_op *lt)
{
	struct rt_op *g = lt->guarded;
	int32_t res = -ETIME;

	rt_started_remove(rt, lt);
	g->ltimeout = NULL;
	if (g->state == RT_RUNNING)
		res = -EALREADY;
	else
		rt_complete(rt, g, -ECANCELED, 0);
	rt_post(rt, lt->op.user_data, res, 0);
	rt_free_op(lt);
}

/* Fire one expired timer; false when none is. */
static bool rt_fire_one_timer(struct ring_threads *rt, uint64_t now)
{
	for (struct rt_op *o = rt->started; o; o = o->next) {
		if (o->state != RT_WAITING || !o->deadline_ns ||
		    o->deadline_ns > now)
			continue;
		if (o->op.opcode == SR_OP_LINK_TIMEOUT)
			rt_fire_ltimeout(rt, o);
		else
			rt_complete(rt, o, -ETIME, 0);
		return true;
	}
	return false;
}

/* Retry one operation this round found ready; false when none is. */
static bool rt_retry_one_ready(struct ring_threads *rt, unsigned round)
{
	for (struct rt_op *o = rt->started; o; o = o->next) {
		if (o->state != RT_WAITING || o->poll_round != round ||
		    !o->events || !rt->pfds[o->pfd_index].revents)
			continue;
		o->poll_round = 0; /* once a round */
		rt_try_or_wait(rt, o);
		return true;
	}
	return false;
}

static void rt_poll_wait(struct ring_threads *rt, unsigned n,
			 uint64_t deadline)
{
	struct timespec ts, *tsp = NULL;
	uint64_t now, wait;

	if (deadline) {
		now = rt_now_ns();
		wait = deadline > now ? deadline - now : 0;
		ts.tv_sec = (time_t)(wait / 1000000000ULL);
		ts.tv_nsec = (long)(wait % 1000000000ULL);
		tsp = &ts;
	}
	pthread_mutex_unlock(&rt->lock);
	(void)ppoll(rt->pfds, n, tsp, NULL);
	pthread_mutex_lock(&rt->lock);
}

static void *rt_poller_main(void *arg)
{
	struct ring_threads *rt = arg;
	uint64_t drain;

	pthread_mutex_lock(&rt->lock);
	while (!rt->stopping) {
		unsigned n, round;

		if (rt_poll_set(rt, &n) < 0)
			n = 1; /* timers and wake-ups still work */
		round = rt->poll_round;
		/* pfds is the poller's alone: nobody resizes it meanwhile. */
		rt_poll_wait(rt, n, rt_next_deadline(rt));
		if (rt->pfds[0].revents)
			(void)!read(rt->wake_event, &drain, sizeof(drain));
		if (rt->stopping)
			break;
		while (rt_fire_one_timer(rt, rt_now_ns()))
			;
		while (rt_retry_one_ready(rt, round))
			;
	}
	pthread_mutex_unlock(&rt->lock);
	return NULL;
}

/* ---- the workers ---------------------------------------------------- */

static struct rt_op *rt_workq_pop(struct ring_threads *rt)
{
	struct rt_op *o = rt->workq[rt->wq_head];

	rt->wq_head = (rt->wq_head + 1) % rt->wq_cap;
	rt->wq_len--;
	return o;
}

static void *rt_worker_main(void *arg)
{
	struct ring_threads *rt = arg;

	pthread_mutex_lock(&rt->lock);
	for (;;) {
		struct rt_op *o;
		int32_t res;

		while (!rt->stopping && !rt->wq_len) {
			rt->idle_workers++;
			pthread_cond_wait(&rt->work_cv, &rt->lock);
			rt->idle_workers--;
		}
		if (rt->stopping)
			break;
		o = rt_workq_pop(rt);
		o->state = RT_RUNNING;
		pthread_mutex_unlock(&rt->lock);
		/* Unlocked: nothing frees a RUNNING operation or its file. */
		res = rt_do_file_op(o);
		pthread_mutex_lock(&rt->lock);
		rt_complete(rt, o, res, 0);
	}
	pthread_mutex_unlock(&rt->lock);
	return NULL;
}

static unsigned rt_worker_count(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = cpus > 0 ? (unsigned)cpus * 2 : 2;

	return n < RT_MAX_WORKERS ? n : RT_MAX_WORKERS;
}

/* ---- submission ------------------------------------------------------ */

int ring_threads_reserve(struct ring_threads *rt, unsigned n)
{
	int r;

	if (rt->sq_cap - rt->sq_len >= n)
		return 0;
	r = ring_threads_submit(rt);
	if (r < 0)
		return r;
	return rt->sq_cap - rt->sq_len >= n ? 0 : -EBUSY;
}

static int rt_queue(struct ring_threads *rt, const struct ring_op *op)
{
	struct rt_op *o;

	if (rt->sq_len == rt->sq_cap)
		return -EBUSY;
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->op = *op;
	o->state = RT_QUEUED;
	rt->sq[rt->sq_len++] = o;
	return 0;
}

int ring_threads_queue(struct ring_threads *rt, const struct ring_op *op)
{
	if (op->opcode >= SR_OP__COUNT || op->opcode == SR_OP_CLOSE ||
	    op->opcode == SR_OP_PROVIDE)
		return -EINVAL;
	return rt_queue(rt, op);
}

static int rt_queue_cancel(struct ring_threads *rt, uint64_t target,
			   bool any)
{
	struct ring_op op = {
		.opcode = SR_OP_ASYNC_CANCEL,
		.target = target,
		.length = any ? RT_CANCEL_ANY : 0,
		.user_data = RING_CANCEL_USER_DATA,
	};
	int r = ring_threads_reserve(rt, 1);

	return r < 0 ? r : rt_queue(rt, &op);
}

int ring_threads_cancel(struct ring_threads *rt, uint64_t user_data)
{
	return rt_queue_cancel(rt, user_data, false);
}

int ring_threads_cancel_all(struct ring_threads *rt)
{
	return rt_queue_cancel(rt, 0, true);
}

/*
 * Split the queued operations into chains, as the kernel reads the SQ:
 * an operation with a link runs before the next one; a LINK_TIMEOUT
 * right after a linked operation bounds it instead, and the chain goes
 * on past the timeout only if the timeout is linked too.  The heads go
 * to @heads, in order.  A chain open at the end of a submission ends
 * there.
 */
static unsigned rt_build_chains(struct ring_threads *rt)
{
	struct rt_op **heads = rt->sq; /* never ahead of what is read */
	struct rt_op *prev = NULL; /* awaits its successor */
	unsigned nheads = 0;

	for (unsigned i = 0; i < rt->sq_len; i++) {
		struct rt_op *o = rt->sq[i];

		if (o->op.opcode == SR_OP_LINK_TIMEOUT && prev &&
		    !prev->ltimeout) {
			prev->ltimeout = o;
			o->guarded = prev;
			if (!o->op.link)
				prev = NULL;
			continue;
		}
		if (prev)
			prev->chain_next = o;
		else
			heads[nheads++] = o;
		prev = o->op.link && o->op.opcode != SR_OP_LINK_TIMEOUT ? o :
		       NULL;
	}
	return nheads;
}

int ring_threads_submit(struct ring_threads *rt)
{
	unsigned n = rt->sq_len, nheads;

	if (!n)
		return 0;
	pthread_mutex_lock(&rt->lock);
	nheads = rt_build_chains(rt);
	rt->sq_len = 0;
	for (unsigned i = 0; i < nheads; i++)
		rt_start(rt, rt->sq[i]);
	pthread_mutex_unlock(&rt->lock);
	return (int)n;
}

/* ---- the receive pool and completions -------------------------------- */

void ring_threads_provide(struct ring_threads *rt, void *addr, uint32_t len,
			  uint16_t bid)
{
	pthread_mutex_lock(&rt->lock);
	/* The caller never has more than pool_entries buffers in it. */
	if (rt->pool_tail - rt->pool_head < rt->pool_entries)
		rt->pool[rt->pool_tail++ % rt->pool_entries] =
			(struct rt_pool_buf){ addr, len, bid };
	pthread_mutex_unlock(&rt->lock);
}

unsigned ring_threads_reap(struct ring_threads *rt, ring_cqe_fn fn, void *arg)
{
	struct rt_cqe *cq;
	unsigned n, cap;
	uint64_t drain;

	pthread_mutex_lock(&rt->lock);
	n = rt->cq_len;
	if (!n) {
		pthread_mutex_unlock(&rt->lock);
		return 0;
	}
	/* Take the completions and leave the spare array: the callbacks run
	 * unlocked, and may queue, cancel and submit. */
	cq = rt->cq;
	cap = rt->cq_cap;
	rt->cq = rt->cq_spare;
	rt->cq_cap = rt->cq_spare_cap;
	rt->cq_spare = NULL;
	rt->cq_len = 0;
	atomic_store_explicit(&rt->cq_ready, 0, memory_order_relaxed);
	(void)!read(rt->cq_event, &drain, sizeof(drain));
	pthread_mutex_unlock(&rt->lock);
	for (unsigned i = 0; i < n; i++)
		fn(arg, cq[i].user_data, cq[i].res, cq[i].flags);
	pthread_mutex_lock(&rt->lock);
	rt->cq_spare = cq;
	rt->cq_spare_cap = cap;
	pthread_mutex_unlock(&rt->lock);
	return n;
}

bool ring_threads_ready(const struct ring_threads *rt)
{
	return atomic_load_explicit(&rt->cq_ready, memory_order_acquire) != 0;
}

int ring_threads_fd(const struct ring_threads *rt)
{
	return rt->cq_event;
}

int ring_threads_probe(uint64_t *lacks)
{
	*lacks = 0;
	return 0;
}

/* ---- set-up and teardown ---------------------------------------------- */

static void rt_free(struct ring_threads *rt)
{
	for (unsigned i = 0; i < rt->sq_len; i++)
		rt_free_op(rt->sq[i]);
	for (unsigned i = 0; rt->files && i < rt->nfiles; i++)
		rt_file_put(rt->files[i]);
	if (rt->cq_event >= 0)
		close(rt->cq_event);
	if (rt->wake_event >= 0)
		close(rt->wake_event);
	pthread_cond_destroy(&rt->work_cv);
	pthread_mutex_destroy(&rt->lock);
	free(rt->sq);
	free(rt->workq);
	free(rt->cq);
	free(rt->cq_spare);
	free(rt->files);
	free(rt->bufs);
	free(rt->pool);
	free(rt->pfds);
	free(rt);
}

static int rt_alloc(struct ring_threads *rt, const struct ring_config *cfg)
{
	rt->sq_cap = cfg->entries ? cfg->entries : 1;
	rt->cq_cap = rt->sq_cap * 4;
	rt->nfiles = cfg->files;
	rt->alloc_start = cfg->alloc_start;
	rt->alloc_hint = cfg->alloc_start;
	rt->nbufs = cfg->nbufs;
	rt->pool_entries = cfg->pool_entries ? cfg->pool_entries : 1;
	rt->allowed_ops = cfg->allowed_ops;
	rt->sq = calloc(rt->sq_cap, sizeof(*rt->sq));
	rt->cq = calloc(rt->cq_cap, sizeof(*rt->cq));
	rt->cq_spare_cap = rt->cq_cap;
	rt->cq_spare = calloc(rt->cq_spare_cap, sizeof(*rt->cq_spare));
	rt->files = calloc(rt->nfiles ? rt->nfiles : 1, sizeof(*rt->files));
	rt->bufs = calloc(rt->nbufs ? rt->nbufs : 1, sizeof(*rt->bufs));
	rt->pool = calloc(rt->pool_entries, sizeof(*rt->pool));
	if (!rt->sq || !rt->cq || !rt->cq_spare || !rt->files || !rt->bufs || !rt->pool)
		return -ENOMEM;
	if (rt->nbufs)
		memcpy(rt->bufs, cfg->bufs, rt->nbufs * sizeof(*rt->bufs));
	rt->cq_event = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (rt->cq_event < 0)
		return -errno;
	rt->wake_event = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (rt->wake_event < 0)
		return -errno;
	return 0;
}

/* The poller and the first worker; the others come when needed. */
static int rt_start_threads(struct ring_threads *rt)
{
	int r = rt_thread_create(&rt->poller, rt_poller_main, rt);

	if (r < 0)
		return r;
	rt->poller_up = true;
	rt->max_workers = rt_worker_count();
	r = rt_thread_create(&rt->workers[0], rt_worker_main, rt);
	if (r == 0)
		rt->nworkers = 1;
	return r;
}

/* Cancel what waits, let the workers finish what they run, join all. */
static void rt_stop_threads(struct ring_threads *rt)
{
	pthread_mutex_lock(&rt->lock);
	rt->stopping = true;
	rt_cancel_everything(rt, NULL);
	pthread_cond_broadcast(&rt->work_cv);
	pthread_mutex_unlock(&rt->lock);
	rt_wake_poller(rt);
	if (rt->poller_up)
		pthread_join(rt->poller, NULL);
	rt->poller_up = false;
	for (unsigned i = 0; i < rt->nworkers; i++)
		pthread_join(rt->workers[i], NULL);
	rt->nworkers = 0;
	/* Nothing runs now: whatever was RUNNING completed before its
	 * worker left, and every completion it caused is posted. */
	pthread_mutex_lock(&rt->lock);
	rt_cancel_everything(rt, NULL);
	pthread_mutex_unlock(&rt->lock);
}

int ring_threads_init(struct ring_driver *rd, const struct ring_config *cfg)
{
	struct ring_threads *rt = calloc(1, sizeof(*rt));
	int r;

	if (!rt)
		return -ENOMEM;
	rt->cq_event = rt->wake_event = -1;
	pthread_mutex_init(&rt->lock, NULL);
	pthread_cond_init(&rt->work_cv, NULL);
	r = rt_alloc(rt, cfg);
	if (r == 0)
		r = rt_start_threads(rt);
	if (r < 0) {
		rt_stop_threads(rt);
		rt_free(rt);
		return r;
	}
	rd->threads = rt;
	rd->live = true;
	return 0;
}

void ring_threads_exit(struct ring_driver *rd)
{
	struct ring_threads *rt = rd->threads;

	if (!rt)
		return;
	rt_stop_threads(rt);
	rt_free(rt);
	rd->threads = NULL;
	rd->live = false;
}
