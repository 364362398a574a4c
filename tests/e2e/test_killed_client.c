/* SPDX-License-Identifier: MIT */
/*
 * test_killed_client.c - end-to-end: 100 times, a child connects through
 * libsaferring, registers a pipe's read end (whose write end the parent
 * keeps open, so reads on it can only end by cancellation) and a file,
 * puts reads of both in flight, and is killed with SIGKILL.  The daemon
 * must survive, cancel and drain every such session, give back every
 * descriptor (the count returns exactly to its baseline) and memory (RSS
 * within a few MiB), and keep serving an honest client.
 */
#include "../lib/harness.h"
#include "../lib/child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define REPS 100
#define PIPE_READS 8
#define FILE_READS 8

/* Every read end of the pipe is gone (EPIPE on write), bounded: the ring
 * drops its registered files a moment after it is closed. */
static bool no_reader(int wr)
{
	uint64_t deadline = hd_now_ns() + HD_TIMEOUT_MS * 1000000ULL;

	while (hd_now_ns() < deadline) {
		if (write(wr, "x", 1) < 0 && errno == EPIPE)
			return true;
		hd_sleep_ms(5);
	}
	return false;
}

/* Every write end is gone (end of file once drained), bounded. */
static bool no_writer(int rd)
{
	uint64_t deadline = hd_now_ns() + HD_TIMEOUT_MS * 1000000ULL;
	char buf[65536];

	fcntl(rd, F_SETFL, O_NONBLOCK);
	while (hd_now_ns() < deadline) {
		ssize_t n = read(rd, buf, sizeof(buf));
		if (n == 0)
			return true;
		if (n < 0)
			hd_sleep_ms(5);
	}
	return false;
}

/* The child: exits non-zero on any failure before it is killed. */
static void child(int pipe_rd, int file_fd, int ready_fd)
{
	struct sr_client *c;
	int r;
	sr_handle_t hf;
	sr_handle_t hp;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	r = sr_connect(hd.sock, NULL, &c);
	if (r < 0)
		_exit(10);
	hp = sr_register_fd(c, pipe_rd);
	hf = sr_register_fd(c, file_fd);
	if (sr_handle_index(hp) < 0 || sr_handle_index(hf) < 0)
		_exit(11);
	for (int i = 0; i < PIPE_READS + FILE_READS; i++) {
		sr_slot_t s = sr_slot_acquire(c);

		if (sr_slot_index(s) < 0)
			_exit(12);
		if (i < PIPE_READS)
			r = sr_prep_read(c, i, hp, s, 0, 4096, 0);
		else
			r = sr_prep_read(c, i, hf, s, 0, 65536, 0);
		if (r < 0)
			_exit(13);
	}
	if (sr_submit(c) != PIPE_READS + FILE_READS)
		_exit(14);
	/* A control request answered after the Submit proves the daemon has
	 * taken it (requests are handled in order); the pipe reads are now
	 * held by the kernel. */
	r = sr_unregister_fd(c, hp);
	if (r != -EBUSY) {
		fprintf(stderr, "unregister: %d\n", r);
		_exit(15);
	}
	if (write(ready_fd, "R", 1) != 1)
		_exit(16);
	for (;;)
		pause();
}

static void test_killed_clients(void **state)
{
	int file_fd = hd_make_file(&hd, "killed.dat", 1 << 20, 0xdead);
	int writers[REPS];
	int base_fds, fds_now;
	long rss0, rss1;
	uint64_t t0 = hd_now_ns();

	(void)state;
	/* Baseline after one full session, so that first-use memory of the
	 * daemon is already counted. */
	hd_honest_roundtrip(&hd);
	base_fds = hd_settled_fd_count(hd.pid);
	rss0 = hd_rss_kib(hd.pid);
	assert_true(base_fds > 0 && rss0 > 0);

	for (int rep = 0; rep < REPS; rep++) {
		int pfd[2], ready[2], status;
		char b;
		pid_t pid;

		assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
		assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
		pid = test_fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(ready[0]);
			close(pfd[1]);
			child(pfd[0], file_fd, ready[1]);
		}
		close(ready[1]);
		close(pfd[0]);
		writers[rep] = pfd[1];

		struct pollfd p = { .fd = ready[0], .events = POLLIN };
		int pr = poll(&p, 1, HD_TIMEOUT_MS);
		ssize_t n = pr == 1 ? read(ready[0], &b, 1) : -1;
		close(ready[0]);
		if (n != 1) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_msg("rep %d: child not ready (exit status %d)", rep,
				 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		}
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		if (rep % 10 == 9)
			hd_assert_alive(&hd);
	}
	hd_assert_alive(&hd);
	hd_honest_roundtrip(&hd);

	/* Draining is asynchronous: give it a few seconds.  The write ends
	 * are still open here, so only cancellation can have ended the pipe
	 * reads. */
	fds_now = hd_wait_fd_count(hd.pid, base_fds, HD_TIMEOUT_MS);
	long allowed = hd_rss_allowance_kib(hd.pid, 4 * 1024);
	rss1 = hd_wait_rss_below(hd.pid, rss0 + allowed, 2000);
	printf("test_killed_client: %d clients killed in %.2f s; daemon fds "
	       "%d -> %d, RSS %ld -> %ld KiB\n", REPS,
	       (double)(hd_now_ns() - t0) / 1e9, base_fds, fds_now, rss0, rss1);
	assert_int_equal(fds_now, base_fds);
	assert_true(rss1 > 0);
	if (rss1 - rss0 >= allowed)
		fail_msg("daemon RSS grew by %ld KiB", rss1 - rss0);

	/* No reference to the pipes' read ends survives in the daemon's
	 * rings: writing finds no reader. */
	signal(SIGPIPE, SIG_IGN);
	for (int rep = 0; rep < REPS; rep++) {
		if (!no_reader(writers[rep]))
			fail_msg("rep %d: the pipe read end is still held", rep);
		close(writers[rep]);
	}
	close(file_fd);
	hd_check_service(&hd);
	assert_int_equal(hd_wait_fd_count(hd.pid, base_fds, HD_TIMEOUT_MS),
			 base_fds);
}

/* A client killed while its write into a full pipe blocks, and one
 * killed before it ever said Hello. */
static void test_killed_other_states(void **state)
{
	int base_fds = hd_settled_fd_count(hd.pid);

	(void)state;
	for (int rep = 0; rep < 10; rep++) {
		int pfd[2], ready[2], status;
		char b;
		pid_t pid;

		assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
		assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
		/* Full pipe: writes into it wait. */
		fcntl(pfd[1], F_SETFL, O_NONBLOCK);
		{
			char fill[4096] = { 0 };
			while (write(pfd[1], fill, sizeof(fill)) > 0)
				;
		}
		pid = test_fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct sr_client *c;
			sr_slot_t s;
			sr_handle_t h;

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(ready[0]);
			if (rep % 2) {
				/* Connected, nothing said. */
				int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
				struct sockaddr_un sa = { .sun_family = AF_UNIX };
				memcpy(sa.sun_path, hd.sock, strlen(hd.sock) + 1);
				if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
					_exit(20);
			} else {
				if (sr_connect(hd.sock, NULL, &c) < 0)
					_exit(21);
				h = sr_register_fd(c, pfd[1]);
				s = sr_slot_acquire(c);
				if (sr_handle_index(h) < 0 ||
				    sr_slot_index(s) < 0)
					_exit(22);
				if (sr_prep_write(c, 1, h, s, 0, 65536, 0) < 0 ||
				    sr_submit(c) != 1)
					_exit(23);
				if (sr_unregister_fd(c, h) != -EBUSY)
					_exit(24);
			}
			if (write(ready[1], "R", 1) != 1)
				_exit(25);
			for (;;)
				pause();
		}
		close(ready[1]);
		struct pollfd p = { .fd = ready[0], .events = POLLIN };
		int pr = poll(&p, 1, HD_TIMEOUT_MS);
		ssize_t n = pr == 1 ? read(ready[0], &b, 1) : -1;
		close(ready[0]);
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (n != 1)
			fail_msg("rep %d: child not ready (status 0x%x)", rep, status);
		/* Our read end keeps the pipe full; only cancellation ends the
		 * write. */
		assert_int_equal(hd_wait_fd_count(hd.pid, base_fds, HD_TIMEOUT_MS),
				 base_fds);
		/* And the registered write end is released. */
		close(pfd[1]);
		if (!no_writer(pfd[0]))
			fail_msg("rep %d: the pipe write end is still held", rep);
		close(pfd[0]);
	}
	hd_check_service(&hd);
}

/* SIGTERM while sessions have reads in flight that only cancellation
 * can end: the daemon cancels, drains, closes the sessions and exits 0. */
static struct hd_daemon other;

static int stop_other(void **state)
{
	(void)state;
	if (other.pid > 0 && !other.reaped)
		hd_stop(&other);
	return 0;
}

static void test_sigterm_with_work_in_flight(void **state)
{
	struct rc *c[3];
	int pfd[2];
	uint64_t t0;

	(void)state;
	hd_start(&other);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	for (int i = 0; i < 3; i++) {
		struct rc_handle h;
		struct rc_op ops[4];

		c[i] = rc_open(other.sock);
		h = rc_register_fd(c[i], pfd[0]);
		for (int k = 0; k < 4; k++)
			rc_op_rw(&ops[k], (uint64_t)k, SR_OP_READ, h, (uint32_t)k,
				 c[i]->gen[k], 0, 16, 0);
		rc_submit(c[i], ops, 4);
		rc_expect_quiet(c[i], 50);
	}
	t0 = hd_now_ns();
	assert_int_equal(hd_stop(&other), 0);
	printf("test_killed_client: SIGTERM with 12 reads in flight: exit 0 "
	       "after %.1f ms\n", (double)(hd_now_ns() - t0) / 1e6);
	for (int i = 0; i < 3; i++) {
		rc_expect_eof(c[i], HD_TIMEOUT_MS);
		rc_close(c[i]);
	}
	close(pfd[0]);
	close(pfd[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_killed_clients),
		cmocka_unit_test(test_killed_other_states),
		cmocka_unit_test_teardown(test_sigterm_with_work_in_flight,
					  stop_other),
	};

	return HD_RUN(tests, 90);
}
