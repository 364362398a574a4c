/* SPDX-License-Identifier: MIT */
/*
 * test_batch_codec.c - unit tests for the columnar codec (proto/batch.h):
 * OpBatch and CompletionBatch to and from struct op_request and struct
 * op_completion.
 *
 * Pinned here: every opcode's shape and random batches come back exactly
 * as sent; a decoded operation is exactly what request_from_wire() makes
 * of the same operation sent as a nested Op (the daemon must not see a
 * difference between the two layouts); every layout inconsistency (each
 * column one short and one long, unknown presence bits, iov and slot
 * counts that do not add up, too many operations, truncations, garbage)
 * is refused with the right code, leaves the output untouched and reads
 * nothing out of bounds (each input sits in a buffer of exactly its size,
 * so ASan sees any over-read: run build-asan/tests/test_batch_codec);
 * the encoder never writes past its buffer.
 *
 * Random inputs are seeded: the seed is printed, and BATCH_CODEC_SEED=N
 * replays one.  Must never depend on a kernel, a socket or a daemon.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "batch.h"
#include "op.h"
#include "request.h"
#include "saferring.pb-c.h"
#include "wire.h"

#define BUF_BYTES (512 * 1024)
#define ARENA_BYTES (8 * 1024 * 1024)
#define RANDOM_BATCHES 3000
#define MUTATIONS 20000

static unsigned char buf[BUF_BYTES];
static unsigned char arena_buf[ARENA_BYTES];
static struct wire_arena arena;
static struct batch_op_encoder op_enc;
static struct batch_completion_encoder comp_enc;
static struct op_request ops[BATCH_MAX_OPS + 1];
static struct op_request out[BATCH_MAX_OPS + 1];
static struct op_request nested_out[BATCH_MAX_OPS + 1];
static struct op_completion comps[BATCH_MAX_OPS + 1];
static struct op_completion comps_out[BATCH_MAX_OPS + 1];
/* Address bytes the generated operations point at. */
static unsigned char addr_pool[BATCH_MAX_OPS][64];

/* ---- random numbers ----------------------------------------------------- */

static uint64_t seed;
static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static uint64_t below(uint64_t n)
{
	return n ? rng() % n : 0;
}

/* Values that break naive code more often than uniform ones would. */
static uint64_t value64(void)
{
	switch (below(6)) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return UINT64_MAX;
	case 3:
		return below(1000);
	case 4:
		return (uint64_t)INT64_MAX + below(2);
	default:
		return rng();
	}
}

static uint32_t value32(void)
{
	switch (below(5)) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return UINT32_MAX;
	case 3:
		return (uint32_t)below(300);
	default:
		return (uint32_t)rng();
	}
}

static int group_setup(void **state)
{
	const char *s = getenv("BATCH_CODEC_SEED");

	(void)state;
	seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^
	       ((uint64_t)clock() << 32);
	if (!seed)
		seed = 1;
	printf("test_batch_codec: seed %" PRIu64
	       " (BATCH_CODEC_SEED=%" PRIu64 " to replay)\n", seed, seed);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	rng_state = seed;
	wire_arena_init(&arena, arena_buf, sizeof(arena_buf));
	return 0;
}

/* ---- comparing ------------------------------------------------------------ */

/* Same operation: every field, the address by its bytes (its pointer
 * says where it was decoded, not what it is). */
static void assert_op_equal(const struct op_request *a,
			    const struct op_request *b, size_t i)
{
	struct op_request x, y;

	memcpy(&x, a, sizeof(x));
	memcpy(&y, b, sizeof(y));
	x.addr = y.addr = NULL;
	if (memcmp(&x, &y, sizeof(x)) != 0) {
		print_error("operation %zu differs: tag %" PRIu64 "/%" PRIu64
			    " opcode %u/%u n_iov %u/%u\n", i, a->tag, b->tag,
			    a->opcode, b->opcode, a->n_iov, b->n_iov);
		fail();
	}
	if (a->addr_len)
		assert_memory_equal(a->addr, b->addr, a->addr_len);
}

static void assert_completion_equal(const struct op_completion *a,
				    const struct op_completion *b)
{
	assert_memory_equal(a, b, sizeof(*a));
}

/* ---- the nested form, as clients send it today ------------------------- */

struct nested_op {
	Saferring__Op op;
	Saferring__FdHandle fd;
	Saferring__SlotRef slot;
	Saferring__SlotRef iov[OP_MAX_IOV];
	Saferring__SlotRef *iov_ptrs[OP_MAX_IOV];
};

static struct nested_op nops[BATCH_MAX_OPS];
static Saferring__Op *nop_ptrs[BATCH_MAX_OPS];

static void slot_ref(Saferring__SlotRef *w, const struct op_slot_ref *r)
{
	saferring__slot_ref__init(w);
	w->index = r->index;
	w->generation = r->generation;
	w->offset = r->offset;
	w->length = r->length;
}

static void nested_fill(const struct op_request *r, struct nested_op *w)
{
	memset(w, 0, sizeof(*w));
	saferring__op__init(&w->op);
	w->op.tag = r->tag;
	w->op.opcode = r->opcode;
	if (r->has_fd) {
		saferring__fd_handle__init(&w->fd);
		w->fd.index = r->fd_index;
		w->fd.generation = r->fd_generation;
		w->op.fd = &w->fd;
	}
	if (r->has_slot) {
		const struct op_slot_ref s = {
			r->slot_index, r->slot_generation, r->slot_offset,
			r->slot_length,
		};

		slot_ref(&w->slot, &s);
		w->op.slot = &w->slot;
	}
	w->op.has_file_offset = r->has_file_offset;
	w->op.file_offset = r->file_offset;
	/* Sometimes send a 0 flags or link as present: means the same. */
	w->op.has_flags = r->flags != 0 || below(2);
	w->op.flags = r->flags;
	w->op.has_link = r->link != 0 || below(2);
	w->op.link = r->link;
	w->op.has_msg_flags = r->has_msg_flags;
	w->op.msg_flags = r->msg_flags;
	w->op.has_length = r->has_length;
	w->op.length = r->length;
	w->op.has_timeout_ns = r->has_timeout;
	w->op.timeout_ns = r->timeout_ns;
	w->op.has_target = r->has_target;
	w->op.target = r->target;
	w->op.has_addr = r->has_addr;
	w->op.addr.data = (uint8_t *)r->addr;
	w->op.addr.len = r->addr_len;
	for (uint32_t i = 0; i < r->n_iov; i++) {
		slot_ref(&w->iov[i], &r->iov[i]);
		w->iov_ptrs[i] = &w->iov[i];
	}
	w->op.n_iov = r->n_iov;
	w->op.iov = w->iov_ptrs;
}

/* @ops sent as today's Submit, decoded as the daemon decodes it. */
static void nested_roundtrip(const struct op_request *in, size_t n,
			     struct op_request *res)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__Submit submit = SAFERRING__SUBMIT__INIT;
	Saferring__Request *got;
	size_t len;

	for (size_t i = 0; i < n; i++) {
		nested_fill(&in[i], &nops[i]);
		nop_ptrs[i] = &nops[i].op;
	}
	submit.n_ops = n;
	submit.ops = nop_ptrs;
	req.body_case = SAFERRING__REQUEST__BODY_SUBMIT;
	req.submit = &submit;
	len = saferring__request__get_packed_size(&req);
	assert_true(len <= sizeof(buf));
	saferring__request__pack(&req, buf);
	got = saferring__request__unpack(&arena.allocator, len, buf);
	assert_non_null(got);
	assert_int_equal(got->body_case, SAFERRING__REQUEST__BODY_SUBMIT);
	assert_int_equal(got->submit->n_ops, n);
	for (size_t i = 0; i < n; i++)
		request_from_wire(got->submit->ops[i], &res[i]);
}

/* ---- building operations and completions ---------------------------------- */

static void random_op(struct op_request *r, size_t i)
{
	memset(r, 0, sizeof(*r));
	r->tag = value64();
	r->opcode = below(4) ? (uint32_t)below(SR_OP__COUNT + 2) : value32();
	if (below(2))
		r->flags = value32();
	if (below(4) == 0)
		r->link = below(2) ? (uint32_t)below(4) : value32();
	if ((r->has_fd = below(2))) {
		r->fd_index = value32();
		r->fd_generation = value32();
	}
	if ((r->has_slot = below(2))) {
		r->slot_index = value32();
		r->slot_generation = value32();
		r->slot_offset = value32();
		r->slot_length = value32();
	}
	if ((r->has_file_offset = below(2)))
		r->file_offset = value64();
	if ((r->has_length = below(4) == 0))
		r->length = value64();
	if ((r->has_timeout = below(4) == 0))
		r->timeout_ns = value64();
	if ((r->has_target = below(4) == 0))
		r->target = value64();
	if ((r->has_msg_flags = below(3) == 0))
		r->msg_flags = value32();
	if ((r->has_addr = below(4) == 0)) {
		r->addr_len = (uint32_t)below(sizeof(addr_pool[i]) + 1);
		for (uint32_t k = 0; k < r->addr_len; k++)
			addr_pool[i][k] = (unsigned char)rng();
		r->addr = r->addr_len ? addr_pool[i] : NULL;
	}
	if (below(3) == 0) {
		r->n_iov = 1 + (uint32_t)below(OP_MAX_IOV);
		for (uint32_t k = 0; k < r->n_iov; k++)
			r->iov[k] = (struct op_slot_ref){
				value32(), value32(), value32(), value32(),
			};
	}
}

static void random_completion(struct op_completion *c)
{
	memset(c, 0, sizeof(*c));
	c->tag = value64();
	c->status = below(2) ? (uint32_t)below(SR_STATUS__COUNT) : value32();
	c->result = (int32_t)value32();
	c->flags = below(2) ? 0 : value32();
	if ((c->has_slot = below(2))) {
		c->slot_index = value32();
		c->slot_generation = value32();
	}
	if ((c->has_handle = below(4) == 0)) {
		c->handle_index = value32();
		c->handle_generation = value32();
	}
	if (below(3) == 0) {
		c->n_slots = 1 + (uint32_t)below(OP_MAX_IOV);
		for (uint32_t k = 0; k < c->n_slots; k++)
			c->slots[k] = (struct op_slot_back){ value32(),
							     value32() };
	}
}

static struct op_request op_base(uint64_t tag, uint32_t opcode)
{
	struct op_request r;

	memset(&r, 0, sizeof(r));
	r.tag = tag;
	r.opcode = opcode;
	return r;
}

static void with_fd(struct op_request *r)
{
	r->has_fd = true;
	r->fd_index = 3;
	r->fd_generation = 7;
}

static void with_slot(struct op_request *r, uint32_t index)
{
	r->has_slot = true;
	r->slot_index = index;
	r->slot_generation = 2 * index + 1;
	r->slot_offset = 512;
	r->slot_length = 4096;
}

static void with_offset(struct op_request *r, uint64_t off)
{
	r->has_file_offset = true;
	r->file_offset = off;
}

static void with_iov(struct op_request *r, uint32_t n)
{
	r->n_iov = n;
	for (uint32_t k = 0; k < n; k++)
		r->iov[k] = (struct op_slot_ref){ 10 + k, 1 + k, 100 * k,
						  4096 - k };
}

static const struct sockaddr_in sin_addr = {
	.sin_family = AF_INET,
	.sin_port = 0x5000,
	.sin_addr.s_addr = 0x0100007f,
};
static const struct sockaddr_in6 sin6_addr = {
	.sin6_family = AF_INET6,
	.sin6_port = 0x5000,
	.sin6_addr.s6_addr = { [15] = 1 },
};

/* Every opcode in the shape the client sends it, a few of them twice
 * (other flag or address kinds), and two unknown opcodes.  Returns n. */
static size_t every_shape(struct op_request *r)
{
	size_t n = 0;
	uint64_t tag = 100;

	r[n] = op_base(tag++, SR_OP_NOP);
	n++;
	for (uint32_t op = SR_OP_READ; op <= SR_OP_WRITE; op++) {
		r[n] = op_base(tag++, op);
		with_fd(&r[n]);
		with_slot(&r[n], op);
		with_offset(&r[n], 1ULL << 40);
		n++;
	}
	r[n] = op_base(tag++, SR_OP_FSYNC);
	with_fd(&r[n]);
	r[n].flags = 1; /* DATASYNC */
	n++;
	for (uint32_t op = SR_OP_READV; op <= SR_OP_WRITEV; op++) {
		r[n] = op_base(tag++, op);
		with_fd(&r[n]);
		with_iov(&r[n], op == SR_OP_READV ? 1 : OP_MAX_IOV);
		with_offset(&r[n], 0);
		n++;
	}
	r[n] = op_base(tag++, SR_OP_FALLOCATE);
	with_fd(&r[n]);
	with_offset(&r[n], 4096);
	r[n].has_length = true;
	r[n].length = 1 << 20;
	r[n].flags = 1 | 2;
	n++;
	for (uint32_t op = SR_OP_SEND; op <= SR_OP_RECV; op++) {
		r[n] = op_base(tag++, op);
		with_fd(&r[n]);
		with_slot(&r[n], 9);
		r[n].has_msg_flags = true;
		r[n].msg_flags = op == SR_OP_SEND ? MSG_MORE : MSG_WAITALL;
		n++;
	}
	r[n] = op_base(tag++, SR_OP_RECV); /* multishot: no slot */
	with_fd(&r[n]);
	r[n].flags = 1;
	n++;
	for (uint32_t op = SR_OP_SENDMSG; op <= SR_OP_RECVMSG; op++) {
		r[n] = op_base(tag++, op);
		with_fd(&r[n]);
		with_iov(&r[n], 3);
		r[n].has_msg_flags = true;
		r[n].msg_flags = 0;
		n++;
	}
	r[n] = op_base(tag++, SR_OP_ACCEPT);
	with_fd(&r[n]);
	r[n].flags = 1;
	n++;
	r[n] = op_base(tag++, SR_OP_CONNECT);
	with_fd(&r[n]);
	r[n].has_addr = true;
	r[n].addr = (const unsigned char *)&sin_addr;
	r[n].addr_len = sizeof(sin_addr);
	n++;
	r[n] = op_base(tag++, SR_OP_CONNECT);
	with_fd(&r[n]);
	r[n].has_addr = true;
	r[n].addr = (const unsigned char *)&sin6_addr;
	r[n].addr_len = sizeof(sin6_addr);
	r[n].link = SR_LINK_HARD;
	n++;
	r[n] = op_base(tag++, SR_OP_POLL_ADD);
	with_fd(&r[n]);
	r[n].flags = 0x2000 | 1; /* POLLRDHUP | POLLIN */
	r[n].link = SR_LINK;
	n++;
	r[n] = op_base(tag++, SR_OP_LINK_TIMEOUT);
	r[n].has_timeout = true;
	r[n].timeout_ns = 5000000;
	n++;
	for (uint32_t op = SR_OP_POLL_REMOVE; op <= SR_OP_ASYNC_CANCEL; op++) {
		if (op == SR_OP_TIMEOUT || op == SR_OP_LINK_TIMEOUT) {
			r[n] = op_base(tag++, op);
			r[n].has_timeout = true;
			r[n].timeout_ns = UINT64_MAX;
			n++;
			continue;
		}
		r[n] = op_base(tag++, op);
		r[n].has_target = true;
		r[n].target = 101;
		n++;
	}
	r[n] = op_base(tag++, SR_OP_CLOSE);
	with_fd(&r[n]);
	n++;
	r[n] = op_base(tag++, SR_OP_SHUTDOWN);
	with_fd(&r[n]);
	r[n].flags = 2;
	n++;
	r[n] = op_base(tag++, SR_OP_PROVIDE);
	with_slot(&r[n], 5);
	r[n].slot_offset = 0;
	n++;
	r[n] = op_base(UINT64_MAX, SR_OP__COUNT);
	n++;
	r[n] = op_base(0, UINT32_MAX);
	with_fd(&r[n]);
	n++;
	return n;
}

/* Every completion shape the daemon sends. */
static size_t every_completion_shape(struct op_completion *c)
{
	size_t n = 0;

	memset(c, 0, 8 * sizeof(*c));
	/* A read that handed its slot back. */
	c[n].tag = 1;
	c[n].result = 4096;
	c[n].has_slot = true;
	c[n].slot_index = 4;
	c[n].slot_generation = 9;
	n++;
	/* A vectored op: every slot back. */
	c[n].tag = 2;
	c[n].result = 16 * 4096;
	c[n].n_slots = OP_MAX_IOV;
	for (uint32_t k = 0; k < OP_MAX_IOV; k++)
		c[n].slots[k] = (struct op_slot_back){ k, 2 * k + 2 };
	n++;
	c[n].tag = 3;
	c[n].result = 10;
	c[n].n_slots = 1;
	c[n].slots[0] = (struct op_slot_back){ 63, UINT32_MAX };
	n++;
	/* An accept. */
	c[n].tag = 4;
	c[n].has_handle = true;
	c[n].handle_index = 17;
	c[n].handle_generation = 2;
	c[n].flags = 2; /* MORE: multishot */
	n++;
	/* A refusal. */
	c[n].tag = UINT64_MAX;
	c[n].status = SR_STATUS_BAD_SLOT;
	c[n].result = -ENXIO;
	n++;
	/* One shot of a multishot receive: a pooled slot. */
	c[n].tag = 6;
	c[n].result = 1500;
	c[n].flags = 2 | 4;
	c[n].has_slot = true;
	c[n].slot_index = 0;
	c[n].slot_generation = 1;
	n++;
	/* A close. */
	c[n].tag = 7;
	n++;
	/* INT32_MIN, and all three optional parts at once. */
	c[n].tag = 8;
	c[n].result = INT32_MIN;
	c[n].has_slot = c[n].has_handle = true;
	c[n].n_slots = 2;
	n++;
	return n;
}

/* ---- encoding and decoding helpers -------------------------------------------- */

/* A copy of @len bytes in a buffer of exactly that size, so that ASan
 * catches a read past the end. */
static unsigned char *exact_copy(const void *p, size_t len)
{
	unsigned char *q = malloc(len ? len : 1);

	assert_non_null(q);
	if (len)
		memcpy(q, p, len);
	return q;
}

static size_t encode_ops(const struct op_request *in, size_t n)
{
	size_t len = 0;

	assert_int_equal(batch_encode_ops(&op_enc, in, n, buf, sizeof(buf),
					  &len), 0);
	/* The cheap bound the encoder trusts must hold. */
	assert_true(saferring__op_batch__get_packed_size(&op_enc.msg) == len);
	assert_true(op_enc.max_bytes >= len);
	return len;
}

static size_t encode_completions(const struct op_completion *in, size_t n)
{
	size_t len = 0;

	assert_int_equal(batch_encode_completions(&comp_enc, in, n, buf,
						  sizeof(buf), &len), 0);
	assert_true(saferring__completion_batch__get_packed_size(
			    &comp_enc.msg) == len);
	assert_true(comp_enc.max_bytes >= len);
	return len;
}

/* Decode @len bytes of @p from an exact copy; on failure, check that
 * *n is 0 and the output untouched. */
static int decode_ops(const void *p, size_t len, size_t max, size_t *n)
{
	unsigned char *copy = exact_copy(p, len);
	int ret;

	memset(out, 0xa5, sizeof(out));
	wire_arena_reset(&arena);
	*n = 12345;
	ret = batch_decode_ops(copy, len, &arena, out, max, n);
	free(copy);
	if (ret) {
		assert_int_equal(*n, 0);
		for (size_t i = 0; i < sizeof(out); i++)
			if (((unsigned char *)out)[i] != 0xa5)
				fail_msg("failed decode wrote its output");
	} else {
		assert_true(*n <= max);
	}
	return ret;
}

static int decode_completions(const void *p, size_t len, size_t max,
			      size_t *n)
{
	unsigned char *copy = exact_copy(p, len);
	int ret;

	memset(comps_out, 0xa5, sizeof(comps_out));
	wire_arena_reset(&arena);
	*n = 12345;
	ret = batch_decode_completions(copy, len, &arena, comps_out, max, n);
	free(copy);
	if (ret) {
		assert_int_equal(*n, 0);
		for (size_t i = 0; i < sizeof(comps_out); i++)
			if (((unsigned char *)comps_out)[i] != 0xa5)
				fail_msg("failed decode wrote its output");
	} else {
		assert_true(*n <= max);
		for (size_t i = 0; i < *n; i++)
			assert_true(comps_out[i].n_slots <= OP_MAX_IOV);
	}
	return ret;
}

/* Encode, decode as a batch and as today's Submit: all three the same. */
static void check_ops_roundtrip(const struct op_request *in, size_t n)
{
	size_t len = encode_ops(in, n), got;

	assert_int_equal(decode_ops(buf, len, BATCH_MAX_OPS, &got), 0);
	assert_int_equal(got, n);
	for (size_t i = 0; i < n; i++) {
		assert_op_equal(&in[i], &out[i], i);
		/* The address points into the arena, where the message is. */
		if (out[i].addr_len) {
			assert_true(out[i].addr >= arena.base);
			assert_true(out[i].addr + out[i].addr_len <=
				    arena.base + arena.size);
		}
	}
	nested_roundtrip(in, n, nested_out);
	for (size_t i = 0; i < n; i++)
		assert_op_equal(&nested_out[i], &out[i], i);
}

static void check_completions_roundtrip(const struct op_completion *in,
					size_t n)
{
	size_t len = encode_completions(in, n), got;

	assert_int_equal(decode_completions(buf, len, BATCH_MAX_OPS, &got),
			 0);
	assert_int_equal(got, n);
	for (size_t i = 0; i < n; i++)
		assert_completion_equal(&in[i], &comps_out[i]);
}

/* ---- round trips ------------------------------------------------------------ */

static void test_ops_every_shape(void **state)
{
	size_t n = every_shape(ops);

	(void)state;
	assert_true(n >= SR_OP__COUNT);
	check_ops_roundtrip(ops, n);
	/* Each alone too: no column may depend on its neighbours. */
	for (size_t i = 0; i < n; i++)
		check_ops_roundtrip(&ops[i], 1);
}

static void test_ops_empty(void **state)
{
	size_t len, n;

	(void)state;
	assert_int_equal(batch_encode_ops(&op_enc, ops, 0, buf, 0, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(decode_ops(buf, 0, BATCH_MAX_OPS, &n), 0);
	assert_int_equal(n, 0);
	wire_arena_reset(&arena);
	assert_int_equal(batch_decode_ops(NULL, 0, &arena, out, 0, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(batch_decode_ops(NULL, 1, &arena, out, 1, &n),
			 -EINVAL);
}

static void test_ops_random(void **state)
{
	(void)state;
	for (int k = 0; k < RANDOM_BATCHES; k++) {
		size_t n = below(8) ? below(40) : below(BATCH_MAX_OPS + 1);

		for (size_t i = 0; i < n; i++)
			random_op(&ops[i], i);
		check_ops_roundtrip(ops, n);
	}
}

static void test_ops_full_batch(void **state)
{
	size_t n;

	(void)state;
	/* The largest batch the encoder takes: every range of every op. */
	for (size_t i = 0; i < BATCH_MAX_OPS; i++) {
		random_op(&ops[i], i);
		ops[i].n_iov = OP_MAX_IOV;
		for (uint32_t k = 0; k < OP_MAX_IOV; k++)
			ops[i].iov[k] = (struct op_slot_ref){
				UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX,
			};
	}
	check_ops_roundtrip(ops, BATCH_MAX_OPS);
	/* max is the caller's: one fewer is too many. */
	assert_int_equal(decode_ops(buf, encode_ops(ops, BATCH_MAX_OPS),
				    BATCH_MAX_OPS - 1, &n), -E2BIG);
}

static void test_completions_every_shape(void **state)
{
	size_t n = every_completion_shape(comps);

	(void)state;
	check_completions_roundtrip(comps, n);
	for (size_t i = 0; i < n; i++)
		check_completions_roundtrip(&comps[i], 1);
	check_completions_roundtrip(comps, 0);
}

static void test_completions_random(void **state)
{
	(void)state;
	for (int k = 0; k < RANDOM_BATCHES; k++) {
		size_t n = below(8) ? below(40) : below(BATCH_MAX_OPS + 1);

		for (size_t i = 0; i < n; i++)
			random_completion(&comps[i]);
		check_completions_roundtrip(comps, n);
	}
}

/* ---- equivalence with request_from_wire() on what only the wire can say --- */

/* An op with @count ranges (more than OP_MAX_IOV), as a nested Op and as
 * a one-op OpBatch: both decode to n_iov = count, first ranges kept. */
static void check_many_ranges(uint32_t count)
{
	Saferring__SlotRef *refs = calloc(count, sizeof(*refs));
	Saferring__SlotRef **ptrs = calloc(count, sizeof(*ptrs));
	uint32_t *cols = calloc(4 * (size_t)count, sizeof(*cols));
	Saferring__Op op = SAFERRING__OP__INIT;
	Saferring__OpBatch b = SAFERRING__OP_BATCH__INIT;
	uint64_t tag = 77;
	uint32_t opcode = SR_OP_READV, present = BATCH_OP_IOV;
	struct op_request nested;
	size_t len, n;

	assert_non_null(refs);
	assert_non_null(ptrs);
	assert_non_null(cols);
	for (uint32_t k = 0; k < count; k++) {
		saferring__slot_ref__init(&refs[k]);
		refs[k].index = cols[k] = k;
		refs[k].generation = cols[count + k] = 1000 + k;
		refs[k].offset = cols[2 * count + k] = 7 * k;
		refs[k].length = cols[3 * count + k] = 4096 + k;
		ptrs[k] = &refs[k];
	}
	op.tag = tag;
	op.opcode = opcode;
	op.n_iov = count;
	op.iov = ptrs;
	len = saferring__op__pack(&op, buf);
	wire_arena_reset(&arena);
	Saferring__Op *got = saferring__op__unpack(&arena.allocator, len, buf);
	assert_non_null(got);
	request_from_wire(got, &nested);

	b.n_tag = b.n_opcode = b.n_present = 1;
	b.tag = &tag;
	b.opcode = &opcode;
	b.present = &present;
	b.n_iov_count = 1;
	b.iov_count = &count;
	b.n_iov_index = b.n_iov_generation = count;
	b.n_iov_offset = b.n_iov_length = count;
	b.iov_index = cols;
	b.iov_generation = cols + count;
	b.iov_offset = cols + 2 * (size_t)count;
	b.iov_length = cols + 3 * (size_t)count;
	len = saferring__op_batch__pack(&b, buf);
	assert_int_equal(decode_ops(buf, len, BATCH_MAX_OPS, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].n_iov, count);
	assert_op_equal(&nested, &out[0], 0);
	free(refs);
	free(ptrs);
	free(cols);
}

static void test_ops_too_many_ranges_kept_as_sent(void **state)
{
	struct op_request r = op_base(1, SR_OP_READV);
	size_t len;

	(void)state;
	check_many_ranges(OP_MAX_IOV + 1);
	check_many_ranges(1000);
	/* The encoder cannot send what it does not hold. */
	r.n_iov = OP_MAX_IOV + 1;
	assert_int_equal(batch_encode_ops(&op_enc, &r, 1, buf, sizeof(buf),
					  &len), -EINVAL);
}

/* Zero flags, link and msg_flags sent as present, an empty address: the
 * same in both layouts. */
static void test_ops_present_zeroes(void **state)
{
	Saferring__Op op = SAFERRING__OP__INIT;
	Saferring__OpBatch b = SAFERRING__OP_BATCH__INIT;
	uint64_t tag = 5, fo = 0;
	uint32_t opcode = SR_OP_CONNECT, zero = 0;
	uint32_t present = BATCH_OP_FLAGS | BATCH_OP_LINK | BATCH_OP_MSG_FLAGS |
			   BATCH_OP_ADDR | BATCH_OP_FILE_OFFSET;
	ProtobufCBinaryData empty = { 0, NULL };
	struct op_request nested;
	size_t len, n;

	(void)state;
	op.tag = tag;
	op.opcode = opcode;
	op.has_flags = op.has_link = op.has_msg_flags = 1;
	op.has_addr = op.has_file_offset = 1;
	len = saferring__op__pack(&op, buf);
	wire_arena_reset(&arena);
	Saferring__Op *got = saferring__op__unpack(&arena.allocator, len, buf);
	assert_non_null(got);
	request_from_wire(got, &nested);

	b.n_tag = b.n_opcode = b.n_present = 1;
	b.tag = &tag;
	b.opcode = &opcode;
	b.present = &present;
	b.n_flags = b.n_link = b.n_msg_flags = 1;
	b.flags = b.link = b.msg_flags = &zero;
	b.n_addr = 1;
	b.addr = &empty;
	b.n_file_offset = 1;
	b.file_offset = &fo;
	len = saferring__op_batch__pack(&b, buf);
	assert_int_equal(decode_ops(buf, len, 1, &n), 0);
	assert_int_equal(n, 1);
	assert_true(out[0].has_addr && out[0].addr_len == 0);
	assert_true(out[0].has_msg_flags && out[0].has_file_offset);
	assert_op_equal(&nested, &out[0], 0);
	assert_true(nested.addr == NULL && out[0].addr == NULL);
}

/* ---- the encoder's limits ------------------------------------------------------ */

static void test_encode_limits(void **state)
{
	size_t n = every_shape(ops), len, need;
	unsigned char *small;

	(void)state;
	assert_int_equal(batch_encode_ops(&op_enc, ops, BATCH_MAX_OPS + 1,
					  buf, sizeof(buf), &len), -E2BIG);
	assert_int_equal(batch_encode_completions(&comp_enc, comps,
						  BATCH_MAX_OPS + 1, buf,
						  sizeof(buf), &len), -E2BIG);
	ops[n] = op_base(1, SR_OP_CONNECT);
	ops[n].has_addr = true;
	ops[n].addr_len = 16;
	assert_int_equal(batch_encode_ops(&op_enc, ops, n + 1, buf,
					  sizeof(buf), &len), -EINVAL);
	memset(&comps[0], 0, sizeof(comps[0]));
	comps[0].n_slots = OP_MAX_IOV + 1;
	assert_int_equal(batch_encode_completions(&comp_enc, comps, 1, buf,
						  sizeof(buf), &len), -EINVAL);

	/* Every capacity short of the size is refused, nothing written
	 * past it (ASan: each buffer is exactly cap bytes). */
	need = encode_ops(ops, n);
	for (size_t cap = 0; cap < need; cap++) {
		small = malloc(cap ? cap : 1);
		assert_non_null(small);
		memset(small, 0x5a, cap);
		assert_int_equal(batch_encode_ops(&op_enc, ops, n, small, cap,
						  &len), -EMSGSIZE);
		for (size_t i = 0; i < cap; i++)
			assert_int_equal(small[i], 0x5a);
		free(small);
	}
	small = malloc(need);
	assert_non_null(small);
	assert_int_equal(batch_encode_ops(&op_enc, ops, n, small, need, &len),
			 0);
	assert_int_equal(len, need);
	assert_memory_equal(small, buf, need);
	free(small);

	n = every_completion_shape(comps);
	need = encode_completions(comps, n);
	for (size_t cap = 0; cap < need; cap++) {
		small = malloc(cap ? cap : 1);
		assert_non_null(small);
		assert_int_equal(batch_encode_completions(&comp_enc, comps, n,
							  small, cap, &len),
				 -EMSGSIZE);
		free(small);
	}
}

/* ---- hostile inputs: columns that do not match the presence bits --------- */

static size_t elt_size(const ProtobufCFieldDescriptor *f)
{
	/* The batch messages have three column types only. */
	if (f->type == PROTOBUF_C_TYPE_UINT64)
		return sizeof(uint64_t);
	if (f->type == PROTOBUF_C_TYPE_BYTES)
		return sizeof(ProtobufCBinaryData);
	return sizeof(uint32_t);
}

/* Pack @m with column @f one longer (@delta 1) or shorter (-1). */
static size_t pack_mutated(const ProtobufCMessage *m, size_t msg_size,
			   const ProtobufCFieldDescriptor *f, int delta)
{
	_Alignas(16) unsigned char copy[1024];
	_Alignas(16) unsigned char grown[(BATCH_MAX_OPS * OP_MAX_IOV + 1) * 16];
	size_t *np = (size_t *)(copy + f->quantifier_offset);
	void **ap = (void **)(copy + f->offset);
	size_t elt = elt_size(f);
	size_t len;

	assert_true(msg_size <= sizeof(copy));
	memcpy(copy, m, msg_size);
	if (delta < 0) {
		assert_true(*np > 0);
		(*np)--;
	} else {
		assert_true((*np + 1) * elt <= sizeof(grown));
		if (*np)
			memcpy(grown, *ap, *np * elt);
		/* Another of the last value (or 1): only the length is
		 * wrong. */
		if (*np)
			memcpy(grown + *np * elt, (char *)*ap + (*np - 1) * elt,
			       elt);
		else if (f->type == PROTOBUF_C_TYPE_BYTES)
			memset(grown, 0, elt);
		else if (elt == sizeof(uint64_t))
			*(uint64_t *)grown = 1;
		else
			*(uint32_t *)grown = 1;
		*ap = grown;
		(*np)++;
	}
	len = protobuf_c_message_get_packed_size((ProtobufCMessage *)copy);
	assert_true(len <= sizeof(buf));
	protobuf_c_message_pack((ProtobufCMessage *)copy, buf);
	return len;
}

static void test_ops_each_column_short_and_long(void **state)
{
	const ProtobufCMessageDescriptor *d = &saferring__op_batch__descriptor;
	size_t n = every_shape(ops), got, len;

	(void)state;
	encode_ops(ops, n);
	/* The sample uses every column, or a short one would go unseen. */
	for (unsigned f = 0; f < d->n_fields; f++) {
		const size_t *np = (const size_t *)((const char *)&op_enc.msg +
						    d->fields[f].quantifier_offset);

		if (!*np)
			fail_msg("column %s unused by the sample",
				 d->fields[f].name);
	}
	for (unsigned f = 0; f < d->n_fields; f++) {
		for (int delta = -1; delta <= 1; delta += 2) {
			len = pack_mutated(&op_enc.msg.base, sizeof(op_enc.msg),
					   &d->fields[f], delta);
			if (decode_ops(buf, len, BATCH_MAX_OPS, &got) != -EINVAL)
				fail_msg("column %s %s by one: not refused",
					 d->fields[f].name,
					 delta < 0 ? "short" : "long");
		}
	}
}

static void test_completions_each_column_short_and_long(void **state)
{
	const ProtobufCMessageDescriptor *d =
		&saferring__completion_batch__descriptor;
	size_t n = every_completion_shape(comps), got, len;

	(void)state;
	encode_completions(comps, n);
	for (unsigned f = 0; f < d->n_fields; f++) {
		const size_t *np = (const size_t *)((const char *)&comp_enc.msg +
						    d->fields[f].quantifier_offset);

		if (!*np)
			fail_msg("column %s unused by the sample",
				 d->fields[f].name);
	}
	for (unsigned f = 0; f < d->n_fields; f++) {
		for (int delta = -1; delta <= 1; delta += 2) {
			len = pack_mutated(&comp_enc.msg.base,
					   sizeof(comp_enc.msg), &d->fields[f],
					   delta);
			if (decode_completions(buf, len, BATCH_MAX_OPS, &got) !=
			    -EINVAL)
				fail_msg("column %s %s by one: not refused",
					 d->fields[f].name,
					 delta < 0 ? "short" : "long");
		}
	}
}

/* Unknown presence bits, alone and with every known one. */
static void test_ops_bad_presence_bits(void **state)
{
	size_t n, len;

	(void)state;
	for (unsigned bit = 11; bit < 32; bit++) {
		ops[0] = op_base(1, SR_OP_NOP);
		encode_ops(ops, 1);
		op_enc.present[0] = 1u << bit;
		len = saferring__op_batch__pack(&op_enc.msg, buf);
		assert_int_equal(decode_ops(buf, len, BATCH_MAX_OPS, &n),
				 -EINVAL);
		/* A valid op and its columns, plus the unknown bit. */
		every_shape(ops);
		encode_ops(ops, 3);
		op_enc.present[1] |= 1u << bit;
		len = saferring__op_batch__pack(&op_enc.msg, buf);
		assert_int_equal(decode_ops(buf, len, BATCH_MAX_OPS, &n),
				 -EINVAL);
	}
}

static void test_completions_bad_presence_bits(void **state)
{
	size_t n, len;

	(void)state;
	for (unsigned bit = 3; bit < 32; bit++) {
		every_completion_shape(comps);
		encode_completions(comps, 3);
		comp_enc.present[2] |= 1u << bit;
		len = saferring__completion_batch__pack(&comp_enc.msg, buf);
		assert_int_equal(decode_completions(buf, len, BATCH_MAX_OPS,
						    &n), -EINVAL);
	}
}

/* A bit moved from one op to another keeps every column's length: the
 * batch decodes, differently (the layout cannot tell), never out of
 * bounds; a bit added or dropped is refused. */
static void test_ops_presence_moved(void **state)
{
	size_t n = every_shape(ops), got, len;

	(void)state;
	encode_ops(ops, n);
	op_enc.present[0] |= BATCH_OP_FD;  /* the NOP takes the READ's fd */
	op_enc.present[1] &= ~BATCH_OP_FD;
	len = saferring__op_batch__pack(&op_enc.msg, buf);
	assert_int_equal(decode_ops(buf, len, BATCH_MAX_OPS, &got), 0);
	assert_true(out[0].has_fd && !out[1].has_fd);
	assert_int_equal(out[0].fd_index, ops[1].fd_index);
	op_enc.present[2] ^= BATCH_OP_FILE_OFFSET;
	len = saferring__op_batch__pack(&op_enc.msg, buf);
	assert_int_equal(decode_ops(buf, len, BATCH_MAX_OPS, &got), -EINVAL);
}

/* iov counts that do not add up to the range columns, a 0 count, a
 * count that would wrap 32 bits when added up. */
static void test_ops_iov_counts(void **state)
{
	size_t n = every_shape(ops), got, len;
	uint32_t saved;
	size_t k;

	(void)state;
	encode_ops(ops, n);
	assert_true(op_enc.msg.n_iov_count >= 2);
	for (k = 0; k < op_enc.msg.n_iov_count; k++) {
		saved = op_enc.iov_count[k];
		const uint32_t bad[] = { 0, saved - 1, saved + 1, UINT32_MAX,
					 UINT32_MAX - saved + 1 };

		for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
			if (bad[j] == saved)
				continue;
			op_enc.iov_count[k] = bad[j];
			len = saferring__op_batch__pack(&op_enc.msg, buf);
			assert_int_equal(decode_ops(buf, len, BATCH_MAX_OPS,
						    &got), -EINVAL);
		}
		op_enc.iov_count[k] = saved;
	}
	/* An empty iov with the bit set, the sums right: refused (an empty
	 * iov is sent as none). */
	op_enc.iov_count[1] += op_enc.iov_count[0];
	op_enc.iov_count[0] = 0;
	len = saferring__op_batch__pack(&op_enc.msg, buf);
	assert_int_equal(decode_ops(buf, len, BATCH_MAX_OPS, &got), -EINVAL);
	encode_ops(ops, n);
	/* One range moved from an op to the next: sums still match, so it
	 * decodes (the layout cannot tell), inside the columns. */
	op_enc.iov_count[1]--;
	op_enc.iov_count[2]++;
	len = saferring__op_batch__pack(&op_enc.msg, buf);
	assert_int_equal(decode_ops(buf, len, BATCH_MAX_OPS, &got), 0);
	/* Counts adding up to 2^32 + the real total (the right total in 32
	 * bits): refused, no wrap. */
	encode_ops(ops, n);
	op_enc.iov_count[1] += op_enc.iov_count[0] + 1;
	op_enc.iov_count[0] = UINT32_MAX;
	len = saferring__op_batch__pack(&op_enc.msg, buf);
	assert_int_equal(decode_ops(buf, len, BATCH_MAX_OPS, &got), -EINVAL);
}

static void test_completions_slot_counts(void **state)
{
	size_t n = every_completion_shape(comps), got, len;
	uint32_t saved;

	(void)state;
	encode_completions(comps, n);
	for (size_t k = 0; k < comp_enc.msg.n_slots_count; k++) {
		saved = comp_enc.slots_count[k];
		const uint32_t bad[] = { 0, saved - 1, saved + 1,
					 OP_MAX_IOV + 1, UINT32_MAX };

		for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
			if (bad[j] == saved)
				continue;
			comp_enc.slots_count[k] = bad[j];
			len = saferring__completion_batch__pack(&comp_enc.msg,
								buf);
			assert_int_equal(decode_completions(buf, len,
							    BATCH_MAX_OPS,
							    &got), -EINVAL);
		}
		comp_enc.slots_count[k] = saved;
	}
	/* No slots with the bit set, the sums right: refused. */
	assert_true(comp_enc.msg.n_slots_count >= 3);
	comp_enc.slots_count[2] += comp_enc.slots_count[1];
	assert_true(comp_enc.slots_count[2] <= OP_MAX_IOV);
	comp_enc.slots_count[1] = 0;
	len = saferring__completion_batch__pack(&comp_enc.msg, buf);
	assert_int_equal(decode_completions(buf, len, BATCH_MAX_OPS, &got),
			 -EINVAL);
	/* More than OP_MAX_IOV slots with columns to match: refused all
	 * the same (no completion may say more than it can hold). */
	memset(&comps[0], 0, sizeof(comps[0]));
	comps[0].n_slots = OP_MAX_IOV;
	encode_completions(comps, 1);
	{
		uint32_t idx[OP_MAX_IOV + 1] = { 0 }, gen[OP_MAX_IOV + 1] = { 0 };
		uint32_t count = OP_MAX_IOV + 1;

		comp_enc.msg.slots_count = &count;
		comp_enc.msg.n_slots_index = comp_enc.msg.n_slots_generation =
			OP_MAX_IOV + 1;
		comp_enc.msg.slots_index = idx;
		comp_enc.msg.slots_generation = gen;
		len = saferring__completion_batch__pack(&comp_enc.msg, buf);
		assert_int_equal(decode_completions(buf, len, BATCH_MAX_OPS,
						    &got), -EINVAL);
	}
}

/* ---- hostile inputs: sizes -------------------------------------------------- */

static void test_too_many(void **state)
{
	size_t got, len;

	(void)state;
	for (size_t i = 0; i <= BATCH_MAX_OPS; i++)
		ops[i] = op_base(i, SR_OP_NOP);
	/* The encoder refuses 257: build the message by hand. */
	{
		uint64_t tags[BATCH_MAX_OPS + 1] = { 0 };
		uint32_t zeros[BATCH_MAX_OPS + 1] = { 0 };
		Saferring__OpBatch b = SAFERRING__OP_BATCH__INIT;

		b.n_tag = b.n_opcode = b.n_present = BATCH_MAX_OPS + 1;
		b.tag = tags;
		b.opcode = b.present = zeros;
		len = saferring__op_batch__pack(&b, buf);
		assert_int_equal(decode_ops(buf, len, BATCH_MAX_OPS, &got),
				 -E2BIG);
		assert_int_equal(decode_ops(buf, len, BATCH_MAX_OPS + 1, &got),
				 0);
		/* Too many wins over inconsistent: the count is the tags'. */
		b.n_opcode = 3;
		len = saferring__op_batch__pack(&b, buf);
		assert_int_equal(decode_ops(buf, len, BATCH_MAX_OPS, &got),
				 -E2BIG);

		Saferring__CompletionBatch c = SAFERRING__COMPLETION_BATCH__INIT;
		int32_t results[BATCH_MAX_OPS + 1] = { 0 };

		c.n_tag = c.n_status = c.n_result = c.n_flags = c.n_present =
			BATCH_MAX_OPS + 1;
		c.tag = tags;
		c.status = c.flags = c.present = zeros;
		c.result = results;
		len = saferring__completion_batch__pack(&c, buf);
		assert_int_equal(decode_completions(buf, len, BATCH_MAX_OPS,
						    &got), -E2BIG);
		assert_int_equal(decode_completions(buf, len, 0, &got), -E2BIG);
	}
	/* A smaller max (a session's max_batch) is honoured. */
	len = encode_ops(ops, 33);
	assert_int_equal(decode_ops(buf, len, 32, &got), -E2BIG);
	assert_int_equal(decode_ops(buf, len, 33, &got), 0);
	assert_int_equal(decode_ops(buf, 0, 0, &got), 0);
}

/* Every strict prefix of a valid batch is refused: a cut field does not
 * unpack, and a batch without its last field does not add up. */
static void test_truncated(void **state)
{
	size_t n = every_shape(ops), len, got;
	unsigned char *whole;

	(void)state;
	len = encode_ops(ops, n);
	whole = exact_copy(buf, len);
	for (size_t cut = 1; cut < len; cut++)
		if (decode_ops(whole, cut, BATCH_MAX_OPS, &got) != -EINVAL)
			fail_msg("operations cut at %zu of %zu: not refused",
				 cut, len);
	free(whole);

	n = every_completion_shape(comps);
	len = encode_completions(comps, n);
	whole = exact_copy(buf, len);
	for (size_t cut = 1; cut < len; cut++)
		if (decode_completions(whole, cut, BATCH_MAX_OPS, &got) !=
		    -EINVAL)
			fail_msg("completions cut at %zu of %zu: not refused",
				 cut, len);
	free(whole);
}

/* Random bytes, and valid batches with bytes flipped, inserted, removed:
 * refused or decoded, never anything else, never out of bounds. */
static void test_garbage(void **state)
{
	unsigned char *m = malloc(4096 + 64);
	size_t n = every_shape(ops), len, got;
	int ret;

	(void)state;
	assert_non_null(m);
	for (int k = 0; k < MUTATIONS; k++) {
		bool completions = (k >> 1) & 1;

		if (k % 10 == 0) {
			len = below(512);
			for (size_t i = 0; i < len; i++)
				m[i] = (unsigned char)rng();
		} else {
			len = completions ?
			      encode_completions(comps,
						 every_completion_shape(comps)) :
			      encode_ops(ops, n);
			assert_true(len <= 4096);
			memcpy(m, buf, len);
			for (int e = 1 + (int)below(4); e > 0; e--) {
				size_t at = below(len + 1);

				switch (below(4)) {
				case 0: /* flip */
					if (at < len)
						m[at] ^= (unsigned char)(1 + below(255));
					break;
				case 1: /* insert */
					memmove(m + at + 1, m + at, len - at);
					m[at] = (unsigned char)rng();
					len++;
					break;
				case 2: /* remove */
					if (at < len) {
						memmove(m + at, m + at + 1,
							len - at - 1);
						len--;
					}
					break;
				default: /* a byte that looks like a key */
					if (at < len)
						m[at] = (unsigned char)(below(26) << 3 |
									below(6));
					break;
				}
			}
		}
		ret = completions ?
		      decode_completions(m, len, BATCH_MAX_OPS, &got) :
		      decode_ops(m, len, BATCH_MAX_OPS, &got);
		assert_true(ret == 0 || ret == -EINVAL || ret == -E2BIG);
		if (ret == 0 && !completions)
			for (size_t i = 0; i < got; i++)
				if (out[i].has_addr && out[i].addr_len)
					assert_non_null(out[i].addr);
	}
	free(m);
}

/* Protobuf lets a writer send a packed field unpacked, or in pieces:
 * both decode as the packed whole. */
static void test_unpacked_and_split_columns(void **state)
{
	unsigned char m[256], *p = m;
	size_t got;

	(void)state;
	/* Two ops: tags 7 and 8 (field 1) unpacked; opcodes (2) packed in
	 * two pieces; presence (3) unpacked: fd on op 0 only; fd_index (4)
	 * and fd_generation (5) unpacked. */
	*p++ = 1 << 3 | 0; *p++ = 7;
	*p++ = 2 << 3 | 2; *p++ = 1; *p++ = SR_OP_FSYNC;
	*p++ = 3 << 3 | 0; *p++ = BATCH_OP_FD;
	*p++ = 1 << 3 | 0; *p++ = 8;
	*p++ = 4 << 3 | 0; *p++ = 42;
	*p++ = 2 << 3 | 2; *p++ = 1; *p++ = SR_OP_NOP;
	*p++ = 3 << 3 | 0; *p++ = 0;
	*p++ = 5 << 3 | 0; *p++ = 9;
	assert_int_equal(decode_ops(m, (size_t)(p - m), BATCH_MAX_OPS, &got),
			 0);
	assert_int_equal(got, 2);
	assert_int_equal(out[0].tag, 7);
	assert_int_equal(out[0].opcode, SR_OP_FSYNC);
	assert_true(out[0].has_fd);
	assert_int_equal(out[0].fd_index, 42);
	assert_int_equal(out[0].fd_generation, 9);
	assert_int_equal(out[1].tag, 8);
	assert_int_equal(out[1].opcode, SR_OP_NOP);
	assert_false(out[1].has_fd);
	/* Unknown fields are ignored, as everywhere in the protocol. */
	*p++ = 0xf8; *p++ = 0x01; *p++ = 5;        /* field 31, varint */
	*p++ = 0xc2; *p++ = 0x3e; *p++ = 1; *p++ = 0; /* field 1000, bytes */
	assert_int_equal(decode_ops(m, (size_t)(p - m), BATCH_MAX_OPS, &got),
			 0);
	assert_int_equal(got, 2);
	/* A known field with the wrong wire type does not unpack. */
	m[0] = 1 << 3 | 5;
	assert_int_equal(decode_ops(m, (size_t)(p - m), BATCH_MAX_OPS, &got),
			 -EINVAL);
}

/* The largest messages protobuf-c can make the arena hold, 64 KiB of
 * the costliest encodings: BATCH_UNPACK_BYTES must cover them, so that
 * too many operations is answered as such. */
static void test_arena_bound(void **state)
{
	const size_t len = WIRE_MAX_DATAGRAM;
	unsigned char *m = malloc(len);
	unsigned char *ab = malloc(BATCH_UNPACK_BYTES(len));
	struct wire_arena a;
	size_t got;

	(void)state;
	assert_non_null(m);
	assert_non_null(ab);
	for (int kind = 0; kind < 4; kind++) {
		size_t i = 0;

		while (i + 3 <= len) {
			switch (kind) {
			case 0: /* unpacked tags, 2 bytes each */
				m[i++] = 1 << 3;
				m[i++] = 0;
				break;
			case 1: /* unknown varint fields, 3 bytes each */
				m[i++] = 0xb8; /* field 23 */
				m[i++] = 0x01;
				m[i++] = 0;
				break;
			case 2: /* empty addresses, 3 bytes each */
				m[i++] = 0x8a; /* field 17, bytes */
				m[i++] = 0x01;
				m[i++] = 0;
				break;
			default: /* unpacked iov ranges, 3 bytes each */
				m[i++] = 0x98; /* field 19 */
				m[i++] = 0x01;
				m[i++] = 0;
				break;
			}
		}
		unsigned char *copy = exact_copy(m, i);

		wire_arena_init(&a, ab, BATCH_UNPACK_BYTES(len));
		assert_non_null(saferring__op_batch__unpack(&a.allocator, i,
							    copy));
		assert_true(a.used <= a.size);
		wire_arena_reset(&a);
		int ret = batch_decode_ops(copy, i, &a, out, BATCH_MAX_OPS,
					   &got);
		assert_int_equal(ret, kind == 0 ? -E2BIG :
				 kind == 1 ? 0 : -EINVAL);
		wire_arena_init(&a, ab, BATCH_UNPACK_BYTES(len));
		assert_non_null(saferring__completion_batch__unpack(
			&a.allocator, i, copy));
		/* A small arena: refused, not overrun. */
		wire_arena_init(&a, ab, 4096);
		assert_int_equal(batch_decode_ops(copy, i, &a, out,
						  BATCH_MAX_OPS, &got),
				 -EINVAL);
		assert_true(a.used <= a.size);
		free(copy);
	}
	free(m);
	free(ab);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup(fn, setup)
	const struct CMUnitTest tests[] = {
		T(test_ops_every_shape),
		T(test_ops_empty),
		T(test_ops_random),
		T(test_ops_full_batch),
		T(test_completions_every_shape),
		T(test_completions_random),
		T(test_ops_too_many_ranges_kept_as_sent),
		T(test_ops_present_zeroes),
		T(test_encode_limits),
		T(test_ops_each_column_short_and_long),
		T(test_completions_each_column_short_and_long),
		T(test_ops_bad_presence_bits),
		T(test_completions_bad_presence_bits),
		T(test_ops_presence_moved),
		T(test_ops_iov_counts),
		T(test_completions_slot_counts),
		T(test_too_many),
		T(test_truncated),
		T(test_garbage),
		T(test_unpacked_and_split_columns),
		T(test_arena_bound),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
