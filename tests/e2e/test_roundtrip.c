/* SPDX-License-Identifier: MIT */
/*
 * test_roundtrip.c - end-to-end: libsaferring against a real saferringd
 * doing honest work.  Data written from slots reaches the file and reads
 * back intact, NOP/FSYNC/datasync complete, the blocking helpers work,
 * many operations over several batches are in flight at once, slot
 * generations stay in step over many reuses, kernel errors come back as
 * results, and an unregistered handle can no longer be used.
 */
#include "../lib/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static struct sr_client *connect_default(void)
{
	struct sr_client *c = NULL;
	int r = sr_connect(hd.sock, NULL, &c);

	if (r < 0)
		fail_msg("sr_connect: %s", strerror(-r));
	return c;
}

static void wait_one(struct sr_client *c, struct sr_cqe *cqe)
{
	int r = sr_wait_cqe(c, cqe);

	if (r < 0)
		fail_msg("sr_wait_cqe: %s", strerror(-r));
}

static void test_limits(void **state)
{
	struct sr_params p = { .slot_count = 8, .slot_size = 5000 };
	struct sr_client *c = connect_default();
	struct sr_limits l;

	(void)state;
	assert_int_equal(sr_limits(c, &l), 0);
	/* PROTOCOL.md: defaults are 64 slots of 64 KiB. */
	assert_int_equal(l.slot_count, 64);
	assert_int_equal(l.slot_size, 65536);
	assert_int_equal(sr_slot_size(c), 65536);
	assert_true(l.max_fds > 0);
	assert_true(l.max_in_flight > 0);
	assert_int_equal(l.max_batch, 256);
	assert_true(sr_fd(c) >= 0);
	sr_close(c);

	/* Wishes are honoured within policy; sizes round up to 4 KiB. */
	assert_int_equal(sr_connect(hd.sock, &p, &c), 0);
	assert_int_equal(sr_limits(c, &l), 0);
	assert_int_equal(l.slot_count, 8);
	assert_int_equal(l.slot_size, 8192);
	/* Slot memory is really there and distinct per slot. */
	memset(sr_slot_data(c, SR_SLOT(7)), 0x77, 8192);
	assert_null(sr_slot_data(c, SR_SLOT(8)));
	sr_close(c);
	hd_check_service(&hd);
}

static void test_write_read_slots(void **state)
{
	enum { N = 8 };
	struct sr_client *c = connect_default();
	size_t ss = sr_slot_size(c);
	int fd = hd_make_file(&hd, "rw.dat", 0, 0);
	sr_handle_t h = sr_register_fd(c, fd);
	sr_slot_t rslot[N];
	sr_slot_t wslot[N];
	struct sr_cqe cqes[N];
	unsigned char *check = malloc(ss);

	(void)state;
	assert_true(sr_handle_index(h) >= 0);
	assert_non_null(check);
	for (int i = 0; i < N; i++) {
		wslot[i] = sr_slot_acquire(c);
		rslot[i] = sr_slot_acquire(c);
		assert_true(sr_slot_index(wslot[i]) >= 0 &&
			    sr_slot_index(rslot[i]) >= 0);
		hd_pattern(sr_slot_data(c, wslot[i]), ss, (uint64_t)i * ss, 1);
		memset(sr_slot_data(c, rslot[i]), 0xee, ss);
		assert_int_equal(sr_prep_write(c, 100 + i, h, wslot[i], 0,
					       (uint32_t)ss, (uint64_t)i * ss), 0);
	}
	assert_int_equal(sr_submit(c), N);
	assert_int_equal(sr_in_flight(c), N);
	assert_int_equal(sr_wait_cqes(c, cqes, N, N), N);
	for (int i = 0; i < N; i++) {
		int k = (int)cqes[i].user_data - 100;

		assert_true(k >= 0 && k < N);
		assert_int_equal(cqes[i].status, SR_STATUS_OK);
		assert_int_equal(cqes[i].res, (int)ss);
		assert_slot_equal(cqes[i].slot, wslot[k]);
	}
	/* The file holds what the slots held. */
	for (int i = 0; i < N; i++) {
		assert_int_equal(pread(fd, check, ss, (off_t)(i * ss)), (ssize_t)ss);
		assert_true(hd_pattern_ok(check, ss, (uint64_t)i * ss, 1));
	}

	for (int i = 0; i < N; i++)
		assert_int_equal(sr_prep_read(c, 200 + i, h, rslot[i], 0,
					      (uint32_t)ss, (uint64_t)i * ss), 0);
	assert_int_equal(sr_submit(c), N);
	assert_int_equal(sr_wait_cqes(c, cqes, N, N), N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(cqes[i].status, SR_STATUS_OK);
		assert_int_equal(cqes[i].res, (int)ss);
	}
	for (int i = 0; i < N; i++)
		assert_true(hd_pattern_ok(sr_slot_data(c, rslot[i]), ss,
					  (uint64_t)i * ss, 1));

	/* Sub-ranges of slots: from slot offset 100 to file offset 12345,
	 * back into slot offset 3000 of another slot. */
	unsigned char *w = sr_slot_data(c, wslot[0]);
	unsigned char *r = sr_slot_data(c, rslot[0]);
	hd_pattern(w + 100, 1000, 0, 2);
	memset(r, 0x11, ss);
	assert_int_equal(sr_prep_write(c, 1, h, wslot[0], 100, 1000, 12345), 0);
	assert_int_equal(sr_submit(c), 1);
	wait_one(c, &cqes[0]);
	assert_int_equal(cqes[0].res, 1000);
	assert_int_equal(sr_prep_read(c, 2, h, rslot[0], 3000, 1000, 12345), 0);
	assert_int_equal(sr_submit(c), 1);
	wait_one(c, &cqes[0]);
	assert_int_equal(cqes[0].res, 1000);
	assert_true(hd_pattern_ok(r + 3000, 1000, 0, 2));
	/* Bytes around the range were not touched. */
	assert_int_equal(r[2999], 0x11);
	assert_int_equal(r[4000], 0x11);
	assert_int_equal(r[0], 0x11);
	assert_int_equal(pread(fd, check, 1000, 12345), 1000);
	assert_true(hd_pattern_ok(check, 1000, 0, 2));

	/* Reading at end of file reads nothing. */
	assert_int_equal(sr_prep_read(c, 3, h, rslot[1], 0, 4096, 1ULL << 40), 0);
	assert_int_equal(sr_submit(c), 1);
	wait_one(c, &cqes[0]);
	assert_int_equal(cqes[0].status, SR_STATUS_OK);
	assert_int_equal(cqes[0].res, 0);

	free(check);
	sr_close(c);
	close(fd);
	hd_check_service(&hd);
}

static void test_nop(void **state)
{
	struct sr_client *c = connect_default();
	struct sr_cqe cqes[10];
	bool seen[10] = { false };

	(void)state;
	for (int i = 0; i < 10; i++)
		assert_int_equal(sr_prep_nop(c, 0xabcdef0000000000ULL + i), 0);
	assert_int_equal(sr_submit(c), 10);
	assert_int_equal(sr_wait_cqes(c, cqes, 10, 10), 10);
	for (int i = 0; i < 10; i++) {
		uint64_t k = cqes[i].user_data - 0xabcdef0000000000ULL;

		assert_true(k < 10);
		assert_false(seen[k]);
		seen[k] = true;
		assert_int_equal(cqes[i].status, SR_STATUS_OK);
		assert_int_equal(cqes[i].res, 0);
		assert_int_equal(sr_slot_index(cqes[i].slot), -1);
	}
	assert_int_equal(sr_in_flight(c), 0);
	/* Nothing more to wait for. */
	assert_int_equal(sr_wait_cqe(c, &cqes[0]), -ENODATA);
	assert_int_equal(sr_peek_cqe(c, &cqes[0]), -EAGAIN);
	sr_close(c);
	hd_check_service(&hd);
}

static void test_fsync(void **state)
{
	struct sr_client *c = connect_default();
	int fd = hd_make_file(&hd, "fsync.dat", 8192, 3);
	sr_handle_t h = sr_register_fd(c, fd);
	struct sr_cqe cqes[2];

	(void)state;
	assert_true(sr_handle_index(h) >= 0);
	assert_int_equal(sr_prep_fsync(c, 1, h, 0), 0);
	assert_int_equal(sr_prep_fsync(c, 2, h, SR_FSYNC_DATASYNC), 0);
	assert_int_equal(sr_submit(c), 2);
	assert_int_equal(sr_wait_cqes(c, cqes, 2, 2), 2);
	for (int i = 0; i < 2; i++) {
		assert_true(cqes[i].user_data == 1 || cqes[i].user_data == 2);
		assert_int_equal(cqes[i].status, SR_STATUS_OK);
		assert_int_equal(cqes[i].res, 0);
		assert_int_equal(sr_slot_index(cqes[i].slot), -1);
	}
	assert_int_not_equal(cqes[0].user_data, cqes[1].user_data);
	assert_int_equal(sr_fsync(c, h), 0);
	/* Flags outside DATASYNC never leave the library. */
	assert_int_equal(sr_prep_fsync(c, 3, h, 2), -EINVAL);
	assert_int_equal(sr_submit(c), 0);
	sr_close(c);
	close(fd);
	hd_check_service(&hd);
}

static void test_pread_pwrite(void **state)
{
	struct sr_client *c = connect_default();
	int fd = hd_make_file(&hd, "sync.dat", 0, 0);
	sr_handle_t h = sr_register_fd(c, fd);
	size_t ss = sr_slot_size(c);
	unsigned char *buf = malloc(2 * ss), *back = malloc(2 * ss);
	struct sr_cqe cqe;

	(void)state;
	assert_true(sr_handle_index(h) >= 0);
	assert_non_null(buf);
	assert_non_null(back);
	hd_pattern(buf, 10000, 777, 4);
	assert_int_equal(sr_pwrite(c, h, buf, 10000, 777), 10000);
	memset(back, 0, 10000);
	assert_int_equal(sr_pread(c, h, back, 10000, 777), 10000);
	assert_memory_equal(buf, back, 10000);
	assert_int_equal(pread(fd, back, 10000, 777), 10000);
	assert_true(hd_pattern_ok(back, 10000, 777, 4));
	/* Short read at end of file, nothing past it. */
	assert_int_equal(sr_pread(c, h, back, 100, 10777 - 40), 40);
	assert_int_equal(sr_pread(c, h, back, 100, 20000), 0);
	/* At most one slot per call. */
	hd_pattern(buf, 2 * ss, 0, 5);
	assert_int_equal(sr_pwrite(c, h, buf, 2 * ss, 0), (ssize_t)ss);
	assert_int_equal(sr_pread(c, h, back, 2 * ss, 0), (ssize_t)ss);
	assert_true(hd_pattern_ok(back, ss, 0, 5));

	/* A queued completion survives a blocking helper in between. */
	assert_int_equal(sr_prep_nop(c, 42), 0);
	assert_int_equal(sr_submit(c), 1);
	assert_int_equal(sr_pread(c, h, back, 16, 0), 16);
	assert_int_equal(sr_in_flight(c), 1);
	wait_one(c, &cqe);
	assert_int_equal(cqe.user_data, 42);
	free(buf);
	free(back);
	sr_close(c);
	close(fd);
	hd_check_service(&hd);
}

/* 64 operations over several sr_submit calls, all in flight before any
 * is reaped; then the whole max_in_flight window. */
static void test_many_in_flight(void **state)
{
	enum { FILE_SLOTS = 48, NOPS = 16, TOTAL = FILE_SLOTS + NOPS };
	struct sr_client *c = connect_default();
	size_t ss = sr_slot_size(c);
	int fd = hd_make_file(&hd, "many.dat", FILE_SLOTS * ss, 6);
	sr_handle_t h = sr_register_fd(c, fd);
	sr_slot_t slots[FILE_SLOTS];
	struct sr_cqe cqes[TOTAL];
	bool seen[TOTAL] = { false };
	struct sr_limits l;
	int sent = 0;

	(void)state;
	assert_true(sr_handle_index(h) >= 0);
	assert_int_equal(sr_limits(c, &l), 0);
	for (int i = 0; i < FILE_SLOTS; i++) {
		slots[i] = sr_slot_acquire(c);
		assert_true(sr_slot_index(slots[i]) >= 0);
		memset(sr_slot_data(c, slots[i]), 0, ss);
	}
	/* Four batches of 16: 12 reads and 4 NOPs each. */
	for (int b = 0; b < 4; b++) {
		for (int j = 0; j < 12; j++) {
			int i = b * 12 + j;
			assert_int_equal(sr_prep_read(c, i, h, slots[i], 0,
						      (uint32_t)ss, (uint64_t)i * ss), 0);
		}
		for (int j = 0; j < 4; j++)
			assert_int_equal(sr_prep_nop(c, FILE_SLOTS + b * 4 + j), 0);
		int r = sr_submit(c);
		assert_int_equal(r, 16);
		sent += r;
	}
	assert_int_equal(sent, TOTAL);
	assert_int_equal(sr_in_flight(c), TOTAL);
	assert_int_equal(sr_wait_cqes(c, cqes, TOTAL, TOTAL), TOTAL);
	assert_int_equal(sr_in_flight(c), 0);
	for (int i = 0; i < TOTAL; i++) {
		uint64_t k = cqes[i].user_data;

		assert_true(k < TOTAL);
		assert_false(seen[k]);
		seen[k] = true;
		assert_int_equal(cqes[i].status, SR_STATUS_OK);
		if (k < FILE_SLOTS) {
			assert_int_equal(cqes[i].res, (int)ss);
			assert_slot_equal(cqes[i].slot, slots[k]);
		} else {
			assert_int_equal(cqes[i].res, 0);
			assert_int_equal(sr_slot_index(cqes[i].slot), -1);
		}
	}
	for (int i = 0; i < FILE_SLOTS; i++)
		assert_true(hd_pattern_ok(sr_slot_data(c, slots[i]), ss,
					  (uint64_t)i * ss, 6));

	/* The full window: max_in_flight NOPs over batches of max_batch. */
	unsigned done = 0, queued = 0;
	while (queued < l.max_in_flight) {
		int r = sr_prep_nop(c, 1000 + queued);
		if (r == -ENOSPC) {
			assert_true(sr_submit(c) > 0);
			continue;
		}
		assert_int_equal(r, 0);
		queued++;
	}
	assert_true(sr_submit(c) >= 0);
	assert_int_equal(sr_in_flight(c), l.max_in_flight);
	/* One more does not fit. */
	assert_int_equal(sr_prep_nop(c, 9999), -ENOSPC);
	while (done < l.max_in_flight) {
		struct sr_cqe many[64];
		int n = sr_wait_cqes(c, many, 64, 1);
		assert_true(n > 0);
		for (int i = 0; i < n; i++) {
			assert_int_equal(many[i].status, SR_STATUS_OK);
			assert_true(many[i].user_data >= 1000 &&
				    many[i].user_data < 1000 + l.max_in_flight);
		}
		done += (unsigned)n;
	}
	assert_int_equal(done, l.max_in_flight);
	assert_int_equal(sr_in_flight(c), 0);
	sr_close(c);
	close(fd);
	hd_check_service(&hd);
}

/* One slot used 1000 times: the library must follow every generation
 * change or the daemon refuses the next use as stale. */
static void test_generation_reuse(void **state)
{
	struct sr_client *c = connect_default();
	int fd = hd_make_file(&hd, "reuse.dat", 0, 0);
	sr_handle_t h = sr_register_fd(c, fd);
	sr_slot_t s = sr_slot_acquire(c);
	unsigned char *p = sr_slot_data(c, s);
	struct sr_cqe cqe;

	(void)state;
	assert_true(sr_handle_index(h) >= 0 && sr_slot_index(s) >= 0);
	for (int i = 0; i < 1000; i++) {
		bool wr = (i % 2) == 0;
		uint64_t off = (uint64_t)(i / 2) * 512;

		if (wr) {
			hd_pattern(p, 512, off, 7);
			assert_int_equal(sr_prep_write(c, i, h, s, 0, 512, off), 0);
		} else {
			memset(p, 0, 512);
			assert_int_equal(sr_prep_read(c, i, h, s, 0, 512, off), 0);
		}
		assert_int_equal(sr_submit(c), 1);
		wait_one(c, &cqe);
		if (cqe.status != SR_STATUS_OK)
			fail_msg("use %d of the slot refused: %s", i,
				 sr_strstatus(cqe.status));
		assert_int_equal(cqe.user_data, (uint64_t)i);
		assert_int_equal(cqe.res, 512);
		assert_slot_equal(cqe.slot, s);
		if (!wr)
			assert_true(hd_pattern_ok(p, 512, off, 7));
	}
	/* While in flight the library will not reuse the slot. */
	assert_int_equal(sr_prep_nop(c, 1), 0);
	assert_int_equal(sr_prep_read(c, 2, h, s, 0, 512, 0), 0);
	assert_int_equal(sr_prep_read(c, 3, h, s, 0, 512, 0), -EBUSY);
	assert_int_equal(sr_slot_release(c, s), -EBUSY);
	assert_int_equal(sr_submit(c), 2);
	wait_one(c, &cqe);
	wait_one(c, &cqe);
	assert_int_equal(sr_slot_release(c, s), 0);
	/* A stale sr_slot_t (the type cannot tell it was released; see
	 * tests/compile-fail/README): the library refuses it. */
	assert_int_equal(sr_prep_read(c, 4, h, s, 0, 512, 0), -EINVAL);
	assert_int_equal(sr_slot_release(c, s), -EINVAL);
	assert_int_equal(sr_submit(c), 0);
	sr_close(c);
	close(fd);
	hd_check_service(&hd);
}

/* A kernel error is a result, not a refusal. */
static void test_kernel_error(void **state)
{
	struct sr_client *c = connect_default();
	char path[256];
	int fd;
	sr_slot_t s;
	sr_handle_t h;
	struct sr_cqe cqe;

	(void)state;
	close(hd_make_file(&hd, "wronly.dat", 4096, 8));
	hd_path(&hd, "wronly.dat", path, sizeof(path));
	fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	h = sr_register_fd(c, fd);
	s = sr_slot_acquire(c);
	assert_true(sr_handle_index(h) >= 0 && sr_slot_index(s) >= 0);
	assert_int_equal(sr_prep_read(c, 5, h, s, 0, 4096, 0), 0);
	assert_int_equal(sr_submit(c), 1);
	wait_one(c, &cqe);
	assert_int_equal(cqe.user_data, 5);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	assert_int_equal(cqe.res, -EBADF);
	assert_slot_equal(cqe.slot, s);
	/* The slot came back and works. */
	assert_int_equal(sr_prep_write(c, 6, h, s, 0, 4096, 0), 0);
	assert_int_equal(sr_submit(c), 1);
	wait_one(c, &cqe);
	assert_int_equal(cqe.res, 4096);
	sr_close(c);
	close(fd);
	hd_check_service(&hd);
}

static void test_unregister(void **state)
{
	struct sr_client *c = connect_default();
	int fd = hd_make_file(&hd, "unreg.dat", 4096, 9);
	int pfd[2];
	sr_handle_t hp;
	sr_slot_t s;
	sr_handle_t h;
	unsigned char buf[64];
	struct sr_cqe cqe;

	(void)state;
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	h = sr_register_fd(c, fd);
	assert_true(sr_handle_index(h) >= 0);
	s = sr_slot_acquire(c);
	assert_true(sr_slot_index(s) >= 0);
	assert_int_equal(sr_pread(c, h, buf, 64, 0), 64);
	assert_true(hd_pattern_ok(buf, 64, 0, 9));
	assert_int_equal(sr_unregister_fd(c, h), 0);
	/* The handle is gone: every use fails. */
	assert_int_equal(sr_prep_read(c, 1, h, s, 0, 64, 0), -EINVAL);
	assert_true(sr_pread(c, h, buf, 64, 0) < 0);
	assert_true(sr_fsync(c, h) < 0);
	assert_int_equal(sr_unregister_fd(c, h), -EBADF);
	assert_int_equal(sr_in_flight(c), 0);

	/* Busy while a read is in flight: a read on an empty pipe waits. */
	hp = sr_register_fd(c, pfd[0]);
	assert_true(sr_handle_index(hp) >= 0);
	assert_int_equal(sr_prep_read(c, 2, hp, s, 0, 64, 0), 0);
	assert_int_equal(sr_submit(c), 1);
	assert_int_equal(sr_unregister_fd(c, hp), -EBUSY);
	assert_int_equal(sr_peek_cqe(c, &cqe), -EAGAIN);
	assert_int_equal(write(pfd[1], "hello", 5), 5);
	wait_one(c, &cqe);
	assert_int_equal(cqe.user_data, 2);
	assert_int_equal(cqe.res, 5);
	assert_memory_equal(sr_slot_data(c, s), "hello", 5);
	assert_int_equal(sr_unregister_fd(c, hp), 0);

	/* Registering again works and serves the new file. */
	h = sr_register_fd(c, fd);
	assert_true(sr_handle_index(h) >= 0);
	assert_int_equal(sr_pread(c, h, buf, 64, 64), 64);
	assert_true(hd_pattern_ok(buf, 64, 64, 9));
	sr_close(c);
	close(fd);
	close(pfd[0]);
	close(pfd[1]);
	hd_check_service(&hd);
}

static void test_connect_errors(void **state)
{
	struct sr_client *c = (struct sr_client *)&c;
	char path[256], longp[200];

	(void)state;
	hd_path(&hd, "no-such-socket", path, sizeof(path));
	assert_int_equal(sr_connect(path, NULL, &c), -ENOENT);
	assert_null(c);
	/* A socket file nobody listens on. */
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

		hd_path(&hd, "dead-socket", path, sizeof(path));
		memcpy(sa.sun_path, path, strlen(path) + 1);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(fd);
		assert_int_equal(sr_connect(path, NULL, &c), -ECONNREFUSED);
	}
	memset(longp, 'x', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(sr_connect(longp, NULL, &c), -ENAMETOOLONG);
	/* NULL path: $SAFERRING_SOCKET. */
	assert_int_equal(setenv(SR_SOCKET_ENV, hd.sock, 1), 0);
	assert_int_equal(sr_connect(NULL, NULL, &c), 0);
	assert_non_null(c);
	assert_int_equal(sr_prep_nop(c, 1), 0);
	assert_int_equal(sr_submit(c), 1);
	{
		struct sr_cqe cqe;
		wait_one(c, &cqe);
		assert_int_equal(cqe.user_data, 1);
	}
	sr_close(c);
	unsetenv(SR_SOCKET_ENV);
	hd_check_service(&hd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_connect_errors),
		cmocka_unit_test(test_write_read_slots),
		cmocka_unit_test(test_nop),
		cmocka_unit_test(test_fsync),
		cmocka_unit_test(test_pread_pwrite),
		cmocka_unit_test(test_many_in_flight),
		cmocka_unit_test(test_generation_reuse),
		cmocka_unit_test(test_kernel_error),
		cmocka_unit_test(test_unregister),
	};

	return HD_RUN(tests, 60);
}
