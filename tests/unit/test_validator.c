/* SPDX-License-Identifier: MIT */
/*
 * test_validator.c - unit tests for validate_op(), the gate in front of
 * the kernel.
 *
 * Every refusal has its own test asserting the exact status, and the
 * documented check order is pinned where two failures meet.  Must never
 * depend on a kernel, a socket or protobuf: the validator is pure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "validator.h"

#define SLOTS 4
#define SLOT_SIZE 4096
#define FD_CAPACITY 2
#define MAX_IN_FLIGHT 8
#define ALL_OPS ((1ULL << VALIDATOR_OPCODE_COUNT) - 1)

struct fixture {
	struct slot_table slots;
	struct fd_registry fds;
	struct validator_view view;
	uint32_t fd_index;      /* live handle; index 1 is never live */
	uint32_t fd_generation;
};

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	if (slot_table_init(&f.slots, SLOTS, SLOT_SIZE) < 0)
		return -1;
	if (fd_registry_init(&f.fds, FD_CAPACITY) < 0 ||
	    fd_registry_alloc(&f.fds, &f.fd_index, &f.fd_generation) < 0) {
		slot_table_free(&f.slots);
		return -1;
	}
	f.view.slots = &f.slots;
	f.view.fds = &f.fds;
	f.view.in_flight = 0;
	f.view.max_in_flight = MAX_IN_FLIGHT;
	f.view.allowed_ops = ALL_OPS;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	slot_table_free(&f->slots);
	fd_registry_free(&f->fds);
	return 0;
}

static struct op_request nop(void)
{
	struct op_request op = { .tag = 42, .opcode = SR_OP_NOP };

	return op;
}

/* A READ or WRITE that is valid against a fresh fixture: all of slot 0. */
static struct op_request rw(const struct fixture *f, uint32_t opcode)
{
	struct op_request op = {
		.tag = 42,
		.opcode = opcode,
		.has_fd = true,
		.fd_index = f->fd_index,
		.fd_generation = f->fd_generation,
		.has_slot = true,
		.slot_index = 0,
		.slot_generation = SLOT_FIRST_GENERATION,
		.slot_offset = 0,
		.slot_length = SLOT_SIZE,
		.has_file_offset = true,
		.file_offset = 0,
	};

	return op;
}

static struct op_request fsync_op(const struct fixture *f)
{
	struct op_request op = {
		.tag = 42,
		.opcode = SR_OP_FSYNC,
		.has_fd = true,
		.fd_index = f->fd_index,
		.fd_generation = f->fd_generation,
	};

	return op;
}

static enum sr_status check(const struct fixture *f,
			    const struct op_request *op)
{
	return validate_op(&f->view, op);
}

/* --- OK paths --- */

static void test_ok_nop(void **state)
{
	struct fixture *f = *state;
	struct op_request op = nop();

	assert_int_equal(check(f, &op), SR_STATUS_OK);
}

static void test_ok_read(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_READ);

	assert_int_equal(check(f, &op), SR_STATUS_OK);
}

static void test_ok_write(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_WRITE);

	op.slot_index = SLOTS - 1;
	op.slot_offset = 100;
	op.slot_length = 200;
	op.file_offset = 1 << 20;
	assert_int_equal(check(f, &op), SR_STATUS_OK);
}

static void test_ok_fsync(void **state)
{
	struct fixture *f = *state;
	struct op_request op = fsync_op(f);

	assert_int_equal(check(f, &op), SR_STATUS_OK);
}

static void test_ok_fsync_datasync(void **state)
{
	struct fixture *f = *state;
	struct op_request op = fsync_op(f);

	op.flags = SR_FSYNC_DATASYNC;
	assert_int_equal(check(f, &op), SR_STATUS_OK);
}

static void test_ok_exact_fit(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_READ);

	op.slot_offset = SLOT_SIZE - 96;
	op.slot_length = 96;
	assert_int_equal(check(f, &op), SR_STATUS_OK);
	/* Empty range at the very end still fits. */
	op.slot_offset = SLOT_SIZE;
	op.slot_length = 0;
	assert_int_equal(check(f, &op), SR_STATUS_OK);
}

static void test_ok_file_offset_max(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_WRITE);

	op.file_offset = INT64_MAX;
	assert_int_equal(check(f, &op), SR_STATUS_OK);
}

static void test_ok_just_below_quota(void **state)
{
	struct fixture *f = *state;
	struct op_request op = nop();

	f->view.in_flight = MAX_IN_FLIGHT - 1;
	assert_int_equal(check(f, &op), SR_STATUS_OK);
}

/* --- UNKNOWN_OP --- */

static void test_unknown_op_first_unknown(void **state)
{
	struct fixture *f = *state;
	struct op_request op = nop();

	f->view.allowed_ops = UINT64_MAX;
	op.opcode = VALIDATOR_OPCODE_COUNT;
	assert_int_equal(check(f, &op), SR_STATUS_UNKNOWN_OP);
}

static void test_unknown_op_64(void **state)
{
	struct fixture *f = *state;
	struct op_request op = nop();

	f->view.allowed_ops = UINT64_MAX;
	op.opcode = 64;
	assert_int_equal(check(f, &op), SR_STATUS_UNKNOWN_OP);
}

static void test_unknown_op_huge(void **state)
{
	struct fixture *f = *state;
	struct op_request op = nop();

	f->view.allowed_ops = UINT64_MAX;
	op.opcode = 0xffffffffU;
	assert_int_equal(check(f, &op), SR_STATUS_UNKNOWN_OP);
}

static void test_unknown_op_before_not_permitted(void **state)
{
	struct fixture *f = *state;
	struct op_request op = nop();

	f->view.allowed_ops = 0;
	f->view.in_flight = MAX_IN_FLIGHT;
	op.opcode = 0xffffffffU;
	op.flags = 0xffffffffU;
	assert_int_equal(check(f, &op), SR_STATUS_UNKNOWN_OP);
}

/* --- NOT_PERMITTED --- */

static void test_not_permitted_each_opcode(void **state)
{
	struct fixture *f = *state;
	struct op_request ops[VALIDATOR_OPCODE_COUNT] = {
		[SR_OP_NOP] = nop(),
		[SR_OP_READ] = rw(f, SR_OP_READ),
		[SR_OP_WRITE] = rw(f, SR_OP_WRITE),
		[SR_OP_FSYNC] = fsync_op(f),
	};
	uint32_t i;

	for (i = 0; i < VALIDATOR_OPCODE_COUNT; i++) {
		f->view.allowed_ops = ALL_OPS & ~(1ULL << i);
		assert_int_equal(check(f, &ops[i]), SR_STATUS_NOT_PERMITTED);
		f->view.allowed_ops = 1ULL << i;
		assert_int_equal(check(f, &ops[i]), SR_STATUS_OK);
	}
}

static void test_not_permitted_before_quota(void **state)
{
	struct fixture *f = *state;
	struct op_request op = fsync_op(f);

	f->view.allowed_ops = 1ULL << SR_OP_NOP;
	f->view.in_flight = MAX_IN_FLIGHT;
	assert_int_equal(check(f, &op), SR_STATUS_NOT_PERMITTED);
}

/* --- QUOTA --- */

static void test_quota_at_limit(void **state)
{
	struct fixture *f = *state;
	struct op_request op = nop();

	f->view.in_flight = MAX_IN_FLIGHT;
	assert_int_equal(check(f, &op), SR_STATUS_QUOTA);
}

static void test_quota_over_limit(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_READ);

	f->view.in_flight = UINT32_MAX;
	assert_int_equal(check(f, &op), SR_STATUS_QUOTA);
}

static void test_quota_zero_max(void **state)
{
	struct fixture *f = *state;
	struct op_request op = nop();

	f->view.max_in_flight = 0;
	assert_int_equal(check(f, &op), SR_STATUS_QUOTA);
}

static void test_quota_before_bad_flags(void **state)
{
	struct fixture *f = *state;
	struct op_request op = fsync_op(f);

	op.flags = 0x80;
	f->view.in_flight = MAX_IN_FLIGHT;
	assert_int_equal(check(f, &op), SR_STATUS_QUOTA);
}

/* --- BAD_FLAGS --- */

static void test_bad_flags_nop(void **state)
{
	struct fixture *f = *state;
	struct op_request op = nop();

	op.flags = SR_FSYNC_DATASYNC;
	assert_int_equal(check(f, &op), SR_STATUS_BAD_FLAGS);
}

static void test_bad_flags_read(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_READ);

	op.flags = SR_FSYNC_DATASYNC;
	assert_int_equal(check(f, &op), SR_STATUS_BAD_FLAGS);
}

static void test_bad_flags_write(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_WRITE);

	op.flags = 0x80000000U;
	assert_int_equal(check(f, &op), SR_STATUS_BAD_FLAGS);
}

static void test_bad_flags_fsync(void **state)
{
	struct fixture *f = *state;
	struct op_request op = fsync_op(f);

	op.flags = 1U << 1;
	assert_int_equal(check(f, &op), SR_STATUS_BAD_FLAGS);
	op.flags = SR_FSYNC_DATASYNC | 0x80000000U;
	assert_int_equal(check(f, &op), SR_STATUS_BAD_FLAGS);
}

static void test_bad_flags_before_malformed(void **state)
{
	struct fixture *f = *state;
	struct op_request op = nop();

	op.flags = 4;
	op.has_slot = true;
	assert_int_equal(check(f, &op), SR_STATUS_BAD_FLAGS);
}

/* --- MALFORMED --- */

static void test_malformed_nop_with_fd(void **state)
{
	struct fixture *f = *state;
	struct op_request op = nop();

	op.has_fd = true;
	op.fd_index = f->fd_index;
	op.fd_generation = f->fd_generation;
	assert_int_equal(check(f, &op), SR_STATUS_MALFORMED);
}

static void test_malformed_nop_with_slot(void **state)
{
	struct fixture *f = *state;
	struct op_request op = nop();

	op.has_slot = true;
	op.slot_generation = SLOT_FIRST_GENERATION;
	assert_int_equal(check(f, &op), SR_STATUS_MALFORMED);
}

static void test_malformed_nop_with_file_offset(void **state)
{
	struct fixture *f = *state;
	struct op_request op = nop();

	op.has_file_offset = true;
	assert_int_equal(check(f, &op), SR_STATUS_MALFORMED);
}

static void test_malformed_read_no_fd(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_READ);

	op.has_fd = false;
	assert_int_equal(check(f, &op), SR_STATUS_MALFORMED);
}

static void test_malformed_read_no_slot(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_READ);

	op.has_slot = false;
	assert_int_equal(check(f, &op), SR_STATUS_MALFORMED);
}

static void test_malformed_read_no_file_offset(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_READ);

	op.has_file_offset = false;
	assert_int_equal(check(f, &op), SR_STATUS_MALFORMED);
}

static void test_malformed_write_no_fd(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_WRITE);

	op.has_fd = false;
	assert_int_equal(check(f, &op), SR_STATUS_MALFORMED);
}

static void test_malformed_write_no_slot(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_WRITE);

	op.has_slot = false;
	assert_int_equal(check(f, &op), SR_STATUS_MALFORMED);
}

static void test_malformed_write_no_file_offset(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_WRITE);

	op.has_file_offset = false;
	assert_int_equal(check(f, &op), SR_STATUS_MALFORMED);
}

static void test_malformed_fsync_no_fd(void **state)
{
	struct fixture *f = *state;
	struct op_request op = fsync_op(f);

	op.has_fd = false;
	assert_int_equal(check(f, &op), SR_STATUS_MALFORMED);
}

static void test_malformed_fsync_with_slot(void **state)
{
	struct fixture *f = *state;
	struct op_request op = fsync_op(f);

	op.has_slot = true;
	op.slot_generation = SLOT_FIRST_GENERATION;
	assert_int_equal(check(f, &op), SR_STATUS_MALFORMED);
}

static void test_malformed_fsync_with_file_offset(void **state)
{
	struct fixture *f = *state;
	struct op_request op = fsync_op(f);

	op.has_file_offset = true;
	assert_int_equal(check(f, &op), SR_STATUS_MALFORMED);
}

static void test_malformed_before_bad_handle(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_READ);

	op.has_slot = false;
	op.fd_index = UINT32_MAX;
	assert_int_equal(check(f, &op), SR_STATUS_MALFORMED);
}

/* --- BAD_HANDLE / STALE_HANDLE --- */

static void test_bad_handle_out_of_range(void **state)
{
	struct fixture *f = *state;
	struct op_request op = fsync_op(f);

	op.fd_index = FD_CAPACITY;
	assert_int_equal(check(f, &op), SR_STATUS_BAD_HANDLE);
	op.fd_index = UINT32_MAX;
	assert_int_equal(check(f, &op), SR_STATUS_BAD_HANDLE);
}

static void test_bad_handle_not_live(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_READ);

	op.fd_index = 1;
	op.fd_generation = f->fds.entries[1].generation;
	assert_int_equal(check(f, &op), SR_STATUS_BAD_HANDLE);
}

static void test_bad_handle_after_release(void **state)
{
	struct fixture *f = *state;
	struct op_request op = fsync_op(f);

	assert_int_equal(fd_registry_release(&f->fds, f->fd_index,
					     f->fd_generation), 0);
	assert_int_equal(check(f, &op), SR_STATUS_BAD_HANDLE);
}

static void test_stale_handle(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_WRITE);

	op.fd_generation = f->fd_generation + 1;
	assert_int_equal(check(f, &op), SR_STATUS_STALE_HANDLE);
}

static void test_stale_handle_after_reuse(void **state)
{
	struct fixture *f = *state;
	struct op_request op = fsync_op(f);
	uint32_t index, generation;

	assert_int_equal(fd_registry_release(&f->fds, f->fd_index,
					     f->fd_generation), 0);
	assert_int_equal(fd_registry_alloc(&f->fds, &index, &generation), 0);
	assert_int_equal(index, f->fd_index);
	assert_int_equal(check(f, &op), SR_STATUS_STALE_HANDLE);
	op.fd_generation = generation;
	assert_int_equal(check(f, &op), SR_STATUS_OK);
}

static void test_handle_before_slot(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_READ);

	op.fd_generation = 0;
	op.slot_index = UINT32_MAX;
	assert_int_equal(check(f, &op), SR_STATUS_STALE_HANDLE);
}

/* --- BAD_SLOT --- */

static void test_bad_slot(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_READ);

	op.slot_index = SLOTS;
	assert_int_equal(check(f, &op), SR_STATUS_BAD_SLOT);
	op.slot_index = UINT32_MAX;
	assert_int_equal(check(f, &op), SR_STATUS_BAD_SLOT);
}

/* --- BUFFER_IN_FLIGHT --- */

static void test_buffer_in_flight(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_WRITE);

	assert_int_equal(slot_table_begin(&f->slots, 0), 0);
	assert_int_equal(check(f, &op), SR_STATUS_BUFFER_IN_FLIGHT);
}

static void test_buffer_completed(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_READ);

	assert_int_equal(slot_table_begin(&f->slots, 0), 0);
	assert_int_equal(slot_table_complete(&f->slots, 0), 0);
	assert_int_equal(check(f, &op), SR_STATUS_BUFFER_IN_FLIGHT);
}

static void test_buffer_in_flight_beats_stale_generation(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_READ);

	assert_int_equal(slot_table_begin(&f->slots, 0), 0);
	/* The old generation is stale now, but the state is checked first. */
	assert_int_not_equal(op.slot_generation,
			     slot_table_get(&f->slots, 0)->generation);
	assert_int_equal(check(f, &op), SR_STATUS_BUFFER_IN_FLIGHT);
	/* Even naming the slot's current generation does not help. */
	op.slot_generation = slot_table_get(&f->slots, 0)->generation;
	assert_int_equal(check(f, &op), SR_STATUS_BUFFER_IN_FLIGHT);
	/* Nor does an absurd range. */
	op.slot_offset = UINT32_MAX;
	assert_int_equal(check(f, &op), SR_STATUS_BUFFER_IN_FLIGHT);
}

static void test_same_slot_twice(void **state)
{
	struct fixture *f = *state;
	struct op_request first = rw(f, SR_OP_READ);
	struct op_request second = rw(f, SR_OP_WRITE);

	second.slot_offset = 0;
	second.slot_length = 1;
	assert_int_equal(check(f, &first), SR_STATUS_OK);
	/* What the caller does with an OK verdict before the next op. */
	assert_int_equal(slot_table_begin(&f->slots, first.slot_index), 0);
	f->view.in_flight++;
	assert_int_equal(check(f, &second), SR_STATUS_BUFFER_IN_FLIGHT);
	assert_int_equal(check(f, &first), SR_STATUS_BUFFER_IN_FLIGHT);
}

/* --- STALE_GENERATION --- */

static void test_stale_generation(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_READ);

	op.slot_generation = SLOT_FIRST_GENERATION + 1;
	assert_int_equal(check(f, &op), SR_STATUS_STALE_GENERATION);
	op.slot_generation = 0;
	assert_int_equal(check(f, &op), SR_STATUS_STALE_GENERATION);
}

static void test_stale_generation_after_hand_back(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_WRITE);
	uint32_t generation = 0;

	assert_int_equal(slot_table_begin(&f->slots, 0), 0);
	assert_int_equal(slot_table_complete(&f->slots, 0), 0);
	assert_int_equal(slot_table_hand_back(&f->slots, 0, &generation), 0);
	assert_int_equal(check(f, &op), SR_STATUS_STALE_GENERATION);
	/* The generation the kernel held is stale too. */
	op.slot_generation = generation - 1;
	assert_int_equal(check(f, &op), SR_STATUS_STALE_GENERATION);
	op.slot_generation = generation;
	assert_int_equal(check(f, &op), SR_STATUS_OK);
}

static void test_stale_generation_before_bounds(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_READ);

	op.slot_generation = 0;
	op.slot_offset = UINT32_MAX;
	assert_int_equal(check(f, &op), SR_STATUS_STALE_GENERATION);
}

/* --- OUT_OF_BOUNDS --- */

static void test_oob_offset_past_end(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_READ);

	op.slot_offset = SLOT_SIZE + 1;
	op.slot_length = 0;
	assert_int_equal(check(f, &op), SR_STATUS_OUT_OF_BOUNDS);
}

static void test_oob_length_past_end(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_WRITE);

	op.slot_offset = 0;
	op.slot_length = SLOT_SIZE + 1;
	assert_int_equal(check(f, &op), SR_STATUS_OUT_OF_BOUNDS);
}

static void test_oob_one_past_end(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_READ);

	op.slot_offset = SLOT_SIZE - 96;
	op.slot_length = 97;
	assert_int_equal(check(f, &op), SR_STATUS_OUT_OF_BOUNDS);
	op.slot_offset = SLOT_SIZE;
	op.slot_length = 1;
	assert_int_equal(check(f, &op), SR_STATUS_OUT_OF_BOUNDS);
}

static void test_oob_wrap_around(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_READ);

	/* Each pair sums, in 32 bits, to something <= SLOT_SIZE. */
	op.slot_offset = 1;
	op.slot_length = UINT32_MAX;
	assert_int_equal(check(f, &op), SR_STATUS_OUT_OF_BOUNDS);
	op.slot_offset = UINT32_MAX;
	op.slot_length = 1;
	assert_int_equal(check(f, &op), SR_STATUS_OUT_OF_BOUNDS);
	op.slot_offset = UINT32_MAX;
	op.slot_length = UINT32_MAX;
	assert_int_equal(check(f, &op), SR_STATUS_OUT_OF_BOUNDS);
	op.slot_offset = 16;
	op.slot_length = UINT32_MAX - 15;
	assert_int_equal(check(f, &op), SR_STATUS_OUT_OF_BOUNDS);
}

static void test_oob_file_offset_read(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_READ);

	op.file_offset = (uint64_t)INT64_MAX + 1;
	assert_int_equal(check(f, &op), SR_STATUS_OUT_OF_BOUNDS);
}

static void test_oob_file_offset_write(void **state)
{
	struct fixture *f = *state;
	struct op_request op = rw(f, SR_OP_WRITE);

	op.file_offset = UINT64_MAX;
	assert_int_equal(check(f, &op), SR_STATUS_OUT_OF_BOUNDS);
}

/* --- purity --- */

static void test_validate_is_pure(void **state)
{
	struct fixture *f = *state;
	struct slot slots_before[SLOTS];
	struct fd_entry fds_before[FD_CAPACITY];
	struct slot_table st_before = f->slots;
	struct fd_registry fr_before = f->fds;
	struct validator_view view_before = f->view;
	struct op_request ops[] = {
		nop(), rw(f, SR_OP_READ), rw(f, SR_OP_WRITE), fsync_op(f),
	};
	size_t i;

	memcpy(slots_before, f->slots.slots, sizeof(slots_before));
	memcpy(fds_before, f->fds.entries, sizeof(fds_before));
	/* Twice each: a verdict that changed state would change itself. */
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		assert_int_equal(check(f, &ops[i]), SR_STATUS_OK);
		assert_int_equal(check(f, &ops[i]), SR_STATUS_OK);
	}
	assert_memory_equal(slots_before, f->slots.slots,
			    sizeof(slots_before));
	assert_memory_equal(fds_before, f->fds.entries, sizeof(fds_before));
	assert_memory_equal(&st_before, &f->slots, sizeof(st_before));
	assert_memory_equal(&fr_before, &f->fds, sizeof(fr_before));
	assert_memory_equal(&view_before, &f->view, sizeof(view_before));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_ok_nop),
		T(test_ok_read),
		T(test_ok_write),
		T(test_ok_fsync),
		T(test_ok_fsync_datasync),
		T(test_ok_exact_fit),
		T(test_ok_file_offset_max),
		T(test_ok_just_below_quota),
		T(test_unknown_op_first_unknown),
		T(test_unknown_op_64),
		T(test_unknown_op_huge),
		T(test_unknown_op_before_not_permitted),
		T(test_not_permitted_each_opcode),
		T(test_not_permitted_before_quota),
		T(test_quota_at_limit),
		T(test_quota_over_limit),
		T(test_quota_zero_max),
		T(test_quota_before_bad_flags),
		T(test_bad_flags_nop),
		T(test_bad_flags_read),
		T(test_bad_flags_write),
		T(test_bad_flags_fsync),
		T(test_bad_flags_before_malformed),
		T(test_malformed_nop_with_fd),
		T(test_malformed_nop_with_slot),
		T(test_malformed_nop_with_file_offset),
		T(test_malformed_read_no_fd),
		T(test_malformed_read_no_slot),
		T(test_malformed_read_no_file_offset),
		T(test_malformed_write_no_fd),
		T(test_malformed_write_no_slot),
		T(test_malformed_write_no_file_offset),
		T(test_malformed_fsync_no_fd),
		T(test_malformed_fsync_with_slot),
		T(test_malformed_fsync_with_file_offset),
		T(test_malformed_before_bad_handle),
		T(test_bad_handle_out_of_range),
		T(test_bad_handle_not_live),
		T(test_bad_handle_after_release),
		T(test_stale_handle),
		T(test_stale_handle_after_reuse),
		T(test_handle_before_slot),
		T(test_bad_slot),
		T(test_buffer_in_flight),
		T(test_buffer_completed),
		T(test_buffer_in_flight_beats_stale_generation),
		T(test_same_slot_twice),
		T(test_stale_generation),
		T(test_stale_generation_after_hand_back),
		T(test_stale_generation_before_bounds),
		T(test_oob_offset_past_end),
		T(test_oob_length_past_end),
		T(test_oob_one_past_end),
		T(test_oob_wrap_around),
		T(test_oob_file_offset_read),
		T(test_oob_file_offset_write),
		T(test_validate_is_pure),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
