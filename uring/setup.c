/* SPDX-License-Identifier: MIT */
/*
 * setup.c - a struct io_uring's life (io_uring_queue_init*, _exit), what
 * it can do (io_uring_get_probe*), submitting and waiting, and every
 * other function liburing 2.3 declares, each either done or refused as a
 * kernel without that feature refuses it.
 *
 * One ring is one saferringd session.  Must never make an io_uring
 * system call (the raw io_uring_setup/enter/register answer -ENOSYS, as
 * on a kernel without io_uring), never accept a setup flag whose meaning
 * it does not keep, and never leave the program's memory to be written
 * after io_uring_queue_exit returned.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "facade.h"

/* The kernel's limits on ring sizes. */
#define SRU_MAX_ENTRIES 32768U
#define SRU_MAX_CQ_ENTRIES (2U * SRU_MAX_ENTRIES)

/* Setup flags whose meaning the facade keeps (the rest: -EINVAL, as a
 * kernel that does not know them).  SUBMIT_ALL: the facade goes on past
 * an SQE it refuses, as the kernel then does; COOP_TASKRUN, TASKRUN_FLAG, SINGLE_ISSUER and
 * DEFER_TASKRUN describe when completions are posted, which here is
 * only ever while the program is in the library. */
#define SRU_SETUP_FLAGS (IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP | \
			 IORING_SETUP_R_DISABLED | IORING_SETUP_SUBMIT_ALL | \
			 IORING_SETUP_COOP_TASKRUN | \
			 IORING_SETUP_TASKRUN_FLAG | \
			 IORING_SETUP_SINGLE_ISSUER | \
			 IORING_SETUP_DEFER_TASKRUN)

/* What the facade's rings promise (see saferring-uring(7)). */
#define SRU_FEATURES (IORING_FEAT_SINGLE_MMAP | IORING_FEAT_NODROP | \
		      IORING_FEAT_FAST_POLL | \
		      IORING_FEAT_SUBMIT_STABLE | IORING_FEAT_RW_CUR_POS | \
		      IORING_FEAT_EXT_ARG | IORING_FEAT_CQE_SKIP)

/* A ring's slots: $SAFERRING_URING_SLOTS and _SLOT_SIZE, else enough
 * for twice the CQ ring's operations to bounce through one slot each,
 * within the default policy's arena. */
static unsigned env_u(const char *name, unsigned dflt)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return dflt;
	v = strtoul(s, &end, 0);
	return *end || !v || v > (1UL << 30) ? dflt : (unsigned)v;
}

static unsigned pow2(unsigned v)
{
	unsigned p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

/* sr opcode for each IORING_OP_* the facade can do, -1 for the ones it
 * does itself and 0xff for the rest. */
static int sru_op_map(unsigned op)
{
	switch (op) {
	case IORING_OP_NOP: return SR_OP_NOP;
	case IORING_OP_READV:
	case IORING_OP_READ_FIXED:
	case IORING_OP_READ: return SR_OP_READ;
	case IORING_OP_WRITEV:
	case IORING_OP_WRITE_FIXED:
	case IORING_OP_WRITE: return SR_OP_WRITE;
	case IORING_OP_FSYNC: return SR_OP_FSYNC;
	case IORING_OP_POLL_ADD:
	case IORING_OP_ACCEPT: return SR_OP_POLL_ADD;
	case IORING_OP_POLL_REMOVE: return SR_OP_POLL_REMOVE;
	case IORING_OP_SENDMSG: return SR_OP_SENDMSG;
	case IORING_OP_RECVMSG: return SR_OP_RECVMSG;
	case IORING_OP_TIMEOUT: return SR_OP_TIMEOUT;
	case IORING_OP_TIMEOUT_REMOVE:
	case IORING_OP_ASYNC_CANCEL: return SR_OP_ASYNC_CANCEL;
	case IORING_OP_LINK_TIMEOUT: return SR_OP_LINK_TIMEOUT;
	case IORING_OP_CONNECT: return SR_OP_CONNECT;
	case IORING_OP_FALLOCATE: return SR_OP_FALLOCATE;
	case IORING_OP_SEND: return SR_OP_SEND;
	case IORING_OP_RECV: return SR_OP_RECV;
	case IORING_OP_SHUTDOWN: return SR_OP_SHUTDOWN;
	case IORING_OP_CLOSE:
	case IORING_OP_FILES_UPDATE:
	case IORING_OP_PROVIDE_BUFFERS:
	case IORING_OP_REMOVE_BUFFERS: return -1;
	default: return 0xff;
	}
}

static bool sru_op_supported(const struct sru_state *st, unsigned op)
{
	int m = sru_op_map(op);

	if (m == -1)
		return true;
	if (m == 0xff)
		return false;
	return st->lim.allowed_ops & (1ULL << m);
}

static int sru_init_rings(struct sru_state *st, struct io_uring *ring,
			  unsigned sq, unsigned cq, unsigned flags)
{
	st->sq_ring_entries = sq;
	st->sq_ring_mask = sq - 1;
	st->cq_ring_entries = cq;
	st->cq_ring_mask = cq - 1;
	st->sqes = calloc(sq, sizeof(*st->sqes));
	st->sq_array = calloc(sq, sizeof(*st->sq_array));
	st->cqes = calloc(cq, sizeof(*st->cqes));
	if (!st->sqes || !st->sq_array || !st->cqes)
		return -ENOMEM;
	for (unsigned i = 0; i < sq; i++)
		st->sq_array[i] = i;
	if (flags & IORING_SETUP_R_DISABLED)
		st->disabled = true;

	memset(ring, 0, sizeof(*ring));
	ring->sq.khead = &st->sq_khead;
	ring->sq.ktail = &st->sq_ktail;
	ring->sq.kring_mask = &st->sq_ring_mask;
	ring->sq.kring_entries = &st->sq_ring_entries;
	ring->sq.kflags = &st->sq_kflags;
	ring->sq.kdropped = &st->sq_kdropped;
	ring->sq.array = st->sq_array;
	ring->sq.sqes = st->sqes;
	ring->sq.ring_ptr = st;
	ring->sq.ring_mask = sq - 1;
	ring->sq.ring_entries = sq;
	ring->cq.khead = &st->cq_khead;
	ring->cq.ktail = &st->cq_ktail;
	ring->cq.kring_mask = &st->cq_ring_mask;
	ring->cq.kring_entries = &st->cq_ring_entries;
	ring->cq.kflags = &st->cq_kflags;
	ring->cq.koverflow = &st->cq_koverflow;
	ring->cq.cqes = st->cqes;
	ring->cq.ring_ptr = st;
	ring->cq.ring_mask = cq - 1;
	ring->cq.ring_entries = cq;
	ring->flags = flags;
	/* No io_uring descriptor exists: poll(2) on it says POLLNVAL and
	 * io_uring_enter(2) on it fails, rather than meaning another file. */
	ring->ring_fd = -1;
	ring->enter_ring_fd = -1;
	ring->features = SRU_FEATURES;
	return 0;
}

static void sru_state_free(struct sru_state *st)
{
	if (!st)
		return;
	if (st->c)
		sr_close(st->c); /* the daemon cancels what is in flight */
	for (uint32_t i = 0; i < st->nops; i++)
		if (st->ops[i].state != SRU_OP_FREE)
			free(st->ops[i].pieces);
	free(st->ops);
	free(st->slots);
	sru_fds_free(st);
	free(st->fixed);
	free(st->bufs);
	free(st->pbufs);
	free(st->groups);
	free(st->over);
	free(st->sqes);
	free(st->sq_array);
	free(st->cqes);
	free(st);
}

/* Children of fork() so far in this process's line (see sru_forked). */
static unsigned sru_forks;
static pthread_once_t sru_atfork_once = PTHREAD_ONCE_INIT;

static void sru_atfork_child(void)
{
	__atomic_add_fetch(&sru_forks, 1, __ATOMIC_RELAXED);
}

static void sru_atfork_register(void)
{
	pthread_atfork(NULL, NULL, sru_atfork_child);
}

bool sru_forked(const struct sru_state *st)
{
	return st->forks != __atomic_load_n(&sru_forks, __ATOMIC_RELAXED);
}

int io_uring_queue_init_params(unsigned entries, struct io_uring *ring,
			       struct io_uring_params *p)
{
	struct sr_params sp = { 0 };
	struct sru_state *st;
	unsigned sq, cq;
	int ret, slot;

	if (!ring || !p)
		return -EFAULT;
	if (p->flags & ~SRU_SETUP_FLAGS)
		return sru_unsupported(-EINVAL, "setup flags 0x%x (SQPOLL, IOPOLL, ATTACH_WQ, ...)",
				       p->flags & ~SRU_SETUP_FLAGS);
	if ((p->flags & IORING_SETUP_DEFER_TASKRUN) &&
	    !(p->flags & IORING_SETUP_SINGLE_ISSUER))
		return -EINVAL;
	if ((p->flags & IORING_SETUP_TASKRUN_FLAG) &&
	    !(p->flags & (IORING_SETUP_COOP_TASKRUN |
			  IORING_SETUP_DEFER_TASKRUN)))
		return -EINVAL;
	if (!entries)
		return -EINVAL;
	if (entries > SRU_MAX_ENTRIES) {
		if (!(p->flags & IORING_SETUP_CLAMP))
			return -EINVAL;
		entries = SRU_MAX_ENTRIES;
	}
	sq = pow2(entries);
	if (p->flags & IORING_SETUP_CQSIZE) {
		if (!p->cq_entries)
			return -EINVAL;
		cq = p->cq_entries;
		if (cq > SRU_MAX_CQ_ENTRIES) {
			if (!(p->flags & IORING_SETUP_CLAMP))
				return -EINVAL;
			cq = SRU_MAX_CQ_ENTRIES;
		}
		cq = pow2(cq);
		if (cq < sq)
			return -EINVAL;
	} else {
		cq = 2 * sq;
	}

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	pthread_once(&sru_atfork_once, sru_atfork_register);
	st->forks = __atomic_load_n(&sru_forks, __ATOMIC_RELAXED);
	st->op_free = -1;
	for (unsigned b = 0; b < SRU_UD_BUCKETS; b++)
		st->by_ud[b] = -1;
	st->backlog_head = st->backlog_tail = -1;
	st->slot_free = -1;
	st->pbuf_free = -1;
	sp.slot_size = env_u("SAFERRING_URING_SLOT_SIZE", 64 * 1024);
	sp.slot_count = env_u("SAFERRING_URING_SLOTS",
			      cq < 64 ? 128 : cq > 512 ? 1024 : 2 * cq);
	ret = sr_connect(NULL, &sp, &st->c);
	if (ret == -EDQUOT)
		/* Out of what the daemon's policy grants (sessions, pinned
		 * memory): what a kernel out of locked memory for a ring
		 * answers. */
		ret = -ENOMEM;
	if (ret)
		goto fail;
	sr_limits(st->c, &st->lim);
	st->slot_size = st->lim.slot_size;
	st->slots = calloc(st->lim.slot_count, sizeof(*st->slots));
	if (!st->slots) {
		ret = -ENOMEM;
		goto fail;
	}
	/* Every slot is the facade's: it hands them out itself. */
	while ((slot = sr_slot_index(sr_slot_acquire(st->c))) >= 0)
		sru_slot_put(st, slot);
	st->arena_lo = sr_slot_data(st->c, SR_SLOT(0));
	st->arena_hi = st->arena_lo + (size_t)st->lim.slot_count *
				      st->slot_size;
	ret = sru_init_rings(st, ring, sq, cq, p->flags);
	if (ret)
		goto fail;
	p->sq_entries = sq;
	p->cq_entries = cq;
	p->features = SRU_FEATURES;
	return 0;
fail:
	sru_state_free(st);
	return ret;
}

int io_uring_queue_init(unsigned entries, struct io_uring *ring,
			unsigned flags)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	p.flags = flags;
	return io_uring_queue_init_params(entries, ring, &p);
}

void io_uring_queue_exit(struct io_uring *ring)
{
	if (!ring || !sru(ring))
		return;
	sru_state_free(sru(ring));
	ring->sq.ring_ptr = NULL;
	ring->cq.ring_ptr = NULL;
}

/* ---- probe ----------------------------------------------------------- */

static struct io_uring_probe *sru_probe_new(const struct sru_state *st)
{
	unsigned n = IORING_OP_LAST;
	struct io_uring_probe *p;

	p = calloc(1, sizeof(*p) + n * sizeof(p->ops[0]));
	if (!p)
		return NULL;
	p->last_op = (__u8)(n - 1);
	p->ops_len = (__u8)n;
	for (unsigned i = 0; i < n; i++) {
		p->ops[i].op = (__u8)i;
		if (sru_op_supported(st, i))
			p->ops[i].flags = IO_URING_OP_SUPPORTED;
	}
	return p;
}

struct io_uring_probe *io_uring_get_probe_ring(struct io_uring *ring)
{
	return ring && sru(ring) ? sru_probe_new(sru(ring)) : NULL;
}

struct io_uring_probe *io_uring_get_probe(void)
{
	struct io_uring ring;
	struct io_uring_probe *p;

	if (io_uring_queue_init(2, &ring, 0))
		return NULL;
	p = io_uring_get_probe_ring(&ring);
	io_uring_queue_exit(&ring);
	return p;
}

void io_uring_free_probe(struct io_uring_probe *probe)
{
	free(probe);
}

int io_uring_register_probe(struct io_uring *ring, struct io_uring_probe *p,
			    unsigned nr)
{
	struct io_uring_probe *q;

	if (!ring || !sru(ring) || !p)
		return -EINVAL;
	q = sru_probe_new(sru(ring));
	if (!q)
		return -ENOMEM;
	if (nr > q->ops_len)
		nr = q->ops_len;
	p->last_op = q->last_op;
	p->ops_len = (__u8)nr;
	memcpy(p->ops, q->ops, nr * sizeof(p->ops[0]));
	free(q);
	return 0;
}

/* ---- submit and wait ------------------------------------------------- */

int io_uring_submit(struct io_uring *ring)
{
	struct sru_state *st = sru(ring);
	int ret;

	if (st->disabled)
		return -EBADFD;
	ret = sru_submit(ring);
	ring->sq.sqe_head = *ring->sq.khead;
	return ret;
}

/* liburing's tests call it (it is exported there): the SQEs queued and
 * not yet submitted.  Nothing is handed to anyone by it here. */
unsigned __io_uring_flush_sq(struct io_uring *ring);
unsigned __io_uring_flush_sq(struct io_uring *ring)
{
	return ring->sq.sqe_tail - *ring->sq.khead;
}

int io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr)
{
	struct io_uring_cqe *cqe;
	int ret = io_uring_submit(ring), w;

	if (ret < 0 || !wait_nr)
		return ret;
	w = sru_wait(sru(ring), &cqe, wait_nr, NULL, NULL);
	return w < 0 && w != -ETIME ? w : ret;
}

int io_uring_submit_and_wait_timeout(struct io_uring *ring,
				     struct io_uring_cqe **cqe_ptr,
				     unsigned wait_nr,
				     struct __kernel_timespec *ts,
				     sigset_t *sigmask)
{
	int ret = io_uring_submit(ring);
	int w;

	if (ret < 0)
		return ret;
	w = sru_wait(sru(ring), cqe_ptr, wait_nr, ts, sigmask);
	/* As liburing: once the system call submitted something, its
	 * result is that count, whatever the wait came to. */
	return ret > 0 ? ret : w;
}

int __io_uring_get_cqe(struct io_uring *ring, struct io_uring_cqe **cqe_ptr,
		       unsigned submit, unsigned wait_nr, sigset_t *sigmask)
{
	if (submit) {
		int ret = io_uring_submit(ring);

		if (ret < 0)
			return ret;
	}
	return sru_wait(sru(ring), cqe_ptr, wait_nr, NULL, sigmask);
}

int io_uring_wait_cqes(struct io_uring *ring, struct io_uring_cqe **cqe_ptr,
		       unsigned wait_nr, struct __kernel_timespec *ts,
		       sigset_t *sigmask)
{
	return sru_wait(sru(ring), cqe_ptr, wait_nr, ts, sigmask);
}

int io_uring_wait_cqe_timeout(struct io_uring *ring,
			      struct io_uring_cqe **cqe_ptr,
			      struct __kernel_timespec *ts)
{
	return sru_wait(sru(ring), cqe_ptr, 1, ts, NULL);
}

unsigned io_uring_peek_batch_cqe(struct io_uring *ring,
				 struct io_uring_cqe **cqes, unsigned count)
{
	unsigned ready = __sr_uring_reap(ring), head = *ring->cq.khead;

	if (count > ready)
		count = ready;
	for (unsigned i = 0; i < count; i++)
		cqes[i] = &ring->cq.cqes[(head + i) & ring->cq.ring_mask];
	return count;
}

int io_uring_get_events(struct io_uring *ring)
{
	int ret = sru_pump(sru(ring), false);

	return ret < 0 ? ret : 0;
}

int io_uring_submit_and_get_events(struct io_uring *ring)
{
	int ret = io_uring_submit(ring);

	if (ret >= 0)
		sru_pump(sru(ring), false);
	return ret;
}

int io_uring_enable_rings(struct io_uring *ring)
{
	struct sru_state *st = sru(ring);

	if (!st->disabled)
		return -EBADFD;
	st->disabled = false;
	return 0;
}

/* ---- what a kernel without the feature answers ---------------------- */

int sru_unsupported(int err, const char *fmt, ...)
{
	/* 0 unknown, 1 quiet, 2 warn: getenv once, from any thread. */
	static int warn;
	int w = __atomic_load_n(&warn, __ATOMIC_RELAXED);
	char what[160];
	va_list ap;

	if (!w) {
		const char *s = getenv("SAFERRING_URING_WARN");

		w = s && *s && strcmp(s, "0") ? 2 : 1;
		__atomic_store_n(&warn, w, __ATOMIC_RELAXED);
	}
	if (w == 1)
		return err;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fprintf(stderr, "saferring-uring: not supported: %s (%s)\n", what,
		strerror(-err));
	return err;
}

/* No io_uring of its own: as on a kernel built without it. */
int io_uring_setup(unsigned int entries, struct io_uring_params *p)
{
	(void)entries;
	(void)p;
	return sru_unsupported(-ENOSYS, "io_uring_setup(2): no kernel ring");
}

int io_uring_enter(unsigned int fd, unsigned int to_submit,
		   unsigned int min_complete, unsigned int flags, sigset_t *sig)
{
	(void)fd; (void)to_submit; (void)min_complete; (void)flags; (void)sig;
	return sru_unsupported(-ENOSYS, "io_uring_enter(2): no kernel ring");
}

int io_uring_enter2(unsigned int fd, unsigned int to_submit,
		    unsigned int min_complete, unsigned int flags,
		    sigset_t *sig, size_t sz)
{
	(void)fd; (void)to_submit; (void)min_complete; (void)flags; (void)sig;
	(void)sz;
	return sru_unsupported(-ENOSYS, "io_uring_enter(2): no kernel ring");
}

int io_uring_register(unsigned int fd, unsigned int opcode, const void *arg,
		      unsigned int nr_args)
{
	(void)fd; (void)opcode; (void)arg; (void)nr_args;
	return sru_unsupported(-ENOSYS, "io_uring_register(2): no kernel ring");
}

int io_uring_queue_mmap(int fd, struct io_uring_params *p,
			struct io_uring *ring)
{
	(void)fd; (void)p; (void)ring;
	return sru_unsupported(-ENOSYS, "io_uring_queue_mmap: no kernel ring");
}

/* Nothing is mapped from a kernel ring to keep from a child. */
int io_uring_ring_dontfork(struct io_uring *ring)
{
	(void)ring;
	return sru_unsupported(-EINVAL, "io_uring_ring_dontfork");
}

/* Registrations the daemon has no counterpart for: the kernel's answer
 * to a registration opcode it does not know. */
int io_uring_register_eventfd(struct io_uring *ring, int fd)
{
	(void)ring; (void)fd;
	return sru_unsupported(-EINVAL, "io_uring_register_eventfd");
}

int io_uring_register_eventfd_async(struct io_uring *ring, int fd)
{
	(void)ring; (void)fd;
	return sru_unsupported(-EINVAL, "io_uring_register_eventfd_async");
}

int io_uring_unregister_eventfd(struct io_uring *ring)
{
	(void)ring;
	return -ENXIO; /* none was registered */
}

int io_uring_register_personality(struct io_uring *ring)
{
	(void)ring;
	return sru_unsupported(-EINVAL, "io_uring_register_personality");
}

int io_uring_unregister_personality(struct io_uring *ring, int id)
{
	(void)ring; (void)id;
	return sru_unsupported(-EINVAL, "io_uring_unregister_personality");
}

int io_uring_register_restrictions(struct io_uring *ring,
				   struct io_uring_restriction *res,
				   unsigned int nr_res)
{
	(void)ring; (void)res; (void)nr_res;
	return sru_unsupported(-EINVAL, "io_uring_register_restrictions");
}

int __io_uring_sqring_wait(struct io_uring *ring)
{
	(void)ring;
	return sru_unsupported(-EINVAL, "__io_uring_sqring_wait"); /* SQPOLL only */
}

int io_uring_register_iowq_aff(struct io_uring *ring, size_t cpusz,
			       const cpu_set_t *mask)
{
	(void)ring; (void)cpusz; (void)mask;
	return sru_unsupported(-EINVAL, "io_uring_register_iowq_aff");
}

int io_uring_unregister_iowq_aff(struct io_uring *ring)
{
	(void)ring;
	return sru_unsupported(-EINVAL, "io_uring_unregister_iowq_aff");
}

int io_uring_register_iowq_max_workers(struct io_uring *ring,
				       unsigned int *values)
{
	(void)ring; (void)values;
	return sru_unsupported(-EINVAL, "io_uring_register_iowq_max_workers");
}

int io_uring_register_ring_fd(struct io_uring *ring)
{
	(void)ring;
	return sru_unsupported(-EINVAL, "io_uring_register_ring_fd");
}

int io_uring_unregister_ring_fd(struct io_uring *ring)
{
	(void)ring;
	return sru_unsupported(-EINVAL, "io_uring_unregister_ring_fd");
}

int io_uring_register_buf_ring(struct io_uring *ring,
			       struct io_uring_buf_reg *reg, unsigned int flags)
{
	(void)ring; (void)reg; (void)flags;
	return sru_unsupported(-EINVAL, "io_uring_register_buf_ring");
}

int io_uring_unregister_buf_ring(struct io_uring *ring, int bgid)
{
	(void)ring; (void)bgid;
	return sru_unsupported(-EINVAL, "io_uring_unregister_buf_ring");
}

int io_uring_register_sync_cancel(struct io_uring *ring,
				  struct io_uring_sync_cancel_reg *reg)
{
	(void)ring; (void)reg;
	return sru_unsupported(-EINVAL, "io_uring_register_sync_cancel");
}

/* Nothing of the facade's is locked memory of the program's. */
ssize_t io_uring_mlock_size(unsigned entries, unsigned flags)
{
	(void)entries; (void)flags;
	return 0;
}

ssize_t io_uring_mlock_size_params(unsigned entries, struct io_uring_params *p)
{
	(void)entries; (void)p;
	return 0;
}
