/* SPDX-License-Identifier: MIT */
/*
 * test_validator.c - unit tests for validate_op(), the gate in front of
 * the kernel.
 *
 * Every refusal has its own test asserting the exact status, and the
 * documented check order is pinned where two failures meet.  Must never
 * depend on a kernel, a socket or protobuf: the validator is pure.  What
 * a kernel answers to the opcode probe is made up here, byte by byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "ring.h"
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
	if (fd_registry_init(&f.fds, FD_CAPACITY, FD_CAPACITY) < 0 ||
	    fd_registry_alloc(&f.fds, &f.fd_index, &f.fd_generation) < 0) {
		slot_table_free(&f.slots);
		return -1;
	}
	f.view.slots = &f.slots;
	f.view.fds = &f.fds;
	f.view.in_flight = 0;
	f.view.max_in_flight = MAX_IN_FLIGHT;
	f.view.allowed_ops = ALL_OPS;
	f.view.pool_capacity = SLOTS;
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

static struct sockaddr_in6 test_sin6 = { .sin6_family = AF_INET6 };

/* A valid request of each opcode against a fresh fixture: slots 0 and 1,
 * the live handle, tag 42. */
static struct op_request valid_op(const struct fixture *f, uint32_t opcode)
{
	struct op_request op = { .tag = 42, .opcode = opcode };
	struct op_slot_ref r0 = { 0, SLOT_FIRST_GENERATION, 0, SLOT_SIZE };
	struct op_slot_ref r1 = { 1, SLOT_FIRST_GENERATION, 100, 200 };

	switch (opcode) {
	case SR_OP_READ:
	case SR_OP_WRITE:
		return rw(f, opcode);
	case SR_OP_FSYNC:
		return fsync_op(f);
	case SR_OP_NOP:
		return op;
	default:
		break;
	}
	switch (opcode) {
	case SR_OP_READV:
	case SR_OP_WRITEV:
	case SR_OP_FALLOCATE:
		op.has_file_offset = true;
		op.file_offset = 4096;
		break;
	default:
		break;
	}
	switch (opcode) {
	case SR_OP_READV:
	case SR_OP_WRITEV:
	case SR_OP_SENDMSG:
	case SR_OP_RECVMSG:
		op.n_iov = 2;
		op.iov[0] = r0;
		op.iov[1] = r1;
		break;
	case SR_OP_SEND:
	case SR_OP_RECV:
	case SR_OP_PROVIDE:
		op.has_slot = true;
		op.slot_index = 0;
		op.slot_generation = SLOT_FIRST_GENERATION;
		op.slot_length = SLOT_SIZE;
		break;
	case SR_OP_FALLOCATE:
		op.has_length = true;
		op.length = 8192;
		break;
	case SR_OP_CONNECT:
		op.has_addr = true;
		op.addr = (const unsigned char *)&test_sin6;
		op.addr_len = sizeof(test_sin6);
		break;
	case SR_OP_POLL_ADD:
		op.flags = POLLIN;
		break;
	case SR_OP_POLL_REMOVE:
	case SR_OP_ASYNC_CANCEL:
		op.has_target = true;
		op.target = 7;
		break;
	case SR_OP_TIMEOUT:
	case SR_OP_LINK_TIMEOUT:
		op.has_timeout = true;
		op.timeout_ns = 1000;
		break;
	case SR_OP_SHUTDOWN:
		op.flags = SHUT_WR;
		break;
	default:
		break;
	}
	switch (opcode) {
	case SR_OP_POLL_REMOVE:
	case SR_OP_ASYNC_CANCEL:
	case SR_OP_TIMEOUT:
	case SR_OP_LINK_TIMEOUT:
	case SR_OP_PROVIDE:
		break;
	default:
		op.has_fd = true;
		op.fd_index = f->fd_index;
		op.fd_generation = f->fd_generation;
		break;
	}
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

/* --- UNKNOWN_OP: the running kernel lacks it --- */

/* What a kernel answers IORING_REGISTER_PROBE with: opcodes up to
 * @last_op, each supported but @missing (-1: none). */
static const struct io_uring_probe *fake_probe(unsigned last_op, int missing)
{
	static union {
		struct io_uring_probe p;
		unsigned char bytes[sizeof(struct io_uring_probe) +
				    256 * sizeof(struct io_uring_probe_op)];
	} u;

	memset(&u, 0, sizeof(u));
	u.p.last_op = (uint8_t)last_op;
	u.p.ops_len = (uint8_t)(last_op + 1);
	for (unsigned op = 0; op <= last_op; op++) {
		u.p.ops[op].op = (uint8_t)op;
		if ((int)op != missing)
			u.p.ops[op].flags = IO_URING_OP_SUPPORTED;
	}
	return &u.p;
}

static void test_kernel_lacks_one_opcode(void **state)
{
	struct fixture *f = *state;

	f->view.kernel_lacks = ring_kernel_lacks(
		fake_probe(IORING_OP_LAST - 1, IORING_OP_SHUTDOWN));
	assert_int_equal(f->view.kernel_lacks, 1ULL << SR_OP_SHUTDOWN);
	for (uint32_t i = 0; i < VALIDATOR_OPCODE_COUNT; i++) {
		struct op_request op = valid_op(f, i);

		f->view.follows_link = i == SR_OP_LINK_TIMEOUT;
		f->view.prev_opcode = SR_OP_RECV;
		assert_int_equal(check(f, &op), i == SR_OP_SHUTDOWN ?
				 SR_STATUS_UNKNOWN_OP : SR_STATUS_OK);
	}
}

/* The policy cannot grant what the daemon cannot do: the kernel's lack
 * is answered, not the policy's. */
static void test_kernel_lacks_before_not_permitted(void **state)
{
	struct fixture *f = *state;
	struct op_request op = valid_op(f, SR_OP_SHUTDOWN);

	f->view.kernel_lacks = 1ULL << SR_OP_SHUTDOWN;
	f->view.allowed_ops = ALL_OPS & ~(1ULL << SR_OP_SHUTDOWN);
	assert_int_equal(check(f, &op), SR_STATUS_UNKNOWN_OP);
}

/* A kernel from before an opcode existed answers with a shorter table:
 * everything past its last opcode is lacking, the daemon's own
 * operations never are. */
static void test_kernel_lacks_older_kernel(void **state)
{
	struct fixture *f = *state;
	uint64_t want = 1ULL << SR_OP_FALLOCATE | 1ULL << SR_OP_SEND |
			1ULL << SR_OP_RECV | 1ULL << SR_OP_SHUTDOWN;
	struct op_request close_op = valid_op(f, SR_OP_CLOSE);
	struct op_request provide = valid_op(f, SR_OP_PROVIDE);

	assert_int_equal(ring_kernel_lacks(fake_probe(IORING_OP_CONNECT, -1)),
			 want);
	assert_int_equal(ring_kernel_lacks(fake_probe(IORING_OP_LAST - 1, -1)),
			 0);
	f->view.kernel_lacks = ring_kernel_lacks(fake_probe(0, -1));
	assert_int_equal(f->view.kernel_lacks,
			 ALL_OPS & ~(1ULL << SR_OP_NOP | 1ULL << SR_OP_CLOSE |
				     1ULL << SR_OP_PROVIDE));
	assert_int_equal(check(f, &close_op), SR_STATUS_OK);
	assert_int_equal(check(f, &provide), SR_STATUS_OK);
}

/* --- NOT_PERMITTED --- */

static void test_not_permitted_each_opcode(void **state)
{
	struct fixture *f = *state;
	uint32_t i;

	for (i = 0; i < VALIDATOR_OPCODE_COUNT; i++) {
		struct op_request op = valid_op(f, i);

		/* LINK_TIMEOUT is only valid after a link. */
		f->view.follows_link = i == SR_OP_LINK_TIMEOUT;
		f->view.allowed_ops = ALL_OPS & ~(1ULL << i);
		assert_int_equal(check(f, &op), SR_STATUS_NOT_PERMITTED);
		f->view.allowed_ops = 1ULL << i;
		assert_int_equal(check(f, &op), SR_STATUS_OK);
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

/* --- operations beyond READ/WRITE/FSYNC --- */

static void expect_status(struct fixture *f, struct op_request op,
			  enum sr_status want)
{
	assert_int_equal(check(f, &op), want);
}

static void test_ok_every_opcode(void **state)
{
	struct fixture *f = *state;

	for (uint32_t i = 0; i < VALIDATOR_OPCODE_COUNT; i++) {
		struct op_request op = valid_op(f, i);

		f->view.follows_link = i == SR_OP_LINK_TIMEOUT;
		f->view.prev_opcode = SR_OP_RECV;
		assert_int_equal(check(f, &op), SR_STATUS_OK);
	}
}

static void test_ok_options(void **state)
{
	struct fixture *f = *state;
	struct op_request op;

	op = valid_op(f, SR_OP_RECV);
	op.has_slot = false;
	op.flags = SR_RECV_MULTISHOT;
	op.has_msg_flags = true;
	op.msg_flags = MSG_DONTWAIT;
	expect_status(f, op, SR_STATUS_OK);
	op = valid_op(f, SR_OP_SEND);
	op.has_msg_flags = true;
	op.msg_flags = MSG_MORE | MSG_NOSIGNAL | MSG_DONTWAIT | MSG_WAITALL;
	expect_status(f, op, SR_STATUS_OK);
	op = valid_op(f, SR_OP_RECVMSG);
	op.has_msg_flags = true;
	op.msg_flags = MSG_PEEK | MSG_WAITALL;
	expect_status(f, op, SR_STATUS_OK);
	op = valid_op(f, SR_OP_ACCEPT);
	op.flags = SR_ACCEPT_MULTISHOT;
	expect_status(f, op, SR_STATUS_OK);
	op = valid_op(f, SR_OP_FALLOCATE);
	op.flags = SR_FALLOC_KEEP_SIZE | SR_FALLOC_PUNCH_HOLE;
	expect_status(f, op, SR_STATUS_OK);
	op.flags = SR_FALLOC_ZERO_RANGE | SR_FALLOC_KEEP_SIZE;
	expect_status(f, op, SR_STATUS_OK);
	op.flags = 0;
	op.file_offset = INT64_MAX - 10;
	op.length = 10;
	expect_status(f, op, SR_STATUS_OK);
	op = valid_op(f, SR_OP_POLL_ADD);
	op.flags = SR_POLL_EVENTS;
	expect_status(f, op, SR_STATUS_OK);
	op = valid_op(f, SR_OP_SHUTDOWN);
	op.flags = SHUT_RDWR;
	expect_status(f, op, SR_STATUS_OK);
	op = valid_op(f, SR_OP_TIMEOUT);
	op.timeout_ns = UINT64_MAX;
	expect_status(f, op, SR_STATUS_OK);
	/* Links of both kinds. */
	op = valid_op(f, SR_OP_WRITEV);
	op.link = SR_LINK;
	expect_status(f, op, SR_STATUS_OK);
	op.link = SR_LINK_HARD;
	expect_status(f, op, SR_STATUS_OK);
	/* Sixteen ranges, each of its own slot... there are only four
	 * slots here, so four. */
	op = valid_op(f, SR_OP_READV);
	op.n_iov = SLOTS;
	for (uint32_t i = 0; i < SLOTS; i++)
		op.iov[i] = (struct op_slot_ref){ i, SLOT_FIRST_GENERATION,
						  0, SLOT_SIZE };
	expect_status(f, op, SR_STATUS_OK);
}

static void test_quota_daemon_ops(void **state)
{
	struct fixture *f = *state;

	/* CLOSE and PROVIDE hold no record: no in-flight quota. */
	f->view.in_flight = MAX_IN_FLIGHT;
	expect_status(f, valid_op(f, SR_OP_CLOSE), SR_STATUS_OK);
	expect_status(f, valid_op(f, SR_OP_PROVIDE), SR_STATUS_OK);
	expect_status(f, valid_op(f, SR_OP_TIMEOUT), SR_STATUS_QUOTA);
	expect_status(f, valid_op(f, SR_OP_ASYNC_CANCEL), SR_STATUS_QUOTA);
}

static void test_quota_chain_records(void **state)
{
	struct fixture *f = *state;

	f->view.in_flight = 3;
	f->view.chain_records = MAX_IN_FLIGHT - 4;
	expect_status(f, valid_op(f, SR_OP_SEND), SR_STATUS_OK);
	f->view.chain_records = MAX_IN_FLIGHT - 3;
	expect_status(f, valid_op(f, SR_OP_SEND), SR_STATUS_QUOTA);
	/* No sum of the two can wrap past the check. */
	f->view.chain_records = UINT32_MAX;
	expect_status(f, valid_op(f, SR_OP_NOP), SR_STATUS_QUOTA);
}

static void test_bad_flags_new_ops(void **state)
{
	struct fixture *f = *state;
	static const struct {
		uint32_t opcode;
		uint32_t flags;
	} cases[] = {
		{ SR_OP_READV, 1 },
		{ SR_OP_WRITEV, 1 },
		{ SR_OP_FALLOCATE, 0x04 },                 /* NO_HIDE_STALE */
		{ SR_OP_FALLOCATE, 0x08 },                 /* COLLAPSE_RANGE */
		{ SR_OP_FALLOCATE, SR_FALLOC_PUNCH_HOLE }, /* without KEEP_SIZE */
		{ SR_OP_FALLOCATE, SR_FALLOC_PUNCH_HOLE | SR_FALLOC_KEEP_SIZE |
				   SR_FALLOC_ZERO_RANGE },
		{ SR_OP_SEND, 1 },
		{ SR_OP_RECV, 2 },
		{ SR_OP_SENDMSG, 1 },
		{ SR_OP_RECVMSG, SR_RECV_MULTISHOT },
		{ SR_OP_ACCEPT, 2 },
		{ SR_OP_CONNECT, 1 },
		{ SR_OP_POLL_ADD, POLLRDNORM },
		{ SR_OP_POLL_ADD, 1U << 30 },              /* EPOLLONESHOT */
		{ SR_OP_POLL_ADD, 1U << 28 },              /* EPOLLEXCLUSIVE */
		{ SR_OP_POLL_REMOVE, 1 },
		{ SR_OP_TIMEOUT, 1 },
		{ SR_OP_ASYNC_CANCEL, 1 },
		{ SR_OP_CLOSE, 1 },
		{ SR_OP_SHUTDOWN, 3 },
		{ SR_OP_SHUTDOWN, 4 },
		{ SR_OP_PROVIDE, 1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct op_request op = valid_op(f, cases[i].opcode);

		op.flags = cases[i].flags;
		if (check(f, &op) != SR_STATUS_BAD_FLAGS)
			fail_msg("opcode %u flags %#x: %s", cases[i].opcode,
				 cases[i].flags, sr_strstatus(check(f, &op)));
	}
}

static void test_bad_flags_msg_flags(void **state)
{
	struct fixture *f = *state;
	static const struct {
		uint32_t opcode;
		uint32_t msg_flags;
	} cases[] = {
		{ SR_OP_SEND, MSG_PEEK },
		{ SR_OP_SEND, MSG_OOB },
		{ SR_OP_SEND, MSG_CONFIRM },
		{ SR_OP_SENDMSG, MSG_TRUNC },
		{ SR_OP_RECV, MSG_MORE },
		{ SR_OP_RECV, MSG_TRUNC },
		{ SR_OP_RECV, MSG_ERRQUEUE },
		{ SR_OP_RECVMSG, MSG_CMSG_CLOEXEC },
		{ SR_OP_RECVMSG, MSG_NOSIGNAL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct op_request op = valid_op(f, cases[i].opcode);

		op.has_msg_flags = true;
		op.msg_flags = cases[i].msg_flags;
		if (check(f, &op) != SR_STATUS_BAD_FLAGS)
			fail_msg("opcode %u msg_flags %#x: %s", cases[i].opcode,
				 cases[i].msg_flags, sr_strstatus(check(f, &op)));
	}
}

static void test_bad_flags_link(void **state)
{
	struct fixture *f = *state;
	struct op_request op = valid_op(f, SR_OP_NOP);

	op.link = 3;
	expect_status(f, op, SR_STATUS_BAD_FLAGS);
	op.link = UINT32_MAX;
	expect_status(f, op, SR_STATUS_BAD_FLAGS);
	/* Flags first, then fields. */
	op.has_fd = true;
	expect_status(f, op, SR_STATUS_BAD_FLAGS);
}

/* Each opcode with a field it does not take, or without one it needs. */
static void test_malformed_new_ops(void **state)
{
	struct fixture *f = *state;
	struct op_request op;

#define MALFORMED(opcode, change)                                          \
	do {                                                               \
		op = valid_op(f, opcode);                                  \
		change;                                                    \
		if (check(f, &op) != SR_STATUS_MALFORMED)                  \
			fail_msg("%s / %s: %s", #opcode, #change,          \
				 sr_strstatus(check(f, &op)));             \
	} while (0)

	MALFORMED(SR_OP_READV, op.n_iov = 0);
	MALFORMED(SR_OP_READV, op.has_slot = true);
	MALFORMED(SR_OP_READV, op.has_file_offset = false);
	MALFORMED(SR_OP_WRITEV, op.has_fd = false);
	MALFORMED(SR_OP_WRITEV, op.has_addr = true);
	MALFORMED(SR_OP_WRITEV, op.has_msg_flags = true);
	MALFORMED(SR_OP_FALLOCATE, op.has_length = false);
	MALFORMED(SR_OP_FALLOCATE, op.has_file_offset = false);
	MALFORMED(SR_OP_FALLOCATE, op.has_slot = true);
	MALFORMED(SR_OP_FALLOCATE, op.n_iov = 1);
	MALFORMED(SR_OP_SEND, op.has_slot = false);
	MALFORMED(SR_OP_SEND, op.has_file_offset = true);
	MALFORMED(SR_OP_SEND, op.n_iov = 1);
	MALFORMED(SR_OP_RECV, op.has_slot = false);
	MALFORMED(SR_OP_RECV, op.flags = SR_RECV_MULTISHOT);
	MALFORMED(SR_OP_RECV, op.has_fd = false);
	MALFORMED(SR_OP_SENDMSG, op.n_iov = 0);
	MALFORMED(SR_OP_SENDMSG, op.has_slot = true);
	MALFORMED(SR_OP_SENDMSG, op.has_addr = true);
	MALFORMED(SR_OP_RECVMSG, op.has_file_offset = true);
	MALFORMED(SR_OP_ACCEPT, op.has_fd = false);
	MALFORMED(SR_OP_ACCEPT, op.has_slot = true);
	MALFORMED(SR_OP_ACCEPT, op.has_msg_flags = true);
	MALFORMED(SR_OP_CONNECT, op.has_addr = false);
	MALFORMED(SR_OP_CONNECT, op.has_fd = false);
	MALFORMED(SR_OP_CONNECT, op.has_target = true);
	MALFORMED(SR_OP_POLL_ADD, op.has_fd = false);
	MALFORMED(SR_OP_POLL_ADD, op.has_timeout = true);
	MALFORMED(SR_OP_POLL_REMOVE, op.has_target = false);
	MALFORMED(SR_OP_POLL_REMOVE, op.has_fd = true);
	MALFORMED(SR_OP_TIMEOUT, op.has_timeout = false);
	MALFORMED(SR_OP_TIMEOUT, op.has_target = true);
	MALFORMED(SR_OP_TIMEOUT, op.has_fd = true);
	MALFORMED(SR_OP_ASYNC_CANCEL, op.has_target = false);
	MALFORMED(SR_OP_ASYNC_CANCEL, op.has_slot = true);
	MALFORMED(SR_OP_CLOSE, op.has_fd = false);
	MALFORMED(SR_OP_CLOSE, op.has_slot = true);
	MALFORMED(SR_OP_SHUTDOWN, op.has_fd = false);
	MALFORMED(SR_OP_SHUTDOWN, op.has_length = true);
	MALFORMED(SR_OP_PROVIDE, op.has_slot = false);
	MALFORMED(SR_OP_PROVIDE, op.has_fd = true);
	MALFORMED(SR_OP_READ, op.has_msg_flags = true);
	MALFORMED(SR_OP_READ, op.has_length = true);
	MALFORMED(SR_OP_READ, op.n_iov = 1);
	MALFORMED(SR_OP_NOP, op.has_timeout = true);
	MALFORMED(SR_OP_NOP, op.has_target = true);
	MALFORMED(SR_OP_NOP, op.has_addr = true);
	MALFORMED(SR_OP_FSYNC, op.has_msg_flags = true);
#undef MALFORMED
	f->view.follows_link = true;
	op = valid_op(f, SR_OP_LINK_TIMEOUT);
	op.has_timeout = false;
	expect_status(f, op, SR_STATUS_MALFORMED);
}

static void test_too_many_iov(void **state)
{
	struct fixture *f = *state;
	struct op_request op = valid_op(f, SR_OP_READV);

	op.n_iov = VALIDATOR_MAX_IOV + 1;
	expect_status(f, op, SR_STATUS_TOO_LARGE);
	op.n_iov = UINT32_MAX;
	expect_status(f, op, SR_STATUS_TOO_LARGE);
	/* MALFORMED first: a READV with a slot and too many ranges. */
	op.has_slot = true;
	expect_status(f, op, SR_STATUS_MALFORMED);
}

static void test_bad_chain(void **state)
{
	struct fixture *f = *state;
	struct op_request op;

	/* The daemon's own operations stay out of chains. */
	op = valid_op(f, SR_OP_CLOSE);
	op.link = SR_LINK;
	expect_status(f, op, SR_STATUS_BAD_CHAIN);
	op = valid_op(f, SR_OP_PROVIDE);
	op.link = SR_LINK_HARD;
	expect_status(f, op, SR_STATUS_BAD_CHAIN);
	f->view.follows_link = true;
	expect_status(f, valid_op(f, SR_OP_CLOSE), SR_STATUS_BAD_CHAIN);
	expect_status(f, valid_op(f, SR_OP_PROVIDE), SR_STATUS_BAD_CHAIN);
	/* A link timeout after a link, not after another link timeout. */
	f->view.prev_opcode = SR_OP_RECV;
	expect_status(f, valid_op(f, SR_OP_LINK_TIMEOUT), SR_STATUS_OK);
	f->view.prev_opcode = SR_OP_LINK_TIMEOUT;
	expect_status(f, valid_op(f, SR_OP_LINK_TIMEOUT), SR_STATUS_BAD_CHAIN);
	f->view.follows_link = false;
	f->view.prev_opcode = SR_OP_RECV;
	expect_status(f, valid_op(f, SR_OP_LINK_TIMEOUT), SR_STATUS_BAD_CHAIN);
	/* BAD_CHAIN before the handle is looked at. */
	op = valid_op(f, SR_OP_CLOSE);
	op.link = SR_LINK;
	op.fd_generation++;
	expect_status(f, op, SR_STATUS_BAD_CHAIN);
}

static void test_handles_new_ops(void **state)
{
	struct fixture *f = *state;
	static const uint32_t fd_ops[] = {
		SR_OP_READV, SR_OP_FALLOCATE, SR_OP_SEND, SR_OP_RECVMSG,
		SR_OP_ACCEPT, SR_OP_CONNECT, SR_OP_POLL_ADD, SR_OP_CLOSE,
		SR_OP_SHUTDOWN,
	};

	for (size_t i = 0; i < sizeof(fd_ops) / sizeof(fd_ops[0]); i++) {
		struct op_request op = valid_op(f, fd_ops[i]);

		op.fd_generation++;
		expect_status(f, op, SR_STATUS_STALE_HANDLE);
		op.fd_index = 1;
		expect_status(f, op, SR_STATUS_BAD_HANDLE);
	}
}

static void test_iov_slots(void **state)
{
	struct fixture *f = *state;
	struct op_request op;

	op = valid_op(f, SR_OP_WRITEV);
	op.iov[1].index = SLOTS;
	expect_status(f, op, SR_STATUS_BAD_SLOT);
	op = valid_op(f, SR_OP_WRITEV);
	op.iov[1].generation++;
	expect_status(f, op, SR_STATUS_STALE_GENERATION);
	op = valid_op(f, SR_OP_SENDMSG);
	op.iov[1].offset = SLOT_SIZE;
	op.iov[1].length = 1;
	expect_status(f, op, SR_STATUS_OUT_OF_BOUNDS);
	op.iov[1].offset = UINT32_MAX;
	expect_status(f, op, SR_STATUS_OUT_OF_BOUNDS);
	/* The same slot twice in one operation. */
	op = valid_op(f, SR_OP_READV);
	op.iov[1] = op.iov[0];
	op.iov[1].offset = 0;
	op.iov[1].length = 1;
	expect_status(f, op, SR_STATUS_BUFFER_IN_FLIGHT);
	/* A slot in flight, or in the pool. */
	assert_int_equal(slot_table_begin(&f->slots, 1), 0);
	expect_status(f, valid_op(f, SR_OP_RECVMSG), SR_STATUS_BUFFER_IN_FLIGHT);
	assert_int_equal(slot_table_pool(&f->slots, 0), 0);
	expect_status(f, valid_op(f, SR_OP_SEND), SR_STATUS_BUFFER_IN_FLIGHT);
	expect_status(f, valid_op(f, SR_OP_PROVIDE), SR_STATUS_BUFFER_IN_FLIGHT);
}

static void test_provide(void **state)
{
	struct fixture *f = *state;
	struct op_request op;

	/* Whole slots only. */
	op = valid_op(f, SR_OP_PROVIDE);
	op.slot_length = SLOT_SIZE - 1;
	expect_status(f, op, SR_STATUS_OUT_OF_BOUNDS);
	op.slot_offset = 1;
	expect_status(f, op, SR_STATUS_OUT_OF_BOUNDS);
	op = valid_op(f, SR_OP_PROVIDE);
	op.slot_length = 0;
	expect_status(f, op, SR_STATUS_OUT_OF_BOUNDS);
	op = valid_op(f, SR_OP_PROVIDE);
	op.slot_generation++;
	expect_status(f, op, SR_STATUS_STALE_GENERATION);
	/* No room in the pool. */
	f->view.pool_capacity = 1;
	assert_int_equal(slot_table_pool(&f->slots, 3), 0);
	expect_status(f, valid_op(f, SR_OP_PROVIDE), SR_STATUS_QUOTA);
	f->view.pool_capacity = 0;
	expect_status(f, valid_op(f, SR_OP_PROVIDE), SR_STATUS_QUOTA);
}

static void test_fallocate_ranges(void **state)
{
	struct fixture *f = *state;
	struct op_request op = valid_op(f, SR_OP_FALLOCATE);

	op.file_offset = (uint64_t)INT64_MAX + 1;
	expect_status(f, op, SR_STATUS_OUT_OF_BOUNDS);
	op.file_offset = 0;
	op.length = (uint64_t)INT64_MAX + 1;
	expect_status(f, op, SR_STATUS_OUT_OF_BOUNDS);
	op.file_offset = 1;
	op.length = INT64_MAX;
	expect_status(f, op, SR_STATUS_OUT_OF_BOUNDS);
	op.length = UINT64_MAX;
	expect_status(f, op, SR_STATUS_OUT_OF_BOUNDS);
	op.file_offset = 0;
	op.length = INT64_MAX;
	expect_status(f, op, SR_STATUS_OK);
	op = valid_op(f, SR_OP_READV);
	op.file_offset = UINT64_MAX;
	expect_status(f, op, SR_STATUS_OUT_OF_BOUNDS);
}

static void test_connect_address(void **state)
{
	struct fixture *f = *state;
	unsigned char buf[sizeof(struct sockaddr_un) + 8] = { 0 };
	struct op_request op = valid_op(f, SR_OP_CONNECT);
	sa_family_t family;

	op.addr = buf;
#define ADDR(fam, len, want)                                               \
	do {                                                               \
		family = (fam);                                            \
		memcpy(buf, &family, sizeof(family));                     \
		op.addr_len = (len);                                       \
		if (check(f, &op) != (want))                               \
			fail_msg("family %d length %u: %s", (fam),         \
				 (unsigned)(len),                          \
				 sr_strstatus(check(f, &op)));             \
	} while (0)

	ADDR(AF_INET, sizeof(struct sockaddr_in), SR_STATUS_OK);
	ADDR(AF_INET6, sizeof(struct sockaddr_in6), SR_STATUS_OK);
	ADDR(AF_INET, 0, SR_STATUS_BAD_ADDRESS);
	ADDR(AF_INET, 1, SR_STATUS_BAD_ADDRESS);
	ADDR(AF_INET, sizeof(struct sockaddr_in) - 1, SR_STATUS_BAD_ADDRESS);
	ADDR(AF_INET, sizeof(struct sockaddr_in) + 1, SR_STATUS_BAD_ADDRESS);
	ADDR(AF_INET6, sizeof(struct sockaddr_in6) - 1, SR_STATUS_BAD_ADDRESS);
	ADDR(AF_INET6, sizeof(struct sockaddr_in), SR_STATUS_BAD_ADDRESS);
	ADDR(AF_UNIX, sizeof(sa_family_t), SR_STATUS_BAD_ADDRESS);
	ADDR(AF_UNIX, sizeof(struct sockaddr_un) + 1, SR_STATUS_BAD_ADDRESS);
	/* Well-formed, but the daemon would connect as itself. */
	ADDR(AF_UNIX, sizeof(struct sockaddr_un), SR_STATUS_NOT_PERMITTED);
	ADDR(AF_UNIX, sizeof(sa_family_t) + 1, SR_STATUS_NOT_PERMITTED);
	ADDR(AF_UNSPEC, sizeof(struct sockaddr_in), SR_STATUS_BAD_ADDRESS);
	ADDR(AF_PACKET, 20, SR_STATUS_BAD_ADDRESS);
	ADDR(AF_NETLINK, 12, SR_STATUS_BAD_ADDRESS);
	ADDR(0xffff, 16, SR_STATUS_BAD_ADDRESS);
#undef ADDR
	/* The handle before the address. */
	op.fd_generation++;
	expect_status(f, op, SR_STATUS_STALE_HANDLE);
}

static void test_accept_quota(void **state)
{
	struct fixture *f = *state;
	struct op_request op = valid_op(f, SR_OP_ACCEPT);
	uint32_t index;

	/* One of the two entries is free: one single-shot accept. */
	expect_status(f, op, SR_STATUS_OK);
	f->view.chain_fds = 1;
	expect_status(f, op, SR_STATUS_QUOTA);
	f->view.chain_fds = 0;
	assert_int_equal(fd_registry_reserve(&f->fds, &index), 0);
	expect_status(f, op, SR_STATUS_QUOTA);
	/* A multishot accept takes entries as connections come. */
	op.flags = SR_ACCEPT_MULTISHOT;
	expect_status(f, op, SR_STATUS_OK);
}

static void test_record_and_reserve_helpers(void **state)
{
	struct fixture *f = *state;
	struct op_request op = valid_op(f, SR_OP_ACCEPT);

	for (uint32_t i = 0; i < VALIDATOR_OPCODE_COUNT; i++)
		assert_int_equal(validator_takes_record(i),
				 i != SR_OP_CLOSE && i != SR_OP_PROVIDE);
	assert_false(validator_takes_record(VALIDATOR_OPCODE_COUNT));
	assert_false(validator_takes_record(UINT32_MAX));
	assert_true(validator_reserves_fd(&op));
	op.flags = SR_ACCEPT_MULTISHOT;
	assert_false(validator_reserves_fd(&op));
	op = valid_op(f, SR_OP_RECV);
	assert_false(validator_reserves_fd(&op));
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
	struct op_request ops[VALIDATOR_OPCODE_COUNT];
	size_t i;

	for (i = 0; i < VALIDATOR_OPCODE_COUNT; i++)
		ops[i] = valid_op(f, (uint32_t)i);
	/* Every opcode valid where it stands: after a link, except the
	 * daemon's own, which are checked outside one. */
	f->view.follows_link = true;
	f->view.prev_opcode = SR_OP_RECV;
	ops[SR_OP_CLOSE] = ops[SR_OP_PROVIDE] = ops[SR_OP_NOP];
	view_before = f->view;

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
		T(test_kernel_lacks_one_opcode),
		T(test_kernel_lacks_before_not_permitted),
		T(test_kernel_lacks_older_kernel),
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
		T(test_ok_every_opcode),
		T(test_ok_options),
		T(test_quota_daemon_ops),
		T(test_quota_chain_records),
		T(test_bad_flags_new_ops),
		T(test_bad_flags_msg_flags),
		T(test_bad_flags_link),
		T(test_malformed_new_ops),
		T(test_too_many_iov),
		T(test_bad_chain),
		T(test_handles_new_ops),
		T(test_iov_slots),
		T(test_provide),
		T(test_fallocate_ranges),
		T(test_connect_address),
		T(test_accept_quota),
		T(test_record_and_reserve_helpers),
		T(test_validate_is_pure),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
