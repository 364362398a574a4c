/* SPDX-License-Identifier: MIT */
/*
 * batch.c - builds operations (sr_prep_*), each under an internal tag that
 * indexes c->ops, and sends them as one Submit (sr_submit).
 *
 * Must never put on the wire an operation the library already knows is
 * wrong (bad slot, range or handle), never let prepared plus unreaped
 * operations exceed max_in_flight, and never send a batch over max_batch.
 */
#include <errno.h>

#include "client.h"

static bool sr_op_takes_slot(uint32_t opcode)
{
	return opcode == SR_OP_READ || opcode == SR_OP_WRITE;
}

/* Check @r, take a tag for it and fill @w.  The slot it names becomes
 * IN_FLIGHT until its completion arrives. */
int srl_op_prepare(struct sr_client *c, const struct sr_op_req *r,
		  bool internal, struct sr_wire_op *w)
{
	const struct sr_handle *h = NULL;
	struct sr_slot *s = NULL;
	struct sr_op *op;
	uint32_t tag;

	if (c->error)
		return c->error;
	if (c->in_flight + c->nbatch >= c->lim.max_in_flight || !c->op_nfree)
		return -ENOSPC;

	if (r->opcode != SR_OP_NOP) {
		if (r->handle < 0 || (uint32_t)r->handle >= c->lim.max_fds ||
		    !c->handles[r->handle].live)
			return -EINVAL;
		h = &c->handles[r->handle];
	}
	if (r->opcode == SR_OP_FSYNC && (r->flags & ~SR_FSYNC_DATASYNC))
		return -EINVAL;
	if (sr_op_takes_slot(r->opcode)) {
		if (r->slot < 0 || (uint32_t)r->slot >= c->lim.slot_count ||
		    (uint64_t)r->slot_offset + r->len > c->lim.slot_size ||
		    r->file_offset > INT64_MAX)
			return -EINVAL;
		s = &c->slots[r->slot];
		if (s->state == SR_SLOT_FREE)
			return -EINVAL;
		if (s->state != SR_SLOT_ACQUIRED)
			return -EBUSY;
	}

	tag = c->op_free[--c->op_nfree];
	op = &c->ops[tag];
	*op = (struct sr_op){
		.user_data = r->user_data,
		.slot = s ? r->slot : -1,
		.len = s ? r->len : 0,
		.opcode = r->opcode,
		.state = SR_OP_BATCHED,
		.internal = internal,
	};

	saferring__op__init(&w->op);
	w->op.tag = tag;
	w->op.opcode = r->opcode;
	if (h) {
		saferring__fd_handle__init(&w->fd);
		w->fd.index = (uint32_t)r->handle;
		w->fd.generation = h->generation;
		w->op.fd = &w->fd;
	}
	if (s) {
		saferring__slot_ref__init(&w->slot);
		w->slot.index = (uint32_t)r->slot;
		w->slot.generation = s->generation;
		w->slot.offset = r->slot_offset;
		w->slot.length = r->len;
		w->op.slot = &w->slot;
		w->op.has_file_offset = 1;
		w->op.file_offset = r->file_offset;
		s->state = SR_SLOT_IN_FLIGHT;
	}
	if (r->flags) {
		w->op.has_flags = 1;
		w->op.flags = r->flags;
	}
	return 0;
}

/* Forget a prepared operation that was never sent. */
void srl_op_drop(struct sr_client *c, uint32_t tag)
{
	struct sr_op *op = &c->ops[tag];

	if (op->slot >= 0)
		c->slots[op->slot].state = SR_SLOT_ACQUIRED;
	op->state = SR_OP_FREE;
	c->op_free[c->op_nfree++] = tag;
}

/* Send @n prepared operations as one Submit; on success they are in
 * flight.  On failure nothing was sent and they stay prepared. */
int srl_send_ops(struct sr_client *c, Saferring__Op **ops, unsigned n)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__Submit submit = SAFERRING__SUBMIT__INIT;
	int ret;

	submit.n_ops = n;
	submit.ops = ops;
	req.body_case = SAFERRING__REQUEST__BODY_SUBMIT;
	req.submit = &submit;
	ret = srl_send_msg(c, &req.base, -1);
	if (ret)
		return ret;
	for (unsigned i = 0; i < n; i++)
		c->ops[ops[i]->tag].state = SR_OP_SENT;
	c->in_flight += n;
	return 0;
}

static int sr_prep(struct sr_client *c, const struct sr_op_req *r)
{
	int ret;

	if (c->nbatch >= c->lim.max_batch)
		return -ENOSPC;
	ret = srl_op_prepare(c, r, false, &c->batch[c->nbatch]);
	if (ret)
		return ret;
	c->batch_ptrs[c->nbatch] = &c->batch[c->nbatch].op;
	c->nbatch++;
	return 0;
}

int sr_prep_nop(struct sr_client *c, uint64_t user_data)
{
	struct sr_op_req r = { .user_data = user_data, .opcode = SR_OP_NOP };

	return sr_prep(c, &r);
}

int sr_prep_read(struct sr_client *c, uint64_t user_data, int handle,
		 int slot, uint32_t slot_offset, uint32_t len,
		 uint64_t file_offset)
{
	struct sr_op_req r = {
		.user_data = user_data, .opcode = SR_OP_READ,
		.handle = handle, .slot = slot, .slot_offset = slot_offset,
		.len = len, .file_offset = file_offset,
	};

	return sr_prep(c, &r);
}

int sr_prep_write(struct sr_client *c, uint64_t user_data, int handle,
		  int slot, uint32_t slot_offset, uint32_t len,
		  uint64_t file_offset)
{
	struct sr_op_req r = {
		.user_data = user_data, .opcode = SR_OP_WRITE,
		.handle = handle, .slot = slot, .slot_offset = slot_offset,
		.len = len, .file_offset = file_offset,
	};

	return sr_prep(c, &r);
}

int sr_prep_fsync(struct sr_client *c, uint64_t user_data, int handle,
		  uint32_t fsync_flags)
{
	struct sr_op_req r = {
		.user_data = user_data, .opcode = SR_OP_FSYNC,
		.handle = handle, .flags = fsync_flags,
	};

	return sr_prep(c, &r);
}

int sr_submit(struct sr_client *c)
{
	unsigned n = c->nbatch;
	int ret;

	if (!n)
		return c->error;
	ret = srl_send_ops(c, c->batch_ptrs, n);
	if (ret)
		return ret;
	c->nbatch = 0;
	return (int)n;
}

unsigned sr_in_flight(const struct sr_client *c)
{
	return c->in_flight;
}
