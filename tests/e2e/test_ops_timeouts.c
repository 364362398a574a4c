/* SPDX-License-Identifier: MIT */
/*
 * test_ops_timeouts.c - end-to-end: timeouts and cancellation against a
 * real saferringd.  A TIMEOUT fires with -ETIME after its time; a
 * pending receive is cancelled by its user_data and its slot comes back;
 * a cancel aimed at nothing (or at a finished operation whose record
 * was reused) finds nothing; a LINK_TIMEOUT cancels a receive that takes
 * too long and is itself cancelled when the receive is quick; a session
 * that ends with timeouts and receives pending is drained cleanly; and
 * the refusals of the timeout and target fields are exact.
 */
#include "ops_util.h"

#define MS 1000000ULL

static void test_timeout_fires(void **state)
{
	struct sr_client *c = ou_small_session(8);
	struct sr_cqe cqe[2];
	uint64_t t0 = hd_now_ns(), dt;

	(void)state;
	assert_int_equal(sr_prep_timeout(c, 1, 30 * MS), 0);
	assert_int_equal(sr_prep_nop(c, 2), 0);
	ou_submit(c, 2);
	ou_wait(c, cqe, 2);
	/* The NOP does not wait for the timer. */
	assert_int_equal(cqe[0].user_data, 2);
	ou_ok(&cqe[1], -ETIME);
	dt = hd_now_ns() - t0;
	if (dt < 25 * MS || dt > 2000 * MS)
		fail_msg("a 30 ms timeout fired after %llu ms",
			 (unsigned long long)(dt / MS));
	/* Zero fires at once. */
	assert_int_equal(sr_prep_timeout(c, 3, 0), 0);
	ou_submit(c, 1);
	ou_wait(c, cqe, 1);
	ou_ok(&cqe[0], -ETIME);
	sr_close(c);
	hd_check_service(&hd);
}

static void test_cancel_pending_recv(void **state)
{
	struct sr_client *c = ou_small_session(8);
	int sv[2];
	sr_handle_t h;
	sr_slot_t s = ou_acquire(c);
	struct sr_cqe cqe[2];

	(void)state;
	ou_socketpair(sv);
	h = ou_register(c, sv[0]);
	assert_int_equal(sr_prep_recv(c, 10, h, s, 0, 100, 0), 0);
	ou_submit(c, 1);
	ou_quiet(c, 30);
	/* In flight: its slot is busy, its handle cannot go. */
	assert_int_equal(sr_slot_release(c, s), -EBUSY);
	assert_int_equal(sr_unregister_fd(c, h), -EBUSY);
	assert_int_equal(sr_prep_cancel(c, 11, 10), 0);
	ou_submit(c, 1);
	ou_wait(c, cqe, 2);
	ou_ok(ou_find(cqe, 2, 10), -ECANCELED);
	ou_ok(ou_find(cqe, 2, 11), 0);
	assert_slot_equal(ou_find(cqe, 2, 10)->slot, s);
	/* The slot and the handle are free again. */
	assert_int_equal(sr_prep_recv(c, 12, h, s, 0, 100, 0), 0);
	ou_submit(c, 1);
	assert_int_equal(send(sv[1], "late", 4, 0), 4);
	ou_wait(c, cqe, 1);
	ou_ok(&cqe[0], 4);
	assert_int_equal(sr_unregister_fd(c, h), 0);
	/* Nothing to cancel: -ENOENT, from the kernel or the daemon. */
	assert_int_equal(sr_prep_cancel(c, 13, 10), 0);
	assert_int_equal(sr_prep_cancel(c, 14, 999), 0);
	ou_submit(c, 2);
	ou_wait(c, cqe, 2);
	ou_ok(&cqe[0], -ENOENT);
	ou_ok(&cqe[1], -ENOENT);
	/* A long timeout, cancelled. */
	assert_int_equal(sr_prep_timeout(c, 15, 3600000 * MS), 0);
	ou_submit(c, 1);
	assert_int_equal(sr_prep_cancel(c, 16, 15), 0);
	ou_submit(c, 1);
	ou_wait(c, cqe, 2);
	ou_ok(ou_find(cqe, 2, 15), -ECANCELED);
	ou_ok(ou_find(cqe, 2, 16), 0);
	close(sv[1]);
	sr_close(c);
	hd_check_service(&hd);
}

static void test_link_timeout(void **state)
{
	struct sr_client *c = ou_small_session(8);
	int sv[2];
	sr_handle_t h;
	sr_slot_t s = ou_acquire(c);
	struct sr_cqe cqe[2];

	(void)state;
	ou_socketpair(sv);
	h = ou_register(c, sv[0]);
	/* Nothing arrives: the receive is cancelled after 30 ms. */
	assert_int_equal(sr_prep_recv(c, 1, h, s, 0, 10, 0), 0);
	assert_int_equal(sr_link_last(c, SR_LINK), 0);
	assert_int_equal(sr_prep_link_timeout(c, 2, 30 * MS), 0);
	ou_submit(c, 2);
	ou_wait(c, cqe, 2);
	ou_ok(ou_find(cqe, 2, 1), -ECANCELED);
	ou_ok(ou_find(cqe, 2, 2), -ETIME);
	/* Data in time: the timeout is the one cancelled. */
	assert_int_equal(send(sv[1], "quick", 5, 0), 5);
	assert_int_equal(sr_prep_recv(c, 3, h, s, 0, 10, 0), 0);
	assert_int_equal(sr_link_last(c, SR_LINK), 0);
	assert_int_equal(sr_prep_link_timeout(c, 4, 5000 * MS), 0);
	ou_submit(c, 2);
	ou_wait(c, cqe, 2);
	ou_ok(ou_find(cqe, 2, 3), 5);
	ou_ok(ou_find(cqe, 2, 4), -ECANCELED);
	/* Only after a link. */
	assert_int_equal(sr_prep_link_timeout(c, 5, MS), -EINVAL);
	assert_int_equal(sr_prep_nop(c, 6), 0);
	assert_int_equal(sr_prep_link_timeout(c, 7, MS), -EINVAL);
	ou_submit(c, 1);
	ou_wait(c, cqe, 1);
	close(sv[1]);
	sr_close(c);
	hd_check_service(&hd);
}

/* A cancel names a tag; the kernel sees a record id that changes with
 * every use, so a finished operation's tag never reaches its record's
 * next user. */
static void test_cancel_finished_target(void **state)
{
	struct rc *c = rc_open(hd.sock);
	int sv[2];
	struct rc_handle h;
	struct rc_op op[2];
	struct rc_cqe out[2];

	(void)state;
	ou_socketpair(sv);
	h = rc_register_fd(c, sv[0]);
	rc_op_nop(&op[0], 100);
	rc_run(c, op, 1, out);
	assert_int_equal(out[0].status, SR_STATUS_OK);
	/* Likely the same record as the NOP had. */
	ou_raw_op(&op[0], 200, SR_OP_RECV);
	ou_raw_fd(&op[0], h);
	ou_raw_slot(&op[0], 0, c->gen[0], 0, 16);
	rc_submit(c, op, 1);
	ou_raw_op(&op[1], 300, SR_OP_ASYNC_CANCEL);
	op[1].op.has_target = true;
	op[1].op.target = 100;
	rc_run(c, &op[1], 1, out);
	assert_int_equal(out[0].tag, 300);
	assert_int_equal(out[0].status, SR_STATUS_OK);
	assert_int_equal(out[0].result, -ENOENT);
	/* The receive is untouched: it still gets its data. */
	rc_expect_quiet(c, 30);
	assert_int_equal(send(sv[1], "ok", 2, 0), 2);
	rc_wait_cqes(c, 1, out, HD_TIMEOUT_MS);
	assert_int_equal(out[0].tag, 200);
	assert_int_equal(out[0].result, 2);
	close(sv[1]);
	rc_close(c);
	hd_check_service(&hd);
}

/* A session that goes away with timers, receives and a multishot
 * receive pending is cancelled and drained; the daemon is fine. */
static void test_teardown_with_pending(void **state)
{
	int before = hd_settled_fd_count(hd.pid);

	(void)state;
	for (int round = 0; round < 3; round++) {
		struct sr_client *c = ou_small_session(8);
		int sv[2];
		sr_handle_t h;
		sr_slot_t p = ou_acquire(c);
		sr_slot_t s = ou_acquire(c);

		ou_socketpair(sv);
		h = ou_register(c, sv[0]);
		assert_int_equal(sr_prep_timeout(c, 1, 3600000 * MS), 0);
		assert_int_equal(sr_prep_recv(c, 2, h, s, 0, 10, 0), 0);
		assert_int_equal(sr_prep_provide(c, 3, p), 0);
		assert_int_equal(sr_prep_recv_multishot(c, 4, h, 0), 0);
		assert_int_equal(sr_prep_poll_add(c, 5, h, POLLPRI), 0);
		ou_submit(c, 5);
		/* The PROVIDE completes at once; the rest stays pending. */
		struct sr_cqe cqe;
		ou_wait(c, &cqe, 1);
		ou_ok(&cqe, 0);
		assert_int_equal(cqe.user_data, 3);
		ou_quiet(c, 20);
		sr_close(c);
		close(sv[1]);
	}
	hd_check_service(&hd);
	int after = hd_wait_fd_count(hd.pid, before, HD_TIMEOUT_MS);
	if (after != before)
		fail_msg("daemon descriptors: %d before, %d after", before,
			 after);
}

static void test_timeout_refusals(void **state)
{
	struct rc *c = rc_open(hd.sock);
	struct rc_op op[3];

	(void)state;
	ou_raw_op(&op[0], 1, SR_OP_TIMEOUT);
	ou_raw_refused(c, &op[0], SR_STATUS_MALFORMED);
	op[0].op.has_timeout_ns = true;
	op[0].op.has_flags = true;
	op[0].op.flags = 1;
	ou_raw_refused(c, &op[0], SR_STATUS_BAD_FLAGS);
	op[0].op.flags = 0;
	op[0].op.has_target = true;
	ou_raw_refused(c, &op[0], SR_STATUS_MALFORMED);
	ou_raw_op(&op[0], 2, SR_OP_ASYNC_CANCEL);
	ou_raw_refused(c, &op[0], SR_STATUS_MALFORMED);
	op[0].op.has_target = true;
	op[0].op.has_timeout_ns = true;
	ou_raw_refused(c, &op[0], SR_STATUS_MALFORMED);
	/* A link timeout must follow a link. */
	ou_raw_op(&op[0], 3, SR_OP_LINK_TIMEOUT);
	op[0].op.has_timeout_ns = true;
	ou_raw_refused(c, &op[0], SR_STATUS_BAD_CHAIN);
	{
		const uint32_t want[3] = { SR_STATUS_CHAIN_REFUSED,
					   SR_STATUS_CHAIN_REFUSED,
					   SR_STATUS_BAD_CHAIN };

		rc_op_nop(&op[0], 4);
		op[0].op.has_link = true;
		op[0].op.link = SR_LINK;
		for (int i = 1; i < 3; i++) {
			ou_raw_op(&op[i], 4 + (uint64_t)i, SR_OP_LINK_TIMEOUT);
			op[i].op.has_timeout_ns = true;
		}
		op[1].op.has_link = true;
		op[1].op.link = SR_LINK;
		ou_raw_expect(c, op, 3, want);
	}
	{
		const uint32_t want[2] = { SR_STATUS_OK, SR_STATUS_OK };

		rc_op_nop(&op[0], 10);
		op[0].op.has_link = true;
		op[0].op.link = SR_LINK_HARD;
		ou_raw_op(&op[1], 11, SR_OP_LINK_TIMEOUT);
		op[1].op.has_timeout_ns = true;
		op[1].op.timeout_ns = 1000 * MS;
		ou_raw_expect(c, op, 2, want);
	}
	rc_close(c);
	hd_check_service(&hd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timeout_fires),
		cmocka_unit_test(test_cancel_pending_recv),
		cmocka_unit_test(test_link_timeout),
		cmocka_unit_test(test_cancel_finished_target),
		cmocka_unit_test(test_teardown_with_pending),
		cmocka_unit_test(test_timeout_refusals),
	};

	return HD_RUN(tests, 120);
}
