/* SPDX-License-Identifier: MIT */
/*
 * test_faults.c - end-to-end: the daemon at its descriptor limit.
 *
 * The running daemon's RLIMIT_NOFILE (soft and hard, so that it cannot
 * raise it again) is lowered with prlimit(2) to a dozen descriptors above
 * what it uses.  Then:
 *  1. sessions are opened until one cannot be set up: it must be refused
 *     cleanly, Error{QUOTA} to its Hello (the daemon is out of a resource
 *     it rations, not broken) and end of file;
 *  2. connections that never send Hello take the remaining descriptors
 *     until the daemon cannot accept: the next client waits in the listen
 *     backlog, every session held keeps working, and the daemon does not
 *     spin on the listener (under half a second of CPU in one second);
 *  3. the idle connections and one session close: the waiting client is
 *     accepted and served (or, accepted the moment the first descriptor
 *     came free, refused cleanly again), and a client is served once the
 *     daemon has settled, all at the same limit.
 * Afterwards the descriptor count is back at its baseline.  Figures are
 * printed.  Must never lower the limit of anything but the daemon it
 * started (prlimit on hd.pid only).
 */
#include "../lib/harness.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define MAX_TRIES 64
#define HEADROOM 12

/* A ring's file table (twice fds) counts against RLIMIT_NOFILE too: with
 * the built-in 64 no session could be set up under the low limit. */
static const char fault_conf[] =
	"# written by tests/e2e/test_faults.c\n"
	"[default]\n"
	"ops = all\n"
	"fds = 4\n"
	"in_flight = 8\n"
	"sessions = 100\n";

enum outcome { WELCOMED, REFUSED, WAITING, CLOSED };

/* Wait up to @ms for the answer to a Hello sent on @c. */
static enum outcome wait_hello(struct rc *c, int ms, uint32_t *status)
{
	Saferring__Reply *r;
	int memfd = -1;
	int n = rc_recv(c, ms, &r, &memfd);

	if (n == -ETIMEDOUT)
		return WAITING;
	if (n == 0)
		return CLOSED;
	assert_int_equal(n, 1);
	if (memfd >= 0)
		close(memfd);
	if (r->body_case == SAFERRING__REPLY__BODY_WELCOME)
		return WELCOMED;
	assert_int_equal(r->body_case, SAFERRING__REPLY__BODY_ERROR);
	*status = r->error->status;
	return REFUSED;
}

/* Send a Hello (2 slots of 4 KiB) on @c and wait up to @ms. */
static enum outcome try_hello(struct rc *c, int ms, uint32_t *status)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__Hello hello = SAFERRING__HELLO__INIT;

	hello.version = SR_PROTOCOL_VERSION;
	hello.has_slot_count = true;
	hello.slot_count = 2;
	hello.has_slot_size = true;
	hello.slot_size = 4096;
	req.has_seq = true;
	req.seq = rc_next_seq(c);
	req.body_case = SAFERRING__REQUEST__BODY_HELLO;
	req.hello = &hello;
	assert_int_equal(rc_send_request(c, &req, NULL, 0), 0);
	return wait_hello(c, ms, status);
}

/* Descriptors of @pid numbered below @limit: what RLIMIT_NOFILE counts.
 * (valgrind keeps descriptors of its own far above the limit.) */
static int fds_below(pid_t pid, int limit)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && atoi(e->d_name) < limit)
			n++;
	closedir(d);
	return n;
}

static void nop_ok(struct rc *c, uint64_t tag)
{
	struct rc_op op;
	struct rc_cqe cqe;

	rc_op_nop(&op, tag);
	rc_run(c, &op, 1, &cqe);
	assert_int_equal(cqe.tag, tag);
	assert_int_equal(cqe.status, SR_STATUS_OK);
}

/* utime + stime of @pid in clock ticks. */
static long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f || !fgets(buf, sizeof(buf), f)) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			 "%lu %lu", &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

static void test_descriptor_limit(void **state)
{
	struct rc *held[MAX_TRIES], *idle[MAX_TRIES], *last = NULL;
	struct rlimit low;
	unsigned nheld = 0, nidle = 0;
	enum outcome out = WELCOMED;
	uint32_t status = SR_STATUS_OK;
	int total = hd_settled_fd_count(hd.pid);
	int base = fds_below(hd.pid, 1024), limit = base + HEADROOM;
	long ticks0, ticks1;

	(void)state;
	assert_true(base > 0 && total >= base);
	low.rlim_cur = low.rlim_max = (rlim_t)limit;
	/* Until the daemon stops: raising a hard limit needs
	 * CAP_SYS_RESOURCE, which the test need not have. */
	assert_int_equal(hd_prlimit(&hd, RLIMIT_NOFILE, &low), 0);

	/* 1. Sessions until one cannot be set up. */
	while (nheld < MAX_TRIES) {
		last = rc_connect(hd.sock);
		out = try_hello(last, HD_TIMEOUT_MS / 5, &status);
		if (out != WELCOMED)
			break;
		held[nheld++] = last;
	}
	printf("test_faults: limit %d descriptors (%d in use before): %u "
	       "sessions held, the next one %s%s\n", limit, base,
	       nheld, out == REFUSED ? "refused with " :
	       out == WAITING ? "not accepted" : "closed without an answer",
	       out == REFUSED ? sr_strstatus(status) : "");
	assert_true(nheld >= 1 && nheld < MAX_TRIES);
	hd_assert_alive(&hd);
	/* Refused cleanly: an Error that says why, then end of file. */
	assert_int_equal(out, REFUSED);
	assert_int_equal(status, SR_STATUS_QUOTA);
	rc_expect_eof(last, HD_TIMEOUT_MS);
	rc_close(last);

	/* 2. Connections that never say Hello take the last descriptors,
	 * until the daemon cannot accept any more: the next Hello waits. */
	while (nidle < MAX_TRIES) {
		last = rc_connect(hd.sock);
		out = try_hello(last, HD_TIMEOUT_MS / 10, &status);
		/* Not answered yet: really not accepted only when every
		 * descriptor the daemon may have is in use. */
		if (out == WAITING && fds_below(hd.pid, limit) < limit)
			out = wait_hello(last, HD_TIMEOUT_MS, &status);
		if (out == WAITING)
			break;
		/* Accepted, so refused at Hello: the descriptor went back. */
		assert_int_equal(out, REFUSED);
		rc_close(last);
		last = NULL;
		idle[nidle++] = rc_connect(hd.sock);
		hd_sleep_ms(20);
	}
	assert_true(out == WAITING && nidle < MAX_TRIES);
	assert_int_equal(fds_below(hd.pid, limit), limit);
	printf("test_faults: %u idle connections later the daemon stopped "
	       "accepting\n", nidle);
	/* Every session held still works. */
	for (unsigned i = 0; i < nheld; i++)
		nop_ok(held[i], 100 + i);
	/* Nothing to do for a second but a listener it cannot accept from:
	 * the daemon must not spin on it. */
	ticks0 = cpu_ticks(hd.pid);
	hd_sleep_ms(1000);
	ticks1 = cpu_ticks(hd.pid);
	printf("test_faults: daemon CPU over 1 s unable to accept: %ld of %ld "
	       "ticks\n", ticks1 - ticks0, sysconf(_SC_CLK_TCK));
	assert_true(ticks0 >= 0 && ticks1 - ticks0 < sysconf(_SC_CLK_TCK) / 2);
	assert_int_equal(wait_hello(last, 10, &status), WAITING);

	/* 3. The idle ones and one session leave, at the same limit.  The
	 * daemon accepts again as soon as one descriptor is free, so the
	 * waiting client is either served or, accepted before the other
	 * descriptors came free, refused cleanly again; once the daemon has
	 * settled, a new client is served. */
	for (unsigned i = 0; i < nidle; i++)
		rc_close(idle[i]);
	rc_close(held[--nheld]);
	out = wait_hello(last, HD_TIMEOUT_MS, &status);
	printf("test_faults: after %u idle connections and a session closed, "
	       "the waiting one was %s%s\n", nidle,
	       out == WELCOMED ? "served" : out == REFUSED ? "refused with " :
	       "not answered", out == REFUSED ? sr_strstatus(status) : "");
	if (out == REFUSED) {
		assert_int_equal(status, SR_STATUS_QUOTA);
		rc_expect_eof(last, HD_TIMEOUT_MS);
		rc_close(last);
		hd_settled_fd_count(hd.pid);
		last = rc_connect(hd.sock);
		out = try_hello(last, HD_TIMEOUT_MS, &status);
	}
	if (out != WELCOMED)
		fail_msg("no client served after descriptors came free (outcome "
			 "%d, status %s)", out, sr_strstatus(status));
	nop_ok(last, 200);
	rc_close(last);
	for (unsigned i = 0; i < nheld; i++) {
		nop_ok(held[i], 300 + i);
		rc_close(held[i]);
	}
	assert_int_equal(hd_wait_fd_count(hd.pid, total, HD_TIMEOUT_MS), total);
	hd_check_service(&hd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_descriptor_limit),
	};
	int failed;

	hd_watchdog(60);
	hd_start_config(&hd, fault_conf);
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	if (failed)
		hd_print_log_tail(&hd, 30);
	if (hd_stop(&hd) < 0)
		failed++;
	return failed ? 1 : 0;
}
