/* SPDX-License-Identifier: MIT */
/*
 * validator.h - decides whether one operation may reach the kernel.
 *
 * validate_op() is a pure function of (session state, request) ->
 * verdict: it reads the slot table, the fd registry and the session's
 * limits and changes nothing, so it can be unit-tested and fuzzed without
 * a kernel.  The caller acts on an OK verdict (marks the slot in flight,
 * counts the handle) before validating the next operation of a batch, so
 * the same slot twice in one batch is refused the second time.
 *
 * Knows nothing of rings, sockets or protobuf.
 */
#ifndef SAFERRINGD_VALIDATOR_H
#define SAFERRINGD_VALIDATOR_H

#include <stdbool.h>
#include <stdint.h>

#include "fd_registry.h"
#include "saferring.h"
#include "slot_table.h"

/* One operation as decoded from the wire, before any check. */
struct op_request {
	uint64_t tag;
	uint32_t opcode;
	uint32_t flags;
	bool has_fd;
	uint32_t fd_index;
	uint32_t fd_generation;
	bool has_slot;
	uint32_t slot_index;
	uint32_t slot_generation;
	uint32_t slot_offset;
	uint32_t slot_length;
	bool has_file_offset;
	uint64_t file_offset;
};

/* What the validator reads of a session. */
struct validator_view {
	const struct slot_table *slots;
	const struct fd_registry *fds;
	uint32_t in_flight;     /* operations the kernel holds now */
	uint32_t max_in_flight; /* quota */
	uint64_t allowed_ops;   /* bit (1 << opcode) set when permitted */
};

/* Known opcodes are < VALIDATOR_OPCODE_COUNT. */
#define VALIDATOR_OPCODE_COUNT 4

/*
 * Checks, in this order, and answers the first that fails:
 *  opcode known (UNKNOWN_OP); opcode allowed (NOT_PERMITTED); in_flight <
 *  max_in_flight (QUOTA); flags within the opcode's set (BAD_FLAGS: none
 *  for NOP/READ/WRITE, SR_FSYNC_DATASYNC for FSYNC); fields the opcode
 *  needs are present and fields it does not take are absent (MALFORMED:
 *  READ/WRITE need fd, slot and file offset; FSYNC needs fd only; NOP
 *  takes none); fd handle in range and live (BAD_HANDLE) and current
 *  (STALE_HANDLE); slot index in range (BAD_SLOT), slot AVAILABLE
 *  (BUFFER_IN_FLIGHT), generation current (STALE_GENERATION),
 *  offset + length inside the slot without overflow, and file offset
 *  <= INT64_MAX (OUT_OF_BOUNDS).
 */
enum sr_status validate_op(const struct validator_view *v,
			   const struct op_request *op);

#endif
