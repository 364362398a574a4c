/* SPDX-License-Identifier: MIT */
/*
 * test_policy.c - end-to-end: per-peer policy and quotas with real
 * credentials.
 *
 * The daemon runs with a policy file giving test uids (64001...) narrow
 * limits.  The test process is root: it takes a test uid/gid as its
 * effective ids just for connect() (SO_PEERCRED reports the effective
 * ids at connect time) and is root again for everything else.  For each
 * quota (slot count and size, arena, fds, operations in flight, sessions
 * per uid) and each forbidden operation, the daemon must answer with the
 * precise status, keep serving, and leave other uids alone; saferring-cp
 * run as a uid that may not WRITE must fail saying "not permitted".
 *
 * Skips (77) unless run as root.  Must never leave the process with
 * non-root effective ids between tests (see teardown).
 */
#include "../lib/harness.h"
#include "../lib/child.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define UID_SLOTS 64001      /* slots = 4, slot_size = 8K, arena = 24K */
#define UID_FDS 64002        /* fds = 2 */
#define UID_IN_FLIGHT 64003  /* in_flight = 2 */
#define UID_SESSIONS 64004   /* sessions = 2 */
#define UID_READ_ONLY 64005  /* ops = nop read */
#define UID_NO_SESSIONS 64006 /* sessions = 0 */
#define UID_OWN 64007        /* fds = 7, beats its group's section */
#define UID_IN_GROUP 64008   /* no section of its own */
#define UID_PLAIN 64009      /* no section: [default] */
#define UID_NO_OPS 64010     /* ops = none */
#define GID_GROUP 64100      /* fds = 5 */

static const char policy_conf[] =
	"# written by tests/e2e/test_policy.c\n"
	"[default]\n"
	"ops = all\n"
	"fds = 64\n"
	"in_flight = 256\n"
	"sessions = 64\n"
	"[uid 64001]\n"
	"slots = 4\n"
	"slot_size = 8K\n"
	"arena = 24K\n"
	"[uid 64002]\n"
	"fds = 2\n"
	"[uid 64003]\n"
	"in_flight = 2\n"
	"[uid 64004]\n"
	"sessions = 2\n"
	"[uid 64005]\n"
	"ops = nop read\n"
	"[uid 64006]\n"
	"sessions = 0\n"
	"[uid 64007]\n"
	"fds = 7\n"
	"[gid 64100]\n"
	"fds = 5\n"
	"[uid 64010]\n"
	"ops = none\n";

static char pub_dir[PATH_MAX]; /* writable by the test uids */

/* Effective ids of @uid/@gid, a member of the socket's group (for
 * connect), or back to root. */
static void become(uid_t uid, gid_t gid)
{
	struct group *gr = getgrnam(HD_SOCKET_GROUP);

	assert_non_null(gr);
	assert_int_equal(setgroups(1, &gr->gr_gid), 0);
	assert_int_equal(setegid(gid), 0);
	assert_int_equal(seteuid(uid), 0);
}

static void become_root(void)
{
	if (seteuid(0) < 0 || setegid(0) < 0 || setgroups(0, NULL) < 0) {
		fprintf(stderr, "test_policy: cannot become root again: %s\n",
			strerror(errno));
		exit(1);
	}
}

static int teardown(void **state)
{
	(void)state;
	become_root();
	return 0;
}

static struct rc *rc_open_as(uid_t uid, gid_t gid)
{
	struct rc *c;

	become(uid, gid);
	c = rc_connect(hd.sock);
	become_root();
	rc_hello(c, 0, 0);
	return c;
}

static int sr_connect_as(uid_t uid, gid_t gid, const struct sr_params *p,
			 struct sr_client **out)
{
	int r;

	become(uid, gid);
	r = sr_connect(hd.sock, p, out);
	become_root();
	return r;
}

static void test_slot_quota(void **state)
{
	struct sr_params want = { .slot_count = 100, .slot_size = 1 << 20 };
	struct sr_client *c;
	struct sr_limits lim;
	struct rc *rc;

	(void)state;
	/* Everything wished for is clamped: 8K slots, and only 3 fit 24K. */
	assert_int_equal(sr_connect_as(UID_SLOTS, UID_SLOTS, &want, &c), 0);
	assert_int_equal(sr_limits(c, &lim), 0);
	assert_int_equal(lim.slot_size, 8192);
	assert_int_equal(lim.slot_count, 3);
	sr_close(c);

	/* A size that is not a multiple of 4K rounds up, within the max. */
	become(UID_SLOTS, UID_SLOTS);
	rc = rc_connect(hd.sock);
	become_root();
	rc_hello(rc, 2, 5000);
	assert_int_equal(rc->slot_count, 2);
	assert_int_equal(rc->slot_size, 8192);
	/* A range beyond the granted slot is refused. */
	{
		int fd = hd_make_file(&hd, "slots.dat", 65536, 1);
		struct rc_handle h = rc_register_fd(rc, fd);
		struct rc_op op;
		struct rc_cqe cqe;

		rc_op_rw(&op, 1, SR_OP_READ, h, 0, rc->gen[0], 0, 8193, 0);
		rc_run(rc, &op, 1, &cqe);
		assert_int_equal(cqe.status, SR_STATUS_OUT_OF_BOUNDS);
		rc_op_rw(&op, 2, SR_OP_READ, h, 2, 0, 0, 4096, 0);
		rc_run(rc, &op, 1, &cqe);
		assert_int_equal(cqe.status, SR_STATUS_BAD_SLOT);
		close(fd);
	}
	rc_close(rc);

	/* Another uid keeps the defaults. */
	assert_int_equal(sr_connect_as(UID_PLAIN, UID_PLAIN, &want, &c), 0);
	assert_int_equal(sr_limits(c, &lim), 0);
	assert_int_equal(lim.slot_size, 1 << 20);
	assert_true(lim.slot_count > 3);
	sr_close(c);
}

static void test_fd_quota(void **state)
{
	int fds[3];
	struct rc_handle h[3];
	struct sr_client *c;
	struct rc *rc;
	sr_handle_t b;
	sr_handle_t a;

	(void)state;
	for (int i = 0; i < 3; i++)
		fds[i] = hd_make_file(&hd, "fds.dat", 4096, 2);

	rc = rc_open_as(UID_FDS, UID_FDS);
	assert_int_equal(rc->max_fds, 2);
	assert_int_equal(rc_register(rc, &fds[0], 1, &h[0]), SR_STATUS_OK);
	assert_int_equal(rc_register(rc, &fds[1], 1, &h[1]), SR_STATUS_OK);
	assert_int_equal(rc_register(rc, &fds[2], 1, &h[2]), SR_STATUS_QUOTA);
	/* Room again once one goes. */
	assert_int_equal(rc_unregister(rc, h[0]), SR_STATUS_OK);
	assert_int_equal(rc_register(rc, &fds[2], 1, &h[2]), SR_STATUS_OK);
	rc_close(rc);

	/* Through the library: -EDQUOT. */
	assert_int_equal(sr_connect_as(UID_FDS, UID_FDS, NULL, &c), 0);
	a = sr_register_fd(c, fds[0]);
	b = sr_register_fd(c, fds[1]);
	assert_true(sr_handle_index(a) >= 0 && sr_handle_index(b) >= 0);
	assert_int_equal(sr_handle_index(sr_register_fd(c, fds[2])), -EDQUOT);
	sr_close(c);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
}

static void test_in_flight_quota(void **state)
{
	struct rc_op ops[3];
	struct rc_cqe cqes[2];
	struct rc_handle h;
	struct rc *rc;
	int p[2];

	(void)state;
	rc = rc_open_as(UID_IN_FLIGHT, UID_IN_FLIGHT);
	assert_int_equal(rc->max_in_flight, 2);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	h = rc_register_fd(rc, p[0]);
	/* Two reads of an empty pipe stay in the kernel; the third is over
	 * the quota and refused at once, as is anything else now. */
	for (uint32_t i = 0; i < 3; i++)
		rc_op_rw(&ops[i], 10 + i, SR_OP_READ, h, i, rc->gen[i], 0, 16, 0);
	rc_submit(rc, ops, 3);
	rc_wait_cqes(rc, 1, cqes, HD_TIMEOUT_MS);
	assert_int_equal(cqes[0].tag, 12);
	assert_int_equal(cqes[0].status, SR_STATUS_QUOTA);
	assert_int_equal(cqes[0].result, -EDQUOT);
	rc_op_nop(&ops[0], 20);
	rc_run(rc, ops, 1, cqes);
	assert_int_equal(cqes[0].status, SR_STATUS_QUOTA);
	rc_expect_quiet(rc, 100);

	/* End of file completes both; then there is room again. */
	close(p[1]);
	rc_wait_cqes(rc, 2, cqes, HD_TIMEOUT_MS);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(cqes[i].status, SR_STATUS_OK);
		assert_int_equal(cqes[i].result, 0);
	}
	rc_op_nop(&ops[0], 21);
	rc_run(rc, ops, 1, cqes);
	assert_int_equal(cqes[0].status, SR_STATUS_OK);
	close(p[0]);
	rc_close(rc);
}

/* Send a Hello by hand; the reply must be Error{@status}. */
static void expect_hello_refused(struct rc *c, uint32_t status)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__Hello hello = SAFERRING__HELLO__INIT;

	hello.version = SR_PROTOCOL_VERSION;
	req.has_seq = true;
	req.seq = rc_next_seq(c);
	req.body_case = SAFERRING__REQUEST__BODY_HELLO;
	req.hello = &hello;
	assert_int_equal(rc_send_request(c, &req, NULL, 0), 0);
	rc_expect_error(c, true, req.seq, status);
	rc_expect_eof(c, HD_TIMEOUT_MS);
}

static void test_session_quota(void **state)
{
	struct sr_client *a, *b, *c, *other;
	struct rc *pending[17];
	uint64_t deadline;
	int r;

	(void)state;
	assert_int_equal(sr_connect_as(UID_SESSIONS, UID_SESSIONS, NULL, &a), 0);
	assert_int_equal(sr_connect_as(UID_SESSIONS, UID_SESSIONS, NULL, &b), 0);
	assert_int_equal(sr_connect_as(UID_SESSIONS, UID_SESSIONS, NULL, &c),
			 -EDQUOT);
	/* Other uids are not affected. */
	assert_int_equal(sr_connect_as(UID_PLAIN, UID_PLAIN, NULL, &other), 0);
	sr_close(other);

	/* Refused connections cannot pile up: past 16 pending refusals a
	 * connection is closed without an answer. */
	become(UID_SESSIONS, UID_SESSIONS);
	for (int i = 0; i < 17; i++)
		pending[i] = rc_connect(hd.sock);
	become_root();
	rc_expect_eof(pending[16], HD_TIMEOUT_MS);
	rc_close(pending[16]);
	for (int i = 0; i < 16; i++) {
		expect_hello_refused(pending[i], SR_STATUS_QUOTA);
		rc_close(pending[i]);
	}

	/* A session ends: room for one more (the daemon frees it
	 * asynchronously, so allow it a moment). */
	sr_close(a);
	deadline = hd_now_ns() + HD_TIMEOUT_MS * 1000000ULL;
	while ((r = sr_connect_as(UID_SESSIONS, UID_SESSIONS, NULL, &c)) ==
	       -EDQUOT && hd_now_ns() < deadline)
		hd_sleep_ms(10);
	assert_int_equal(r, 0);
	assert_int_equal(sr_connect_as(UID_SESSIONS, UID_SESSIONS, NULL, &a),
			 -EDQUOT);
	sr_close(b);
	sr_close(c);
	hd_check_service(&hd);
}

static void test_no_sessions(void **state)
{
	struct sr_client *c;
	struct rc *rc;

	(void)state;
	assert_int_equal(sr_connect_as(UID_NO_SESSIONS, UID_NO_SESSIONS, NULL,
				       &c), -EPERM);
	become(UID_NO_SESSIONS, UID_NO_SESSIONS);
	rc = rc_connect(hd.sock);
	become_root();
	expect_hello_refused(rc, SR_STATUS_NOT_PERMITTED);
	rc_close(rc);
}

/* Every opcode outside the policy is NOT_PERMITTED before any other
 * check: an operation with no fields at all gets that answer. */
static void check_only_allowed(struct rc *rc, uint64_t allowed)
{
	for (uint32_t op = 0; op < SR_OP__COUNT; op++) {
		struct rc_op o;
		struct rc_cqe cqe;

		if (allowed & (1ULL << op))
			continue;
		rc_op_nop(&o, 100 + op);
		o.op.opcode = op;
		rc_run(rc, &o, 1, &cqe);
		if (cqe.status != SR_STATUS_NOT_PERMITTED)
			fail_msg("opcode %u: %s, expected not permitted", op,
				 sr_strstatus(cqe.status));
		assert_int_equal(cqe.result, -EPERM);
	}
}

static void test_denied_ops(void **state)
{
	int fd = hd_make_file(&hd, "ro.dat", 8192, 3);
	struct sr_client *c;
	struct rc_handle h;
	struct rc_op op;
	struct rc_cqe cqe;
	struct rc *rc;
	char buf[4096];

	(void)state;
	rc = rc_open_as(UID_READ_ONLY, UID_READ_ONLY);
	check_only_allowed(rc, (1ULL << SR_OP_NOP) | (1ULL << SR_OP_READ));
	h = rc_register_fd(rc, fd);
	/* A well-formed WRITE is refused all the same, and the file and
	 * the slot are untouched. */
	memset(rc_slot(rc, 0), 0xee, 4096);
	rc_op_rw(&op, 1, SR_OP_WRITE, h, 0, rc->gen[0], 0, 4096, 0);
	rc_run(rc, &op, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_NOT_PERMITTED);
	assert_int_equal(cqe.result, -EPERM);
	assert_false(cqe.has_slot);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	assert_true(hd_pattern_ok(buf, sizeof(buf), 0, 3));
	rc_op_fsync(&op, 2, h, 0);
	rc_run(rc, &op, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_NOT_PERMITTED);
	/* What is allowed works. */
	rc_op_rw(&op, 3, SR_OP_READ, h, 0, rc->gen[0], 0, 4096, 4096);
	rc_run(rc, &op, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	assert_int_equal(cqe.result, 4096);
	assert_true(hd_pattern_ok(rc_slot(rc, 0), 4096, 4096, 3));
	rc_op_nop(&op, 4);
	rc_run(rc, &op, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	rc_close(rc);

	/* The library reports -EPERM. */
	assert_int_equal(sr_connect_as(UID_READ_ONLY, UID_READ_ONLY, NULL, &c),
			 0);
	{
		sr_handle_t hh = sr_register_fd(c, fd);

		assert_true(sr_handle_index(hh) >= 0);
		assert_int_equal(sr_pwrite(c, hh, buf, 100, 0), -EPERM);
		assert_int_equal(sr_pread(c, hh, buf, 100, 0), 100);
	}
	sr_close(c);

	/* ops = none: not even NOP. */
	rc = rc_open_as(UID_NO_OPS, UID_NO_OPS);
	check_only_allowed(rc, 0);
	rc_close(rc);
	close(fd);
}

/* uid section > gid section > [default]. */
static void test_precedence(void **state)
{
	struct rc *rc;

	(void)state;
	rc = rc_open_as(UID_OWN, GID_GROUP);
	assert_int_equal(rc->max_fds, 7);
	rc_close(rc);
	rc = rc_open_as(UID_IN_GROUP, GID_GROUP);
	assert_int_equal(rc->max_fds, 5);
	rc_close(rc);
	rc = rc_open_as(UID_IN_GROUP, UID_IN_GROUP);
	assert_int_equal(rc->max_fds, 64);
	rc_close(rc);
	rc = rc_open_as(UID_OWN, UID_OWN);
	assert_int_equal(rc->max_fds, 7);
	rc_close(rc);
}

static void bin_path(const char *name, char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	assert_true(n > 0);
	self[n] = '\0';
	slash = strrchr(self, '/');
	assert_non_null(slash);
	*slash = '\0';
	if ((size_t)snprintf(buf, len, "%s/../bin/%s", self, name) >= len)
		fail_msg("path too long");
}

/* Run saferring-cp as @uid (real and effective); its exit status, and
 * its stderr in @err. */
static int cp_as(uid_t uid, const char *src, const char *dst, char *err,
		 size_t errlen)
{
	char cp[PATH_MAX + 64];
	int p[2], status;
	ssize_t n;
	size_t got = 0;
	pid_t pid;

	bin_path("saferring-cp", cp, sizeof(cp));
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = test_fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		if (hd_become(uid, uid) < 0)
			_exit(100);
		execl(cp, cp, "--socket", hd.sock, src, dst, (char *)NULL);
		_exit(101);
	}
	close(p[1]);
	while (got + 1 < errlen &&
	       (n = read(p[0], err + got, errlen - 1 - got)) > 0)
		got += (size_t)n;
	err[got] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_cp_write_forbidden(void **state)
{
	char src[PATH_MAX + 16], dst[PATH_MAX + 16], err[1024];
	int fd;

	(void)state;
	snprintf(src, sizeof(src), "%s/src", pub_dir);
	fd = open(src, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	{
		static char buf[200000];

		hd_pattern(buf, sizeof(buf), 0, 9);
		assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	}
	close(fd);

	snprintf(dst, sizeof(dst), "%s/dst-ro", pub_dir);
	assert_int_equal(cp_as(UID_READ_ONLY, src, dst, err, sizeof(err)), 1);
	printf("saferring-cp as uid %d says: %s", UID_READ_ONLY, err);
	if (!strstr(err, "not permitted"))
		fail_msg("saferring-cp's message lacks 'not permitted': %s", err);

	/* The same copy by a uid the policy lets write works. */
	snprintf(dst, sizeof(dst), "%s/dst-ok", pub_dir);
	if (cp_as(UID_PLAIN, src, dst, err, sizeof(err)) != 0)
		fail_msg("saferring-cp as uid %d failed: %s", UID_PLAIN, err);
	{
		static char buf[200001];
		int in = open(dst, O_RDONLY | O_CLOEXEC);

		assert_true(in >= 0);
		assert_int_equal(read(in, buf, sizeof(buf)), 200000);
		assert_true(hd_pattern_ok(buf, 200000, 0, 9));
		close(in);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_slot_quota, teardown),
		cmocka_unit_test_teardown(test_fd_quota, teardown),
		cmocka_unit_test_teardown(test_in_flight_quota, teardown),
		cmocka_unit_test_teardown(test_session_quota, teardown),
		cmocka_unit_test_teardown(test_no_sessions, teardown),
		cmocka_unit_test_teardown(test_denied_ops, teardown),
		cmocka_unit_test_teardown(test_precedence, teardown),
		cmocka_unit_test_teardown(test_cp_write_forbidden, teardown),
	};
	int failed;

	if (geteuid() != 0) {
		printf("SKIP: test_policy needs root (it connects as test uids "
		       "6400x via seteuid)\n");
		return 77;
	}
	hd_watchdog(120);
	hd_start_config(&hd, policy_conf);
	/* The test uids must reach the socket and a directory of their own. */
	if (chmod(hd.dir, 0711) < 0) {
		fprintf(stderr, "chmod %s: %s\n", hd.dir, strerror(errno));
		hd_stop(&hd);
		return 1;
	}
	snprintf(pub_dir, sizeof(pub_dir), "%s/pub", hd.dir);
	if (mkdir(pub_dir, 0777) < 0 || chmod(pub_dir, 01777) < 0) {
		fprintf(stderr, "mkdir %s: %s\n", pub_dir, strerror(errno));
		hd_stop(&hd);
		return 1;
	}
	failed = cmocka_run_group_tests_name("policy", tests, NULL, NULL);
	if (failed)
		hd_print_log_tail(&hd, 40);
	if (hd_stop(&hd) < 0)
		failed++;
	return failed ? 1 : 0;
}
