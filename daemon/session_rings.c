/* SPDX-License-Identifier: MIT */
/*
 * session_rings.c - protocol v2's data plane for one session: operations
 * come from the submission ring, completions go to the completion ring,
 * both in the arena memfd (proto/ring_layout.h), and an eventfd each way
 * wakes the side that sleeps.
 *
 * The safety contract is v1's: the submission ring's tail is read once
 * per pass and bounded, each record is copied whole into private memory
 * and decoded from there (proto/batch.h), and everything after that is
 * the same validator and core as a v1 Submit.  The completion ring is
 * written only by the daemon; a client that lies about its head, or
 * scribbles on either ring, harms only itself: a head out of range reads
 * as a full completion ring (its completions wait in daemon memory, and
 * its submissions wait for them), a tail or record out of range ends the
 * session with Error{PROTOCOL}.
 *
 * Must never read outside the rings, never read a shared value twice,
 * never wait for the client.  Its buffers are the thread's
 * (session_env.scratch), never file-scope.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "batch.h"
#include "log.h"
#include "session_impl.h"

/* Ring data bytes each way: room for several batches of 256 operations,
 * at some 30 bytes an operation. */
#define RINGS_SQ_BYTES (256U * 1024)
#define RINGS_CQ_BYTES (256U * 1024)
/* Operations queued before the daemon submits them and publishes what
 * completed, so that the client refills while the kernel works: a
 * quarter of what the session has in flight, so that at any depth the
 * client gets completions back while three quarters are still to run,
 * between a floor (each io_uring_enter costs a system call) and a
 * ceiling (completions should not wait behind a long one). */
#define RINGS_CHUNK_MIN 8U
#define RINGS_CHUNK_MAX 32U
/* Completions per record at most. */
#define RINGS_CQ_BATCH BATCH_MAX_OPS
/* What one completion adds to a CompletionBatch at most: tag 10, status
 * 2, result 5, flags 5, present 1, slot or handle 10, each vectored slot
 * 10, plus packed-field framing, rounded up. */
#define RINGS_COMPLETION_BYTES 48U
#define RINGS_SLOT_BACK_BYTES 12U
#define RINGS_RECORD_FRAMING 64U

uint64_t session_rings_offset(uint64_t arena_bytes)
{
	uint64_t page = 4096;

	return (arena_bytes + page - 1) / page * page;
}

uint64_t session_rings_area(void)
{
	return sr_ring_area_bytes(RINGS_SQ_BYTES, RINGS_CQ_BYTES);
}

/* On the offload thread, with the arena mapped: lay the rings out over
 * zeroed memory and make the doorbells. */
int session_rings_setup(struct session *s, uint64_t offset)
{
	struct session_rings *r = &s->rings;
	unsigned char *base = (unsigned char *)s->arena.base + offset;

	r->offset = offset;
	r->ctl = (struct sr_ring_ctl *)base;
	memset(r->ctl, 0, sizeof(*r->ctl));
	shm_ring_init(&r->sq, base + sizeof(*r->ctl), RINGS_SQ_BYTES,
		      RINGS_MAX_RECORD, &r->ctl->sq_tail, &r->ctl->sq_head);
	shm_ring_init(&r->cq, base + sizeof(*r->ctl) + RINGS_SQ_BYTES,
		      RINGS_CQ_BYTES, RINGS_MAX_RECORD, &r->ctl->cq_tail,
		      &r->ctl->cq_head);
	r->rec = malloc(RINGS_MAX_RECORD);
	if (!r->rec)
		return -ENOMEM;
	r->sq_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r->cq_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->sq_efd < 0 || r->cq_efd < 0)
		return -errno;
	r->on = true;
	return 0;
}

void session_rings_free(struct session *s)
{
	struct session_rings *r = &s->rings;

	if (r->sq_efd >= 0)
		close(r->sq_efd);
	if (r->cq_efd >= 0)
		close(r->cq_efd);
	r->sq_efd = r->cq_efd = -1;
	free(r->rec);
	r->rec = NULL;
	r->on = false;
}

int session_rings_welcome(struct session *s, Saferring__RingLayout *l,
			  int *fds)
{
	struct session_rings *r = &s->rings;

	saferring__ring_layout__init(l);
	l->offset = r->offset;
	l->sq_bytes = RINGS_SQ_BYTES;
	l->cq_bytes = RINGS_CQ_BYTES;
	l->max_record = RINGS_MAX_RECORD;
	/* Copies for the client: ours stay ours. */
	fds[0] = fcntl(r->sq_efd, F_DUPFD_CLOEXEC, 0);
	fds[1] = fcntl(r->cq_efd, F_DUPFD_CLOEXEC, 0);
	if (fds[0] < 0 || fds[1] < 0) {
		int err = -errno;

		if (fds[0] >= 0)
			close(fds[0]);
		if (fds[1] >= 0)
			close(fds[1]);
		return err;
	}
	return 0;
}

int session_doorbell_fd(const struct session *s)
{
	/* Phase first: before READY the rings may be the set-up thread's. */
	return s->phase == PHASE_READY && s->rings.on ? s->rings.sq_efd : -1;
}

/* Completions of @n pending ones fit a record of this many bytes. */
static size_t rings_completion_bytes(const struct session *s, uint32_t i)
{
	const struct pending_completion *pc =
		&s->out[(s->out_head + i) % s->out_cap];

	return RINGS_COMPLETION_BYTES + pc->nslots * RINGS_SLOT_BACK_BYTES;
}

void session_rings_flush(struct session *s)
{
	struct session_rings *r = &s->rings;
	struct session_scratch *sc = s->env->scratch;
	bool published = false;

	while (s->out_count) {
		size_t bound = RINGS_RECORD_FRAMING, len;
		uint32_t n = 0;

		/* As many as surely fit one record that fits the ring now;
		 * popping hands slots over, so only what will be written. */
		while (n < s->out_count && n < RINGS_CQ_BATCH) {
			size_t more = rings_completion_bytes(s, n);

			if (bound + more > RINGS_MAX_RECORD ||
			    !shm_ring_room(&r->cq, (uint32_t)(bound + more)))
				break;
			bound += more;
			n++;
		}
		if (!n)
			break; /* the client is behind: wait for its head */
		for (uint32_t i = 0; i < n; i++)
			session_pop_completion(s, &sc->ring_comps[i]);
		if (batch_encode_completions(&sc->cq_encoder, sc->ring_comps,
					     n, sc->cq_buf, sizeof(sc->cq_buf),
					     &len) < 0 ||
		    shm_ring_put(&r->cq, SR_RING_REC_COMPLETIONS, sc->cq_buf,
				 (uint32_t)len) < 0) {
			/* The bound above makes this unreachable; what was
			 * popped is lost, so the session cannot go on. */
			log_err("session %llu: completion record of %u does not "
				"fit", (unsigned long long)s->id, n);
			session_close(s, "completion ring overflow");
			return;
		}
		published = true;
	}
	if (!published)
		return;
	shm_ring_publish(&r->cq);
	/* Dekker with the client's sleep: publish, fence, then look. */
	sr_ring_fence();
	if (sr_ring_load(&r->ctl->cq_flags) & SR_RING_CQ_NEED_WAKEUP) {
		uint64_t one = 1;

		if (write(r->cq_efd, &one, sizeof(one)) < 0) {
			/* EAGAIN: the counter is already non-zero. */
		}
	}
}

/* The submission ring broke a rule: this session ends. */
static void rings_corrupt(struct session *s, const char *why)
{
	session_refuse(s, false, 0, SR_STATUS_PROTOCOL, why);
	session_close(s, why);
}

/*
 * Whether records may be taken now.  Not while a reply waits in the
 * stash: a refused record is answered on the socket, and a second reply
 * that does not fit would have nowhere to go (session_send keeps one);
 * session_on_writable() takes up again once it has gone.  Not once the
 * session has earned its end (max_errors).  Not without room for a whole
 * batch of completions.
 */
static bool rings_can_take(const struct session *s)
{
	return s->rings.on && s->phase == PHASE_READY && s->sock >= 0 &&
	       !s->stash_len && !s->end_after_flush && !s->shutting_down &&
	       session_room_for_batch(s);
}

bool session_rings_take(struct session *s)
{
	struct session_rings *r = &s->rings;
	struct session_scratch *sc = s->env->scratch;
	bool took = false;
	uint32_t tail;

	if (!rings_can_take(s))
		return false;
	/* Once per pass: the client may move it while we read. */
	tail = shm_ring_tail(&r->sq);
	while (rings_can_take(s)) {
		uint32_t kind, len;
		size_t n;
		int rc = shm_ring_get(&r->sq, tail, r->rec, RINGS_MAX_RECORD,
				      &kind, &len);

		if (rc == 0)
			break;
		if (rc < 0) {
			rings_corrupt(s, "submission ring corrupt");
			return true;
		}
		took = true;
		if (kind != SR_RING_REC_OPS) {
			session_refuse(s, false, 0, SR_STATUS_MALFORMED,
				       "unknown record kind in the "
				       "submission ring");
			continue;
		}
		/* Decoded from the private copy only. */
		wire_arena_init(&sc->ring_unpack, sc->ring_unpack_buf,
				sizeof(sc->ring_unpack_buf));
		rc = batch_decode_ops(r->rec, len, &sc->ring_unpack,
				      sc->ring_reqs, BATCH_MAX_OPS, &n);
		if (rc == -E2BIG)
			session_refuse(s, false, 0, SR_STATUS_TOO_LARGE,
				       "batch larger than max_batch");
		else if (rc < 0)
			session_refuse(s, false, 0, SR_STATUS_MALFORMED,
				       "operation batch does not decode");
		else
			session_submit_ops(s, sc->ring_reqs, n);
	}
	/* Their space is the client's again. */
	shm_ring_release(&r->sq);
	if (took) {
		/* Dekker with a client whose sr_submit found no room and
		 * waits on its doorbell (an event loop): release, fence,
		 * look at its flag. */
		sr_ring_fence();
		if (sr_ring_load(&r->ctl->cq_flags) & SR_RING_CQ_SQ_WAIT)
			session_rings_kick(s);
		session_progress(s);
	}
	return took;
}

bool session_rings_want_chunk(const struct session *s)
{
	uint32_t chunk = s->in_flight / 4;

	if (chunk < RINGS_CHUNK_MIN)
		chunk = RINGS_CHUNK_MIN;
	if (chunk > RINGS_CHUNK_MAX)
		chunk = RINGS_CHUNK_MAX;
	return s->rings.on && s->queued >= chunk;
}

/* Wake the client whatever its flag says: something came on the socket
 * (an Error), or the session ended, and it may be asleep on the
 * completion doorbell alone. */
void session_rings_kick(struct session *s)
{
	uint64_t one = 1;

	if (s->rings.cq_efd >= 0 &&
	    write(s->rings.cq_efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is already non-zero. */
	}
}

bool session_rings_poll(struct session *s)
{
	bool did = false;

	if (s->phase != PHASE_READY || !s->rings.on)
		return false;
	if (ring_driver_ready(&s->ring)) {
		session_progress(s);
		did = true;
	} else if (s->out_count) {
		uint32_t before = s->out_count;

		session_rings_flush(s);
		did = s->out_count != before;
	}
	return session_rings_take(s) || did;
}

void session_rings_on_doorbell(struct session *s)
{
	uint64_t n;

	if (s->rings.sq_efd < 0)
		return;
	if (read(s->rings.sq_efd, &n, sizeof(n)) < 0) {
		/* EAGAIN: rung and cleared already. */
	}
	session_rings_busy(s);
	session_rings_poll(s);
}

bool session_rings_idle(struct session *s)
{
	struct session_rings *r = &s->rings;
	uint32_t flags = SR_RING_SQ_NEED_WAKEUP;

	if (s->phase != PHASE_READY || !r->on)
		return true;
	if (s->out_count)
		flags |= SR_RING_SQ_CQ_WAIT;
	/* Dekker with the client's submit (and its release of completion
	 * room): flag, fence, then look once more at what could need us. */
	sr_ring_store(&r->ctl->sq_flags, flags);
	sr_ring_fence();
	if ((shm_ring_pending(&r->sq) && rings_can_take(s)) ||
	    (s->out_count && shm_ring_room(&r->cq, RINGS_MAX_RECORD)) ||
	    ring_driver_ready(&s->ring)) {
		sr_ring_store(&r->ctl->sq_flags, 0);
		return false;
	}
	return true;
}

void session_rings_busy(struct session *s)
{
	if (s->rings.on && s->rings.ctl)
		sr_ring_store(&s->rings.ctl->sq_flags, 0);
}
