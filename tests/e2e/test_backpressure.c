/* SPDX-License-Identifier: MIT */
/*
 * test_backpressure.c - end-to-end: a raw client submits NOP batches as
 * fast as the socket takes them and never reads a reply.  The daemon must
 * stop reading it (its socket stops taking datagrams) instead of queueing
 * without bound, keep its RSS bounded, serve another client promptly
 * meanwhile (round trips are measured and printed; only a generous 2 s
 * bound is asserted), and, once the flooder reads, deliver exactly one
 * completion for every operation it accepted.
 */
#include "../lib/harness.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Stop flooding after this many operations even if the socket never
 * pushes back (the test then fails). */
#define FLOOD_LIMIT (4U * 1024 * 1024)

/* Send Submit batches of max_batch NOPs, tags counting up from *next,
 * until the socket has refused for @stall_ms.  Returns operations sent. */
static uint64_t flood(struct rc *c, uint64_t *next, int stall_ms)
{
	uint32_t n = c->max_batch;
	struct rc_op *ops = calloc(n, sizeof(*ops));
	Saferring__Op **ptrs = calloc(n, sizeof(*ptrs));
	unsigned char *buf = malloc(WIRE_MAX_DATAGRAM);
	uint64_t sent = 0;

	assert_non_null(ops);
	assert_non_null(ptrs);
	assert_non_null(buf);
	for (;;) {
		Saferring__Request req = SAFERRING__REQUEST__INIT;
		Saferring__Submit submit = SAFERRING__SUBMIT__INIT;

		for (uint32_t i = 0; i < n; i++) {
			rc_op_nop(&ops[i], *next + i);
			ptrs[i] = &ops[i].op;
		}
		submit.n_ops = n;
		submit.ops = ptrs;
		req.body_case = SAFERRING__REQUEST__BODY_SUBMIT;
		req.submit = &submit;
		size_t len = saferring__request__get_packed_size(&req);
		assert_true(len <= WIRE_MAX_DATAGRAM);
		saferring__request__pack(&req, buf);

		ssize_t r = send(c->sock, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = c->sock, .events = POLLOUT };
			if (poll(&p, 1, stall_ms) == 0)
				break;
			continue;
		}
		if (r < 0)
			fail_msg("flood: send: %s", strerror(errno));
		*next += n;
		sent += n;
		if (sent >= FLOOD_LIMIT)
			fail_msg("the daemon took %llu operations from a client that "
				 "reads nothing; no backpressure",
				 (unsigned long long)sent);
	}
	free(ops);
	free(ptrs);
	free(buf);
	return sent;
}

/* Round trips of another client while the flooder is stalled. */
static void measure_other_client(const char *what)
{
	struct sr_client *c;
	int fd = hd_make_file(&hd, "bp.dat", 65536, 0xb0);
	sr_handle_t h;
	unsigned char buf[4096];
	uint64_t worst = 0, sum = 0;
	const int rounds = 50;

	assert_int_equal(sr_connect(hd.sock, NULL, &c), 0);
	h = sr_register_fd(c, fd);
	assert_true(sr_handle_index(h) >= 0);
	for (int i = 0; i < rounds; i++) {
		uint64_t t0 = hd_now_ns();
		struct sr_cqe cqe;

		assert_int_equal(sr_pread(c, h, buf, sizeof(buf), 4096), 4096);
		assert_int_equal(sr_prep_nop(c, (uint64_t)i), 0);
		assert_int_equal(sr_submit(c), 1);
		assert_int_equal(sr_wait_cqe(c, &cqe), 0);
		assert_int_equal(cqe.user_data, (uint64_t)i);
		uint64_t dt = hd_now_ns() - t0;
		sum += dt;
		if (dt > worst)
			worst = dt;
	}
	assert_true(hd_pattern_ok(buf, sizeof(buf), 4096, 0xb0));
	printf("test_backpressure: %s: other client's round trip (pread + NOP) "
	       "avg %.1f us, worst %.1f us over %d rounds\n", what,
	       (double)sum / rounds / 1e3, (double)worst / 1e3, rounds);
	if (worst > 2000000000ULL)
		fail_msg("another client waited %.3f s while one was flooding",
			 (double)worst / 1e9);
	sr_close(c);
	close(fd);
}

static void test_flood_without_reading(void **state)
{
	struct rc *c = rc_open(hd.sock);
	uint64_t next = 0, sent, got = 0, ok = 0, quota = 0;
	long rss0, rss1, rss2;
	uint8_t *seen;

	(void)state;
	hd_honest_roundtrip(&hd);
	hd_settled_fd_count(hd.pid);
	rss0 = hd_rss_kib(hd.pid);
	sent = flood(c, &next, 300);
	rss1 = hd_rss_kib(hd.pid);
	printf("test_backpressure: the daemon took %llu NOPs (%llu batches) "
	       "before it stopped reading; RSS %ld -> %ld KiB\n",
	       (unsigned long long)sent,
	       (unsigned long long)(sent / c->max_batch), rss0, rss1);
	assert_true(sent > 0);
	hd_assert_alive(&hd);
	measure_other_client("flooder stalled");

	/* Still stalled: more pressure changes nothing. */
	uint64_t more = flood(c, &next, 200);
	rss2 = hd_rss_kib(hd.pid);
	printf("test_backpressure: %llu more NOPs taken on a second try; RSS "
	       "%ld KiB\n", (unsigned long long)more, rss2);
	sent += more;
	if (rss2 - rss0 > hd_rss_allowance_kib(hd.pid, 8 * 1024))
		fail_msg("daemon RSS grew by %ld KiB under the flood", rss2 - rss0);

	/* Now read it all: one completion per operation, no more. */
	seen = calloc(sent, 1);
	assert_non_null(seen);
	while (got < sent) {
		struct rc_cqe cqes[256];
		size_t want = sent - got < 256 ? (size_t)(sent - got) : 256;

		rc_wait_cqes(c, want, cqes, HD_TIMEOUT_MS);
		for (size_t i = 0; i < want; i++) {
			if (cqes[i].tag >= sent)
				fail_msg("completion for tag %llu never sent",
					 (unsigned long long)cqes[i].tag);
			if (seen[cqes[i].tag])
				fail_msg("second completion for tag %llu",
					 (unsigned long long)cqes[i].tag);
			seen[cqes[i].tag] = 1;
			/* Batches read back to back find the previous ones
			 * still held by the kernel: beyond max_in_flight they
			 * are refused, and that is a completion too. */
			if (cqes[i].status == SR_STATUS_OK) {
				assert_int_equal(cqes[i].result, 0);
				ok++;
			} else if (cqes[i].status == SR_STATUS_QUOTA) {
				assert_int_equal(cqes[i].result, -EDQUOT);
				quota++;
			} else {
				fail_msg("NOP tag %llu: %s",
					 (unsigned long long)cqes[i].tag,
					 sr_strstatus(cqes[i].status));
			}
			assert_false(cqes[i].has_slot);
		}
		got += want;
	}
	rc_expect_quiet(c, 300);
	for (uint64_t t = 0; t < sent; t++)
		assert_true(seen[t]);
	printf("test_backpressure: %llu operations, %llu completions, each "
	       "exactly once (%llu run, %llu refused over quota)\n",
	       (unsigned long long)sent, (unsigned long long)got,
	       (unsigned long long)ok, (unsigned long long)quota);
	assert_true(ok > 0);
	free(seen);

	/* The session works normally afterwards. */
	{
		struct rc_op op;
		struct rc_cqe cqe;
		rc_op_nop(&op, 1ULL << 60);
		rc_run(c, &op, 1, &cqe);
		assert_int_equal(cqe.tag, 1ULL << 60);
	}
	rc_close(c);
	hd_check_service(&hd);
}

/* Several flooders at once, then gone without reading: the daemon drops
 * what it queued for them and gives everything back. */
static void test_flooders_vanish(void **state)
{
	enum { FLOODERS = 4 };
	struct rc *c[FLOODERS];
	int base_fds = hd_settled_fd_count(hd.pid);

	long rss0 = hd_rss_kib(hd.pid), rss1;
	uint64_t total = 0;

	(void)state;
	for (int i = 0; i < FLOODERS; i++) {
		uint64_t next = 0;

		c[i] = rc_open(hd.sock);
		total += flood(c[i], &next, 100);
	}
	measure_other_client("four flooders stalled");
	for (int i = 0; i < FLOODERS; i++)
		rc_close(c[i]);
	int fds = hd_wait_fd_count(hd.pid, base_fds, HD_TIMEOUT_MS);
	long allowed = hd_rss_allowance_kib(hd.pid, 4 * 1024);
	rss1 = hd_wait_rss_below(hd.pid, rss0 + allowed, 2000);
	printf("test_backpressure: %d flooders took %llu NOPs and vanished; "
	       "daemon fds %d -> %d, RSS %ld -> %ld KiB\n", FLOODERS,
	       (unsigned long long)total, base_fds, fds, rss0, rss1);
	assert_int_equal(fds, base_fds);
	assert_true(rss1 - rss0 < allowed);
	hd_check_service(&hd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flood_without_reading),
		cmocka_unit_test(test_flooders_vanish),
	};

	return HD_RUN(tests, 60);
}
