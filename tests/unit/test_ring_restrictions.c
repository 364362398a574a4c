/* SPDX-License-Identifier: MIT */
/*
 * test_ring_restrictions.c - the second layer of defence holds without the
 * first: SQEs put straight on a session ring, bypassing the validator,
 * are refused by the kernel when they name a raw descriptor, use an
 * opcode the policy does not allow, or when a registration the daemon
 * never makes after start-up is attempted.
 *
 * Needs io_uring (skips with exit 77 and the reason when it is missing
 * or denied).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ring.h"
#include "saferring.h"

#define BUF_SIZE 4096

static unsigned char buf[BUF_SIZE] __attribute__((aligned(4096)));
static int file_fd = -1;

/* A ring as a session with @allowed_ops would have it, with one fixed
 * buffer and the test file at fixed index 0. */
static void ring_up(struct ring_driver *rd, uint64_t allowed_ops)
{
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct ring_config cfg = {
		.entries = 8,
		.files = 4,
		.alloc_start = 2,
		.bufs = &iov,
		.nbufs = 1,
		.pool_entries = 1,
		.allowed_ops = allowed_ops,
	};

	assert_int_equal(ring_driver_init(rd, &cfg), 0);
	assert_int_equal(ring_driver_set_file(rd, 0, file_fd), 0);
}

/* Submit the one SQE the caller prepared and return its CQE's res. */
static int submit_one(struct ring_driver *rd)
{
	struct io_uring_cqe *cqe;
	int res;

	assert_int_equal(io_uring_submit(&rd->ring), 1);
	assert_int_equal(io_uring_wait_cqe(&rd->ring, &cqe), 0);
	res = cqe->res;
	io_uring_cqe_seen(&rd->ring, cqe);
	return res;
}

static void test_raw_descriptor_refused(void **state)
{
	struct ring_driver rd;
	struct io_uring_sqe *sqe;

	(void)state;
	ring_up(&rd, 1ULL << SR_OP_READ);
	/* A plain read naming the process's own descriptor: no FIXED_FILE. */
	sqe = io_uring_get_sqe(&rd.ring);
	assert_non_null(sqe);
	io_uring_prep_read(sqe, file_fd, buf, 16, 0);
	assert_int_equal(submit_one(&rd), -EACCES);
	/* The same read through the registered file works: the refusal
	 * above is the restriction, not a broken ring. */
	sqe = io_uring_get_sqe(&rd.ring);
	io_uring_prep_read_fixed(sqe, 0, buf, 16, 0, 0);
	sqe->flags |= IOSQE_FIXED_FILE;
	assert_int_equal(submit_one(&rd), 16);
	assert_memory_equal(buf, "restricted ring!", 16);
	ring_driver_exit(&rd);
}

static void test_opcode_outside_policy_refused(void **state)
{
	struct ring_driver rd;
	struct io_uring_sqe *sqe;

	(void)state;
	/* READ only: a WRITE_FIXED on the registered file is refused. */
	ring_up(&rd, 1ULL << SR_OP_READ);
	sqe = io_uring_get_sqe(&rd.ring);
	io_uring_prep_write_fixed(sqe, 0, buf, 16, 0, 0);
	sqe->flags |= IOSQE_FIXED_FILE;
	assert_int_equal(submit_one(&rd), -EACCES);
	/* An opcode no policy allows, with the flag set. */
	sqe = io_uring_get_sqe(&rd.ring);
	io_uring_prep_openat(sqe, AT_FDCWD, "/etc/passwd", O_RDONLY, 0);
	sqe->flags |= IOSQE_FIXED_FILE;
	assert_int_equal(submit_one(&rd), -EACCES);
	ring_driver_exit(&rd);
}

static void test_registration_refused(void **state)
{
	struct ring_driver rd;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };

	(void)state;
	ring_up(&rd, 1ULL << SR_OP_READ);
	/* Buffers are registered once, before the ring is enabled. */
	assert_int_equal(io_uring_register_buffers(&rd.ring, &iov, 1), -EACCES);
	/* Swapping files stays allowed: it is how handles come and go. */
	assert_int_equal(ring_driver_clear_file(&rd, 0), 0);
	ring_driver_exit(&rd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raw_descriptor_refused),
		cmocka_unit_test(test_opcode_outside_policy_refused),
		cmocka_unit_test(test_registration_refused),
	};
	char path[] = "/tmp/saferring-restrict.XXXXXX";
	uint64_t lacks;
	int r = ring_driver_probe(&lacks);

	if (r < 0) {
		printf("SKIP: io_uring unavailable here (%s)\n", strerror(-r));
		return 77;
	}
	file_fd = mkstemp(path);
	if (file_fd < 0 || write(file_fd, "restricted ring!", 16) != 16) {
		perror("test file");
		return 1;
	}
	unlink(path);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	close(file_fd);
	return r;
}
