/* SPDX-License-Identifier: MIT */
/*
 * test_threads.c - end-to-end: one client shared by 8 threads
 * (SR_PARAMS_THREADSAFE).  Each thread does $SAFERRING_THREADS_OPS
 * operations (default 10000; make check-tsan asks for 100000): write a
 * pattern of its own from a slot to the file region that slot names,
 * then read it back into the cleared slot, so a write and its read are
 * two operations.  Completions go to whichever thread waits: the thread
 * that reaps a write prepares its read, the one that reaps the read
 * checks every byte and releases the slot.  At the end each operation of
 * each thread must have completed exactly once (a lost completion hangs
 * or leaves one missing, a duplicate counts twice), every pattern must
 * have come back intact, and every slot must be free again.
 *
 * Worker threads never call cmocka: they count failures, and the main
 * thread asserts after joining them.  A second test has the threads wait
 * in sr_wait_cqe at once for NOPs one thread submits: each completion
 * goes to exactly one of them.  A third has every thread call sr_pwrite,
 * sr_pread and sr_fsync at once, each on its own part of a file: each
 * must get its own answer.
 */
#include "ops_util.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define NTHREADS 8
#define SLOTS 64
#define LEN 512U       /* bytes of each write, at slot * LEN in the file */
#define DEPTH 4        /* round trips a thread keeps going at once */

static struct sr_client *tc;
static sr_handle_t th;             /* the file's handle */
static unsigned rounds;            /* round trips per thread */
static atomic_uint done[NTHREADS]; /* operations completed, per thread */
static atomic_uint busy[NTHREADS]; /* round trips not finished */
static atomic_ulong done_total;
static atomic_uint failures;
static char first_failure[256];

static void failure(const char *fmt, long a, long b)
{
	if (atomic_fetch_add(&failures, 1) == 0)
		snprintf(first_failure, sizeof(first_failure), fmt, a, b);
}

/* user_data: thread, round, and which half (0 write, 1 read). */
static uint64_t ud(unsigned t, unsigned i, unsigned rd)
{
	return (uint64_t)t << 40 | (uint64_t)i << 1 | rd;
}

/* A prep that found no room: reap, then try again. */
static void reap_one(void);

static void prep_until_ok(int (*prep)(struct sr_client *, uint64_t,
				      sr_handle_t, sr_slot_t, uint32_t,
				      uint32_t, uint64_t),
			  uint64_t user_data, sr_slot_t slot)
{
	int r;

	while ((r = prep(tc, user_data, th, slot, 0, LEN,
			 (uint64_t)sr_slot_index(slot) * LEN)) == -ENOSPC)
		reap_one();
	if (r) {
		failure("prep: %ld (slot %ld)", r, sr_slot_index(slot));
		return;
	}
	while ((r = sr_submit(tc)) == -EAGAIN)
		reap_one();
	if (r < 0)
		failure("sr_submit: %ld (%ld)", r, 0);
}

static void handle(const struct sr_cqe *e)
{
	unsigned t = (unsigned)(e->user_data >> 40);
	unsigned i = (unsigned)(e->user_data >> 1) & 0x7fffffffU;
	bool rd = e->user_data & 1;
	unsigned char *p;

	if (t >= NTHREADS || i >= rounds || sr_slot_index(e->slot) < 0) {
		failure("stray completion %lx slot %ld",
			(long)e->user_data, sr_slot_index(e->slot));
		return;
	}
	if (e->status != SR_STATUS_OK || e->res != (int)LEN) {
		failure("op %lx: res %ld", (long)e->user_data, e->res);
		return;
	}
	p = sr_slot_data(tc, e->slot);
	if (!rd) {
		memset(p, 0, LEN);
		prep_until_ok(sr_prep_read, ud(t, i, 1), e->slot);
	} else {
		int r;

		if (!hd_pattern_ok(p, LEN, (uint64_t)i * LEN, t + 1))
			failure("thread %ld round %ld: bytes differ", t, i);
		r = sr_slot_release(tc, e->slot);
		if (r)
			failure("release of slot %ld: %ld",
				sr_slot_index(e->slot), r);
		atomic_fetch_sub(&busy[t], 1);
	}
	atomic_fetch_add(&done[t], 1);
	atomic_fetch_add(&done_total, 1);
}

static void reap_one(void)
{
	struct sr_cqe e;
	int r = sr_wait_cqe(tc, &e);

	if (r == -ENODATA) {
		/* Nothing in flight at this instant: another thread is
		 * between its prep and its submit, or all is done. */
		sched_yield();
		return;
	}
	if (r) {
		failure("sr_wait_cqe: %ld (%ld)", r, 0);
		return;
	}
	handle(&e);
}

static void *worker(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	unsigned long total = (unsigned long)NTHREADS * rounds * 2;

	for (unsigned i = 0; i < rounds && !atomic_load(&failures); i++) {
		sr_slot_t s;

		while (atomic_load(&busy[t]) >= DEPTH)
			reap_one();
		while (sr_slot_index(s = sr_slot_acquire(tc)) == -ENOBUFS)
			reap_one();
		if (sr_slot_index(s) < 0) {
			failure("sr_slot_acquire: %ld (%ld)", sr_slot_index(s),
				0);
			break;
		}
		atomic_fetch_add(&busy[t], 1);
		hd_pattern(sr_slot_data(tc, s), LEN, (uint64_t)i * LEN, t + 1);
		prep_until_ok(sr_prep_write, ud(t, i, 0), s);
	}
	while (atomic_load(&done_total) < total && !atomic_load(&failures))
		reap_one();
	return NULL;
}

static struct sr_client *ts_session(void)
{
	struct sr_params p = {
		.slot_count = SLOTS, .slot_size = 4096,
		.flags = SR_PARAMS_THREADSAFE,
	};
	struct sr_limits lim;
	struct sr_client *c = ou_connect(&p);

	assert_int_equal(sr_limits(c, &lim), 0);
	assert_true(lim.flags & SR_LIMITS_THREADSAFE);
	return c;
}

static void test_shared_roundtrips(void **state)
{
	const char *env = getenv("SAFERRING_THREADS_OPS");
	pthread_t tid[NTHREADS];
	sr_slot_t s[SLOTS];

	(void)state;
	rounds = (env && atoi(env) > 0 ? (unsigned)atoi(env) : 10000) / 2;
	tc = ts_session();
	th = ou_register(tc, hd_make_file(&hd, "threads", SLOTS * LEN, 0));
	for (unsigned t = 0; t < NTHREADS; t++)
		assert_int_equal(pthread_create(&tid[t], NULL, worker,
						(void *)(uintptr_t)t), 0);
	for (unsigned t = 0; t < NTHREADS; t++)
		pthread_join(tid[t], NULL);
	if (atomic_load(&failures))
		fail_msg("%u failures, the first: %s", atomic_load(&failures),
			 first_failure);
	for (unsigned t = 0; t < NTHREADS; t++)
		assert_int_equal(atomic_load(&done[t]), 2 * rounds);
	assert_int_equal(sr_in_flight(tc), 0);
	/* Every slot came back: all of them can be taken again. */
	for (unsigned i = 0; i < SLOTS; i++)
		assert_true(sr_slot_index(s[i] = sr_slot_acquire(tc)) >= 0);
	assert_int_equal(sr_slot_index(sr_slot_acquire(tc)), -ENOBUFS);
	printf("threads: %u threads x %u operations, every byte checked\n",
	       NTHREADS, 2 * rounds);
	sr_close(tc);
}

/* Several threads block in sr_wait_cqe together; one submits NOPs. */
#define NOPS 2000
static atomic_uint nop_seen[NOPS];

static void *nop_waiter(void *arg)
{
	struct sr_cqe e;
	int r;

	(void)arg;
	/* -ENODATA: nothing in flight now; the counter says when to stop. */
	while (atomic_load(&done_total) < NOPS) {
		r = sr_wait_cqe(tc, &e);
		if (r == -ENODATA) {
			sched_yield();
			continue;
		}
		if (r || e.user_data >= NOPS) {
			failure("sr_wait_cqe: %ld ud %ld", r,
				(long)e.user_data);
			break;
		}
		atomic_fetch_add(&nop_seen[e.user_data], 1);
		atomic_fetch_add(&done_total, 1);
	}
	return NULL;
}

static void test_waiters_share(void **state)
{
	pthread_t tid[NTHREADS];

	(void)state;
	atomic_store(&done_total, 0);
	tc = ts_session();
	for (unsigned t = 0; t < NTHREADS; t++)
		assert_int_equal(pthread_create(&tid[t], NULL, nop_waiter,
						NULL), 0);
	for (uint64_t i = 0; i < NOPS; i++) {
		int r;

		while ((r = sr_prep_nop(tc, i)) == -ENOSPC)
			sched_yield();
		assert_int_equal(r, 0);
		while ((r = sr_submit(tc)) == -EAGAIN)
			sched_yield();
		assert_true(r >= 0);
	}
	for (unsigned t = 0; t < NTHREADS; t++)
		pthread_join(tid[t], NULL);
	if (atomic_load(&failures))
		fail_msg("%u failures, the first: %s", atomic_load(&failures),
			 first_failure);
	for (unsigned i = 0; i < NOPS; i++)
		assert_int_equal(atomic_load(&nop_seen[i]), 1);
	sr_close(tc);
}

/* The blocking helpers, from every thread at once: each call must get
 * its own completion, never another thread's. */
#define SYNC_ROUNDS 1000

static void *sync_worker(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	unsigned char out[LEN], in[LEN];

	for (unsigned i = 0; i < SYNC_ROUNDS && !atomic_load(&failures); i++) {
		uint64_t off = (uint64_t)t * LEN;
		ssize_t r;

		hd_pattern(out, LEN, (uint64_t)i * LEN, t + 100);
		r = sr_pwrite(tc, th, out, LEN, off);
		if (r != (ssize_t)LEN)
			failure("sr_pwrite: %ld (round %ld)", (long)r, i);
		memset(in, 0, LEN);
		r = sr_pread(tc, th, in, LEN, off);
		if (r != (ssize_t)LEN || memcmp(in, out, LEN))
			failure("sr_pread: %ld (round %ld)", (long)r, i);
		if (i % 64 == 0 && (r = sr_fsync(tc, th)) != 0)
			failure("sr_fsync: %ld (round %ld)", (long)r, i);
	}
	return NULL;
}

static void test_blocking_helpers(void **state)
{
	pthread_t tid[NTHREADS];

	(void)state;
	tc = ts_session();
	th = ou_register(tc, hd_make_file(&hd, "sync", NTHREADS * LEN, 0));
	for (unsigned t = 0; t < NTHREADS; t++)
		assert_int_equal(pthread_create(&tid[t], NULL, sync_worker,
						(void *)(uintptr_t)t), 0);
	for (unsigned t = 0; t < NTHREADS; t++)
		pthread_join(tid[t], NULL);
	if (atomic_load(&failures))
		fail_msg("%u failures, the first: %s", atomic_load(&failures),
			 first_failure);
	assert_int_equal(sr_in_flight(tc), 0);
	sr_close(tc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_roundtrips),
		cmocka_unit_test(test_waiters_share),
		cmocka_unit_test(test_blocking_helpers),
	};

	return HD_RUN(tests, 600);
}
