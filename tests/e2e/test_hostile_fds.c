/* SPDX-License-Identifier: MIT */
/*
 * test_hostile_fds.c - end-to-end: SCM_RIGHTS abuse.
 *
 *  - the most descriptors one datagram can carry (SCM_MAX_FD, 253) on a
 *    RegisterFd, a Submit and a Hello; two SCM_RIGHTS headers in one
 *    datagram; descriptors on an empty datagram: BAD_DESCRIPTORS, nothing
 *    done, every descriptor closed (the pipe's write end reads EOF, the
 *    daemon's descriptor count is back at its baseline);
 *  - descriptors of kinds the daemon must not take: an io_uring instance
 *    (the kernel refuses to pass one), an O_PATH descriptor, a directory,
 *    and a socket connected to the daemon itself, through which a client
 *    would make the daemon talk to itself (test_admission covers every
 *    kind; here, that each refusal leaves nothing behind).
 *
 * Each case checks the exact reply and that an honest client is served
 * afterwards.  Must never count a descriptor as closed without seeing
 * it: a pipe's end of file or the daemon's /proc descriptor count.
 */
#include "../lib/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define SCM_MAX 253

/* Send @len bytes with descriptor groups: @counts[i] copies of @fd in
 * SCM_RIGHTS header i. */
static void send_groups(struct rc *c, const void *buf, size_t len, int fd,
			const unsigned *counts, unsigned ngroups)
{
	size_t space = 0;
	unsigned char *control;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	for (unsigned g = 0; g < ngroups; g++)
		space += CMSG_SPACE(sizeof(int) * counts[g]);
	control = calloc(1, space);
	assert_non_null(control);
	mh.msg_control = control;
	mh.msg_controllen = space;
	cm = CMSG_FIRSTHDR(&mh);
	for (unsigned g = 0; g < ngroups; g++) {
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * counts[g]);
		for (unsigned i = 0; i < counts[g]; i++)
			memcpy(CMSG_DATA(cm) + i * sizeof(int), &fd, sizeof(int));
		cm = CMSG_NXTHDR(&mh, cm);
	}
	if (sendmsg(c->sock, &mh, MSG_NOSIGNAL) < 0)
		fail_msg("sendmsg with %u descriptor groups: %s", ngroups,
			 strerror(errno));
	free(control);
}

static size_t pack(Saferring__Request *req, unsigned char *buf)
{
	size_t len = saferring__request__get_packed_size(req);

	assert_true(len < 1024);
	return saferring__request__pack(req, buf);
}

/* EOF on the pipe's read end: every copy of the write end is closed. */
static void expect_closed(int rd)
{
	struct pollfd pfd = { .fd = rd, .events = POLLIN };
	char b;

	if (poll(&pfd, 1, HD_TIMEOUT_MS) != 1)
		fail_msg("the daemon kept a descriptor it was sent");
	assert_int_equal(read(rd, &b, 1), 0);
}

static void test_too_many(void **state)
{
	struct rc *c = rc_open(hd.sock);
	int base = hd_settled_fd_count(hd.pid);
	unsigned char buf[1024];
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__RegisterFd reg = SAFERRING__REGISTER_FD__INIT;
	Saferring__Submit submit = SAFERRING__SUBMIT__INIT;
	struct rc_op nop;
	Saferring__Op *ptr = &nop.op;
	size_t len;
	int pfd[2];

	(void)state;
	assert_true(base > 0);
	/* RegisterFd with 253 descriptors, then with 1 + 1 and 1 + 200 in
	 * two headers. */
	{
		const unsigned one[1] = { SCM_MAX };
		const unsigned two[2] = { 1, 1 };
		const unsigned split[2] = { 1, 200 };
		const unsigned *groups[3] = { one, two, split };
		const unsigned ngroups[3] = { 1, 2, 2 };

		for (int k = 0; k < 3; k++) {
			req = (Saferring__Request)SAFERRING__REQUEST__INIT;
			req.has_seq = true;
			req.seq = 10 + (uint32_t)k;
			req.body_case = SAFERRING__REQUEST__BODY_REGISTER_FD;
			req.register_fd = &reg;
			len = pack(&req, buf);
			assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
			send_groups(c, buf, len, pfd[1], groups[k], ngroups[k]);
			close(pfd[1]);
			rc_expect_error(c, true, 10 + (uint32_t)k,
					SR_STATUS_BAD_DESCRIPTORS);
			expect_closed(pfd[0]);
			close(pfd[0]);
		}
	}
	/* A Submit with 253: refused whole, the NOP never runs. */
	rc_op_nop(&nop, 1);
	submit.n_ops = 1;
	submit.ops = &ptr;
	req = (Saferring__Request)SAFERRING__REQUEST__INIT;
	req.body_case = SAFERRING__REQUEST__BODY_SUBMIT;
	req.submit = &submit;
	len = pack(&req, buf);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	{
		const unsigned one[1] = { SCM_MAX };

		send_groups(c, buf, len, pfd[1], one, 1);
	}
	close(pfd[1]);
	rc_expect_error(c, false, 0, SR_STATUS_BAD_DESCRIPTORS);
	expect_closed(pfd[0]);
	close(pfd[0]);
	/* Descriptors on an empty datagram (which without them would read
	 * as end of file). */
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	{
		const unsigned some[1] = { 3 };

		send_groups(c, "", 0, pfd[1], some, 1);
	}
	close(pfd[1]);
	rc_expect_error(c, false, 0, SR_STATUS_BAD_DESCRIPTORS);
	expect_closed(pfd[0]);
	close(pfd[0]);
	rc_expect_quiet(c, 50);
	assert_int_equal(hd_fd_count(hd.pid), base);
	/* Five refusals; the session still works. */
	{
		struct rc_cqe cqe;

		rc_op_nop(&nop, 2);
		rc_run(c, &nop, 1, &cqe);
		assert_int_equal(cqe.status, SR_STATUS_OK);
	}
	rc_close(c);

	/* A Hello with 253: refused, the session still waits for a Hello. */
	c = rc_connect(hd.sock);
	{
		Saferring__Hello hello = SAFERRING__HELLO__INIT;
		const unsigned one[1] = { SCM_MAX };

		hello.version = SR_PROTOCOL_VERSION;
		req = (Saferring__Request)SAFERRING__REQUEST__INIT;
		req.has_seq = true;
		req.seq = 30;
		req.body_case = SAFERRING__REQUEST__BODY_HELLO;
		req.hello = &hello;
		len = pack(&req, buf);
		assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
		send_groups(c, buf, len, pfd[1], one, 1);
		close(pfd[1]);
		rc_expect_error(c, true, 30, SR_STATUS_BAD_DESCRIPTORS);
		expect_closed(pfd[0]);
		close(pfd[0]);
	}
	rc_hello(c, 0, 0);
	rc_close(c);
	hd_check_service(&hd);
}

static int ring_fd(void)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	return (int)syscall(__NR_io_uring_setup, 4, &p);
}

static void test_odd_kinds(void **state)
{
	struct rc *c = rc_open(hd.sock);
	int base = hd_settled_fd_count(hd.pid);
	struct rc_handle h;
	int fd;

	(void)state;
	/* An io_uring: this kernel will not even carry one in SCM_RIGHTS
	 * (sendmsg fails with EINVAL), so the daemon never sees it. */
	fd = ring_fd();
	if (fd < 0) {
		printf("test_hostile_fds: io_uring_setup: %s; ring case skipped\n",
		       strerror(errno));
	} else {
		Saferring__Request req = SAFERRING__REQUEST__INIT;
		Saferring__RegisterFd reg = SAFERRING__REGISTER_FD__INIT;

		req.has_seq = true;
		req.seq = 5;
		req.body_case = SAFERRING__REQUEST__BODY_REGISTER_FD;
		req.register_fd = &reg;
		assert_int_equal(rc_send_request(c, &req, &fd, 1), -EINVAL);
		close(fd);
	}
	/* O_PATH: no file operations are possible on it; the kernel will
	 * not install it in a ring's table either. */
	fd = open("/", O_PATH | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(rc_register(c, &fd, 1, &h), SR_STATUS_BAD_DESCRIPTORS);
	close(fd);
	/* A directory allows no I/O: refused at the door. */
	fd = open(hd.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(rc_register(c, &fd, 1, &h), SR_STATUS_BAD_DESCRIPTORS);
	assert_non_null(strstr(c->last_error, "directory"));
	close(fd);
	rc_expect_quiet(c, 50);
	assert_int_equal(hd_wait_fd_count(hd.pid, base, HD_TIMEOUT_MS), base);
	rc_close(c);
	hd_check_service(&hd);
}

/* A client hands the daemon a connection to the daemon itself, to make
 * it send a Hello there and take in a Welcome with its memfd: an AF_UNIX
 * socket is refused, and nothing of it stays in the daemon. */
static void test_daemon_talks_to_itself(void **state)
{
	struct rc *c = rc_open(hd.sock);
	int base = hd_settled_fd_count(hd.pid);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct rc_handle h;
	int s;

	(void)state;
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	memcpy(sa.sun_path, hd.sock, strlen(hd.sock) + 1);
	assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(rc_register(c, &s, 1, &h), SR_STATUS_BAD_DESCRIPTORS);
	assert_non_null(strstr(c->last_error, "AF_UNIX"));
	close(s);
	rc_close(c);
	/* The inner connection and this session are gone from the daemon. */
	assert_int_equal(hd_wait_fd_count(hd.pid, base - 2, HD_TIMEOUT_MS),
			 base - 2);
	hd_check_service(&hd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_odd_kinds),
		cmocka_unit_test(test_daemon_talks_to_itself),
	};

	return HD_RUN(tests, 60);
}
