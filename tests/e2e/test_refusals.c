/* SPDX-License-Identifier: MIT */
/*
 * test_refusals.c - end-to-end: every refusal PROTOCOL.md promises, sent
 * by a raw protocol client to a real saferringd.  Each case checks the
 * exact status, the matching negative errno in the result, that nothing
 * was done (slot memory, file content and slot generation unchanged, no
 * stray completion, descriptors closed), and that an honest client is
 * still served afterwards.
 */
#include "../lib/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_SIZE (256 * 1024)
#define MARK 0xa5

/* A raw session with one registered file holding a known pattern. */
struct fixture {
	struct rc *c;
	int fd;
	struct rc_handle h;
	unsigned char *arena_copy;
	unsigned char *file_copy;
};

static void fx_open(struct fixture *f, const char *name)
{
	f->c = rc_open(hd.sock);
	f->fd = hd_make_file(&hd, name, FILE_SIZE, 0x1234);
	f->h = rc_register_fd(f->c, f->fd);
	memset(f->c->arena, MARK, f->c->arena_size);
	f->arena_copy = malloc(f->c->arena_size);
	f->file_copy = malloc(FILE_SIZE);
	assert_non_null(f->arena_copy);
	assert_non_null(f->file_copy);
}

static void fx_close(struct fixture *f)
{
	rc_close(f->c);
	close(f->fd);
	free(f->arena_copy);
	free(f->file_copy);
}

static void fx_snapshot(struct fixture *f)
{
	memcpy(f->arena_copy, f->c->arena, f->c->arena_size);
	assert_int_equal(pread(f->fd, f->file_copy, FILE_SIZE, 0), FILE_SIZE);
}

static void fx_unchanged(struct fixture *f)
{
	unsigned char *now = malloc(FILE_SIZE);
	struct stat st;

	assert_non_null(now);
	if (memcmp(f->arena_copy, f->c->arena, f->c->arena_size) != 0)
		fail_msg("a refused operation changed the arena");
	assert_int_equal(fstat(f->fd, &st), 0);
	assert_int_equal(st.st_size, FILE_SIZE);
	assert_int_equal(pread(f->fd, now, FILE_SIZE, 0), FILE_SIZE);
	if (memcmp(f->file_copy, now, FILE_SIZE) != 0)
		fail_msg("a refused operation changed the file");
	free(now);
}

/* Submit @op alone; it must be refused with @status and @err and leave
 * arena, file and generations alone. */
static void expect_refused(struct fixture *f, struct rc_op *op,
			   uint32_t status, int err)
{
	uint32_t *gens = malloc(f->c->slot_count * sizeof(*gens));
	struct rc_cqe cqe;

	assert_non_null(gens);
	memcpy(gens, f->c->gen, f->c->slot_count * sizeof(*gens));
	fx_snapshot(f);
	rc_run(f->c, op, 1, &cqe);
	assert_int_equal(cqe.tag, op->op.tag);
	if (cqe.status != status)
		fail_msg("tag %llu: expected %s, got %s (result %d)",
			 (unsigned long long)cqe.tag, sr_strstatus(status),
			 sr_strstatus(cqe.status), cqe.result);
	assert_int_equal(cqe.result, err);
	assert_false(cqe.has_slot);
	/* Let anything the kernel might have been given finish first: a NOP
	 * completes after it on this session's ring. */
	struct rc_op nop;
	rc_op_nop(&nop, 0xfeed);
	rc_run(f->c, &nop, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	fx_unchanged(f);
	assert_memory_equal(gens, f->c->gen, f->c->slot_count * sizeof(*gens));
	free(gens);
}

/* The slot still answers to the generation the client holds. */
static void expect_slot_usable(struct fixture *f, uint32_t slot)
{
	struct rc_op op;
	struct rc_cqe cqe;
	uint32_t before = f->c->gen[slot];

	rc_op_rw(&op, 0x5107, SR_OP_READ, f->h, slot, before, 0, 4096, 8192);
	rc_run(f->c, &op, 1, &cqe);
	if (cqe.status != SR_STATUS_OK)
		fail_msg("slot %u at generation %u refused: %s", slot, before,
			 sr_strstatus(cqe.status));
	assert_int_equal(cqe.result, 4096);
	assert_true(cqe.has_slot);
	assert_int_equal(cqe.slot_index, slot);
	assert_int_not_equal(cqe.slot_generation, before);
	assert_true(hd_pattern_ok(rc_slot(f->c, slot), 4096, 8192, 0x1234));
	memset(rc_slot(f->c, slot), MARK, f->c->slot_size);
}

/* EOF on a pipe read end proves every copy of the write end is closed. */
static void expect_pipe_closed(int rd)
{
	struct pollfd pfd = { .fd = rd, .events = POLLIN };
	char b;

	if (poll(&pfd, 1, HD_TIMEOUT_MS) != 1)
		fail_msg("the daemon still holds a descriptor it should have closed");
	assert_int_equal(read(rd, &b, 1), 0);
}

static void test_stale_generation(void **state)
{
	struct fixture f;
	struct rc_op op;
	struct rc_cqe cqe;
	uint32_t g0;

	(void)state;
	fx_open(&f, "stale.dat");
	g0 = f.c->gen[0];
	rc_op_rw(&op, 1, SR_OP_READ, f.h, 0, g0, 0, 4096, 0);
	rc_run(f.c, &op, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	assert_int_equal(cqe.result, 4096);
	assert_true(cqe.has_slot);
	assert_int_equal(cqe.slot_index, 0);
	/* Bumped when taken and again when handed back. */
	assert_int_not_equal(cqe.slot_generation, g0);
	assert_int_not_equal(cqe.slot_generation, g0 + 1);
	memset(rc_slot(f.c, 0), MARK, f.c->slot_size);

	/* The generation used before, and the one it had in flight. */
	rc_op_rw(&op, 2, SR_OP_READ, f.h, 0, g0, 0, 4096, 0);
	expect_refused(&f, &op, SR_STATUS_STALE_GENERATION, -ESTALE);
	rc_op_rw(&op, 3, SR_OP_WRITE, f.h, 0, g0 + 1, 0, 4096, 0);
	expect_refused(&f, &op, SR_STATUS_STALE_GENERATION, -ESTALE);
	/* Generation 0 is never live. */
	rc_op_rw(&op, 4, SR_OP_READ, f.h, 1, 0, 0, 4096, 0);
	expect_refused(&f, &op, SR_STATUS_STALE_GENERATION, -ESTALE);
	rc_op_rw(&op, 5, SR_OP_WRITE, f.h, 1, f.c->gen[1] + 7, 0, 4096, 0);
	expect_refused(&f, &op, SR_STATUS_STALE_GENERATION, -ESTALE);
	expect_slot_usable(&f, 0);
	expect_slot_usable(&f, 1);
	fx_close(&f);
	hd_check_service(&hd);
}

static void test_in_flight_same_batch(void **state)
{
	struct fixture f;
	struct rc_op ops[3];
	struct rc_cqe cqes[3];
	const struct rc_cqe *a, *b, *n;
	uint32_t g = 0;

	(void)state;
	fx_open(&f, "inflight1.dat");
	g = f.c->gen[2];
	rc_op_rw(&ops[0], 10, SR_OP_READ, f.h, 2, g, 0, 4096, 0);
	rc_op_rw(&ops[1], 11, SR_OP_READ, f.h, 2, g, 4096, 4096, 4096);
	rc_op_nop(&ops[2], 12);
	rc_run(f.c, ops, 3, cqes);
	a = rc_find_cqe(cqes, 3, 10);
	b = rc_find_cqe(cqes, 3, 11);
	n = rc_find_cqe(cqes, 3, 12);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(n);
	assert_int_equal(a->status, SR_STATUS_OK);
	assert_int_equal(a->result, 4096);
	assert_true(a->has_slot);
	assert_int_equal(b->status, SR_STATUS_BUFFER_IN_FLIGHT);
	assert_int_equal(b->result, -EBUSY);
	assert_false(b->has_slot);
	assert_int_equal(n->status, SR_STATUS_OK);
	/* Only the first read landed: bytes 4096.. of the slot are as before. */
	unsigned char *p = rc_slot(f.c, 2);
	assert_true(hd_pattern_ok(p, 4096, 0, 0x1234));
	for (uint32_t i = 4096; i < f.c->slot_size; i++)
		if (p[i] != MARK)
			fail_msg("slot byte %u written by the refused read", i);
	memset(p, MARK, f.c->slot_size);
	expect_slot_usable(&f, 2);
	fx_close(&f);
	hd_check_service(&hd);
}

/* A read on an empty pipe holds its slot in flight until data comes. */
static void test_in_flight_across_batches(void **state)
{
	struct fixture f;
	struct rc_op op;
	struct rc_cqe cqe;
	struct rc_handle hp;
	int pfd[2];
	uint32_t g;

	(void)state;
	fx_open(&f, "inflight2.dat");
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	hp = rc_register_fd(f.c, pfd[0]);
	g = f.c->gen[3];
	rc_op_rw(&op, 20, SR_OP_READ, hp, 3, g, 0, 100, 0);
	rc_submit(f.c, &op, 1);
	rc_expect_quiet(f.c, 100);

	/* Whatever generation the client names, the slot is busy. */
	rc_op_rw(&op, 21, SR_OP_READ, f.h, 3, g, 0, 4096, 0);
	expect_refused(&f, &op, SR_STATUS_BUFFER_IN_FLIGHT, -EBUSY);
	rc_op_rw(&op, 22, SR_OP_WRITE, f.h, 3, g + 1, 0, 4096, 0);
	expect_refused(&f, &op, SR_STATUS_BUFFER_IN_FLIGHT, -EBUSY);
	rc_op_rw(&op, 23, SR_OP_WRITE, f.h, 3, 12345, 0, 4096, 0);
	expect_refused(&f, &op, SR_STATUS_BUFFER_IN_FLIGHT, -EBUSY);

	/* The pipe's handle is busy too: unregister is refused, nothing
	 * cancelled. */
	assert_int_equal(rc_unregister(f.c, hp), SR_STATUS_BUSY);
	rc_expect_quiet(f.c, 50);

	assert_int_equal(write(pfd[1], "pipe data", 9), 9);
	rc_wait_cqes(f.c, 1, &cqe, HD_TIMEOUT_MS);
	assert_int_equal(cqe.tag, 20);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	assert_int_equal(cqe.result, 9);
	assert_true(cqe.has_slot);
	assert_int_equal(cqe.slot_index, 3);
	assert_memory_equal(rc_slot(f.c, 3), "pipe data", 9);
	assert_int_equal(((unsigned char *)rc_slot(f.c, 3))[9], MARK);
	memset(rc_slot(f.c, 3), MARK, f.c->slot_size);
	expect_slot_usable(&f, 3);
	/* Now it goes; and the daemon drops its reference to the pipe. */
	assert_int_equal(rc_unregister(f.c, hp), SR_STATUS_OK);
	close(pfd[0]);
	close(pfd[1]);
	fx_close(&f);
	hd_check_service(&hd);
}

static void test_bad_slot(void **state)
{
	struct fixture f;
	struct rc_op op;

	(void)state;
	fx_open(&f, "badslot.dat");
	rc_op_rw(&op, 30, SR_OP_READ, f.h, f.c->slot_count, f.c->slot_generation,
		 0, 4096, 0);
	expect_refused(&f, &op, SR_STATUS_BAD_SLOT, -ENXIO);
	rc_op_rw(&op, 31, SR_OP_WRITE, f.h, UINT32_MAX, f.c->slot_generation, 0,
		 1, 0);
	expect_refused(&f, &op, SR_STATUS_BAD_SLOT, -ENXIO);
	rc_op_rw(&op, 32, SR_OP_READ, f.h, 1U << 31, 1, 0, 1, 0);
	expect_refused(&f, &op, SR_STATUS_BAD_SLOT, -ENXIO);
	/* The last slot is fine. */
	expect_slot_usable(&f, f.c->slot_count - 1);
	fx_close(&f);
	hd_check_service(&hd);
}

static void test_out_of_bounds(void **state)
{
	struct fixture f;
	struct rc_op op;
	struct rc_cqe cqe;
	uint32_t ss;
	uint32_t offs[6], lens[6];

	(void)state;
	fx_open(&f, "oob.dat");
	ss = f.c->slot_size;
	offs[0] = ss + 1;       lens[0] = 0;           /* offset past end */
	offs[1] = ss;           lens[1] = 1;           /* one byte past */
	offs[2] = 0;            lens[2] = ss + 1;      /* length past end */
	offs[3] = 1;            lens[3] = UINT32_MAX;  /* sum wraps */
	offs[4] = UINT32_MAX;   lens[4] = 1;           /* sum wraps to 0 */
	offs[5] = UINT32_MAX;   lens[5] = UINT32_MAX;
	for (int i = 0; i < 6; i++) {
		uint32_t opcode = i % 2 ? SR_OP_WRITE : SR_OP_READ;

		rc_op_rw(&op, 40 + i, opcode, f.h, 4, f.c->gen[4], offs[i], lens[i],
			 0);
		expect_refused(&f, &op, SR_STATUS_OUT_OF_BOUNDS, -ERANGE);
	}
	/* The edges themselves are allowed. */
	rc_op_rw(&op, 50, SR_OP_READ, f.h, 4, f.c->gen[4], ss - 1, 1, 0);
	rc_run(f.c, &op, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	assert_int_equal(cqe.result, 1);
	rc_op_rw(&op, 51, SR_OP_READ, f.h, 4, f.c->gen[4], 0, ss, 0);
	rc_run(f.c, &op, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	assert_int_equal(cqe.result, (int)ss);
	assert_true(hd_pattern_ok(rc_slot(f.c, 4), ss, 0, 0x1234));
	rc_op_rw(&op, 52, SR_OP_READ, f.h, 4, f.c->gen[4], ss, 0, 0);
	rc_run(f.c, &op, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	assert_int_equal(cqe.result, 0);
	memset(rc_slot(f.c, 4), MARK, ss);
	expect_slot_usable(&f, 4);
	fx_close(&f);
	hd_check_service(&hd);
}

static void test_file_offset_too_large(void **state)
{
	struct fixture f;
	struct rc_op op;

	(void)state;
	fx_open(&f, "foff.dat");
	rc_op_rw(&op, 60, SR_OP_READ, f.h, 5, f.c->gen[5], 0, 4096,
		 (uint64_t)INT64_MAX + 1);
	expect_refused(&f, &op, SR_STATUS_OUT_OF_BOUNDS, -ERANGE);
	rc_op_rw(&op, 61, SR_OP_WRITE, f.h, 5, f.c->gen[5], 0, 4096, UINT64_MAX);
	expect_refused(&f, &op, SR_STATUS_OUT_OF_BOUNDS, -ERANGE);
	expect_slot_usable(&f, 5);
	fx_close(&f);
	hd_check_service(&hd);
}

static void test_bad_handle(void **state)
{
	struct fixture f;
	struct rc_op op;
	struct rc_handle h;

	(void)state;
	fx_open(&f, "badh.dat");
	/* Never registered, past max_fds, huge. */
	h = (struct rc_handle){ f.h.index + 1, 1 };
	rc_op_rw(&op, 70, SR_OP_READ, h, 6, f.c->gen[6], 0, 4096, 0);
	expect_refused(&f, &op, SR_STATUS_BAD_HANDLE, -EBADF);
	h = (struct rc_handle){ f.c->max_fds, 1 };
	rc_op_rw(&op, 71, SR_OP_WRITE, h, 6, f.c->gen[6], 0, 4096, 0);
	expect_refused(&f, &op, SR_STATUS_BAD_HANDLE, -EBADF);
	h = (struct rc_handle){ UINT32_MAX, f.h.generation };
	rc_op_fsync(&op, 72, h, 0);
	expect_refused(&f, &op, SR_STATUS_BAD_HANDLE, -EBADF);
	/* A raw descriptor number where a handle belongs: our fd is not a
	 * registered index... */
	h = (struct rc_handle){ (uint32_t)f.fd, 0 };
	if (h.index == f.h.index)
		h.index++;
	rc_op_rw(&op, 73, SR_OP_READ, h, 6, f.c->gen[6], 0, 4096, 0);
	expect_refused(&f, &op, SR_STATUS_BAD_HANDLE, -EBADF);
	/* ...and at a live index, generation 0 is never current. */
	h = (struct rc_handle){ f.h.index, 0 };
	rc_op_rw(&op, 74, SR_OP_WRITE, h, 6, f.c->gen[6], 0, 4096, 0);
	expect_refused(&f, &op, SR_STATUS_STALE_HANDLE, -EBADF);
	/* UnregisterFd of unknown handles is an Error reply. */
	assert_int_equal(rc_unregister(f.c, (struct rc_handle){ 33, 1 }),
			 SR_STATUS_BAD_HANDLE);
	assert_int_equal(rc_unregister(f.c, (struct rc_handle){ UINT32_MAX, 1 }),
			 SR_STATUS_BAD_HANDLE);
	assert_int_equal(rc_unregister(f.c, (struct rc_handle){ f.h.index, 0 }),
			 SR_STATUS_STALE_HANDLE);
	expect_slot_usable(&f, 6);
	fx_close(&f);
	hd_check_service(&hd);
}

static void test_stale_handle(void **state)
{
	struct fixture f;
	struct rc_op op;
	struct rc_handle old, fresh;
	int fd2;
	unsigned char buf[4096];

	(void)state;
	fx_open(&f, "staleh.dat");
	old = f.h;
	assert_int_equal(rc_unregister(f.c, old), SR_STATUS_OK);
	/* Gone: not live at all. */
	rc_op_rw(&op, 80, SR_OP_READ, old, 7, f.c->gen[7], 0, 4096, 0);
	expect_refused(&f, &op, SR_STATUS_BAD_HANDLE, -EBADF);
	assert_int_equal(rc_unregister(f.c, old), SR_STATUS_BAD_HANDLE);

	/* The index is reused for another file: the old handle is stale and
	 * must never reach the new file. */
	fd2 = hd_make_file(&hd, "staleh2.dat", 8192, 0x77);
	fresh = rc_register_fd(f.c, fd2);
	assert_int_equal(fresh.index, old.index);
	assert_int_not_equal(fresh.generation, old.generation);
	memset(rc_slot(f.c, 7), 0, f.c->slot_size);
	memcpy(f.arena_copy, f.c->arena, f.c->arena_size);
	rc_op_rw(&op, 81, SR_OP_WRITE, old, 7, f.c->gen[7], 0, 4096, 0);
	{
		struct rc_cqe cqe;
		rc_run(f.c, &op, 1, &cqe);
		assert_int_equal(cqe.status, SR_STATUS_STALE_HANDLE);
		assert_int_equal(cqe.result, -EBADF);
		assert_false(cqe.has_slot);
	}
	rc_op_fsync(&op, 82, old, 0);
	{
		struct rc_cqe cqe;
		rc_run(f.c, &op, 1, &cqe);
		assert_int_equal(cqe.status, SR_STATUS_STALE_HANDLE);
		assert_int_equal(cqe.result, -EBADF);
	}
	assert_int_equal(rc_unregister(f.c, old), SR_STATUS_STALE_HANDLE);
	assert_int_equal(pread(fd2, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	assert_true(hd_pattern_ok(buf, sizeof(buf), 0, 0x77));
	/* The new handle serves the new file. */
	f.h = fresh;
	{
		struct rc_cqe cqe;
		rc_op_rw(&op, 83, SR_OP_READ, fresh, 7, f.c->gen[7], 0, 4096, 0);
		rc_run(f.c, &op, 1, &cqe);
		assert_int_equal(cqe.status, SR_STATUS_OK);
		assert_int_equal(cqe.result, 4096);
		assert_true(hd_pattern_ok(rc_slot(f.c, 7), 4096, 0, 0x77));
	}
	close(fd2);
	fx_close(&f);
	hd_check_service(&hd);
}

static void test_unknown_opcode(void **state)
{
	struct fixture f;
	struct rc_op op, many[100];
	struct rc_cqe cqes[100];
	const uint32_t codes[] = { 63, 64, 255, 1U << 31, UINT32_MAX };

	(void)state;
	fx_open(&f, "unknown.dat");
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		rc_op_nop(&op, 90 + i);
		op.op.opcode = codes[i];
		expect_refused(&f, &op, SR_STATUS_UNKNOWN_OP, -EOPNOTSUPP);
		/* Even dressed as a read. */
		rc_op_rw(&op, 190 + i, codes[i], f.h, 8, f.c->gen[8], 0, 4096, 0);
		expect_refused(&f, &op, SR_STATUS_UNKNOWN_OP, -EOPNOTSUPP);
	}
	/* Refused operations are not refused requests: 100 of them do not
	 * end the session. */
	for (int i = 0; i < 100; i++) {
		rc_op_nop(&many[i], 1000 + i);
		many[i].op.opcode = 99;
	}
	rc_run(f.c, many, 100, cqes);
	for (int i = 0; i < 100; i++)
		assert_int_equal(cqes[i].status, SR_STATUS_UNKNOWN_OP);
	expect_slot_usable(&f, 8);
	fx_close(&f);
	hd_check_service(&hd);
}

static void test_bad_flags(void **state)
{
	struct fixture f;
	struct rc_op op;

	(void)state;
	fx_open(&f, "flags.dat");
	rc_op_rw(&op, 100, SR_OP_READ, f.h, 9, f.c->gen[9], 0, 4096, 0);
	op.op.has_flags = true;
	op.op.flags = 1;
	expect_refused(&f, &op, SR_STATUS_BAD_FLAGS, -EINVAL);
	rc_op_rw(&op, 101, SR_OP_WRITE, f.h, 9, f.c->gen[9], 0, 4096, 0);
	op.op.has_flags = true;
	op.op.flags = 0x80000000;
	expect_refused(&f, &op, SR_STATUS_BAD_FLAGS, -EINVAL);
	rc_op_nop(&op, 102);
	op.op.has_flags = true;
	op.op.flags = 1;
	expect_refused(&f, &op, SR_STATUS_BAD_FLAGS, -EINVAL);
	rc_op_fsync(&op, 103, f.h, 2);
	expect_refused(&f, &op, SR_STATUS_BAD_FLAGS, -EINVAL);
	rc_op_fsync(&op, 104, f.h, 3);
	expect_refused(&f, &op, SR_STATUS_BAD_FLAGS, -EINVAL);
	/* Explicit flags = 0 and DATASYNC are fine. */
	{
		struct rc_cqe cqe;
		rc_op_rw(&op, 105, SR_OP_READ, f.h, 9, f.c->gen[9], 0, 4096, 0);
		op.op.has_flags = true;
		op.op.flags = 0;
		rc_run(f.c, &op, 1, &cqe);
		assert_int_equal(cqe.status, SR_STATUS_OK);
		rc_op_fsync(&op, 106, f.h, 1);
		rc_run(f.c, &op, 1, &cqe);
		assert_int_equal(cqe.status, SR_STATUS_OK);
		assert_int_equal(cqe.result, 0);
	}
	memset(rc_slot(f.c, 9), MARK, f.c->slot_size);
	expect_slot_usable(&f, 9);
	fx_close(&f);
	hd_check_service(&hd);
}

static void test_malformed_ops(void **state)
{
	struct fixture f;
	struct rc_op op;
	uint32_t g;

	(void)state;
	fx_open(&f, "malformed.dat");
	g = f.c->gen[10];
	/* Needed fields missing. */
	rc_op_rw(&op, 110, SR_OP_READ, f.h, 10, g, 0, 4096, 0);
	op.op.slot = NULL;
	expect_refused(&f, &op, SR_STATUS_MALFORMED, -EINVAL);
	rc_op_rw(&op, 111, SR_OP_WRITE, f.h, 10, g, 0, 4096, 0);
	op.op.slot = NULL;
	expect_refused(&f, &op, SR_STATUS_MALFORMED, -EINVAL);
	rc_op_rw(&op, 112, SR_OP_READ, f.h, 10, g, 0, 4096, 0);
	op.op.fd = NULL;
	expect_refused(&f, &op, SR_STATUS_MALFORMED, -EINVAL);
	rc_op_rw(&op, 113, SR_OP_WRITE, f.h, 10, g, 0, 4096, 0);
	op.op.has_file_offset = false;
	expect_refused(&f, &op, SR_STATUS_MALFORMED, -EINVAL);
	rc_op_fsync(&op, 114, f.h, 0);
	op.op.fd = NULL;
	expect_refused(&f, &op, SR_STATUS_MALFORMED, -EINVAL);
	/* Fields the opcode does not take. */
	rc_op_rw(&op, 115, SR_OP_FSYNC, f.h, 10, g, 0, 4096, 0);
	expect_refused(&f, &op, SR_STATUS_MALFORMED, -EINVAL);
	rc_op_fsync(&op, 116, f.h, 0);
	op.op.has_file_offset = true;
	expect_refused(&f, &op, SR_STATUS_MALFORMED, -EINVAL);
	rc_op_rw(&op, 117, SR_OP_NOP, f.h, 10, g, 0, 4096, 0);
	expect_refused(&f, &op, SR_STATUS_MALFORMED, -EINVAL);
	rc_op_nop(&op, 118);
	op.op.fd = &op.fd;
	op.fd.index = f.h.index;
	op.fd.generation = f.h.generation;
	expect_refused(&f, &op, SR_STATUS_MALFORMED, -EINVAL);
	expect_slot_usable(&f, 10);
	fx_close(&f);
	hd_check_service(&hd);
}

static void send_nop_expect_ok(struct rc *c, uint64_t tag)
{
	struct rc_op op;
	struct rc_cqe cqe;

	rc_op_nop(&op, tag);
	rc_run(c, &op, 1, &cqe);
	assert_int_equal(cqe.tag, tag);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	assert_int_equal(cqe.result, 0);
}

static void test_undecodable(void **state)
{
	struct rc *c = rc_open(hd.sock);
	/* A tag with wire type 7; a length past the end; a truncated varint;
	 * a Submit whose Op lacks its required fields. */
	static const unsigned char g1[] = { 0xff, 0xff, 0xff, 0xff };
	static const unsigned char g2[] = { 0x2a, 0x7f, 0x01 };
	static const unsigned char g3[] = { 0x08, 0x80 };
	static const unsigned char g4[] = { 0x2a, 0x02, 0x0a, 0x00 };
	const struct {
		const unsigned char *b;
		size_t len;
	} g[] = { { g1, sizeof(g1) }, { g2, sizeof(g2) }, { g3, sizeof(g3) },
		  { g4, sizeof(g4) } };

	(void)state;
	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		assert_int_equal(rc_send_raw(c, g[i].b, g[i].len, NULL, 0), 0);
		rc_expect_error(c, false, 0, SR_STATUS_MALFORMED);
	}
	/* A Request with no body decodes but is still malformed. */
	{
		static const unsigned char nobody[] = { 0x08, 0x05 };
		assert_int_equal(rc_send_raw(c, nobody, sizeof(nobody), NULL, 0), 0);
		rc_expect_error(c, true, 5, SR_STATUS_MALFORMED);
	}
	/* The session is still there. */
	send_nop_expect_ok(c, 1);
	rc_close(c);
	hd_check_service(&hd);
}

static void test_oversized_datagram(void **state)
{
	struct rc *c = rc_open(hd.sock);
	size_t len = WIRE_MAX_DATAGRAM + 1;
	unsigned char *big = calloc(1, 2 * WIRE_MAX_DATAGRAM);
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__Submit submit = SAFERRING__SUBMIT__INIT;
	Saferring__Op op = SAFERRING__OP__INIT, *ops[1] = { &op };

	(void)state;
	assert_non_null(big);
	/* A valid Submit of one NOP padded with an unknown field to just over
	 * 64 KiB: only its size is wrong, and nothing may run. */
	op.tag = 77;
	submit.n_ops = 1;
	submit.ops = ops;
	req.body_case = SAFERRING__REQUEST__BODY_SUBMIT;
	req.submit = &submit;
	size_t n = saferring__request__pack(&req, big);
	/* field 100, wire type 2, length so that the total is len */
	size_t pad = len - n - 2 - 3;
	big[n] = 0xa2;
	big[n + 1] = 0x06;
	big[n + 2] = (unsigned char)(0x80 | (pad & 0x7f));
	big[n + 3] = (unsigned char)(0x80 | ((pad >> 7) & 0x7f));
	big[n + 4] = (unsigned char)(pad >> 14);
	assert_int_equal(rc_send_raw(c, big, len, NULL, 0), 0);
	rc_expect_error(c, false, 0, SR_STATUS_TOO_LARGE);
	/* And much larger. */
	assert_int_equal(rc_send_raw(c, big, 2 * WIRE_MAX_DATAGRAM, NULL, 0), 0);
	rc_expect_error(c, false, 0, SR_STATUS_TOO_LARGE);
	rc_expect_quiet(c, 100);
	/* The same request at a legal size runs. */
	pad = WIRE_MAX_DATAGRAM - n - 2 - 3;
	big[n + 2] = (unsigned char)(0x80 | (pad & 0x7f));
	big[n + 3] = (unsigned char)(0x80 | ((pad >> 7) & 0x7f));
	big[n + 4] = (unsigned char)(pad >> 14);
	assert_int_equal(rc_send_raw(c, big, WIRE_MAX_DATAGRAM, NULL, 0), 0);
	{
		struct rc_cqe cqe;
		rc_wait_cqes(c, 1, &cqe, HD_TIMEOUT_MS);
		assert_int_equal(cqe.tag, 77);
		assert_int_equal(cqe.status, SR_STATUS_OK);
	}
	free(big);
	rc_close(c);
	hd_check_service(&hd);
}

static void test_batch_too_large(void **state)
{
	struct rc *c = rc_open(hd.sock);
	size_t n = (size_t)c->max_batch + 1;
	struct rc_op *ops = calloc(n, sizeof(*ops));
	struct rc_cqe *cqes = calloc(n, sizeof(*cqes));
	bool *seen = calloc(n, sizeof(*seen));

	(void)state;
	assert_int_equal(c->max_batch, WIRE_MAX_BATCH);
	assert_non_null(ops);
	assert_non_null(cqes);
	assert_non_null(seen);
	for (size_t i = 0; i < n; i++)
		rc_op_nop(&ops[i], i);
	rc_submit(c, ops, n);
	rc_expect_error(c, false, 0, SR_STATUS_TOO_LARGE);
	/* Nothing of the refused batch ran. */
	rc_expect_quiet(c, 200);
	/* Exactly max_batch is fine: one completion each. */
	rc_run(c, ops, n - 1, cqes);
	for (size_t i = 0; i < n - 1; i++) {
		assert_int_equal(cqes[i].status, SR_STATUS_OK);
		assert_true(cqes[i].tag < n - 1);
		assert_false(seen[cqes[i].tag]);
		seen[cqes[i].tag] = true;
	}
	rc_expect_quiet(c, 100);
	free(ops);
	free(cqes);
	free(seen);
	rc_close(c);
	hd_check_service(&hd);
}

/* Any batch over max_batch is TOO_LARGE, up to the most operations a
 * 64 KiB datagram can hold (PROTOCOL.md, Session 5), not only the ones
 * the daemon can afford to decode. */
static void test_batch_too_large_full_datagram(void **state)
{
	/* A minimal NOP is 6 bytes in a Submit; this fills 64 KiB. */
	const size_t sizes[] = { 1000, 4000, 8000, 10900 };
	struct rc *c = rc_open(hd.sock);

	(void)state;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k];
		struct rc_op *ops = calloc(n, sizeof(*ops));
		Saferring__Reply *r;

		assert_non_null(ops);
		for (size_t i = 0; i < n; i++)
			rc_op_nop(&ops[i], 0);
		rc_submit(c, ops, n);
		free(ops);
		r = rc_recv_control(c, NULL);
		assert_int_equal(r->body_case, SAFERRING__REPLY__BODY_ERROR);
		if (r->error->status != SR_STATUS_TOO_LARGE)
			fail_msg("Submit of %zu operations (under 64 KiB): expected "
				 "Error{TOO_LARGE}, got Error{%s}", n,
				 sr_strstatus(r->error->status));
		rc_expect_quiet(c, 50);
	}
	rc_close(c);
	hd_check_service(&hd);
}

static void test_before_hello(void **state)
{
	struct rc *c = rc_connect(hd.sock);
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__UnregisterFd un = SAFERRING__UNREGISTER_FD__INIT;
	Saferring__FdHandle fh = SAFERRING__FD_HANDLE__INIT;
	struct rc_op op;

	(void)state;
	/* Submit before Hello, with and without seq. */
	rc_op_nop(&op, 1);
	rc_submit(c, &op, 1);
	rc_expect_error(c, false, 0, SR_STATUS_PROTOCOL);
	fh.index = 0;
	fh.generation = 1;
	un.handle = &fh;
	req.has_seq = true;
	req.seq = 4242;
	req.body_case = SAFERRING__REQUEST__BODY_UNREGISTER_FD;
	req.unregister_fd = &un;
	assert_int_equal(rc_send_request(c, &req, NULL, 0), 0);
	rc_expect_error(c, true, 4242, SR_STATUS_PROTOCOL);
	/* RegisterFd before Hello (with its descriptor, which is closed). */
	{
		int pfd[2];
		struct rc_handle h;
		assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
		assert_int_equal(rc_register(c, &pfd[1], 1, &h), SR_STATUS_PROTOCOL);
		close(pfd[1]);
		expect_pipe_closed(pfd[0]);
		close(pfd[0]);
	}
	rc_expect_quiet(c, 50);
	/* Hello still works, and only once. */
	rc_hello(c, 0, 0);
	{
		Saferring__Request r2 = SAFERRING__REQUEST__INIT;
		Saferring__Hello h2 = SAFERRING__HELLO__INIT;
		h2.version = SR_PROTOCOL_VERSION;
		r2.has_seq = true;
		r2.seq = 9;
		r2.body_case = SAFERRING__REQUEST__BODY_HELLO;
		r2.hello = &h2;
		assert_int_equal(rc_send_request(c, &r2, NULL, 0), 0);
		rc_expect_error(c, true, 9, SR_STATUS_PROTOCOL);
	}
	send_nop_expect_ok(c, 2);
	rc_close(c);
	hd_check_service(&hd);
}

static void test_wrong_version(void **state)
{
	const uint32_t versions[] = { 0, 2, UINT32_MAX };

	(void)state;
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		struct rc *c = rc_connect(hd.sock);
		Saferring__Request req = SAFERRING__REQUEST__INIT;
		Saferring__Hello hello = SAFERRING__HELLO__INIT;
		Saferring__Reply *r;
		int memfd = -1;

		hello.version = versions[i];
		req.has_seq = true;
		req.seq = 100 + (uint32_t)i;
		req.body_case = SAFERRING__REQUEST__BODY_HELLO;
		req.hello = &hello;
		assert_int_equal(rc_send_request(c, &req, NULL, 0), 0);
		r = rc_recv_control(c, &memfd);
		assert_int_equal(memfd, -1);
		assert_int_equal(r->body_case, SAFERRING__REPLY__BODY_ERROR);
		assert_int_equal(r->error->status, SR_STATUS_VERSION);
		assert_true(r->has_seq);
		assert_int_equal(r->seq, req.seq);
		rc_expect_eof(c, HD_TIMEOUT_MS);
		rc_close(c);
	}
	hd_check_service(&hd);
}

static void test_fd_on_submit(void **state)
{
	struct rc *c = rc_open(hd.sock);
	int base = hd_settled_fd_count(hd.pid);
	struct rc_op op;
	int pfd[2];

	(void)state;
	assert_true(base > 0);
	for (int round = 0; round < 20; round++) {
		assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
		rc_op_nop(&op, 500 + round);
		assert_int_equal(rc_submit_fds(c, &op, 1, &pfd[1], 1), 0);
		rc_expect_error(c, false, 0, SR_STATUS_BAD_DESCRIPTORS);
		close(pfd[1]);
		expect_pipe_closed(pfd[0]);
		close(pfd[0]);
	}
	/* None of those NOPs ran. */
	rc_expect_quiet(c, 100);
	assert_int_equal(hd_fd_count(hd.pid), base);

	/* A descriptor on UnregisterFd: same. */
	{
		Saferring__Request req = SAFERRING__REQUEST__INIT;
		Saferring__UnregisterFd un = SAFERRING__UNREGISTER_FD__INIT;
		Saferring__FdHandle fh = SAFERRING__FD_HANDLE__INIT;
		un.handle = &fh;
		req.has_seq = true;
		req.seq = 77;
		req.body_case = SAFERRING__REQUEST__BODY_UNREGISTER_FD;
		req.unregister_fd = &un;
		assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
		assert_int_equal(rc_send_request(c, &req, &pfd[1], 1), 0);
		rc_expect_error(c, true, 77, SR_STATUS_BAD_DESCRIPTORS);
		close(pfd[1]);
		expect_pipe_closed(pfd[0]);
		close(pfd[0]);
	}
	/* Several descriptors on garbage: closed as well. */
	{
		int fds[4];
		assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
		for (int i = 0; i < 4; i++)
			fds[i] = pfd[1];
		assert_int_equal(rc_send_raw(c, "\xff\xff", 2, fds, 4), 0);
		rc_expect_error(c, false, 0, SR_STATUS_MALFORMED);
		close(pfd[1]);
		expect_pipe_closed(pfd[0]);
		close(pfd[0]);
	}
	assert_int_equal(hd_fd_count(hd.pid), base);
	send_nop_expect_ok(c, 3);
	rc_close(c);
	hd_check_service(&hd);
}

static void test_register_descriptor_count(void **state)
{
	struct rc *c = rc_open(hd.sock);
	int base = hd_settled_fd_count(hd.pid);
	struct rc_handle h;
	int a[2], b[2];

	(void)state;
	assert_int_equal(rc_register(c, NULL, 0, &h), SR_STATUS_BAD_DESCRIPTORS);
	assert_int_equal(pipe2(a, O_CLOEXEC), 0);
	assert_int_equal(pipe2(b, O_CLOEXEC), 0);
	{
		int two[2] = { a[1], b[1] };
		assert_int_equal(rc_register(c, two, 2, &h),
				 SR_STATUS_BAD_DESCRIPTORS);
	}
	close(a[1]);
	close(b[1]);
	expect_pipe_closed(a[0]);
	expect_pipe_closed(b[0]);
	close(a[0]);
	close(b[0]);
	/* Many more than two. */
	{
		int many[16];
		assert_int_equal(pipe2(a, O_CLOEXEC), 0);
		for (int i = 0; i < 16; i++)
			many[i] = a[1];
		assert_int_equal(rc_register(c, many, 16, &h),
				 SR_STATUS_BAD_DESCRIPTORS);
		close(a[1]);
		expect_pipe_closed(a[0]);
		close(a[0]);
	}
	assert_int_equal(hd_fd_count(hd.pid), base);
	/* Still registers a proper one, at index 0 (nothing was taken). */
	{
		int fd = hd_make_file(&hd, "regcount.dat", 4096, 1);
		h = rc_register_fd(c, fd);
		assert_int_equal(h.index, 0);
		close(fd);
	}
	rc_close(c);
	hd_check_service(&hd);
}

static void test_register_quota(void **state)
{
	struct rc *c = rc_open(hd.sock);
	struct rc_handle *hs = calloc(c->max_fds, sizeof(*hs));
	struct rc_handle h;
	int fd = hd_make_file(&hd, "quota.dat", 65536, 0x99);
	int pfd[2];
	struct rc_op op;
	struct rc_cqe cqe;

	(void)state;
	assert_non_null(hs);
	assert_true(c->max_fds > 0 && c->max_fds < 1000);
	for (uint32_t i = 0; i < c->max_fds; i++)
		hs[i] = rc_register_fd(c, fd);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	assert_int_equal(rc_register(c, &pfd[1], 1, &h), SR_STATUS_QUOTA);
	close(pfd[1]);
	expect_pipe_closed(pfd[0]);
	close(pfd[0]);
	/* Every registered handle works, the last one too. */
	rc_op_rw(&op, 1, SR_OP_READ, hs[c->max_fds - 1], 0, c->gen[0], 0, 4096,
		 4096);
	rc_run(c, &op, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	assert_int_equal(cqe.result, 4096);
	assert_true(hd_pattern_ok(rc_slot(c, 0), 4096, 4096, 0x99));
	/* Freeing one makes room for exactly one. */
	assert_int_equal(rc_unregister(c, hs[5]), SR_STATUS_OK);
	h = rc_register_fd(c, fd);
	assert_int_equal(h.index, hs[5].index);
	assert_int_equal(rc_register(c, &fd, 1, NULL), SR_STATUS_QUOTA);
	free(hs);
	close(fd);
	rc_close(c);
	hd_check_service(&hd);
}

/* More operations than max_in_flight held by the kernel: QUOTA.  Reads on
 * an empty pipe stay in flight; 4 KiB slots give enough of them. */
static void test_in_flight_quota(void **state)
{
	struct rc *c = rc_connect(hd.sock);
	struct rc_handle hp;
	struct rc_op *ops;
	struct rc_cqe *cqes;
	struct rc_cqe cqe;
	int pfd[2];
	uint32_t n;

	(void)state;
	rc_hello(c, 512, 4096);
	n = c->max_in_flight;
	assert_true(n > 0 && n <= 256);
	if (c->slot_count < n + 1)
		fail_msg("need %u slots for this test, got %u", n + 1, c->slot_count);
	ops = calloc(n, sizeof(*ops));
	cqes = calloc(n, sizeof(*cqes));
	assert_non_null(ops);
	assert_non_null(cqes);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	hp = rc_register_fd(c, pfd[0]);
	for (uint32_t sent = 0; sent < n;) {
		uint32_t k = n - sent < c->max_batch ? n - sent : c->max_batch;
		for (uint32_t i = 0; i < k; i++)
			rc_op_rw(&ops[i], sent + i, SR_OP_READ, hp, sent + i,
				 c->gen[sent + i], 0, 1, 0);
		rc_submit(c, ops, k);
		sent += k;
	}
	rc_expect_quiet(c, 200);
	/* One more of any kind is over quota, and takes nothing. */
	{
		struct rc_op op;
		uint32_t g = c->gen[n];

		rc_op_nop(&op, 9000);
		rc_run(c, &op, 1, &cqe);
		assert_int_equal(cqe.status, SR_STATUS_QUOTA);
		assert_int_equal(cqe.result, -EDQUOT);
		rc_op_rw(&op, 9001, SR_OP_READ, hp, n, g, 0, 1, 0);
		rc_run(c, &op, 1, &cqe);
		assert_int_equal(cqe.status, SR_STATUS_QUOTA);
		assert_int_equal(cqe.result, -EDQUOT);
		assert_false(cqe.has_slot);
		assert_int_equal(c->gen[n], g);
	}
	/* Feed the pipe one byte per read: every read completes once. */
	{
		unsigned char *bytes = malloc(n);
		bool *seen = calloc(n, sizeof(*seen));

		assert_non_null(bytes);
		assert_non_null(seen);
		for (uint32_t i = 0; i < n; i++)
			bytes[i] = (unsigned char)i;
		assert_int_equal(write(pfd[1], bytes, n), (ssize_t)n);
		rc_wait_cqes(c, n, cqes, HD_TIMEOUT_MS);
		memset(bytes, 0, n);
		for (uint32_t i = 0; i < n; i++) {
			assert_int_equal(cqes[i].status, SR_STATUS_OK);
			assert_int_equal(cqes[i].result, 1);
			assert_true(cqes[i].tag < n);
			assert_false(seen[cqes[i].tag]);
			seen[cqes[i].tag] = true;
			assert_true(cqes[i].has_slot);
			assert_int_equal(cqes[i].slot_index, cqes[i].tag);
		}
		/* Each byte went to exactly one slot (n <= 256). */
		memset(seen, 0, n * sizeof(*seen));
		for (uint32_t i = 0; i < n; i++) {
			unsigned char b = *(unsigned char *)rc_slot(c, i);
			assert_true(b < n);
			assert_false(seen[b]);
			seen[b] = true;
		}
		free(bytes);
		free(seen);
	}
	rc_expect_quiet(c, 50);
	/* Room again. */
	send_nop_expect_ok(c, 9002);
	free(ops);
	free(cqes);
	close(pfd[0]);
	close(pfd[1]);
	rc_close(c);
	hd_check_service(&hd);
}

static void test_error_limit(void **state)
{
	struct rc *c = rc_open(hd.sock);
	int i;

	(void)state;
	/* 63 refused requests: still served. */
	for (i = 0; i < 63; i++) {
		assert_int_equal(rc_send_raw(c, "\xff", 1, NULL, 0), 0);
		rc_expect_error(c, false, 0, SR_STATUS_MALFORMED);
	}
	send_nop_expect_ok(c, 1);
	/* The 64th ends the session: its Error, then the one that says
	 * why the session ends, then end of file. */
	assert_int_equal(rc_send_raw(c, "\xff", 1, NULL, 0), 0);
	rc_expect_error(c, false, 0, SR_STATUS_MALFORMED);
	rc_expect_error_limit(c, HD_TIMEOUT_MS);
	rc_close(c);

	/* Mixed kinds count the same; a fresh session starts at zero. */
	c = rc_connect(hd.sock);
	for (i = 0; i < 64; i++) {
		struct rc_op op;
		rc_op_nop(&op, i);
		rc_submit(c, &op, 1);
		rc_expect_error(c, false, 0, SR_STATUS_PROTOCOL);
	}
	rc_expect_error_limit(c, HD_TIMEOUT_MS);
	rc_close(c);
	hd_check_service(&hd);
}

/* A second daemon with a narrow policy: operations it forbids are
 * NOT_PERMITTED, its limits are what the Welcome says and what is
 * enforced, and one uid's sessions are capped. */
static struct hd_daemon narrow;

static int stop_narrow(void **state)
{
	(void)state;
	if (narrow.pid > 0 && !narrow.reaped)
		return hd_stop(&narrow) == 0 ? 0 : -1;
	return 0;
}

static void test_policy(void **state)
{
	static const char conf[] =
		"[default]\n"
		"ops = nop read\n"
		"fds = 2\n"
		"in_flight = 4\n"
		"sessions = 2\n"
		"max_errors = 3\n";
	struct rc *a, *b, *c;
	struct rc_op op;
	struct rc_cqe cqe;
	struct rc_handle h;
	struct sr_client *sc = NULL;
	int fd, pfd[2];

	(void)state;
	hd_start_config(&narrow, conf);
	a = rc_open(narrow.sock);
	assert_int_equal(a->max_fds, 2);
	assert_int_equal(a->max_in_flight, 4);
	fd = hd_make_file(&narrow, "narrow.dat", 65536, 0x42);
	h = rc_register_fd(a, fd);

	/* Forbidden operations, however well formed. */
	memset(rc_slot(a, 0), MARK, a->slot_size);
	rc_op_rw(&op, 1, SR_OP_WRITE, h, 0, a->gen[0], 0, 4096, 0);
	rc_run(a, &op, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_NOT_PERMITTED);
	assert_int_equal(cqe.result, -EPERM);
	rc_op_fsync(&op, 2, h, 0);
	rc_run(a, &op, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_NOT_PERMITTED);
	assert_int_equal(cqe.result, -EPERM);
	{
		unsigned char buf[4096];
		assert_int_equal(pread(fd, buf, sizeof(buf), 0), 4096);
		assert_true(hd_pattern_ok(buf, sizeof(buf), 0, 0x42));
	}
	/* Allowed ones run; the slot was not taken by the refusal. */
	rc_op_rw(&op, 3, SR_OP_READ, h, 0, a->gen[0], 0, 4096, 0);
	rc_run(a, &op, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	assert_int_equal(cqe.result, 4096);
	assert_true(hd_pattern_ok(rc_slot(a, 0), 4096, 0, 0x42));

	/* fds = 2. */
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	(void)rc_register_fd(a, pfd[0]);
	assert_int_equal(rc_register(a, &pfd[0], 1, NULL), SR_STATUS_QUOTA);
	/* in_flight = 4: four pipe reads wait, the fifth operation is over. */
	{
		struct rc_op ops[5];
		struct rc_cqe cqes[5];
		struct rc_handle hp = { 1, 0 };

		/* The pipe got index 1; its generation is the first one. */
		hp.generation = h.generation;
		for (int i = 0; i < 4; i++)
			rc_op_rw(&ops[i], 10 + i, SR_OP_READ, hp, 1 + i, a->gen[1 + i],
				 0, 1, 0);
		rc_op_nop(&ops[4], 14);
		rc_submit(a, ops, 5);
		rc_wait_cqes(a, 1, cqes, HD_TIMEOUT_MS);
		assert_int_equal(cqes[0].tag, 14);
		assert_int_equal(cqes[0].status, SR_STATUS_QUOTA);
		assert_int_equal(cqes[0].result, -EDQUOT);
		assert_int_equal(write(pfd[1], "abcd", 4), 4);
		rc_wait_cqes(a, 4, cqes, HD_TIMEOUT_MS);
		for (int i = 0; i < 4; i++) {
			assert_int_equal(cqes[i].status, SR_STATUS_OK);
			assert_int_equal(cqes[i].result, 1);
		}
	}

	/* sessions = 2: the third is refused at Hello, with QUOTA. */
	b = rc_open(narrow.sock);
	c = rc_connect(narrow.sock);
	{
		Saferring__Request req = SAFERRING__REQUEST__INIT;
		Saferring__Hello hello = SAFERRING__HELLO__INIT;
		int memfd = -1;
		Saferring__Reply *r;

		hello.version = SR_PROTOCOL_VERSION;
		req.has_seq = true;
		req.seq = 5;
		req.body_case = SAFERRING__REQUEST__BODY_HELLO;
		req.hello = &hello;
		assert_int_equal(rc_send_request(c, &req, NULL, 0), 0);
		r = rc_recv_control(c, &memfd);
		assert_int_equal(memfd, -1);
		assert_int_equal(r->body_case, SAFERRING__REPLY__BODY_ERROR);
		assert_int_equal(r->error->status, SR_STATUS_QUOTA);
		rc_expect_eof(c, HD_TIMEOUT_MS);
	}
	rc_close(c);
	assert_int_equal(sr_connect(narrow.sock, NULL, &sc), -EDQUOT);
	/* Room again once a session has gone (freeing is asynchronous). */
	rc_close(b);
	{
		uint64_t deadline = hd_now_ns() + HD_TIMEOUT_MS * 1000000ULL;
		int r;

		while ((r = sr_connect(narrow.sock, NULL, &sc)) == -EDQUOT &&
		       hd_now_ns() < deadline)
			hd_sleep_ms(10);
		assert_int_equal(r, 0);
		sr_close(sc);
	}

	/* max_errors = 3, and the QUOTA reply to RegisterFd was the first. */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(rc_send_raw(a, "\xff", 1, NULL, 0), 0);
		rc_expect_error(a, false, 0, SR_STATUS_MALFORMED);
	}
	rc_expect_error_limit(a, HD_TIMEOUT_MS);
	rc_close(a);
	close(fd);
	close(pfd[0]);
	close(pfd[1]);
	hd_assert_alive(&narrow);
	assert_int_equal(hd_stop(&narrow), 0);
	hd_check_service(&hd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stale_generation),
		cmocka_unit_test(test_in_flight_same_batch),
		cmocka_unit_test(test_in_flight_across_batches),
		cmocka_unit_test(test_bad_slot),
		cmocka_unit_test(test_out_of_bounds),
		cmocka_unit_test(test_file_offset_too_large),
		cmocka_unit_test(test_bad_handle),
		cmocka_unit_test(test_stale_handle),
		cmocka_unit_test(test_unknown_opcode),
		cmocka_unit_test(test_bad_flags),
		cmocka_unit_test(test_malformed_ops),
		cmocka_unit_test(test_undecodable),
		cmocka_unit_test(test_oversized_datagram),
		cmocka_unit_test(test_batch_too_large),
		cmocka_unit_test(test_batch_too_large_full_datagram),
		cmocka_unit_test(test_before_hello),
		cmocka_unit_test(test_wrong_version),
		cmocka_unit_test(test_fd_on_submit),
		cmocka_unit_test(test_register_descriptor_count),
		cmocka_unit_test(test_register_quota),
		cmocka_unit_test(test_in_flight_quota),
		cmocka_unit_test(test_error_limit),
		cmocka_unit_test_teardown(test_policy, stop_narrow),
	};

	return HD_RUN(tests, 90);
}
