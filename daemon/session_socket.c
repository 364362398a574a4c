/* SPDX-License-Identifier: MIT */
/*
 * session_socket.c - a session's socket: the control plane of both
 * protocol versions (Hello, RegisterFd, UnregisterFd, Stats, Error
 * replies) and protocol v1's data plane (Submit in, Completions out).
 * Every datagram is decoded through a bounded arena and turned into the
 * core's plain forms (request.h) before anything acts on it.
 *
 * Must never block: the socket is non-blocking, one datagram that does
 * not fit waits in the stash and stops reading until it has gone.  Its
 * buffers are the thread's (session_env.scratch), never file-scope.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "batch.h"
#include "log.h"
#include "request.h"
#include "session_impl.h"

static void close_fds(const int *fds, unsigned nfds)
{
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
}

void session_drop_stash(struct session *s)
{
	free(s->stash);
	s->stash = NULL;
	s->stash_len = 0;
	close_fds(s->stash_fds, s->stash_nfds);
	s->stash_nfds = 0;
}

/* Send one reply.  @fds are owned by this call: they go with
 * the datagram and is closed once sent (or with the session). */
static void session_send(struct session *s, const ProtobufCMessage *msg,
			 const int *fds, unsigned nfds)
{
	unsigned char *send_buf = s->env->scratch->send_buf;
	size_t len = protobuf_c_message_get_packed_size(msg);
	int r;

	if (s->sock < 0 || len > WIRE_MAX_DATAGRAM) {
		close_fds(fds, nfds);
		if (s->sock >= 0)
			session_close(s, "reply too large");
		return;
	}
	protobuf_c_message_pack(msg, send_buf);
	r = wire_send_fds(s->sock, send_buf, len, fds, nfds);
	if (r == -EAGAIN) {
		/* Callers send only while nothing is stashed. */
		s->stash = malloc(len);
		if (!s->stash) {
			close_fds(fds, nfds);
			session_close(s, "out of memory");
			return;
		}
		memcpy(s->stash, send_buf, len);
		s->stash_len = len;
		for (unsigned i = 0; i < nfds; i++)
			s->stash_fds[i] = fds[i];
		s->stash_nfds = nfds;
		return;
	}
	close_fds(fds, nfds);
	if (r < 0)
		session_close(s, strerror(-r));
}

void session_reply_fds(struct session *s, bool has_seq, uint32_t seq,
		       Saferring__Reply *reply, const int *fds, unsigned nfds)
{
	reply->has_seq = has_seq;
	reply->seq = seq;
	session_send(s, &reply->base, fds, nfds);
}

void session_reply(struct session *s, bool has_seq, uint32_t seq,
		   Saferring__Reply *reply, int fd)
{
	session_reply_fds(s, has_seq, seq, reply, &fd, fd >= 0 ? 1 : 0);
}

/*
 * End a session that has earned it (end_after_flush), saying why: once
 * what is queued before has gone out, an Error{QUOTA} (no seq), then the
 * close.  A client that does not read keeps the session waiting, not
 * reading, as backpressure would.
 */
void session_try_end(struct session *s)
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
void session_refuse(struct session *s, bool has_seq, uint32_t seq,
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
	if (!s->setup_busy && s->rings.on)
		session_rings_kick(s);
	if (++s->errors < s->policy.max_errors || s->sock < 0)
		return;
	s->end_after_flush = "too many refused requests";
	s->end_reason_pending = true;
	session_try_end(s);
}

static void wire_completion_fill(struct wire_completion *w,
				 const struct op_completion *oc)
{
	saferring__completion__init(&w->c);
	w->c.tag = oc->tag;
	w->c.status = oc->status;
	w->c.result = oc->result;
	w->c.has_flags = oc->flags != 0;
	w->c.flags = oc->flags;
	w->c.has_slot_index = w->c.has_slot_generation = oc->has_slot;
	w->c.slot_index = oc->slot_index;
	w->c.slot_generation = oc->slot_generation;
	for (uint32_t i = 0; i < oc->n_slots; i++) {
		saferring__slot_back__init(&w->backs[i]);
		w->backs[i].index = oc->slots[i].index;
		w->backs[i].generation = oc->slots[i].generation;
		w->back_ptrs[i] = &w->backs[i];
	}
	w->c.n_slots = oc->n_slots;
	w->c.slots = oc->n_slots ? w->back_ptrs : NULL;
	if (oc->has_handle) {
		saferring__fd_handle__init(&w->handle);
		w->handle.index = oc->handle_index;
		w->handle.generation = oc->handle_generation;
		w->c.handle = &w->handle;
	}
}

void session_socket_flush(struct session *s)
{
	struct wire_completion *comps = s->env->scratch->comps;
	Saferring__Completion **ptrs = s->env->scratch->comp_ptrs;

	while (s->sock >= 0 && s->stash_len == 0 && s->out_count > 0) {
		Saferring__Reply reply = SAFERRING__REPLY__INIT;
		Saferring__Completions body = SAFERRING__COMPLETIONS__INIT;
		/* Room for the Reply and Completions framing. */
		size_t bytes = 64;
		uint32_t n = 0;
		struct op_completion oc;

		/* Slots and handles are the client's from the moment this
		 * datagram leaves (now, or from the stash before anything
		 * else). */
		while (n < WIRE_MAX_BATCH &&
		       (bytes += session_next_completion_bound(s)) <=
		       WIRE_MAX_DATAGRAM &&
		       session_pop_completion(s, &oc)) {
			wire_completion_fill(&comps[n], &oc);
			ptrs[n] = &comps[n].c;
			n++;
		}
		body.n_completions = n;
		body.completions = ptrs;
		reply.body_case = SAFERRING__REPLY__BODY_COMPLETIONS;
		reply.completions = &body;
		session_reply(s, false, 0, &reply, -1);
	}
}

void session_send_stats(struct session *s, uint32_t seq, void *stats)
{
	Saferring__Reply reply = SAFERRING__REPLY__INIT;

	s->held = false;
	reply.body_case = SAFERRING__REPLY__BODY_STATS;
	reply.stats = stats;
	session_reply(s, true, seq, &reply, -1);
}

void session_stats_unavailable(struct session *s, uint32_t seq)
{
	s->held = false;
	session_refuse(s, true, seq, SR_STATUS_INTERNAL,
		       "statistics unavailable");
}

void session_hold(struct session *s)
{
	s->held = true;
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
	struct op_request *reqs = s->env->scratch->reqs;

	for (size_t i = 0; i < n; i++)
		request_from_wire(submit->ops[i], &reqs[i]);
	session_submit_ops(s, reqs, n);
}

/* The same operations, laid out in columns (proto/batch.h). */
static void session_on_op_batch(struct session *s, uint32_t seq,
				bool has_seq, const Saferring__OpBatch *b)
{
	struct op_request *reqs = s->env->scratch->reqs;
	size_t n;
	int rc = batch_ops_from_wire(b, reqs, WIRE_MAX_BATCH, &n);

	if (rc == -E2BIG)
		session_refuse(s, has_seq, seq, SR_STATUS_TOO_LARGE,
			       "batch larger than max_batch");
	else if (rc < 0)
		session_refuse(s, has_seq, seq, SR_STATUS_MALFORMED,
			       "operation batch breaks the column layout");
	else
		session_submit_ops(s, reqs, n);
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
		session_ask_stats(s, seq, req->stats->has_sessions &&
				  req->stats->sessions);
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
	case SAFERRING__REQUEST__BODY_OP_BATCH:
		session_on_op_batch(s, seq, has_seq, req->op_batch);
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
	struct session_scratch *sc = s->env->scratch;
	Saferring__Request *req;

	if (m->truncated) {
		wire_msg_close_fds(m);
		session_refuse(s, false, 0, SR_STATUS_TOO_LARGE,
			       "datagram larger than 64 KiB");
		return;
	}
	wire_arena_init(&sc->unpack, sc->unpack_buf, sizeof(sc->unpack_buf));
	req = saferring__request__unpack(&sc->unpack.allocator, m->len,
					 sc->recv_buf);
	if (!req) {
		wire_msg_close_fds(m);
		session_refuse(s, false, 0, SR_STATUS_MALFORMED,
			       "request does not decode");
		return;
	}
	session_on_request(s, m, req);
	/* Nothing unpacked outlives this call: the arena is reset next time. */
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
		int r;

		/* In the order the client sent them: what it published in
		 * the submission ring before this request comes first (an
		 * UnregisterFd then finds those operations in flight).  The
		 * ring is looked at once the request is known to be there,
		 * so that everything published before it was sent is seen;
		 * the request stays queued while those records cannot be
		 * taken yet. */
		if (s->phase == PHASE_READY && s->rings.on) {
			char b;
			struct iovec v = { .iov_base = &b, .iov_len = 1 };
			struct msghdr peek = { .msg_iov = &v, .msg_iovlen = 1 };

			if (recvmsg(s->sock, &peek, MSG_PEEK | MSG_DONTWAIT) < 0 &&
			    errno == EAGAIN)
				break;
			session_rings_take(s);
			if (!session_wants_read(s) ||
			    shm_ring_pending(&s->rings.sq))
				break;
		}
		r = wire_recv(s->sock, s->env->scratch->recv_buf,
			      WIRE_MAX_DATAGRAM, &m);

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
	int r = wire_send_fds(s->sock, s->stash, s->stash_len, s->stash_fds,
			      s->stash_nfds);
	if (r == -EAGAIN)
		return;
	session_drop_stash(s);
	if (r < 0) {
		session_close(s, strerror(-r));
		return;
	}
	session_socket_flush(s);
	session_try_end(s);
	session_finish_shutdown(s);
	/* v2: the ring stopped at a refusal that had to wait for the socket
	 * (session_rings_take); go on with what it still holds. */
	if (s->rings.on && !s->stash_len)
		session_rings_take(s);
}
