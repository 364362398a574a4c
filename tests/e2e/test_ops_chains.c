/* SPDX-License-Identifier: MIT */
/*
 * test_ops_chains.c - end-to-end: linked chains against a real
 * saferringd.  A read->write chain through one slot copies data and
 * hands the slot back once, with the last member; members run in order;
 * a short read breaks a soft link (the rest is -ECANCELED) but not a
 * hard one; a chain with one bad member is refused whole - that member
 * with its own status, the others CHAIN_REFUSED - and nothing of it
 * happens (the file is unchanged, the slots keep their generations); a
 * chain that runs past its Submit, or over the in-flight quota, is
 * refused whole too.
 */
#include "ops_util.h"

#include <sys/stat.h>

#define SLOT_SIZE 4096

static void test_chain_copy(void **state)
{
	struct sr_client *c = ou_small_session(16);
	int src = hd_make_file(&hd, "chain-src.dat", 3 * SLOT_SIZE, 0xc1);
	int dst = hd_make_file(&hd, "chain-dst.dat", 0, 0);
	sr_handle_t hs = sr_register_fd(c, src), hd_ = sr_register_fd(c, dst);
	sr_slot_t s = ou_acquire(c);
	struct sr_cqe cqe[7], chain[6];
	unsigned char buf[3 * SLOT_SIZE];
	unsigned n = 0;

	(void)state;
	assert_true(sr_handle_index(hs) >= 0 && sr_handle_index(hd_) >= 0);
	/* Three read->write pairs through the same slot, one chain: each
	 * write sees what the read before it put there. */
	for (int i = 0; i < 3; i++) {
		uint64_t off = (uint64_t)i * SLOT_SIZE;

		assert_int_equal(sr_prep_read(c, 10 + i, hs, s, 0, SLOT_SIZE,
					      off), 0);
		assert_int_equal(sr_link_last(c, SR_LINK), 0);
		assert_int_equal(sr_prep_write(c, 20 + i, hd_, s, 0, SLOT_SIZE,
					       off), 0);
		if (i < 2)
			assert_int_equal(sr_link_last(c, SR_LINK), 0);
	}
	/* Outside the chain the slot is busy. */
	assert_int_equal(sr_prep_nop(c, 30), 0);
	assert_int_equal(sr_prep_read(c, 31, hs, s, 0, 1, 0), -EBUSY);
	ou_submit(c, 7);
	ou_wait(c, cqe, 7);
	for (int i = 0; i < 7; i++)
		if (cqe[i].user_data != 30)
			chain[n++] = cqe[i];
	assert_int_equal(n, 6);
	/* In order: read, write, read, write... */
	for (int i = 0; i < 6; i++) {
		ou_ok(&chain[i], SLOT_SIZE);
		assert_int_equal(chain[i].user_data,
				 (uint64_t)(i % 2 ? 20 : 10) + (uint64_t)i / 2);
	}
	assert_int_equal(pread(dst, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	assert_true(hd_pattern_ok(buf, sizeof(buf), 0, 0xc1));
	/* The slot is the caller's again, with a generation that works. */
	assert_int_equal(sr_prep_read(c, 40, hs, s, 0, 10, 0), 0);
	ou_submit(c, 1);
	ou_wait(c, cqe, 1);
	ou_ok(&cqe[0], 10);
	sr_close(c);
	close(src);
	close(dst);
	hd_check_service(&hd);
}

static void test_short_read_breaks_soft_link(void **state)
{
	struct sr_client *c = ou_small_session(16);
	int src = hd_make_file(&hd, "short-src.dat", 100, 0xc2);
	int dst = hd_make_file(&hd, "short-dst.dat", 0, 0);
	sr_handle_t hs = sr_register_fd(c, src), hd_ = sr_register_fd(c, dst);
	sr_slot_t s = ou_acquire(c);
	struct sr_cqe cqe[3];
	struct stat st;

	(void)state;
	assert_int_equal(sr_prep_read(c, 1, hs, s, 0, SLOT_SIZE, 0), 0);
	assert_int_equal(sr_link_last(c, SR_LINK), 0);
	assert_int_equal(sr_prep_write(c, 2, hd_, s, 0, SLOT_SIZE, 0), 0);
	assert_int_equal(sr_link_last(c, SR_LINK), 0);
	assert_int_equal(sr_prep_fsync(c, 3, hd_, 0), 0);
	ou_submit(c, 3);
	ou_wait(c, cqe, 3);
	ou_ok(ou_find(cqe, 3, 1), 100);
	ou_ok(ou_find(cqe, 3, 2), -ECANCELED);
	ou_ok(ou_find(cqe, 3, 3), -ECANCELED);
	assert_int_equal(fstat(dst, &st), 0);
	assert_int_equal(st.st_size, 0);
	/* A hard link goes on regardless. */
	assert_int_equal(sr_prep_read(c, 4, hs, s, 0, SLOT_SIZE, 0), 0);
	assert_int_equal(sr_link_last(c, SR_LINK_HARD), 0);
	assert_int_equal(sr_prep_write(c, 5, hd_, s, 0, 100, 0), 0);
	ou_submit(c, 2);
	ou_wait(c, cqe, 2);
	ou_ok(ou_find(cqe, 2, 4), 100);
	ou_ok(ou_find(cqe, 2, 5), 100);
	assert_int_equal(fstat(dst, &st), 0);
	assert_int_equal(st.st_size, 100);
	/* A kernel error breaks the link too: reading a write-only file. */
	char wo_path[200];

	hd_path(&hd, "write-only", wo_path, sizeof(wo_path));
	close(hd_make_file(&hd, "write-only", 0, 1));
	sr_handle_t wo = ou_register(c, open(wo_path, O_WRONLY | O_CLOEXEC));
	assert_int_equal(sr_prep_read(c, 6, wo, s, 0, 10, 0), 0);
	assert_int_equal(sr_link_last(c, SR_LINK), 0);
	assert_int_equal(sr_prep_write(c, 7, hd_, s, 0, 10, 0), 0);
	ou_submit(c, 2);
	ou_wait(c, cqe, 2);
	ou_ok(ou_find(cqe, 2, 6), -EBADF);
	ou_ok(ou_find(cqe, 2, 7), -ECANCELED);
	sr_close(c);
	close(src);
	close(dst);
	hd_check_service(&hd);
}

/* A raw chain whose member @bad has a stale slot generation. */
static void refused_chain(struct rc *c, struct rc_handle h, size_t n,
			  size_t bad)
{
	struct rc_op op[4];
	uint32_t want[4];

	for (size_t i = 0; i < n; i++) {
		uint32_t slot = (uint32_t)i;

		rc_op_rw(&op[i], 50 + i, SR_OP_WRITE, h, slot, c->gen[slot],
			 0, 512, (uint64_t)i * 512);
		if (i + 1 < n) {
			op[i].op.has_link = true;
			op[i].op.link = i % 2 ? SR_LINK_HARD : SR_LINK;
		}
		want[i] = SR_STATUS_CHAIN_REFUSED;
	}
	op[bad].slot.generation++;
	want[bad] = SR_STATUS_STALE_GENERATION;
	ou_raw_expect(c, op, n, want);
}

static void test_bad_member_refused_whole(void **state)
{
	struct rc *c = rc_open(hd.sock);
	int fd = hd_make_file(&hd, "whole.dat", 8192, 0xc3);
	struct rc_handle h = rc_register_fd(c, fd);
	uint32_t gens[4];
	unsigned char before[8192], after[8192];

	(void)state;
	assert_int_equal(pread(fd, before, sizeof(before), 0), 8192);
	for (int i = 0; i < 4; i++) {
		memset(rc_slot(c, (uint32_t)i), 0xee, 512);
		gens[i] = c->gen[i];
	}
	refused_chain(c, h, 4, 0);
	refused_chain(c, h, 4, 2);
	refused_chain(c, h, 4, 3);
	refused_chain(c, h, 2, 1);
	/* Nothing was written, no generation moved. */
	assert_int_equal(pread(fd, after, sizeof(after), 0), 8192);
	assert_memory_equal(before, after, sizeof(before));
	for (int i = 0; i < 4; i++)
		assert_int_equal(c->gen[i], gens[i]);
	/* The same slots, named right, work at once. */
	{
		struct rc_op op;
		const uint32_t ok = SR_STATUS_OK;

		rc_op_rw(&op, 60, SR_OP_WRITE, h, 3, c->gen[3], 0, 512, 0);
		ou_raw_expect(c, &op, 1, &ok);
		assert_int_equal(pread(fd, after, 512, 0), 512);
		assert_int_equal(after[0], 0xee);
	}
	rc_close(c);
	close(fd);
	hd_check_service(&hd);
}

static void test_chain_runs_off(void **state)
{
	struct rc *c = rc_open(hd.sock);
	struct rc_op op[4];

	(void)state;
	/* A chain ends inside its Submit, or is refused whole. */
	{
		const uint32_t want[3] = { SR_STATUS_OK,
					   SR_STATUS_CHAIN_REFUSED,
					   SR_STATUS_BAD_CHAIN };

		rc_op_nop(&op[0], 1);
		for (int i = 1; i < 3; i++) {
			rc_op_nop(&op[i], 1 + (uint64_t)i);
			op[i].op.has_link = true;
			op[i].op.link = SR_LINK;
		}
		ou_raw_expect(c, op, 3, want);
	}
	/* Alone; and the last member invalid as well: its own status. */
	{
		const uint32_t bad = SR_STATUS_BAD_CHAIN;
		const uint32_t want[2] = { SR_STATUS_CHAIN_REFUSED,
					   SR_STATUS_UNKNOWN_OP };

		rc_op_nop(&op[0], 10);
		op[0].op.has_link = true;
		op[0].op.link = SR_LINK_HARD;
		ou_raw_expect(c, op, 1, &bad);
		rc_op_nop(&op[0], 11);
		op[0].op.has_link = true;
		op[0].op.link = SR_LINK;
		rc_op_nop(&op[1], 12);
		op[1].op.opcode = 999;
		op[1].op.has_link = true;
		op[1].op.link = SR_LINK;
		ou_raw_expect(c, op, 2, want);
	}
	/* The daemon's own operations are never chained. */
	{
		const uint32_t want[2] = { SR_STATUS_CHAIN_REFUSED,
					   SR_STATUS_BAD_CHAIN };

		rc_op_nop(&op[0], 20);
		op[0].op.has_link = true;
		op[0].op.link = SR_LINK;
		ou_raw_op(&op[1], 21, SR_OP_PROVIDE);
		ou_raw_slot(&op[1], 0, c->gen[0], 0, c->slot_size);
		ou_raw_expect(c, op, 2, want);
	}
	rc_close(c);
	hd_check_service(&hd);
}

/* The in-flight quota counts every member: a chain that does not fit is
 * refused whole, at the member that does not fit. */
static void test_chain_over_quota(void **state)
{
	struct rc *c = rc_open(hd.sock);
	uint32_t pending = c->max_in_flight - 3;
	struct rc_op *op = calloc(pending, sizeof(*op));
	uint32_t want[5];

	(void)state;
	assert_non_null(op);
	assert_true(c->max_in_flight > 8 && pending <= c->max_batch * 8U);
	for (uint32_t done = 0; done < pending;) {
		uint32_t n = pending - done < c->max_batch ? pending - done :
			     c->max_batch;

		for (uint32_t i = 0; i < n; i++) {
			ou_raw_op(&op[i], 1000 + done + i, SR_OP_TIMEOUT);
			op[i].op.has_timeout_ns = true;
			op[i].op.timeout_ns = 3600ULL * 1000000000ULL;
		}
		rc_submit(c, op, n);
		done += n;
	}
	rc_expect_quiet(c, 50);
	for (int i = 0; i < 5; i++) {
		rc_op_nop(&op[i], 10 + (uint64_t)i);
		op[i].op.has_link = i < 4;
		op[i].op.link = SR_LINK;
		want[i] = SR_STATUS_CHAIN_REFUSED;
	}
	want[3] = SR_STATUS_QUOTA;
	ou_raw_expect(c, op, 5, want);
	/* Three fit. */
	{
		const uint32_t ok[3] = { 0, 0, 0 };

		for (int i = 0; i < 3; i++) {
			rc_op_nop(&op[i], 20 + (uint64_t)i);
			op[i].op.has_link = i < 2;
			op[i].op.link = SR_LINK;
		}
		ou_raw_expect(c, op, 3, ok);
	}
	free(op);
	/* Going away with hundreds of timers pending is fine. */
	rc_close(c);
	hd_check_service(&hd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_copy),
		cmocka_unit_test(test_short_read_breaks_soft_link),
		cmocka_unit_test(test_bad_member_refused_whole),
		cmocka_unit_test(test_chain_runs_off),
		cmocka_unit_test(test_chain_over_quota),
	};

	return HD_RUN(tests, 120);
}
