/* SPDX-License-Identifier: MIT */
/*
 * rings.c - libsaferring's side of protocol v2: operation batches go into
 * the submission ring, completion batches come out of the completion
 * ring (both in the arena memfd, proto/ring_layout.h), and each side
 * rings the other's eventfd only when the other said it sleeps.
 *
 * Waiting spins on the completion ring for spin_us first (a wake-up costs
 * tens of microseconds here), unless spinning is contended (spin.h): then
 * it sleeps at once for a while, so that a spinning client and a
 * spinning daemon never take turns on one CPU.
 *
 * Must never write the daemon's side of the rings (its head, its flags,
 * the completion ring's data), never decode a record in place, and never
 * sleep without setting NEED_WAKEUP and looking once more.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "client.h"
#include "spin.h"

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

int srl_rings_layout_ok(const Saferring__RingLayout *l, uint64_t slots_bytes,
			uint64_t *total)
{
	/* Sizes no daemon sends are refused rather than mapped. */
	if (l->offset < slots_bytes || l->offset % SR_RING_CACHELINE ||
	    !is_pow2(l->sq_bytes) || !is_pow2(l->cq_bytes) ||
	    l->sq_bytes < 4096 || l->cq_bytes < 4096 ||
	    l->sq_bytes > (1U << 26) || l->cq_bytes > (1U << 26) ||
	    l->max_record < 1024 || l->max_record > WIRE_MAX_DATAGRAM ||
	    sr_ring_rec_bytes(l->max_record) > l->sq_bytes / 2 ||
	    sr_ring_rec_bytes(l->max_record) > l->cq_bytes / 2)
		return -EPROTO;
	if (l->offset > UINT64_MAX - sr_ring_area_bytes(l->sq_bytes, l->cq_bytes))
		return -EPROTO;
	*total = l->offset + sr_ring_area_bytes(l->sq_bytes, l->cq_bytes);
	return *total > SIZE_MAX ? -EPROTO : 0;
}

int srl_rings_start(struct sr_client *c, const Saferring__RingLayout *l,
		    int sq_efd, int cq_efd)
{
	struct sr_rings *r = &c->rings;
	unsigned char *base = c->arena + l->offset;

	r->rec = malloc(l->max_record);
	if (!r->rec)
		return -ENOMEM;
	r->ctl = (struct sr_ring_ctl *)base;
	base += sizeof(*r->ctl);
	/* The daemon zeroed the block: both rings start at index 0. */
	shm_ring_init(&r->sq, base, l->sq_bytes, l->max_record,
		      &r->ctl->sq_tail, &r->ctl->sq_head);
	shm_ring_init(&r->cq, base + l->sq_bytes, l->cq_bytes, l->max_record,
		      &r->ctl->cq_tail, &r->ctl->cq_head);
	r->sq_efd = sq_efd;
	r->cq_efd = cq_efd;
	r->on = true;
	return 0;
}

void srl_rings_stop(struct sr_client *c)
{
	struct sr_rings *r = &c->rings;

	if (r->sq_efd >= 0)
		close(r->sq_efd);
	if (r->cq_efd >= 0)
		close(r->cq_efd);
	r->sq_efd = r->cq_efd = -1;
	free(r->rec);
	r->rec = NULL;
	r->on = false;
}

static void sr_ring_bell(int efd)
{
	uint64_t one = 1;

	if (write(efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: already rung and not yet heard. */
	}
}

/* Wake the daemon when its flags say it sleeps on something we did. */
static void sr_wake_daemon(struct sr_client *c, uint32_t why)
{
	struct sr_rings *r = &c->rings;

	/* Dekker with the daemon's going to sleep: publish, fence, look. */
	sr_ring_fence();
	if (sr_ring_load(&r->ctl->sq_flags) & why)
		sr_ring_bell(r->sq_efd);
}

/* Our flags word: whether we sleep (or always want signals), and
 * whether we wait for room in the submission ring. */
static void sr_store_cq_flags(struct sr_rings *r, bool sleeping)
{
	/* Another thread's sleep must not lose its doorbell to ours. */
	uint32_t f = sleeping || r->sleeping || r->notify ?
		     SR_RING_CQ_NEED_WAKEUP : 0;

	if (r->sq_wait)
		f |= SR_RING_CQ_SQ_WAIT;
	sr_ring_store(&r->ctl->cq_flags, f);
}

void srl_rings_notify(struct sr_client *c)
{
	struct sr_rings *r = &c->rings;

	/* From now on the daemon signals every completion it publishes, and
	 * our own waits leave the flag set.  What it published before it
	 * saw the flag was not signalled: ring for it ourselves. */
	r->notify = true;
	sr_store_cq_flags(r, true);
	sr_ring_fence();
	if (shm_ring_pending(&r->cq))
		sr_ring_bell(r->cq_efd);
}

int srl_rings_take(struct sr_client *c)
{
	struct sr_rings *r = &c->rings;
	uint32_t tail, kind, len;
	bool took = false;
	int total = 0, rc;

	if (c->error)
		return c->error;
	if (r->notify) {
		uint64_t n;

		/* Cleared before looking: a completion published after the
		 * look rings it again. */
		if (read(r->cq_efd, &n, sizeof(n)) < 0) {
			/* EAGAIN: not rung. */
		}
	}
	tail = shm_ring_tail(&r->cq);
	while ((rc = shm_ring_get(&r->cq, tail, r->rec, r->cq.max_record, &kind,
				  &len)) > 0) {
		size_t n;
		int ret;

		took = true;
		if (kind != SR_RING_REC_COMPLETIONS)
			return srl_fail(c, -EPROTO);
		wire_arena_reset(&c->unpack);
		if (batch_decode_completions(r->rec, len, &c->unpack, c->comps,
					     BATCH_MAX_OPS, &n))
			return srl_fail(c, -EPROTO);
		ret = srl_take_decoded(c, c->comps, n);
		if (ret)
			return ret;
		total += (int)n;
	}
	if (rc < 0)
		return srl_fail(c, -EPROTO);
	if (!took)
		return 0;
	shm_ring_release(&r->cq);
	/* The clock only when a wait is to be learned: not at every take
	 * of a client that keeps the daemon busy. */
	if (spin_waiting(&c->spin))
		spin_wait_end(&c->spin, spin_now_us());
	/* The daemon may hold completions that waited for this room. */
	sr_wake_daemon(c, SR_RING_SQ_CQ_WAIT);
	return total ? total : 1;
}

int srl_rings_send(struct sr_client *c, const struct op_request *ops,
		   unsigned n, bool wait)
{
	struct sr_rings *r = &c->rings;
	size_t len;
	int ret;

	if (c->error)
		return c->error;
	ret = batch_encode_ops(c->enc, ops, n, r->rec, r->sq.max_record, &len);
	if (ret)
		return ret;
	/* Full: the daemon is behind, or waits for us to take completions
	 * (they go to our queue, which has room for all of them). */
	while (!shm_ring_room(&r->sq, (uint32_t)len)) {
		struct pollfd p = { .fd = c->sock, .events = POLLIN };

		srl_local_kick(c);
		ret = srl_rings_take(c);
		if (ret < 0)
			return ret;
		sr_wake_daemon(c, SR_RING_SQ_NEED_WAKEUP);
		if (!wait) {
			/* Dekker with the daemon's freeing of room: flag,
			 * fence, look once more; it rings our doorbell, so
			 * sr_fd says when to try again. */
			r->sq_wait = true;
			sr_store_cq_flags(r, false);
			sr_ring_fence();
			if (shm_ring_room(&r->sq, (uint32_t)len))
				break;
			return -EAGAIN;
		}
		/* Give it the CPU; the socket says if the session ended. */
		if (c->local)
			continue; /* it runs in our calls: kicked above */
		if (poll(&p, 1, 1) > 0) {
			ret = srl_pump(c, false, NULL);
			if (ret < 0 && ret != -EAGAIN)
				return ret;
		}
	}
	if (r->sq_wait) {
		r->sq_wait = false;
		sr_store_cq_flags(r, false);
	}
	shm_ring_put(&r->sq, SR_RING_REC_OPS, r->rec, (uint32_t)len);
	shm_ring_publish(&r->sq);
	sr_wake_daemon(c, SR_RING_SQ_NEED_WAKEUP);
	srl_local_kick(c);
	return 0;
}

bool srl_rings_spin(struct sr_client *c)
{
	struct sr_rings *r = &c->rings;
	uint64_t start = spin_now_us(), now;

	spin_wait_begin(&c->spin, start);
	if (!c->spin_us || spin_backing_off(&c->spin, start) ||
	    !spin_worth(&c->spin, c->spin_us, start))
		return false;
	spin_worked(&c->spin); /* the time before this spin was ours */
	for (;;) {
		/* In-process: spinning is running its loop. */
		srl_local_kick(c);
		for (int i = 0; i < 64; i++) {
			if (shm_ring_pending(&r->cq))
				return true;
			spin_relax();
		}
		now = spin_now_us();
		if (now - start >= c->spin_us || spin_idle(&c->spin, now))
			return shm_ring_pending(&r->cq);
	}
}

bool srl_rings_sleep_begin(struct sr_client *c)
{
	struct sr_rings *r = &c->rings;

	/* Dekker with the daemon's publish: flag, fence, look once more. */
	r->sleeping = true;
	sr_store_cq_flags(r, true);
	sr_ring_fence();
	return shm_ring_pending(&r->cq);
}

void srl_rings_sleep_end(struct sr_client *c)
{
	struct sr_rings *r = &c->rings;
	uint64_t n;

	r->sleeping = false;
	if (read(r->cq_efd, &n, sizeof(n)) < 0) {
		/* EAGAIN: not rung, or someone else took it. */
	}
	if (!r->notify)
		sr_store_cq_flags(r, false);
}

int srl_rings_sleep(struct sr_client *c, const struct timespec *ts)
{
	struct sr_rings *r = &c->rings;
	struct pollfd p[2] = {
		{ .fd = r->cq_efd, .events = POLLIN },
		{ .fd = c->sock, .events = POLLIN },
	};
	uint64_t n;
	int ret = 0;

	/* Dekker with the daemon's publish: flag, fence, look once more. */
	sr_store_cq_flags(r, true);
	sr_ring_fence();
	if (!shm_ring_pending(&r->cq)) {
		int rc = srl_ppoll(c, p, 2, ts);

		if (rc < 0)
			ret = rc;
		else if (rc == 0)
			ret = -ETIME;
		if ((p[0].revents & POLLIN) &&
		    read(r->cq_efd, &n, sizeof(n)) < 0) {
			/* EAGAIN: someone else took it. */
		}
	}
	if (!r->notify)
		sr_store_cq_flags(r, false);
	return ret;
}
