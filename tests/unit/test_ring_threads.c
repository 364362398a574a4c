/* SPDX-License-Identifier: MIT */
/*
 * test_ring_threads.c - the threads ring driver (daemon/ring_threads.c)
 * gives what io_uring gives.  Each scenario runs the same scripted
 * operations through a ring_driver made with threads and through one
 * made with io_uring; the (user_data, res, flags) each produces are
 * checked against the expected values, and the two are checked to be the
 * same, completion for completion (ordered by user_data, in arrival order
 * within one).  The io_uring half is skipped, with a message, where
 * io_uring_setup fails; the threads half always runs.
 *
 * Must never depend on timing beyond generous waits: every wait for a
 * completion has a deadline of seconds, every "nothing came" check waits
 * a few tens of milliseconds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"
#include "ring_threads.h"
#include "saferring.h"

#define SLOT_SIZE 16384
#define NSLOTS 4
#define NFILES 10
#define ALLOC_START 8
#define POOL_ENTRIES 4
#define MAX_CQES 128
#define WAIT_MS 3000
#define QUIET_MS 60

static unsigned char slots[NSLOTS][SLOT_SIZE] __attribute__((aligned(4096)));
static unsigned char pool_mem[POOL_ENTRIES][8];

struct cqe_rec {
	uint64_t user_data;
	int32_t res;
	uint32_t flags;
};

struct env {
	struct ring_driver rd;
	bool threads;
	struct cqe_rec log[MAX_CQES];
	unsigned n;
	int peer[4]; /* the test's own ends, closed at the end */
};

/* The io_uring half's results, kept to compare with the threads half. */
static struct cqe_rec uring_log[MAX_CQES];
static unsigned uring_n;
static bool uring_missing_said;

static void on_cqe(void *arg, uint64_t user_data, int32_t res, uint32_t flags)
{
	struct env *e = arg;

	assert_true(e->n < MAX_CQES);
	e->log[e->n++] = (struct cqe_rec){ user_data, res, flags };
}

static int env_init(struct env *e, bool threads)
{
	struct iovec iov[NSLOTS];
	struct ring_config cfg = {
		.entries = 32,
		.files = NFILES,
		.alloc_start = ALLOC_START,
		.bufs = iov,
		.nbufs = NSLOTS,
		.pool_entries = POOL_ENTRIES,
		.allowed_ops = (1ULL << SR_OP__COUNT) - 1,
		.threads = threads,
	};

	memset(e, 0, sizeof(*e));
	for (unsigned i = 0; i < 4; i++)
		e->peer[i] = -1;
	for (unsigned i = 0; i < NSLOTS; i++)
		iov[i] = (struct iovec){ slots[i], SLOT_SIZE };
	e->threads = threads;
	return ring_driver_init(&e->rd, &cfg);
}

static void env_exit(struct env *e)
{
	ring_driver_exit(&e->rd);
	for (unsigned i = 0; i < 4; i++)
		if (e->peer[i] >= 0)
			close(e->peer[i]);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Reap what is there; io_uring's deferred completions run first. */
static void reap(struct env *e)
{
	if (!e->threads)
		syscall(__NR_io_uring_enter, ring_driver_fd(&e->rd), 0, 0,
			IORING_ENTER_GETEVENTS, NULL, 0);
	ring_driver_reap(&e->rd, on_cqe, e);
}

/* Wait, through the driver's descriptor as the session does, until @n
 * completions were reaped in all, or @ms passed. */
static void wait_total(struct env *e, unsigned n, unsigned ms)
{
	uint64_t end = now_ms() + ms;

	reap(e);
	while (e->n < n && now_ms() < end) {
		struct pollfd p = { .fd = ring_driver_fd(&e->rd),
				    .events = POLLIN };

		poll(&p, 1, 10);
		reap(e);
	}
}

/* Wait for @n more completions, then make sure no more come. */
static void expect_more(struct env *e, unsigned n)
{
	unsigned want = e->n + n;

	wait_total(e, want, WAIT_MS);
	assert_int_equal(e->n, want);
	wait_total(e, want + 1, QUIET_MS);
	assert_int_equal(e->n, want);
}

static void queue(struct env *e, struct ring_op op)
{
	assert_int_equal(ring_driver_queue(&e->rd, &op), 0);
}

static void submit(struct env *e)
{
	assert_true(ring_driver_submit(&e->rd) > 0);
}

static void set_file(struct env *e, unsigned index, int fd)
{
	assert_int_equal(ring_driver_set_file(&e->rd, index, fd), 0);
}

/* The @k-th completion of @user_data (from 0); fails if there is none. */
static const struct cqe_rec *cqe_of(const struct env *e, uint64_t user_data,
				    unsigned k)
{
	for (unsigned i = 0; i < e->n; i++)
		if (e->log[i].user_data == user_data && k-- == 0)
			return &e->log[i];
	fail_msg("no completion %u for user_data %llu", k,
		 (unsigned long long)user_data);
	return NULL;
}

static void expect_cqe(const struct env *e, uint64_t user_data, unsigned k,
		       int32_t res, uint32_t flags)
{
	const struct cqe_rec *c = cqe_of(e, user_data, k);

	if (c->res != res || c->flags != flags)
		fail_msg("user_data %llu #%u: res %d flags %#x, expected %d %#x",
			 (unsigned long long)user_data, k, c->res, c->flags,
			 res, flags);
}

/* ---- comparing the two drivers ------------------------------------- */

static void sorted(struct cqe_rec *out, const struct cqe_rec *in, unsigned n)
{
	/* Insertion sort keeps arrival order within one user_data. */
	for (unsigned i = 0; i < n; i++) {
		unsigned j = i;

		while (j > 0 && out[j - 1].user_data > in[i].user_data) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = in[i];
	}
}

static void print_log(const char *who, const struct cqe_rec *c, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		fprintf(stderr, "  %s: user_data %llu res %d flags %#x\n", who,
			(unsigned long long)c[i].user_data, c[i].res, c[i].flags);
}

static void compare_with_uring(const struct env *t)
{
	struct cqe_rec a[MAX_CQES], b[MAX_CQES];

	sorted(a, t->log, t->n);
	sorted(b, uring_log, uring_n);
	if (t->n == uring_n && !memcmp(a, b, t->n * sizeof(a[0])))
		return;
	print_log("threads", a, t->n);
	print_log("io_uring", b, uring_n);
	fail_msg("the threads driver and io_uring disagree");
}

typedef void (*scenario_fn)(struct env *e);

/*
 * Run @scenario on io_uring (if it works here) and on threads; @check
 * asserts the expected results on each, then the two are compared.
 */
static void run_both(scenario_fn scenario, scenario_fn check)
{
	static struct env e;
	bool have_uring;
	int r;

	r = env_init(&e, false);
	have_uring = r == 0;
	if (have_uring) {
		scenario(&e);
		check(&e);
		memcpy(uring_log, e.log, e.n * sizeof(e.log[0]));
		uring_n = e.n;
		env_exit(&e);
	} else if (!uring_missing_said) {
		fprintf(stderr, "io_uring_setup failed (%s): the io_uring half "
			"is skipped, the threads half runs alone\n",
			strerror(-r));
		uring_missing_said = true;
	}
	assert_int_equal(env_init(&e, true), 0);
	scenario(&e);
	check(&e);
	if (have_uring)
		compare_with_uring(&e);
	env_exit(&e);
}

/* ---- fixtures ------------------------------------------------------ */

static int temp_file(void)
{
	int fd = open("/tmp", O_TMPFILE | O_RDWR, 0600);

	if (fd < 0) {
		char name[] = "/tmp/test_ring_threads.XXXXXX";

		fd = mkstemp(name);
		assert_true(fd >= 0);
		unlink(name);
	}
	return fd;
}

static void stream_pair(struct env *e, unsigned ring_index)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	set_file(e, ring_index, sv[0]);
	close(sv[0]);
	e->peer[0] = sv[1];
}

static void unix_address(struct sockaddr_un *sun, socklen_t *len,
			 const char *what)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	/* Abstract: nothing to clean up. */
	snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1,
		 "saferring-rt-%d-%s", getpid(), what);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
			   strlen(sun->sun_path + 1));
}

static int listener(const char *what)
{
	struct sockaddr_un sun;
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	unix_address(&sun, &len, what);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, len), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static int client_of(const char *what)
{
	struct sockaddr_un sun;
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	unix_address(&sun, &len, what);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, len), 0);
	return fd;
}

static void peer_send(struct env *e, const char *s, size_t n)
{
	assert_int_equal(send(e->peer[0], s, n, 0), (ssize_t)n);
}

static struct __kernel_timespec ms_ts(long ms)
{
	return (struct __kernel_timespec){ .tv_sec = ms / 1000,
					   .tv_nsec = (ms % 1000) * 1000000 };
}

/* ---- file I/O -------------------------------------------------------- */

static void files_scenario(struct env *e)
{
	static struct iovec wv[2], rv[2];
	int fd = temp_file();

	set_file(e, 0, fd);
	close(fd);
	memset(slots[0], 'a', 4096);
	memset(slots[1], 0, SLOT_SIZE);
	memset(slots[2], 'b', 1000);
	memset(slots[2] + 1000, 'c', 3000);
	wv[0] = (struct iovec){ slots[2], 1000 };
	wv[1] = (struct iovec){ slots[2] + 1000, 3000 };
	queue(e, (struct ring_op){ .opcode = SR_OP_WRITE, .file_index = 0,
		  .addr = slots[0], .len = 4096, .buf_index = 0,
		  .offset = 0, .user_data = 1 });
	queue(e, (struct ring_op){ .opcode = SR_OP_WRITEV, .file_index = 0,
		  .addr = wv, .len = 2, .offset = 4096, .user_data = 2 });
	submit(e);
	expect_more(e, 2);

	queue(e, (struct ring_op){ .opcode = SR_OP_FSYNC, .file_index = 0,
		  .user_data = 3 });
	queue(e, (struct ring_op){ .opcode = SR_OP_FSYNC, .file_index = 0,
		  .op_flags = SR_FSYNC_DATASYNC, .user_data = 4 });
	queue(e, (struct ring_op){ .opcode = SR_OP_FALLOCATE, .file_index = 0,
		  .op_flags = SR_FALLOC_KEEP_SIZE, .offset = 0,
		  .length = 65536, .user_data = 5 });
	submit(e);
	expect_more(e, 3);

	rv[0] = (struct iovec){ slots[3], 2000 };
	rv[1] = (struct iovec){ slots[3] + 2000, 2000 };
	queue(e, (struct ring_op){ .opcode = SR_OP_READ, .file_index = 0,
		  .addr = slots[1], .len = 4096, .buf_index = 1,
		  .offset = 0, .user_data = 6 });
	queue(e, (struct ring_op){ .opcode = SR_OP_READV, .file_index = 0,
		  .addr = rv, .len = 2, .offset = 4096, .user_data = 7 });
	/* Past the end: 0; outside its fixed buffer: -EFAULT; no file:
	 * -EBADF. */
	queue(e, (struct ring_op){ .opcode = SR_OP_READ, .file_index = 0,
		  .addr = slots[1], .len = 100, .buf_index = 1,
		  .offset = 1 << 20, .user_data = 8 });
	queue(e, (struct ring_op){ .opcode = SR_OP_READ, .file_index = 0,
		  .addr = slots[1] + SLOT_SIZE - 10, .len = 100,
		  .buf_index = 1, .offset = 0, .user_data = 9 });
	queue(e, (struct ring_op){ .opcode = SR_OP_READ, .file_index = 5,
		  .addr = slots[1], .len = 100, .buf_index = 1,
		  .offset = 0, .user_data = 10 });
	submit(e);
	expect_more(e, 5);
}

static void files_check(struct env *e)
{
	expect_cqe(e, 1, 0, 4096, 0);
	expect_cqe(e, 2, 0, 4000, 0);
	expect_cqe(e, 3, 0, 0, 0);
	expect_cqe(e, 4, 0, 0, 0);
	expect_cqe(e, 5, 0, 0, 0);
	expect_cqe(e, 6, 0, 4096, 0);
	expect_cqe(e, 7, 0, 4000, 0);
	expect_cqe(e, 8, 0, 0, 0);
	expect_cqe(e, 9, 0, -EFAULT, 0);
	expect_cqe(e, 10, 0, -EBADF, 0);
	assert_memory_equal(slots[1], slots[0], 4096);
	assert_memory_equal(slots[3], slots[2], 4000);
}

static void test_file_io(void **state)
{
	run_both(files_scenario, files_check);
}

/* ---- sockets --------------------------------------------------------- */

static void sockets_scenario(struct env *e)
{
	static struct iovec sv, rv;
	static struct msghdr smsg, rmsg;
	char buf[64];

	stream_pair(e, 1);
	memcpy(slots[0], "hello", 5);
	queue(e, (struct ring_op){ .opcode = SR_OP_SEND, .file_index = 1,
		  .addr = slots[0], .len = 5, .user_data = 20 });
	submit(e);
	expect_more(e, 1);
	assert_int_equal(recv(e->peer[0], buf, sizeof(buf), 0), 5);

	/* Data already there: at once, with bytes left behind. */
	peer_send(e, "0123456789", 10);
	queue(e, (struct ring_op){ .opcode = SR_OP_RECV, .file_index = 1,
		  .addr = slots[1], .len = 4, .user_data = 21 });
	submit(e);
	expect_more(e, 1);
	queue(e, (struct ring_op){ .opcode = SR_OP_RECV, .file_index = 1,
		  .addr = slots[1], .len = 64, .user_data = 22 });
	submit(e);
	expect_more(e, 1);

	/* Nothing there: it waits, then takes what comes. */
	queue(e, (struct ring_op){ .opcode = SR_OP_RECV, .file_index = 1,
		  .addr = slots[1], .len = 64, .user_data = 23 });
	submit(e);
	wait_total(e, e->n + 1, 100);
	assert_int_equal(e->n, 3);
	peer_send(e, "later", 5);
	expect_more(e, 1);

	memcpy(slots[2], "message", 7);
	sv = (struct iovec){ slots[2], 7 };
	smsg = (struct msghdr){ .msg_iov = &sv, .msg_iovlen = 1 };
	queue(e, (struct ring_op){ .opcode = SR_OP_SENDMSG, .file_index = 1,
		  .addr = &smsg, .len = 1, .user_data = 24 });
	submit(e);
	expect_more(e, 1);
	assert_int_equal(recv(e->peer[0], buf, sizeof(buf), 0), 7);
	peer_send(e, "msg", 3);
	rv = (struct iovec){ slots[3], 64 };
	rmsg = (struct msghdr){ .msg_iov = &rv, .msg_iovlen = 1 };
	queue(e, (struct ring_op){ .opcode = SR_OP_RECVMSG, .file_index = 1,
		  .addr = &rmsg, .len = 1, .user_data = 25 });
	submit(e);
	expect_more(e, 1);

	queue(e, (struct ring_op){ .opcode = SR_OP_SHUTDOWN, .file_index = 1,
		  .op_flags = SHUT_WR, .user_data = 26 });
	submit(e);
	expect_more(e, 1);
	assert_int_equal(recv(e->peer[0], buf, sizeof(buf), 0), 0);
}

static void sockets_check(struct env *e)
{
	expect_cqe(e, 20, 0, 5, 0);
	expect_cqe(e, 21, 0, 4, IORING_CQE_F_SOCK_NONEMPTY);
	expect_cqe(e, 22, 0, 6, 0);
	expect_cqe(e, 23, 0, 5, 0);
	expect_cqe(e, 24, 0, 7, 0);
	expect_cqe(e, 25, 0, 3, 0);
	expect_cqe(e, 26, 0, 0, 0);
	assert_memory_equal(slots[1], "later", 5);
	assert_memory_equal(slots[3], "msg", 3);
}

static void test_sockets(void **state)
{
	run_both(sockets_scenario, sockets_check);
}

/* ---- multishot receive from the pool --------------------------------- */

static void provide(struct env *e, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		ring_driver_provide(&e->rd, pool_mem[i], sizeof(pool_mem[i]),
				    (uint16_t)i);
}

static void multishot_scenario(struct env *e)
{
	stream_pair(e, 1);
	provide(e, 3);
	queue(e, (struct ring_op){ .opcode = SR_OP_RECV, .file_index = 1,
		  .multishot = true, .user_data = 30 });
	submit(e);
	wait_total(e, 1, 50);
	assert_int_equal(e->n, 0);
	/* One at a time: each receive one buffer. */
	peer_send(e, "abcde", 5);
	expect_more(e, 1);
	peer_send(e, "12345678", 8);
	expect_more(e, 1);
	/* More than a buffer: the rest is left, and said to be. */
	peer_send(e, "ABCDEFGHIJ", 10);
	/* The third buffer, then the pool is empty with bytes waiting. */
	expect_more(e, 2);
}

static void multishot_check(struct env *e)
{
	uint32_t more = IORING_CQE_F_MORE | IORING_CQE_F_BUFFER;

	expect_cqe(e, 30, 0, 5, more | (0U << IORING_CQE_BUFFER_SHIFT));
	expect_cqe(e, 30, 1, 8, more | (1U << IORING_CQE_BUFFER_SHIFT));
	expect_cqe(e, 30, 2, 8, more | IORING_CQE_F_SOCK_NONEMPTY |
		   (2U << IORING_CQE_BUFFER_SHIFT));
	expect_cqe(e, 30, 3, -ENOBUFS, 0);
	assert_memory_equal(pool_mem[0], "abcde", 5);
	assert_memory_equal(pool_mem[2], "ABCDEFGH", 8);
}

static void test_multishot_recv(void **state)
{
	run_both(multishot_scenario, multishot_check);
}

/* A multishot receive with the pool empty from the start ends at once,
 * and one at the end of the stream ends with 0. */
static void multishot_end_scenario(struct env *e)
{
	stream_pair(e, 1);
	queue(e, (struct ring_op){ .opcode = SR_OP_RECV, .file_index = 1,
		  .multishot = true, .user_data = 31 });
	submit(e);
	expect_more(e, 1);
	provide(e, 2);
	queue(e, (struct ring_op){ .opcode = SR_OP_RECV, .file_index = 1,
		  .multishot = true, .user_data = 32 });
	submit(e);
	peer_send(e, "xy", 2);
	expect_more(e, 1);
	shutdown(e->peer[0], SHUT_WR);
	expect_more(e, 1);
}

static void multishot_end_check(struct env *e)
{
	expect_cqe(e, 31, 0, -ENOBUFS, 0);
	expect_cqe(e, 32, 0, 2, IORING_CQE_F_MORE | IORING_CQE_F_BUFFER);
	expect_cqe(e, 32, 1, 0, 0);
}

static void test_multishot_recv_end(void **state)
{
	run_both(multishot_end_scenario, multishot_end_check);
}

/* ---- accept and connect ---------------------------------------------- */

static void accept_scenario(struct env *e)
{
	int lfd = listener(e->threads ? "acc-t" : "acc-u");
	const char *name = e->threads ? "acc-t" : "acc-u";
	char buf[8];

	set_file(e, 3, lfd);
	close(lfd);
	/* Single-shot, into index 4. */
	queue(e, (struct ring_op){ .opcode = SR_OP_ACCEPT, .file_index = 3,
		  .accept_index = 4, .user_data = 40 });
	submit(e);
	wait_total(e, 1, 50);
	assert_int_equal(e->n, 0);
	e->peer[0] = client_of(name);
	expect_more(e, 1);
	/* The accepted socket is at index 4. */
	memcpy(slots[0], "hi", 2);
	queue(e, (struct ring_op){ .opcode = SR_OP_SEND, .file_index = 4,
		  .addr = slots[0], .len = 2, .user_data = 41 });
	submit(e);
	expect_more(e, 1);
	assert_int_equal(recv(e->peer[0], buf, sizeof(buf), 0), 2);

	/* Multishot, into the allocation range [8, 10), then -ENFILE. */
	queue(e, (struct ring_op){ .opcode = SR_OP_ACCEPT, .file_index = 3,
		  .multishot = true, .user_data = 42 });
	submit(e);
	e->peer[1] = client_of(name);
	expect_more(e, 1);
	e->peer[2] = client_of(name);
	expect_more(e, 1);
	e->peer[3] = client_of(name);
	expect_more(e, 1);
}

static void accept_check(struct env *e)
{
	expect_cqe(e, 40, 0, 0, 0);
	expect_cqe(e, 41, 0, 2, 0);
	expect_cqe(e, 42, 0, 8, IORING_CQE_F_MORE);
	expect_cqe(e, 42, 1, 9, IORING_CQE_F_MORE);
	expect_cqe(e, 42, 2, -ENFILE, 0);
}

static void test_accept(void **state)
{
	run_both(accept_scenario, accept_check);
}

static void connect_scenario(struct env *e)
{
	static struct sockaddr_un there, nowhere;
	static socklen_t there_len, nowhere_len;
	const char *name = e->threads ? "con-t" : "con-u";
	int lfd = listener(name), s1, s2;

	e->peer[0] = lfd;
	unix_address(&there, &there_len, name);
	unix_address(&nowhere, &nowhere_len, "nobody-listens");
	s1 = socket(AF_UNIX, SOCK_STREAM, 0);
	s2 = socket(AF_UNIX, SOCK_STREAM, 0);
	set_file(e, 5, s1);
	set_file(e, 6, s2);
	close(s1);
	close(s2);
	queue(e, (struct ring_op){ .opcode = SR_OP_CONNECT, .file_index = 5,
		  .addr = &there, .len = there_len, .user_data = 50 });
	queue(e, (struct ring_op){ .opcode = SR_OP_CONNECT, .file_index = 6,
		  .addr = &nowhere, .len = nowhere_len, .user_data = 51 });
	submit(e);
	expect_more(e, 2);
	e->peer[1] = accept(lfd, NULL, NULL);
	assert_true(e->peer[1] >= 0);
}

static void connect_check(struct env *e)
{
	expect_cqe(e, 50, 0, 0, 0);
	expect_cqe(e, 51, 0, -ECONNREFUSED, 0);
}

static void test_connect(void **state)
{
	run_both(connect_scenario, connect_check);
}

/* ---- poll ------------------------------------------------------------ */

static void poll_scenario(struct env *e)
{
	stream_pair(e, 1);
	queue(e, (struct ring_op){ .opcode = SR_OP_POLL_ADD, .file_index = 1,
		  .op_flags = POLLOUT, .user_data = 60 });
	submit(e);
	expect_more(e, 1);
	queue(e, (struct ring_op){ .opcode = SR_OP_POLL_ADD, .file_index = 1,
		  .op_flags = POLLIN, .user_data = 61 });
	submit(e);
	wait_total(e, e->n + 1, 50);
	assert_int_equal(e->n, 1);
	peer_send(e, "x", 1);
	expect_more(e, 1);
	/* Removed while it waits; removing nothing is -ENOENT. */
	queue(e, (struct ring_op){ .opcode = SR_OP_POLL_ADD, .file_index = 1,
		  .op_flags = POLLPRI, .user_data = 62 });
	submit(e);
	queue(e, (struct ring_op){ .opcode = SR_OP_POLL_REMOVE,
		  .target = 62, .user_data = 63 });
	queue(e, (struct ring_op){ .opcode = SR_OP_POLL_REMOVE,
		  .target = 999, .user_data = 64 });
	submit(e);
	expect_more(e, 3);
}

static void poll_check(struct env *e)
{
	expect_cqe(e, 60, 0, POLLOUT, 0);
	expect_cqe(e, 61, 0, POLLIN, 0);
	expect_cqe(e, 62, 0, -ECANCELED, 0);
	expect_cqe(e, 63, 0, 0, 0);
	expect_cqe(e, 64, 0, -ENOENT, 0);
}

static void test_poll(void **state)
{
	run_both(poll_scenario, poll_check);
}

/* ---- timeouts -------------------------------------------------------- */

static void timeout_scenario(struct env *e)
{
	static struct __kernel_timespec short_ts, long_ts;
	uint64_t t0 = now_ms();

	short_ts = ms_ts(30);
	long_ts = ms_ts(10000);
	queue(e, (struct ring_op){ .opcode = SR_OP_TIMEOUT, .addr = &short_ts,
		  .user_data = 70 });
	queue(e, (struct ring_op){ .opcode = SR_OP_TIMEOUT, .addr = &long_ts,
		  .user_data = 71 });
	submit(e);
	expect_more(e, 1);
	assert_true(now_ms() - t0 >= 30);
	queue(e, (struct ring_op){ .opcode = SR_OP_ASYNC_CANCEL, .target = 71,
		  .user_data = 72 });
	queue(e, (struct ring_op){ .opcode = SR_OP_ASYNC_CANCEL, .target = 999,
		  .user_data = 73 });
	submit(e);
	expect_more(e, 3);
	assert_true(now_ms() - t0 < 5000);
}

static void timeout_check(struct env *e)
{
	expect_cqe(e, 70, 0, -ETIME, 0);
	expect_cqe(e, 71, 0, -ECANCELED, 0);
	expect_cqe(e, 72, 0, 0, 0);
	expect_cqe(e, 73, 0, -ENOENT, 0);
}

static void test_timeouts(void **state)
{
	run_both(timeout_scenario, timeout_check);
}

/* ---- links ----------------------------------------------------------- */

static void links_scenario(struct env *e)
{
	int fd = temp_file();

	memset(slots[0], 'z', 1000);
	assert_int_equal(pwrite(fd, slots[0], 1000, 0), 1000);
	set_file(e, 0, fd);
	close(fd);
	/* Soft: the failure cancels the rest. */
	queue(e, (struct ring_op){ .opcode = SR_OP_NOP, .link = SR_LINK,
		  .user_data = 80 });
	queue(e, (struct ring_op){ .opcode = SR_OP_FSYNC, .file_index = 7,
		  .link = SR_LINK, .user_data = 81 });
	queue(e, (struct ring_op){ .opcode = SR_OP_NOP, .link = SR_LINK,
		  .user_data = 82 });
	queue(e, (struct ring_op){ .opcode = SR_OP_NOP, .user_data = 83 });
	/* Hard: the rest goes on. */
	queue(e, (struct ring_op){ .opcode = SR_OP_FSYNC, .file_index = 7,
		  .link = SR_LINK_HARD, .user_data = 84 });
	queue(e, (struct ring_op){ .opcode = SR_OP_NOP, .user_data = 85 });
	/* A short read breaks a soft link. */
	queue(e, (struct ring_op){ .opcode = SR_OP_READ, .file_index = 0,
		  .addr = slots[1], .len = 4096, .buf_index = 1,
		  .offset = 900, .link = SR_LINK, .user_data = 86 });
	queue(e, (struct ring_op){ .opcode = SR_OP_NOP, .user_data = 87 });
	/* A full one does not. */
	queue(e, (struct ring_op){ .opcode = SR_OP_READ, .file_index = 0,
		  .addr = slots[1], .len = 100, .buf_index = 1,
		  .offset = 0, .link = SR_LINK, .user_data = 88 });
	queue(e, (struct ring_op){ .opcode = SR_OP_NOP, .user_data = 89 });
	submit(e);
	expect_more(e, 10);
}

static void links_check(struct env *e)
{
	expect_cqe(e, 80, 0, 0, 0);
	expect_cqe(e, 81, 0, -EBADF, 0);
	expect_cqe(e, 82, 0, -ECANCELED, 0);
	expect_cqe(e, 83, 0, -ECANCELED, 0);
	expect_cqe(e, 84, 0, -EBADF, 0);
	expect_cqe(e, 85, 0, 0, 0);
	expect_cqe(e, 86, 0, 100, 0);
	expect_cqe(e, 87, 0, -ECANCELED, 0);
	expect_cqe(e, 88, 0, 100, 0);
	expect_cqe(e, 89, 0, 0, 0);
}

static void test_links(void **state)
{
	run_both(links_scenario, links_check);
}

static void link_timeout_scenario(struct env *e)
{
	static struct __kernel_timespec short_ts, long_ts;

	short_ts = ms_ts(30);
	long_ts = ms_ts(10000);
	stream_pair(e, 1);
	/* Fires: the receive is cancelled, and what follows with it. */
	queue(e, (struct ring_op){ .opcode = SR_OP_RECV, .file_index = 1,
		  .addr = slots[1], .len = 64, .link = SR_LINK,
		  .user_data = 90 });
	queue(e, (struct ring_op){ .opcode = SR_OP_LINK_TIMEOUT,
		  .addr = &short_ts, .link = SR_LINK, .user_data = 91 });
	queue(e, (struct ring_op){ .opcode = SR_OP_NOP, .user_data = 92 });
	submit(e);
	expect_more(e, 3);
	/* Does not fire: the receive finds data; the timeout is
	 * cancelled and the chain goes on. */
	peer_send(e, "data", 4);
	queue(e, (struct ring_op){ .opcode = SR_OP_RECV, .file_index = 1,
		  .addr = slots[1], .len = 64, .link = SR_LINK,
		  .user_data = 93 });
	queue(e, (struct ring_op){ .opcode = SR_OP_LINK_TIMEOUT,
		  .addr = &long_ts, .link = SR_LINK, .user_data = 94 });
	queue(e, (struct ring_op){ .opcode = SR_OP_NOP, .user_data = 95 });
	submit(e);
	expect_more(e, 3);
	/* Does not fire, the receive waiting for its data first. */
	queue(e, (struct ring_op){ .opcode = SR_OP_RECV, .file_index = 1,
		  .addr = slots[1], .len = 64, .link = SR_LINK,
		  .user_data = 96 });
	queue(e, (struct ring_op){ .opcode = SR_OP_LINK_TIMEOUT,
		  .addr = &long_ts, .user_data = 97 });
	submit(e);
	wait_total(e, e->n + 1, 50);
	assert_int_equal(e->n, 6);
	peer_send(e, "more", 4);
	expect_more(e, 2);
}

static void link_timeout_check(struct env *e)
{
	expect_cqe(e, 90, 0, -ECANCELED, 0);
	expect_cqe(e, 91, 0, -ETIME, 0);
	expect_cqe(e, 92, 0, -ECANCELED, 0);
	expect_cqe(e, 93, 0, 4, 0);
	expect_cqe(e, 94, 0, -ECANCELED, 0);
	expect_cqe(e, 95, 0, 0, 0);
	expect_cqe(e, 96, 0, 4, 0);
	expect_cqe(e, 97, 0, -ECANCELED, 0);
}

static void test_link_timeout(void **state)
{
	run_both(link_timeout_scenario, link_timeout_check);
}

/* ---- cancels ---------------------------------------------------------- */

static void cancel_scenario(struct env *e)
{
	static struct __kernel_timespec long_ts;

	long_ts = ms_ts(10000);
	stream_pair(e, 1);
	queue(e, (struct ring_op){ .opcode = SR_OP_RECV, .file_index = 1,
		  .addr = slots[1], .len = 64, .user_data = 100 });
	submit(e);
	assert_int_equal(ring_driver_cancel(&e->rd, 100), 0);
	submit(e);
	expect_more(e, 2);
	/* Cancelling again finds nothing. */
	assert_int_equal(ring_driver_cancel(&e->rd, 100), 0);
	submit(e);
	expect_more(e, 1);

	provide(e, 2);
	queue(e, (struct ring_op){ .opcode = SR_OP_RECV, .file_index = 1,
		  .addr = slots[1], .len = 64, .user_data = 101 });
	queue(e, (struct ring_op){ .opcode = SR_OP_RECV, .file_index = 1,
		  .multishot = true, .user_data = 102 });
	queue(e, (struct ring_op){ .opcode = SR_OP_TIMEOUT, .addr = &long_ts,
		  .user_data = 103 });
	submit(e);
	wait_total(e, e->n + 1, 50);
	assert_int_equal(e->n, 3);
	assert_int_equal(ring_driver_cancel_all(&e->rd), 0);
	submit(e);
	expect_more(e, 4);
	/* Nothing left: cancel_all cancels none. */
	assert_int_equal(ring_driver_cancel_all(&e->rd), 0);
	submit(e);
	expect_more(e, 1);
}

static void cancel_check(struct env *e)
{
	expect_cqe(e, 100, 0, -ECANCELED, 0);
	expect_cqe(e, RING_CANCEL_USER_DATA, 0, 0, 0);
	expect_cqe(e, RING_CANCEL_USER_DATA, 1, -ENOENT, 0);
	expect_cqe(e, 101, 0, -ECANCELED, 0);
	expect_cqe(e, 102, 0, -ECANCELED, 0);
	expect_cqe(e, 103, 0, -ECANCELED, 0);
	expect_cqe(e, RING_CANCEL_USER_DATA, 2, 3, 0);
	expect_cqe(e, RING_CANCEL_USER_DATA, 3, 0, 0);
}

static void test_cancel(void **state)
{
	run_both(cancel_scenario, cancel_check);
}

/* ---- teardown with operations pending ------------------------------- */

static void test_exit_with_ops_pending(void **state)
{
	static struct __kernel_timespec long_ts;
	static struct env e;
	int fd = temp_file(), lfd = listener("exit");
	uint64_t t0;

	long_ts = ms_ts(10000);
	assert_int_equal(env_init(&e, true), 0);
	stream_pair(&e, 1);
	set_file(&e, 0, fd);
	set_file(&e, 3, lfd);
	close(fd);
	close(lfd);
	provide(&e, 2);
	queue(&e, (struct ring_op){ .opcode = SR_OP_RECV, .file_index = 1,
		  .addr = slots[1], .len = 64, .link = SR_LINK_HARD,
		  .user_data = 110 });
	queue(&e, (struct ring_op){ .opcode = SR_OP_WRITE, .file_index = 0,
		  .addr = slots[0], .len = 4096, .buf_index = 0,
		  .user_data = 111 });
	queue(&e, (struct ring_op){ .opcode = SR_OP_RECV, .file_index = 1,
		  .multishot = true, .user_data = 112 });
	queue(&e, (struct ring_op){ .opcode = SR_OP_TIMEOUT, .addr = &long_ts,
		  .user_data = 113 });
	queue(&e, (struct ring_op){ .opcode = SR_OP_ACCEPT, .file_index = 3,
		  .multishot = true, .user_data = 114 });
	queue(&e, (struct ring_op){ .opcode = SR_OP_WRITE, .file_index = 0,
		  .addr = slots[0], .len = 4096, .buf_index = 0,
		  .offset = 4096, .user_data = 115 });
	submit(&e);
	/* Queued, never submitted. */
	queue(&e, (struct ring_op){ .opcode = SR_OP_NOP, .user_data = 116 });
	t0 = now_ms();
	env_exit(&e);
	assert_true(now_ms() - t0 < 2000);
	assert_false(e.rd.live);
	assert_null(e.rd.threads);
}

/* The readiness the session polls for matches what reap finds. */
static void test_fd_and_ready(void **state)
{
	static struct env e;
	struct pollfd p;

	assert_int_equal(env_init(&e, true), 0);
	p = (struct pollfd){ .fd = ring_driver_fd(&e.rd), .events = POLLIN };
	assert_int_equal(poll(&p, 1, 0), 0);
	assert_false(ring_driver_ready(&e.rd));
	queue(&e, (struct ring_op){ .opcode = SR_OP_NOP, .user_data = 1 });
	queue(&e, (struct ring_op){ .opcode = SR_OP_NOP, .user_data = 2 });
	submit(&e);
	assert_int_equal(poll(&p, 1, 1000), 1);
	assert_true(ring_driver_ready(&e.rd));
	assert_int_equal(ring_driver_reap(&e.rd, on_cqe, &e), 2);
	assert_int_equal(poll(&p, 1, 0), 0);
	assert_false(ring_driver_ready(&e.rd));
	assert_int_equal(ring_driver_reap(&e.rd, on_cqe, &e), 0);
	/* Opcodes the daemon does itself are refused, as by ring.c. */
	struct ring_op close_op = { .opcode = SR_OP_CLOSE };
	assert_int_equal(ring_driver_queue(&e.rd, &close_op), -EINVAL);
	/* The SQ holds entries, no more. */
	for (unsigned i = 0; i < 32; i++)
		queue(&e, (struct ring_op){ .opcode = SR_OP_NOP,
			  .user_data = 10 + i });
	struct ring_op nop = { .opcode = SR_OP_NOP };
	assert_int_equal(ring_driver_queue(&e.rd, &nop), -EBUSY);
	assert_int_equal(ring_driver_reserve(&e.rd, 1), 0);
	expect_more(&e, 32);
	env_exit(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fd_and_ready),
		cmocka_unit_test(test_file_io),
		cmocka_unit_test(test_sockets),
		cmocka_unit_test(test_multishot_recv),
		cmocka_unit_test(test_multishot_recv_end),
		cmocka_unit_test(test_accept),
		cmocka_unit_test(test_connect),
		cmocka_unit_test(test_poll),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_links),
		cmocka_unit_test(test_link_timeout),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_exit_with_ops_pending),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
