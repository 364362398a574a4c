/* SPDX-License-Identifier: MIT */
/*
 * test_hostile_handles.c - end-to-end: a client names files and
 * operations that are not its own.
 *
 *  - another session's fd handle (same index and generation, copied from
 *    the other client): BAD_HANDLE while it has no file there, and once it
 *    registers one the same numbers reach only its own file;
 *  - another session's operation, by client tag, in ASYNC_CANCEL and
 *    POLL_REMOVE: -ENOENT, and the victim's operation goes on untouched;
 *  - raw descriptor numbers where a handle belongs: the client's own
 *    descriptors, every descriptor the daemon has open, and the kernel's
 *    half of the file table: BAD_HANDLE, nothing touched.
 *
 * Each case checks the exact status and errno, that the files involved
 * hold exactly what they should, and that an honest client is served
 * afterwards.  Must never let a refusal pass unchecked: every refused
 * operation's completion is matched by tag, status and errno.
 */
#include "../lib/harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILE_SIZE (64 * 1024)

/* Run @op alone; it must be refused with @status / @err. */
static void expect_refused(struct rc *c, struct rc_op *op, uint32_t status,
			   int err)
{
	struct rc_cqe cqe;

	rc_run(c, op, 1, &cqe);
	assert_int_equal(cqe.tag, op->op.tag);
	if (cqe.status != status)
		fail_msg("tag %llu: expected %s, got %s (result %d)",
			 (unsigned long long)cqe.tag, sr_strstatus(status),
			 sr_strstatus(cqe.status), cqe.result);
	assert_int_equal(cqe.result, err);
	assert_false(cqe.has_slot);
}

static void expect_file(int fd, uint32_t seed)
{
	unsigned char *buf = malloc(FILE_SIZE);

	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, FILE_SIZE, 0), FILE_SIZE);
	if (!hd_pattern_ok(buf, FILE_SIZE, 0, seed))
		fail_msg("file of seed %#x was changed", seed);
	free(buf);
}

static void test_other_sessions_handle(void **state)
{
	struct rc *a = rc_open(hd.sock), *b = rc_open(hd.sock);
	int fa = hd_make_file(&hd, "victim.dat", FILE_SIZE, 0xa11ce);
	int fb = hd_make_file(&hd, "attacker.dat", FILE_SIZE, 0xb0b);
	struct rc_handle ha, hb;
	struct rc_op op;
	struct rc_cqe cqe;

	(void)state;
	ha = rc_register_fd(a, fa);
	/* B has registered nothing: A's handle means nothing to it. */
	memset(rc_slot(b, 0), 0x66, b->slot_size);
	rc_op_rw(&op, 1, SR_OP_WRITE, ha, 0, b->gen[0], 0, 4096, 0);
	expect_refused(b, &op, SR_STATUS_BAD_HANDLE, -EBADF);
	rc_op_rw(&op, 2, SR_OP_READ, ha, 0, b->gen[0], 0, 4096, 0);
	expect_refused(b, &op, SR_STATUS_BAD_HANDLE, -EBADF);
	rc_op_fsync(&op, 3, ha, 0);
	expect_refused(b, &op, SR_STATUS_BAD_HANDLE, -EBADF);
	assert_int_equal(rc_unregister(b, ha), SR_STATUS_BAD_HANDLE);
	expect_file(fa, 0xa11ce);

	/* B registers its own file: the same numbers, B's file only. */
	hb = rc_register_fd(b, fb);
	assert_int_equal(hb.index, ha.index);
	assert_int_equal(hb.generation, ha.generation);
	rc_op_rw(&op, 4, SR_OP_WRITE, ha, 0, b->gen[0], 0, 4096, 0);
	rc_run(b, &op, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	assert_int_equal(cqe.result, 4096);
	expect_file(fa, 0xa11ce);
	{
		unsigned char buf[4096];

		assert_int_equal(pread(fb, buf, sizeof(buf), 0), 4096);
		for (size_t i = 0; i < sizeof(buf); i++)
			if (buf[i] != 0x66)
				fail_msg("B's write did not land in B's file");
	}
	/* A's handle still serves A's file, A's slot holds A's data. */
	rc_op_rw(&op, 5, SR_OP_READ, ha, 0, a->gen[0], 0, 4096, 8192);
	rc_run(a, &op, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	assert_int_equal(cqe.result, 4096);
	assert_true(hd_pattern_ok(rc_slot(a, 0), 4096, 8192, 0xa11ce));
	/* B unregistering "its" handle leaves A's alone. */
	assert_int_equal(rc_unregister(b, hb), SR_STATUS_OK);
	rc_op_rw(&op, 6, SR_OP_READ, ha, 1, a->gen[1], 0, 4096, 0);
	rc_run(a, &op, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	assert_true(hd_pattern_ok(rc_slot(a, 1), 4096, 0, 0xa11ce));

	rc_close(a);
	rc_close(b);
	close(fa);
	close(fb);
	hd_check_service(&hd);
}

static void test_other_sessions_tag(void **state)
{
	struct rc *a = rc_open(hd.sock), *b = rc_open(hd.sock);
	struct rc_handle hp;
	struct rc_op op;
	struct rc_cqe cqe;
	int pfd[2];

	(void)state;
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	hp = rc_register_fd(a, pfd[0]);
	rc_op_rw(&op, 77, SR_OP_READ, hp, 2, a->gen[2], 0, 64, 0);
	rc_submit(a, &op, 1);
	/* In flight: its handle is busy. */
	assert_int_equal(rc_unregister(a, hp), SR_STATUS_BUSY);

	/* B aims at tag 77: nothing of its own has it. */
	rc_op_nop(&op, 1);
	op.op.opcode = SR_OP_ASYNC_CANCEL;
	op.op.has_target = true;
	op.op.target = 77;
	rc_run(b, &op, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	assert_int_equal(cqe.result, -ENOENT);
	rc_op_nop(&op, 2);
	op.op.opcode = SR_OP_POLL_REMOVE;
	op.op.has_target = true;
	op.op.target = 77;
	rc_run(b, &op, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	assert_int_equal(cqe.result, -ENOENT);
	/* And B's own tag 77 does not confuse A's either. */
	rc_op_nop(&op, 77);
	rc_run(b, &op, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_OK);

	rc_expect_quiet(a, 100);
	assert_int_equal(write(pfd[1], "still mine", 10), 10);
	rc_wait_cqes(a, 1, &cqe, HD_TIMEOUT_MS);
	assert_int_equal(cqe.tag, 77);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	assert_int_equal(cqe.result, 10);
	assert_memory_equal(rc_slot(a, 2), "still mine", 10);

	rc_close(a);
	rc_close(b);
	close(pfd[0]);
	close(pfd[1]);
	hd_check_service(&hd);
}

/* Descriptor numbers open in @pid, up to @max of them. */
static size_t open_fds(pid_t pid, uint32_t *out, size_t max)
{
	char path[64];
	struct dirent *e;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)) && n < max)
		if (e->d_name[0] != '.')
			out[n++] = (uint32_t)strtoul(e->d_name, NULL, 10);
	closedir(d);
	return n;
}

static void test_raw_descriptors(void **state)
{
	struct rc *c = rc_open(hd.sock);
	int fd = hd_make_file(&hd, "raw.dat", FILE_SIZE, 0x4a4);
	uint32_t nums[256 + 8];
	size_t n;
	struct rc_handle h;
	struct rc_op op;
	uint64_t tag = 100;

	(void)state;
	/* Every descriptor the daemon holds, and our own. */
	n = open_fds(hd.pid, nums, 256);
	assert_true(n >= 3);
	nums[n++] = (uint32_t)fd;
	nums[n++] = (uint32_t)c->sock;
	nums[n++] = 0;
	nums[n++] = 1;
	nums[n++] = 2;
	/* Nothing registered: none of them is a handle, at any generation. */
	for (size_t i = 0; i < n; i++) {
		for (uint32_t gen = 0; gen < 3; gen++) {
			h = (struct rc_handle){ nums[i], gen };
			rc_op_rw(&op, tag++, i % 2 ? SR_OP_WRITE : SR_OP_READ, h,
				 0, c->gen[0], 0, 4096, 0);
			expect_refused(c, &op, SR_STATUS_BAD_HANDLE, -EBADF);
		}
	}
	/* The kernel's half of the table (multishot accepts), unfilled. */
	for (uint32_t i = c->max_fds; i < 2 * c->max_fds; i += 7) {
		h = (struct rc_handle){ i, 1 };
		rc_op_fsync(&op, tag++, h, 0);
		expect_refused(c, &op, SR_STATUS_BAD_HANDLE, -EBADF);
	}
	/* With one file registered (index 0), only (0, its generation)
	 * reaches it; the raw numbers stay refused. */
	h = rc_register_fd(c, fd);
	assert_int_equal(h.index, 0);
	for (size_t i = 0; i < n; i++) {
		struct rc_handle raw = { nums[i], h.generation };

		if (raw.index == h.index)
			raw.generation = h.generation + 1;
		rc_op_rw(&op, tag++, SR_OP_WRITE, raw, 0, c->gen[0], 0, 4096, 0);
		expect_refused(c, &op, raw.index == h.index ?
			       SR_STATUS_STALE_HANDLE : SR_STATUS_BAD_HANDLE,
			       -EBADF);
	}
	expect_file(fd, 0x4a4);
	rc_close(c);
	close(fd);
	hd_check_service(&hd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_other_sessions_handle),
		cmocka_unit_test(test_other_sessions_tag),
		cmocka_unit_test(test_raw_descriptors),
	};

	return HD_RUN(tests, 60);
}
