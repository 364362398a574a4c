/* SPDX-License-Identifier: MIT */
/*
 * test_reload.c - end-to-end: SIGHUP makes saferringd re-read its policy
 * file (the systemd unit's ExecReload sends it).  The daemon must stay up,
 * new sessions get the new policy, sessions already running keep the one
 * they started with, and a malformed file on reload neither kills the
 * daemon nor stops it serving.
 */
#include "../lib/harness.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char narrow_conf[] =
	"[default]\n"
	"ops = nop read\n"
	"fds = 3\n";

/* Open sessions until one reports @max_fds (the reload is asynchronous);
 * fails after the harness timeout. */
static struct rc *session_with_max_fds(uint32_t max_fds)
{
	uint64_t deadline = hd_now_ns() + HD_TIMEOUT_MS * 1000000ULL;

	for (;;) {
		hd_assert_alive(&hd);
		struct rc *c = rc_open(hd.sock);
		if (c->max_fds == max_fds)
			return c;
		uint32_t got = c->max_fds;
		rc_close(c);
		if (hd_now_ns() > deadline)
			fail_msg("new sessions still get max_fds %u, expected %u",
				 got, max_fds);
		hd_sleep_ms(20);
	}
}

static void test_sighup_reload(void **state)
{
	struct rc *old, *fresh;
	struct rc_op op;
	struct rc_cqe cqe;
	struct rc_handle h;
	int fd = hd_make_file(&hd, "reload.dat", 65536, 0x51);

	(void)state;
	old = session_with_max_fds(64);
	h = rc_register_fd(old, fd);

	hd_write_config(&hd, narrow_conf);
	assert_int_equal(kill(hd.pid, SIGHUP), 0);
	fresh = session_with_max_fds(3);
	hd_assert_alive(&hd);

	/* The new policy for the new session. */
	{
		struct rc_handle hf = rc_register_fd(fresh, fd);
		rc_op_rw(&op, 1, SR_OP_WRITE, hf, 0, fresh->gen[0], 0, 4096, 0);
		rc_run(fresh, &op, 1, &cqe);
		assert_int_equal(cqe.status, SR_STATUS_NOT_PERMITTED);
		assert_int_equal(cqe.result, -EPERM);
		rc_op_rw(&op, 2, SR_OP_READ, hf, 0, fresh->gen[0], 0, 4096, 0);
		rc_run(fresh, &op, 1, &cqe);
		assert_int_equal(cqe.status, SR_STATUS_OK);
		assert_int_equal(cqe.result, 4096);
	}
	/* The old policy for the old one. */
	hd_pattern(rc_slot(old, 0), 4096, 0, 0x52);
	rc_op_rw(&op, 3, SR_OP_WRITE, h, 0, old->gen[0], 0, 4096, 0);
	rc_run(old, &op, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	assert_int_equal(cqe.result, 4096);

	/* A malformed file on reload: still up, still serving. */
	hd_write_config(&hd, "[default]\nno_such_key = 1\n");
	assert_int_equal(kill(hd.pid, SIGHUP), 0);
	hd_sleep_ms(200);
	hd_assert_alive(&hd);
	rc_close(fresh);
	fresh = rc_open(hd.sock);
	printf("test_reload: after a malformed reload new sessions get "
	       "max_fds %u\n", fresh->max_fds);
	rc_op_nop(&op, 4);
	rc_run(fresh, &op, 1, &cqe);
	assert_int_equal(cqe.status, SR_STATUS_OK);

	/* Back to the defaults. */
	hd_write_config(&hd, NULL);
	assert_int_equal(kill(hd.pid, SIGHUP), 0);
	rc_close(session_with_max_fds(64));
	rc_close(fresh);
	rc_close(old);
	close(fd);
	hd_check_service(&hd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sighup_reload),
	};

	return HD_RUN(tests, 60);
}
