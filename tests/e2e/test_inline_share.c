/* SPDX-License-Identifier: MIT */
/*
 * test_inline_share.c - end-to-end: how libsaferring shares reads and
 * writes of cached regular files between the daemon and its own inline
 * attempt (client/inline.c), told by the daemon's own count of the
 * operations it completed (StatsRequest, per session).
 *
 *  - A batch of 64 cached reads at once: the daemon does at least its
 *    three quarters, the client the rest (some of them), and every byte
 *    read is right, whoever read it.
 *  - A lone read with nothing in flight never reaches the daemon.
 *  - Members of a chain always go to the daemon, whatever the share.
 *  - SR_PARAMS_NO_INLINE sends everything to the daemon.
 *  - Writes are shared too where the file system takes RWF_NOWAIT
 *    buffered writes (else they all go to the daemon), and what they
 *    wrote reads back; a file that refuses such writes still has its
 *    reads shared.
 */
#include "ops_util.h"

#include <sys/uio.h>

#define SLOT_SIZE 4096
#define DEPTH 64U

/* Operations the daemon completed for this process's sessions. */
static uint64_t daemon_ops_done(void)
{
	struct rc *c = rc_connect(hd.sock);
	const Saferring__Stats *st = rc_stats(c, hd_timeout_ms());
	uint64_t done = 0;

	for (size_t i = 0; i < st->n_session; i++)
		if (st->session[i]->pid == getpid())
			done += st->session[i]->ops_done;
	rc_close(c);
	return done;
}

/* The daemon did between @least and @most of the @what since @before. */
static void expect_daemon_did(uint64_t before, uint64_t least,
			      uint64_t most, const char *what)
{
	uint64_t did = daemon_ops_done() - before;

	if (did < least || did > most)
		fail_msg("the daemon did %llu of %u %s; want %llu to %llu",
			 (unsigned long long)did, DEPTH, what,
			 (unsigned long long)least, (unsigned long long)most);
}

/* A file of @blocks 4 KiB blocks of pattern, read once so that the page
 * cache holds it; skips the test where RWF_NOWAIT cannot be asked. */
static int cached_file(const char *name, unsigned blocks)
{
	int fd = hd_make_file(&hd, name, (size_t)blocks * SLOT_SIZE, 0x5a);
	static char buf[SLOT_SIZE];
	struct iovec v = { buf, sizeof(buf) };

	for (unsigned i = 0; i < blocks; i++)
		assert_int_equal(pread(fd, buf, sizeof(buf),
				       (off_t)i * SLOT_SIZE), SLOT_SIZE);
	if (preadv2(fd, &v, 1, 0, RWF_NOWAIT) < 0) {
		if (errno == EOPNOTSUPP)
			skip(); /* cmocka says which test */
		fail_msg("preadv2(RWF_NOWAIT) of a cached file: %s",
			 strerror(errno));
	}
	return fd;
}

static struct sr_client *session(uint32_t flags)
{
	struct sr_params p = {
		.flags = flags, .slot_count = DEPTH, .slot_size = SLOT_SIZE,
	};

	return ou_connect(&p);
}

/* Prepare reads of blocks [0, n) into slots [0, n), user_data the block;
 * with @chained, in chains of two. */
static void prep_reads(struct sr_client *c, sr_handle_t h,
		       const sr_slot_t *slots, unsigned n, bool chained)
{
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(sr_prep_read(c, i, h, slots[i], 0, SLOT_SIZE,
					      (uint64_t)i * SLOT_SIZE), 0);
		if (chained && i % 2 == 0)
			assert_int_equal(sr_link_last(c, SR_LINK), 0);
	}
}

/* Submit what is prepared, wait for @n completions, check each read a
 * whole block (the user_data) of pattern @seed into its slot. */
static void run_reads(struct sr_client *c, const sr_slot_t *slots,
		      unsigned n, uint32_t seed)
{
	struct sr_cqe cqe[DEPTH];

	ou_submit(c, (int)n);
	ou_wait(c, cqe, n);
	for (unsigned i = 0; i < n; i++) {
		unsigned b = (unsigned)cqe[i].user_data;

		ou_ok(&cqe[i], SLOT_SIZE);
		assert_true(hd_pattern_ok(sr_slot_data(c, slots[b]),
					  SLOT_SIZE, (uint64_t)b * SLOT_SIZE,
					  seed));
	}
}

static void acquire_all(struct sr_client *c, sr_slot_t *slots, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		slots[i] = ou_acquire(c);
		memset(sr_slot_data(c, slots[i]), 0, SLOT_SIZE);
	}
}

static void test_depth_is_shared(void **state)
{
	int fd = cached_file("share.dat", DEPTH);
	struct sr_client *c = session(0);
	sr_handle_t h = sr_register_fd(c, fd);
	sr_slot_t slots[DEPTH];
	uint64_t before;

	(void)state;
	assert_true(sr_handle_index(h) >= 0);
	acquire_all(c, slots, DEPTH);
	before = daemon_ops_done();
	prep_reads(c, h, slots, DEPTH, false);
	run_reads(c, slots, DEPTH, 0x5a);
	/* Nothing was in flight: the daemon's share is 3/4 of 64. */
	expect_daemon_did(before, DEPTH * 3 / 4, DEPTH - 1, "reads");
	sr_close(c);
	close(fd);
	hd_check_service(&hd);
}

static void test_lone_read_stays_here(void **state)
{
	int fd = cached_file("lone.dat", 4);
	struct sr_client *c = session(0);
	sr_handle_t h = sr_register_fd(c, fd);
	sr_slot_t slots[4];
	uint64_t before;

	(void)state;
	assert_true(sr_handle_index(h) >= 0);
	acquire_all(c, slots, 4);
	before = daemon_ops_done();
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(sr_prep_read(c, i, h, slots[i], 0, SLOT_SIZE,
					      (uint64_t)i * SLOT_SIZE), 0);
		run_reads(c, slots, 1, 0x5a);
	}
	expect_daemon_did(before, 0, 0, "lone reads");
	sr_close(c);
	close(fd);
	hd_check_service(&hd);
}

static void test_chains_go_to_the_daemon(void **state)
{
	int fd = cached_file("chain.dat", DEPTH);
	struct sr_client *c = session(0);
	sr_handle_t h = sr_register_fd(c, fd);
	sr_slot_t slots[DEPTH];
	uint64_t before;

	(void)state;
	assert_true(sr_handle_index(h) >= 0);
	acquire_all(c, slots, DEPTH);
	before = daemon_ops_done();
	/* 32 chains of two: the second of each does not link itself. */
	prep_reads(c, h, slots, DEPTH, true);
	run_reads(c, slots, DEPTH, 0x5a);
	expect_daemon_did(before, DEPTH, DEPTH, "chained reads");
	sr_close(c);
	close(fd);
	hd_check_service(&hd);
}

static void test_no_inline_flag(void **state)
{
	int fd = cached_file("noinline.dat", DEPTH);
	struct sr_client *c = session(SR_PARAMS_NO_INLINE);
	sr_handle_t h = sr_register_fd(c, fd);
	sr_slot_t slots[DEPTH];
	uint64_t before;

	(void)state;
	assert_true(sr_handle_index(h) >= 0);
	acquire_all(c, slots, DEPTH);
	before = daemon_ops_done();
	prep_reads(c, h, slots, 1, false);
	run_reads(c, slots, 1, 0x5a);
	prep_reads(c, h, slots, DEPTH, false);
	run_reads(c, slots, DEPTH, 0x5a);
	expect_daemon_did(before, DEPTH + 1, DEPTH + 1, "reads (and a lone one)");
	sr_close(c);
	close(fd);
	hd_check_service(&hd);
}

static void test_writes_are_shared(void **state)
{
	int fd = cached_file("writes.dat", DEPTH);
	struct sr_client *c = session(0);
	sr_handle_t h = sr_register_fd(c, fd);
	sr_slot_t slots[DEPTH];
	struct sr_cqe cqe[DEPTH];
	static char back[DEPTH * SLOT_SIZE];
	struct iovec v = { back, SLOT_SIZE };
	uint64_t before, least = DEPTH * 3 / 4, most = DEPTH - 1;

	(void)state;
	assert_true(sr_handle_index(h) >= 0);
	/* ext4 answers EOPNOTSUPP to such writes on many kernels (this
	 * one too), others EAGAIN: then the daemon writes everything. */
	if (pwritev2(fd, &v, 1, 0, RWF_NOWAIT) < 0) {
		assert_true(errno == EAGAIN || errno == EOPNOTSUPP);
		least = most = DEPTH;
	}
	acquire_all(c, slots, DEPTH);
	before = daemon_ops_done();
	for (unsigned i = 0; i < DEPTH; i++) {
		hd_pattern(sr_slot_data(c, slots[i]), SLOT_SIZE,
			   (uint64_t)i * SLOT_SIZE, 0xc3);
		assert_int_equal(sr_prep_write(c, i, h, slots[i], 0, SLOT_SIZE,
					       (uint64_t)i * SLOT_SIZE), 0);
	}
	ou_submit(c, DEPTH);
	ou_wait(c, cqe, DEPTH);
	for (unsigned i = 0; i < DEPTH; i++)
		ou_ok(&cqe[i], SLOT_SIZE);
	expect_daemon_did(before, least, most, "writes");
	assert_int_equal(pread(fd, back, sizeof(back), 0), (ssize_t)sizeof(back));
	assert_true(hd_pattern_ok(back, sizeof(back), 0, 0xc3));

	/* Reads of the same handle are still shared, whatever the writes
	 * found out. */
	before = daemon_ops_done();
	prep_reads(c, h, slots, DEPTH, false);
	run_reads(c, slots, DEPTH, 0xc3);
	expect_daemon_did(before, DEPTH * 3 / 4, DEPTH - 1,
			  "reads after the writes");
	sr_close(c);
	close(fd);
	hd_check_service(&hd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_depth_is_shared),
		cmocka_unit_test(test_lone_read_stays_here),
		cmocka_unit_test(test_chains_go_to_the_daemon),
		cmocka_unit_test(test_no_inline_flag),
		cmocka_unit_test(test_writes_are_shared),
	};

	return HD_RUN(tests, 120);
}
