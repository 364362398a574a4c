/* SPDX-License-Identifier: MIT */
/*
 * test_sigterm.c - end-to-end: SIGTERM stops saferringd cleanly and leaves
 * no client hanging.
 *
 *  - With operations in flight (reads of an empty pipe, a long timeout, a
 *    poll) on one libsaferring session, a second session idle and a third
 *    connection that never said Hello: every in-flight operation gets its
 *    completion (the kernel's cancel: -ECANCELED or -EINTR) and its slot
 *    back, then every connection is closed (the library reports
 *    -ECONNRESET, the raw client end of file), and the daemon exits 0 well
 *    within SERVER_STOP_TIMEOUT_MS.
 *  - With no session at all it exits 0 at once.
 *  - A client that stops reading its replies cannot hold the daemon past
 *    SERVER_STOP_TIMEOUT_MS: it still exits 0, and that client then sees
 *    its connection end instead of hanging.
 *
 * Each test starts its own daemon (the harness's shared one would not
 * survive).  Every wait is bounded; measured times are printed.
 */
#include "../lib/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server.h" /* SERVER_STOP_TIMEOUT_MS */

#define PIPE_READS 6
/* "Well within" the daemon's own limit. */
#define PROMPT_MS (SERVER_STOP_TIMEOUT_MS / 4)

static struct hd_daemon d;

static double ms_since(uint64_t t0)
{
	return (double)(hd_now_ns() - t0) / 1e6;
}

static int teardown(void **state)
{
	(void)state;
	hd_discard(&d);
	return 0;
}

/* Wait (bounded) for the daemon to exit; its run time since @t0 in ms. */
static double wait_exit(uint64_t t0, int timeout_ms)
{
	uint64_t deadline = t0 + (uint64_t)timeout_ms * 1000000ULL;

	while (hd_alive(&d)) {
		if (hd_now_ns() >= deadline) {
			hd_print_log_tail(&d, 30);
			fail_msg("saferringd still running %d ms after SIGTERM",
				 timeout_ms);
		}
		hd_sleep_ms(1);
	}
	return ms_since(t0);
}

static void assert_exit_0(void)
{
	if (!WIFEXITED(d.status) || WEXITSTATUS(d.status) != 0) {
		hd_print_log_tail(&d, 30);
		if (WIFSIGNALED(d.status))
			fail_msg("saferringd killed by signal %d on SIGTERM",
				 WTERMSIG(d.status));
		fail_msg("saferringd exited with status %d on SIGTERM "
			 "(expected 0)", WEXITSTATUS(d.status));
	}
}

static bool log_has(const char *what)
{
	char line[1024];
	bool found = false;
	FILE *f = fopen(d.log, "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, what) != NULL;
	fclose(f);
	return found;
}

/* Poll the library's socket for at most the time left until @deadline. */
static void poll_until(struct sr_client *c, uint64_t deadline)
{
	uint64_t now = hd_now_ns();
	struct pollfd p = { .fd = sr_fd(c), .events = POLLIN };

	if (now < deadline)
		poll(&p, 1, (int)((deadline - now) / 1000000ULL) + 1);
}

/* The next completion within @ms; fails on anything else. */
static void next_cqe(struct sr_client *c, struct sr_cqe *cqe, int ms,
		     const char *who)
{
	uint64_t deadline = hd_now_ns() + (uint64_t)ms * 1000000ULL;

	for (;;) {
		int r = sr_peek_cqe(c, cqe);

		if (r == 0)
			return;
		if (r != -EAGAIN)
			fail_msg("%s: waiting for a completion: %s (the daemon "
				 "closed the connection with operations still "
				 "in flight?)", who, strerror(-r));
		if (hd_now_ns() >= deadline)
			fail_msg("%s: no completion within %d ms (client left "
				 "hanging)", who, ms);
		poll_until(c, deadline);
	}
}

/* The connection must be closed within @ms with nothing more on it. */
static void expect_reset(struct sr_client *c, int ms, const char *who)
{
	uint64_t deadline = hd_now_ns() + (uint64_t)ms * 1000000ULL;
	struct sr_cqe cqe;

	for (;;) {
		int r = sr_peek_cqe(c, &cqe);

		if (r == -ECONNRESET)
			return;
		if (r == 0)
			fail_msg("%s: unexpected completion tag %llu res %d",
				 who, (unsigned long long)cqe.user_data, cqe.res);
		if (r != -EAGAIN)
			fail_msg("%s: expected -ECONNRESET, got %s", who,
				 strerror(-r));
		if (hd_now_ns() >= deadline)
			fail_msg("%s: connection still open %d ms after SIGTERM",
				 who, ms);
		poll_until(c, deadline);
	}
}

static struct sr_client *connect_small(void)
{
	struct sr_params p = { .slot_count = 16, .slot_size = 4096 };
	struct sr_client *c = NULL;
	int r = sr_connect(d.sock, &p, &c);

	if (r < 0)
		fail_msg("sr_connect: %s", strerror(-r));
	return c;
}

static void test_sigterm_in_flight(void **state)
{
	struct sr_client *busy, *idle;
	struct rc *raw;
	struct sr_cqe cqe;
	int pfd[2];
	sr_slot_t slots[PIPE_READS];
	sr_handle_t h;
	bool seen[PIPE_READS + 2] = { false };
	double t_cqes = 0, t_busy, t_idle, t_raw, t_exit;
	uint64_t t0;

	(void)state;
	hd_start(&d);
	busy = connect_small();
	idle = connect_small();
	raw = rc_connect(d.sock);

	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	h = sr_register_fd(busy, pfd[0]);
	assert_true(sr_handle_index(h) >= 0);
	/* Reads of an empty pipe wait until cancelled. */
	for (int i = 0; i < PIPE_READS; i++) {
		slots[i] = sr_slot_acquire(busy);
		assert_true(sr_slot_index(slots[i]) >= 0);
		assert_int_equal(sr_prep_read(busy, (uint64_t)i, h, slots[i], 0,
					      4096, 0), 0);
	}
	assert_int_equal(sr_prep_timeout(busy, PIPE_READS, 600ULL * 1000000000),
			 0);
	assert_int_equal(sr_prep_poll_add(busy, PIPE_READS + 1, h, POLLIN), 0);
	assert_int_equal(sr_submit(busy), PIPE_READS + 2);
	/* Requests are handled in order: once this NOP is back, the daemon
	 * has handed every operation above to the kernel. */
	assert_int_equal(sr_prep_nop(busy, 99), 0);
	assert_int_equal(sr_submit(busy), 1);
	next_cqe(busy, &cqe, HD_TIMEOUT_MS, "busy client");
	assert_int_equal(cqe.user_data, 99);
	assert_int_equal(cqe.res, 0);
	assert_int_equal(sr_peek_cqe(busy, &cqe), -EAGAIN);
	assert_int_equal(sr_in_flight(busy), PIPE_READS + 2);
	/* Busy operations must not be cut short by anything but the stop. */
	hd_sleep_ms(50);
	assert_int_equal(sr_peek_cqe(busy, &cqe), -EAGAIN);
	hd_assert_alive(&d);

	t0 = hd_now_ns();
	assert_int_equal(kill(d.pid, SIGTERM), 0);

	for (int n = 0; n < PIPE_READS + 2; n++) {
		next_cqe(busy, &cqe, PROMPT_MS, "busy client");
		if (cqe.user_data >= PIPE_READS + 2 || seen[cqe.user_data])
			fail_msg("unexpected or repeated completion tag %llu",
				 (unsigned long long)cqe.user_data);
		seen[cqe.user_data] = true;
		if (cqe.status != SR_STATUS_OK)
			fail_msg("tag %llu: the daemon refused it (%s) instead "
				 "of cancelling it", (unsigned long long)cqe.user_data,
				 sr_strstatus(cqe.status));
		if (cqe.user_data < PIPE_READS) {
			/* A read the kernel cancels ends -ECANCELED, or -EINTR
			 * when a worker thread was already in it. */
			if (cqe.res != -ECANCELED && cqe.res != -EINTR)
				fail_msg("read %llu ended with %d (%s), expected "
					 "-ECANCELED or -EINTR",
					 (unsigned long long)cqe.user_data, cqe.res,
					 strerror(-cqe.res));
			assert_slot_equal(cqe.slot, slots[cqe.user_data]);
		} else {
			/* The timeout and the poll end only when cancelled. */
			if (cqe.res != -ECANCELED)
				fail_msg("%s ended with %d (%s), expected -ECANCELED",
					 cqe.user_data == PIPE_READS ? "timeout" : "poll",
					 cqe.res, strerror(-cqe.res));
		}
		t_cqes = ms_since(t0);
	}
	assert_int_equal(sr_in_flight(busy), 0);
	expect_reset(busy, PROMPT_MS, "busy client");
	t_busy = ms_since(t0);
	/* The slots came back with their completions. */
	for (int i = 0; i < PIPE_READS; i++)
		assert_int_equal(sr_slot_release(busy, slots[i]), 0);
	/* Closed for good: every later call says so at once (preparing, or
	 * at the latest submitting). */
	{
		int r = sr_prep_nop(busy, 100);

		if (r == 0)
			r = sr_submit(busy);
		assert_int_equal(r, -ECONNRESET);
	}
	assert_int_equal(sr_handle_index(sr_register_fd(busy, pfd[0])),
			 -ECONNRESET);
	{
		/* Nothing in flight: the library answers without blocking. */
		int r = sr_wait_cqe(busy, &cqe);

		if (r != -ECONNRESET && r != -ENODATA)
			fail_msg("sr_wait_cqe after the close: %d (%s)", r,
				 strerror(-r));
	}

	expect_reset(idle, PROMPT_MS, "idle client");
	t_idle = ms_since(t0);
	rc_expect_eof(raw, PROMPT_MS);
	assert_int_equal(raw->cq_len, 0);
	t_raw = ms_since(t0);

	t_exit = wait_exit(t0, PROMPT_MS);
	assert_exit_0();
	assert_true(log_has("stopping:"));
	assert_true(log_has("stopped"));
	if (log_has("still draining"))
		fail_msg("the daemon gave up waiting for its sessions");
	printf("test_sigterm: SIGTERM with %d operations in flight: all "
	       "completed after %.1f ms; connections closed: busy %.1f ms, "
	       "idle %.1f ms, no-Hello %.1f ms; daemon exited 0 after %.1f ms "
	       "(limit %d ms)\n", PIPE_READS + 2, t_cqes, t_busy, t_idle, t_raw,
	       t_exit, SERVER_STOP_TIMEOUT_MS);

	/* The daemon's references to the pipe are gone with it (its rings
	 * drop their registered files a moment after they are closed). */
	close(pfd[0]);
	signal(SIGPIPE, SIG_IGN);
	{
		uint64_t t1 = hd_now_ns();
		uint64_t deadline = t1 + HD_TIMEOUT_MS * 1000000ULL;

		while (!(write(pfd[1], "x", 1) < 0 && errno == EPIPE)) {
			if (hd_now_ns() >= deadline)
				fail_msg("the pipe's read end is still held %d ms "
					 "after the daemon exited", HD_TIMEOUT_MS);
			hd_sleep_ms(2);
		}
		printf("test_sigterm: the pipe's last reader was gone %.1f ms "
		       "after the daemon exited\n", ms_since(t1));
	}
	close(pfd[1]);
	sr_close(busy);
	sr_close(idle);
	rc_close(raw);
}

static void test_sigterm_no_sessions(void **state)
{
	double took;
	uint64_t t0;

	(void)state;
	hd_start(&d);
	/* One finished session, so that the daemon is not pristine. */
	hd_honest_roundtrip(&d);
	t0 = hd_now_ns();
	assert_int_equal(kill(d.pid, SIGTERM), 0);
	took = wait_exit(t0, PROMPT_MS);
	assert_exit_0();
	printf("test_sigterm: SIGTERM with no session: exited 0 after %.1f ms\n",
	       took);
	/* Nobody listens any more. */
	{
		struct sr_client *c = NULL;
		int r = sr_connect(d.sock, NULL, &c);

		if (r != -ECONNREFUSED && r != -ENOENT)
			fail_msg("connect after the stop: %d (%s)", r,
				 strerror(-r));
	}
}

/* One Submit of @n NOPs, sent without waiting: 1 sent, 0 when the
 * socket is full. */
static int submit_nops_nowait(struct rc *c, unsigned n, uint64_t tag)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__Submit submit = SAFERRING__SUBMIT__INIT;
	struct rc_op ops[16];
	Saferring__Op *ptrs[16];
	unsigned char buf[1024];
	size_t len;

	assert_true(n <= 16);
	for (unsigned i = 0; i < n; i++) {
		rc_op_nop(&ops[i], tag + i);
		ptrs[i] = &ops[i].op;
	}
	submit.n_ops = n;
	submit.ops = ptrs;
	req.body_case = SAFERRING__REQUEST__BODY_SUBMIT;
	req.submit = &submit;
	len = saferring__request__get_packed_size(&req);
	assert_true(len <= sizeof(buf));
	saferring__request__pack(&req, buf);
	if (send(c->sock, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len)
		return 1;
	if (errno != EAGAIN)
		fail_msg("send: %s", strerror(errno));
	return 0;
}

/*
 * A client that submits and never reads: the daemon's replies fill the
 * socket, the daemon stops taking its requests (backpressure), and this
 * session can never finish draining.  The stop must not wait for it
 * beyond SERVER_STOP_TIMEOUT_MS.
 */
static void test_sigterm_stuck_client(void **state)
{
	struct rc *stuck;
	double took;
	uint64_t t0, sent = 0;
	bool full = false;

	(void)state;
	hd_start(&d);
	stuck = rc_open(d.sock);
	/* Until our side is full too: then the daemon has stopped reading. */
	for (int i = 0; i < 200000 && !full; i++) {
		if (submit_nops_nowait(stuck, 8, sent)) {
			sent += 8;
			continue;
		}
		/* Full for a moment, or for good? */
		hd_sleep_ms(50);
		if (submit_nops_nowait(stuck, 8, sent))
			sent += 8;
		else
			full = true;
	}
	if (!full)
		fail_msg("%llu NOPs sent and the daemon still takes more "
			 "without anyone reading its replies",
			 (unsigned long long)sent);
	hd_assert_alive(&d);

	t0 = hd_now_ns();
	assert_int_equal(kill(d.pid, SIGTERM), 0);
	took = wait_exit(t0, SERVER_STOP_TIMEOUT_MS + 3000);
	assert_exit_0();
	/* The client is not left hanging either: end of file, or a reset
	 * (the daemon's end still held requests it never read), after at
	 * most what was sent. */
	{
		uint64_t t1 = hd_now_ns();

		rc_expect_eof(stuck, HD_TIMEOUT_MS);
		printf("test_sigterm: a client that never reads (%llu NOPs "
		       "submitted, %zu completions read before the end): daemon "
		       "exited 0 after %.1f ms (limit %d ms); the client saw "
		       "its connection end %.1f ms later\n", (unsigned long long)sent,
		       stuck->cq_len, took, SERVER_STOP_TIMEOUT_MS, ms_since(t1));
	}
	assert_true(stuck->cq_len <= sent);
	/* Either it ended that session itself, or it gave up waiting and
	 * said so. */
	if (took >= SERVER_STOP_TIMEOUT_MS)
		assert_true(log_has("still draining"));
	assert_true(log_has("stopped"));
	rc_close(stuck);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_sigterm_in_flight, teardown),
		cmocka_unit_test_teardown(test_sigterm_no_sessions, teardown),
		cmocka_unit_test_teardown(test_sigterm_stuck_client, teardown),
	};
	int failed;

	setvbuf(stdout, NULL, _IOLBF, 0);
	hd_watchdog(90);
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	alarm(0);
	return failed ? 1 : 0;
}
