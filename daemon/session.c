/* SPDX-License-Identifier: MIT */
/*
 * session.c - see session.h.
 *
 * Parsing (protobuf -> struct op_request) and validation (validate_op) are
 * kept apart from acting (slot_table_begin, ring_driver_queue): nothing a
 * client sent is used after validation except through daemon-private
 * state.  Nothing in the shared arena is ever read here, and the kernel
 * is never pointed at request memory (the unpack arena is reset per
 * message): iovecs, msghdrs, addresses and timespecs live in the
 * operation's record until its last completion.
 *
 * A linked chain is validated whole, each member against the unchanged
 * state plus what the earlier members will take, before any member acts;
 * a chain with a bad member is refused whole and nothing of it is done.
 */
#include "session.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "admission.h"
#include "arena.h"
#include "fd_registry.h"
#include "log.h"
#include "op_table.h"
#include "request.h"
#include "ring.h"
#include "saferring.h"
#include "saferring.pb-c.h"
#include "slot_table.h"
#include "validator.h"
#include "wire.h"

#define NONE UINT32_MAX
/* Requests handled per readable event, so one client cannot starve the
 * others sharing the event loop. */
#define READS_PER_EVENT 32
/* protobuf-c allocations one request may make: enough to decode a 64 KiB
 * datagram of minimal operations (about 11000, some 200 bytes each
 * decoded, plus protobuf-c's scan slabs), so that an oversized batch is
 * answered TOO_LARGE, not MALFORMED.  Anything needing more fails to
 * decode. */
#define UNPACK_ARENA_BYTES (4 * 1024 * 1024)
/* Largest receive pool the kernel takes (buffer ids are 16 bits, ring
 * sizes powers of two below 65536). */
#define POOL_MAX_ENTRIES 32768U
/* Packed bytes one completion can take at most, without and per slot
 * handed back, and with an accepted handle (see session_flush). */
#define COMPLETION_MAX_BYTES 48U
#define SLOT_BACK_MAX_BYTES 16U
#define HANDLE_MAX_BYTES 16U
/* A submit slower than this means the kernel did I/O in the submitting
 * thread, which admission and IOSQE_ASYNC are there to prevent: logged. */
#define SLOW_SUBMIT_NS (20ULL * 1000 * 1000)
/* io_uring workers of the thread that serves sessions: file I/O that
 * missed the page cache, fsync, fallocate (bounded), and sockets that
 * must wait (unbounded, but most socket I/O is poll-driven and takes
 * none).  Sessions beyond that wait for a worker, they do not add one. */
#define SESSION_IOWQ_BOUNDED 16U
#define SESSION_IOWQ_UNBOUNDED 128U

enum session_phase {
	PHASE_HELLO,   /* waiting for Hello */
	PHASE_SETUP,   /* Hello taken; set-up runs on the offload thread */
	PHASE_READY,   /* serving */
	PHASE_CLOSING, /* socket gone; draining the ring */
};

/* Daemon-side record of an operation the kernel holds.  Its kernel
 * user_data is index | incarnation << 32, so a cancel aimed at a finished
 * operation can never hit the record's next user. */
struct op_record {
	uint64_t tag;
	uint32_t incarnation;
	uint32_t fd;           /* handle counted in flight, or NONE */
	uint32_t accept_index; /* single-shot ACCEPT's reserved entry, or NONE */
	uint8_t opcode;
	uint8_t nslots;
	bool live;
	bool multishot;
	bool vectored;         /* slots go back as Completion.slots */
	bool quota_stop;       /* multishot ACCEPT cancelled at the fd quota */
	uint32_t slots[VALIDATOR_MAX_IOV];
	/* What the kernel may read after submission. */
	struct iovec iov[VALIDATOR_MAX_IOV];
	struct msghdr msg;
	struct sockaddr_storage addr;
	struct __kernel_timespec ts;
};

/* A completion waiting to be sent.  The slots it names are COMPLETED and
 * its handle RESERVED until it is sent: they are the client's only then. */
struct pending_completion {
	uint64_t tag;
	uint32_t status;
	int32_t result;
	uint32_t flags;
	uint32_t handle; /* accepted socket's entry, or NONE */
	uint8_t nslots;
	bool vectored;
	uint32_t slots[VALIDATOR_MAX_IOV];
};

struct session {
	uint64_t id;
	int sock;
	struct ucred peer;
	uint64_t file_size_limit; /* the client's RLIMIT_FSIZE */
	struct policy policy;
	struct session_env *env;
	void *owner;
	enum session_phase phase;
	uint32_t errors;
	enum sr_status deny_status; /* OK unless session_deny() was called */
	const char *deny_reason;

	/* Set-up on the offload thread: while setup_busy, the arena, ring,
	 * tables and queues below belong to that thread alone. */
	struct offload_job setup_job;
	bool setup_busy;
	int setup_result;
	uint32_t setup_count, setup_size;
	uint32_t hello_seq;
	uint64_t pinned; /* bytes of env->pinned this session holds */

	struct arena arena;
	struct ring_driver ring;
	struct slot_table slots;
	struct fd_registry fds;
	uint32_t pool_capacity; /* slots the receive pool can hold */

	struct op_record *ops; /* max_in_flight records */
	uint32_t *free_ops;    /* stack of free record indexes */
	uint32_t free_count;
	uint32_t in_flight;
	uint32_t queued;       /* SQEs queued since the last submit */

	struct pending_completion *out; /* ring buffer of out_cap */
	uint32_t out_cap, out_head, out_count;

	/* One datagram the socket would not take yet, with its descriptor. */
	unsigned char *stash;
	size_t stash_len;
	int stash_fd;

	bool shutting_down; /* session_shutdown(): close once all is sent */
	/* Ends once the stash is sent (why, for the log), after saying so
	 * with an Error when end_reason_pending. */
	const char *end_after_flush;
	bool end_reason_pending;
	bool recancel;      /* an operation ended while cancelling */
	uint64_t ops_done, ops_refused;
	uint64_t bytes_read, bytes_written;
	uint64_t refusals[SR_STATUS__COUNT];
};

static session_stats_handler stats_handler;
static void *stats_handler_arg;

static unsigned char recv_buf[WIRE_MAX_DATAGRAM];
static unsigned char send_buf[WIRE_MAX_DATAGRAM];
static unsigned char unpack_buf[UNPACK_ARENA_BYTES];
/* One Submit's operations, parsed before any is validated. */
static struct op_request batch_reqs[WIRE_MAX_BATCH];

struct session *session_new(uint64_t id, int sock,
			    const struct session_peer *peer,
			    const struct policy *policy,
			    struct session_env *env)
{
	struct session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->id = id;
	s->sock = sock;
	s->peer = peer->cred;
	s->file_size_limit = peer->file_size_limit;
	s->policy = *policy;
	s->env = env;
	s->phase = PHASE_HELLO;
	s->arena = (struct arena)ARENA_INIT;
	s->stash_fd = -1;
	return s;
}

void session_free(struct session *s)
{
	if (!s)
		return;
	/* Callers only free drained sessions; refuse to free memory the
	 * kernel may still write rather than trust that. */
	if (s->in_flight || s->setup_busy) {
		log_err("session %llu: freed with %u operations in flight%s; "
			"leaking it", (unsigned long long)s->id, s->in_flight,
			s->setup_busy ? " and its set-up running" : "");
		return;
	}
	/* The ring goes first: it drops the files, the pool and the
	 * registered buffers before the arena is unmapped. */
	ring_driver_exit(&s->ring);
	arena_destroy(&s->arena);
	slot_table_free(&s->slots);
	fd_registry_free(&s->fds);
	if (s->sock >= 0)
		close(s->sock);
	if (s->stash_fd >= 0)
		close(s->stash_fd);
	free(s->stash);
	free(s->ops);
	free(s->free_ops);
	free(s->out);
	s->env->pinned -= s->pinned;
	free(s);
}

void session_set_owner(struct session *s, void *owner)
{
	s->owner = owner;
}

void *session_owner(const struct session *s)
{
	return s->owner;
}

void session_deny(struct session *s, enum sr_status status, const char *why)
{
	s->deny_status = status;
	s->deny_reason = why;
}

uint64_t session_id(const struct session *s)
{
	return s->id;
}

int session_sock(const struct session *s)
{
	return s->sock;
}

int session_ring_fd(const struct session *s)
{
	return s->ring.live ? ring_driver_fd(&s->ring) : -1;
}

bool session_wants_write(const struct session *s)
{
	return s->sock >= 0 && s->stash_len > 0;
}

/*
 * Invariant: out_count <= out_cap.  A queued completion is either
 *  - an answer: a refusal, an operation the daemon did itself, or the
 *    last completion of a record.  Each operation of a request becomes an
 *    answer or a record, and a record's last CQE turns it into an answer,
 *    so answers + in_flight grows only by reading a request, by at most
 *    WIRE_MAX_BATCH; or
 *  - an interim completion of a multishot operation, which pins what it
 *    hands over until it is sent: a pooled slot (COMPLETED) or an
 *    accepted fd entry (RESERVED).  So there are at most slot_count +
 *    fd quota of them; an interim CQE that pins nothing is not queued.
 * A request is read only while answers + in_flight (<= out_count +
 * in_flight) leaves room for a whole batch besides every possible interim
 * completion; session_setup sizes out_cap for exactly that.
 */
bool session_wants_read(const struct session *s)
{
	if (s->sock < 0 || s->stash_len > 0 || s->shutting_down ||
	    s->end_after_flush)
		return false;
	/* Nothing is read while the set-up runs: requests would meet a
	 * session that is neither new nor ready. */
	if (s->phase == PHASE_SETUP)
		return false;
	if (s->phase != PHASE_READY)
		return true;
	return (uint64_t)s->out_count + s->in_flight + WIRE_MAX_BATCH +
	       s->slots.count + s->fds.quota <= s->out_cap;
}

bool session_drained(const struct session *s)
{
	return s->phase == PHASE_CLOSING && s->in_flight == 0 &&
	       !s->setup_busy;
}

/*
 * Cancel everything in flight.  Called again whenever an operation
 * completes while the session is ending: a completed chain member may
 * have started its successor (a hard link runs it whatever the result),
 * which the earlier cancel could not reach.
 */
static void session_cancel_all(struct session *s)
{
	int r = ring_driver_cancel_all(&s->ring);

	if (r == 0)
		r = ring_driver_submit(&s->ring);
	if (r < 0)
		log_warn("session %llu: cancel failed: %s; waiting for %u operations",
			 (unsigned long long)s->id, strerror(-r), s->in_flight);
}

void session_close(struct session *s, const char *reason)
{
	if (s->phase == PHASE_CLOSING)
		return;
	s->phase = PHASE_CLOSING;
	log_info("session %llu uid %u pid %d: closing (%s); %u operations in flight",
		 (unsigned long long)s->id, s->peer.uid, s->peer.pid, reason,
		 s->in_flight);
	if (s->sock >= 0) {
		close(s->sock);
		s->sock = -1;
	}
	free(s->stash);
	s->stash = NULL;
	s->stash_len = 0;
	if (s->stash_fd >= 0) {
		close(s->stash_fd);
		s->stash_fd = -1;
	}
	s->out_count = 0;
	if (s->in_flight == 0)
		return;
	/* The ring keeps running until every CQE is back: only then may the
	 * arena and the files go (session_drained).  Multishot operations
	 * and timeouts end only when cancelled. */
	session_cancel_all(s);
}

void session_get_stats(const struct session *s, struct session_stats *st)
{
	/* The tables are the offload thread's while it builds them. */
	bool built = !s->setup_busy;

	*st = (struct session_stats){
		.id = s->id,
		.uid = s->peer.uid,
		.pid = s->peer.pid,
		.slots_in_use = built ? s->slots.busy : 0,
		.in_flight = s->in_flight,
		.fds = built ? s->fds.live_count : 0,
		.ops_done = s->ops_done,
		.ops_refused = s->ops_refused,
		.bytes_read = s->bytes_read,
		.bytes_written = s->bytes_written,
	};
	memcpy(st->refusals, s->refusals, sizeof(st->refusals));
}

void session_set_stats_handler(session_stats_handler fn, void *arg)
{
	stats_handler = fn;
	stats_handler_arg = arg;
}

/* Once shutting down, the session ends when the last completion left. */
static void session_finish_shutdown(struct session *s)
{
	if (s->shutting_down && s->phase != PHASE_CLOSING &&
	    s->in_flight == 0 && s->out_count == 0 && s->stash_len == 0)
		session_close(s, "daemon stopping");
}

void session_shutdown(struct session *s)
{
	if (s->phase != PHASE_READY || s->shutting_down) {
		session_close(s, "daemon stopping");
		return;
	}
	s->shutting_down = true;
	if (s->in_flight)
		session_cancel_all(s);
	session_finish_shutdown(s);
}

/* Send one reply.  @fd, when >= 0, is owned by this call: it goes with
 * the datagram and is closed once sent (or with the session). */
static void session_send(struct session *s, const ProtobufCMessage *msg,
			 int fd)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	int r;

	if (s->sock < 0 || len > sizeof(send_buf)) {
		if (fd >= 0)
			close(fd);
		if (s->sock >= 0)
			session_close(s, "reply too large");
		return;
	}
	protobuf_c_message_pack(msg, send_buf);
	r = wire_send(s->sock, send_buf, len, fd);
	if (r == -EAGAIN) {
		/* Callers send only while nothing is stashed. */
		s->stash = malloc(len);
		if (!s->stash) {
			if (fd >= 0)
				close(fd);
			session_close(s, "out of memory");
			return;
		}
		memcpy(s->stash, send_buf, len);
		s->stash_len = len;
		s->stash_fd = fd;
		return;
	}
	if (fd >= 0)
		close(fd);
	if (r < 0)
		session_close(s, strerror(-r));
}

static void session_reply(struct session *s, bool has_seq, uint32_t seq,
			  Saferring__Reply *reply, int fd)
{
	reply->has_seq = has_seq;
	reply->seq = seq;
	session_send(s, &reply->base, fd);
}

/*
 * End a session that has earned it (end_after_flush), saying why: once
 * what is queued before has gone out, an Error{QUOTA} (no seq), then the
 * close.  A client that does not read keeps the session waiting, not
 * reading, as backpressure would.
 */
static void session_try_end(struct session *s)
{
	if (!s->end_after_flush || s->sock < 0 || s->stash_len)
		return;
	if (s->end_reason_pending) {
		Saferring__Reply reply = SAFERRING__REPLY__INIT;
		Saferring__Error err = SAFERRING__ERROR__INIT;

		s->end_reason_pending = false;
		err.status = SR_STATUS_QUOTA;
		err.message = (char *)"too many refused requests (max_errors); "
				      "the session ends";
		reply.body_case = SAFERRING__REPLY__BODY_ERROR;
		reply.error = &err;
		session_reply(s, false, 0, &reply, -1);
		if (s->stash_len || s->sock < 0)
			return;
	}
	session_close(s, s->end_after_flush);
}

/* Answer a request with an error; a session that keeps earning them is
 * ended. */
static void session_refuse(struct session *s, bool has_seq, uint32_t seq,
			   enum sr_status status, const char *why)
{
	Saferring__Reply reply = SAFERRING__REPLY__INIT;
	Saferring__Error err = SAFERRING__ERROR__INIT;

	err.status = status;
	err.message = (char *)why;
	reply.body_case = SAFERRING__REPLY__BODY_ERROR;
	reply.error = &err;
	log_limited(LOG_NOTICE, "session %llu uid %u pid %d: refused request: %s (%s)",
		    (unsigned long long)s->id, s->peer.uid, s->peer.pid,
		    sr_strstatus(status), why);
	if (status < SR_STATUS__COUNT)
		s->refusals[status]++;
	session_reply(s, has_seq, seq, &reply, -1);
	if (++s->errors < s->policy.max_errors || s->sock < 0)
		return;
	s->end_after_flush = "too many refused requests";
	s->end_reason_pending = true;
	session_try_end(s);
}

static void session_queue_completion(struct session *s,
				     const struct pending_completion *pc)
{
	/* session_wants_read's invariant makes this unreachable. */
	if (s->out_count >= s->out_cap) {
		session_close(s, "completion queue overflow");
		return;
	}
	s->out[(s->out_head + s->out_count) % s->out_cap] = *pc;
	s->out_count++;
}

/* Packed size a completion can reach at most. */
static size_t completion_bound(const struct pending_completion *pc)
{
	return COMPLETION_MAX_BYTES + pc->nslots * SLOT_BACK_MAX_BYTES +
	       (pc->handle != NONE ? HANDLE_MAX_BYTES : 0);
}

/* Fill @c from @pc, handing its slots and handle to the client: they are
 * the client's from the moment this datagram leaves (it is sent now, or
 * stashed and sent before anything else). */
static void session_fill_completion(struct session *s,
				    const struct pending_completion *pc,
				    Saferring__Completion *c,
				    Saferring__SlotBack *backs,
				    Saferring__SlotBack **back_ptrs,
				    Saferring__FdHandle *handle)
{
	uint32_t gen;
	size_t n = 0;

	saferring__completion__init(c);
	c->tag = pc->tag;
	c->status = pc->status;
	c->result = pc->result;
	c->has_flags = pc->flags != 0;
	c->flags = pc->flags;
	for (uint32_t i = 0; i < pc->nslots; i++) {
		if (slot_table_hand_back(&s->slots, pc->slots[i], &gen) < 0)
			continue;
		if (!pc->vectored) {
			c->has_slot_index = c->has_slot_generation = true;
			c->slot_index = pc->slots[i];
			c->slot_generation = gen;
			continue;
		}
		saferring__slot_back__init(&backs[n]);
		backs[n].index = pc->slots[i];
		backs[n].generation = gen;
		back_ptrs[n] = &backs[n];
		n++;
	}
	c->n_slots = n;
	c->slots = n ? back_ptrs : NULL;
	if (pc->handle != NONE &&
	    fd_registry_publish(&s->fds, pc->handle, &gen) == 0) {
		saferring__fd_handle__init(handle);
		handle->index = pc->handle;
		handle->generation = gen;
		c->handle = handle;
	}
}

static void session_flush(struct session *s)
{
	static Saferring__Completion comps[WIRE_MAX_BATCH];
	static Saferring__Completion *ptrs[WIRE_MAX_BATCH];
	static Saferring__SlotBack backs[WIRE_MAX_BATCH][VALIDATOR_MAX_IOV];
	static Saferring__SlotBack *back_ptrs[WIRE_MAX_BATCH][VALIDATOR_MAX_IOV];
	static Saferring__FdHandle handles[WIRE_MAX_BATCH];

	while (s->sock >= 0 && s->stash_len == 0 && s->out_count > 0) {
		Saferring__Reply reply = SAFERRING__REPLY__INIT;
		Saferring__Completions body = SAFERRING__COMPLETIONS__INIT;
		/* Room for the Reply and Completions framing. */
		size_t bytes = 64;
		uint32_t n = 0;

		while (n < s->out_count && n < WIRE_MAX_BATCH) {
			const struct pending_completion *pc =
				&s->out[(s->out_head + n) % s->out_cap];

			bytes += completion_bound(pc);
			if (bytes > WIRE_MAX_DATAGRAM)
				break;
			session_fill_completion(s, pc, &comps[n], backs[n],
						back_ptrs[n], &handles[n]);
			ptrs[n] = &comps[n];
			n++;
		}
		s->out_head = (s->out_head + n) % s->out_cap;
		s->out_count -= n;
		body.n_completions = n;
		body.completions = ptrs;
		reply.body_case = SAFERRING__REPLY__BODY_COMPLETIONS;
		reply.completions = &body;
		session_reply(s, false, 0, &reply, -1);
	}
}

static void session_refuse_op(struct session *s, uint64_t tag,
			      enum sr_status status)
{
	struct pending_completion pc = {
		.tag = tag,
		.status = status,
		.result = sr_status_errno(status),
		.handle = NONE,
	};

	s->ops_refused++;
	if (status < SR_STATUS__COUNT)
		s->refusals[status]++;
	log_limited(LOG_NOTICE, "session %llu uid %u pid %d: refused operation (tag %llu): %s",
		    (unsigned long long)s->id, s->peer.uid, s->peer.pid,
		    (unsigned long long)tag, sr_strstatus(status));
	session_queue_completion(s, &pc);
}

/* Answer an operation the daemon did itself. */
static void session_done_op(struct session *s, uint64_t tag, int32_t result)
{
	struct pending_completion pc = {
		.tag = tag,
		.status = SR_STATUS_OK,
		.result = result,
		.handle = NONE,
	};

	s->ops_done++;
	session_queue_completion(s, &pc);
}

static unsigned pow2_at_least(unsigned n)
{
	unsigned p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static int session_setup(struct session *s, uint32_t count, uint32_t size)
{
	uint32_t max_in_flight = s->policy.max_in_flight;
	uint32_t max_fds = s->policy.max_fds;
	struct ring_config cfg = { 0 };
	int r;

	/* The kernel's table holds twice the quota: the upper half is the
	 * kernel's to fill for multishot accepts. */
	if (max_fds == 0 || max_fds > (1U << 19) || max_in_flight == 0)
		return -EINVAL;
	r = arena_create(&s->arena, (size_t)count * size);
	if (r < 0)
		return r;
	r = slot_table_init(&s->slots, count, size);
	if (r < 0)
		return r;
	r = fd_registry_init(&s->fds, max_fds, 2 * max_fds);
	if (r < 0)
		return r;

	s->ops = calloc(max_in_flight, sizeof(*s->ops));
	s->free_ops = calloc(max_in_flight, sizeof(*s->free_ops));
	/* See session_wants_read. */
	s->out_cap = max_in_flight + count + max_fds + 2 * WIRE_MAX_BATCH;
	s->out = calloc(s->out_cap, sizeof(*s->out));
	struct iovec *iov = calloc(count, sizeof(*iov));
	if (!s->ops || !s->free_ops || !s->out || !iov) {
		free(iov);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < max_in_flight; i++)
		s->free_ops[i] = max_in_flight - 1 - i;
	s->free_count = max_in_flight;
	for (uint32_t i = 0; i < count; i++) {
		iov[i].iov_base = (unsigned char *)s->arena.base + (size_t)i * size;
		iov[i].iov_len = size;
	}
	cfg.pool_entries = pow2_at_least(count < POOL_MAX_ENTRIES ? count :
					 POOL_MAX_ENTRIES);
	s->pool_capacity = count < cfg.pool_entries ? count : cfg.pool_entries;
	/* One SQE more than the quota, for the teardown cancel. */
	cfg.entries = pow2_at_least(max_in_flight + 1);
	cfg.files = 2 * max_fds;
	cfg.alloc_start = max_fds;
	cfg.bufs = iov;
	cfg.nbufs = count;
	cfg.allowed_ops = s->policy.allowed_ops;
	cfg.iowq_bounded = SESSION_IOWQ_BOUNDED;
	cfg.iowq_unbounded = SESSION_IOWQ_UNBOUNDED;
	r = ring_driver_init(&s->ring, &cfg);
	free(iov);
	return r;
}

/* On the offload thread: nothing here may log or touch what the event
 * loop uses (see offload.h); the result goes back in setup_result. */
static void session_setup_run(struct offload_job *job)
{
	struct session *s = session_of_setup(job);

	s->setup_result = session_setup(s, s->setup_count, s->setup_size);
}

struct session *session_of_setup(struct offload_job *job)
{
	return (struct session *)((char *)job -
				  offsetof(struct session, setup_job));
}

void session_setup_reclaim(struct session *s)
{
	s->setup_busy = false;
	if (s->phase == PHASE_SETUP)
		session_close(s, "daemon stopping");
}

static void session_on_hello(struct session *s, uint32_t seq,
			     const Saferring__Hello *hello)
{
	uint32_t count, size;
	uint64_t bytes;

	if (hello->version != SR_PROTOCOL_VERSION) {
		session_refuse(s, true, seq, SR_STATUS_VERSION,
			       "protocol version not supported");
		session_close(s, "protocol version not supported");
		return;
	}
	if (s->deny_status != SR_STATUS_OK) {
		session_refuse(s, true, seq, s->deny_status, s->deny_reason);
		session_close(s, s->deny_reason);
		return;
	}
	policy_grant_slots(&s->policy, hello->has_slot_count ? hello->slot_count : 0,
			   hello->has_slot_size ? hello->slot_size : 0,
			   &count, &size);
	/* Arenas are pinned: all of them together stay under the budget
	 * (max_pinned_total), whichever uids hold them. */
	bytes = (uint64_t)count * size;
	if (bytes > s->env->pinned_max - s->env->pinned) {
		log_limited(LOG_WARNING, "session %llu uid %u pid %d: refused: "
			    "%llu bytes of arena would pass max_pinned_total "
			    "(%llu of %llu in use)", (unsigned long long)s->id,
			    s->peer.uid, s->peer.pid, (unsigned long long)bytes,
			    (unsigned long long)s->env->pinned,
			    (unsigned long long)s->env->pinned_max);
		session_refuse(s, true, seq, SR_STATUS_QUOTA,
			       "the daemon's pinned-memory limit "
			       "(max_pinned_total) is reached");
		session_close(s, "pinned-memory limit");
		return;
	}
	s->env->pinned += bytes;
	s->pinned = bytes;
	s->setup_count = count;
	s->setup_size = size;
	s->hello_seq = seq;
	s->phase = PHASE_SETUP;
	s->setup_busy = true;
	s->setup_job.run = session_setup_run;
	offload_submit(s->env->offload, &s->setup_job);
}

/* What a client hears when its session cannot be set up: its quota when
 * the daemon ran out of a resource it rations, else the daemon's fault. */
static enum sr_status setup_status(int err, const char **why)
{
	switch (err) {
	case -EMFILE:
	case -ENFILE:
		*why = "the daemon is out of file descriptors";
		return SR_STATUS_QUOTA;
	case -ENOMEM:
		/* io_uring charges pinned buffers to RLIMIT_MEMLOCK. */
		*why = "the daemon cannot pin more memory (RLIMIT_MEMLOCK)";
		return SR_STATUS_QUOTA;
	default:
		*why = "daemon could not set up the session";
		return SR_STATUS_INTERNAL;
	}
}

void session_on_setup_done(struct session *s)
{
	Saferring__Reply reply = SAFERRING__REPLY__INIT;
	Saferring__Welcome welcome = SAFERRING__WELCOME__INIT;
	uint32_t seq = s->hello_seq, count = s->setup_count;
	uint32_t size = s->setup_size;
	int r = s->setup_result;

	s->setup_busy = false;
	/* Closed meanwhile: nothing was submitted, session_free() undoes
	 * whatever the set-up built. */
	if (s->phase != PHASE_SETUP)
		return;
	if (r < 0) {
		const char *why;
		enum sr_status st = setup_status(r, &why);

		log_err("session %llu uid %u: cannot set up %u slots of %u bytes: "
			"%s%s", (unsigned long long)s->id, s->peer.uid, count,
			size, strerror(-r), r == -ENOMEM ?
			" (pinned memory is charged to RLIMIT_MEMLOCK)" : "");
		session_refuse(s, true, seq, st, why);
		session_close(s, "setup failed");
		return;
	}
	s->phase = PHASE_READY;
	log_info("session %llu uid %u pid %d: ready, %u slots of %u bytes",
		 (unsigned long long)s->id, s->peer.uid, s->peer.pid, count, size);

	welcome.version = SR_PROTOCOL_VERSION;
	welcome.session_id = s->id;
	welcome.slot_count = count;
	welcome.slot_size = size;
	welcome.slot_generation = SLOT_FIRST_GENERATION;
	welcome.max_fds = s->policy.max_fds;
	welcome.max_in_flight = s->policy.max_in_flight;
	welcome.max_batch = WIRE_MAX_BATCH;
	welcome.has_fd_table_size = true;
	welcome.fd_table_size = s->fds.capacity;
	welcome.has_allowed_ops = true;
	welcome.allowed_ops = s->policy.allowed_ops;
	welcome.has_max_errors = true;
	welcome.max_errors = s->policy.max_errors;
	welcome.has_max_file_size = s->file_size_limit != UINT64_MAX;
	welcome.max_file_size = s->file_size_limit;
	reply.body_case = SAFERRING__REPLY__BODY_WELCOME;
	reply.welcome = &welcome;
	/* The client's copy of the memfd is all it needs; ours can go. */
	int memfd = s->arena.memfd;
	s->arena.memfd = -1;
	session_reply(s, true, seq, &reply, memfd);
}

static void session_on_register_fd(struct session *s, uint32_t seq,
				   struct wire_msg *m)
{
	Saferring__Reply reply = SAFERRING__REPLY__INIT;
	Saferring__FdRegistered body = SAFERRING__FD_REGISTERED__INIT;
	Saferring__FdHandle handle = SAFERRING__FD_HANDLE__INIT;
	uint32_t index, gen;
	int r;

	struct admission adm;

	if (m->nfds != 1 || m->fds_truncated) {
		wire_msg_close_fds(m);
		session_refuse(s, true, seq, SR_STATUS_BAD_DESCRIPTORS,
			       "RegisterFd takes exactly one descriptor");
		return;
	}
	r = admission_check(m->fds[0], s->policy.allowed_fs, &adm);
	if (r == 0 && (adm.attrs & ADMIT_APPEND) &&
	    s->file_size_limit != UINT64_MAX) {
		/* Where an O_APPEND write lands is the file's size at that
		 * moment: the client's RLIMIT_FSIZE could not be applied. */
		snprintf(adm.what, sizeof(adm.what), "file opened O_APPEND: "
			 "with a file size limit (RLIMIT_FSIZE) its writes "
			 "cannot be checked");
		r = -EPERM;
	} else if (r < 0 && r != -EPERM) {
		snprintf(adm.what, sizeof(adm.what), "descriptor cannot be "
			 "inspected: %s", strerror(-r));
	}
	if (r < 0) {
		wire_msg_close_fds(m);
		session_refuse(s, true, seq, SR_STATUS_BAD_DESCRIPTORS, adm.what);
		return;
	}
	r = fd_registry_alloc(&s->fds, &index, &gen);
	if (r < 0) {
		wire_msg_close_fds(m);
		session_refuse(s, true, seq, SR_STATUS_QUOTA,
			       "registered file quota reached");
		return;
	}
	r = ring_driver_set_file(&s->ring, index, m->fds[0]);
	/* The ring holds its own reference; the daemon keeps none. */
	wire_msg_close_fds(m);
	if (r < 0) {
		fd_registry_release(&s->fds, index, gen);
		session_refuse(s, true, seq, SR_STATUS_BAD_DESCRIPTORS,
			       "descriptor cannot be registered");
		return;
	}
	fd_registry_set_attrs(&s->fds, index, adm.attrs);
	log_debug("session %llu: handle %u is a %s", (unsigned long long)s->id,
		  index, adm.what);
	handle.index = index;
	handle.generation = gen;
	body.handle = &handle;
	reply.body_case = SAFERRING__REPLY__BODY_FD_REGISTERED;
	reply.fd_registered = &body;
	session_reply(s, true, seq, &reply, -1);
}

/* Unregistering waits for the client: with operations in flight on the
 * handle it is refused (BUSY), nothing is cancelled.  CLOSE is the
 * operation that lets them finish first. */
static void session_on_unregister_fd(struct session *s, uint32_t seq,
				     const Saferring__UnregisterFd *req)
{
	Saferring__Reply reply = SAFERRING__REPLY__INIT;
	Saferring__FdUnregistered body = SAFERRING__FD_UNREGISTERED__INIT;
	Saferring__FdHandle handle = SAFERRING__FD_HANDLE__INIT;
	uint32_t index = req->handle->index, gen = req->handle->generation;
	int r = fd_registry_lookup(&s->fds, index, gen);

	if (r == -EBADF) {
		session_refuse(s, true, seq, SR_STATUS_BAD_HANDLE, "no such handle");
		return;
	}
	if (r < 0) {
		session_refuse(s, true, seq, SR_STATUS_STALE_HANDLE, "stale handle");
		return;
	}
	if (fd_registry_busy(&s->fds, index)) {
		session_refuse(s, true, seq, SR_STATUS_BUSY,
			       "operations in flight use this handle");
		return;
	}
	r = ring_driver_clear_file(&s->ring, index);
	if (r < 0) {
		log_err("session %llu: cannot clear file %u: %s",
			(unsigned long long)s->id, index, strerror(-r));
		session_refuse(s, true, seq, SR_STATUS_INTERNAL,
			       "could not unregister");
		return;
	}
	fd_registry_release(&s->fds, index, gen);
	handle.index = index;
	handle.generation = gen;
	body.handle = &handle;
	reply.body_case = SAFERRING__REPLY__BODY_FD_UNREGISTERED;
	reply.fd_unregistered = &body;
	session_reply(s, true, seq, &reply, -1);
}

static void *slot_addr(const struct session *s, uint32_t index,
		       uint32_t offset)
{
	return (unsigned char *)s->arena.base + (size_t)index * s->slots.size +
	       offset;
}

/* The record of the operation in flight with client tag @tag: the first
 * found.  RING_NO_TARGET when there is none, which the kernel then finds
 * nowhere either (-ENOENT), keeping a chain around it intact. */
static uint64_t session_find_target(const struct session *s, uint64_t tag)
{
	for (uint32_t i = 0; i < s->policy.max_in_flight; i++) {
		const struct op_record *rec = &s->ops[i];

		if (rec->live && rec->tag == tag)
			return i | (uint64_t)rec->incarnation << 32;
	}
	return RING_NO_TARGET;
}

/* Hold the slot a validated operation names.  Within a chain, a slot an
 * earlier member took is IN_FLIGHT already (validation saw every named
 * slot AVAILABLE, before the chain acted), and is shared. */
static void session_hold_slot(struct session *s, struct op_record *rec,
			      uint32_t index)
{
	if (slot_table_begin(&s->slots, index) < 0)
		slot_table_share(&s->slots, index);
	rec->slots[rec->nslots++] = index;
}

/* Bytes a write at @req's offset may move before the client's
 * RLIMIT_FSIZE: the kernel cuts a write that crosses the limit there
 * (the validator refused one that starts past it).  UINT64_MAX when no
 * limit applies. */
static uint64_t session_write_room(const struct session *s,
				   const struct op_request *req)
{
	if (s->file_size_limit == UINT64_MAX || !req->has_fd ||
	    !(fd_registry_attrs(&s->fds, req->fd_index) & ADMIT_REGULAR) ||
	    (req->opcode != SR_OP_WRITE && req->opcode != SR_OP_WRITEV) ||
	    req->file_offset >= s->file_size_limit)
		return UINT64_MAX;
	return s->file_size_limit - req->file_offset;
}

/* Fill the record's iovecs from the request's ranges, cut to @room
 * bytes in all. */
static void session_fill_iov(struct session *s, struct op_record *rec,
			     const struct op_request *req, uint64_t room)
{
	for (uint32_t i = 0; i < req->n_iov; i++) {
		uint32_t len = req->iov[i].length;

		if (len > room)
			len = (uint32_t)room;
		room -= len;
		rec->iov[i].iov_base = slot_addr(s, req->iov[i].index,
						 req->iov[i].offset);
		rec->iov[i].iov_len = len;
	}
	rec->vectored = true;
}

/* The operations the daemon does itself.  Neither can be in a chain. */
static void session_daemon_op(struct session *s, const struct op_request *req)
{
	int r;

	switch (req->opcode) {
	case SR_OP_PROVIDE:
		slot_table_pool(&s->slots, req->slot_index);
		ring_driver_provide(&s->ring, slot_addr(s, req->slot_index, 0),
				    s->slots.size, (uint16_t)req->slot_index);
		session_done_op(s, req->tag, 0);
		break;
	case SR_OP_CLOSE:
		/* The handle is stale from now on; the kernel's entry goes
		 * when nothing in flight can resolve it any more. */
		r = fd_registry_close(&s->fds, req->fd_index,
				      req->fd_generation);
		if (r == 0)
			r = ring_driver_clear_file(&s->ring, req->fd_index);
		if (r < 0)
			log_err("session %llu: cannot close file %u: %s",
				(unsigned long long)s->id, req->fd_index,
				strerror(-r));
		session_done_op(s, req->tag, r < 0 ? r : 0);
		break;
	default:
		/* Only CLOSE and PROVIDE are the daemon's (op_table.h). */
		session_refuse_op(s, req->tag, SR_STATUS_INTERNAL);
		break;
	}
}

/* Act on an operation the validator accepted (and, in a chain, every
 * other member too).  -errno when the ring would not take it, which room
 * reserved before and the quota make impossible. */
static int session_start_op(struct session *s, const struct op_request *req)
{
	const struct op_info *info;
	uint64_t target = 0, room;
	uint32_t idx;
	struct op_record *rec;
	struct ring_op rop = { 0 };
	int r;

	if (!validator_takes_record(req->opcode)) {
		session_daemon_op(s, req);
		return 0;
	}
	/* Before this operation takes a record, so it cannot find itself. */
	if (req->has_target)
		target = session_find_target(s, req->target);
	idx = s->free_ops[--s->free_count];
	rec = &s->ops[idx];
	*rec = (struct op_record){
		.tag = req->tag,
		.incarnation = rec->incarnation + 1,
		.fd = NONE,
		.accept_index = NONE,
		.opcode = (uint8_t)req->opcode,
		.live = true,
	};
	rop = (struct ring_op){
		.opcode = req->opcode,
		.file_index = req->fd_index,
		.offset = req->file_offset,
		.length = req->length,
		.op_flags = req->flags,
		.target = target,
		.link = req->link,
		.user_data = idx | (uint64_t)rec->incarnation << 32,
		/* A file whose server may hold a read never gets the
		 * submitting thread: io_uring's workers wait for it. */
		.async = req->has_fd &&
			 (fd_registry_attrs(&s->fds, req->fd_index) &
			  ADMIT_MAY_BLOCK),
	};
	room = session_write_room(s, req);

	/* What the kernel may read after submission lives in the record,
	 * as the operation's row says. */
	info = op_info(req->opcode);
	if (info->msg != OPF_NO)
		rop.op_flags = req->msg_flags;
	switch ((enum op_arg)info->arg) {
	case OPA_SLOT:
		if (!req->has_slot) { /* multishot RECV: from the pool */
			rec->multishot = rop.multishot = true;
			break;
		}
		rop.addr = slot_addr(s, req->slot_index, req->slot_offset);
		rop.len = req->slot_length < room ? req->slot_length :
						    (uint32_t)room;
		rop.buf_index = (uint16_t)req->slot_index;
		break;
	case OPA_IOV:
		session_fill_iov(s, rec, req, room);
		rop.addr = rec->iov;
		rop.len = req->n_iov;
		break;
	case OPA_MSG:
		session_fill_iov(s, rec, req, UINT64_MAX);
		/* No name, no control data: nothing but payload. */
		rec->msg = (struct msghdr){ .msg_iov = rec->iov,
					    .msg_iovlen = req->n_iov };
		rop.addr = &rec->msg;
		break;
	case OPA_ADDR:
		/* Validated to fit; checked again since it is a copy. */
		if (req->addr_len > sizeof(rec->addr))
			goto fail;
		memcpy(&rec->addr, req->addr, req->addr_len);
		rop.addr = &rec->addr;
		rop.len = req->addr_len;
		break;
	case OPA_TS:
		rec->ts.tv_sec = (int64_t)(req->timeout_ns / 1000000000U);
		rec->ts.tv_nsec = (long long)(req->timeout_ns % 1000000000U);
		rop.addr = &rec->ts;
		break;
	case OPA_NONE:
	default:
		break;
	}
	if (req->opcode == SR_OP_ACCEPT) {
		if (req->flags & SR_ACCEPT_MULTISHOT) {
			rec->multishot = rop.multishot = true;
		} else {
			/* Validated: an entry is free under the quota. */
			if (fd_registry_reserve(&s->fds, &rec->accept_index) < 0)
				goto fail;
			rop.accept_index = rec->accept_index;
		}
	}
	r = ring_driver_queue(&s->ring, &rop);
	if (r < 0) {
		if (rec->accept_index != NONE)
			fd_registry_unreserve(&s->fds, rec->accept_index);
		goto fail;
	}
	if (req->has_slot)
		session_hold_slot(s, rec, req->slot_index);
	for (uint32_t i = 0; i < req->n_iov; i++)
		session_hold_slot(s, rec, req->iov[i].index);
	if (req->has_fd) {
		fd_registry_get(&s->fds, req->fd_index);
		rec->fd = req->fd_index;
	}
	s->in_flight++;
	s->queued++;
	return 0;
fail:
	rec->live = false;
	s->free_ops[s->free_count++] = idx;
	log_err("session %llu: ring refused a validated operation",
		(unsigned long long)s->id);
	return -EBUSY;
}

static void session_view(const struct session *s, struct validator_view *v)
{
	*v = (struct validator_view){
		.slots = &s->slots,
		.fds = &s->fds,
		.in_flight = s->in_flight,
		.max_in_flight = s->policy.max_in_flight,
		.allowed_ops = s->policy.allowed_ops,
		.pool_capacity = s->pool_capacity,
		.file_size_limit = s->file_size_limit,
	};
}

/*
 * Operations [first, last] of the batch form one chain: each but the last
 * links to the next; @runs_off when the last links too (to nothing).
 * Validated whole, then started whole, or refused whole: the bad member
 * gets its own status, every other one CHAIN_REFUSED.
 */
static void session_run_chain(struct session *s, size_t first, size_t last,
			      bool runs_off)
{
	enum sr_status st = SR_STATUS_OK;
	struct validator_view v;
	size_t bad = last + 1;

	session_view(s, &v);
	for (size_t k = first; k <= last; k++) {
		const struct op_request *req = &batch_reqs[k];

		v.follows_link = k > first;
		v.prev_opcode = k > first ? batch_reqs[k - 1].opcode : 0;
		st = validate_op(&v, req);
		if (st != SR_STATUS_OK) {
			bad = k;
			break;
		}
		if (validator_takes_record(req->opcode))
			v.chain_records++;
		if (validator_reserves_fd(req))
			v.chain_fds++;
	}
	if (bad > last && runs_off) {
		bad = last;
		st = SR_STATUS_BAD_CHAIN;
	}
	/* The whole chain goes into the SQ in one piece, or not at all. */
	if (bad > last && ring_driver_reserve(&s->ring, v.chain_records) < 0) {
		bad = first;
		st = SR_STATUS_INTERNAL;
	}
	if (bad <= last) {
		for (size_t k = first; k <= last; k++)
			session_refuse_op(s, batch_reqs[k].tag,
					  k == bad ? st : SR_STATUS_CHAIN_REFUSED);
		return;
	}
	for (size_t k = first; k <= last; k++) {
		if (session_start_op(s, &batch_reqs[k]) < 0) {
			/* Half a chain may be queued: nothing sane is left
			 * to do with this session. */
			session_refuse_op(s, batch_reqs[k].tag,
					  SR_STATUS_INTERNAL);
			session_close(s, "ring refused a validated chain");
			return;
		}
	}
}

static void session_on_submit(struct session *s, uint32_t seq, bool has_seq,
			      const Saferring__Submit *submit)
{
	size_t n = submit->n_ops;

	if (n > WIRE_MAX_BATCH) {
		session_refuse(s, has_seq, seq, SR_STATUS_TOO_LARGE,
			       "batch larger than max_batch");
		return;
	}
	for (size_t i = 0; i < n; i++)
		request_from_wire(submit->ops[i], &batch_reqs[i]);
	/* A chain ends at the first operation that does not link; an
	 * unknown link kind links here and is refused by the validator. */
	for (size_t first = 0; first < n && s->phase == PHASE_READY;) {
		size_t last = first;

		while (last < n && batch_reqs[last].link)
			last++;
		bool runs_off = last == n;
		if (runs_off)
			last = n - 1;
		session_run_chain(s, first, last, runs_off);
		first = last + 1;
	}
}

void session_send_stats(struct session *s, uint32_t seq, void *stats)
{
	Saferring__Reply reply = SAFERRING__REPLY__INIT;

	reply.body_case = SAFERRING__REPLY__BODY_STATS;
	reply.stats = stats;
	session_reply(s, true, seq, &reply, -1);
}

/* Control is for peers whose policy says so, and root. */
static void session_on_stats(struct session *s, uint32_t seq,
			     const Saferring__StatsRequest *req)
{
	if (!s->policy.control && s->peer.uid != 0) {
		session_refuse(s, true, seq, SR_STATUS_NOT_PERMITTED,
			       "statistics are not permitted for this uid");
		return;
	}
	if (!stats_handler) {
		session_refuse(s, true, seq, SR_STATUS_INTERNAL,
			       "statistics unavailable");
		return;
	}
	stats_handler(stats_handler_arg, s, seq,
		      req->has_sessions && req->sessions);
}

static void session_on_request(struct session *s, struct wire_msg *m,
			       const Saferring__Request *req)
{
	bool has_seq = req->has_seq;
	uint32_t seq = req->seq;

	if (m->nfds && req->body_case != SAFERRING__REQUEST__BODY_REGISTER_FD) {
		wire_msg_close_fds(m);
		session_refuse(s, has_seq, seq, SR_STATUS_BAD_DESCRIPTORS,
			       "descriptors on a request that takes none");
		return;
	}
	if (req->body_case == SAFERRING__REQUEST__BODY_STATS) {
		session_on_stats(s, seq, req->stats);
		return;
	}
	if (s->phase == PHASE_HELLO &&
	    req->body_case != SAFERRING__REQUEST__BODY_HELLO) {
		wire_msg_close_fds(m);
		session_refuse(s, has_seq, seq, SR_STATUS_PROTOCOL,
			       "Hello must come first");
		return;
	}
	switch (req->body_case) {
	case SAFERRING__REQUEST__BODY_HELLO:
		if (s->phase != PHASE_HELLO)
			session_refuse(s, has_seq, seq, SR_STATUS_PROTOCOL,
				       "Hello sent twice");
		else
			session_on_hello(s, seq, req->hello);
		break;
	case SAFERRING__REQUEST__BODY_REGISTER_FD:
		session_on_register_fd(s, seq, m);
		break;
	case SAFERRING__REQUEST__BODY_UNREGISTER_FD:
		session_on_unregister_fd(s, seq, req->unregister_fd);
		break;
	case SAFERRING__REQUEST__BODY_SUBMIT:
		session_on_submit(s, seq, has_seq, req->submit);
		break;
	case SAFERRING__REQUEST__BODY_STATS: /* answered above */
	case SAFERRING__REQUEST__BODY__NOT_SET:
	case _SAFERRING__REQUEST__BODY__CASE_IS_INT_SIZE:
	default:
		session_refuse(s, has_seq, seq, SR_STATUS_MALFORMED,
			       "request has no body");
		break;
	}
}

static void session_on_datagram(struct session *s, struct wire_msg *m)
{
	static struct wire_arena arena;
	Saferring__Request *req;

	if (m->truncated) {
		wire_msg_close_fds(m);
		session_refuse(s, false, 0, SR_STATUS_TOO_LARGE,
			       "datagram larger than 64 KiB");
		return;
	}
	wire_arena_init(&arena, unpack_buf, sizeof(unpack_buf));
	req = saferring__request__unpack(&arena.allocator, m->len, recv_buf);
	if (!req) {
		wire_msg_close_fds(m);
		session_refuse(s, false, 0, SR_STATUS_MALFORMED,
			       "request does not decode");
		return;
	}
	session_on_request(s, m, req);
	/* Nothing unpacked outlives this call: the arena is reset next time. */
}

static uint64_t session_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void session_submit_queued(struct session *s)
{
	if (!s->queued)
		return;
	uint64_t t0 = session_now_ns();
	int r = ring_driver_submit(&s->ring);
	uint64_t took = session_now_ns() - t0;

	if (took > SLOW_SUBMIT_NS)
		log_limited(LOG_WARNING, "session %llu uid %u pid %d: submitting "
			    "%u operations took %llu ms; other sessions waited",
			    (unsigned long long)s->id, s->peer.uid, s->peer.pid,
			    s->queued, (unsigned long long)(took / 1000000));
	if (r < 0) {
		/* The SQEs stay queued; they go with the next submit.  The
		 * quota keeps them from overrunning the SQ meanwhile. */
		log_warn("session %llu: submit failed: %s",
			 (unsigned long long)s->id, strerror(-r));
		return;
	}
	s->queued = 0;
}

static void session_on_cqe(void *arg, uint64_t user_data, int32_t res,
			   uint32_t flags);

/* Submit what is queued, take what already completed, send replies. */
static void session_progress(struct session *s)
{
	if (s->ring.live && (s->phase == PHASE_READY || s->in_flight)) {
		session_submit_queued(s);
		ring_driver_reap(&s->ring, session_on_cqe, s);
		/* Cancels queued while reaping (multishot accepts over quota). */
		session_submit_queued(s);
		if (s->recancel && s->in_flight)
			session_cancel_all(s);
		s->recancel = false;
	}
	session_flush(s);
}

/* recvmsg answers 0 both for an empty datagram and at end of file; only
 * the latter leaves the socket hung up. */
static bool session_peer_gone(int sock)
{
	struct pollfd p = { .fd = sock, .events = POLLIN | POLLRDHUP };

	return poll(&p, 1, 0) < 0 || (p.revents & (POLLHUP | POLLRDHUP));
}

void session_on_readable(struct session *s)
{
	for (int i = 0; i < READS_PER_EVENT && session_wants_read(s); i++) {
		struct wire_msg m;
		int r = wire_recv(s->sock, recv_buf, sizeof(recv_buf), &m);

		if (r == -EAGAIN)
			break;
		if (r == 0 && session_peer_gone(s->sock)) {
			session_close(s, "client disconnected");
			break;
		}
		if (r == 0) {
			session_refuse(s, false, 0, SR_STATUS_MALFORMED,
				       "empty datagram");
			session_progress(s);
			continue;
		}
		if (r < 0) {
			session_close(s, strerror(-r));
			break;
		}
		session_on_datagram(s, &m);
		/* Per datagram, not per event: the kernel starts on this batch
		 * while the client prepares the next, and page-cache reads
		 * that completed inline go back without another wakeup. */
		session_progress(s);
	}
	session_progress(s);
}

void session_on_writable(struct session *s)
{
	if (s->sock < 0 || !s->stash_len)
		return;
	int r = wire_send(s->sock, s->stash, s->stash_len, s->stash_fd);
	if (r == -EAGAIN)
		return;
	free(s->stash);
	s->stash = NULL;
	s->stash_len = 0;
	if (s->stash_fd >= 0) {
		close(s->stash_fd);
		s->stash_fd = -1;
	}
	if (r < 0) {
		session_close(s, strerror(-r));
		return;
	}
	session_flush(s);
	session_try_end(s);
	session_finish_shutdown(s);
}

/* One operation fewer on a handle; a CLOSEd handle's file leaves the
 * kernel's table with the last of them. */
static void session_put_fd(struct session *s, uint32_t index)
{
	if (fd_registry_put(&s->fds, index) != 1)
		return;
	int r = ring_driver_clear_file(&s->ring, index);
	if (r < 0)
		log_err("session %llu: cannot close file %u: %s",
			(unsigned long long)s->id, index, strerror(-r));
}

/* Take the socket a multishot accept put at kernel-chosen @index in as a
 * handle (RESERVED until its completion is sent).  NONE when it cannot
 * be: over the quota the socket is closed and the accept cancelled, so
 * the client hears -EMFILE instead of an endless stream of refusals. */
static uint32_t session_adopt(struct session *s, struct op_record *rec,
			      uint64_t user_data, int32_t res)
{
	uint32_t index = (uint32_t)res;
	int r = fd_registry_adopt(&s->fds, index);

	if (r == 0)
		return index;
	if (r != -EMFILE) {
		/* Not an index the kernel may fill: touch nothing there. */
		log_err("session %llu: accept into fd entry %u, not the kernel's",
			(unsigned long long)s->id, index);
		return NONE;
	}
	r = ring_driver_clear_file(&s->ring, index);
	if (r < 0)
		log_err("session %llu: cannot close accepted file %u: %s",
			(unsigned long long)s->id, index, strerror(-r));
	if (!rec->quota_stop) {
		rec->quota_stop = true;
		if (ring_driver_cancel(&s->ring, user_data) == 0)
			s->queued++;
	}
	return NONE;
}

static void session_count_bytes(struct session *s, uint8_t opcode,
				uint64_t n)
{
	switch (opcode) {
	case SR_OP_READ: case SR_OP_READV: case SR_OP_RECV: case SR_OP_RECVMSG:
		s->bytes_read += n;
		break;
	case SR_OP_WRITE: case SR_OP_WRITEV: case SR_OP_SEND: case SR_OP_SENDMSG:
		s->bytes_written += n;
		break;
	default:
		break;
	}
}

static void session_on_cqe(void *arg, uint64_t user_data, int32_t res,
			   uint32_t flags)
{
	struct session *s = arg;
	uint32_t idx = (uint32_t)user_data;
	struct op_record *rec;
	bool more, pinned = false;

	if (user_data == RING_CANCEL_USER_DATA)
		return;
	if (idx >= s->policy.max_in_flight || !s->ops[idx].live ||
	    s->ops[idx].incarnation != (uint32_t)(user_data >> 32)) {
		log_err("session %llu: CQE for unknown operation %#llx",
			(unsigned long long)s->id, (unsigned long long)user_data);
		return;
	}
	rec = &s->ops[idx];
	more = rec->multishot && (flags & IORING_CQE_F_MORE);

	struct pending_completion pc = {
		.tag = rec->tag,
		.status = SR_STATUS_OK,
		.result = res,
		.flags = flags & (more ? SR_CQE_F_MORE | SR_CQE_F_SOCK_NONEMPTY :
				  SR_CQE_F_SOCK_NONEMPTY),
		.handle = NONE,
		.vectored = rec->vectored,
	};

	if (flags & IORING_CQE_F_BUFFER) {
		uint32_t bid = flags >> IORING_CQE_BUFFER_SHIFT;

		/* Believed only for a slot that really is in the pool. */
		if (rec->multishot && slot_table_unpool(&s->slots, bid) == 0) {
			pc.slots[pc.nslots++] = bid;
			pinned = true;
		} else {
			log_err("session %llu: kernel returned buffer %u, not a pooled slot",
				(unsigned long long)s->id, bid);
		}
	}
	if (rec->opcode == SR_OP_ACCEPT && res >= 0) {
		if (rec->multishot) {
			pc.handle = session_adopt(s, rec, user_data, res);
			pinned = pc.handle != NONE;
			if (!pinned)
				pc.result = -EMFILE;
		} else {
			pc.handle = rec->accept_index;
			rec->accept_index = NONE;
		}
	}
	if (res > 0)
		session_count_bytes(s, rec->opcode, (uint64_t)res);
	if (more) {
		/* An interim completion is queued only with what it pins
		 * (see session_wants_read); one with nothing is dropped. */
		if (pinned && s->phase != PHASE_CLOSING)
			session_queue_completion(s, &pc);
		return;
	}

	for (uint32_t i = 0; i < rec->nslots; i++)
		if (slot_table_complete(&s->slots, rec->slots[i]) == 0)
			pc.slots[pc.nslots++] = rec->slots[i];
	if (rec->accept_index != NONE)
		fd_registry_unreserve(&s->fds, rec->accept_index);
	if (rec->fd != NONE)
		session_put_fd(s, rec->fd);
	if (rec->quota_stop)
		pc.result = -EMFILE;
	rec->live = false;
	s->free_ops[s->free_count++] = idx;
	s->in_flight--;
	if (s->phase == PHASE_CLOSING || s->shutting_down)
		s->recancel = true;
	s->ops_done++;
	if (s->phase != PHASE_CLOSING)
		session_queue_completion(s, &pc);
}

void session_on_ring(struct session *s)
{
	if (!s->ring.live)
		return;
	session_progress(s);
	session_finish_shutdown(s);
}
