/* SPDX-License-Identifier: MIT */
/*
 * test_garbage.c - end-to-end: 2000 datagrams of random bytes (seeded;
 * the seed is printed, SAFERRING_SEED replays one) from several
 * connections at once, some over 64 KiB, some carrying descriptors.  The
 * daemon must stay up, end every abusive session after 64 refused
 * requests (the socket reads end of file), close every descriptor it was
 * sent, and go on serving an honest client.
 */
#include "../lib/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DATAGRAMS 2000
#define CONNS 6
#define MAX_ERRORS 64

struct abuser {
	struct rc *c;
	unsigned sent;      /* datagrams sent */
	unsigned errors;    /* Error replies */
	unsigned others;    /* replies of other kinds */
	uint32_t last_status;
	bool told_limit;    /* the daemon said max_errors ended it */
	char last[8][48];   /* the last replies, for a failure message */
	unsigned nlast;
	bool closed;        /* end of file seen */
};

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static uint32_t pick_u32(void)
{
	static const uint32_t edge[] = { 0, 1, 2, 3, 7, 63, 64, 4095, 4096,
					 65535, 65536, 0x7fffffff, 0x80000000,
					 UINT32_MAX };

	return rng() % 2 ? edge[rng() % (sizeof(edge) / sizeof(edge[0]))] :
			   (uint32_t)rng();
}

/* A request that decodes, with field values that are mostly wrong, then
 * perhaps a few bits flipped or the tail cut off. */
static size_t structured(unsigned char *buf, size_t cap)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__Hello hello = SAFERRING__HELLO__INIT;
	Saferring__RegisterFd reg = SAFERRING__REGISTER_FD__INIT;
	Saferring__UnregisterFd unreg = SAFERRING__UNREGISTER_FD__INIT;
	Saferring__Submit submit = SAFERRING__SUBMIT__INIT;
	Saferring__FdHandle fh = SAFERRING__FD_HANDLE__INIT;
	struct rc_op ops[8];
	Saferring__Op *ptrs[8];
	size_t len;

	req.has_seq = rng() % 2;
	req.seq = pick_u32();
	switch (rng() % 6) {
	case 0:
		/* Already welcomed: refused as a second Hello. */
		hello.version = rng() % 2 ? 1 : pick_u32();
		req.body_case = SAFERRING__REQUEST__BODY_HELLO;
		req.hello = &hello;
		break;
	case 1:
		req.body_case = SAFERRING__REQUEST__BODY_REGISTER_FD;
		req.register_fd = &reg;
		break;
	case 2:
		fh.index = rng() % 4 ? (uint32_t)(rng() % 4) : pick_u32();
		fh.generation = rng() % 4 ? (uint32_t)(rng() % 4) : pick_u32();
		unreg.handle = &fh;
		req.body_case = SAFERRING__REQUEST__BODY_UNREGISTER_FD;
		req.unregister_fd = &unreg;
		break;
	default: {
		size_t n = 1 + rng() % 8;

		for (size_t i = 0; i < n; i++) {
			struct rc_handle h = {
				rng() % 4 ? (uint32_t)(rng() % 3) : pick_u32(),
				rng() % 4 ? (uint32_t)(1 + rng() % 3) : pick_u32(),
			};
			rc_op_rw(&ops[i], rng(), (uint32_t)(rng() % 5), h,
				 rng() % 4 ? (uint32_t)(rng() % 10) : pick_u32(),
				 rng() % 4 ? (uint32_t)(1 + rng() % 4) : pick_u32(),
				 rng() % 2 ? 0 : pick_u32(),
				 rng() % 2 ? (uint32_t)(rng() % 4097) : pick_u32(),
				 rng() % 2 ? rng() % 65536 : rng());
			if (rng() % 3 == 0)
				ops[i].op.fd = NULL;
			if (rng() % 3 == 0)
				ops[i].op.slot = NULL;
			if (rng() % 3 == 0)
				ops[i].op.has_file_offset = false;
			if (rng() % 5 == 0) {
				ops[i].op.has_flags = true;
				ops[i].op.flags = pick_u32() & 3;
			}
			ptrs[i] = &ops[i].op;
		}
		submit.n_ops = n;
		submit.ops = ptrs;
		req.body_case = SAFERRING__REQUEST__BODY_SUBMIT;
		req.submit = &submit;
		break;
	}
	}
	len = saferring__request__get_packed_size(&req);
	assert_true(len <= cap);
	saferring__request__pack(&req, buf);
	if (rng() % 2) {
		for (int i = 1 + rng() % 3; i > 0; i--)
			buf[rng() % len] ^= (unsigned char)(1u << (rng() % 8));
	}
	if (rng() % 4 == 0 && len > 1)
		len = 1 + rng() % (len - 1);
	return len;
}

/* Read whatever replies are waiting; true at end of file. */
static bool drain(struct abuser *a, int timeout_ms)
{
	Saferring__Reply *r;
	int fd;

	for (;;) {
		int n = rc_recv(a->c, timeout_ms, &r, &fd);

		if (n == 0)
			return true;
		if (n == -ETIMEDOUT)
			return false;
		if (n < 0)
			fail_msg("receive: %s", strerror(-n));
		if (fd >= 0)
			close(fd); /* a random Hello that happened to decode */
		snprintf(a->last[a->nlast++ % 8], sizeof(a->last[0]), "%s%s%.24s",
			 rc_body_name(r), r->has_seq ? "(seq) " : " ",
			 r->body_case == SAFERRING__REPLY__BODY_ERROR &&
			 r->error->message ? r->error->message : "");
		if (r->body_case == SAFERRING__REPLY__BODY_ERROR &&
		    r->error->status == SR_STATUS_QUOTA && !r->has_seq &&
		    a->errors == MAX_ERRORS) {
			/* Why the session ends: not a refusal of its own. */
			a->told_limit = true;
		} else if (r->body_case == SAFERRING__REPLY__BODY_ERROR) {
			a->errors++;
			a->last_status = r->error->status;
			if (a->errors > MAX_ERRORS)
				fail_msg("session got %u Error replies; it should have "
					 "ended after %d", a->errors, MAX_ERRORS);
		} else {
			a->others++;
		}
		timeout_ms = 0;
	}
}

/* The session is over: it must have earned it. */
static void finish(struct abuser *a, unsigned *ended_by_limit)
{
	uint64_t deadline = hd_now_ns() + HD_TIMEOUT_MS * 1000000ULL;

	/* Whatever is still queued arrives before the end of file, which may
	 * come a moment after the last reply. */
	while (!drain(a, HD_TIMEOUT_MS))
		if (hd_now_ns() > deadline)
			fail_msg("no end of file within %d ms", HD_TIMEOUT_MS);
	a->closed = true;
	if (a->errors == MAX_ERRORS) {
		if (!a->told_limit) {
			for (unsigned i = a->nlast > 8 ? a->nlast - 8 : 0;
			     i < a->nlast; i++)
				fprintf(stderr, "reply %u: %s\n", i, a->last[i % 8]);
			fail_msg("session ended by max_errors without saying so");
		}
		(*ended_by_limit)++;
	} else if (a->last_status != SR_STATUS_VERSION) {
		/* Only a refused Hello may end a session earlier. */
		fail_msg("session closed after %u errors (last: %s), %u sent",
			 a->errors, sr_strstatus(a->last_status), a->sent);
	}
}

static void test_random_datagrams(void **state)
{
	struct abuser ab[CONNS];
	unsigned char *buf = malloc(WIRE_MAX_DATAGRAM * 2);
	const char *env = getenv("SAFERRING_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^
			((uint64_t)getpid() << 32);
	unsigned total = 0, sessions = 0, big = 0, with_fds = 0, limit = 0;
	unsigned total_errors = 0, total_others = 0, welcomed = 0, decodable = 0;
	int base_fds, pfd[2];
	long rss0, rss1;

	(void)state;
	assert_non_null(buf);
	printf("test_garbage: seed %llu (replay with SAFERRING_SEED=%llu)\n",
	       (unsigned long long)seed, (unsigned long long)seed);
	rng_state = seed ? seed : 1;
	hd_honest_roundtrip(&hd);
	base_fds = hd_settled_fd_count(hd.pid);
	rss0 = hd_rss_kib(hd.pid);
	/* Descriptors to throw at it; our ends stay open until the end. */
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);

	memset(ab, 0, sizeof(ab));
	while (total < DATAGRAMS) {
		struct abuser *a = &ab[rng() % CONNS];
		size_t len;
		int fds[3];
		unsigned nfds = 0;

		if (!a->c || a->closed) {
			if (a->c) {
				total_errors += a->errors;
				total_others += a->others;
				rc_close(a->c);
			}
			memset(a, 0, sizeof(*a));
			a->c = rc_connect(hd.sock);
			/* Half the sessions say Hello (a small arena) and then
			 * also get requests that decode. */
			if (rng() % 2) {
				rc_hello(a->c, 10, 4096);
				welcomed++;
			}
			sessions++;
		}
		/* Sizes: mostly small, some up to 64 KiB, some over. */
		switch (rng() % 20) {
		case 0:
			len = WIRE_MAX_DATAGRAM + 1 + rng() % WIRE_MAX_DATAGRAM;
			big++;
			break;
		case 1:
		case 2:
			len = 1 + rng() % WIRE_MAX_DATAGRAM;
			break;
		default:
			len = 1 + rng() % 64;
			break;
		}
		if (a->c->welcomed && rng() % 2) {
			len = structured(buf, WIRE_MAX_DATAGRAM);
			decodable++;
		} else {
			for (size_t i = 0; i < len; i += 8) {
				uint64_t v = rng();
				memcpy(buf + i, &v, len - i < 8 ? len - i : 8);
			}
		}
		if (rng() % 8 == 0) {
			nfds = 1 + rng() % 3;
			for (unsigned i = 0; i < nfds; i++)
				fds[i] = rng() % 2 ? pfd[0] : pfd[1];
			with_fds++;
		}
		int r = rc_send_raw(a->c, buf, len, fds, nfds);
		total++;
		if (r == -EPIPE || r == -ECONNRESET) {
			finish(a, &limit);
			continue;
		}
		if (r < 0)
			fail_msg("send datagram %u: %s", total, strerror(-r));
		a->sent++;
		if (drain(a, 0))
			finish(a, &limit);
		else if (a->sent % 16 == 0 && drain(a, 20))
			finish(a, &limit);
	}
	/* Every session still open gets the rest of its 64 errors. */
	for (int i = 0; i < CONNS; i++) {
		struct abuser *a = &ab[i];

		if (!a->c)
			continue;
		while (!a->closed) {
			int r = rc_send_raw(a->c, "\xff", 1, NULL, 0);
			if (r < 0 && r != -EPIPE && r != -ECONNRESET)
				fail_msg("send: %s", strerror(-r));
			a->sent++;
			if (r < 0 || drain(a, 100) || a->errors == MAX_ERRORS) {
				finish(a, &limit);
				break;
			}
			if (a->sent > 10 * DATAGRAMS)
				fail_msg("session never ended");
		}
		total_errors += a->errors;
		total_others += a->others;
		rc_close(a->c);
		a->c = NULL;
	}
	close(pfd[0]);
	close(pfd[1]);
	printf("test_garbage: %u datagrams (%u over 64 KiB, %u with descriptors, "
	       "%u built to decode) over %u sessions (%u welcomed); %u Error "
	       "replies, %u other replies; %u sessions ended at the limit\n",
	       total, big, with_fds, decodable, sessions, welcomed, total_errors,
	       total_others, limit);
	assert_true(sessions >= DATAGRAMS / (2 * MAX_ERRORS));
	assert_true(limit >= sessions / 2);

	hd_check_service(&hd);
	/* Every session drained, every descriptor sent was closed. */
	int fds_now = hd_wait_fd_count(hd.pid, base_fds, HD_TIMEOUT_MS);
	long allowed = hd_rss_allowance_kib(hd.pid, 8 * 1024);
	rss1 = hd_wait_rss_below(hd.pid, rss0 + allowed, 2000);
	printf("test_garbage: daemon fds %d -> %d, RSS %ld -> %ld KiB\n",
	       base_fds, fds_now, rss0, rss1);
	assert_int_equal(fds_now, base_fds);
	assert_true(rss1 > 0 && rss1 - rss0 < allowed);
	free(buf);
}

/* The same without randomness: exactly 64 refusals end a session, for
 * every kind of refused request. */
static void test_limit_each_kind(void **state)
{
	static const unsigned char garbage[] = { 0xff };
	unsigned char *big = calloc(1, WIRE_MAX_DATAGRAM + 10);

	(void)state;
	assert_non_null(big);
	for (int kind = 0; kind < 3; kind++) {
		struct rc *c = rc_connect(hd.sock);
		int pfd[2];

		assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
		if (kind != 1)
			rc_hello(c, 0, 0);
		for (int i = 0; i < MAX_ERRORS; i++) {
			int r;
			uint32_t want;

			switch (kind) {
			case 0: /* does not decode */
				r = rc_send_raw(c, garbage, 1, NULL, 0);
				want = SR_STATUS_MALFORMED;
				break;
			case 1: /* too large, with a descriptor */
				r = rc_send_raw(c, big, WIRE_MAX_DATAGRAM + 10, &pfd[1],
						1);
				want = SR_STATUS_TOO_LARGE;
				break;
			default: { /* a descriptor where none belongs */
				struct rc_op op;
				rc_op_nop(&op, (uint64_t)i);
				r = rc_submit_fds(c, &op, 1, &pfd[1], 1);
				want = SR_STATUS_BAD_DESCRIPTORS;
				break;
			}
			}
			assert_int_equal(r, 0);
			rc_expect_error(c, false, 0, want);
		}
		rc_expect_error_limit(c, HD_TIMEOUT_MS);
		/* Nothing any of them carried is still held. */
		close(pfd[1]);
		{
			struct pollfd p = { .fd = pfd[0], .events = POLLIN };
			char b;
			assert_int_equal(poll(&p, 1, HD_TIMEOUT_MS), 1);
			assert_int_equal(read(pfd[0], &b, 1), 0);
		}
		close(pfd[0]);
		rc_close(c);
	}
	free(big);
	hd_check_service(&hd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_each_kind),
		cmocka_unit_test(test_random_datagrams),
	};

	return HD_RUN(tests, 90);
}
