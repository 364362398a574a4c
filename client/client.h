/* SPDX-License-Identifier: MIT */
/*
 * client.h - libsaferring's private state and the helpers its files share.
 *
 * Everything the library believes about slots, handles and operations
 * lives here, never in the shared arena, and every number the daemon
 * sends is checked against it before use.  Must never be installed or
 * included from outside client/: nothing here is API.
 */
#ifndef SAFERRING_CLIENT_H
#define SAFERRING_CLIENT_H

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "batch.h"
#include "op.h"
#include "saferring.h"
#include "saferring.pb-c.h"
#include "shm_ring.h"
#include "slot_pool.h"
#include "spin.h"
#include "wire.h"

/* Largest tables the library builds from a Welcome.  More slots or file
 * handles than this: the Welcome is refused (-EPROTO).  A larger
 * max_in_flight or max_batch is cut down to these. */
#define SR_MAX_SLOTS 65536U
#define SR_MAX_FDS 65536U
#define SR_MAX_IN_FLIGHT 16384U /* the daemon allows 16383 */

/* Unpack arena: a reply holding one completion per operation in flight
 * (struct, pointer and protobuf-c's scan slabs, which the bump allocator
 * never gets back), plus room for strings and unknown fields; or any
 * completion record of the rings.  Untouched pages cost nothing. */
#define SR_UNPACK_PER_CQE 256U
#define SR_UNPACK_NESTED \
	(2U * WIRE_MAX_DATAGRAM + SR_MAX_IN_FLIGHT * SR_UNPACK_PER_CQE)
#define SR_UNPACK_SIZE \
	(SR_UNPACK_NESTED > BATCH_UNPACK_BYTES(WIRE_MAX_DATAGRAM) ? \
	 SR_UNPACK_NESTED : BATCH_UNPACK_BYTES(WIRE_MAX_DATAGRAM))
/* Default spin before sleeping for a completion. */
#define SR_DEFAULT_SPIN_US 50U
#define SR_MAX_SPIN_US 1000000U

enum sr_handle_state {
	SR_HANDLE_DEAD = 0,
	SR_HANDLE_LIVE,
	SR_HANDLE_CLOSING, /* a CLOSE of it is prepared or sent */
};

struct sr_handle {
	uint32_t generation;
	uint8_t state; /* enum sr_handle_state */
	/* Its file takes RWF_NOWAIT reads but not writes (ext4's buffered
	 * writes, on many kernels): writes go to the daemon. */
	bool no_inline_write;
	/* Our own copy of a regular file's descriptor, for the inline
	 * attempt (inline.c); -1 when there is none.  Dropped with the
	 * handle. */
	int fd;
};

enum sr_op_state {
	SR_OP_FREE = 0,
	SR_OP_BATCHED, /* prepared, not sent yet */
	SR_OP_SENT,    /* sent, last completion not arrived yet */
};

/* An operation prepared or sent.  Its index in c->ops is its wire tag. */
struct sr_op {
	uint64_t user_data;
	uint64_t len;      /* bytes asked for, when it moves bytes */
	uint32_t opcode;
	uint32_t handle;   /* CLOSE: the handle, and its generation: */
	uint32_t handle_generation;
	int32_t slots[SR_MAX_IOV]; /* slots it names, in wire order */
	uint8_t nslots;
	uint8_t state;     /* enum sr_op_state */
	bool vectored;     /* slots come back as Completion.slots */
	bool multishot;
	bool internal;     /* sr_pread & co.: completes into *sync */
	struct sr_sync *sync;
	sr_cqe_fn cb;      /* sr_set_callback's, for sr_dispatch; or NULL */
	void *cb_arg;
};

/* Where an internal operation's completion goes: the waiting call's
 * own, so that blocking helpers of several threads never mix theirs. */
struct sr_sync {
	struct sr_cqe cqe;
	bool done;
};

/* The callback a queued completion goes to, beside c->cq: the operation
 * may be reused before the completion is dispatched. */
struct sr_cq_cb {
	sr_cqe_fn fn;
	void *arg;
};


/* What an sr_prep_* call or a blocking helper asks for.  The opcode says
 * which fields count (see batch.c). */
struct sr_op_req {
	uint64_t user_data;
	uint32_t opcode;
	uint32_t flags;
	int handle;
	int slot;
	uint32_t slot_offset;
	uint32_t len;
	const struct sr_iov *iov;
	unsigned niov;
	uint64_t file_offset;
	uint64_t length;      /* FALLOCATE */
	uint64_t timeout_ns;
	uint64_t target;      /* a wire tag */
	const struct sockaddr *addr;
	socklen_t addrlen;
	uint32_t msg_flags;
};

/* Protocol v2: our side of the session's rings (rings.c). */
struct sr_rings {
	bool on;
	struct sr_ring_ctl *ctl; /* in the arena mapping */
	struct shm_ring sq;      /* we put operation records */
	struct shm_ring cq;      /* we take completion records */
	int sq_efd;              /* the daemon's doorbell */
	int cq_efd;              /* ours */
	bool notify;             /* sr_fd() was asked for: always signal */
	bool sleeping;           /* a thread sleeps on cq_efd (threads.c) */
	bool sq_wait;            /* sr_submit found no room: ask for a ring
				  * when the daemon frees some */
	unsigned char *rec;      /* one record: encoded, or copied out */
};

struct sr_local;

struct sr_client {
	int sock;
	int backend;              /* enum sr_backend: who serves us */
	struct sr_local *local;   /* DIRECT, THREADS: our worker (local.h) */
	uint32_t spin_us; /* spin this long for a completion before sleeping */
	struct spin_guard spin;   /* contended: no spinning for a while */
	int error;      /* sticky -errno once the session is unusable */
	uint32_t seq;   /* last control request's seq */
	struct sr_limits lim;
	unsigned char *arena;
	size_t arena_size;

	struct sr_slot *slots;    /* lim.slot_count */
	uint32_t free_slot;       /* free list head, SR_NONE when empty */
	struct sr_handle *handles; /* fd_table_size */
	uint32_t fd_table_size;   /* handle indices are below it */

	struct sr_op *ops;        /* lim.max_in_flight, indexed by tag */
	uint32_t *op_free;        /* stack of free tags */
	uint32_t op_nfree;
	unsigned in_flight;       /* sent, completion not reaped */

	struct op_request *batch; /* lim.max_batch, as they go on the wire */
	struct sockaddr_storage *batch_addr; /* what batch[i].addr points to */
	unsigned nbatch;
	size_t batch_bytes;       /* bound on the packed batch so far */
	uint32_t chain;           /* id of the chain the next op may join */

	/* Ring of cq_cap: one entry per tag, plus the interim completions
	 * of multishot operations, each of which hands over a pooled slot
	 * or a new handle. */
	struct sr_cqe *cq;
	struct sr_cq_cb *cq_cb;   /* cq_cap, same indices as cq */
	unsigned cq_cap;
	unsigned cq_head;
	unsigned cq_len;

	struct wire_arena unpack;
	unsigned char *unpack_buf; /* SR_UNPACK_SIZE */
	unsigned char rx[WIRE_MAX_DATAGRAM];
	unsigned char tx[WIRE_MAX_DATAGRAM]; /* a request, packed */

	/* Both transports send OpBatch, and decode CompletionBatch here. */
	struct batch_op_encoder *enc;
	struct op_completion *comps; /* BATCH_MAX_OPS */

	struct sr_rings rings;
	/* sr_fd: an epoll set of the socket, the rings' doorbell and
	 * ready_efd, which is readable exactly while completions are queued
	 * (or the session failed); -1 until sr_fd is first called. */
	int poll_fd;
	int ready_efd;
	bool ready_on;            /* ready_efd is readable */
	bool send_blocked;        /* v1: sr_submit got -EAGAIN; POLLOUT too */
	bool want_rings;          /* asked for them in the Hello */
	bool inline_on;           /* the inline attempt (inline.c) */
	uint32_t inline_misses;   /* in a row: back off after a few */
	uint32_t inline_skip;     /* operations to send before trying again */
	uint64_t file_size_limit; /* our RLIMIT_FSIZE as the daemon saw it */

	/* SR_PARAMS_THREADSAFE (threads.c): every call under ts_lock.  A
	 * waiter sleeps on the transport without it, one at a time (the
	 * sleeper); others wait on ts_cond, which the sleeper broadcasts
	 * when it wakes.  Whoever queues a completion meanwhile rings
	 * ts_wake_efd, which the sleeper watches too. */
	struct sr_sync sync_lost; /* an abandoned blocking helper's */

	bool ts;
	bool ts_sleeper;
	bool ts_kicked;           /* ts_wake_efd rung for this sleep */
	int ts_wake_efd;
	pthread_mutex_t ts_lock;
	pthread_cond_t ts_cond;   /* CLOCK_MONOTONIC */
};

/* threads.c: the client lock.  Inline so that a client not shared by
 * threads pays one predictable branch per call and nothing else. */
static inline void srl_lock(const struct sr_client *c)
{
	if (__builtin_expect(c->ts, 0))
		pthread_mutex_lock((pthread_mutex_t *)&c->ts_lock);
}

static inline void srl_unlock(const struct sr_client *c)
{
	if (__builtin_expect(c->ts, 0))
		pthread_mutex_unlock((pthread_mutex_t *)&c->ts_lock);
}

/* Set up (sr_connect) and tear down (sr_close) the lock and its
 * companions; 0 or -errno. */
int srl_ts_init(struct sr_client *c);
void srl_ts_free(struct sr_client *c);
/* With the lock held: wait until completions may have been queued or the
 * session failed, for @timeout_ns at most (-1: no limit); the lock is
 * not held meanwhile.  0 (look again), -ETIME or -errno. */
int srl_ts_wait(struct sr_client *c, int64_t timeout_ns);
/* Something a waiter waits for happened (a completion queued, the
 * session failed): wake the sleeper. */
void srl_ts_kick(struct sr_client *c);

/* slots.c: sr_slot_acquire and sr_slot_release, the lock held. */
int srl_slot_acquire(struct sr_client *c);
int srl_slot_release(struct sr_client *c, int slot);

/* conn.c: the socket.  Every failure that leaves the session unusable is
 * made sticky by srl_fail(). */
int srl_fail(struct sr_client *c, int err);
int srl_send_msg(struct sr_client *c, const ProtobufCMessage *msg, int fd);
/* The same, or -EAGAIN at once when the socket has no room and @wait is
 * false (after taking what completions have come). */
int srl_send_msg_wait(struct sr_client *c, const ProtobufCMessage *msg,
		      int fd, bool wait);
/* Receive one reply; @fds (room for @maxfds) gets what came with it. */
int srl_recv_reply(struct sr_client *c, bool wait, int *fds,
		   unsigned maxfds, Saferring__Reply **out);
/* Deal with replies and completions: socket, and rings when on.  0 when
 * something was taken (completions are queued), 1 with a control reply
 * in *ctl, -EAGAIN when !@wait and nothing was there. */
int srl_pump(struct sr_client *c, bool wait, Saferring__Reply **ctl);
/* Sleep until completions (or an error) may have come, for @timeout_ns
 * at most (-1: no limit).  0, -ETIME, or -errno. */
int srl_wait_event(struct sr_client *c, int64_t timeout_ns);
/* ppoll(2) of @p, which also serves an in-process backend's worker
 * (local.h): its descriptor is polled beside them, and a pass of its loop
 * that did something counts as a wake-up (1, every revents 0).  The
 * caller holds the client's lock if it has one.  >= 0 or -errno, as
 * ppoll's count. */
int srl_ppoll(struct sr_client *c, struct pollfd *p, unsigned n,
	      const struct timespec *ts);
/* An in-process backend's worker takes what was just sent. */
void srl_local_kick(struct sr_client *c);
/* srl_pump(c, true, NULL), but a client shared by threads waits with
 * srl_ts_wait: 0 when something was taken or may have come. */
int srl_pump_wait(struct sr_client *c);
/* The completion queue changed: keep ready_efd readable exactly while it
 * holds something or the session failed. */
void srl_ready_update(struct sr_client *c);
/* client.c: c->send_blocked changed; poll_fd watches POLLOUT with it. */
void srl_poll_update(struct sr_client *c);

int srl_control(struct sr_client *c, Saferring__Request *req, int fd,
	       Saferring__Reply **out);

/* batch.c: operations from request to wire. */
/* Check @r, take a tag for it and fill @o (and @addr, which o->addr may
 * point to). */
int srl_op_prepare(struct sr_client *c, const struct sr_op_req *r,
		   bool internal, struct op_request *o,
		   struct sockaddr_storage *addr);
void srl_op_drop(struct sr_client *c, uint32_t tag);
/* Send @n prepared operations (rings or socket); on success they are in
 * flight.  On failure nothing was sent and they stay prepared; without
 * @wait that includes -EAGAIN when the daemon has no room for them. */
int srl_send_ops(struct sr_client *c, const struct op_request *ops,
		 unsigned n, bool wait);
/* sr_submit, waiting for room in the daemon or not (-EAGAIN). */
int srl_submit(struct sr_client *c, bool wait);
/* conn.c: @n operations as one Request.op_batch datagram. */
int srl_socket_send(struct sr_client *c, const struct op_request *ops,
		    unsigned n, bool wait);

/* cqe.c: completions from wire to queue. */
int srl_take_completions(struct sr_client *c,
			 const Saferring__Completions *cs);
/* The same for decoded ones (a CompletionBatch). */
int srl_take_decoded(struct sr_client *c, const struct op_completion *cc,
		     size_t n);

/* rings.c: protocol v2. */
/* Set up our side from the Welcome's layout, with the arena mapped and
 * the two doorbells received.  0 or -EPROTO. */
int srl_rings_start(struct sr_client *c, const Saferring__RingLayout *l,
		    int sq_efd, int cq_efd);
void srl_rings_stop(struct sr_client *c);
/* sr_fd was asked for: have every completion signalled on our doorbell
 * from now on. */
void srl_rings_notify(struct sr_client *c);
/* Put one batch of operations into the submission ring and ring the
 * daemon if it sleeps; while it is full, waits (reaping completions), or
 * without @wait returns -EAGAIN having asked the daemon to ring our
 * doorbell when it frees room. */
int srl_rings_send(struct sr_client *c, const struct op_request *ops,
		   unsigned n, bool wait);
/* Take every completion record there is; how many completions, or
 * -errno. */
int srl_rings_take(struct sr_client *c);
/* Poll the completion ring for up to spin_us (unless contended):
 * whether it has records. */
bool srl_rings_spin(struct sr_client *c);
/* The two halves of a sleep around the caller's own poll (threads.c):
 * begin says whether records are there already (then do not sleep). */
bool srl_rings_sleep_begin(struct sr_client *c);
void srl_rings_sleep_end(struct sr_client *c);
/* Sleep until the daemon publishes completions or something comes on
 * the socket, for @ts at most (NULL: no limit).  0 when something may
 * have come, -ETIME, -errno. */
int srl_rings_sleep(struct sr_client *c, const struct timespec *ts);
/* Bytes of the arena memfd besides the slots, for a layout. */
int srl_rings_layout_ok(const Saferring__RingLayout *l, uint64_t slots_bytes,
			uint64_t *total);

/* inline.c: the inline attempt. */
/* Try the unlinked operation @o ourselves: true when it completed (its
 * completion is queued), false to send it to the daemon. */
bool srl_inline_try(struct sr_client *c, const struct op_request *o);
/* How many of the batch @ops[0, n) go to the daemon first: the rest,
 * [keep, n), are ours to try (srl_inline_run) once those are sent; or
 * the session's error (it takes in arrived completions first). */
int srl_inline_split(struct sr_client *c, const struct op_request *ops,
		     unsigned n);
/* Try each of @ops[0, n); those that did not complete move to the front,
 * in order.  How many they are. */
unsigned srl_inline_run(struct sr_client *c, struct op_request *ops,
			unsigned n);
/* A handle came or went: keep or drop our copy of its descriptor. */
void srl_inline_adopt(struct sr_client *c, uint32_t handle, int fd);
void srl_inline_forget(struct sr_client *c, uint32_t handle);

#endif
