/* SPDX-License-Identifier: MIT */
/*
 * test_fd_registry.c - unit tests for the daemon's fd registry.
 *
 * Pins allocation order, the errno of every refusal, and that a released
 * handle is stale forever after.  Must never depend on a kernel, a
 * descriptor or another daemon module.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include "fd_registry.h"

#define CAPACITY 3

static int setup(void **state)
{
	static struct fd_registry r;

	if (fd_registry_init(&r, CAPACITY) < 0)
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

	assert_int_equal(fd_registry_init(&r, 0), -EINVAL);
	assert_null(r.entries);
	assert_int_equal(r.capacity, 0);
	fd_registry_free(&r);
}

static void test_init_state(void **state)
{
	struct fd_registry *r = *state;
	uint32_t i;

	assert_int_equal(r->capacity, CAPACITY);
	assert_int_equal(r->live_count, 0);
	for (i = 0; i < CAPACITY; i++) {
		assert_false(r->entries[i].live);
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
	assert_int_equal(r->live_count, CAPACITY);
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
	assert_false(r->entries[0].live);
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
	assert_true(r->entries[0].live);
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
	assert_true(r->entries[0].live);
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
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
