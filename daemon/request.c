/* SPDX-License-Identifier: MIT */
/*
 * request.c - see request.h.
 */
#include "request.h"

#include <string.h>

static void slot_ref_from_wire(const Saferring__SlotRef *w,
			       struct op_slot_ref *ref)
{
	*ref = (struct op_slot_ref){
		.index = w->index,
		.generation = w->generation,
		.offset = w->offset,
		.length = w->length,
	};
}

void request_from_wire(const Saferring__Op *op, struct op_request *req)
{
	memset(req, 0, sizeof(*req));
	req->tag = op->tag;
	req->opcode = op->opcode;
	req->flags = op->has_flags ? op->flags : 0;
	req->link = op->has_link ? op->link : 0;
	req->has_file_offset = op->has_file_offset;
	req->file_offset = op->file_offset;
	req->has_length = op->has_length;
	req->length = op->length;
	req->has_timeout = op->has_timeout_ns;
	req->timeout_ns = op->timeout_ns;
	req->has_target = op->has_target;
	req->target = op->target;
	req->has_msg_flags = op->has_msg_flags;
	req->msg_flags = op->msg_flags;
	if (op->fd) {
		req->has_fd = true;
		req->fd_index = op->fd->index;
		req->fd_generation = op->fd->generation;
	}
	if (op->slot) {
		struct op_slot_ref ref;

		slot_ref_from_wire(op->slot, &ref);
		req->has_slot = true;
		req->slot_index = ref.index;
		req->slot_generation = ref.generation;
		req->slot_offset = ref.offset;
		req->slot_length = ref.length;
	}
	/* The count as sent, so that too many is refused, not cut. */
	req->n_iov = op->n_iov > UINT32_MAX ? UINT32_MAX : (uint32_t)op->n_iov;
	for (size_t i = 0; i < op->n_iov && i < VALIDATOR_MAX_IOV; i++)
		slot_ref_from_wire(op->iov[i], &req->iov[i]);
	if (op->has_addr) {
		req->has_addr = true;
		req->addr_len = op->addr.len > UINT32_MAX ? UINT32_MAX :
				(uint32_t)op->addr.len;
		req->addr = op->addr.data;
	}
}
