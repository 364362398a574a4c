/* SPDX-License-Identifier: MIT */
/*
 * test_hostile_rings.c - end-to-end: clients that attack protocol v2's
 * shared-memory rings (PROTOCOL.md, "Rings"), written by hand with the
 * harness's raw ring client so that every index, header and byte is the
 * test's choice.
 *
 *  - submission tails a producer could never have written (backwards,
 *    past the ring, 2^32-1, off the 8-byte grid) end the session with
 *    Error{PROTOCOL} before any record is read; a tail exactly one ring
 *    ahead is still accepted;
 *  - record headers out of bounds (over max_record, past the tail, across
 *    the end of the data, a PAD of the wrong length or past the tail) end
 *    it the same way; records of another kind, that do not decode, or of
 *    more than 256 operations are refused MALFORMED / TOO_LARGE one by
 *    one and the session goes on, until max_errors of them end it;
 *  - a thread scribbling on the submission ring and its tail while the
 *    daemon reads it (run under check-asan too: the ASan daemon reports
 *    any read outside its buffers);
 *  - a completion head that lies (ahead of the tail, far behind) or never
 *    moves: the daemon writes nothing it may not, holds the completions
 *    in bounded memory, stops taking submissions and socket requests of
 *    that session, and serves everyone else;
 *  - an arena that cannot be cut or grown, unmapped or punched by the
 *    client: the daemon's own mapping is unaffected;
 *  - doorbells rung in a storm or never: other sessions are served, the
 *    daemon goes idle afterwards, and a sleeping daemon is woken by the
 *    doorbell alone;
 *  - order: operations published in the ring, then UnregisterFd on the
 *    socket, is BUSY;
 *  - a client that does not read its socket while its records are
 *    refused: every refusal still reaches it, none is lost.
 *
 * After each attack the daemon is alive and honest sessions, old and new,
 * are served.  Must never leave a thread running after its test, and
 * never assert what the client sees in memory it damaged itself.
 */
#include "../lib/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Longest an honest round trip may take while a hostile session does
 * its worst (normally well under a millisecond; generous for ASan and a
 * shared machine). */
#define FAST_MS 1000

static uint32_t ld(const uint32_t *p)
{
	return sr_ring_load_acquire(p);
}

static uint32_t sq_head(struct rc *c)
{
	return ld(&c->ring.ctl->sq_head);
}

static uint32_t cq_tail(struct rc *c)
{
	return ld(&c->ring.ctl->cq_tail);
}

/* One NOP through the rings, answered OK within the timeout. */
static void nop_roundtrip(struct rc *c, uint64_t tag)
{
	struct op_request op;
	struct rc_cqe cqe;

	rc_req_nop(&op, tag);
	rc_ring_submit(c, &op, 1);
	rc_ring_wait_cqes(c, 1, &cqe, HD_TIMEOUT_MS);
	assert_int_equal(cqe.tag, tag);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	assert_int_equal(cqe.result, 0);
}

/* The same, timed: an honest session is not held up. */
static void fast_roundtrip(struct rc *c, uint64_t tag)
{
	uint64_t t0 = hd_now_ns(), ms;

	nop_roundtrip(c, tag);
	ms = (hd_now_ns() - t0) / 1000000;
	if (ms > FAST_MS * hd_timeout_scale())
		fail_msg("an honest round trip took %llu ms",
			 (unsigned long long)ms);
}

/* CPU time (user + system) the daemon used so far, in clock ticks. */
static unsigned long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long ut = 0, st = 0;
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	/* After the command name: state is field 3, utime 14, stime 15. */
	p = strrchr(buf, ')');
	assert_non_null(p);
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
		   &ut, &st) != 2)
		fail_msg("cannot parse %s", path);
	return ut + st;
}

/* Wait (bounded) until the daemon says it sleeps on this session. */
static void wait_flags(struct rc *c, uint32_t want, int timeout_ms)
{
	uint64_t deadline = hd_now_ns() + (uint64_t)timeout_ms * 1000000ULL;

	while ((ld(&c->ring.ctl->sq_flags) & want) != want) {
		if (hd_now_ns() > deadline)
			fail_msg("sq_flags 0x%x never showed 0x%x within %d ms",
				 ld(&c->ring.ctl->sq_flags), want, timeout_ms);
		hd_sleep_ms(1);
	}
}

/* Wait (bounded) until the daemon's sq_head reaches @want. */
static void wait_sq_head(struct rc *c, uint32_t want, int timeout_ms)
{
	uint64_t deadline = hd_now_ns() + (uint64_t)timeout_ms * 1000000ULL;

	while (sq_head(c) != want) {
		if (hd_now_ns() > deadline)
			fail_msg("sq_head %u never reached %u", sq_head(c), want);
		hd_sleep_ms(1);
	}
}

/* Wait until the daemon's sq_head stayed put for @quiet_ms; returns it. */
static uint32_t settled_sq_head(struct rc *c, int quiet_ms)
{
	uint64_t deadline = hd_now_ns() + HD_TIMEOUT_MS * 1000000ULL;
	uint64_t since = hd_now_ns();
	uint32_t last = sq_head(c);

	while (hd_now_ns() < deadline) {
		hd_sleep_ms(5);
		if (sq_head(c) != last) {
			last = sq_head(c);
			since = hd_now_ns();
		} else if (hd_now_ns() - since >= (uint64_t)quiet_ms * 1000000ULL) {
			break;
		}
	}
	return last;
}

static void expect_eperm(int r, const char *what)
{
	if (r != -1 || errno != EPERM)
		fail_msg("%s: returned %d (%s), expected EPERM", what, r,
			 r < 0 ? strerror(errno) : "success");
}

/* A daemon of its own, with @daemon_settings in its [daemon] section and
 * @policy_extra in [default]. */
static void start_own(struct hd_daemon *d, const char *daemon_settings,
		      const char *policy_extra)
{
	char conf[1024];

	snprintf(conf, sizeof(conf),
		 "[default]\nops = all\nslots = 64\nslot_size = 64K\n"
		 "arena = 16M\nfds = 16\nin_flight = 256\nsessions = 64\n%s"
		 "[daemon]\n%s", policy_extra, daemon_settings);
	hd_start_config(d, conf);
}

/* ------------------------------------------------------------------ */
/* Tails. */

enum tail_case {
	TAIL_BACKWARDS,
	TAIL_PAST_RING,
	TAIL_MAX,
	TAIL_UNALIGNED,
	TAIL_UNALIGNED_INSIDE,
};

static const char *const tail_names[] = {
	[TAIL_BACKWARDS] = "behind the head",
	[TAIL_PAST_RING] = "more than sq_bytes ahead",
	[TAIL_MAX] = "2^32-1",
	[TAIL_UNALIGNED] = "past a whole record, not a multiple of 8",
	[TAIL_UNALIGNED_INSIDE] = "inside a record, not a multiple of 8",
};

static void test_bad_tails(void **state)
{
	struct rc *honest = rc_open_rings(hd.sock, 4, 4096);

	(void)state;
	for (unsigned k = 0; k <= TAIL_UNALIGNED_INSIDE; k++) {
		struct rc *c = rc_open_rings(hd.sock, 4, 4096);
		struct op_request op;
		uint32_t head, cq_before;

		printf("# tail %s\n", tail_names[k]);
		/* Some history first, so that the head is not 0. */
		nop_roundtrip(c, 1);
		head = sq_head(c);
		assert_int_equal(head, c->ring.sq_pos);
		cq_before = cq_tail(c);
		/* A valid record waits behind every bad tail: it must not
		 * run, since the tail that would publish it is refused. */
		rc_req_nop(&op, 2);
		size_t len;
		assert_int_equal(batch_encode_ops(c->ring.enc, &op, 1,
						  c->ring.rec,
						  c->ring.max_record, &len), 0);
		rc_ring_put(c, SR_RING_REC_OPS, c->ring.rec, (uint32_t)len);
		switch ((enum tail_case)k) {
		case TAIL_BACKWARDS:
			rc_ring_set_tail(c, head - 8);
			break;
		case TAIL_PAST_RING:
			rc_ring_set_tail(c, head + c->ring.sq_bytes + 8);
			break;
		case TAIL_MAX:
			rc_ring_set_tail(c, UINT32_MAX);
			break;
		case TAIL_UNALIGNED:
			rc_ring_set_tail(c, c->ring.sq_pos + 4);
			break;
		case TAIL_UNALIGNED_INSIDE:
			rc_ring_set_tail(c, head + 12);
			break;
		default:
			fail_msg("no tail case %u", k);
		}
		rc_ring_bell(c);
		rc_ring_expect_corrupt(c, HD_TIMEOUT_MS);
		/* Refused before any record was taken: the NOP never ran,
		 * the head never moved. */
		assert_int_equal(cq_tail(c), cq_before);
		assert_int_equal(sq_head(c), head);
		rc_close(c);
		hd_assert_alive(&hd);
		fast_roundtrip(honest, 100 + k);
	}
	rc_close(honest);
	hd_check_service(&hd);
}

/* The largest tail there may be: one whole ring ahead (a PAD over all
 * of it) is taken, not refused. */
static void test_tail_one_ring_ahead(void **state)
{
	struct rc *c = rc_open_rings(hd.sock, 4, 4096);

	(void)state;
	rc_ring_put_raw(c, c->ring.sq_bytes - SR_RING_HDR, SR_RING_REC_PAD,
			NULL, 0, c->ring.sq_bytes);
	rc_ring_publish(c);
	rc_ring_bell(c);
	wait_sq_head(c, c->ring.sq_bytes, HD_TIMEOUT_MS);
	/* Still alive, still served, at the start of the data again. */
	nop_roundtrip(c, 7);
	rc_expect_quiet(c, 20);
	rc_close(c);
	hd_check_service(&hd);
}

/* ------------------------------------------------------------------ */
/* Record headers. */

static unsigned char big_zero[WIRE_MAX_DATAGRAM];

enum hdr_case {
	HDR_OVER_MAX,
	HDR_PAST_TAIL,
	HDR_ACROSS_END,
	HDR_AT_END,
	HDR_PAD_SHORT,
	HDR_PAD_LONG,
	HDR_PAD_PAST_TAIL,
};

static const char *const hdr_names[] = {
	[HDR_OVER_MAX] = "len over max_record",
	[HDR_PAST_TAIL] = "len past the published tail",
	[HDR_ACROSS_END] = "a record across the end of the data",
	[HDR_AT_END] = "a header in the last 8 bytes with a payload",
	[HDR_PAD_SHORT] = "a PAD shorter than the rest of the ring",
	[HDR_PAD_LONG] = "a PAD longer than the rest of the ring",
	[HDR_PAD_PAST_TAIL] = "a PAD of the right length past the tail",
};

static void test_bad_headers(void **state)
{
	struct rc *honest = rc_open_rings(hd.sock, 4, 4096);

	(void)state;
	for (unsigned k = 0; k <= HDR_PAD_PAST_TAIL; k++) {
		struct rc *c = rc_open_rings(hd.sock, 4, 4096);
		uint32_t size = c->ring.sq_bytes, skipped = 0;

		printf("# header: %s\n", hdr_names[k]);
		switch ((enum hdr_case)k) {
		case HDR_OVER_MAX: {
			uint32_t len = c->ring.max_record + 1;

			rc_ring_put_raw(c, len, SR_RING_REC_OPS, NULL, 0,
					sr_ring_rec_bytes(len));
			break;
		}
		case HDR_PAST_TAIL:
			rc_ring_put_raw(c, 100, SR_RING_REC_OPS, NULL, 0,
					sr_ring_rec_bytes(100) - 8);
			break;
		case HDR_ACROSS_END:
		case HDR_AT_END: {
			/* Records of an unknown kind (refused and skipped)
			 * bring the head near the end of the data. */
			uint32_t left;

			while (size - (c->ring.sq_pos & (size - 1)) >
			       sr_ring_rec_bytes(c->ring.max_record)) {
				rc_ring_put(c, 77, big_zero, c->ring.max_record);
				skipped++;
			}
			left = size - (c->ring.sq_pos & (size - 1));
			if (k == HDR_AT_END) {
				rc_ring_put(c, 77, big_zero,
					    left - 2 * SR_RING_HDR);
				skipped++;
				left = SR_RING_HDR;
			}
			/* Taken first, so that the tail below is less than
			 * a ring ahead of the head. */
			rc_ring_publish(c);
			rc_ring_bell(c);
			wait_sq_head(c, c->ring.sq_pos, HD_TIMEOUT_MS);
			for (; skipped; skipped--)
				rc_expect_error(c, false, 0,
						SR_STATUS_MALFORMED);
			/* A record one grain longer than what is left. */
			rc_ring_put_raw(c, left, 77, NULL, 0, left + 8);
			break;
		}
		case HDR_PAD_SHORT:
			rc_ring_put_raw(c, 16, SR_RING_REC_PAD, NULL, 0, 24);
			break;
		case HDR_PAD_LONG:
			nop_roundtrip(c, 1); /* not at 0: the rest is shorter */
			rc_ring_put_raw(c, size - SR_RING_HDR, SR_RING_REC_PAD,
					NULL, 0, 64);
			break;
		case HDR_PAD_PAST_TAIL:
			rc_ring_put_raw(c, size - SR_RING_HDR, SR_RING_REC_PAD,
					NULL, 0, size - 64);
			break;
		default:
			fail_msg("no header case %u", k);
		}
		rc_ring_publish(c);
		rc_ring_bell(c);
		for (uint32_t i = 0; i < skipped; i++)
			rc_expect_error(c, false, 0, SR_STATUS_MALFORMED);
		rc_ring_expect_corrupt(c, HD_TIMEOUT_MS);
		rc_close(c);
		hd_assert_alive(&hd);
		fast_roundtrip(honest, 200 + k);
	}
	rc_close(honest);
	hd_check_service(&hd);
}

/* An OpBatch of @n NOPs, packed by hand: the encoder refuses more than
 * 256. */
static size_t pack_nops(unsigned char *buf, size_t n)
{
	Saferring__OpBatch b = SAFERRING__OP_BATCH__INIT;
	uint64_t *tag = calloc(n, sizeof(*tag));
	uint32_t *opcode = calloc(n, sizeof(*opcode));
	uint32_t *present = calloc(n, sizeof(*present));
	size_t len;

	assert_true(tag && opcode && present);
	for (size_t i = 0; i < n; i++)
		tag[i] = 1000 + i;
	b.n_tag = b.n_opcode = b.n_present = n;
	b.tag = tag;
	b.opcode = opcode;
	b.present = present;
	len = saferring__op_batch__pack(&b, buf);
	free(tag);
	free(opcode);
	free(present);
	return len;
}

/* Records the daemon refuses one by one; the session goes on. */
static void test_refused_records(void **state)
{
	struct rc *c = rc_open_rings(hd.sock, 4, 4096);
	static const unsigned char garbage[] = { 0xff, 0xff, 0xff, 0xff, 0x0f,
						  0x12, 0x80 };
	static const uint32_t kinds[] = { 0, SR_RING_REC_COMPLETIONS, 4, 77,
					  UINT32_MAX };
	unsigned char *buf = malloc(WIRE_MAX_DATAGRAM);
	struct rc_cqe *cqes = calloc(256, sizeof(*cqes));
	size_t len;
	uint64_t tag = 1;

	(void)state;
	assert_true(buf && cqes);
	/* Another kind: MALFORMED, skipped. */
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		rc_ring_put(c, kinds[i], garbage, sizeof(garbage));
		rc_ring_publish(c);
		rc_expect_error(c, false, 0, SR_STATUS_MALFORMED);
		nop_roundtrip(c, tag++);
	}
	/* Does not decode: MALFORMED. */
	rc_ring_put(c, SR_RING_REC_OPS, garbage, sizeof(garbage));
	rc_ring_publish(c);
	rc_expect_error(c, false, 0, SR_STATUS_MALFORMED);
	nop_roundtrip(c, tag++);
	/* Decodes, but breaks the column layout (two opcodes, one tag). */
	{
		Saferring__OpBatch b = SAFERRING__OP_BATCH__INIT;
		uint64_t t[1] = { 9 };
		uint32_t op[2] = { 0, 0 }, pr[1] = { 0 };

		b.n_tag = 1;
		b.tag = t;
		b.n_opcode = 2;
		b.opcode = op;
		b.n_present = 1;
		b.present = pr;
		len = saferring__op_batch__pack(&b, buf);
		rc_ring_put(c, SR_RING_REC_OPS, buf, (uint32_t)len);
		rc_ring_publish(c);
		rc_expect_error(c, false, 0, SR_STATUS_MALFORMED);
		nop_roundtrip(c, tag++);
	}
	/* 257 operations: TOO_LARGE, and none of them runs. */
	len = pack_nops(buf, BATCH_MAX_OPS + 1);
	rc_ring_put(c, SR_RING_REC_OPS, buf, (uint32_t)len);
	rc_ring_publish(c);
	rc_expect_error(c, false, 0, SR_STATUS_TOO_LARGE);
	nop_roundtrip(c, tag++);
	/* 256 are fine: every one answered once. */
	len = pack_nops(buf, BATCH_MAX_OPS);
	rc_ring_put(c, SR_RING_REC_OPS, buf, (uint32_t)len);
	rc_ring_publish(c);
	rc_ring_wait_cqes(c, BATCH_MAX_OPS, cqes, HD_TIMEOUT_MS);
	for (size_t i = 0; i < BATCH_MAX_OPS; i++) {
		const struct rc_cqe *e = rc_find_cqe(cqes, BATCH_MAX_OPS, 1000 + i);

		assert_non_null(e);
		assert_int_equal(e->status, SR_STATUS_OK);
	}
	rc_expect_quiet(c, 20);
	rc_close(c);
	free(buf);
	free(cqes);
	hd_check_service(&hd);
}

/* max_errors refused records end the session as on the socket, and
 * nothing published after the last of them runs. */
static void test_records_max_errors(void **state)
{
	struct rc *c = rc_open_rings(hd.sock, 4, 4096);
	struct op_request op;
	size_t len;

	(void)state;
	assert_true(c->max_errors > 0 && c->max_errors < 1000);
	for (uint32_t i = 0; i < c->max_errors; i++)
		rc_ring_put(c, 77, NULL, 0);
	rc_req_nop(&op, 5);
	assert_int_equal(batch_encode_ops(c->ring.enc, &op, 1, c->ring.rec,
					  c->ring.max_record, &len), 0);
	rc_ring_put(c, SR_RING_REC_OPS, c->ring.rec, (uint32_t)len);
	rc_ring_publish(c);
	rc_ring_bell(c);
	for (uint32_t i = 0; i < c->max_errors; i++)
		rc_expect_error(c, false, 0, SR_STATUS_MALFORMED);
	rc_expect_error_limit(c, HD_TIMEOUT_MS);
	assert_int_equal(cq_tail(c), 0);
	rc_close(c);
	hd_check_service(&hd);
}

/* ------------------------------------------------------------------ */
/* A thread scribbling on the submission ring while the daemon reads. */

struct flipper {
	struct rc *c;
	volatile int stop;
	uint64_t x;
	unsigned long flips;
	pthread_t thread;
};

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* No cmocka calls here: this runs beside the test's own thread. */
static void *flip_loop(void *arg)
{
	struct flipper *f = arg;
	struct rc_rings *g = &f->c->ring;
	uint32_t mask = g->sq_bytes - 1;
	static const unsigned char nop_batch[] = {
		/* OpBatch{tag: [1], opcode: [0], present: [0]}, packed */
		0x0a, 0x01, 0x01, 0x12, 0x01, 0x00, 0x1a, 0x01, 0x00,
	};

	while (!__atomic_load_n(&f->stop, __ATOMIC_RELAXED)) {
		for (int i = 0; i < 64; i++) {
			uint64_t r = rnd(&f->x);
			uint32_t head = sr_ring_load_acquire(&g->ctl->sq_head);
			uint32_t off = head & mask, tail;
			struct sr_ring_rec hdr;

			switch (r % 10) {
			case 0:
			case 1:
			case 2:
			case 3:
				g->sq[(r >> 8) & mask] = (unsigned char)(r >> 40);
				continue;
			case 4:
			case 5:
				tail = head + (uint32_t)((r >> 8) %
							 (g->sq_bytes / 8 + 2)) * 8;
				break;
			case 6:
				tail = (uint32_t)(r >> 16);
				break;
			case 7:
			case 8:
				hdr.len = (uint32_t)(r >> 8) % 600;
				if (r & (1 << 20))
					hdr.len = (uint32_t)(r >> 24);
				hdr.kind = (uint32_t)(r >> 4) % 5;
				if (g->sq_bytes - off < sizeof(hdr))
					continue;
				memcpy(g->sq + off, &hdr, sizeof(hdr));
				tail = head + sr_ring_rec_bytes(hdr.len & 0xffff);
				break;
			default:
				if (g->sq_bytes - off < 8 + sizeof(nop_batch))
					continue;
				hdr.len = sizeof(nop_batch);
				hdr.kind = SR_RING_REC_OPS;
				memcpy(g->sq + off, &hdr, sizeof(hdr));
				memcpy(g->sq + off + 8, nop_batch, sizeof(nop_batch));
				tail = head + sr_ring_rec_bytes(hdr.len);
				break;
			}
			sr_ring_store_release(&g->ctl->sq_tail, tail);
			f->flips++;
		}
		uint64_t one = 1;
		if (write(g->sq_efd, &one, sizeof(one)) < 0) {
			/* EAGAIN: rung already */
		}
		usleep(20);
	}
	return NULL;
}

static void test_scribbler(void **state)
{
	struct rc *honest = rc_open_rings(hd.sock, 4, 4096);
	uint64_t end = hd_now_ns() + 1500ULL * 1000000ULL;
	long rss0 = hd_rss_kib(hd.pid), rss1;
	unsigned sessions = 0, corrupt = 0, refused = 0, limit = 0, alive = 0;
	unsigned long flips = 0;
	uint64_t tag = 1;

	(void)state;
	while (hd_now_ns() < end) {
		struct flipper f = { .x = 0x9e3779b97f4a7c15ULL + sessions };
		uint64_t until = hd_now_ns() + 200ULL * 1000000ULL;
		bool eof = false;

		f.c = rc_open_rings(hd.sock, 4, 4096);
		sessions++;
		assert_int_equal(pthread_create(&f.thread, NULL, flip_loop, &f), 0);
		while (!eof && hd_now_ns() < until) {
			Saferring__Reply *r;
			int n = rc_recv(f.c, 20, &r, NULL);

			if (n == 0) {
				eof = true;
			} else if (n == 1) {
				if (r->body_case != SAFERRING__REPLY__BODY_ERROR)
					fail_msg("scribbled session got %s",
						 rc_body_name(r));
				switch (r->error->status) {
				case SR_STATUS_PROTOCOL:
					corrupt++;
					break;
				case SR_STATUS_MALFORMED:
				case SR_STATUS_TOO_LARGE:
					refused++;
					break;
				case SR_STATUS_QUOTA:
					limit++;
					break;
				default:
					fail_msg("scribbled session got Error{%s}",
						 sr_strstatus(r->error->status));
				}
			} else if (n != -ETIMEDOUT) {
				fail_msg("receive: %s", strerror(-n));
			}
			fast_roundtrip(honest, tag++);
		}
		__atomic_store_n(&f.stop, 1, __ATOMIC_RELAXED);
		pthread_join(f.thread, NULL);
		flips += f.flips;
		alive += !eof;
		/* Whatever the daemon wrote into the completion ring meanwhile
		 * is well formed (rc_ring_reap checks every record). */
		rc_ring_reap(f.c);
		rc_close(f.c);
		hd_assert_alive(&hd);
	}
	printf("# %u scribbled sessions (%lu scribbles): %u ended corrupt, "
	       "%u by max_errors, %u alive at the end; %u records refused\n",
	       sessions, flips, corrupt, limit, alive, refused);
	/* The scribbles reached the daemon's checks. */
	assert_true(corrupt > 0);
	rss1 = hd_rss_kib(hd.pid);
	if (rss1 > rss0 + hd_rss_allowance_kib(hd.pid, 32 * 1024))
		fail_msg("daemon RSS grew from %ld to %ld KiB", rss0, rss1);
	rc_close(honest);
	hd_check_service(&hd);
}

/* ------------------------------------------------------------------ */
/* The completion ring's head. */

static void test_cq_head_lies(void **state)
{
	struct rc *honest = rc_open_rings(hd.sock, 4, 4096);
	struct rc *c = rc_open_rings(hd.sock, 4, 4096);
	uint64_t tag = 10;

	(void)state;
	nop_roundtrip(c, 1);
	for (unsigned k = 0; k < 4; k++) {
		uint32_t t = cq_tail(c), size = c->ring.cq_bytes;
		const uint32_t lies[] = { t + 4096, t + 8, t - 2 * size,
					  t - size - 8 };
		struct op_request ops[2];
		struct rc_cqe cqes[2];

		assert_int_equal(c->ring.cq_pos, t);
		c->ring.hold_cq = true;
		sr_ring_store_release(&c->ring.ctl->cq_head, lies[k]);
		rc_req_nop(&ops[0], tag);
		rc_req_nop(&ops[1], tag + 1);
		rc_ring_submit(c, ops, 2);
		rc_ring_bell(c);
		wait_sq_head(c, c->ring.sq_pos, HD_TIMEOUT_MS);
		/* The daemon sleeps holding them, asking for room. */
		wait_flags(c, SR_RING_SQ_NEED_WAKEUP | SR_RING_SQ_CQ_WAIT,
			   HD_TIMEOUT_MS);
		/* A lying head reads as a full ring: nothing was written. */
		assert_int_equal(cq_tail(c), t);
		fast_roundtrip(honest, 100 + k);
		/* The truth, and the doorbell the flags asked for. */
		c->ring.hold_cq = false;
		sr_ring_store_release(&c->ring.ctl->cq_head, t);
		sr_ring_fence();
		rc_ring_bell(c);
		rc_ring_wait_cqes(c, 2, cqes, HD_TIMEOUT_MS);
		assert_true(rc_find_cqe(cqes, 2, tag) && rc_find_cqe(cqes, 2, tag + 1));
		tag += 2;
	}
	rc_expect_quiet(c, 20);
	rc_close(c);
	rc_close(honest);
	hd_check_service(&hd);
}

/* A client that never consumes: the completion ring fills, the rest
 * waits in bounded daemon memory, the daemon stops taking its records
 * and its socket requests, and serves others; once it consumes, every
 * operation is answered exactly once. */
static void test_never_consumes(void **state)
{
	struct rc *honest = rc_open_rings(hd.sock, 4, 4096);
	struct rc *c = rc_open_rings(hd.sock, 4, 4096);
	static struct op_request ops[BATCH_MAX_OPS];
	unsigned char *buf = malloc(WIRE_MAX_DATAGRAM);
	uint64_t deadline = hd_now_ns() + 10ULL * HD_TIMEOUT_MS * 1000000ULL;
	uint64_t published = 0, got = 0;
	long rss0 = hd_rss_kib(hd.pid), rss1;
	uint32_t head, reg_seq;
	uint8_t *seen;
	int memfd;

	(void)state;
	assert_non_null(buf);
	c->ring.hold_cq = true;
	/* Flood NOP batches until the submission ring is full and the
	 * daemon sleeps holding completions (its flags say so): it can take
	 * no more. */
	for (bool rang = false;;) {
		const uint32_t both = SR_RING_SQ_NEED_WAKEUP | SR_RING_SQ_CQ_WAIT;
		size_t len;

		for (size_t i = 0; i < BATCH_MAX_OPS; i++)
			rc_req_nop(&ops[i], published + i);
		assert_int_equal(batch_encode_ops(c->ring.enc, ops, BATCH_MAX_OPS,
						  buf, WIRE_MAX_DATAGRAM, &len), 0);
		if (rc_ring_room(c, (uint32_t)len)) {
			rc_ring_put(c, SR_RING_REC_OPS, buf, (uint32_t)len);
			rc_ring_publish(c);
			published += BATCH_MAX_OPS;
			rang = false;
			continue;
		}
		if (!rang)
			rc_ring_bell(c);
		rang = true;
		if ((ld(&c->ring.ctl->sq_flags) & both) == both) {
			head = settled_sq_head(c, 50);
			if (!rc_ring_room(c, (uint32_t)len) &&
			    (ld(&c->ring.ctl->sq_flags) & both) == both)
				break;
		}
		if (hd_now_ns() > deadline)
			fail_msg("the daemon never stopped taking records (head %u "
				 "of %u, flags 0x%x)", sq_head(c), c->ring.sq_pos,
				 ld(&c->ring.ctl->sq_flags));
		hd_sleep_ms(2);
	}
	printf("# %llu operations published; the daemon took records up to "
	       "%u of %u, wrote %u bytes of completions\n",
	       (unsigned long long)published, head, c->ring.sq_pos, cq_tail(c));
	/* Stopped taking: records wait, the completion ring holds no more
	 * than fits (its head is still 0). */
	assert_true(head != c->ring.sq_pos);
	assert_true(cq_tail(c) <= c->ring.cq_bytes);
	/* Nor does it read this session's socket meanwhile (the records
	 * before the request come first). */
	memfd = memfd_create("never-consumes", MFD_CLOEXEC);
	assert_true(memfd >= 0);
	{
		Saferring__Request req = SAFERRING__REQUEST__INIT;
		Saferring__RegisterFd body = SAFERRING__REGISTER_FD__INIT;

		req.has_seq = true;
		req.seq = reg_seq = rc_next_seq(c);
		req.body_case = SAFERRING__REQUEST__BODY_REGISTER_FD;
		req.register_fd = &body;
		assert_int_equal(rc_send_request(c, &req, &memfd, 1), 0);
	}
	rc_expect_quiet(c, 200);
	assert_int_equal(sq_head(c), head);
	/* Everyone else is served. */
	fast_roundtrip(honest, 1);
	hd_honest_roundtrip(&hd);
	rss1 = hd_rss_kib(hd.pid);
	if (rss1 > rss0 + hd_rss_allowance_kib(hd.pid, 16 * 1024))
		fail_msg("daemon RSS grew from %ld to %ld KiB", rss0, rss1);

	/* Now consume: every operation answered once, then the reply to
	 * the request that waited. */
	seen = calloc(published, 1);
	assert_non_null(seen);
	c->ring.hold_cq = false;
	bool registered = false;
	while (got < published || !registered) {
		struct pollfd p[2] = {
			{ .fd = c->ring.cq_efd, .events = POLLIN },
			{ .fd = c->sock, .events = POLLIN },
		};
		Saferring__Reply *r;

		if (hd_now_ns() > deadline)
			fail_msg("%llu of %llu completions, registered %d",
				 (unsigned long long)got,
				 (unsigned long long)published, registered);
		sr_ring_store(&c->ring.ctl->cq_flags, SR_RING_CQ_NEED_WAKEUP);
		sr_ring_fence();
		rc_ring_reap(c);
		for (size_t i = 0; i < c->cq_len; i++) {
			uint64_t t = c->cq[i].tag;

			if (t >= published || seen[t])
				fail_msg("completion tag %llu unexpected or twice",
					 (unsigned long long)t);
			seen[t] = 1;
			assert_int_equal(c->cq[i].status, SR_STATUS_OK);
			got++;
		}
		c->cq_len = 0;
		poll(p, 2, 10);
		if (p[1].revents & POLLIN) {
			int n = rc_recv(c, 0, &r, NULL);

			if (n != 1 || r->body_case !=
				      SAFERRING__REPLY__BODY_FD_REGISTERED ||
			    r->seq != reg_seq)
				fail_msg("expected FdRegistered, got %d %s", n,
					 n == 1 ? rc_body_name(r) : "");
			/* Only once every record before it was taken. */
			assert_int_equal(sq_head(c), c->ring.sq_pos);
			registered = true;
		}
	}
	close(memfd);
	free(seen);
	free(buf);
	nop_roundtrip(c, published);
	rc_close(c);
	rc_close(honest);
	hd_check_service(&hd);
}

/* ------------------------------------------------------------------ */
/* The memfd. */

static void map_again(struct rc *c)
{
	struct rc_rings *g = &c->ring;

	g->map = mmap(NULL, g->map_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      g->memfd, 0);
	assert_true(g->map != MAP_FAILED);
	g->ctl = (struct sr_ring_ctl *)(g->map + g->offset);
	g->sq = g->map + g->offset + sizeof(struct sr_ring_ctl);
	g->cq = g->sq + g->sq_bytes;
	c->arena = g->map;
}

static void test_memfd(void **state)
{
	struct rc *c = rc_open_rings(hd.sock, 4, 4096);
	struct rc_rings *g = &c->ring;
	off_t size = (off_t)g->map_size;
	struct rc_op op;
	struct rc_cqe cqe;

	(void)state;
	expect_eperm(ftruncate(g->memfd, 0), "ftruncate to 0");
	expect_eperm(ftruncate(g->memfd, (off_t)g->offset),
		     "ftruncate to the slots (no rings)");
	expect_eperm(ftruncate(g->memfd, size - 4096), "ftruncate into the cq");
	expect_eperm(ftruncate(g->memfd, size + 4096), "ftruncate larger");
	expect_eperm(fallocate(g->memfd, 0, size, 4096), "fallocate past the end");
	expect_eperm(fcntl(g->memfd, F_ADD_SEALS, F_SEAL_WRITE), "seal WRITE");
	nop_roundtrip(c, 1);

	/* Our mapping gone: the daemon has its own.  A Submit on the
	 * socket still works, its completion goes to the ring. */
	assert_int_equal(munmap(g->map, g->map_size), 0);
	g->map = NULL;
	c->arena = NULL;
	rc_op_nop(&op, 2);
	rc_submit(c, &op, 1);
	hd_honest_roundtrip(&hd);
	map_again(c);
	rc_ring_wait_cqes(c, 1, &cqe, HD_TIMEOUT_MS);
	assert_int_equal(cqe.tag, 2);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	nop_roundtrip(c, 3);

	/* What the seals allow: holes.  The control block reads as zeros,
	 * a tail behind the daemon's head: corrupt. */
	if (fallocate(g->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)g->offset, size - (off_t)g->offset) < 0)
		fail_msg("punching the rings: %s", strerror(errno));
	assert_int_equal(ld(&g->ctl->sq_tail), 0);
	rc_ring_bell(c);
	rc_ring_expect_corrupt(c, HD_TIMEOUT_MS);
	rc_close(c);
	hd_check_service(&hd);
}

/* ------------------------------------------------------------------ */
/* Doorbells. */

struct storm {
	int efd;
	volatile int stop;
	unsigned long rings;
	pthread_t thread;
};

static void *storm_loop(void *arg)
{
	struct storm *s = arg;

	while (!__atomic_load_n(&s->stop, __ATOMIC_RELAXED)) {
		/* Now and then the largest count there is: the counter
		 * saturates, the writes after it fail, nothing breaks. */
		uint64_t v = s->rings % 4096 == 4095 ? UINT64_MAX - 1 : 1;

		if (write(s->efd, &v, sizeof(v)) < 0) {
			/* EAGAIN: saturated until the daemon reads it */
		}
		s->rings++;
	}
	return NULL;
}

static void test_doorbell_storm(void **state)
{
	struct rc *honest = rc_open_rings(hd.sock, 4, 4096);
	struct rc *c = rc_open_rings(hd.sock, 4, 4096);
	struct storm s = { .efd = c->ring.sq_efd };
	long hz = sysconf(_SC_CLK_TCK);
	unsigned long t0, t1, rounds = 0;
	uint64_t end;

	(void)state;
	assert_true(hz > 0);
	assert_int_equal(pthread_create(&s.thread, NULL, storm_loop, &s), 0);
	end = hd_now_ns() + 1000ULL * 1000000ULL;
	while (hd_now_ns() < end) {
		fast_roundtrip(honest, ++rounds);
		if (rounds % 50 == 0)
			hd_honest_roundtrip(&hd);
	}
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELAXED);
	pthread_join(s.thread, NULL);
	printf("# %lu doorbells rung, %lu honest round trips meanwhile\n",
	       s.rings, rounds);
	/* The storming session is still served. */
	nop_roundtrip(c, 1);
	/* Once it stops, the daemon goes idle: an idle daemon sleeps. */
	hd_sleep_ms(100);
	t0 = cpu_ticks(hd.pid);
	hd_sleep_ms(500);
	t1 = cpu_ticks(hd.pid);
	printf("# daemon CPU after the storm: %lu ticks in 500 ms\n", t1 - t0);
	if ((t1 - t0) * 1000 / (unsigned long)hz > 100)
		fail_msg("the daemon used %lu ms of CPU in 500 ms of quiet",
			 (t1 - t0) * 1000 / (unsigned long)hz);
	rc_close(c);
	rc_close(honest);
	hd_check_service(&hd);
}

/* A client that never rings: after the spin window, a record published
 * without the doorbell waits; the doorbell alone wakes the daemon. */
static void never_rings(struct hd_daemon *d)
{
	struct rc *honest = rc_open_rings(d->sock, 4, 4096);
	struct rc *c = rc_open_rings(d->sock, 4, 4096);
	long hz = sysconf(_SC_CLK_TCK);
	unsigned long t0, t1;
	struct op_request op;
	struct rc_cqe cqe;
	uint32_t head;
	size_t len;

	nop_roundtrip(c, 1);
	nop_roundtrip(honest, 1);
	wait_flags(c, SR_RING_SQ_NEED_WAKEUP, HD_TIMEOUT_MS);
	wait_flags(honest, SR_RING_SQ_NEED_WAKEUP, HD_TIMEOUT_MS);
	head = sq_head(c);
	rc_req_nop(&op, 2);
	assert_int_equal(batch_encode_ops(c->ring.enc, &op, 1, c->ring.rec,
					  c->ring.max_record, &len), 0);
	rc_ring_put(c, SR_RING_REC_OPS, c->ring.rec, (uint32_t)len);
	rc_ring_publish_quiet(c);
	t0 = cpu_ticks(d->pid);
	hd_sleep_ms(200);
	t1 = cpu_ticks(d->pid);
	/* Asleep: it neither took the record nor spent CPU looking. */
	assert_int_equal(sq_head(c), head);
	if ((t1 - t0) * 1000 / (unsigned long)hz > 60)
		fail_msg("a sleeping daemon used %lu ms of CPU in 200 ms",
			 (t1 - t0) * 1000 / (unsigned long)hz);
	/* An honest session of the same daemon is served meanwhile, and
	 * its work does not pick up the silent record either. */
	fast_roundtrip(honest, 2);
	assert_int_equal(sq_head(c), head);
	/* The doorbell, the flag asked for it: served. */
	assert_true(ld(&c->ring.ctl->sq_flags) & SR_RING_SQ_NEED_WAKEUP);
	rc_ring_bell(c);
	rc_ring_wait_cqes(c, 1, &cqe, HD_TIMEOUT_MS);
	assert_int_equal(cqe.tag, 2);
	/* And the ordinary way: publish, see the flag, ring. */
	wait_flags(c, SR_RING_SQ_NEED_WAKEUP, HD_TIMEOUT_MS);
	nop_roundtrip(c, 3);
	rc_close(c);
	rc_close(honest);
}

static void test_never_rings(void **state)
{
	struct hd_daemon sleepy;

	(void)state;
	never_rings(&hd);
	/* spin_us = 0: it never polls, the doorbell is the only way. */
	start_own(&sleepy, "spin_us = 0\n", "");
	never_rings(&sleepy);
	assert_int_equal(hd_stop(&sleepy), 0);
	hd_check_service(&hd);
}

/* ------------------------------------------------------------------ */
/* Order across the ring and the socket. */

static void test_order_unregister_busy(void **state)
{
	struct rc *c = rc_open_rings(hd.sock, 4, 4096);
	int pfd[2];

	(void)state;
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	for (unsigned k = 0; k < 2; k++) {
		struct rc_handle h = rc_register_fd(c, pfd[0]);
		struct op_request op;
		struct rc_cqe cqe;
		size_t len;

		/* A read that waits for the pipe, published in the ring
		 * (the first time without the doorbell: the socket request
		 * alone must make the daemon look at the ring first). */
		rc_req_rw(&op, 50 + k, SR_OP_READ, h, k, c->gen[k], 0, 8, 0);
		assert_int_equal(batch_encode_ops(c->ring.enc, &op, 1,
						  c->ring.rec,
						  c->ring.max_record, &len), 0);
		rc_ring_put(c, SR_RING_REC_OPS, c->ring.rec, (uint32_t)len);
		if (k == 0)
			rc_ring_publish_quiet(c);
		else
			rc_ring_publish(c);
		assert_int_equal(rc_unregister(c, h), SR_STATUS_BUSY);
		assert_int_equal(write(pfd[1], "ringpipe", 8), 8);
		rc_ring_wait_cqes(c, 1, &cqe, HD_TIMEOUT_MS);
		assert_int_equal(cqe.tag, 50 + k);
		assert_int_equal(cqe.status, SR_STATUS_OK);
		assert_int_equal(cqe.result, 8);
		assert_true(cqe.has_slot);
		assert_memory_equal(rc_slot(c, k), "ringpipe", 8);
		assert_int_equal(rc_unregister(c, h), SR_STATUS_OK);
	}
	close(pfd[0]);
	close(pfd[1]);
	rc_close(c);
	hd_check_service(&hd);
}

/* ------------------------------------------------------------------ */
/* Refusals while the client does not read its socket. */

static void test_refusals_unread(void **state)
{
	struct hd_daemon lenient;
	const uint32_t n = 3000;
	struct rc *c;
	uint32_t got = 0;
	uint64_t deadline;

	(void)state;
	start_own(&lenient, "", "max_errors = 100000\n");
	c = rc_open_rings(lenient.sock, 4, 4096);
	/* More refused records than the socket holds replies. */
	for (uint32_t i = 0; i < n; i++)
		rc_ring_put(c, 77, NULL, 0);
	rc_ring_publish(c);
	rc_ring_bell(c);
	settled_sq_head(c, 200);
	/* Stopped at a refusal the socket had no room for (the rest
	 * waits), and asleep meanwhile, not polling the ring. */
	{
		long hz = sysconf(_SC_CLK_TCK);
		unsigned long t0 = cpu_ticks(lenient.pid), t1;

		assert_true(sq_head(c) != c->ring.sq_pos);
		hd_sleep_ms(300);
		t1 = cpu_ticks(lenient.pid);
		if ((t1 - t0) * 1000 / (unsigned long)hz > 90)
			fail_msg("a daemon waiting for its client to read used %lu "
				 "ms of CPU in 300 ms",
				 (t1 - t0) * 1000 / (unsigned long)hz);
	}
	/* Every one of them is answered, in its turn, once read. */
	deadline = hd_now_ns() + HD_TIMEOUT_MS * 1000000ULL;
	while (got < n) {
		Saferring__Reply *r;
		int k = rc_recv(c, 50, &r, NULL);

		if (k == 1) {
			if (r->body_case != SAFERRING__REPLY__BODY_ERROR ||
			    r->error->status != SR_STATUS_MALFORMED)
				fail_msg("expected Error{MALFORMED} %u, got %s", got,
					 rc_body_name(r));
			got++;
			continue;
		}
		if (k == 0)
			fail_msg("end of file after %u of %u refusals", got, n);
		if (hd_now_ns() > deadline)
			fail_msg("%u of %u refusals arrived (sq_head %u of %u)",
				 got, n, sq_head(c), c->ring.sq_pos);
	}
	/* The last pass gives the ring back once it is done. */
	wait_sq_head(c, c->ring.sq_pos, HD_TIMEOUT_MS);
	nop_roundtrip(c, 1);
	rc_expect_quiet(c, 20);
	rc_close(c);
	assert_int_equal(hd_stop(&lenient), 0);
	hd_check_service(&hd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_tails),
		cmocka_unit_test(test_tail_one_ring_ahead),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_refused_records),
		cmocka_unit_test(test_records_max_errors),
		cmocka_unit_test(test_scribbler),
		cmocka_unit_test(test_cq_head_lies),
		cmocka_unit_test(test_never_consumes),
		cmocka_unit_test(test_memfd),
		cmocka_unit_test(test_doorbell_storm),
		cmocka_unit_test(test_never_rings),
		cmocka_unit_test(test_order_unregister_busy),
		cmocka_unit_test(test_refusals_unread),
	};

	return HD_RUN(tests, 120);
}
