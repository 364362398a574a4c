/* SPDX-License-Identifier: MIT */
/*
 * test_confine.c - end-to-end: the daemon confines itself (layer 4).
 *
 * The daemon the harness starts (as every end-to-end test does, with no
 * special flag) must show its seccomp filter in /proc/PID/status
 * (Seccomp: 2, NoNewPrivs: 1), say so in its log, and go on serving:
 * sessions come and go, files are registered, data moves, refusals are
 * sent, and it stops cleanly (the harness fails on a SIGSYS death).
 */
#include "../lib/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *read_text(const char *path)
{
	static char buf[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	ssize_t n;

	assert_true(fd >= 0);
	while (got + 1 < sizeof(buf) &&
	       (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
	return buf;
}

static void test_filter_in_place(void **state)
{
	char path[64];
	const char *status, *log, *line;

	(void)state;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)hd.pid);
	status = read_text(path);
	line = strstr(status, "Seccomp:");
	assert_non_null(line);
	printf("saferringd %.*s\n", (int)strcspn(line, "\n"), line);
	assert_non_null(strstr(status, "Seccomp:\t2\n"));
	assert_non_null(strstr(status, "NoNewPrivs:\t1\n"));

	log = read_text(hd.log);
	line = strstr(log, "confined: seccomp allows ");
	if (!line)
		fail_msg("the daemon's log does not say it is confined");
	printf("saferringd: %.*s\n", (int)strcspn(line, "\n"), line);
}

/* Work through the confined daemon's paths: many sessions, files,
 * reads and writes, refusals, garbage, disconnects with work in flight. */
static void test_serves_confined(void **state)
{
	int fd = hd_make_file(&hd, "confined.dat", 1 << 20, 5);
	int p[2];

	(void)state;
	for (int i = 0; i < 20; i++)
		hd_honest_roundtrip(&hd);
	{
		struct rc *c = rc_open(hd.sock);
		struct rc_handle h = rc_register_fd(c, fd);
		struct rc_op op;
		struct rc_cqe cqe;

		rc_op_rw(&op, 1, SR_OP_READ, h, 0, c->gen[0] + 1, 0, 4096, 0);
		rc_run(c, &op, 1, &cqe);
		assert_int_equal(cqe.status, SR_STATUS_STALE_GENERATION);
		assert_int_equal(rc_send_raw(c, "\xff\xff\xff", 3, NULL, 0), 0);
		rc_expect_error(c, false, 0, SR_STATUS_MALFORMED);
		/* Leave with a read of an empty pipe in flight: the daemon
		 * must cancel and drain it under the filter. */
		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		h = rc_register_fd(c, p[0]);
		rc_op_rw(&op, 2, SR_OP_READ, h, 1, c->gen[1], 0, 16, 0);
		rc_submit(c, &op, 1);
		hd_sleep_ms(50);
		rc_close(c);
		close(p[0]);
		close(p[1]);
	}
	close(fd);
	hd_sleep_ms(100);
	hd_check_service(&hd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_in_place),
		cmocka_unit_test(test_serves_confined),
	};

	return HD_RUN(tests, 60);
}
