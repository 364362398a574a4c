/* SPDX-License-Identifier: MIT */
/*
 * cqe.c - takes the daemon's completions in (checking each against the
 * operation its tag names), hands slots and accepted handles over,
 * queues completions in a ring, and lets the caller peek and wait.
 *
 * Must never accept a completion for a tag that is not in flight, a slot
 * the operation did not name (or, for a pool receive, a slot not in the
 * pool), a slot handed back while another operation still names it, a
 * handle the library holds live, or a byte count larger than was asked
 * for: any of those ends the session (-EPROTO).
 */
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

/* Whether this completion drops the last operation naming op->slots[i]:
 * then, and only then, the daemon hands the slot back with it. */
static bool sr_slot_returns(const struct sr_client *c, const struct sr_op *op,
			    unsigned i)
{
	return c->slots[op->slots[i]].refs == 1;
}

static int sr_check_slots_back(const struct sr_client *c,
			       const struct sr_op *op,
			       const struct op_completion *cc)
{
	size_t n = 0;

	if (op->opcode == SR_OP_PROVIDE)
		return cc->has_slot || cc->n_slots ? -EPROTO : 0;
	if (op->multishot) {
		/* A pool receive hands over a slot that is in the pool. */
		if (cc->n_slots)
			return -EPROTO;
		if (cc->has_slot &&
		    (cc->slot_index >= c->lim.slot_count ||
		     c->slots[cc->slot_index].state != SR_SLOT_POOLED ||
		     (cc->result > 0 &&
		      (uint32_t)cc->result > c->lim.slot_size)))
			return -EPROTO;
		return 0;
	}
	if (op->vectored) {
		if (cc->has_slot)
			return -EPROTO;
		for (unsigned i = 0; i < op->nslots; i++) {
			if (!sr_slot_returns(c, op, i))
				continue;
			if (n >= cc->n_slots ||
			    cc->slots[n].index != (uint32_t)op->slots[i])
				return -EPROTO;
			n++;
		}
		return n == cc->n_slots ? 0 : -EPROTO;
	}
	bool back = op->nslots && sr_slot_returns(c, op, 0);
	if (cc->n_slots || cc->has_slot != back ||
	    (back && cc->slot_index != (uint32_t)op->slots[0]))
		return -EPROTO;
	return 0;
}

static int sr_check_completion(const struct sr_client *c,
			       const struct op_completion *cc)
{
	const struct sr_op *op;
	uint32_t flags = cc->flags;

	if (cc->tag >= c->lim.max_in_flight)
		return -EPROTO;
	op = &c->ops[cc->tag];
	if (op->state != SR_OP_SENT)
		return -EPROTO;
	if (cc->status != SR_STATUS_OK)
		return cc->result < 0 && !cc->has_slot && !cc->n_slots &&
		       !cc->has_handle && !(flags & SR_CQE_F_MORE) ?
		       0 : -EPROTO;
	if ((flags & SR_CQE_F_MORE) && !op->multishot)
		return -EPROTO;
	if (sr_check_slots_back(c, op, cc))
		return -EPROTO;
	/* An accept succeeds with a handle, one the library does not hold. */
	if (op->opcode == SR_OP_ACCEPT) {
		if ((cc->result >= 0) != cc->has_handle)
			return -EPROTO;
		if (cc->has_handle &&
		    (cc->handle_index >= c->fd_table_size ||
		     cc->handle_index > INT32_MAX ||
		     c->handles[cc->handle_index].state == SR_HANDLE_LIVE))
			return -EPROTO;
	} else if (cc->has_handle) {
		return -EPROTO;
	}
	if (op->len && cc->result > 0 && (uint64_t)cc->result > op->len)
		return -EPROTO;
	return 0;
}

/* Every slot the operation named goes back to the caller once nothing
 * else names it; a refused PROVIDE leaves its slot with the caller. */
static void sr_release_slots(struct sr_client *c, const struct sr_op *op,
			     const struct op_completion *cc)
{
	size_t n = 0;

	for (unsigned i = 0; i < op->nslots; i++) {
		struct sr_slot *s = &c->slots[op->slots[i]];

		if (op->opcode == SR_OP_PROVIDE) {
			if (cc->status != SR_STATUS_OK)
				s->state = SR_SLOT_ACQUIRED;
			continue;
		}
		if (!slot_pool_put_back(s))
			continue;
		if (cc->status != SR_STATUS_OK)
			continue;
		if (op->vectored)
			s->generation = cc->slots[n++].generation;
		else
			s->generation = cc->slot_generation;
	}
}

static int sr_take_one(struct sr_client *c, const struct op_completion *cc)
{
	struct sr_op *op = &c->ops[cc->tag];
	struct sr_cqe cqe = {
		.user_data = op->user_data,
		.res = cc->result,
		.flags = cc->flags,
		.status = cc->status,
		.slot = SR_SLOT(op->nslots && op->opcode != SR_OP_PROVIDE ?
				op->slots[0] : -1),
		.handle = SR_HANDLE_NONE,
	};
	bool last = !(cqe.flags & SR_CQE_F_MORE);

	if (op->multishot && cc->has_slot) {
		struct sr_slot *s = &c->slots[cc->slot_index];

		s->state = SR_SLOT_ACQUIRED;
		s->generation = cc->slot_generation;
		cqe.slot = SR_SLOT(cc->slot_index);
	}
	if (cc->has_handle) {
		c->handles[cc->handle_index] = (struct sr_handle){
			.generation = cc->handle_generation,
			.state = SR_HANDLE_LIVE,
			.fd = -1,
		};
		cqe.handle = SR_HANDLE(cc->handle_index);
	}
	if (op->opcode == SR_OP_CLOSE) {
		struct sr_handle *h = &c->handles[op->handle];

		/* Unless a later register took the index back already. */
		if (h->state == SR_HANDLE_CLOSING &&
		    h->generation == op->handle_generation) {
			h->state = cc->status == SR_STATUS_OK ?
				   SR_HANDLE_DEAD : SR_HANDLE_LIVE;
			if (h->state == SR_HANDLE_DEAD)
				srl_inline_forget(c, op->handle);
		}
	}
	if (last) {
		sr_release_slots(c, op, cc);
		op->state = SR_OP_FREE;
		c->op_free[c->op_nfree++] = (uint32_t)cc->tag;
	}

	if (op->internal) {
		op->sync->cqe = cqe;
		op->sync->done = true;
		c->in_flight--;
		if (c->ts)
			srl_ts_kick(c);
		return 0;
	}
	/* Bounded by cq_cap unless the caller closes handles it has not
	 * reaped the accept of yet; then the session cannot go on. */
	if (c->cq_len >= c->cq_cap)
		return srl_fail(c, -EOVERFLOW);
	unsigned at = (c->cq_head + c->cq_len) % c->cq_cap;

	c->cq[at] = cqe;
	c->cq_cb[at] = (struct sr_cq_cb){ .fn = op->cb, .arg = op->cb_arg };
	c->cq_len++;
	srl_ready_update(c);
	if (c->ts)
		srl_ts_kick(c);
	return 0;
}

int srl_take_decoded(struct sr_client *c, const struct op_completion *cc,
		     size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int ret;

		if (sr_check_completion(c, &cc[i]))
			return srl_fail(c, -EPROTO);
		ret = sr_take_one(c, &cc[i]);
		if (ret)
			return ret;
	}
	return 0;
}

/* A nested Completion in decoded form; -EPROTO for one no daemon sends. */
static int sr_from_wire(const Saferring__Completion *w,
			struct op_completion *cc)
{
	if (w->has_slot_index != w->has_slot_generation ||
	    w->n_slots > OP_MAX_IOV)
		return -EPROTO;
	*cc = (struct op_completion){
		.tag = w->tag,
		.status = w->status,
		.result = w->result,
		.flags = w->has_flags ? w->flags : 0,
		.has_slot = w->has_slot_index,
		.slot_index = w->slot_index,
		.slot_generation = w->slot_generation,
		.has_handle = w->handle != NULL,
		.handle_index = w->handle ? w->handle->index : 0,
		.handle_generation = w->handle ? w->handle->generation : 0,
		.n_slots = (uint32_t)w->n_slots,
	};
	for (size_t i = 0; i < w->n_slots; i++)
		cc->slots[i] = (struct op_slot_back){
			.index = w->slots[i]->index,
			.generation = w->slots[i]->generation,
		};
	return 0;
}

int srl_take_completions(struct sr_client *c,
			 const Saferring__Completions *cs)
{
	for (size_t i = 0; i < cs->n_completions; i++) {
		struct op_completion cc;
		int ret;

		if (sr_from_wire(cs->completions[i], &cc))
			return srl_fail(c, -EPROTO);
		ret = srl_take_decoded(c, &cc, 1);
		if (ret)
			return ret;
	}
	return 0;
}

void srl_ready_update(struct sr_client *c)
{
	bool want = c->cq_len || c->error;
	uint64_t n = 1;

	if (c->ready_efd < 0 || want == c->ready_on)
		return;
	/* Only on the edges: a system call per batch, not per completion.
	 * Neither can fail on a nonblocking eventfd whose counter is 0 or 1
	 * as we keep it. */
	if (want && write(c->ready_efd, &n, sizeof(n)) < 0)
		return;
	if (!want && read(c->ready_efd, &n, sizeof(n)) < 0)
		return;
	c->ready_on = want;
}

static void sr_cq_pop(struct sr_client *c, struct sr_cqe *cqe,
		      struct sr_cq_cb *cb)
{
	*cqe = c->cq[c->cq_head];
	if (cb)
		*cb = c->cq_cb[c->cq_head];
	c->cq_head = (c->cq_head + 1) % c->cq_cap;
	c->cq_len--;
	/* A multishot operation stays in flight until its last completion. */
	if (!(cqe->flags & SR_CQE_F_MORE))
		c->in_flight--;
	srl_ready_update(c);
}

/* Take in every completion that has arrived, without waiting.  0, or the
 * session's error. */
static int sr_take_arrived(struct sr_client *c)
{
	int ret;

	do
		ret = srl_pump(c, false, NULL);
	while (ret == 0);
	return ret == -EAGAIN ? 0 : ret;
}

/* Whether @more completions not queued yet can still come: each
 * operation sent whose last completion is not queued gives one at
 * least, a multishot one any number. */
static bool sr_can_come(const struct sr_client *c, unsigned more)
{
	unsigned last_queued = 0, pending;

	for (unsigned i = 0; i < c->cq_len; i++)
		if (!(c->cq[(c->cq_head + i) % c->cq_cap].flags &
		      SR_CQE_F_MORE))
			last_queued++;
	pending = c->in_flight - last_queued;
	if (pending >= more)
		return true;
	for (uint32_t t = 0; pending && t < c->lim.max_in_flight; t++)
		if (c->ops[t].state == SR_OP_SENT && c->ops[t].multishot)
			return true;
	return false;
}

/* Wait until @want completions are queued, for @timeout_ns at most (-1:
 * no limit).  0, -ETIME, -ENODATA when they cannot all come, -errno. */
static int sr_wait_ready(struct sr_client *c, unsigned want,
			 int64_t timeout_ns)
{
	struct timespec now;
	int64_t deadline = 0, left = -1;
	int ret;

	if (timeout_ns >= 0) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		deadline = now.tv_sec * 1000000000LL + now.tv_nsec + timeout_ns;
	}
	for (;;) {
		ret = sr_take_arrived(c);
		if (c->cq_len >= want)
			return 0;
		if (ret)
			return ret;
		if (!sr_can_come(c, want - c->cq_len))
			return -ENODATA;
		if (timeout_ns >= 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			left = deadline - (now.tv_sec * 1000000000LL +
					   now.tv_nsec);
			if (left <= 0)
				return -ETIME;
		}
		ret = srl_wait_event(c, left);
		/* -ETIME: one more look, then the deadline answers. */
		if (ret && ret != -ETIME)
			return ret;
	}
}

int sr_cq_ready(struct sr_client *c)
{
	int ret;

	if (!c)
		return -EINVAL;
	srl_lock(c);
	ret = sr_take_arrived(c);
	if (c->cq_len)
		ret = (int)c->cq_len;
	srl_unlock(c);
	return ret;
}

int sr_wait_cqe_timeout(struct sr_client *c, struct sr_cqe *cqe,
			uint64_t timeout_ns)
{
	int ret;

	if (!c || !cqe)
		return -EINVAL;
	srl_lock(c);
	ret = sr_wait_ready(c, 1, timeout_ns > INT64_MAX ? INT64_MAX :
				  (int64_t)timeout_ns);
	if (!ret)
		sr_cq_pop(c, cqe, NULL);
	srl_unlock(c);
	return ret;
}

int sr_submit_and_wait(struct sr_client *c, unsigned wait_nr)
{
	int sent, ret;

	if (!c)
		return -EINVAL;
	srl_lock(c);
	sent = srl_submit(c, true);
	/* Shared by threads, the ready ones may be any thread's. */
	ret = sent < 0 || !wait_nr ? 0 : sr_wait_ready(c, wait_nr, -1);
	srl_unlock(c);
	return ret ? ret : sent;
}

int sr_dispatch(struct sr_client *c, unsigned max)
{
	unsigned n, done = 0;
	int ret;

	if (!c)
		return -EINVAL;
	srl_lock(c);
	ret = sr_take_arrived(c);
	/* Only what is ready now: a callback whose operations complete at
	 * once (an inline read) must not keep this call going for ever. */
	n = max && max < c->cq_len ? max : c->cq_len;
	while (done < n && c->cq_len && c->cq_cb[c->cq_head].fn) {
		struct sr_cqe cqe;
		struct sr_cq_cb cb;

		/* Popped first: the callback may reuse the slot, the
		 * handle, and the queue. */
		sr_cq_pop(c, &cqe, &cb);
		/* Without the lock: the callback calls the library. */
		srl_unlock(c);
		cb.fn(c, &cqe, cb.arg);
		srl_lock(c);
		done++;
	}
	srl_unlock(c);
	return done || !ret ? (int)done : ret;
}

int sr_peek_cqe(struct sr_client *c, struct sr_cqe *cqe)
{
	int ret = 0;

	srl_lock(c);
	while (!c->cq_len && (ret = srl_pump(c, false, NULL)) >= 0)
		;
	if (ret >= 0) {
		sr_cq_pop(c, cqe, NULL);
		ret = 0;
	}
	srl_unlock(c);
	return ret;
}

static int sr_wait_cqes_locked(struct sr_client *c, struct sr_cqe *cqes,
			       unsigned max, unsigned min)
{
	unsigned n = 0;
	bool wait;
	int ret;

	while (n < max) {
		if (c->cq_len) {
			sr_cq_pop(c, &cqes[n++], NULL);
			continue;
		}
		wait = n < min;
		if (wait && !c->in_flight)
			return n ? (int)n : -ENODATA;
		ret = wait ? srl_pump_wait(c) : srl_pump(c, false, NULL);
		if (ret < 0) {
			if (n || ret == -EAGAIN)
				return (int)n;
			return ret;
		}
	}
	return (int)n;
}

int sr_wait_cqes(struct sr_client *c, struct sr_cqe *cqes, unsigned max,
		 unsigned min)
{
	int ret;

	srl_lock(c);
	ret = sr_wait_cqes_locked(c, cqes, max, min);
	srl_unlock(c);
	return ret;
}

int sr_wait_cqe(struct sr_client *c, struct sr_cqe *cqe)
{
	int ret = sr_wait_cqes(c, cqe, 1, 1);

	return ret < 0 ? ret : 0;
}
