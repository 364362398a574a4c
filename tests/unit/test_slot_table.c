/* SPDX-License-Identifier: MIT */
/*
 * test_slot_table.c - unit tests for the daemon's slot table.
 *
 * Pins every legal and illegal state transition (including sharing a
 * slot within a chain and the receive pool), its errno, and the
 * generation rules (bumped on each hand-over, never 0).  Must never depend
 * on a kernel, a socket or another daemon module.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include "slot_table.h"

#define COUNT 4
#define SIZE 4096

static int setup(void **state)
{
	static struct slot_table t;

	if (slot_table_init(&t, COUNT, SIZE) < 0)
		return -1;
	*state = &t;
	return 0;
}

static int teardown(void **state)
{
	slot_table_free(*state);
	return 0;
}

/* Drives slot @i from AVAILABLE to COMPLETED. */
static void to_completed(struct slot_table *t, uint32_t i)
{
	assert_int_equal(slot_table_begin(t, i), 0);
	assert_int_equal(slot_table_complete(t, i), 0);
}

static void test_init_zero_count(void **state)
{
	struct slot_table t;

	assert_int_equal(slot_table_init(&t, 0, SIZE), -EINVAL);
	assert_null(t.slots);
	assert_int_equal(t.count, 0);
	slot_table_free(&t);
}

static void test_init_zero_size(void **state)
{
	struct slot_table t;

	assert_int_equal(slot_table_init(&t, COUNT, 0), -EINVAL);
	assert_null(t.slots);
	slot_table_free(&t);
}

static void test_init_state(void **state)
{
	struct slot_table *t = *state;
	uint32_t i;

	assert_int_equal(t->count, COUNT);
	assert_int_equal(t->size, SIZE);
	assert_int_equal(t->busy, 0);
	for (i = 0; i < COUNT; i++) {
		const struct slot *s = slot_table_get(t, i);

		assert_non_null(s);
		assert_int_equal(s->state, SLOT_AVAILABLE);
		assert_int_equal(s->generation, SLOT_FIRST_GENERATION);
	}
}

static void test_free_clears(void **state)
{
	struct slot_table t;

	assert_int_equal(slot_table_init(&t, COUNT, SIZE), 0);
	slot_table_free(&t);
	assert_null(t.slots);
	assert_int_equal(t.count, 0);
	assert_null(slot_table_get(&t, 0));
}

static void test_get_past_end(void **state)
{
	struct slot_table *t = *state;

	assert_non_null(slot_table_get(t, COUNT - 1));
	assert_null(slot_table_get(t, COUNT));
	assert_null(slot_table_get(t, UINT32_MAX));
}

static void test_full_cycle(void **state)
{
	struct slot_table *t = *state;
	const struct slot *s = slot_table_get(t, 1);
	uint32_t gen = 0;

	assert_int_equal(slot_table_begin(t, 1), 0);
	assert_int_equal(s->state, SLOT_IN_FLIGHT);
	assert_int_equal(s->generation, SLOT_FIRST_GENERATION + 1);

	assert_int_equal(slot_table_complete(t, 1), 0);
	assert_int_equal(s->state, SLOT_COMPLETED);
	assert_int_equal(s->generation, SLOT_FIRST_GENERATION + 1);

	assert_int_equal(slot_table_hand_back(t, 1, &gen), 0);
	assert_int_equal(s->state, SLOT_AVAILABLE);
	assert_int_equal(s->generation, SLOT_FIRST_GENERATION + 2);
	assert_int_equal(gen, SLOT_FIRST_GENERATION + 2);

	/* Neighbours are untouched. */
	assert_int_equal(slot_table_get(t, 0)->generation,
			 SLOT_FIRST_GENERATION);
	assert_int_equal(slot_table_get(t, 2)->state, SLOT_AVAILABLE);
}

static void test_bad_index(void **state)
{
	struct slot_table *t = *state;
	uint32_t gen = 77;

	assert_int_equal(slot_table_begin(t, COUNT), -ENXIO);
	assert_int_equal(slot_table_complete(t, COUNT), -ENXIO);
	assert_int_equal(slot_table_hand_back(t, COUNT, &gen), -ENXIO);
	assert_int_equal(slot_table_begin(t, UINT32_MAX), -ENXIO);
	assert_int_equal(gen, 77);
	assert_int_equal(t->busy, 0);
}

static void test_begin_in_flight(void **state)
{
	struct slot_table *t = *state;

	assert_int_equal(slot_table_begin(t, 0), 0);
	assert_int_equal(slot_table_begin(t, 0), -EBUSY);
	assert_int_equal(slot_table_get(t, 0)->generation,
			 SLOT_FIRST_GENERATION + 1);
	assert_int_equal(t->busy, 1);
}

static void test_begin_completed(void **state)
{
	struct slot_table *t = *state;

	to_completed(t, 0);
	assert_int_equal(slot_table_begin(t, 0), -EBUSY);
	assert_int_equal(slot_table_get(t, 0)->state, SLOT_COMPLETED);
	assert_int_equal(slot_table_get(t, 0)->generation,
			 SLOT_FIRST_GENERATION + 1);
}

static void test_complete_available(void **state)
{
	struct slot_table *t = *state;

	assert_int_equal(slot_table_complete(t, 0), -EINVAL);
	assert_int_equal(slot_table_get(t, 0)->state, SLOT_AVAILABLE);
}

static void test_complete_completed(void **state)
{
	struct slot_table *t = *state;

	to_completed(t, 0);
	assert_int_equal(slot_table_complete(t, 0), -EINVAL);
	assert_int_equal(slot_table_get(t, 0)->state, SLOT_COMPLETED);
}

static void test_hand_back_available(void **state)
{
	struct slot_table *t = *state;
	uint32_t gen = 77;

	assert_int_equal(slot_table_hand_back(t, 0, &gen), -EINVAL);
	assert_int_equal(gen, 77);
	assert_int_equal(slot_table_get(t, 0)->generation,
			 SLOT_FIRST_GENERATION);
	assert_int_equal(t->busy, 0);
}

static void test_hand_back_in_flight(void **state)
{
	struct slot_table *t = *state;
	uint32_t gen = 77;

	assert_int_equal(slot_table_begin(t, 0), 0);
	assert_int_equal(slot_table_hand_back(t, 0, &gen), -EINVAL);
	assert_int_equal(gen, 77);
	assert_int_equal(slot_table_get(t, 0)->state, SLOT_IN_FLIGHT);
	assert_int_equal(t->busy, 1);
}

static void test_begin_wrap_skips_zero(void **state)
{
	struct slot_table *t = *state;

	t->slots[2].generation = UINT32_MAX;
	assert_int_equal(slot_table_begin(t, 2), 0);
	assert_int_equal(slot_table_get(t, 2)->generation, 1);
}

static void test_hand_back_wrap_skips_zero(void **state)
{
	struct slot_table *t = *state;
	uint32_t gen = 0;

	to_completed(t, 3);
	t->slots[3].generation = UINT32_MAX;
	assert_int_equal(slot_table_hand_back(t, 3, &gen), 0);
	assert_int_equal(gen, 1);
	assert_int_equal(slot_table_get(t, 3)->generation, 1);
}

static void test_busy_count(void **state)
{
	struct slot_table *t = *state;
	uint32_t gen;

	assert_int_equal(slot_table_begin(t, 0), 0);
	assert_int_equal(t->busy, 1);
	assert_int_equal(slot_table_begin(t, 1), 0);
	assert_int_equal(t->busy, 2);
	/* COMPLETED still counts: the completion has not been sent. */
	assert_int_equal(slot_table_complete(t, 0), 0);
	assert_int_equal(t->busy, 2);
	assert_int_equal(slot_table_hand_back(t, 0, &gen), 0);
	assert_int_equal(t->busy, 1);
	assert_int_equal(slot_table_complete(t, 1), 0);
	assert_int_equal(slot_table_hand_back(t, 1, &gen), 0);
	assert_int_equal(t->busy, 0);
}

static void test_share(void **state)
{
	struct slot_table *t = *state;
	uint32_t gen;

	/* Only an IN_FLIGHT slot is shared. */
	assert_int_equal(slot_table_share(t, 0), -EINVAL);
	assert_int_equal(slot_table_share(t, COUNT), -ENXIO);
	assert_int_equal(slot_table_begin(t, 0), 0);
	uint32_t in_flight_gen = slot_table_get(t, 0)->generation;
	assert_int_equal(slot_table_share(t, 0), 0);
	assert_int_equal(slot_table_share(t, 0), 0);
	assert_int_equal(slot_table_get(t, 0)->refs, 3);
	/* Sharing changes no generation and counts once as busy. */
	assert_int_equal(slot_table_get(t, 0)->generation, in_flight_gen);
	assert_int_equal(t->busy, 1);
	/* Held until the last holder completes. */
	assert_int_equal(slot_table_complete(t, 0), 1);
	assert_int_equal(slot_table_complete(t, 0), 1);
	assert_int_equal(slot_table_get(t, 0)->state, SLOT_IN_FLIGHT);
	assert_int_equal(slot_table_hand_back(t, 0, &gen), -EINVAL);
	assert_int_equal(slot_table_complete(t, 0), 0);
	assert_int_equal(slot_table_get(t, 0)->state, SLOT_COMPLETED);
	assert_int_equal(slot_table_complete(t, 0), -EINVAL);
	assert_int_equal(slot_table_share(t, 0), -EINVAL);
	assert_int_equal(slot_table_hand_back(t, 0, &gen), 0);
	assert_int_equal(gen, in_flight_gen + 1);
	assert_int_equal(t->busy, 0);
}

static void test_share_overflow(void **state)
{
	struct slot_table *t = *state;

	assert_int_equal(slot_table_begin(t, 1), 0);
	t->slots[1].refs = UINT16_MAX;
	assert_int_equal(slot_table_share(t, 1), -EOVERFLOW);
	assert_int_equal(t->slots[1].refs, UINT16_MAX);
}

static void test_pool_cycle(void **state)
{
	struct slot_table *t = *state;
	uint32_t gen;

	assert_int_equal(slot_table_pool(t, 2), 0);
	assert_int_equal(slot_table_get(t, 2)->state, SLOT_POOLED);
	assert_int_equal(slot_table_get(t, 2)->generation,
			 SLOT_FIRST_GENERATION + 1);
	assert_int_equal(t->pooled, 1);
	assert_int_equal(t->busy, 1);
	/* A pooled slot is the kernel's: nothing else may take it. */
	assert_int_equal(slot_table_begin(t, 2), -EBUSY);
	assert_int_equal(slot_table_pool(t, 2), -EBUSY);
	assert_int_equal(slot_table_share(t, 2), -EINVAL);
	assert_int_equal(slot_table_complete(t, 2), -EINVAL);
	assert_int_equal(slot_table_hand_back(t, 2, &gen), -EINVAL);
	/* The kernel picked it. */
	assert_int_equal(slot_table_unpool(t, 2), 0);
	assert_int_equal(slot_table_get(t, 2)->state, SLOT_COMPLETED);
	assert_int_equal(t->pooled, 0);
	assert_int_equal(t->busy, 1);
	assert_int_equal(slot_table_hand_back(t, 2, &gen), 0);
	assert_int_equal(gen, SLOT_FIRST_GENERATION + 2);
	assert_int_equal(t->busy, 0);
}

static void test_unpool_not_pooled(void **state)
{
	struct slot_table *t = *state;

	/* A buffer id the kernel reports is believed for pooled slots only. */
	assert_int_equal(slot_table_unpool(t, 0), -EINVAL);
	assert_int_equal(slot_table_begin(t, 0), 0);
	assert_int_equal(slot_table_unpool(t, 0), -EINVAL);
	assert_int_equal(slot_table_get(t, 0)->state, SLOT_IN_FLIGHT);
	to_completed(t, 1);
	assert_int_equal(slot_table_unpool(t, 1), -EINVAL);
	assert_int_equal(slot_table_unpool(t, COUNT), -ENXIO);
	assert_int_equal(slot_table_unpool(t, UINT32_MAX), -ENXIO);
	assert_int_equal(slot_table_pool(t, COUNT), -ENXIO);
	assert_int_equal(slot_table_pool(t, 1), -EBUSY);
	assert_int_equal(t->pooled, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_zero_count),
		cmocka_unit_test(test_init_zero_size),
		cmocka_unit_test(test_free_clears),
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_init_state),
		T(test_get_past_end),
		T(test_full_cycle),
		T(test_bad_index),
		T(test_begin_in_flight),
		T(test_begin_completed),
		T(test_complete_available),
		T(test_complete_completed),
		T(test_hand_back_available),
		T(test_hand_back_in_flight),
		T(test_begin_wrap_skips_zero),
		T(test_hand_back_wrap_skips_zero),
		T(test_busy_count),
		T(test_share),
		T(test_share_overflow),
		T(test_pool_cycle),
		T(test_unpool_not_pooled),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
