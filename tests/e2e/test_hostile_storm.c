/* SPDX-License-Identifier: MIT */
/*
 * test_hostile_storm.c - end-to-end: connect/disconnect storms.
 *
 *  - six processes, 150 connections each, cycling through the ways a
 *    client can leave: at once, after Hello without reading the Welcome,
 *    after the Welcome, with a read in flight, after half a request and a
 *    half-close, and through libsaferring; meanwhile an honest client
 *    keeps doing verified round trips, every one of which must succeed;
 *  - one uid opens 200 connections and sends nothing (its own session
 *    quota fills, its surplus connections are closed), while a client of
 *    another uid is served as usual;
 *  - afterwards the daemon's descriptor count is back at its baseline and
 *    its RSS within a few MiB of where it started.
 *
 * Figures are printed; only generous hang guards bound the time.  Must
 * never leave a storm process behind: each dies with the test
 * (PR_SET_PDEATHSIG) and is reaped.
 */
#include "../lib/harness.h"
#include "../lib/child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROCS 6
#define ROUNDS 150
#define IDLE_CONNS 200
#define NOBODY 65534

static int raw_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -1;
	memcpy(sa.sun_path, hd.sock, strlen(hd.sock) + 1);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

static int send_msg(int s, Saferring__Request *req, int fd)
{
	unsigned char buf[512];
	size_t len = saferring__request__pack(req, buf);

	return wire_send(s, buf, len, fd);
}

static int send_hello(int s)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__Hello hello = SAFERRING__HELLO__INIT;

	hello.version = SR_PROTOCOL_VERSION;
	hello.has_slot_count = true;
	hello.slot_count = 4;
	hello.has_slot_size = true;
	hello.slot_size = 4096;
	req.has_seq = true;
	req.seq = 1;
	req.body_case = SAFERRING__REQUEST__BODY_HELLO;
	req.hello = &hello;
	return send_msg(s, &req, -1);
}

/* Wait (bounded) for one reply; closes any descriptor.  1, 0 on EOF. */
static int recv_one(int s, unsigned char *buf)
{
	struct wire_msg m;
	int r;

	for (int i = 0; i < 500; i++) {
		r = wire_recv(s, buf, WIRE_MAX_DATAGRAM, &m);
		if (r != -EAGAIN)
			break;
		hd_sleep_ms(10);
	}
	if (r > 0)
		wire_msg_close_fds(&m);
	return r;
}

/* One storm process: exit 0, or the number of the step that failed. */
static void stormer(unsigned id)
{
	static unsigned char buf[WIRE_MAX_DATAGRAM];
	int pfd[2];

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (pipe2(pfd, O_CLOEXEC) < 0)
		_exit(2);
	for (unsigned i = 0; i < ROUNDS; i++) {
		unsigned kind = (i + id) % 6;
		int s;

		if (kind == 5) {
			struct sr_client *c;
			struct sr_params p = { .slot_count = 4, .slot_size = 4096 };

			if (sr_connect(hd.sock, &p, &c) < 0)
				_exit(10);
			sr_close(c);
			continue;
		}
		s = raw_connect();
		if (s < 0)
			_exit(11);
		fcntl(s, F_SETFL, O_NONBLOCK);
		switch (kind) {
		case 0:
			break;
		case 1:
			if (send_hello(s) < 0)
				_exit(12);
			break;
		case 2:
			if (send_hello(s) < 0 || recv_one(s, buf) != 1)
				_exit(13);
			break;
		case 3: {
			Saferring__Request req = SAFERRING__REQUEST__INIT;
			Saferring__RegisterFd reg = SAFERRING__REGISTER_FD__INIT;
			Saferring__Submit submit = SAFERRING__SUBMIT__INIT;
			struct rc_op op;
			Saferring__Op *ptr = &op.op;

			if (send_hello(s) < 0 || recv_one(s, buf) != 1)
				_exit(14);
			req.has_seq = true;
			req.seq = 2;
			req.body_case = SAFERRING__REQUEST__BODY_REGISTER_FD;
			req.register_fd = &reg;
			if (send_msg(s, &req, pfd[0]) < 0 || recv_one(s, buf) != 1)
				_exit(15);
			/* Handle 0, generation 1: the first registration. */
			memset(&op, 0, sizeof(op));
			saferring__op__init(&op.op);
			saferring__fd_handle__init(&op.fd);
			saferring__slot_ref__init(&op.slot);
			op.op.tag = i;
			op.op.opcode = SR_OP_READ;
			op.fd.generation = 1;
			op.op.fd = &op.fd;
			op.slot.generation = 1;
			op.slot.length = 16;
			op.op.slot = &op.slot;
			op.op.has_file_offset = true;
			submit.n_ops = 1;
			submit.ops = &ptr;
			req = (Saferring__Request)SAFERRING__REQUEST__INIT;
			req.body_case = SAFERRING__REQUEST__BODY_SUBMIT;
			req.submit = &submit;
			if (send_msg(s, &req, -1) < 0)
				_exit(16);
			break;
		}
		case 4:
			if (send_hello(s) < 0 || wire_send(s, "\x2a\x80", 2, -1) < 0)
				_exit(17);
			shutdown(s, SHUT_WR);
			break;
		default:
			_exit(18); /* kind is rng() % 5 */
		}
		close(s);
	}
	_exit(0);
}

static void test_connect_storm(void **state)
{
	pid_t pids[PROCS];
	int base = hd_settled_fd_count(hd.pid), left = PROCS;
	long rss0 = hd_rss_kib(hd.pid), rss1;
	unsigned rounds = 0;
	uint64_t deadline = hd_now_ns() + 60ULL * 1000000000ULL;

	(void)state;
	assert_true(base > 0 && rss0 > 0);
	for (unsigned i = 0; i < PROCS; i++) {
		pids[i] = test_fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0)
			stormer(i);
	}
	while (left > 0) {
		int status;
		pid_t p = waitpid(-1, &status, WNOHANG);

		if (p > 0) {
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				fail_msg("storm process %d failed (status %#x)",
					 (int)p, status);
			left--;
			continue;
		}
		if (hd_now_ns() > deadline) {
			for (unsigned i = 0; i < PROCS; i++)
				kill(pids[i], SIGKILL);
			fail_msg("the storm did not end within 60 s");
		}
		/* Served in the middle of it. */
		hd_honest_roundtrip(&hd);
		rounds++;
	}
	hd_assert_alive(&hd);
	{
		int fds = hd_wait_fd_count(hd.pid, base, HD_TIMEOUT_MS);
		long allowed = hd_rss_allowance_kib(hd.pid, 8 * 1024);

		rss1 = hd_wait_rss_below(hd.pid, rss0 + allowed, 2000);
		printf("test_hostile_storm: %u connections from %u processes, "
		       "%u honest round trips meanwhile; daemon fds %d -> %d, "
		       "RSS %ld -> %ld KiB\n", PROCS * ROUNDS, PROCS, rounds,
		       base, fds, rss0, rss1);
		assert_int_equal(fds, base);
		assert_true(rss1 - rss0 < allowed);
	}
	assert_true(rounds > 0);
	hd_check_service(&hd);
}

/* A client of another uid, through libsaferring: exit status 0 when
 * its round trip worked. */
static int other_uid_roundtrip(void)
{
	pid_t p;
	int status;

	p = test_fork();
	assert_true(p >= 0);
	if (p == 0) {
		struct sr_client *c;
		struct sr_cqe cqe;
		int r;
		sr_slot_t s;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (hd_become(NOBODY, NOBODY) < 0)
			_exit(20);
		r = sr_connect(hd.sock, NULL, &c);
		if (r < 0)
			_exit(21);
		s = sr_slot_acquire(c);
		if (sr_slot_index(s) < 0 || sr_prep_nop(c, 5) < 0 ||
		    sr_submit(c) != 1 ||
		    sr_wait_cqe(c, &cqe) < 0 || cqe.user_data != 5 ||
		    cqe.status != SR_STATUS_OK)
			_exit(22);
		sr_close(c);
		_exit(0);
	}
	assert_int_equal(waitpid(p, &status, 0), p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* How many of @n connections the daemon has closed (end of file). */
static unsigned count_closed(const int *conns, unsigned n)
{
	unsigned closed = 0;

	for (unsigned i = 0; i < n; i++) {
		char b;

		if (recv(conns[i], &b, 1, MSG_DONTWAIT | MSG_PEEK) == 0)
			closed++;
	}
	return closed;
}

static void test_idle_flood_other_uid(void **state)
{
	int conns[IDLE_CONNS];
	int base = hd_settled_fd_count(hd.pid), r;
	unsigned open = 0, closed_by_daemon = 0;

	(void)state;
	/* The other uid must reach the socket. */
	assert_int_equal(chmod(hd.dir, 0755), 0);
	for (unsigned i = 0; i < IDLE_CONNS; i++) {
		conns[i] = raw_connect();
		assert_true(conns[i] >= 0);
		fcntl(conns[i], F_SETFL, O_NONBLOCK);
	}
	/* Let the daemon get through them: it closes the surplus. */
	{
		uint64_t deadline = hd_now_ns() +
				    (uint64_t)HD_TIMEOUT_MS * 1000000ULL;
		unsigned last = 0, now;

		for (;;) {
			hd_sleep_ms(100);
			now = count_closed(conns, IDLE_CONNS);
			if ((now > 0 && now == last) || hd_now_ns() > deadline)
				break;
			last = now;
		}
	}
	r = other_uid_roundtrip();
	if (r != 0)
		fail_msg("uid %d was not served while uid 0 flooded (exit %d)",
			 NOBODY, r);
	closed_by_daemon = count_closed(conns, IDLE_CONNS);
	open = IDLE_CONNS - closed_by_daemon;
	for (unsigned i = 0; i < IDLE_CONNS; i++)
		close(conns[i]);
	printf("test_hostile_storm: %u idle connections of uid 0: %u held, %u "
	       "closed by the daemon; uid %d served meanwhile\n", IDLE_CONNS,
	       open, closed_by_daemon, NOBODY);
	/* The per-uid quota (64 sessions, 16 pending refusals) holds. */
	assert_true(closed_by_daemon > 0);
	assert_int_equal(hd_wait_fd_count(hd.pid, base, HD_TIMEOUT_MS), base);
	assert_int_equal(chmod(hd.dir, 0700), 0);
	hd_check_service(&hd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_storm),
		cmocka_unit_test(test_idle_flood_other_uid),
	};

	signal(SIGPIPE, SIG_IGN);
	return HD_RUN(tests, 120);
}
