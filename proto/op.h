/* SPDX-License-Identifier: MIT */
/*
 * op.h - one operation and one completion in decoded form, shared by
 * saferringd (validator, session) and libsaferring, whatever layout
 * carried them (a nested Submit/Completions or a columnar
 * OpBatch/CompletionBatch, see batch.h).
 *
 * Plain data: nothing here is checked or trusted.  A struct op_request is
 * exactly what the client sent (counts as sent, so that too many is
 * refused, not cut); the validator decides what may run.  Must never
 * grow a pointer that outlives the decoded message other than the ones
 * documented below, nor anything protobuf-specific.
 */
#ifndef SAFERRING_OP_H
#define SAFERRING_OP_H

#include <stdbool.h>
#include <stdint.h>

#include "saferring.h"

/* Slot ranges one vectored operation may name (and slots one vectored
 * completion may hand back). */
#define OP_MAX_IOV SR_MAX_IOV

struct op_slot_ref {
	uint32_t index;
	uint32_t generation;
	uint32_t offset;
	uint32_t length;
};

/* One operation as decoded from the wire, before any check. */
struct op_request {
	uint64_t tag;
	uint32_t opcode;
	uint32_t flags;
	uint32_t link;      /* SR_LINK, SR_LINK_HARD, 0 */
	bool has_fd;
	uint32_t fd_index;
	uint32_t fd_generation;
	bool has_slot;
	uint32_t slot_index;
	uint32_t slot_generation;
	uint32_t slot_offset;
	uint32_t slot_length;
	uint32_t n_iov;     /* ranges sent; may exceed OP_MAX_IOV */
	struct op_slot_ref iov[OP_MAX_IOV]; /* the first of them */
	bool has_file_offset;
	uint64_t file_offset;
	bool has_length;
	uint64_t length;
	bool has_timeout;
	uint64_t timeout_ns;
	bool has_target;
	uint64_t target;
	bool has_addr;
	uint32_t addr_len;
	const unsigned char *addr; /* the request's bytes; not kept */
	bool has_msg_flags;
	uint32_t msg_flags;
};

/* A slot handed back by a completion, with its new generation. */
struct op_slot_back {
	uint32_t index;
	uint32_t generation;
};

/* One completion as decoded from the wire (or about to be encoded). */
struct op_completion {
	uint64_t tag;
	uint32_t status;    /* an enum sr_status as sent; not checked here */
	int32_t result;     /* the kernel's res, or -errno */
	uint32_t flags;     /* the kernel's CQE flags; 0 when none */
	bool has_slot;      /* a slot handed back (non-vectored, pooled) */
	uint32_t slot_index;
	uint32_t slot_generation;
	bool has_handle;    /* ACCEPT: the accepted socket */
	uint32_t handle_index;
	uint32_t handle_generation;
	/* Vectored operations: the slots handed back, in request order.
	 * Never more than OP_MAX_IOV: a decoder refuses more. */
	uint32_t n_slots;
	struct op_slot_back slots[OP_MAX_IOV];
};

#endif
