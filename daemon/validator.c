/* SPDX-License-Identifier: MIT */
/*
 * validator.c - the single gate between a client's request and the
 * kernel.
 *
 * Every field of a request is client-controlled; only the slot table, the
 * fd registry and the session's limits are trusted.  validate_op() must
 * stay pure (no writes, no allocation, no system calls) and must check in
 * the order validator.h documents, answering the first failure, so that a
 * verdict is the same whoever computes it.
 */
#include <errno.h>

#include "validator.h"

/* What each opcode takes; anything else present is MALFORMED. */
struct op_spec {
	uint32_t flags;
	bool fd;
	bool slot;
	bool file_offset;
};

static const struct op_spec op_specs[VALIDATOR_OPCODE_COUNT] = {
	[SR_OP_NOP] = { .flags = 0 },
	[SR_OP_READ] = { .flags = 0, .fd = true, .slot = true,
			 .file_offset = true },
	[SR_OP_WRITE] = { .flags = 0, .fd = true, .slot = true,
			  .file_offset = true },
	[SR_OP_FSYNC] = { .flags = SR_FSYNC_DATASYNC, .fd = true },
};

static enum sr_status check_fd(const struct fd_registry *fds,
			       const struct op_request *op)
{
	switch (fd_registry_lookup(fds, op->fd_index, op->fd_generation)) {
	case 0:
		return SR_STATUS_OK;
	case -ESTALE:
		return SR_STATUS_STALE_HANDLE;
	default:
		return SR_STATUS_BAD_HANDLE;
	}
}

static enum sr_status check_slot(const struct slot_table *slots,
				 const struct op_request *op)
{
	const struct slot *s = slot_table_get(slots, op->slot_index);

	if (!s)
		return SR_STATUS_BAD_SLOT;
	/* State before generation: a slot the kernel holds is busy whatever
	 * generation the client believes it has. */
	if (s->state != SLOT_AVAILABLE)
		return SR_STATUS_BUFFER_IN_FLIGHT;
	if (s->generation != op->slot_generation)
		return SR_STATUS_STALE_GENERATION;
	/* Written so that no sum of client values can wrap. */
	if (op->slot_offset > slots->size ||
	    op->slot_length > slots->size - op->slot_offset)
		return SR_STATUS_OUT_OF_BOUNDS;
	return SR_STATUS_OK;
}

enum sr_status validate_op(const struct validator_view *v,
			   const struct op_request *op)
{
	const struct op_spec *spec;
	enum sr_status st;

	/* Bounds the shift below and the op_specs index. */
	if (op->opcode >= VALIDATOR_OPCODE_COUNT)
		return SR_STATUS_UNKNOWN_OP;
	if (!(v->allowed_ops & (1ULL << op->opcode)))
		return SR_STATUS_NOT_PERMITTED;
	if (v->in_flight >= v->max_in_flight)
		return SR_STATUS_QUOTA;

	spec = &op_specs[op->opcode];
	if (op->flags & ~spec->flags)
		return SR_STATUS_BAD_FLAGS;
	if (op->has_fd != spec->fd || op->has_slot != spec->slot ||
	    op->has_file_offset != spec->file_offset)
		return SR_STATUS_MALFORMED;

	if (op->has_fd) {
		st = check_fd(v->fds, op);
		if (st != SR_STATUS_OK)
			return st;
	}
	if (op->has_slot) {
		st = check_slot(v->slots, op);
		if (st != SR_STATUS_OK)
			return st;
	}
	/* The kernel takes a signed loff_t. */
	if (op->has_file_offset && op->file_offset > INT64_MAX)
		return SR_STATUS_OUT_OF_BOUNDS;
	return SR_STATUS_OK;
}
