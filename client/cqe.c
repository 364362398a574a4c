/* SPDX-License-Identifier: MIT */
/*
 * cqe.c - takes the daemon's completions in (checking each against the
 * operation its tag names), hands slots back, queues completions in a
 * ring of max_in_flight entries, and lets the caller peek and wait.
 *
 * Must never accept a completion for a tag that is not in flight, a slot
 * the operation did not name, or a byte count larger than was asked for:
 * any of those ends the session (-EPROTO).
 */
#include <errno.h>

#include "client.h"

static int sr_check_completion(const struct sr_client *c,
			       const Saferring__Completion *cc)
{
	const struct sr_op *op;
	bool slot_back;

	if (cc->tag >= c->lim.max_in_flight)
		return -EPROTO;
	op = &c->ops[cc->tag];
	if (op->state != SR_OP_SENT)
		return -EPROTO;
	if (cc->status != SR_STATUS_OK)
		return cc->result < 0 && !cc->has_slot_index &&
		       !cc->has_slot_generation ? 0 : -EPROTO;
	slot_back = op->slot >= 0;
	if (cc->has_slot_index != slot_back ||
	    cc->has_slot_generation != slot_back ||
	    (slot_back && cc->slot_index != (uint32_t)op->slot))
		return -EPROTO;
	if ((op->opcode == SR_OP_READ || op->opcode == SR_OP_WRITE) &&
	    cc->result > 0 && (uint32_t)cc->result > op->len)
		return -EPROTO;
	return 0;
}

static void sr_take_one(struct sr_client *c, const Saferring__Completion *cc)
{
	struct sr_op *op = &c->ops[cc->tag];
	struct sr_cqe cqe = {
		.user_data = op->user_data,
		.res = cc->result,
		.flags = cc->has_flags ? cc->flags : 0,
		.status = cc->status,
		.slot = op->slot,
	};

	if (op->slot >= 0) {
		c->slots[op->slot].state = SR_SLOT_ACQUIRED;
		if (cc->has_slot_generation)
			c->slots[op->slot].generation = cc->slot_generation;
	}
	op->state = SR_OP_FREE;
	c->op_free[c->op_nfree++] = (uint32_t)cc->tag;

	if (op->internal) {
		c->sync_cqe = cqe;
		c->sync_done = true;
		c->in_flight--;
		return;
	}
	c->cq[(c->cq_head + c->cq_len) % c->lim.max_in_flight] = cqe;
	c->cq_len++;
}

int srl_take_completions(struct sr_client *c,
			 const Saferring__Completions *cs)
{
	for (size_t i = 0; i < cs->n_completions; i++) {
		const Saferring__Completion *cc = cs->completions[i];

		/* Sent operations have a tag each, so the ring (one entry
		 * per tag) cannot overflow once the tag checks out. */
		if (sr_check_completion(c, cc))
			return srl_fail(c, -EPROTO);
		sr_take_one(c, cc);
	}
	return 0;
}

static void sr_cq_pop(struct sr_client *c, struct sr_cqe *cqe)
{
	*cqe = c->cq[c->cq_head];
	c->cq_head = (c->cq_head + 1) % c->lim.max_in_flight;
	c->cq_len--;
	c->in_flight--;
}

int sr_peek_cqe(struct sr_client *c, struct sr_cqe *cqe)
{
	int ret;

	while (!c->cq_len) {
		ret = srl_pump(c, false, NULL);
		if (ret < 0)
			return ret;
	}
	sr_cq_pop(c, cqe);
	return 0;
}

int sr_wait_cqes(struct sr_client *c, struct sr_cqe *cqes, unsigned max,
		 unsigned min)
{
	unsigned n = 0;
	bool wait;
	int ret;

	while (n < max) {
		if (c->cq_len) {
			sr_cq_pop(c, &cqes[n++]);
			continue;
		}
		wait = n < min;
		if (wait && !c->in_flight)
			return n ? (int)n : -ENODATA;
		ret = srl_pump(c, wait, NULL);
		if (ret < 0) {
			if (n || ret == -EAGAIN)
				return (int)n;
			return ret;
		}
	}
	return (int)n;
}

int sr_wait_cqe(struct sr_client *c, struct sr_cqe *cqe)
{
	int ret = sr_wait_cqes(c, cqe, 1, 1);

	return ret < 0 ? ret : 0;
}
