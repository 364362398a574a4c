/* SPDX-License-Identifier: MIT */
/*
 * session.c - see session.h; the transport-independent core of a
 * session (session_impl.h says how it is split).
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
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admission.h"
#include "log.h"
#include "numa.h"
#include "op_table.h"
#include "session_impl.h"

/* Set once before any thread starts; read-only afterwards. */
static session_stats_handler stats_handler;
static void *stats_handler_arg;

/* The daemon-wide count of pinned arena bytes (see session_env). */
static uint64_t *session_pinned_count(struct session_env *env)
{
	return env->pinned_shared ? env->pinned_shared : &env->pinned;
}

/* Take @bytes of the pinned budget, unless that would pass pinned_max:
 * whether it did; *held says what was held before.  Relaxed: the count
 * guards no memory, it only has to add up across threads. */
static bool session_pin(struct session_env *env, uint64_t bytes,
			uint64_t *held)
{
	uint64_t *count = session_pinned_count(env);
	uint64_t now = __atomic_load_n(count, __ATOMIC_RELAXED);

	do {
		*held = now;
		if (bytes > env->pinned_max - now)
			return false;
	} while (!__atomic_compare_exchange_n(count, &now, now + bytes, true,
					      __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	return true;
}


struct session *session_new(uint64_t id, int sock,
			    const struct session_peer *peer,
			    const struct policy *policy,
			    struct session_env *env)
{
	struct session *s;

	if (!env->scratch && !(env->scratch = session_scratch_new()))
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->id = id;
	s->sock = sock;
	s->peer = peer->cred;
	s->file_size_limit = peer->file_size_limit;
	s->incoming_cpu = peer->incoming_cpu;
	s->policy = *policy;
	s->env = env;
	s->phase = PHASE_HELLO;
	s->arena = (struct arena)ARENA_INIT;
	s->rings.sq_efd = s->rings.cq_efd = -1;
	return s;
}

void session_free(struct session *s)
{
	if (!s)
		return;
	/* Its release job is back (or was never run: offload_stop). */
	if (s->releasing)
		s->setup_busy = s->releasing = false;
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
	session_rings_free(s);
	arena_destroy(&s->arena);
	slot_table_free(&s->slots);
	fd_registry_free(&s->fds);
	if (s->sock >= 0)
		close(s->sock);
	session_drop_stash(s);
	free(s->ops);
	free(s->free_ops);
	free(s->out);
	if (s->pinned)
		__atomic_fetch_sub(session_pinned_count(s->env), s->pinned,
				   __ATOMIC_RELAXED);
	free(s);
}

/* Arenas smaller than this are unmapped in place: microseconds, less
 * than the trip through the offload thread. */
#define SESSION_FREE_OFFLOAD_BYTES (16U << 20)

/* On the offload thread: the session is drained and its ring gone; the
 * arena is this job's alone. */
static void session_release_run(struct offload_job *job)
{
	arena_destroy(&session_of_setup(job)->arena);
}

bool session_free_begin(struct session *s)
{
	if (s->in_flight || s->setup_busy || !s->env->offload ||
	    s->arena.size < SESSION_FREE_OFFLOAD_BYTES)
		return false;
	/* The ring goes first, as in session_free(). */
	ring_driver_exit(&s->ring);
	s->releasing = true;
	s->setup_busy = true;
	s->setup_job.run = session_release_run;
	offload_submit(s->env->offload, &s->setup_job);
	return true;
}

bool session_releasing(const struct session *s)
{
	return s->releasing;
}

struct session_scratch *session_scratch_new(void)
{
	/* Large enough that malloc maps it: untouched pages cost nothing. */
	return calloc(1, sizeof(struct session_scratch));
}

void session_scratch_free(struct session_scratch *sc)
{
	free(sc);
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
	/* The ring is the set-up thread's until it is done. */
	return !s->setup_busy && s->ring.live ? ring_driver_fd(&s->ring) : -1;
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
	    s->end_after_flush || s->held)
		return false;
	/* Nothing is read while the set-up runs: requests would meet a
	 * session that is neither new nor ready. */
	if (s->phase == PHASE_SETUP)
		return false;
	if (s->phase != PHASE_READY)
		return true;
	return session_room_for_batch(s);
}

bool session_room_for_batch(const struct session *s)
{
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
	if (!s->setup_busy && s->rings.on)
		session_rings_kick(s); /* it may sleep on the doorbell alone */
	session_drop_stash(s);
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
		.node = built ? s->arena.node : -1,
	};
	memcpy(st->refusals, s->refusals, sizeof(st->refusals));
}

void session_set_stats_handler(session_stats_handler fn, void *arg)
{
	stats_handler = fn;
	stats_handler_arg = arg;
}

/* Control is for peers whose policy says so, and root. */
void session_ask_stats(struct session *s, uint32_t seq, bool with_sessions)
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
	stats_handler(stats_handler_arg, s, seq, with_sessions);
}

/* Once shutting down, the session ends when the last completion left. */
void session_finish_shutdown(struct session *s)
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

/* Packed bytes one completion can take at most in a nested Completions
 * datagram, without and per slot handed back, and with an accepted
 * handle. */
#define COMPLETION_MAX_BYTES 48U
#define SLOT_BACK_MAX_BYTES 16U
#define HANDLE_MAX_BYTES 16U

size_t session_next_completion_bound(const struct session *s)
{
	const struct pending_completion *pc;

	if (!s->out_count)
		return 0;
	pc = &s->out[s->out_head];
	return COMPLETION_MAX_BYTES + pc->nslots * SLOT_BACK_MAX_BYTES +
	       (pc->handle != NONE ? HANDLE_MAX_BYTES : 0);
}

bool session_pop_completion(struct session *s, struct op_completion *c)
{
	const struct pending_completion *pc;
	uint32_t gen;

	if (!s->out_count)
		return false;
	pc = &s->out[s->out_head];
	*c = (struct op_completion){
		.tag = pc->tag,
		.status = pc->status,
		.result = pc->result,
		.flags = pc->flags,
	};
	for (uint32_t i = 0; i < pc->nslots; i++) {
		if (slot_table_hand_back(&s->slots, pc->slots[i], &gen) < 0)
			continue;
		if (!pc->vectored) {
			c->has_slot = true;
			c->slot_index = pc->slots[i];
			c->slot_generation = gen;
			continue;
		}
		c->slots[c->n_slots++] = (struct op_slot_back){
			.index = pc->slots[i], .generation = gen,
		};
	}
	if (pc->handle != NONE &&
	    fd_registry_publish(&s->fds, pc->handle, &gen) == 0) {
		c->has_handle = true;
		c->handle_index = pc->handle;
		c->handle_generation = gen;
	}
	s->out_head = (s->out_head + 1) % s->out_cap;
	s->out_count--;
	return true;
}

/* @why: what the log says instead of the status's own text, or NULL. */
static void session_refuse_op_why(struct session *s, uint64_t tag,
				  enum sr_status status, const char *why)
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
		    (unsigned long long)tag, why ? why : sr_strstatus(status));
	session_queue_completion(s, &pc);
}

static void session_refuse_op(struct session *s, uint64_t tag,
			      enum sr_status status)
{
	session_refuse_op_why(s, tag, status, NULL);
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
	uint64_t rings_at = session_rings_offset((uint64_t)count * size);

	r = arena_create(&s->arena, s->want_rings ?
			 rings_at + session_rings_area() : (size_t)count * size,
			 s->setup_node);
	if (r == 0 && s->want_rings)
		r = session_rings_setup(s, rings_at);
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
	/* A restriction naming an opcode past the kernel's last fails the
	 * whole set-up. */
	cfg.allowed_ops = s->policy.allowed_ops & ~s->env->kernel_lacks;
	cfg.iowq_bounded = SESSION_IOWQ_BOUNDED;
	cfg.iowq_unbounded = SESSION_IOWQ_UNBOUNDED;
	cfg.threads = s->env->ring_threads;
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

void session_on_hello(struct session *s, uint32_t seq,
			     const Saferring__Hello *hello)
{
	uint32_t count, size;
	uint64_t bytes, held;

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
	if (!session_pin(s->env, bytes, &held)) {
		log_limited(LOG_WARNING, "session %llu uid %u pid %d: refused: "
			    "%llu bytes of arena would pass max_pinned_total "
			    "(%llu of %llu in use)", (unsigned long long)s->id,
			    s->peer.uid, s->peer.pid, (unsigned long long)bytes,
			    (unsigned long long)held,
			    (unsigned long long)s->env->pinned_max);
		session_refuse(s, true, seq, SR_STATUS_QUOTA,
			       "the daemon's pinned-memory limit "
			       "(max_pinned_total) is reached");
		session_close(s, "pinned-memory limit");
		return;
	}
	s->pinned = bytes;
	s->setup_count = count;
	s->setup_size = size;
	s->hello_seq = seq;
	s->want_rings = hello->has_rings && hello->rings && s->env->rings;
	/* The CPU is the client's word: numa_client_node() takes only a
	 * CPU the machine has, and anything else as no hint. */
	s->setup_node = s->env->topo ?
		numa_client_node(s->env->topo, hello->has_cpu ?
				 (int64_t)hello->cpu : -1,
				 s->incoming_cpu, s->env->node) : -1;
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
	Saferring__RingLayout layout;
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
	if (s->arena.node >= 0)
		log_info("session %llu uid %u pid %d: ready, %u slots of %u "
			 "bytes on NUMA node %d", (unsigned long long)s->id,
			 s->peer.uid, s->peer.pid, count, size, s->arena.node);
	else
		log_info("session %llu uid %u pid %d: ready, %u slots of %u "
			 "bytes", (unsigned long long)s->id, s->peer.uid,
			 s->peer.pid, count, size);

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
	int fds[3] = { s->arena.memfd, -1, -1 };
	unsigned nfds = 1;
	s->arena.memfd = -1;
	if (s->rings.on) {
		r = session_rings_welcome(s, &layout, &fds[1]);
		if (r < 0) {
			close(fds[0]);
			log_err("session %llu: cannot pass the doorbells: %s",
				(unsigned long long)s->id, strerror(-r));
			session_refuse(s, true, seq, SR_STATUS_QUOTA,
				       "the daemon is out of file descriptors");
			session_close(s, "setup failed");
			return;
		}
		welcome.rings = &layout;
		nfds = 3;
	}
	session_reply_fds(s, true, seq, &reply, fds, nfds);
}

void session_on_register_fd(struct session *s, uint32_t seq,
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
void session_on_unregister_fd(struct session *s, uint32_t seq,
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
		.kernel_lacks = s->env->kernel_lacks,
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
static void session_run_chain(struct session *s,
			      const struct op_request *reqs, size_t first,
			      size_t last, bool runs_off)
{
	enum sr_status st = SR_STATUS_OK;
	struct validator_view v;
	size_t bad = last + 1;

	session_view(s, &v);
	for (size_t k = first; k <= last; k++) {
		const struct op_request *req = &reqs[k];

		v.follows_link = k > first;
		v.prev_opcode = k > first ? reqs[k - 1].opcode : 0;
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
		const struct op_info *info = op_info(reqs[bad].opcode);
		const char *why = NULL;
		char text[96];

		/* An opcode this daemon knows is unknown only to the running
		 * kernel: the operator should hear which one it lacks. */
		if (st == SR_STATUS_UNKNOWN_OP && info) {
			snprintf(text, sizeof(text),
				 "%s: the running kernel lacks %s",
				 sr_strstatus(st), info->kernel);
			why = text;
		}
		for (size_t k = first; k <= last; k++)
			session_refuse_op_why(s, reqs[k].tag,
					      k == bad ? st : SR_STATUS_CHAIN_REFUSED,
					      k == bad ? why : NULL);
		return;
	}
	for (size_t k = first; k <= last; k++) {
		if (session_start_op(s, &reqs[k]) < 0) {
			/* Half a chain may be queued: nothing sane is left
			 * to do with this session. */
			session_refuse_op(s, reqs[k].tag,
					  SR_STATUS_INTERNAL);
			session_close(s, "ring refused a validated chain");
			return;
		}
	}
}

void session_submit_ops(struct session *s, const struct op_request *reqs,
			size_t n)
{
	/* A chain ends at the first operation that does not link; an
	 * unknown link kind links here and is refused by the validator. */
	for (size_t first = 0; first < n && s->phase == PHASE_READY;) {
		size_t last = first;

		while (last < n && reqs[last].link)
			last++;
		bool runs_off = last == n;
		if (runs_off)
			last = n - 1;
		session_run_chain(s, reqs, first, last, runs_off);
		first = last + 1;
		/* The kernel starts on a chunk while the rest is validated,
		 * and its completions reach the client meanwhile. */
		if (session_rings_want_chunk(s))
			session_progress(s);
	}
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
void session_progress(struct session *s)
{
	/* Nothing to progress yet, and the ring and the rings are the
	 * set-up thread's until it is done: not even read here. */
	if (s->setup_busy)
		return;
	if (s->ring.live && (s->phase == PHASE_READY || s->in_flight)) {
		session_submit_queued(s);
		ring_driver_reap(&s->ring, session_on_cqe, s);
		/* Cancels queued while reaping (multishot accepts over quota). */
		session_submit_queued(s);
		if (s->recancel && s->in_flight)
			session_cancel_all(s);
		s->recancel = false;
	}
	if (s->rings.on && s->phase != PHASE_CLOSING)
		session_rings_flush(s);
	else
		session_socket_flush(s);
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
