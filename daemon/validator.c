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
#include <linux/falloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "validator.h"

#include "op_table.h"

#include "admission.h"

_Static_assert(SR_POLL_EVENTS == (POLLIN | POLLPRI | POLLOUT | POLLERR |
				  POLLHUP | POLLRDHUP),
	       "SR_POLL_EVENTS must be the poll(2) bits it documents");
_Static_assert(SR_FALLOC_KEEP_SIZE == FALLOC_FL_KEEP_SIZE &&
	       SR_FALLOC_PUNCH_HOLE == FALLOC_FL_PUNCH_HOLE &&
	       SR_FALLOC_ZERO_RANGE == FALLOC_FL_ZERO_RANGE,
	       "SR_FALLOC_* must be the Linux FALLOC_FL_* values");

/* What each opcode takes and allows: its row of proto/op_table.h.
 * Anything present that the row does not take is MALFORMED. */
typedef struct op_info op_spec;

bool validator_takes_record(uint32_t opcode)
{
	const op_spec *spec = op_info(opcode);

	return spec && !spec->daemon;
}

bool validator_reserves_fd(const struct op_request *op)
{
	return op->opcode == SR_OP_ACCEPT &&
	       !(op->flags & SR_ACCEPT_MULTISHOT);
}

/* A multishot receive takes its buffers from the pool, never a slot. */
static uint8_t slot_rule(const op_spec *spec,
			 const struct op_request *op)
{
	if (op->opcode == SR_OP_RECV && (op->flags & SR_RECV_MULTISHOT))
		return OPF_NO;
	return spec->slot;
}

static bool field_ok(uint8_t rule, bool present)
{
	if (rule == OPF_OPT)
		return true;
	return present == (rule == OPF_REQ);
}

static enum sr_status check_flags(const op_spec *spec,
				  const struct op_request *op)
{
	if (op->flags & ~spec->flags)
		return SR_STATUS_BAD_FLAGS;
	switch (op->opcode) {
	case SR_OP_FALLOCATE:
		/* The kernel's own rules, answered precisely here. */
		if ((op->flags & SR_FALLOC_PUNCH_HOLE) &&
		    (!(op->flags & SR_FALLOC_KEEP_SIZE) ||
		     (op->flags & SR_FALLOC_ZERO_RANGE)))
			return SR_STATUS_BAD_FLAGS;
		break;
	case SR_OP_SHUTDOWN:
		if (op->flags > SHUT_RDWR)
			return SR_STATUS_BAD_FLAGS;
		break;
	default:
		break;
	}
	if (op->link > SR_LINK_HARD)
		return SR_STATUS_BAD_FLAGS;
	if (spec->msg != OPF_NO && op->has_msg_flags &&
	    (op->msg_flags & ~spec->msg_flags))
		return SR_STATUS_BAD_FLAGS;
	return SR_STATUS_OK;
}

static enum sr_status check_fields(const op_spec *spec,
				   const struct op_request *op)
{
	if (!field_ok(spec->fd, op->has_fd) ||
	    !field_ok(slot_rule(spec, op), op->has_slot) ||
	    !field_ok(spec->iov, op->n_iov > 0) ||
	    !field_ok(spec->file_offset, op->has_file_offset) ||
	    !field_ok(spec->length, op->has_length) ||
	    !field_ok(spec->timeout, op->has_timeout) ||
	    !field_ok(spec->target, op->has_target) ||
	    !field_ok(spec->addr, op->has_addr) ||
	    !field_ok(spec->msg, op->has_msg_flags))
		return SR_STATUS_MALFORMED;
	if (op->n_iov > VALIDATOR_MAX_IOV)
		return SR_STATUS_TOO_LARGE;
	return SR_STATUS_OK;
}

static enum sr_status check_chain(const struct validator_view *v,
				  const op_spec *spec,
				  const struct op_request *op)
{
	/* The daemon does these at once, outside the kernel's ordering. */
	if (spec->daemon && (op->link || v->follows_link))
		return SR_STATUS_BAD_CHAIN;
	/* The kernel ties a link timeout to the operation before it. */
	if (op->opcode == SR_OP_LINK_TIMEOUT &&
	    (!v->follows_link || v->prev_opcode == SR_OP_LINK_TIMEOUT))
		return SR_STATUS_BAD_CHAIN;
	return SR_STATUS_OK;
}

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
				 const struct op_slot_ref *ref)
{
	const struct slot *s = slot_table_get(slots, ref->index);

	if (!s)
		return SR_STATUS_BAD_SLOT;
	/* State before generation: a slot the kernel holds is busy whatever
	 * generation the client believes it has. */
	if (s->state != SLOT_AVAILABLE)
		return SR_STATUS_BUFFER_IN_FLIGHT;
	if (s->generation != ref->generation)
		return SR_STATUS_STALE_GENERATION;
	/* Written so that no sum of client values can wrap. */
	if (ref->offset > slots->size ||
	    ref->length > slots->size - ref->offset)
		return SR_STATUS_OUT_OF_BOUNDS;
	return SR_STATUS_OK;
}

static enum sr_status check_slots(const struct slot_table *slots,
				  const struct op_request *op)
{
	enum sr_status st;

	if (op->has_slot) {
		const struct op_slot_ref ref = {
			.index = op->slot_index,
			.generation = op->slot_generation,
			.offset = op->slot_offset,
			.length = op->slot_length,
		};

		st = check_slot(slots, &ref);
		if (st != SR_STATUS_OK)
			return st;
		/* The pool hands out whole slots. */
		if (op->opcode == SR_OP_PROVIDE &&
		    (ref.offset != 0 || ref.length != slots->size))
			return SR_STATUS_OUT_OF_BOUNDS;
	}
	/* check_fields refused more than fit; bounded again regardless. */
	for (uint32_t i = 0; i < op->n_iov && i < VALIDATOR_MAX_IOV; i++) {
		st = check_slot(slots, &op->iov[i]);
		if (st != SR_STATUS_OK)
			return st;
		/* One operation, one use of a slot: two ranges of the same
		 * slot would make it in flight twice at once. */
		for (uint32_t j = 0; j < i; j++)
			if (op->iov[j].index == op->iov[i].index)
				return SR_STATUS_BUFFER_IN_FLIGHT;
	}
	return SR_STATUS_OK;
}

static enum sr_status check_ranges(const struct op_request *op)
{
	/* The kernel takes a signed loff_t. */
	if (op->has_file_offset && op->file_offset > INT64_MAX)
		return SR_STATUS_OUT_OF_BOUNDS;
	if (op->has_length &&
	    op->length > (uint64_t)INT64_MAX - op->file_offset)
		return SR_STATUS_OUT_OF_BOUNDS;
	return SR_STATUS_OK;
}

/* What the kernel would answer the client itself: writes are checked
 * against the writer's RLIMIT_FSIZE, and the writer here is the daemon,
 * so the client's limit is applied by hand (generic_write_check_limits:
 * a write starting at or past it fails with EFBIG; inode_newsize_ok for
 * a fallocate that grows the file). */
static enum sr_status check_file_size(const struct validator_view *v,
				      const struct op_request *op)
{
	uint64_t limit = v->file_size_limit;

	if (limit == UINT64_MAX || !op->has_fd ||
	    !(fd_registry_attrs(v->fds, op->fd_index) & ADMIT_REGULAR))
		return SR_STATUS_OK;
	switch (op->opcode) {
	case SR_OP_WRITE:
	case SR_OP_WRITEV:
		return op->file_offset >= limit ? SR_STATUS_FILE_TOO_LARGE :
						  SR_STATUS_OK;
	case SR_OP_FALLOCATE:
		if (op->flags & SR_FALLOC_KEEP_SIZE)
			return SR_STATUS_OK;
		/* check_ranges bounded the sum to INT64_MAX. */
		return op->file_offset + op->length > limit ?
		       SR_STATUS_FILE_TOO_LARGE : SR_STATUS_OK;
	default:
		return SR_STATUS_OK;
	}
}

static enum sr_status check_addr(const struct op_request *op)
{
	sa_family_t family;

	if (op->addr_len < sizeof(family))
		return SR_STATUS_BAD_ADDRESS;
	/* sa_family_t is in host order; copied, never cast from the
	 * request's unaligned bytes. */
	__builtin_memcpy(&family, op->addr, sizeof(family));
	switch (family) {
	case AF_INET:
		if (op->addr_len != sizeof(struct sockaddr_in))
			return SR_STATUS_BAD_ADDRESS;
		return SR_STATUS_OK;
	case AF_INET6:
		if (op->addr_len != sizeof(struct sockaddr_in6))
			return SR_STATUS_BAD_ADDRESS;
		return SR_STATUS_OK;
	case AF_UNIX:
		if (op->addr_len <= offsetof(struct sockaddr_un, sun_path) ||
		    op->addr_len > sizeof(struct sockaddr_un))
			return SR_STATUS_BAD_ADDRESS;
		/* The path would be resolved, and the peer would see
		 * SO_PEERCRED, with the daemon's credentials, not the
		 * client's: a confused deputy. */
		return SR_STATUS_NOT_PERMITTED;
	default:
		return SR_STATUS_BAD_ADDRESS;
	}
}

static enum sr_status check_resources(const struct validator_view *v,
				      const struct op_request *op)
{
	if (validator_reserves_fd(op) &&
	    v->fds->live_count + v->chain_fds >= v->fds->quota)
		return SR_STATUS_QUOTA;
	/* A buffer id is 16 bits: slots past that cannot be pooled. */
	if (op->opcode == SR_OP_PROVIDE &&
	    (v->slots->pooled >= v->pool_capacity ||
	     op->slot_index > UINT16_MAX))
		return SR_STATUS_QUOTA;
	return SR_STATUS_OK;
}

enum sr_status validate_op(const struct validator_view *v,
			   const struct op_request *op)
{
	const op_spec *spec;
	enum sr_status st;

	/* Bounds the shift below. */
	spec = op_info(op->opcode);
	if (!spec || (v->kernel_lacks & (1ULL << op->opcode)))
		return SR_STATUS_UNKNOWN_OP;
	if (!(v->allowed_ops & (1ULL << op->opcode)))
		return SR_STATUS_NOT_PERMITTED;
	/* Written so that the sum cannot wrap. */
	if (!spec->daemon && (v->in_flight >= v->max_in_flight ||
			      v->chain_records >= v->max_in_flight - v->in_flight))
		return SR_STATUS_QUOTA;

	st = check_flags(spec, op);
	if (st == SR_STATUS_OK)
		st = check_fields(spec, op);
	if (st == SR_STATUS_OK)
		st = check_chain(v, spec, op);
	if (st == SR_STATUS_OK && op->has_fd)
		st = check_fd(v->fds, op);
	if (st == SR_STATUS_OK)
		st = check_slots(v->slots, op);
	if (st == SR_STATUS_OK)
		st = check_ranges(op);
	if (st == SR_STATUS_OK)
		st = check_file_size(v, op);
	if (st == SR_STATUS_OK && op->has_addr)
		st = check_addr(op);
	if (st == SR_STATUS_OK)
		st = check_resources(v, op);
	return st;
}
