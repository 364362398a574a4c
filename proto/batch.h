/* SPDX-License-Identifier: MIT */
/*
 * batch.h - the columnar codec: operations (struct op_request) to and
 * from an OpBatch, completions (struct op_completion) to and from a
 * CompletionBatch (see saferring.proto for the layout).  Shared by
 * saferringd and libsaferring; the v2 rings carry these messages, and v1
 * can carry them as Request.op_batch and Reply.completion_batch.
 *
 * Decoding treats every byte as hostile: the message is unpacked by
 * protobuf-c through the caller's bounded wire_arena, then every count
 * is checked against every column before anything is read through it,
 * and only then is the output written.  A batch that breaks any layout
 * rule is refused whole (-EINVAL), never decoded in part.  Decoding
 * checks the layout only: what the values mean (opcodes, slots, handles)
 * is the validator's business, and a decoded operation is exactly what
 * request_from_wire() makes of the same operation sent as a nested Op.
 *
 * Encoding never allocates: the column arrays live in a caller-provided
 * encoder (big: keep it static or in a long-lived structure, not on a
 * small stack), and the bytes go to the caller's buffer, never past its
 * capacity.
 *
 * Must never trust a count before checking it, never read past a column,
 * never allocate outside the arena, and never keep state between calls.
 */
#ifndef SAFERRING_BATCH_H
#define SAFERRING_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "op.h"
#include "saferring.pb-c.h"
#include "wire.h"

/* Most operations in one OpBatch, completions in one CompletionBatch. */
#define BATCH_MAX_OPS 256
_Static_assert(BATCH_MAX_OPS == WIRE_MAX_BATCH,
	       "a batch holds what a Submit holds");

/* OpBatch.present: which optional fields an operation carries. */
#define BATCH_OP_FD          0x001u /* fd_index, fd_generation */
#define BATCH_OP_SLOT        0x002u /* slot_index .. slot_length */
#define BATCH_OP_FILE_OFFSET 0x004u
#define BATCH_OP_FLAGS       0x008u
#define BATCH_OP_LINK        0x010u
#define BATCH_OP_MSG_FLAGS   0x020u
#define BATCH_OP_LENGTH      0x040u
#define BATCH_OP_TIMEOUT     0x080u /* timeout_ns */
#define BATCH_OP_TARGET      0x100u
#define BATCH_OP_ADDR        0x200u
#define BATCH_OP_IOV         0x400u /* iov_count; iov_index .. iov_length */
#define BATCH_OP_ALL         0x7ffu

/* CompletionBatch.present: which optional fields a completion carries. */
#define BATCH_C_SLOT   0x1u /* slot_index, slot_generation */
#define BATCH_C_HANDLE 0x2u /* handle_index, handle_generation */
#define BATCH_C_SLOTS  0x4u /* slots_count; slots_index, slots_generation */
#define BATCH_C_ALL    0x7u

/*
 * Arena bytes that always suffice to unpack @len bytes of either batch
 * message, whatever they hold.  protobuf-c's worst case is about 36
 * bytes of allocations per byte of input: a column sent unpacked, two
 * bytes per value, costs a 32-byte scan record per value (twice that
 * while its slabs double) plus the 8-byte value.  With less, a large
 * hostile message may fail to unpack and be refused -EINVAL where -E2BIG
 * (too many operations) would have been the better answer; nothing
 * worse.  The daemon's 4 MiB arena covers a 64 KiB message.
 */
#define BATCH_UNPACK_BYTES(len) (48 * (size_t)(len) + 4096)

/*
 * Column storage for encoding an OpBatch: about 90 KiB, so that no
 * batch of BATCH_MAX_OPS operations of OP_MAX_IOV ranges each needs an
 * allocation.  After batch_ops_to_wire() or batch_encode_ops(), @msg is
 * the message, pointing into the arrays here (and at the callers' addr
 * bytes): valid until the next call with this encoder.
 */
struct batch_op_encoder {
	Saferring__OpBatch msg;
	uint64_t tag[BATCH_MAX_OPS];
	uint32_t opcode[BATCH_MAX_OPS];
	uint32_t present[BATCH_MAX_OPS];
	uint32_t fd_index[BATCH_MAX_OPS];
	uint32_t fd_generation[BATCH_MAX_OPS];
	uint32_t slot_index[BATCH_MAX_OPS];
	uint32_t slot_generation[BATCH_MAX_OPS];
	uint32_t slot_offset[BATCH_MAX_OPS];
	uint32_t slot_length[BATCH_MAX_OPS];
	uint64_t file_offset[BATCH_MAX_OPS];
	uint32_t flags[BATCH_MAX_OPS];
	uint32_t link[BATCH_MAX_OPS];
	uint32_t msg_flags[BATCH_MAX_OPS];
	uint64_t length[BATCH_MAX_OPS];
	uint64_t timeout_ns[BATCH_MAX_OPS];
	uint64_t target[BATCH_MAX_OPS];
	ProtobufCBinaryData addr[BATCH_MAX_OPS];
	uint32_t iov_count[BATCH_MAX_OPS];
	uint32_t iov_index[BATCH_MAX_OPS * OP_MAX_IOV];
	uint32_t iov_generation[BATCH_MAX_OPS * OP_MAX_IOV];
	uint32_t iov_offset[BATCH_MAX_OPS * OP_MAX_IOV];
	uint32_t iov_length[BATCH_MAX_OPS * OP_MAX_IOV];
	size_t max_bytes; /* bound on the packed size of @msg */
};

/* The same for a CompletionBatch (about 43 KiB). */
struct batch_completion_encoder {
	Saferring__CompletionBatch msg;
	uint64_t tag[BATCH_MAX_OPS];
	uint32_t status[BATCH_MAX_OPS];
	int32_t result[BATCH_MAX_OPS];
	uint32_t flags[BATCH_MAX_OPS];
	uint32_t present[BATCH_MAX_OPS];
	uint32_t slot_index[BATCH_MAX_OPS];
	uint32_t slot_generation[BATCH_MAX_OPS];
	uint32_t handle_index[BATCH_MAX_OPS];
	uint32_t handle_generation[BATCH_MAX_OPS];
	uint32_t slots_count[BATCH_MAX_OPS];
	uint32_t slots_index[BATCH_MAX_OPS * OP_MAX_IOV];
	uint32_t slots_generation[BATCH_MAX_OPS * OP_MAX_IOV];
	size_t max_bytes; /* bound on the packed size of @msg */
};

/*
 * Fill @enc->msg with @ops[0..n), without packing (to embed it in a
 * Request as op_batch).  A field is sent when its has_ flag is set;
 * flags and link when not 0 (op_request cannot tell 0 from absent, and
 * neither can the validator); iov when n_iov > 0.  Returns 0, -E2BIG
 * when n > BATCH_MAX_OPS, -EINVAL when an operation cannot be sent as
 * it is: n_iov > OP_MAX_IOV (only the first ranges are kept, so the
 * rest cannot be sent), or addr_len > 0 with no addr.
 */
int batch_ops_to_wire(struct batch_op_encoder *enc,
		      const struct op_request *ops, size_t n);

/* batch_ops_to_wire(), then pack into @buf: *len bytes.  -EMSGSIZE, and
 * nothing written, when more than @cap bytes would be needed. */
int batch_encode_ops(struct batch_op_encoder *enc,
		     const struct op_request *ops, size_t n, void *buf,
		     size_t cap, size_t *len);

/*
 * Check the unpacked @b against every layout rule, then decode it into
 * @out[0..*n).  Returns 0; -E2BIG when it holds more than @max
 * operations (answer TOO_LARGE: nothing was decoded); -EINVAL when any
 * rule is broken (answer MALFORMED: nothing was decoded).  On error *n
 * is 0 and @out untouched.  out[i].addr points into @b's addr bytes (so
 * lives as long as @b); an iov count above OP_MAX_IOV is kept as sent in
 * n_iov with only the first OP_MAX_IOV ranges stored, for the validator
 * to refuse TOO_LARGE.
 */
int batch_ops_from_wire(const Saferring__OpBatch *b, struct op_request *out,
			size_t max, size_t *n);

/*
 * Unpack @buf[0..len) as an OpBatch with @arena's allocator, then
 * batch_ops_from_wire().  -EINVAL also when it does not unpack (not
 * protobuf, or the arena is too small: see BATCH_UNPACK_BYTES).  The
 * message stays in @arena: out[i].addr points there, and is valid until
 * the arena is reset or its buffer reused (copy the address first, as
 * for request_from_wire()).  The caller resets the arena; @buf is not
 * referenced after the call.
 */
int batch_decode_ops(const void *buf, size_t len, struct wire_arena *arena,
		     struct op_request *out, size_t max, size_t *n);

/*
 * Fill @enc->msg with @c[0..n) (to embed it in a Reply as
 * completion_batch).  The slot pair is sent when has_slot, the handle
 * when has_handle, the vectored slots when n_slots > 0; flags always
 * (0 for none).  Returns 0, -E2BIG when n > BATCH_MAX_OPS, -EINVAL when
 * n_slots > OP_MAX_IOV.
 */
int batch_completions_to_wire(struct batch_completion_encoder *enc,
			      const struct op_completion *c, size_t n);

/* batch_completions_to_wire(), then pack into @buf: *len bytes.
 * -EMSGSIZE, and nothing written, when it needs more than @cap bytes. */
int batch_encode_completions(struct batch_completion_encoder *enc,
			     const struct op_completion *c, size_t n,
			     void *buf, size_t cap, size_t *len);

/*
 * Check the unpacked @b against every layout rule, then decode it into
 * @out[0..*n).  0; -E2BIG over @max completions; -EINVAL when any rule
 * is broken, including a vectored completion with more than OP_MAX_IOV
 * slots (a daemon never sends one).  On error *n is 0 and @out
 * untouched.  Nothing in @out points into @b.  Values are not checked
 * (status, slot and handle numbers): that is the caller's business.
 */
int batch_completions_from_wire(const Saferring__CompletionBatch *b,
				struct op_completion *out, size_t max,
				size_t *n);

/* Unpack @buf[0..len) with @arena's allocator (-EINVAL when it does not
 * unpack), then batch_completions_from_wire().  The caller resets the
 * arena. */
int batch_decode_completions(const void *buf, size_t len,
			     struct wire_arena *arena,
			     struct op_completion *out, size_t max,
			     size_t *n);

#endif
