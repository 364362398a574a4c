/* SPDX-License-Identifier: MIT */
/*
 * test_evloop_api.c - end-to-end: the calls that let an event loop drive
 * a session.  sr_fd is readable while completions are queued inside the
 * library, not only while the transport has data; sr_cq_ready counts
 * them; sr_wait_cqe_timeout answers -ETIME and -ENODATA; sr_submit_and_wait
 * waits for its count and refuses a count that cannot come; sr_dispatch
 * calls each completion's callback in order, at most @max, stops before
 * one without a callback, and lets a callback submit the next operation;
 * sr_submit returns -EAGAIN (losing nothing) while the daemon pushes
 * back, and sr_fd says when to retry; and the daemon rings a ring
 * client's doorbell when it frees submission room the client waits for
 * (SQ_WAIT).
 */
#include "ops_util.h"

#include <signal.h>
#include <stdlib.h>

static bool readable(struct sr_client *c)
{
	struct pollfd p = { .fd = sr_fd(c), .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void test_ready_wait_timeout(void **state)
{
	struct sr_client *c = ou_small_session(4);
	struct sr_limits lim;
	struct sr_cqe cqe;

	(void)state;
	/* Asked for first: what is queued later must show on it. */
	assert_true(sr_fd(c) >= 0);
	assert_int_equal(sr_cq_ready(c), 0);
	assert_int_equal(sr_wait_cqe_timeout(c, &cqe, 1000000), -ENODATA);
	assert_int_equal(sr_submit_and_wait(c, 1), -ENODATA);

	assert_int_equal(sr_prep_timeout(c, 7, 60ULL * 1000000000ULL), 0);
	assert_int_equal(sr_submit(c), 1);
	assert_int_equal(sr_wait_cqe_timeout(c, &cqe, 20 * 1000000), -ETIME);
	assert_int_equal(sr_wait_cqe_timeout(c, &cqe, 0), -ETIME);
	assert_int_equal(sr_cq_ready(c), 0);
	/* One timeout in flight cannot give two completions. */
	assert_int_equal(sr_submit_and_wait(c, 2), -ENODATA);

	for (uint64_t i = 0; i < 3; i++)
		assert_int_equal(sr_prep_nop(c, 10 + i), 0);
	assert_int_equal(sr_submit_and_wait(c, 3), 3);
	assert_int_equal(sr_cq_ready(c), 3);
	/* All three are in the library's queue now, none on the wire: the
	 * descriptor must still say so, until the last is taken. */
	for (int left = 3; left > 0; left--) {
		assert_true(readable(c));
		assert_int_equal(sr_wait_cqe_timeout(c, &cqe, 0), 0);
		assert_int_equal(cqe.user_data >= 10 && cqe.user_data < 13, 1);
		ou_ok(&cqe, 0);
		assert_int_equal(sr_cq_ready(c), left - 1);
	}
	assert_int_equal(sr_peek_cqe(c, &cqe), -EAGAIN);
	/* Over the socket nothing can announce a completion twice (the
	 * rings' doorbell can: sr_fd(3)). */
	assert_int_equal(sr_limits(c, &lim), 0);
	if (!(lim.flags & SR_LIMITS_RINGS))
		assert_false(readable(c));

	assert_int_equal(sr_prep_cancel(c, 8, 7), 0);
	assert_int_equal(sr_submit_and_wait(c, 2), 1);
	assert_int_equal(sr_cq_ready(c), 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(sr_wait_cqe_timeout(c, &cqe, 0), 0);
		ou_ok(&cqe, cqe.user_data == 7 ? -ECANCELED : 0);
	}
	assert_int_equal(sr_in_flight(c), 0);
	sr_close(c);
}

struct seen {
	uint64_t ud[16];
	void *arg[16];
	unsigned n;
};

static void record(struct sr_client *c, const struct sr_cqe *cqe, void *arg)
{
	struct seen *s = *(struct seen **)arg;

	assert_true(s->n < 16);
	ou_ok(cqe, 0);
	s->ud[s->n] = cqe->user_data;
	s->arg[s->n++] = arg;
}

static void test_dispatch(void **state)
{
	struct sr_client *c = ou_small_session(4);
	struct seen s = { .n = 0 };
	struct seen *sp[6] = { &s, &s, &s, &s, &s, &s };
	struct sr_cqe cqe;

	(void)state;
	assert_int_equal(sr_set_callback(c, record, sp[0]), -EINVAL);
	/* A chain, so that they complete in this order. */
	for (uint64_t i = 1; i <= 4; i++) {
		assert_int_equal(sr_prep_nop(c, i), 0);
		if (i != 3)
			assert_int_equal(sr_set_callback(c, record, &sp[i]), 0);
		if (i < 4)
			assert_int_equal(sr_link_last(c, SR_LINK), 0);
	}
	/* Set, then taken away again. */
	assert_int_equal(sr_prep_nop(c, 5), 0);
	assert_int_equal(sr_set_callback(c, record, &sp[5]), 0);
	assert_int_equal(sr_set_callback(c, NULL, &sp[5]), 0);
	assert_int_equal(sr_submit_and_wait(c, 5), 5);

	/* Chain order 1 2 3 4; 5 may come anywhere among them. */
	unsigned order[5], n = 0;

	while (n < 5) {
		int r = sr_dispatch(c, 1);

		assert_true(r == 0 || r == 1);
		if (r == 1) {
			order[n++] = (unsigned)s.ud[s.n - 1];
			assert_ptr_equal(s.arg[s.n - 1], &sp[s.ud[s.n - 1]]);
			continue;
		}
		/* Stopped before one without a callback: the caller's. */
		assert_int_equal(sr_peek_cqe(c, &cqe), 0);
		assert_true(cqe.user_data == 3 || cqe.user_data == 5);
		order[n++] = (unsigned)cqe.user_data;
	}
	assert_int_equal(s.n, 3);
	unsigned chain = 0;

	for (unsigned i = 0; i < 5; i++)
		if (order[i] != 5)
			assert_int_equal(order[i], ++chain);
	assert_int_equal(chain, 4);
	assert_int_equal(sr_dispatch(c, 0), 0);
	assert_int_equal(sr_cq_ready(c), 0);
	sr_close(c);
}

struct relay {
	struct sr_client *c;
	unsigned done;
	unsigned want;
};

/* Each completion prepares and submits the next operation from inside
 * its callback. */
static void relay_next(struct sr_client *c, const struct sr_cqe *cqe,
		       void *arg)
{
	struct relay *r = arg;

	assert_ptr_equal(c, r->c);
	assert_int_equal(cqe->user_data, 1000 + r->done);
	ou_ok(cqe, 0);
	if (++r->done == r->want)
		return;
	assert_int_equal(sr_prep_nop(c, 1000 + r->done), 0);
	assert_int_equal(sr_set_callback(c, relay_next, r), 0);
	assert_int_equal(sr_submit(c), 1);
}

static void test_dispatch_resubmit(void **state)
{
	struct relay r = { .c = ou_small_session(4), .want = 200 };

	(void)state;
	assert_int_equal(sr_prep_nop(r.c, 1000), 0);
	assert_int_equal(sr_set_callback(r.c, relay_next, &r), 0);
	assert_int_equal(sr_submit(r.c), 1);
	while (r.done < r.want) {
		struct pollfd p = { .fd = sr_fd(r.c), .events = POLLIN };
		int n;

		if (poll(&p, 1, HD_TIMEOUT_MS) != 1)
			fail_msg("sr_fd not readable after %u of %u", r.done,
				 r.want);
		n = sr_dispatch(r.c, 0);
		assert_true(n >= 0);
		/* Only what was ready when it was called: never the
		 * completion of what its own callbacks submitted. */
		assert_true(n <= 1);
	}
	assert_int_equal(sr_in_flight(r.c), 0);
	sr_close(r.c);
}

/* Operations of one chain, and the slots each names (the same ones for
 * the whole chain: only a chain may share slots in flight). */
#define FLOOD_CHAIN 64
#define FLOOD_IOV 16
#define FLOOD_SLOT_SIZE (32 * 1024)

/* One chain of FLOOD_CHAIN vectored writes, each a byte from far into
 * each of @slots: big records, so that the daemon's room runs out before
 * the in-flight quota does, on either transport. */
static void prep_chain(struct sr_client *c, sr_handle_t h,
		       const sr_slot_t *slots, unsigned first)
{
	struct sr_iov iov[FLOOD_IOV];

	for (unsigned j = 0; j < FLOOD_IOV; j++)
		iov[j] = (struct sr_iov){ .slot = slots[j],
					  .offset = 20000 + j * 500,
					  .len = 1 };
	for (unsigned i = 0; i < FLOOD_CHAIN; i++) {
		assert_int_equal(sr_prep_writev(c, first + i, h, iov,
						FLOOD_IOV,
						(uint64_t)(first + i) * 16), 0);
		if (i + 1 < FLOOD_CHAIN)
			assert_int_equal(sr_link_last(c, SR_LINK), 0);
	}
}

/* A failed check must not leave the daemon stopped for the next test. */
static int resume_daemon(void **state)
{
	(void)state;
	kill(hd.pid, SIGCONT);
	return 0;
}

/* The daemon stops (SIGSTOP): submissions pile up in the socket's buffer
 * or the submission ring until there is no room for more; sr_submit must
 * say -EAGAIN at once, keep the batch, and sr_fd must turn readable once
 * the daemon runs again and a retry can go through. */
static void test_submit_eagain(void **state)
{
	struct sr_params par = { .slot_count = 1024,
				 .slot_size = FLOOD_SLOT_SIZE };
	struct sr_client *c = ou_connect(&par);
	struct sr_limits lim;
	unsigned sent = 0, waiting = 0, got = 0, chains = 0;
	bool pushed_back = false;
	uint8_t *seen;
	struct sr_cqe cqe;
	int r;
	sr_handle_t h;

	(void)state;
	if (sr_backend(c) != SR_BACKEND_DAEMON) {
		/* Its worker runs in our own calls: it never falls behind. */
		printf("skipped: no daemon to stop on the %s backend\n",
		       sr_backend_name(sr_backend(c)));
		sr_close(c);
		skip();
	}
	assert_int_equal(sr_limits(c, &lim), 0);
	assert_true(lim.max_in_flight >= 4096 &&
		    lim.slot_count * FLOOD_CHAIN >= 4096 * FLOOD_IOV);
	assert_true(lim.max_batch >= FLOOD_CHAIN);
	h = ou_register(c, hd_make_file(&hd, "flood", 0, 1));
	seen = calloc(lim.max_in_flight, 1);
	assert_non_null(seen);
	assert_true(sr_fd(c) >= 0);
	assert_int_equal(kill(hd.pid, SIGSTOP), 0);
	while (sent + FLOOD_CHAIN <= lim.max_in_flight) {
		sr_slot_t slots[FLOOD_IOV];

		for (unsigned j = 0; j < FLOOD_IOV; j++)
			slots[j] = ou_acquire(c);
		prep_chain(c, h, slots, sent);
		chains++;
		r = sr_submit(c);
		if (r == -EAGAIN) {
			pushed_back = true;
			waiting = FLOOD_CHAIN;
			break;
		}
		assert_int_equal(r, FLOOD_CHAIN);
		sent += FLOOD_CHAIN;
	}
	if (!pushed_back)
		kill(hd.pid, SIGCONT);
	if (!pushed_back)
		fail_msg("%u operations in %u chains sent, never pushed back",
			 sent, chains);
	/* Nothing was lost: the batch is still prepared, and a retry while
	 * the daemon sleeps changes nothing. */
	assert_int_equal(sr_in_flight(c), sent);
	assert_int_equal(sr_submit(c), -EAGAIN);
	assert_int_equal(sr_in_flight(c), sent);
	assert_int_equal(kill(hd.pid, SIGCONT), 0);

	/* sr_fd says when to try again; completions meanwhile are taken. */
	while (waiting || got < sent) {
		struct pollfd p = { .fd = sr_fd(c), .events = POLLIN };

		if (poll(&p, 1, HD_TIMEOUT_MS) != 1)
			fail_msg("sr_fd not readable: %u waiting, %u of %u "
				 "completions", waiting, got, sent);
		if (waiting) {
			r = sr_submit(c);
			if (r > 0) {
				assert_int_equal(r, (int)waiting);
				sent += waiting;
				waiting = 0;
			} else {
				assert_int_equal(r, -EAGAIN);
			}
		}
		while (sr_peek_cqe(c, &cqe) == 0) {
			ou_ok(&cqe, FLOOD_IOV);
			assert_true(cqe.user_data < lim.max_in_flight);
			assert_int_equal(seen[cqe.user_data]++, 0);
			got++;
		}
	}
	printf("pushed back after %u chains of %u operations; all %u "
	       "completed once\n", chains - 1, FLOOD_CHAIN, got);
	assert_int_equal(got, sent);
	assert_int_equal(sr_in_flight(c), 0);
	for (unsigned i = 0; i < sent; i++)
		assert_int_equal(seen[i], 1);
	free(seen);
	sr_close(c);
	hd_check_service(&hd);
}

/* A ring client that found no room sets SQ_WAIT and sleeps on its
 * doorbell alone: the daemon must ring it once it has taken records,
 * even though the client did not ask for completion signals. */
static void test_sq_wait_doorbell(void **state)
{
	struct rc *c = rc_open_rings(hd.sock, 0, 0);
	struct op_request op;
	struct pollfd p;

	(void)state;
	__atomic_store_n(&c->ring.ctl->cq_flags, SR_RING_CQ_SQ_WAIT,
			 __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	rc_req_nop(&op, 1);
	rc_ring_submit(c, &op, 1);
	p = (struct pollfd){ .fd = c->ring.cq_efd, .events = POLLIN };
	if (poll(&p, 1, HD_TIMEOUT_MS) != 1)
		fail_msg("the daemon took the record but never rang");
	rc_ring_wait_cqes(c, 1, NULL, HD_TIMEOUT_MS);
	rc_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ready_wait_timeout),
		cmocka_unit_test(test_dispatch),
		cmocka_unit_test(test_dispatch_resubmit),
		cmocka_unit_test_teardown(test_submit_eagain, resume_daemon),
		cmocka_unit_test(test_sq_wait_doorbell),
	};

	int failed;

	/* The harness's policy with room for a flood (test_submit_eagain):
	 * the library's largest in-flight count. */
	hd_watchdog(120);
	hd_start_config(&hd, "[default]\nops = all\nslots = 1024\n"
			"slot_size = 1M\narena = 256M\nfds = 64\n"
			"in_flight = 4096\nsessions = 64\nmax_errors = 64\n");
	failed = cmocka_run_group_tests_name("evloop_api", tests, NULL, NULL);
	if (failed)
		hd_print_log_tail(&hd, 30);
	if (hd_stop(&hd) < 0)
		failed++;
	return failed ? 1 : 0;
}
