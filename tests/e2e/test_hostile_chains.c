/* SPDX-License-Identifier: MIT */
/*
 * test_hostile_chains.c - end-to-end: linked chains at the edges of a
 * batch (the cases test_ops_chains.c leaves out).
 *
 *  - a chain whose last member links into the next Submit: refused
 *    BAD_CHAIN in its own Submit, and the next Submit's first operation
 *    is not tied to it (it runs on its own);
 *  - a chain of max_batch (256) writes that runs off the batch: 255
 *    CHAIN_REFUSED and one BAD_CHAIN, not a byte written, no generation
 *    moved;
 *  - the same 256 writes ending properly: all run, in order, on slots
 *    shared between members, and the file holds exactly what each wrote.
 *
 * Each case asserts the exact statuses and the file's content, and that
 * an honest client is served afterwards.  Must never rely on completion
 * order except within one chain, where the protocol promises it.
 */
#include "../lib/harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHAIN 256
#define PIECE 512
#define FILE_SIZE (CHAIN * PIECE)

static void expect_untouched(int fd)
{
	unsigned char *buf = malloc(FILE_SIZE);

	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, FILE_SIZE, 0), FILE_SIZE);
	if (!hd_pattern_ok(buf, FILE_SIZE, 0, 0xc4a1))
		fail_msg("a refused chain wrote to the file");
	free(buf);
}

static void test_chain_into_next_submit(void **state)
{
	struct rc *c = rc_open(hd.sock);
	int fd = hd_make_file(&hd, "next.dat", FILE_SIZE, 0xc4a1);
	struct rc_handle h = rc_register_fd(c, fd);
	struct rc_op op;
	struct rc_cqe cqe;
	uint32_t g0 = c->gen[0];
	unsigned char buf[PIECE];

	(void)state;
	memset(rc_slot(c, 0), 0x11, PIECE);
	memset(rc_slot(c, 1), 0x22, PIECE);
	rc_op_rw(&op, 1, SR_OP_WRITE, h, 0, g0, 0, PIECE, 0);
	op.op.has_link = true;
	op.op.link = SR_LINK;
	rc_run(c, &op, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_BAD_CHAIN);
	assert_int_equal(cqe.result, sr_status_errno(SR_STATUS_BAD_CHAIN));
	assert_int_equal(c->gen[0], g0);
	expect_untouched(fd);
	/* The next Submit starts afresh. */
	rc_op_rw(&op, 2, SR_OP_WRITE, h, 1, c->gen[1], 0, PIECE, PIECE);
	rc_run(c, &op, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	assert_int_equal(cqe.result, PIECE);
	assert_int_equal(pread(fd, buf, PIECE, 0), PIECE);
	assert_true(hd_pattern_ok(buf, PIECE, 0, 0xc4a1));
	assert_int_equal(pread(fd, buf, PIECE, PIECE), PIECE);
	assert_int_equal(buf[0], 0x22);
	assert_int_equal(buf[PIECE - 1], 0x22);
	rc_close(c);
	close(fd);
	hd_check_service(&hd);
}

/* CHAIN writes, member k writing slot k % 64 to file offset k * PIECE. */
static void build_chain(struct rc *c, struct rc_handle h, struct rc_op *ops,
			bool runs_off)
{
	for (uint32_t k = 0; k < CHAIN; k++) {
		uint32_t slot = k % 64;

		rc_op_rw(&ops[k], 1000 + k, SR_OP_WRITE, h, slot, c->gen[slot],
			 (k / 64) * PIECE, PIECE, (uint64_t)k * PIECE);
		if (k + 1 < CHAIN || runs_off) {
			ops[k].op.has_link = true;
			ops[k].op.link = k % 2 ? SR_LINK_HARD : SR_LINK;
		}
	}
}

static void test_full_batch_chains(void **state)
{
	struct rc *c = rc_open(hd.sock);
	int fd = hd_make_file(&hd, "long.dat", FILE_SIZE, 0xc4a1);
	struct rc_handle h = rc_register_fd(c, fd);
	struct rc_op *ops = calloc(CHAIN, sizeof(*ops));
	struct rc_cqe *cqes = calloc(CHAIN, sizeof(*cqes));
	uint32_t gens[64];
	unsigned char *buf = malloc(FILE_SIZE);

	(void)state;
	assert_non_null(ops);
	assert_non_null(cqes);
	assert_non_null(buf);
	assert_true(c->slot_count >= 64 && c->max_batch == CHAIN &&
		    c->max_in_flight >= CHAIN);
	for (uint32_t k = 0; k < CHAIN; k++)
		memset((unsigned char *)rc_slot(c, k % 64) + (k / 64) * PIECE,
		       (int)(k & 0xff), PIECE);
	memcpy(gens, c->gen, sizeof(gens));

	/* Runs off: refused whole. */
	build_chain(c, h, ops, true);
	rc_run(c, ops, CHAIN, cqes);
	for (uint32_t k = 0; k < CHAIN; k++) {
		const struct rc_cqe *e = rc_find_cqe(cqes, CHAIN, 1000 + k);
		uint32_t want = k + 1 == CHAIN ? SR_STATUS_BAD_CHAIN :
				SR_STATUS_CHAIN_REFUSED;

		assert_non_null(e);
		if (e->status != want)
			fail_msg("member %u: %s, expected %s", k,
				 sr_strstatus(e->status), sr_strstatus(want));
	}
	assert_memory_equal(gens, c->gen, sizeof(gens));
	expect_untouched(fd);

	/* Ends in its batch: every member runs, one after another. */
	build_chain(c, h, ops, false);
	rc_run(c, ops, CHAIN, cqes);
	for (uint32_t k = 0; k < CHAIN; k++) {
		if (cqes[k].tag != 1000 + k)
			fail_msg("completion %u is of member %llu", k,
				 (unsigned long long)cqes[k].tag - 1000);
		assert_int_equal(cqes[k].status, SR_STATUS_OK);
		assert_int_equal(cqes[k].result, PIECE);
		/* A shared slot comes back with its last member only. */
		assert_int_equal(cqes[k].has_slot, k + 64 >= CHAIN);
	}
	assert_int_equal(pread(fd, buf, FILE_SIZE, 0), FILE_SIZE);
	for (uint32_t k = 0; k < CHAIN; k++)
		for (uint32_t i = 0; i < PIECE; i++)
			if (buf[k * PIECE + i] != (k & 0xff))
				fail_msg("byte %u of member %u's piece is %#x", i, k,
					 buf[k * PIECE + i]);
	free(ops);
	free(cqes);
	free(buf);
	rc_close(c);
	close(fd);
	hd_check_service(&hd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_into_next_submit),
		cmocka_unit_test(test_full_batch_chains),
	};

	return HD_RUN(tests, 60);
}
