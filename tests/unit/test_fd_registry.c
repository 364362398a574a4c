/* SPDX-License-Identifier: MIT */
/*
 * test_fd_registry.c - unit tests for the daemon's fd registry.
 *
 * Pins allocation order, the errno of every refusal, that a released or
 * closed handle is stale forever after, the quota across daemon-chosen
 * and kernel-chosen (adopted) entries, and every state move.  Must never
 * depend on a kernel, a descriptor or another daemon module.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include "fd_registry.h"

/* Indices 0..2 are the daemon's, 3..5 the kernel's. */
#define QUOTA 3
#define CAPACITY 6

static int setup(void **state)
{
	static struct fd_registry r;

	if (fd_registry_init(&r, QUOTA, CAPACITY) < 0)
		return -1;
	*state = &r;
	return 0;
}

static int teardown(void **state)
{
	fd_registry_free(*state);
	return 0;
}

static void alloc_expect(struct fd_registry *r, uint32_t want_index,
			 uint32_t want_generation)
{
	uint32_t index = UINT32_MAX, generation = 0;

	assert_int_equal(fd_registry_alloc(r, &index, &generation), 0);
	assert_int_equal(index, want_index);
	assert_int_equal(generation, want_generation);
}

static void test_init_zero(void **state)
{
	struct fd_registry r;

	assert_int_equal(fd_registry_init(&r, 0, CAPACITY), -EINVAL);
	assert_null(r.entries);
	assert_int_equal(r.capacity, 0);
	fd_registry_free(&r);
	/* A quota past the table could never be met. */
	assert_int_equal(fd_registry_init(&r, 4, 3), -EINVAL);
	assert_null(r.entries);
	fd_registry_free(&r);
}

static void test_init_state(void **state)
{
	struct fd_registry *r = *state;
	uint32_t i;

	assert_int_equal(r->capacity, CAPACITY);
	assert_int_equal(r->quota, QUOTA);
	assert_int_equal(r->live_count, 0);
	for (i = 0; i < CAPACITY; i++) {
		assert_int_equal(r->entries[i].state, FD_FREE);
		assert_int_not_equal(r->entries[i].generation, 0);
		assert_int_equal(r->entries[i].in_flight, 0);
	}
}

static void test_alloc_lowest_free(void **state)
{
	struct fd_registry *r = *state;

	alloc_expect(r, 0, 1);
	alloc_expect(r, 1, 1);
	alloc_expect(r, 2, 1);
	assert_int_equal(r->live_count, 3);
	assert_int_equal(fd_registry_release(r, 1, 1), 0);
	assert_int_equal(r->live_count, 2);
	alloc_expect(r, 1, 2);
	assert_int_equal(r->live_count, 3);
}

static void test_alloc_full(void **state)
{
	struct fd_registry *r = *state;
	uint32_t index = 77, generation = 77;

	alloc_expect(r, 0, 1);
	alloc_expect(r, 1, 1);
	alloc_expect(r, 2, 1);
	assert_int_equal(fd_registry_alloc(r, &index, &generation), -EMFILE);
	assert_int_equal(index, 77);
	assert_int_equal(generation, 77);
	assert_int_equal(r->live_count, QUOTA);
}

static void test_lookup_ok(void **state)
{
	struct fd_registry *r = *state;

	alloc_expect(r, 0, 1);
	assert_int_equal(fd_registry_lookup(r, 0, 1), 0);
}

static void test_lookup_out_of_range(void **state)
{
	struct fd_registry *r = *state;

	alloc_expect(r, 0, 1);
	assert_int_equal(fd_registry_lookup(r, CAPACITY, 1), -EBADF);
	assert_int_equal(fd_registry_lookup(r, UINT32_MAX, 1), -EBADF);
}

static void test_lookup_not_live(void **state)
{
	struct fd_registry *r = *state;

	/* Right generation, but nothing was ever registered there. */
	assert_int_equal(fd_registry_lookup(r, 0, 1), -EBADF);
}

static void test_lookup_stale(void **state)
{
	struct fd_registry *r = *state;

	alloc_expect(r, 0, 1);
	assert_int_equal(fd_registry_lookup(r, 0, 2), -ESTALE);
	assert_int_equal(fd_registry_lookup(r, 0, 0), -ESTALE);
}

static void test_release_makes_stale(void **state)
{
	struct fd_registry *r = *state;

	alloc_expect(r, 0, 1);
	assert_int_equal(fd_registry_release(r, 0, 1), 0);
	assert_int_equal(r->entries[0].state, FD_FREE);
	assert_int_equal(r->entries[0].generation, 2);
	assert_int_equal(fd_registry_lookup(r, 0, 1), -EBADF);
	/* The index is reused; the old handle must not reach the new file. */
	alloc_expect(r, 0, 2);
	assert_int_equal(fd_registry_lookup(r, 0, 1), -ESTALE);
	assert_int_equal(fd_registry_lookup(r, 0, 2), 0);
	assert_int_equal(fd_registry_release(r, 0, 1), -ESTALE);
}

static void test_release_errors(void **state)
{
	struct fd_registry *r = *state;

	assert_int_equal(fd_registry_release(r, CAPACITY, 1), -EBADF);
	assert_int_equal(fd_registry_release(r, 0, 1), -EBADF);
	alloc_expect(r, 0, 1);
	assert_int_equal(fd_registry_release(r, 0, 5), -ESTALE);
	assert_int_equal(r->entries[0].state, FD_LIVE);
	assert_int_equal(fd_registry_release(r, 0, 1), 0);
	assert_int_equal(fd_registry_release(r, 0, 1), -EBADF);
	assert_int_equal(r->live_count, 0);
}

static void test_release_busy(void **state)
{
	struct fd_registry *r = *state;

	alloc_expect(r, 0, 1);
	fd_registry_get(r, 0);
	assert_int_equal(fd_registry_release(r, 0, 1), -EBUSY);
	assert_int_equal(r->entries[0].state, FD_LIVE);
	assert_int_equal(r->entries[0].generation, 1);
	assert_int_equal(r->live_count, 1);
	fd_registry_put(r, 0);
	assert_int_equal(fd_registry_release(r, 0, 1), 0);
}

static void test_release_wrap_skips_zero(void **state)
{
	struct fd_registry *r = *state;

	alloc_expect(r, 0, 1);
	r->entries[0].generation = UINT32_MAX;
	assert_int_equal(fd_registry_release(r, 0, UINT32_MAX), 0);
	assert_int_equal(r->entries[0].generation, 1);
}

static void test_get_put_busy(void **state)
{
	struct fd_registry *r = *state;

	alloc_expect(r, 0, 1);
	alloc_expect(r, 1, 1);
	assert_false(fd_registry_busy(r, 0));
	fd_registry_get(r, 0);
	fd_registry_get(r, 0);
	assert_true(fd_registry_busy(r, 0));
	assert_int_equal(r->entries[0].in_flight, 2);
	assert_false(fd_registry_busy(r, 1));
	fd_registry_put(r, 0);
	assert_true(fd_registry_busy(r, 0));
	fd_registry_put(r, 0);
	assert_false(fd_registry_busy(r, 0));
}

static void test_get_put_misuse(void **state)
{
	struct fd_registry *r = *state;

	/* None of these may corrupt memory or wrap a count. */
	fd_registry_get(r, CAPACITY);
	fd_registry_put(r, CAPACITY);
	assert_false(fd_registry_busy(r, CAPACITY));
	assert_false(fd_registry_busy(r, UINT32_MAX));
	fd_registry_get(r, 0);
	assert_int_equal(r->entries[0].in_flight, 0);
	alloc_expect(r, 0, 1);
	fd_registry_put(r, 0);
	assert_int_equal(r->entries[0].in_flight, 0);
	assert_int_equal(fd_registry_release(r, 0, 1), 0);
}

static void test_reserve_publish(void **state)
{
	struct fd_registry *r = *state;
	uint32_t index = 77, generation = 0;

	alloc_expect(r, 0, 1);
	assert_int_equal(fd_registry_reserve(r, &index), 0);
	assert_int_equal(index, 1);
	assert_int_equal(r->live_count, 2);
	/* Nobody can name a reserved entry... */
	assert_int_equal(fd_registry_lookup(r, 1, 1), -EBADF);
	assert_int_equal(fd_registry_release(r, 1, 1), -EBADF);
	assert_int_equal(fd_registry_close(r, 1, 1), -EBADF);
	fd_registry_get(r, 1);
	assert_int_equal(r->entries[1].in_flight, 0);
	/* ...and alloc passes it by. */
	alloc_expect(r, 2, 1);
	assert_int_equal(fd_registry_publish(r, 1, &generation), 0);
	assert_int_equal(generation, 1);
	assert_int_equal(fd_registry_lookup(r, 1, 1), 0);
	/* Only a RESERVED entry is published or unreserved. */
	assert_int_equal(fd_registry_publish(r, 1, &generation), -EINVAL);
	assert_int_equal(fd_registry_unreserve(r, 1), -EINVAL);
	assert_int_equal(fd_registry_publish(r, CAPACITY, &generation), -EINVAL);
	assert_int_equal(fd_registry_unreserve(r, UINT32_MAX), -EINVAL);
	assert_int_equal(r->live_count, 3);
}

static void test_reserve_unreserve(void **state)
{
	struct fd_registry *r = *state;
	uint32_t index;

	assert_int_equal(fd_registry_reserve(r, &index), 0);
	assert_int_equal(index, 0);
	assert_int_equal(fd_registry_unreserve(r, 0), 0);
	assert_int_equal(r->live_count, 0);
	assert_int_equal(r->entries[0].state, FD_FREE);
	alloc_expect(r, 0, 1);
}

static void test_reserve_quota(void **state)
{
	struct fd_registry *r = *state;
	uint32_t index = 77;

	alloc_expect(r, 0, 1);
	alloc_expect(r, 1, 1);
	assert_int_equal(fd_registry_adopt(r, 4), 0);
	/* Adopted entries count: the quota is met. */
	assert_int_equal(fd_registry_reserve(r, &index), -EMFILE);
	assert_int_equal(index, 77);
	uint32_t gen = 0;
	assert_int_equal(fd_registry_alloc(r, &index, &gen), -EMFILE);
}

static void test_adopt(void **state)
{
	struct fd_registry *r = *state;
	uint32_t generation = 0;

	/* Only the kernel's range, only FREE entries. */
	assert_int_equal(fd_registry_adopt(r, 0), -EINVAL);
	assert_int_equal(fd_registry_adopt(r, QUOTA - 1), -EINVAL);
	assert_int_equal(fd_registry_adopt(r, CAPACITY), -EINVAL);
	assert_int_equal(fd_registry_adopt(r, UINT32_MAX), -EINVAL);
	assert_int_equal(fd_registry_adopt(r, 3), 0);
	assert_int_equal(fd_registry_adopt(r, 3), -EINVAL);
	assert_int_equal(fd_registry_lookup(r, 3, 1), -EBADF);
	assert_int_equal(fd_registry_publish(r, 3, &generation), 0);
	assert_int_equal(generation, 1);
	assert_int_equal(fd_registry_lookup(r, 3, 1), 0);
	assert_int_equal(fd_registry_adopt(r, 5), 0);
	alloc_expect(r, 0, 1);
	/* Over the quota: refused, whatever the index. */
	assert_int_equal(fd_registry_adopt(r, 4), -EMFILE);
	assert_int_equal(r->entries[4].state, FD_FREE);
	assert_int_equal(r->live_count, QUOTA);
	/* Released like any other handle. */
	assert_int_equal(fd_registry_release(r, 3, 1), 0);
	assert_int_equal(fd_registry_adopt(r, 4), 0);
}

static void test_close_idle(void **state)
{
	struct fd_registry *r = *state;

	alloc_expect(r, 0, 1);
	assert_int_equal(fd_registry_close(r, 0, 1), 0);
	assert_int_equal(r->entries[0].state, FD_FREE);
	assert_int_equal(r->live_count, 0);
	assert_int_equal(fd_registry_lookup(r, 0, 1), -EBADF);
	alloc_expect(r, 0, 2);
	assert_int_equal(fd_registry_lookup(r, 0, 1), -ESTALE);
}

static void test_close_busy(void **state)
{
	struct fd_registry *r = *state;

	alloc_expect(r, 0, 1);
	fd_registry_get(r, 0);
	fd_registry_get(r, 0);
	assert_int_equal(fd_registry_close(r, 0, 1), 1);
	/* Stale at once... */
	assert_int_equal(r->entries[0].state, FD_CLOSING);
	assert_int_equal(fd_registry_lookup(r, 0, 1), -EBADF);
	assert_int_equal(fd_registry_lookup(r, 0, 2), -EBADF);
	assert_int_equal(fd_registry_close(r, 0, 1), -EBADF);
	assert_int_equal(fd_registry_release(r, 0, 2), -EBADF);
	/* ...no new user... */
	fd_registry_get(r, 0);
	assert_int_equal(r->entries[0].in_flight, 2);
	/* ...and the index is not reused while the kernel may resolve it. */
	alloc_expect(r, 1, 1);
	assert_int_equal(r->live_count, 2);
	assert_int_equal(fd_registry_put(r, 0), 0);
	assert_int_equal(r->entries[0].state, FD_CLOSING);
	assert_int_equal(fd_registry_put(r, 0), 1);
	assert_int_equal(r->entries[0].state, FD_FREE);
	assert_int_equal(r->live_count, 1);
	assert_int_equal(fd_registry_put(r, 0), 0);
	alloc_expect(r, 0, 2);
}

static void test_close_errors(void **state)
{
	struct fd_registry *r = *state;

	assert_int_equal(fd_registry_close(r, 0, 1), -EBADF);
	assert_int_equal(fd_registry_close(r, CAPACITY, 1), -EBADF);
	alloc_expect(r, 0, 1);
	assert_int_equal(fd_registry_close(r, 0, 2), -ESTALE);
	assert_int_equal(r->entries[0].state, FD_LIVE);
	assert_int_equal(r->entries[0].generation, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_zero),
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_init_state),
		T(test_alloc_lowest_free),
		T(test_alloc_full),
		T(test_lookup_ok),
		T(test_lookup_out_of_range),
		T(test_lookup_not_live),
		T(test_lookup_stale),
		T(test_release_makes_stale),
		T(test_release_errors),
		T(test_release_busy),
		T(test_release_wrap_skips_zero),
		T(test_get_put_busy),
		T(test_get_put_misuse),
		T(test_reserve_publish),
		T(test_reserve_unreserve),
		T(test_reserve_quota),
		T(test_adopt),
		T(test_close_idle),
		T(test_close_busy),
		T(test_close_errors),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
