/* SPDX-License-Identifier: MIT */
/*
 * test_hostile_memfd.c - end-to-end: a client attacks its own arena
 * memfd, the memory the kernel reads and writes for the daemon.
 *
 *  - the seals are SHRINK, GROW and SEAL: ftruncate to any other size,
 *    fallocate or pwrite past the end fail with EPERM, and F_ADD_SEALS
 *    (WRITE, FUTURE_WRITE, anything) fails with EPERM, so the client can
 *    neither pull pages out from under a fixed buffer by shrinking nor
 *    freeze the daemon's writes by sealing;
 *  - what the seals allow, a client does with operations in flight:
 *    punches holes over the whole arena, unmaps it and closes its
 *    descriptor.  The kernel keeps the pages it pinned; the operations
 *    complete with their results, the session ends cleanly, and the
 *    daemon gives every descriptor back.
 *
 * Each case asserts the exact errno or result and that an honest client
 * is served afterwards.  Must never assert what the client sees in a
 * punched arena: that is the client's own damage, not the daemon's.
 */
#include "../lib/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

static void expect_eperm(int r, const char *what)
{
	if (r != -1 || errno != EPERM)
		fail_msg("%s: returned %d (%s), expected EPERM", what, r,
			 r < 0 ? strerror(errno) : "success");
}

static void test_seals_hold(void **state)
{
	struct rc *c = rc_connect(hd.sock);
	int memfd = rc_hello_memfd(c, 8, 4096);
	off_t size = (off_t)c->arena_size;
	struct stat st;
	int seals;

	(void)state;
	seals = fcntl(memfd, F_GET_SEALS);
	assert_true(seals >= 0);
	if ((seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) !=
	    (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL))
		fail_msg("arena seals %#x, expected SHRINK|GROW|SEAL", seals);
	assert_int_equal(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE), 0);

	expect_eperm(ftruncate(memfd, 0), "ftruncate to 0");
	expect_eperm(ftruncate(memfd, size - 4096), "ftruncate one page less");
	expect_eperm(ftruncate(memfd, size + 4096), "ftruncate one page more");
	expect_eperm(ftruncate(memfd, (off_t)1 << 40), "ftruncate to 1 TiB");
	expect_eperm(fallocate(memfd, 0, size, 4096), "fallocate past the end");
	expect_eperm((int)pwrite(memfd, "x", 1, size), "pwrite past the end");
	expect_eperm(fcntl(memfd, F_ADD_SEALS, F_SEAL_WRITE), "seal WRITE");
	expect_eperm(fcntl(memfd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE),
		     "seal FUTURE_WRITE");
	expect_eperm(fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK), "seal again");
	assert_int_equal(fcntl(memfd, F_GET_SEALS), seals);
	assert_int_equal(fstat(memfd, &st), 0);
	assert_int_equal(st.st_size, size);
	/* Inside the arena the client may write what it likes. */
	assert_int_equal(pwrite(memfd, "ok", 2, 0), 2);
	close(memfd);

	/* And the daemon still fills the arena for it. */
	{
		int fd = hd_make_file(&hd, "sealed.dat", 65536, 0x5ea1);
		struct rc_handle h = rc_register_fd(c, fd);
		struct rc_op op;
		struct rc_cqe cqe;

		rc_op_rw(&op, 1, SR_OP_READ, h, 7, c->gen[7], 0, 4096, 4096);
		rc_run(c, &op, 1, &cqe);
		assert_int_equal(cqe.status, SR_STATUS_OK);
		assert_int_equal(cqe.result, 4096);
		assert_true(hd_pattern_ok(rc_slot(c, 7), 4096, 4096, 0x5ea1));
		close(fd);
	}
	rc_close(c);
	hd_check_service(&hd);
}

static void test_punch_unmap_close_in_flight(void **state)
{
	struct rc *c = rc_connect(hd.sock);
	int memfd = rc_hello_memfd(c, 8, 4096);
	int base, pfd[2], fd, r;
	struct rc_handle hp, hf;
	struct rc_op ops[4];
	struct rc_cqe cqes[4];
	uint64_t first;

	(void)state;
	base = hd_settled_fd_count(hd.pid);
	fd = hd_make_file(&hd, "punch.dat", 65536, 0x9c);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	hp = rc_register_fd(c, pfd[0]);
	hf = rc_register_fd(c, fd);
	/* Two pipe reads wait in the kernel on slots 0 and 1. */
	rc_op_rw(&ops[0], 10, SR_OP_READ, hp, 0, c->gen[0], 0, 8, 0);
	rc_op_rw(&ops[1], 11, SR_OP_READ, hp, 1, c->gen[1], 0, 8, 0);
	rc_submit(c, ops, 2);
	assert_int_equal(rc_unregister(c, hp), SR_STATUS_BUSY);

	/* Holes over the whole arena: allowed by these seals. */
	r = fallocate(memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
		      (off_t)c->arena_size);
	if (r < 0)
		fail_msg("punching the arena: %s", strerror(errno));
	/* The kernel still has its pinned pages: the waiting reads finish,
	 * and a file read through a punched slot reports its bytes. */
	rc_op_rw(&ops[2], 12, SR_OP_READ, hf, 2, c->gen[2], 0, 4096, 0);
	rc_run(c, &ops[2], 1, cqes);
	assert_int_equal(cqes[0].status, SR_STATUS_OK);
	assert_int_equal(cqes[0].result, 4096);
	assert_int_equal(write(pfd[1], "abcdefgh", 8), 8);
	rc_wait_cqes(c, 1, cqes, HD_TIMEOUT_MS);
	assert_true(cqes[0].tag == 10 || cqes[0].tag == 11);
	assert_int_equal(cqes[0].status, SR_STATUS_OK);
	assert_int_equal(cqes[0].result, 8);
	first = cqes[0].tag;

	/* Now unmap it and close the descriptor, a read still waiting. */
	assert_int_equal(munmap(c->arena, c->arena_size), 0);
	c->arena = NULL;
	close(memfd);
	rc_op_rw(&ops[3], 13, SR_OP_WRITE, hf, 3, c->gen[3], 0, 4096, 8192);
	rc_run(c, &ops[3], 1, cqes);
	assert_int_equal(cqes[0].status, SR_STATUS_OK);
	assert_int_equal(cqes[0].result, 4096);
	assert_int_equal(write(pfd[1], "ijklmnop", 8), 8);
	rc_wait_cqes(c, 1, cqes, HD_TIMEOUT_MS);
	assert_int_equal(cqes[0].tag, first == 10 ? 11 : 10);
	assert_int_equal(cqes[0].status, SR_STATUS_OK);
	assert_int_equal(cqes[0].result, 8);
	rc_expect_quiet(c, 50);
	rc_close(c);
	close(fd);
	close(pfd[0]);
	close(pfd[1]);
	/* The session's socket and ring (and with it the files) are gone;
	 * base was counted with both. */
	assert_int_equal(hd_wait_fd_count(hd.pid, base - 2, HD_TIMEOUT_MS),
			 base - 2);
	hd_check_service(&hd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seals_hold),
		cmocka_unit_test(test_punch_unmap_close_in_flight),
	};

	return HD_RUN(tests, 60);
}
