/* SPDX-License-Identifier: MIT */
/*
 * test_hostile_protobuf.c - end-to-end: protobuf that libsaferring never
 * sends, encoded by hand.
 *
 *  - unknown fields of every wire type (varint, fixed64, bytes, fixed32),
 *    up to the largest field number, at every level of a Hello and of a
 *    Submit: ignored, the request is served as if they were absent;
 *  - 64 KiB of tiny unknown fields, and unknown fields nesting 20000
 *    levels deep: served, the decoder's memory stays bounded;
 *  - groups (wire types 3 and 4, unknown to proto3-era decoders), nested
 *    deeply, wire types 6 and 7, field number 0, an 11-byte varint, a
 *    length past the end, a missing required field: MALFORMED;
 *  - the oneof body twice (Hello then Submit, Submit then Hello): the
 *    last one counts, as protobuf says;
 *  - a non-repeated submessage sent twice (merged, last value wins; an
 *    occurrence missing a required field is MALFORMED), and uint32
 *    fields sent as 64-bit varints (truncated to 32 bits).
 *
 * Each case checks the exact reply and that an honest client is served
 * afterwards; the daemon's RSS must not grow from the decoding.  The
 * encoder here must never be "fixed" to emit only valid protobuf: the
 * point is what libsaferring would never send.
 */
#include "../lib/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FILE_SIZE (64 * 1024)

/* A protobuf encoder that will write anything. */
struct pb {
	unsigned char *b;
	size_t len, cap;
};

static void pb_init(struct pb *p)
{
	p->cap = 256 * 1024;
	p->b = malloc(p->cap);
	p->len = 0;
	assert_non_null(p->b);
}

static void pb_bytes(struct pb *p, const void *d, size_t n)
{
	assert_true(p->len + n <= p->cap);
	memcpy(p->b + p->len, d, n);
	p->len += n;
}

static void pb_varint(struct pb *p, uint64_t v)
{
	do {
		unsigned char c = v & 0x7f;

		v >>= 7;
		if (v)
			c |= 0x80;
		pb_bytes(p, &c, 1);
	} while (v);
}

static void pb_key(struct pb *p, uint32_t field, unsigned wt)
{
	pb_varint(p, (uint64_t)field << 3 | wt);
}

static void pb_uint(struct pb *p, uint32_t field, uint64_t v)
{
	pb_key(p, field, 0);
	pb_varint(p, v);
}

static void pb_sub(struct pb *p, uint32_t field, const struct pb *sub)
{
	pb_key(p, field, 2);
	pb_varint(p, sub->len);
	pb_bytes(p, sub->b, sub->len);
}

/* One unknown field of each wire type, numbered from @base. */
static void pb_unknowns(struct pb *p, uint32_t base)
{
	const unsigned char f64[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	const unsigned char f32[4] = { 9, 9, 9, 9 };

	pb_uint(p, base, 0xdeadbeefcafeULL);
	pb_key(p, base + 1, 1);
	pb_bytes(p, f64, 8);
	pb_key(p, base + 2, 2);
	pb_varint(p, 5);
	pb_bytes(p, "junk!", 5);
	pb_key(p, 536870911, 5); /* the largest field number */
	pb_bytes(p, f32, 4);
}

static void pb_free(struct pb *p)
{
	free(p->b);
}

/* Request{submit{ops: [op]}} around an encoded Op, with extras. */
static void pb_submit(struct pb *req, const struct pb *op, bool unknowns)
{
	struct pb submit;

	pb_init(&submit);
	if (unknowns)
		pb_unknowns(&submit, 40);
	pb_sub(&submit, 1, op);
	if (unknowns)
		pb_unknowns(req, 50);
	pb_sub(req, 5, &submit);
	if (unknowns)
		pb_unknowns(req, 60);
	pb_free(&submit);
}

static void send_pb(struct rc *c, const struct pb *p)
{
	assert_int_equal(rc_send_raw(c, p->b, p->len, NULL, 0), 0);
}

/* A READ of 4096 bytes at file offset 4096 into slot @slot, as an Op. */
static void pb_read_op(struct pb *op, struct rc *c, uint64_t tag,
		       struct rc_handle h, uint32_t slot, bool unknowns)
{
	struct pb fd, sl;

	pb_init(&fd);
	pb_init(&sl);
	if (unknowns)
		pb_unknowns(&fd, 20);
	pb_uint(&fd, 1, h.index);
	pb_uint(&fd, 2, h.generation);
	pb_uint(&sl, 1, slot);
	if (unknowns)
		pb_unknowns(&sl, 30);
	pb_uint(&sl, 2, c->gen[slot]);
	pb_uint(&sl, 3, 0);
	pb_uint(&sl, 4, 4096);
	if (unknowns)
		pb_unknowns(op, 16);
	pb_uint(op, 1, tag);
	pb_uint(op, 2, SR_OP_READ);
	pb_sub(op, 3, &fd);
	if (unknowns)
		pb_unknowns(op, 100);
	pb_sub(op, 4, &sl);
	pb_uint(op, 5, 4096);
	pb_free(&fd);
	pb_free(&sl);
}

static void expect_read_ok(struct rc *c, uint64_t tag, uint32_t slot)
{
	struct rc_cqe cqe;

	rc_wait_cqes(c, 1, &cqe, HD_TIMEOUT_MS);
	assert_int_equal(cqe.tag, tag);
	if (cqe.status != SR_STATUS_OK)
		fail_msg("tag %llu refused: %s", (unsigned long long)tag,
			 sr_strstatus(cqe.status));
	assert_int_equal(cqe.result, 4096);
	assert_true(cqe.has_slot);
	assert_int_equal(cqe.slot_index, slot);
	assert_true(hd_pattern_ok(rc_slot(c, slot), 4096, 4096, 0x9b));
	memset(rc_slot(c, slot), 0, 4096);
}

static void test_unknown_fields(void **state)
{
	struct rc *c = rc_connect(hd.sock);
	int fd = hd_make_file(&hd, "pb.dat", FILE_SIZE, 0x9b);
	struct pb req, op;
	Saferring__Reply *r;
	struct rc_handle h;
	int memfd = -1;

	(void)state;
	/* A Hello full of unknown fields is a Hello. */
	{
		struct pb hello;

		pb_init(&req);
		pb_init(&hello);
		pb_unknowns(&hello, 100); /* 1..4 are Hello's own */
		pb_uint(&hello, 1, SR_PROTOCOL_VERSION);
		pb_unknowns(&hello, 1000);
		pb_unknowns(&req, 7);
		pb_uint(&req, 1, 4242);
		pb_sub(&req, 2, &hello);
		pb_unknowns(&req, 2000);
		send_pb(c, &req);
		r = rc_recv_control(c, &memfd);
		assert_int_equal(r->body_case, SAFERRING__REPLY__BODY_WELCOME);
		assert_true(r->has_seq);
		assert_int_equal(r->seq, 4242);
		assert_true(memfd >= 0);
		close(memfd);
		pb_free(&hello);
		pb_free(&req);
	}
	rc_close(c);

	/* Unknown fields in the Request, the Submit, the Op, the FdHandle
	 * and the SlotRef: the read is done as if they were not there. */
	c = rc_open(hd.sock);
	h = rc_register_fd(c, fd);
	pb_init(&req);
	pb_init(&op);
	pb_read_op(&op, c, 7, h, 3, true);
	pb_submit(&req, &op, true);
	send_pb(c, &req);
	expect_read_ok(c, 7, 3);
	pb_free(&req);
	pb_free(&op);

	/* 64 KiB of two-byte unknown fields around one read. */
	pb_init(&req);
	pb_init(&op);
	pb_read_op(&op, c, 8, h, 4, false);
	while (op.len < WIRE_MAX_DATAGRAM - 64) {
		pb_uint(&op, 15, 0);
	}
	pb_submit(&req, &op, false);
	assert_true(req.len <= WIRE_MAX_DATAGRAM);
	send_pb(c, &req);
	expect_read_ok(c, 8, 4);
	pb_free(&req);
	pb_free(&op);

	/* An unknown field nesting 20000 messages deep. */
	{
		struct pb a, b;

		pb_init(&a);
		pb_init(&b);
		pb_uint(&a, 1, 1);
		for (int depth = 0; depth < 20000 && a.len < WIRE_MAX_DATAGRAM - 256;
		     depth++) {
			b.len = 0;
			pb_sub(&b, 1, &a);
			struct pb t = a;
			a = b;
			b = t;
		}
		pb_init(&op);
		pb_read_op(&op, c, 9, h, 5, false);
		pb_sub(&op, 77, &a);
		pb_init(&req);
		pb_submit(&req, &op, false);
		assert_true(req.len <= WIRE_MAX_DATAGRAM);
		send_pb(c, &req);
		expect_read_ok(c, 9, 5);
		pb_free(&a);
		pb_free(&b);
		pb_free(&op);
		pb_free(&req);
	}
	rc_expect_quiet(c, 50);
	rc_close(c);
	close(fd);
	hd_check_service(&hd);
}

/* Each of these is answered Error{MALFORMED}; 20 on one session. */
static void test_malformed_encodings(void **state)
{
	struct rc *c = rc_open(hd.sock);
	struct pb p;
	long rss0 = hd_rss_kib(hd.pid), rss1;

	(void)state;
	pb_init(&p);
	/* Groups, as the whole body and nested 15000 deep inside an op. */
	p.len = 0;
	pb_key(&p, 5, 3);
	pb_key(&p, 5, 4);
	send_pb(c, &p);
	rc_expect_error(c, false, 0, SR_STATUS_MALFORMED);
	{
		struct pb op;

		pb_init(&op);
		pb_uint(&op, 1, 1);
		pb_uint(&op, 2, SR_OP_NOP);
		for (int i = 0; i < 15000; i++)
			pb_key(&op, 90, 3);
		for (int i = 0; i < 15000; i++)
			pb_key(&op, 90, 4);
		p.len = 0;
		pb_submit(&p, &op, false);
		send_pb(c, &p);
		rc_expect_error(c, false, 0, SR_STATUS_MALFORMED);
		pb_free(&op);
	}
	/* Wire types 6 and 7, field number 0. */
	for (unsigned wt = 6; wt <= 7; wt++) {
		p.len = 0;
		pb_uint(&p, 1, 1);
		pb_key(&p, 3, wt);
		pb_varint(&p, 0);
		send_pb(c, &p);
		rc_expect_error(c, false, 0, SR_STATUS_MALFORMED);
	}
	p.len = 0;
	pb_uint(&p, 0, 1);
	send_pb(c, &p);
	rc_expect_error(c, false, 0, SR_STATUS_MALFORMED);
	/* An 11-byte varint. */
	p.len = 0;
	pb_key(&p, 1, 0);
	pb_bytes(&p, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
	send_pb(c, &p);
	rc_expect_error(c, false, 0, SR_STATUS_MALFORMED);
	/* A length past the end, at the top and nested. */
	p.len = 0;
	pb_key(&p, 5, 2);
	pb_varint(&p, 1000);
	pb_bytes(&p, "\x0a\x02\x08\x01", 4);
	send_pb(c, &p);
	rc_expect_error(c, false, 0, SR_STATUS_MALFORMED);
	p.len = 0;
	pb_key(&p, 5, 2);
	pb_varint(&p, 4);
	pb_key(&p, 1, 2);
	pb_varint(&p, UINT32_MAX);
	pb_bytes(&p, "\x08\x01", 2);
	send_pb(c, &p);
	rc_expect_error(c, false, 0, SR_STATUS_MALFORMED);
	/* Required fields missing: an Op without opcode, a SlotRef without
	 * generation. */
	{
		struct pb op, sl;

		pb_init(&op);
		pb_init(&sl);
		pb_uint(&op, 1, 5);
		p.len = 0;
		pb_submit(&p, &op, false);
		send_pb(c, &p);
		rc_expect_error(c, false, 0, SR_STATUS_MALFORMED);
		op.len = 0;
		pb_uint(&op, 1, 6);
		pb_uint(&op, 2, SR_OP_NOP);
		pb_uint(&sl, 1, 0);
		pb_uint(&sl, 3, 0);
		pb_uint(&sl, 4, 1);
		pb_sub(&op, 4, &sl);
		p.len = 0;
		pb_submit(&p, &op, false);
		send_pb(c, &p);
		rc_expect_error(c, false, 0, SR_STATUS_MALFORMED);
		pb_free(&op);
		pb_free(&sl);
	}
	rc_expect_quiet(c, 50);
	/* Ten refusals: the session is still there. */
	{
		struct rc_op op;
		struct rc_cqe cqe;

		rc_op_nop(&op, 99);
		rc_run(c, &op, 1, &cqe);
		assert_int_equal(cqe.status, SR_STATUS_OK);
	}
	rss1 = hd_rss_kib(hd.pid);
	printf("test_hostile_protobuf: daemon RSS %ld -> %ld KiB\n", rss0, rss1);
	assert_true(rss1 - rss0 < hd_rss_allowance_kib(hd.pid, 8 * 1024));
	pb_free(&p);
	rc_close(c);
	hd_check_service(&hd);
}

static void test_oneof_and_merging(void **state)
{
	struct rc *c = rc_open(hd.sock);
	int fd = hd_make_file(&hd, "merge.dat", FILE_SIZE, 0x9b);
	struct rc_handle h = rc_register_fd(c, fd);
	struct pb p, op, hello, submit, sl;
	struct rc_cqe cqe;

	(void)state;
	pb_init(&p);
	pb_init(&op);
	pb_init(&hello);
	pb_init(&submit);
	pb_init(&sl);
	pb_uint(&hello, 1, SR_PROTOCOL_VERSION);
	pb_uint(&op, 1, 31);
	pb_uint(&op, 2, SR_OP_NOP);
	pb_sub(&submit, 1, &op);

	/* Submit then Hello: a second Hello, refused with the seq. */
	pb_uint(&p, 1, 5);
	pb_sub(&p, 5, &submit);
	pb_sub(&p, 2, &hello);
	send_pb(c, &p);
	rc_expect_error(c, true, 5, SR_STATUS_PROTOCOL);
	rc_expect_quiet(c, 50);
	/* Hello then Submit: the NOP runs. */
	p.len = 0;
	pb_sub(&p, 2, &hello);
	pb_sub(&p, 5, &submit);
	send_pb(c, &p);
	rc_wait_cqes(c, 1, &cqe, HD_TIMEOUT_MS);
	assert_int_equal(cqe.tag, 31);
	assert_int_equal(cqe.status, SR_STATUS_OK);

	/* A slot sent twice: the occurrences merge and the last value of
	 * each field wins (slot 7, whole, current generation).  protobuf-c
	 * decodes each occurrence on its own, so one that lacks a required
	 * field is MALFORMED even if an earlier one had it. */
	{
		struct pb fdh, sl2;

		pb_init(&fdh);
		pb_init(&sl2);
		pb_uint(&fdh, 1, h.index);
		pb_uint(&fdh, 2, h.generation);
		pb_uint(&sl, 1, 6);
		pb_uint(&sl, 2, 12345);
		pb_uint(&sl, 3, 99);
		pb_uint(&sl, 4, 1);
		pb_uint(&sl2, 1, 7);
		pb_uint(&sl2, 2, c->gen[7]);
		pb_uint(&sl2, 3, 0);
		pb_uint(&sl2, 4, 4096);
		op.len = 0;
		pb_uint(&op, 1, 32);
		pb_uint(&op, 2, SR_OP_READ);
		pb_sub(&op, 3, &fdh);
		pb_sub(&op, 4, &sl);
		pb_sub(&op, 4, &sl2);
		pb_uint(&op, 5, 4096);
		submit.len = 0;
		pb_sub(&submit, 1, &op);
		p.len = 0;
		pb_sub(&p, 5, &submit);
		send_pb(c, &p);
		expect_read_ok(c, 32, 7);
		/* The same with the second occurrence's index left out. */
		sl2.len = 0;
		pb_uint(&sl2, 2, c->gen[7]);
		pb_uint(&sl2, 3, 0);
		pb_uint(&sl2, 4, 4096);
		op.len = 0;
		pb_uint(&op, 1, 33);
		pb_uint(&op, 2, SR_OP_READ);
		pb_sub(&op, 3, &fdh);
		pb_sub(&op, 4, &sl);
		pb_sub(&op, 4, &sl2);
		pb_uint(&op, 5, 4096);
		submit.len = 0;
		pb_sub(&submit, 1, &op);
		p.len = 0;
		pb_sub(&p, 5, &submit);
		send_pb(c, &p);
		rc_expect_error(c, false, 0, SR_STATUS_MALFORMED);
		pb_free(&fdh);
		pb_free(&sl2);
	}
	/* An opcode sent as a 64-bit varint: only its low 32 bits count
	 * (0x1_0000_0000 is NOP; all ones is an unknown opcode). */
	{
		const uint64_t codes[2] = { 1ULL << 32, UINT64_MAX };
		const uint32_t want[2] = { SR_STATUS_OK, SR_STATUS_UNKNOWN_OP };

		for (int i = 0; i < 2; i++) {
			op.len = 0;
			pb_uint(&op, 1, 40 + (uint64_t)i);
			pb_uint(&op, 2, codes[i]);
			submit.len = 0;
			pb_sub(&submit, 1, &op);
			p.len = 0;
			pb_sub(&p, 5, &submit);
			send_pb(c, &p);
			rc_wait_cqes(c, 1, &cqe, HD_TIMEOUT_MS);
			assert_int_equal(cqe.tag, 40 + (uint64_t)i);
			if (cqe.status != want[i])
				fail_msg("opcode %#llx: expected %s, got %s",
					 (unsigned long long)codes[i],
					 sr_strstatus(want[i]),
					 sr_strstatus(cqe.status));
		}
	}
	rc_expect_quiet(c, 50);
	pb_free(&p);
	pb_free(&op);
	pb_free(&hello);
	pb_free(&submit);
	pb_free(&sl);
	rc_close(c);
	close(fd);
	hd_check_service(&hd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_fields),
		cmocka_unit_test(test_malformed_encodings),
		cmocka_unit_test(test_oneof_and_merging),
	};

	return HD_RUN(tests, 60);
}
