/* SPDX-License-Identifier: MIT */
/*
 * batch.c - the columnar codec (see batch.h): struct op_request and
 * struct op_completion to and from OpBatch and CompletionBatch.
 *
 * What it is for: moving many operations and completions at tens of
 * nanoseconds each, for the v2 shared-memory rings, with exactly the
 * meaning of the nested Submit and Completions.
 *
 * What it must never do: trust a count before checking it against the
 * columns it indexes (decoding checks every column length against the
 * presence bits in a first pass, and reads through the columns only in a
 * second pass that those checks make safe), read past a column, hand out
 * a partly decoded batch, allocate outside the caller's arena (decoding)
 * or at all (encoding), or write past the caller's buffer.
 */
#include "batch.h"

#include <errno.h>
#include <string.h>

/* Largest encodings of one varint, and of a field key: every field
 * number here is below 2048, so a key takes one or two bytes. */
#define VARINT32_MAX 5
#define VARINT64_MAX 10
#define KEY_MAX 2
/* Key plus length prefix of one packed column or bytes element (a
 * length prefix of up to 2^35 bytes: more than any column can hold). */
#define FRAME_MAX (KEY_MAX + VARINT32_MAX)

/* Bound on the packed size of a packed column of @n varints. */
static uint64_t column_bound(size_t n, unsigned varint_max)
{
	return n ? FRAME_MAX + (uint64_t)n * varint_max : 0;
}

static size_t bound_to_size(uint64_t b)
{
	return b > SIZE_MAX ? SIZE_MAX : (size_t)b;
}

/* ---- operations -------------------------------------------------------- */

int batch_ops_to_wire(struct batch_op_encoder *enc,
		      const struct op_request *ops, size_t n)
{
	size_t nfd = 0, nslot = 0, nfo = 0, nfl = 0, nlk = 0, nmf = 0;
	size_t nlen = 0, nto = 0, ntg = 0, nad = 0, niov = 0, nr = 0;
	uint64_t addr_bytes = 0;

	if (n > BATCH_MAX_OPS)
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		const struct op_request *r = &ops[i];
		uint32_t p = 0;

		/* Only the first OP_MAX_IOV ranges are stored: the others
		 * cannot be sent, and sending fewer would change the op. */
		if (r->n_iov > OP_MAX_IOV ||
		    (r->has_addr && r->addr_len && !r->addr))
			return -EINVAL;
		enc->tag[i] = r->tag;
		enc->opcode[i] = r->opcode;
		if (r->has_fd) {
			p |= BATCH_OP_FD;
			enc->fd_index[nfd] = r->fd_index;
			enc->fd_generation[nfd] = r->fd_generation;
			nfd++;
		}
		if (r->has_slot) {
			p |= BATCH_OP_SLOT;
			enc->slot_index[nslot] = r->slot_index;
			enc->slot_generation[nslot] = r->slot_generation;
			enc->slot_offset[nslot] = r->slot_offset;
			enc->slot_length[nslot] = r->slot_length;
			nslot++;
		}
		if (r->has_file_offset) {
			p |= BATCH_OP_FILE_OFFSET;
			enc->file_offset[nfo++] = r->file_offset;
		}
		/* op_request cannot tell an absent flags or link from 0,
		 * and means the same by both: 0 is not sent. */
		if (r->flags) {
			p |= BATCH_OP_FLAGS;
			enc->flags[nfl++] = r->flags;
		}
		if (r->link) {
			p |= BATCH_OP_LINK;
			enc->link[nlk++] = r->link;
		}
		if (r->has_msg_flags) {
			p |= BATCH_OP_MSG_FLAGS;
			enc->msg_flags[nmf++] = r->msg_flags;
		}
		if (r->has_length) {
			p |= BATCH_OP_LENGTH;
			enc->length[nlen++] = r->length;
		}
		if (r->has_timeout) {
			p |= BATCH_OP_TIMEOUT;
			enc->timeout_ns[nto++] = r->timeout_ns;
		}
		if (r->has_target) {
			p |= BATCH_OP_TARGET;
			enc->target[ntg++] = r->target;
		}
		if (r->has_addr) {
			p |= BATCH_OP_ADDR;
			enc->addr[nad].data = (uint8_t *)r->addr;
			enc->addr[nad].len = r->addr_len;
			addr_bytes += FRAME_MAX + (uint64_t)r->addr_len;
			nad++;
		}
		/* An empty iov is an absent one (PROTOCOL.md). */
		if (r->n_iov) {
			p |= BATCH_OP_IOV;
			enc->iov_count[niov++] = r->n_iov;
			for (uint32_t j = 0; j < r->n_iov; j++, nr++) {
				enc->iov_index[nr] = r->iov[j].index;
				enc->iov_generation[nr] = r->iov[j].generation;
				enc->iov_offset[nr] = r->iov[j].offset;
				enc->iov_length[nr] = r->iov[j].length;
			}
		}
		enc->present[i] = p;
	}

	Saferring__OpBatch *m = &enc->msg;

	saferring__op_batch__init(m);
	m->n_tag = n;
	m->tag = enc->tag;
	m->n_opcode = n;
	m->opcode = enc->opcode;
	m->n_present = n;
	m->present = enc->present;
	m->n_fd_index = m->n_fd_generation = nfd;
	m->fd_index = enc->fd_index;
	m->fd_generation = enc->fd_generation;
	m->n_slot_index = m->n_slot_generation = nslot;
	m->n_slot_offset = m->n_slot_length = nslot;
	m->slot_index = enc->slot_index;
	m->slot_generation = enc->slot_generation;
	m->slot_offset = enc->slot_offset;
	m->slot_length = enc->slot_length;
	m->n_file_offset = nfo;
	m->file_offset = enc->file_offset;
	m->n_flags = nfl;
	m->flags = enc->flags;
	m->n_link = nlk;
	m->link = enc->link;
	m->n_msg_flags = nmf;
	m->msg_flags = enc->msg_flags;
	m->n_length = nlen;
	m->length = enc->length;
	m->n_timeout_ns = nto;
	m->timeout_ns = enc->timeout_ns;
	m->n_target = ntg;
	m->target = enc->target;
	m->n_addr = nad;
	m->addr = enc->addr;
	m->n_iov_count = niov;
	m->iov_count = enc->iov_count;
	m->n_iov_index = m->n_iov_generation = nr;
	m->n_iov_offset = m->n_iov_length = nr;
	m->iov_index = enc->iov_index;
	m->iov_generation = enc->iov_generation;
	m->iov_offset = enc->iov_offset;
	m->iov_length = enc->iov_length;

	/* A cheap bound, so that the exact size (a second pass over every
	 * value) is computed only when the bound does not fit. */
	enc->max_bytes = bound_to_size(
		column_bound(n, VARINT64_MAX) +
		2 * column_bound(n, VARINT32_MAX) +
		2 * column_bound(nfd, VARINT32_MAX) +
		4 * column_bound(nslot, VARINT32_MAX) +
		column_bound(nfo, VARINT64_MAX) +
		column_bound(nfl, VARINT32_MAX) +
		column_bound(nlk, VARINT32_MAX) +
		column_bound(nmf, VARINT32_MAX) +
		column_bound(nlen, VARINT64_MAX) +
		column_bound(nto, VARINT64_MAX) +
		column_bound(ntg, VARINT64_MAX) + addr_bytes +
		column_bound(niov, VARINT32_MAX) +
		4 * column_bound(nr, VARINT32_MAX));
	return 0;
}

int batch_encode_ops(struct batch_op_encoder *enc,
		     const struct op_request *ops, size_t n, void *buf,
		     size_t cap, size_t *len)
{
	int ret = batch_ops_to_wire(enc, ops, n);

	if (ret)
		return ret;
	if (enc->max_bytes > cap &&
	    saferring__op_batch__get_packed_size(&enc->msg) > cap)
		return -EMSGSIZE;
	*len = saferring__op_batch__pack(&enc->msg, buf);
	return 0;
}

/* Column @name of @b holds exactly @want entries (and, for a message not
 * made by protobuf-c, has storage behind them). */
#define COLUMN_IS(b, name, want) \
	((b)->n_##name == (want) && ((want) == 0 || (b)->name != NULL))

int batch_ops_from_wire(const Saferring__OpBatch *b, struct op_request *out,
			size_t max, size_t *n)
{
	size_t count = b->n_tag;
	size_t nfd = 0, nslot = 0, nfo = 0, nfl = 0, nlk = 0, nmf = 0;
	size_t nlen = 0, nto = 0, ntg = 0, nad = 0, niov = 0;
	uint64_t nr = 0;

	*n = 0;
	if (count > max)
		return -E2BIG;
	if (!COLUMN_IS(b, tag, count) || !COLUMN_IS(b, opcode, count) ||
	    !COLUMN_IS(b, present, count))
		return -EINVAL;

	/* Pass 1: count what the presence bits promise, read nothing else. */
	for (size_t i = 0; i < count; i++) {
		uint32_t p = b->present[i];

		if (p & ~BATCH_OP_ALL)
			return -EINVAL;
		nfd += p & 1;
		nslot += (p >> 1) & 1;
		nfo += (p >> 2) & 1;
		nfl += (p >> 3) & 1;
		nlk += (p >> 4) & 1;
		nmf += (p >> 5) & 1;
		nlen += (p >> 6) & 1;
		nto += (p >> 7) & 1;
		ntg += (p >> 8) & 1;
		nad += (p >> 9) & 1;
		niov += (p >> 10) & 1;
	}
	if (!COLUMN_IS(b, fd_index, nfd) || !COLUMN_IS(b, fd_generation, nfd) ||
	    !COLUMN_IS(b, slot_index, nslot) ||
	    !COLUMN_IS(b, slot_generation, nslot) ||
	    !COLUMN_IS(b, slot_offset, nslot) ||
	    !COLUMN_IS(b, slot_length, nslot) ||
	    !COLUMN_IS(b, file_offset, nfo) || !COLUMN_IS(b, flags, nfl) ||
	    !COLUMN_IS(b, link, nlk) || !COLUMN_IS(b, msg_flags, nmf) ||
	    !COLUMN_IS(b, length, nlen) || !COLUMN_IS(b, timeout_ns, nto) ||
	    !COLUMN_IS(b, target, ntg) || !COLUMN_IS(b, addr, nad) ||
	    !COLUMN_IS(b, iov_count, niov))
		return -EINVAL;
	for (size_t k = 0; k < nad; k++)
		if (b->addr[k].len && !b->addr[k].data)
			return -EINVAL;
	/* Fewer than 2^32 counts of 32 bits each (the message is smaller
	 * than that): the sum cannot wrap 64 bits. */
	for (size_t k = 0; k < niov; k++) {
		if (b->iov_count[k] == 0)
			return -EINVAL; /* an empty iov is sent as none */
		nr += b->iov_count[k];
	}
	if (!COLUMN_IS(b, iov_index, nr) ||
	    !COLUMN_IS(b, iov_generation, nr) ||
	    !COLUMN_IS(b, iov_offset, nr) || !COLUMN_IS(b, iov_length, nr))
		return -EINVAL;

	/*
	 * Pass 2: every cursor below stays under the length its column was
	 * just checked to have: each advances once per operation with its
	 * bit (or by that operation's count, for the ranges), and the
	 * columns hold exactly that many.
	 */
	size_t kfd = 0, kslot = 0, kfo = 0, kfl = 0, klk = 0, kmf = 0;
	size_t klen = 0, kto = 0, ktg = 0, kad = 0, kiov = 0, kr = 0;

	/* As request_from_wire(): all zero, then what was sent.  One memset
	 * for the batch: one per operation costs as much as the rest of
	 * the decoding (an inlined rep stos per 400 bytes). */
	if (count)
		memset(out, 0, count * sizeof(*out));
	for (size_t i = 0; i < count; i++) {
		struct op_request *r = &out[i];
		uint32_t p = b->present[i];

		r->tag = b->tag[i];
		r->opcode = b->opcode[i];
		if (p & BATCH_OP_FD) {
			r->has_fd = true;
			r->fd_index = b->fd_index[kfd];
			r->fd_generation = b->fd_generation[kfd];
			kfd++;
		}
		if (p & BATCH_OP_SLOT) {
			r->has_slot = true;
			r->slot_index = b->slot_index[kslot];
			r->slot_generation = b->slot_generation[kslot];
			r->slot_offset = b->slot_offset[kslot];
			r->slot_length = b->slot_length[kslot];
			kslot++;
		}
		if (p & BATCH_OP_FILE_OFFSET) {
			r->has_file_offset = true;
			r->file_offset = b->file_offset[kfo++];
		}
		if (p & BATCH_OP_FLAGS)
			r->flags = b->flags[kfl++];
		if (p & BATCH_OP_LINK)
			r->link = b->link[klk++];
		if (p & BATCH_OP_MSG_FLAGS) {
			r->has_msg_flags = true;
			r->msg_flags = b->msg_flags[kmf++];
		}
		if (p & BATCH_OP_LENGTH) {
			r->has_length = true;
			r->length = b->length[klen++];
		}
		if (p & BATCH_OP_TIMEOUT) {
			r->has_timeout = true;
			r->timeout_ns = b->timeout_ns[kto++];
		}
		if (p & BATCH_OP_TARGET) {
			r->has_target = true;
			r->target = b->target[ktg++];
		}
		if (p & BATCH_OP_ADDR) {
			const ProtobufCBinaryData *a = &b->addr[kad++];

			r->has_addr = true;
			r->addr_len = a->len > UINT32_MAX ? UINT32_MAX :
				      (uint32_t)a->len;
			r->addr = a->data;
		}
		if (p & BATCH_OP_IOV) {
			uint32_t c = b->iov_count[kiov++];

			/* The count as sent, so that too many is refused,
			 * not cut; only the first are kept. */
			r->n_iov = c;
			for (uint32_t j = 0; j < c && j < OP_MAX_IOV; j++) {
				r->iov[j].index = b->iov_index[kr + j];
				r->iov[j].generation = b->iov_generation[kr + j];
				r->iov[j].offset = b->iov_offset[kr + j];
				r->iov[j].length = b->iov_length[kr + j];
			}
			kr += c;
		}
	}
	*n = count;
	return 0;
}

int batch_decode_ops(const void *buf, size_t len, struct wire_arena *arena,
		     struct op_request *out, size_t max, size_t *n)
{
	static const uint8_t empty[1];
	Saferring__OpBatch *b;

	*n = 0;
	if (!buf && len)
		return -EINVAL;
	b = saferring__op_batch__unpack(&arena->allocator, len,
					buf ? buf : empty);
	if (!b)
		return -EINVAL;
	return batch_ops_from_wire(b, out, max, n);
}

/* ---- completions ------------------------------------------------------- */

int batch_completions_to_wire(struct batch_completion_encoder *enc,
			      const struct op_completion *c, size_t n)
{
	size_t nslot = 0, nh = 0, nv = 0, nr = 0;

	if (n > BATCH_MAX_OPS)
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		const struct op_completion *cc = &c[i];
		uint32_t p = 0;

		if (cc->n_slots > OP_MAX_IOV)
			return -EINVAL;
		enc->tag[i] = cc->tag;
		enc->status[i] = cc->status;
		enc->result[i] = cc->result;
		enc->flags[i] = cc->flags;
		if (cc->has_slot) {
			p |= BATCH_C_SLOT;
			enc->slot_index[nslot] = cc->slot_index;
			enc->slot_generation[nslot] = cc->slot_generation;
			nslot++;
		}
		if (cc->has_handle) {
			p |= BATCH_C_HANDLE;
			enc->handle_index[nh] = cc->handle_index;
			enc->handle_generation[nh] = cc->handle_generation;
			nh++;
		}
		if (cc->n_slots) {
			p |= BATCH_C_SLOTS;
			enc->slots_count[nv++] = cc->n_slots;
			for (uint32_t j = 0; j < cc->n_slots; j++, nr++) {
				enc->slots_index[nr] = cc->slots[j].index;
				enc->slots_generation[nr] = cc->slots[j].generation;
			}
		}
		enc->present[i] = p;
	}

	Saferring__CompletionBatch *m = &enc->msg;

	saferring__completion_batch__init(m);
	m->n_tag = m->n_status = m->n_result = m->n_flags = n;
	m->n_present = n;
	m->tag = enc->tag;
	m->status = enc->status;
	m->result = enc->result;
	m->flags = enc->flags;
	m->present = enc->present;
	m->n_slot_index = m->n_slot_generation = nslot;
	m->slot_index = enc->slot_index;
	m->slot_generation = enc->slot_generation;
	m->n_handle_index = m->n_handle_generation = nh;
	m->handle_index = enc->handle_index;
	m->handle_generation = enc->handle_generation;
	m->n_slots_count = nv;
	m->slots_count = enc->slots_count;
	m->n_slots_index = m->n_slots_generation = nr;
	m->slots_index = enc->slots_index;
	m->slots_generation = enc->slots_generation;

	enc->max_bytes = bound_to_size(
		column_bound(n, VARINT64_MAX) +
		4 * column_bound(n, VARINT32_MAX) +
		2 * column_bound(nslot, VARINT32_MAX) +
		2 * column_bound(nh, VARINT32_MAX) +
		column_bound(nv, VARINT32_MAX) +
		2 * column_bound(nr, VARINT32_MAX));
	return 0;
}

int batch_encode_completions(struct batch_completion_encoder *enc,
			     const struct op_completion *c, size_t n,
			     void *buf, size_t cap, size_t *len)
{
	int ret = batch_completions_to_wire(enc, c, n);

	if (ret)
		return ret;
	if (enc->max_bytes > cap &&
	    saferring__completion_batch__get_packed_size(&enc->msg) > cap)
		return -EMSGSIZE;
	*len = saferring__completion_batch__pack(&enc->msg, buf);
	return 0;
}

int batch_completions_from_wire(const Saferring__CompletionBatch *b,
				struct op_completion *out, size_t max,
				size_t *n)
{
	size_t count = b->n_tag;
	size_t nslot = 0, nh = 0, nv = 0;
	uint64_t nr = 0;

	*n = 0;
	if (count > max)
		return -E2BIG;
	if (!COLUMN_IS(b, tag, count) || !COLUMN_IS(b, status, count) ||
	    !COLUMN_IS(b, result, count) || !COLUMN_IS(b, flags, count) ||
	    !COLUMN_IS(b, present, count))
		return -EINVAL;

	/* Pass 1: counts and the columns' lengths only. */
	for (size_t i = 0; i < count; i++) {
		uint32_t p = b->present[i];

		if (p & ~BATCH_C_ALL)
			return -EINVAL;
		nslot += p & 1;
		nh += (p >> 1) & 1;
		nv += (p >> 2) & 1;
	}
	if (!COLUMN_IS(b, slot_index, nslot) ||
	    !COLUMN_IS(b, slot_generation, nslot) ||
	    !COLUMN_IS(b, handle_index, nh) ||
	    !COLUMN_IS(b, handle_generation, nh) ||
	    !COLUMN_IS(b, slots_count, nv))
		return -EINVAL;
	for (size_t k = 0; k < nv; k++) {
		/* Unlike an operation's ranges, no count above the limit
		 * is kept: nothing downstream would refuse it. */
		if (b->slots_count[k] == 0 || b->slots_count[k] > OP_MAX_IOV)
			return -EINVAL;
		nr += b->slots_count[k];
	}
	if (!COLUMN_IS(b, slots_index, nr) ||
	    !COLUMN_IS(b, slots_generation, nr))
		return -EINVAL;

	/* Pass 2: the cursors stay inside the columns just checked. */
	size_t kslot = 0, kh = 0, kv = 0, kr = 0;

	if (count)
		memset(out, 0, count * sizeof(*out));
	for (size_t i = 0; i < count; i++) {
		struct op_completion *c = &out[i];
		uint32_t p = b->present[i];

		c->tag = b->tag[i];
		c->status = b->status[i];
		c->result = b->result[i];
		c->flags = b->flags[i];
		if (p & BATCH_C_SLOT) {
			c->has_slot = true;
			c->slot_index = b->slot_index[kslot];
			c->slot_generation = b->slot_generation[kslot];
			kslot++;
		}
		if (p & BATCH_C_HANDLE) {
			c->has_handle = true;
			c->handle_index = b->handle_index[kh];
			c->handle_generation = b->handle_generation[kh];
			kh++;
		}
		if (p & BATCH_C_SLOTS) {
			uint32_t m = b->slots_count[kv++];

			c->n_slots = m;
			for (uint32_t j = 0; j < m; j++, kr++) {
				c->slots[j].index = b->slots_index[kr];
				c->slots[j].generation = b->slots_generation[kr];
			}
		}
	}
	*n = count;
	return 0;
}

int batch_decode_completions(const void *buf, size_t len,
			     struct wire_arena *arena,
			     struct op_completion *out, size_t max,
			     size_t *n)
{
	static const uint8_t empty[1];
	Saferring__CompletionBatch *b;

	*n = 0;
	if (!buf && len)
		return -EINVAL;
	b = saferring__completion_batch__unpack(&arena->allocator, len,
						buf ? buf : empty);
	if (!b)
		return -EINVAL;
	return batch_completions_from_wire(b, out, max, n);
}
