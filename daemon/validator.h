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
 * Linked chains are validated whole before any member acts: the caller
 * validates each member against the unchanged state and tells the
 * validator, in the view, what the earlier members will take (records,
 * reserved fd entries) and whether this member follows a link.  Members
 * of one chain run one after another, so they may name the same slot.
 *
 * Knows nothing of rings, sockets or protobuf.
 */
#ifndef SAFERRINGD_VALIDATOR_H
#define SAFERRINGD_VALIDATOR_H

#include <stdbool.h>
#include <stdint.h>

#include "fd_registry.h"
#include "op.h"
#include "saferring.h"
#include "slot_table.h"

/* Slot ranges one vectored operation may name. */
#define VALIDATOR_MAX_IOV OP_MAX_IOV
/* Known opcodes are < VALIDATOR_OPCODE_COUNT. */
#define VALIDATOR_OPCODE_COUNT SR_OP__COUNT

/* What the validator reads of a session. */
struct validator_view {
	const struct slot_table *slots;
	const struct fd_registry *fds;
	uint32_t in_flight;     /* operations the kernel holds now */
	uint32_t max_in_flight; /* quota */
	uint64_t allowed_ops;   /* bit (1 << opcode) set when permitted */
	uint64_t kernel_lacks;  /* bit (1 << opcode) set when the running
				 * kernel cannot run it (ring_driver_probe) */
	uint32_t pool_capacity; /* slots the receive pool can hold */
	uint64_t file_size_limit; /* the client's RLIMIT_FSIZE; UINT64_MAX:
				   * none */
	/* This operation's place in a chain; all zero outside one. */
	bool follows_link;      /* the previous operation links to it */
	uint32_t prev_opcode;   /* that operation's opcode */
	uint32_t chain_records; /* records the earlier members will take */
	uint32_t chain_fds;     /* fd entries the earlier members reserve */
};

/*
 * Checks, in this order, and answers the first that fails:
 *  1. opcode known, and run by the running kernel (UNKNOWN_OP: the
 *     daemon cannot do it, whatever the policy says); allowed by policy
 *     (NOT_PERMITTED);
 *  2. for operations the kernel runs, in_flight + chain_records <
 *     max_in_flight (QUOTA);
 *  3. flags within the opcode's set and combined sensibly, link a known
 *     kind, msg_flags within the opcode's set (BAD_FLAGS);
 *  4. fields the opcode needs present, fields it does not take absent
 *     (MALFORMED; an empty iov is missing); more than VALIDATOR_MAX_IOV
 *     ranges (TOO_LARGE);
 *  5. place in a chain: CLOSE and PROVIDE (done by the daemon) neither
 *     link nor follow a link, LINK_TIMEOUT follows a link and not another
 *     LINK_TIMEOUT (BAD_CHAIN);
 *  6. fd handle in range and live (BAD_HANDLE) and current (STALE_HANDLE);
 *  7. each slot range: index in range (BAD_SLOT), slot AVAILABLE
 *     (BUFFER_IN_FLIGHT; also for a slot named twice by one operation),
 *     generation current (STALE_GENERATION), offset + length inside the
 *     slot without overflow, the whole slot for PROVIDE (OUT_OF_BOUNDS);
 *  8. file_offset <= INT64_MAX, and file_offset + length <= INT64_MAX
 *     for FALLOCATE (OUT_OF_BOUNDS); on a regular file (ADMIT_REGULAR),
 *     what the client's own RLIMIT_FSIZE would refuse: a WRITE or WRITEV
 *     starting at or past it, a FALLOCATE that may grow the file past
 *     it (FILE_TOO_LARGE; a write that crosses it is cut there by the
 *     caller, as the kernel cuts it);
 *  9. CONNECT address: AF_INET or AF_INET6 at exactly its size
 *     (BAD_ADDRESS); a well-formed AF_UNIX address is NOT_PERMITTED (the
 *     daemon's credentials would do the connect); anything else
 *     BAD_ADDRESS;
 * 10. a single-shot ACCEPT needs a free fd entry under the quota, a
 *     PROVIDE room in the pool (QUOTA).
 */
enum sr_status validate_op(const struct validator_view *v,
			   const struct op_request *op);

/* Whether the opcode (known, < VALIDATOR_OPCODE_COUNT) goes to the
 * kernel and so holds an in-flight record; CLOSE and PROVIDE do not. */
bool validator_takes_record(uint32_t opcode);
/* Whether a valid @op reserves an fd entry when it starts (single-shot
 * ACCEPT). */
bool validator_reserves_fd(const struct op_request *op);

#endif
