/* SPDX-License-Identifier: MIT */
/*
 * test_admission_fuse.c - end-to-end: a FUSE file cannot freeze the
 * daemon.
 *
 * The review's critical finding: a FUSE file whose READ is never answered
 * (any user can mount FUSE) froze the whole daemon, because the read ran
 * inline in the only event loop's io_uring_enter and FUSE does not honour
 * io_uring's non-blocking attempt; every other client waited as long as
 * the attacker chose.  Here, with the test's own FUSE server
 * (tests/lib/fuse_stub.c):
 *
 *  - by default a file on FUSE is refused (BAD_DESCRIPTORS, naming fuse);
 *  - with a policy that allows it (allow_fs = fuse, for gid 4242), the
 *    read is admitted and held by the server, and meanwhile another
 *    client is served: NOP and file round trips complete (the read waits
 *    on io_uring's workers, IOSQE_ASYNC, never in the event loop);
 *  - when the server goes away the held read completes with an error and
 *    the daemon drains and stops cleanly.
 *
 * Skips (77) where FUSE cannot be mounted (no /dev/fuse, not root).
 */
#include "../lib/harness.h"
#include "../lib/child.h"
#include "../lib/fuse_stub.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FUSE_GID 4242

static const char fuse_conf[] =
	"# written by tests/e2e/test_admission_fuse.c\n"
	"[default]\n"
	"ops = all\n"
	"slots = 64\n"
	"slot_size = 64K\n"
	"arena = 4M\n"
	"fds = 16\n"
	"in_flight = 64\n"
	"sessions = 64\n"
	"[gid 4242]\n"
	"allow_fs = fuse\n";

static struct fuse_stub *stub;
static char mnt[128];

static int fuse_open(const char *name)
{
	char path[200];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", mnt, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
	return fd;
}

static void test_fuse_refused(void **state)
{
	struct rc *c = rc_open(hd.sock);
	static const char *const names[] = { "hang", "data" };

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct rc_handle h;
		int fd = fuse_open(names[i]);

		assert_int_equal(rc_register(c, &fd, 1, &h),
				 SR_STATUS_BAD_DESCRIPTORS);
		if (!strstr(c->last_error, "fuse"))
			fail_msg("refused, but the reason \"%s\" does not name "
				 "fuse", c->last_error);
		close(fd);
	}
	printf("test_admission_fuse: a FUSE file is refused: %s\n",
	       c->last_error);
	rc_close(c);
	assert_int_equal(fuse_stub_hung_reads(stub), 0);
	hd_check_service(&hd);
}

/* The attacker, with a policy that allows FUSE: a read of "hang", held
 * by the server.  Writes 'S' to @report once submitted, and exits 0 when
 * the read ends with an error after the server went away. */
static int attacker(int report)
{
	struct sr_client *c;
	struct sr_cqe cqe;
	int fd, r;
	sr_slot_t s;
	sr_handle_t h;

	if (setgroups(0, NULL) < 0 || setgid(FUSE_GID) < 0)
		return 10;
	fd = fuse_open("hang");
	r = sr_connect(hd.sock, NULL, &c);
	if (r < 0)
		return 11;
	h = sr_register_fd(c, fd);
	if (sr_handle_index(h) < 0) {
		fprintf(stderr, "attacker: register: %s\n",
			strerror(-sr_handle_index(h)));
		return 12;
	}
	s = sr_slot_acquire(c);
	if (sr_slot_index(s) < 0 || sr_prep_read(c, 1, h, s, 0, 4096, 0) < 0 ||
	    sr_submit(c) != 1)
		return 13;
	if (write(report, "S", 1) != 1)
		return 14;
	r = sr_wait_cqe(c, &cqe);
	if (r < 0)
		return 15;
	fprintf(stderr, "attacker: the held read ended with %d (%s)\n",
		cqe.res, cqe.res < 0 ? strerror(-cqe.res) : "data");
	return cqe.res < 0 && cqe.status == SR_STATUS_OK ? 0 : 16;
}

static void nop_round_trip(void)
{
	struct rc *c = rc_open(hd.sock);
	struct rc_op op;
	struct rc_cqe cqe;

	rc_op_nop(&op, 77);
	rc_run(c, &op, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	rc_close(c);
}

static void test_fuse_allowed_never_blocks(void **state)
{
	int p[2], status;
	uint64_t t0, deadline;
	pid_t pid;
	char b;

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = test_fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		_exit(attacker(p[1]));
	}
	close(p[1]);
	{
		struct pollfd pf = { .fd = p[0], .events = POLLIN };

		if (poll(&pf, 1, HD_TIMEOUT_MS) != 1 || read(p[0], &b, 1) != 1)
			fail_msg("the attacker did not submit its read");
	}
	close(p[0]);
	/* The read reached the server, which holds it. */
	deadline = hd_now_ns() + HD_TIMEOUT_MS * 1000000ULL;
	while (fuse_stub_hung_reads(stub) < 1 && hd_now_ns() < deadline)
		hd_sleep_ms(5);
	assert_true(fuse_stub_hung_reads(stub) >= 1);

	/* Everyone else is served meanwhile. */
	t0 = hd_now_ns();
	for (int i = 0; i < 20; i++)
		nop_round_trip();
	hd_honest_roundtrip(&hd);
	printf("test_admission_fuse: with a FUSE read held, 20 NOP sessions "
	       "and a file round trip took %.1f ms\n",
	       (double)(hd_now_ns() - t0) / 1e6);
	assert_true(fuse_stub_hung_reads(stub) >= 1);

	/* The server goes away: the held read ends, the attacker hears. */
	fuse_stub_stop(stub);
	stub = NULL;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("attacker ended with status %#x", status);
	hd_check_service(&hd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fuse_refused),
		cmocka_unit_test(test_fuse_allowed_never_blocks),
	};
	int failed, r;

	if (geteuid() != 0) {
		printf("SKIP: test_admission_fuse needs root to mount its FUSE "
		       "server\n");
		return 77;
	}
	hd_watchdog(120);
	hd_start_config(&hd, fuse_conf);
	snprintf(mnt, sizeof(mnt), "%s/fuse", hd.dir);
	if (mkdir(mnt, 0755) < 0) {
		fprintf(stderr, "mkdir %s: %s\n", mnt, strerror(errno));
		hd_stop(&hd);
		return 1;
	}
	r = fuse_stub_start(mnt, &stub);
	if (r < 0) {
		printf("SKIP: cannot mount a FUSE filesystem here: %s\n",
		       strerror(-r));
		hd_stop(&hd);
		return 77;
	}
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	/* Before the daemon stops: a read held by the server would hold the
	 * daemon's worker, and its stop, for ever. */
	fuse_stub_stop(stub);
	if (failed)
		hd_print_log_tail(&hd, 30);
	if (hd_stop(&hd) < 0)
		failed++;
	return failed ? 1 : 0;
}
