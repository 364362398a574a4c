/* SPDX-License-Identifier: MIT */
/*
 * session.c - see session.h.
 *
 * Parsing (protobuf -> struct op_request) and validation (validate_op) are
 * kept apart from acting (slot_table_begin, ring_driver_queue): nothing a
 * client sent is used after validation except through daemon-private
 * state.  Nothing in the shared arena is ever read here.
 */
#include "session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "arena.h"
#include "fd_registry.h"
#include "log.h"
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
/* protobuf-c allocations one request may make.  A 64 KiB datagram of
 * minimal sub-messages would need more; it fails to decode instead. */
#define UNPACK_ARENA_BYTES (512 * 1024)

enum session_phase {
	PHASE_HELLO,   /* waiting for Hello */
	PHASE_READY,   /* serving */
	PHASE_CLOSING, /* socket gone; draining the ring */
};

/* Daemon-side record of an operation the kernel holds. */
struct op_record {
	uint64_t tag;
	uint32_t slot; /* NONE when the operation takes no slot */
	uint32_t fd;   /* NONE when it takes no file */
};

/* A completion waiting to be sent. */
struct pending_completion {
	uint64_t tag;
	uint32_t status;
	int32_t result;
	uint32_t flags;
	uint32_t slot;
};

struct session {
	uint64_t id;
	int sock;
	struct ucred peer;
	struct policy policy;
	enum session_phase phase;
	uint32_t errors;
	enum sr_status deny_status; /* OK unless session_deny() was called */
	const char *deny_reason;

	struct arena arena;
	struct ring_driver ring;
	struct slot_table slots;
	struct fd_registry fds;

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

	uint64_t ops_done, ops_refused;
};

static unsigned char recv_buf[WIRE_MAX_DATAGRAM];
static unsigned char send_buf[WIRE_MAX_DATAGRAM];
static unsigned char unpack_buf[UNPACK_ARENA_BYTES];

struct session *session_new(uint64_t id, int sock, const struct ucred *peer,
			    const struct policy *policy)
{
	struct session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->id = id;
	s->sock = sock;
	s->peer = *peer;
	s->policy = *policy;
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
	if (s->in_flight) {
		log_err("session %llu: freed with %u operations in flight; leaking it",
			(unsigned long long)s->id, s->in_flight);
		return;
	}
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
	free(s);
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

/* Invariant: out_count + in_flight <= out_cap.  Each operation of a
 * request becomes either a refusal (out) or an operation in flight, and a
 * completion only moves one from in flight to out; so a request is read
 * only while a whole batch still fits. */
bool session_wants_read(const struct session *s)
{
	if (s->sock < 0 || s->stash_len > 0)
		return false;
	if (s->phase != PHASE_READY)
		return true;
	return s->out_count + s->in_flight + WIRE_MAX_BATCH <= s->out_cap;
}

bool session_drained(const struct session *s)
{
	return s->phase == PHASE_CLOSING && s->in_flight == 0;
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
	 * arena and the files go (session_drained). */
	int r = ring_driver_cancel_all(&s->ring);
	if (r == 0)
		r = ring_driver_submit(&s->ring);
	if (r < 0)
		log_warn("session %llu: cancel failed: %s; waiting for %u operations",
			 (unsigned long long)s->id, strerror(-r), s->in_flight);
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
	log_debug("session %llu uid %u: refused request: %s (%s)",
		  (unsigned long long)s->id, s->peer.uid, sr_strstatus(status),
		  why);
	session_reply(s, has_seq, seq, &reply, -1);
	if (++s->errors >= s->policy.max_errors)
		session_close(s, "too many refused requests");
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

static void session_flush(struct session *s)
{
	static Saferring__Completion comps[WIRE_MAX_BATCH];
	static Saferring__Completion *ptrs[WIRE_MAX_BATCH];

	while (s->sock >= 0 && s->stash_len == 0 && s->out_count > 0) {
		Saferring__Reply reply = SAFERRING__REPLY__INIT;
		Saferring__Completions body = SAFERRING__COMPLETIONS__INIT;
		uint32_t n = s->out_count < WIRE_MAX_BATCH ? s->out_count :
			     WIRE_MAX_BATCH;

		for (uint32_t i = 0; i < n; i++) {
			const struct pending_completion *pc =
				&s->out[(s->out_head + i) % s->out_cap];
			Saferring__Completion *c = &comps[i];
			uint32_t gen;

			saferring__completion__init(c);
			c->tag = pc->tag;
			c->status = pc->status;
			c->result = pc->result;
			c->has_flags = pc->flags != 0;
			c->flags = pc->flags;
			/* The slot becomes the client's again as this datagram
			 * leaves: it is sent now or stashed and sent first. */
			if (pc->slot != NONE &&
			    slot_table_hand_back(&s->slots, pc->slot, &gen) == 0) {
				c->has_slot_index = c->has_slot_generation = true;
				c->slot_index = pc->slot;
				c->slot_generation = gen;
			}
			ptrs[i] = c;
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
		.slot = NONE,
	};

	s->ops_refused++;
	session_queue_completion(s, &pc);
}

static int session_setup(struct session *s, uint32_t count, uint32_t size)
{
	uint32_t max_in_flight = s->policy.max_in_flight;
	unsigned entries = 1;
	int r;

	r = arena_create(&s->arena, (size_t)count * size);
	if (r < 0)
		return r;
	r = slot_table_init(&s->slots, count, size);
	if (r < 0)
		return r;
	r = fd_registry_init(&s->fds, s->policy.max_fds);
	if (r < 0)
		return r;

	s->ops = calloc(max_in_flight, sizeof(*s->ops));
	s->free_ops = calloc(max_in_flight, sizeof(*s->free_ops));
	s->out_cap = max_in_flight + 2 * WIRE_MAX_BATCH;
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
	/* One SQE more than the quota, for the teardown cancel. */
	while (entries < max_in_flight + 1)
		entries <<= 1;
	r = ring_driver_init(&s->ring, entries, s->policy.max_fds, iov, count,
			     s->policy.allowed_ops);
	free(iov);
	return r;
}

static void session_on_hello(struct session *s, uint32_t seq,
			     const Saferring__Hello *hello)
{
	Saferring__Reply reply = SAFERRING__REPLY__INIT;
	Saferring__Welcome welcome = SAFERRING__WELCOME__INIT;
	uint32_t count, size;
	int r;

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
	r = session_setup(s, count, size);
	if (r < 0) {
		log_err("session %llu uid %u: cannot set up %u slots of %u bytes: %s",
			(unsigned long long)s->id, s->peer.uid, count, size,
			strerror(-r));
		session_refuse(s, true, seq, SR_STATUS_INTERNAL,
			       "daemon could not set up the session");
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

	if (m->nfds != 1 || m->fds_truncated) {
		wire_msg_close_fds(m);
		session_refuse(s, true, seq, SR_STATUS_BAD_DESCRIPTORS,
			       "RegisterFd takes exactly one descriptor");
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
	handle.index = index;
	handle.generation = gen;
	body.handle = &handle;
	reply.body_case = SAFERRING__REPLY__BODY_FD_REGISTERED;
	reply.fd_registered = &body;
	session_reply(s, true, seq, &reply, -1);
}

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

/* Wire form -> the validator's form.  Nothing is checked here. */
static void op_request_from_wire(const Saferring__Op *op,
				 struct op_request *req)
{
	*req = (struct op_request){
		.tag = op->tag,
		.opcode = op->opcode,
		.flags = op->has_flags ? op->flags : 0,
		.has_file_offset = op->has_file_offset,
		.file_offset = op->file_offset,
	};
	if (op->fd) {
		req->has_fd = true;
		req->fd_index = op->fd->index;
		req->fd_generation = op->fd->generation;
	}
	if (op->slot) {
		req->has_slot = true;
		req->slot_index = op->slot->index;
		req->slot_generation = op->slot->generation;
		req->slot_offset = op->slot->offset;
		req->slot_length = op->slot->length;
	}
}

/* Act on an operation the validator accepted. */
static void session_start_op(struct session *s, const struct op_request *req)
{
	uint32_t rec = s->free_ops[--s->free_count];
	struct ring_op rop = {
		.opcode = req->opcode,
		.file_index = req->has_fd ? req->fd_index : 0,
		.offset = req->file_offset,
		.fsync_flags = req->flags,
		.user_data = rec,
	};

	s->ops[rec] = (struct op_record){
		.tag = req->tag,
		.slot = req->has_slot ? req->slot_index : NONE,
		.fd = req->has_fd ? req->fd_index : NONE,
	};
	if (req->has_slot) {
		rop.addr = (unsigned char *)s->arena.base +
			   (size_t)req->slot_index * s->slots.size +
			   req->slot_offset;
		rop.len = req->slot_length;
		rop.buf_index = (uint16_t)req->slot_index;
	}
	int r = ring_driver_queue(&s->ring, &rop);
	if (r < 0) {
		s->free_ops[s->free_count++] = rec;
		log_err("session %llu: ring refused a validated operation: %s",
			(unsigned long long)s->id, strerror(-r));
		session_refuse_op(s, req->tag, SR_STATUS_INTERNAL);
		return;
	}
	if (req->has_slot)
		slot_table_begin(&s->slots, req->slot_index);
	if (req->has_fd)
		fd_registry_get(&s->fds, req->fd_index);
	s->in_flight++;
	s->queued++;
}

static void session_on_submit(struct session *s, uint32_t seq, bool has_seq,
			      const Saferring__Submit *submit)
{
	if (submit->n_ops > WIRE_MAX_BATCH) {
		session_refuse(s, has_seq, seq, SR_STATUS_TOO_LARGE,
			       "batch larger than max_batch");
		return;
	}
	for (size_t i = 0; i < submit->n_ops; i++) {
		struct op_request req;
		struct validator_view view = {
			.slots = &s->slots,
			.fds = &s->fds,
			.in_flight = s->in_flight,
			.max_in_flight = s->policy.max_in_flight,
			.allowed_ops = s->policy.allowed_ops,
		};

		op_request_from_wire(submit->ops[i], &req);
		enum sr_status verdict = validate_op(&view, &req);
		if (verdict != SR_STATUS_OK)
			session_refuse_op(s, req.tag, verdict);
		else
			session_start_op(s, &req);
	}
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

static void session_submit_queued(struct session *s)
{
	if (!s->queued)
		return;
	int r = ring_driver_submit(&s->ring);
	if (r < 0) {
		/* The SQEs stay queued; they go with the next submit.  The
		 * quota keeps them from overrunning the SQ meanwhile. */
		log_warn("session %llu: submit failed: %s",
			 (unsigned long long)s->id, strerror(-r));
		return;
	}
	s->queued = 0;
}

void session_on_readable(struct session *s)
{
	for (int i = 0; i < READS_PER_EVENT && session_wants_read(s); i++) {
		struct wire_msg m;
		int r = wire_recv(s->sock, recv_buf, sizeof(recv_buf), &m);

		if (r == -EAGAIN)
			break;
		if (r == 0) {
			session_close(s, "client disconnected");
			break;
		}
		if (r < 0) {
			session_close(s, strerror(-r));
			break;
		}
		session_on_datagram(s, &m);
	}
	if (s->phase == PHASE_READY || s->in_flight)
		session_submit_queued(s);
	session_flush(s);
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
}

static void session_on_cqe(void *arg, uint64_t user_data, int32_t res,
			   uint32_t flags)
{
	struct session *s = arg;

	if (user_data == RING_CANCEL_USER_DATA)
		return;
	if (user_data >= s->policy.max_in_flight) {
		log_err("session %llu: CQE for unknown operation %llu",
			(unsigned long long)s->id, (unsigned long long)user_data);
		return;
	}
	struct op_record *rec = &s->ops[user_data];
	struct pending_completion pc = {
		.tag = rec->tag,
		.status = SR_STATUS_OK,
		.result = res,
		.flags = flags,
		.slot = rec->slot,
	};

	if (rec->slot != NONE)
		slot_table_complete(&s->slots, rec->slot);
	if (rec->fd != NONE)
		fd_registry_put(&s->fds, rec->fd);
	s->free_ops[s->free_count++] = (uint32_t)user_data;
	s->in_flight--;
	s->ops_done++;
	if (s->phase != PHASE_CLOSING)
		session_queue_completion(s, &pc);
}

void session_on_ring(struct session *s)
{
	if (!s->ring.live)
		return;
	ring_driver_reap(&s->ring, session_on_cqe, s);
	session_flush(s);
}
