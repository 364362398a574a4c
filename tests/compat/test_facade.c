/* SPDX-License-Identifier: MIT */
/*
 * test_facade.c - libsaferring-uring's own promises, against a real
 * saferringd ($SAFERRING_SOCKET; run by make check-compat).
 *
 * Written as a liburing program (only <liburing.h>), checking what
 * saferring-uring(7) says: user_data round trips; bounced reads copy only
 * what was read; a linked write sees what the read before it brought
 * into the same buffer, also after a short read on a hard link; nothing
 * is copied for an operation cancelled before it ran; fixed files
 * outlive the program's descriptor; a descriptor number reused for
 * another file is noticed; arena buffers go zero-copy; what is not
 * supported fails with -EOPNOTSUPP or -EINVAL, and is named on stderr
 * with SAFERRING_URING_WARN only; CQEs are never dropped; waits time out
 * with -ETIME; submit_and_wait_timeout returns what it submitted; more
 * operations than the facade's first table hold their memory while the
 * table grows; a chain longer than a batch fails whole; two accepts on
 * one blocking listener never block the program; a multishot accept
 * into the fixed table allocates within it.  Never makes an io_uring
 * system call.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <liburing.h>

static int failures;

#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "FAIL %s:%d: %s: ", __func__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
		failures++; \
		return; \
	} \
} while (0)

static char path[64];

static int make_file(size_t len, unsigned char seed)
{
	unsigned char *b = malloc(len);
	int fd;

	snprintf(path, sizeof(path), "facade-test.%d", getpid());
	for (size_t i = 0; i < len; i++)
		b[i] = (unsigned char)(seed + i * 7);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, b, len) != (ssize_t)len) {
		perror("make_file");
		exit(1);
	}
	unlink(path);
	free(b);
	return fd;
}

/* Wait for one CQE; its res, user_data and flags. */
static int reap(struct io_uring *ring, __u64 *ud, unsigned *flags)
{
	struct io_uring_cqe *cqe;
	int ret = io_uring_wait_cqe(ring, &cqe), res;

	if (ret)
		return ret;
	res = cqe->res;
	if (ud)
		*ud = cqe->user_data;
	if (flags)
		*flags = cqe->flags;
	io_uring_cqe_seen(ring, cqe);
	return res;
}

static void test_nop_user_data(void)
{
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	__u64 seen = 0;

	CHECK(io_uring_queue_init(8, &ring, 0) == 0, "init");
	CHECK(ring.sq.ring_entries == 8 && ring.cq.ring_entries == 16,
	      "ring sizes %u %u", ring.sq.ring_entries, ring.cq.ring_entries);
	for (int i = 0; i < 8; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data64(sqe, 0xfeed0000ULL + i);
	}
	CHECK(io_uring_get_sqe(&ring) == NULL, "SQ ring should be full");
	CHECK(io_uring_submit_and_wait(&ring, 8) == 8, "submit");
	io_uring_for_each_cqe(&ring, head, cqe) {
		seen |= 1ULL << (cqe->user_data - 0xfeed0000ULL);
		CHECK(cqe->res == 0, "nop res %d", cqe->res);
		n++;
	}
	io_uring_cq_advance(&ring, n);
	CHECK(n == 8 && seen == 0xff, "n %u seen %llx", n,
	      (unsigned long long)seen);
	io_uring_queue_exit(&ring);
}

static void test_short_read(void)
{
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	unsigned char buf[8192];
	int fd = make_file(1000, 3), res;

	memset(buf, 0xAA, sizeof(buf));
	CHECK(io_uring_queue_init(4, &ring, 0) == 0, "init");
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_read(sqe, fd, buf, sizeof(buf), 0);
	io_uring_submit(&ring);
	res = reap(&ring, NULL, NULL);
	CHECK(res == 1000, "short read res %d", res);
	CHECK(buf[999] == (unsigned char)(3 + 999 * 7), "data");
	for (size_t i = 1000; i < sizeof(buf); i++)
		CHECK(buf[i] == 0xAA, "byte %zu past the result was written", i);
	io_uring_queue_exit(&ring);
	close(fd);
}

/* read into buf, linked write from buf: the write must carry the data
 * the read brought (the kernel's order), not buf's old content. */
static void test_chain_shared(unsigned link)
{
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	unsigned char buf[4096], back[4096];
	int in = make_file(link == IOSQE_IO_HARDLINK ? 1000 : 4096, 9);
	int out = make_file(0, 0);
	int r1, r2;

	memset(buf, 0x55, sizeof(buf));
	CHECK(io_uring_queue_init(4, &ring, 0) == 0, "init");
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_read(sqe, in, buf, sizeof(buf), 0);
	sqe->flags |= link;
	sqe->user_data = 1;
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_write(sqe, out, buf, sizeof(buf), 0);
	sqe->user_data = 2;
	CHECK(io_uring_submit(&ring) == 2, "submit");
	r1 = reap(&ring, NULL, NULL);
	r2 = reap(&ring, NULL, NULL);
	CHECK(r2 == 4096, "write res %d (read %d)", r2, r1);
	CHECK(pread(out, back, sizeof(back), 0) == 4096, "pread");
	for (int i = 0; i < 4096; i++) {
		unsigned char want = i < (link == IOSQE_IO_HARDLINK ? 1000 : 4096)
				     ? (unsigned char)(9 + i * 7) : 0x55;
		CHECK(back[i] == want, "byte %d: %#x, want %#x", i, back[i], want);
	}
	io_uring_queue_exit(&ring);
	close(in);
	close(out);
}

static void test_chain_link(void)
{
	test_chain_shared(IOSQE_IO_LINK);
}

static void test_chain_hardlink_short(void)
{
	test_chain_shared(IOSQE_IO_HARDLINK);
}

/* A recv on a socket nobody writes to, cancelled: -ECANCELED and not a
 * byte of its buffer touched. */
static void test_cancel_no_copy(void)
{
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	unsigned char buf[256];
	int p[2], res;
	__u64 ud;
	bool got_target = false, got_cancel = false;

	memset(buf, 0x77, sizeof(buf));
	CHECK(pipe(p) == 0, "pipe");
	CHECK(io_uring_queue_init(4, &ring, 0) == 0, "init");
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_read(sqe, p[0], buf, sizeof(buf), 0);
	sqe->user_data = 10;
	io_uring_submit(&ring);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_cancel64(sqe, 10, 0);
	sqe->user_data = 11;
	io_uring_submit(&ring);
	for (int i = 0; i < 2; i++) {
		res = reap(&ring, &ud, NULL);
		if (ud == 10) {
			CHECK(res == -ECANCELED || res == -EINTR, "target %d", res);
			got_target = true;
		} else {
			CHECK(ud == 11 && (res == 0 || res == -EALREADY),
			      "cancel %d", res);
			got_cancel = true;
		}
	}
	CHECK(got_target && got_cancel, "both CQEs");
	/* Whatever comes now must never reach the buffer. */
	CHECK(write(p[1], "data", 4) == 4, "write");
	usleep(20000);
	io_uring_cq_ready(&ring);
	for (size_t i = 0; i < sizeof(buf); i++)
		CHECK(buf[i] == 0x77, "byte %zu written after the cancel", i);
	io_uring_queue_exit(&ring);
	close(p[0]);
	close(p[1]);
}

static void test_fixed_file_outlives_fd(void)
{
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	char buf[16];
	int fd = make_file(16, 1), res;

	CHECK(io_uring_queue_init(4, &ring, 0) == 0, "init");
	CHECK(io_uring_register_files(&ring, &fd, 1) == 0, "register");
	CHECK(io_uring_register_files(&ring, &fd, 1) == -EBUSY, "twice");
	close(fd);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_read(sqe, 0, buf, sizeof(buf), 0);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_submit(&ring);
	res = reap(&ring, NULL, NULL);
	CHECK(res == 16, "fixed read after close: %d", res);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_read(sqe, 1, buf, sizeof(buf), 0);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_submit(&ring);
	res = reap(&ring, NULL, NULL);
	CHECK(res == -EBADF, "past the table: %d", res);
	CHECK(io_uring_unregister_files(&ring) == 0, "unregister");
	CHECK(io_uring_unregister_files(&ring) == -ENXIO, "again");
	io_uring_queue_exit(&ring);
}

/* Close a descriptor behind the facade's back and get the number again
 * for another file: the facade must read the new file. */
static void test_fd_reuse(void)
{
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	unsigned char b;
	int fd = make_file(1, 0x11), fd2, res;

	CHECK(io_uring_queue_init(4, &ring, 0) == 0, "init");
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_read(sqe, fd, &b, 1, 0);
	io_uring_submit(&ring);
	res = reap(&ring, NULL, NULL);
	CHECK(res == 1 && b == 0x11, "first %d %#x", res, b);
	close(fd);
	fd2 = make_file(1, 0x22);
	CHECK(fd2 == fd, "descriptor number not reused (%d, %d)", fd, fd2);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_read(sqe, fd2, &b, 1, 0);
	io_uring_submit(&ring);
	res = reap(&ring, NULL, NULL);
	CHECK(res == 1 && b == 0x22, "reused number read %d %#x", res, b);
	close(fd2);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_read(sqe, fd2, &b, 1, 0);
	io_uring_submit(&ring);
	res = reap(&ring, NULL, NULL);
	CHECK(res == -EBADF, "closed descriptor: %d", res);
	io_uring_queue_exit(&ring);
}

static void test_arena_zero_copy(void)
{
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	unsigned char *buf;
	int fd = make_file(4096, 5), res;

	CHECK(io_uring_queue_init(4, &ring, 0) == 0, "init");
	CHECK(sr_uring_buf_size(&ring) >= 4096, "slot size");
	buf = sr_uring_buf_alloc(&ring, 4096);
	CHECK(buf != NULL, "alloc");
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_read(sqe, fd, buf, 4096, 0);
	io_uring_submit(&ring);
	res = reap(&ring, NULL, NULL);
	CHECK(res == 4096 && buf[4095] == (unsigned char)(5 + 4095 * 7),
	      "zero-copy read %d", res);
	CHECK(sr_uring_buf_free(&ring, buf) == 0, "free");
	CHECK(sr_uring_buf_free(&ring, buf) == -EINVAL, "double free");
	io_uring_queue_exit(&ring);
	close(fd);
}

static void test_unsupported(void)
{
	struct io_uring ring;
	struct io_uring_params p;
	struct io_uring_sqe *sqe;
	struct io_uring_probe *probe;
	int res;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SQPOLL;
	CHECK(io_uring_queue_init_params(4, &ring, &p) == -EINVAL, "sqpoll");
	CHECK(io_uring_queue_init(0, &ring, 0) == -EINVAL, "0 entries");
	CHECK(io_uring_queue_init(4, &ring, 0) == 0, "init");
	CHECK(ring.ring_fd == -1, "ring_fd %d", ring.ring_fd);
	CHECK(io_uring_register_eventfd(&ring, 0) == -EINVAL, "eventfd");
	CHECK(io_uring_register_ring_fd(&ring) == -EINVAL, "ring fd");
	CHECK(io_uring_enter(0, 0, 0, 0, NULL) == -ENOSYS, "enter");
	probe = io_uring_get_probe_ring(&ring);
	CHECK(probe, "probe");
	CHECK(io_uring_opcode_supported(probe, IORING_OP_READ) &&
	      io_uring_opcode_supported(probe, IORING_OP_SEND) &&
	      !io_uring_opcode_supported(probe, IORING_OP_OPENAT) &&
	      !io_uring_opcode_supported(probe, IORING_OP_SPLICE), "probe ops");
	io_uring_free_probe(probe);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_openat(sqe, AT_FDCWD, "/", O_RDONLY, 0);
	io_uring_submit(&ring);
	res = reap(&ring, NULL, NULL);
	CHECK(res == -EOPNOTSUPP, "openat %d", res);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_nop(sqe);
	sqe->flags |= IOSQE_IO_DRAIN;
	io_uring_submit(&ring);
	res = reap(&ring, NULL, NULL);
	CHECK(res == -EINVAL, "drain %d", res);
	io_uring_queue_exit(&ring);
}

/* 64 NOPs into a CQ ring of 8: none lost, the overflow flag meanwhile. */
static void test_no_drop(void)
{
	struct io_uring ring;
	struct io_uring_params p;
	unsigned got = 0;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE;
	p.cq_entries = 8;
	CHECK(io_uring_queue_init_params(8, &ring, &p) == 0, "init");
	for (int round = 0; round < 8; round++) {
		for (int i = 0; i < 8; i++)
			io_uring_prep_nop(io_uring_get_sqe(&ring));
		CHECK(io_uring_submit(&ring) == 8, "submit");
	}
	while (got < 64) {
		struct io_uring_cqe *cqe;

		if (got == 0) {
			/* Wait until every NOP is back; 8 fit. */
			usleep(50000);
			io_uring_cq_ready(&ring);
		}
		CHECK(io_uring_wait_cqe(&ring, &cqe) == 0, "wait at %u", got);
		if (got == 0)
			CHECK(io_uring_cq_has_overflow(&ring), "overflow flag");
		io_uring_cqe_seen(&ring, cqe);
		got++;
	}
	CHECK(!io_uring_cq_has_overflow(&ring), "overflow flag at the end");
	io_uring_queue_exit(&ring);
}

static void test_wait_timeout(void)
{
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = { .tv_nsec = 50 * 1000 * 1000 };
	struct io_uring_sqe *sqe;
	int p[2], res;

	CHECK(pipe(p) == 0, "pipe");
	CHECK(io_uring_queue_init(4, &ring, 0) == 0, "init");
	CHECK(io_uring_wait_cqe_timeout(&ring, &cqe, &ts) == -ETIME,
	      "nothing in flight");
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_poll_add(sqe, p[0], POLLIN);
	io_uring_submit(&ring);
	CHECK(io_uring_wait_cqe_timeout(&ring, &cqe, &ts) == -ETIME,
	      "poll pending");
	CHECK(write(p[1], "x", 1) == 1, "write");
	CHECK(io_uring_wait_cqe_timeout(&ring, &cqe, &ts) == 0, "poll ready");
	res = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	CHECK(res & POLLIN, "poll res %#x", res);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_timeout(sqe, &ts, 0, 0);
	io_uring_submit(&ring);
	res = reap(&ring, NULL, NULL);
	CHECK(res == -ETIME, "timeout op %d", res);
	io_uring_queue_exit(&ring);
	close(p[0]);
	close(p[1]);
}

/* More reads than slots: they wait in the facade and all complete. */
static void test_backlog(void)
{
	struct io_uring ring;
	enum { N = 256, SZ = 4096 };
	static unsigned char bufs[N][SZ];
	int fd = make_file((size_t)N * SZ, 2);

	CHECK(io_uring_queue_init(N, &ring, 0) == 0, "init");
	for (int i = 0; i < N; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		io_uring_prep_read(sqe, fd, bufs[i], SZ, (__u64)i * SZ);
		sqe->user_data = (__u64)i;
	}
	CHECK(io_uring_submit(&ring) == N, "submit");
	for (int i = 0; i < N; i++) {
		__u64 ud;
		int res = reap(&ring, &ud, NULL);

		CHECK(res == SZ, "read %llu: %d", (unsigned long long)ud, res);
		CHECK(bufs[ud][0] == (unsigned char)(2 + ud * SZ * 7), "data");
	}
	io_uring_queue_exit(&ring);
	close(fd);
}

/* The child of warn_output, a fresh process: the facade reads
 * SAFERRING_URING_WARN once. */
static int warn_child(void)
{
	struct io_uring ring;
	struct io_uring_sqe *sqe;

	if (io_uring_queue_init(4, &ring, 0))
		return 2;
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_openat(sqe, AT_FDCWD, "/", O_RDONLY, 0);
	io_uring_submit(&ring);
	return reap(&ring, NULL, NULL) == -EOPNOTSUPP ? 0 : 3;
}

/* What a child with @warn set writes on stderr for an OPENAT SQE. */
static ssize_t warn_output(bool warn, char *out, size_t cap)
{
	int p[2];
	pid_t pid;
	ssize_t n, got = 0;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		dup2(p[1], 2);
		close(p[0]);
		if (warn)
			setenv("SAFERRING_URING_WARN", "1", 1);
		else
			unsetenv("SAFERRING_URING_WARN");
		execl("/proc/self/exe", "test_facade", "warn-child", (char *)NULL);
		_exit(4);
	}
	close(p[1]);
	while (got < (ssize_t)cap - 1 &&
	       (n = read(p[0], out + got, cap - 1 - (size_t)got)) > 0)
		got += n;
	out[got] = 0;
	close(p[0]);
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return -1;
	return got;
}

static void test_warn(void)
{
	char out[512];
	char want[64];

	snprintf(want, sizeof(want), "not supported: IORING_OP %d",
		 IORING_OP_OPENAT);
	CHECK(warn_output(true, out, sizeof(out)) > 0, "warned: '%s'", out);
	CHECK(strstr(out, want), "'%s' in '%s'", want, out);
	CHECK(warn_output(false, out, sizeof(out)) == 0, "quiet: '%s'", out);
}

/* Two single reads per op, all at once, twice the facade's first table
 * of operations: the table moves while the first ones are in flight. */
static void test_table_grows(void)
{
	struct io_uring ring;
	enum { N = 600, SZ = 512 };
	static unsigned char bufs[N][SZ];
	int fd = make_file((size_t)N * SZ, 3);

	memset(bufs, 0, sizeof(bufs));
	CHECK(io_uring_queue_init(1024, &ring, 0) == 0, "init");
	for (int i = 0; i < N; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		io_uring_prep_read(sqe, fd, bufs[i], SZ, (__u64)i * SZ);
		sqe->user_data = (__u64)i;
	}
	CHECK(io_uring_submit(&ring) == N, "submit");
	for (int i = 0; i < N; i++) {
		__u64 ud;
		int res = reap(&ring, &ud, NULL);

		CHECK(res == SZ, "read %llu: %d", (unsigned long long)ud, res);
		CHECK(bufs[ud][SZ - 1] ==
		      (unsigned char)(3 + (ud * SZ + SZ - 1) * 7), "data %llu",
		      (unsigned long long)ud);
	}
	io_uring_queue_exit(&ring);
	close(fd);
}

/* 257 linked NOPs: more than one batch; 256 are fine. */
static void test_long_chain(void)
{
	struct io_uring ring;

	CHECK(io_uring_queue_init(512, &ring, 0) == 0, "init");
	for (unsigned n = 256; n <= 257; n++) {
		unsigned bad = 0, cancelled = 0, ok = 0;

		for (unsigned i = 0; i < n; i++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

			io_uring_prep_nop(sqe);
			sqe->user_data = i;
			if (i + 1 < n)
				sqe->flags |= IOSQE_IO_LINK;
		}
		CHECK(io_uring_submit(&ring) == (int)n, "submit %u", n);
		for (unsigned i = 0; i < n; i++) {
			__u64 ud;
			int res = reap(&ring, &ud, NULL);

			ok += res == 0;
			bad += res == -EINVAL && ud == 0;
			cancelled += res == -ECANCELED;
		}
		if (n == 256)
			CHECK(ok == n, "%u of 256 done", ok);
		else
			CHECK(bad == 1 && cancelled == n - 1,
			      "257: %u -EINVAL first, %u -ECANCELED", bad,
			      cancelled);
	}
	io_uring_queue_exit(&ring);
}

static void test_submit_and_wait_timeout(void)
{
	struct io_uring ring;
	struct io_uring_cqe *cqe = NULL;
	struct __kernel_timespec ts = { .tv_nsec = 20 * 1000 * 1000 };

	CHECK(io_uring_queue_init(4, &ring, 0) == 0, "init");
	io_uring_prep_nop(io_uring_get_sqe(&ring));
	/* Two wanted, one comes: the count submitted, the CQE there. */
	CHECK(io_uring_submit_and_wait_timeout(&ring, &cqe, 2, &ts, NULL) == 1,
	      "submitted count");
	CHECK(cqe && cqe->res == 0, "the NOP's CQE");
	io_uring_cqe_seen(&ring, cqe);
	CHECK(io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL) ==
	      -ETIME, "nothing submitted, nothing came");
	io_uring_queue_exit(&ring);
}

static int tcp_listener(struct sockaddr_in *a)
{
	socklen_t len = sizeof(*a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)a, sizeof(*a)) ||
	    listen(l, 8) || getsockname(l, (struct sockaddr *)a, &len)) {
		if (l >= 0)
			close(l);
		return -1;
	}
	return l;
}

static int tcp_connect(const struct sockaddr_in *a)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);

	if (s >= 0 && connect(s, (const struct sockaddr *)a, sizeof(*a))) {
		close(s);
		return -1;
	}
	return s;
}

/* Two accepts, one connection, on a blocking listener: one completes
 * and the program goes on (the other must not sit in accept4()); a
 * second connection completes the other. */
static void test_two_accepts(void)
{
	struct io_uring ring;
	struct sockaddr_in a;
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = { .tv_nsec = 100 * 1000 * 1000 };
	int l = tcp_listener(&a), c1, c2, res;

	CHECK(l >= 0, "listener");
	CHECK(io_uring_queue_init(4, &ring, 0) == 0, "init");
	for (int i = 0; i < 2; i++)
		io_uring_prep_accept(io_uring_get_sqe(&ring), l, NULL, NULL, 0);
	CHECK(io_uring_submit(&ring) == 2, "submit");
	c1 = tcp_connect(&a);
	CHECK(c1 >= 0, "connect");
	res = reap(&ring, NULL, NULL);
	CHECK(res >= 0, "first accept %d", res);
	close(res);
	CHECK(io_uring_wait_cqe_timeout(&ring, &cqe, &ts) == -ETIME,
	      "the second waits");
	c2 = tcp_connect(&a);
	CHECK(c2 >= 0, "connect");
	res = reap(&ring, NULL, NULL);
	CHECK(res >= 0, "second accept %d", res);
	close(res);
	close(c1);
	close(c2);
	close(l);
	io_uring_queue_exit(&ring);
}

/* IORING_FILE_INDEX_ALLOC (all ones) is not a plain accept. */
static void test_multishot_accept_alloc(void)
{
	struct io_uring ring;
	struct sockaddr_in a;
	int table[4] = { -1, -1, -1, -1 };
	int l = tcp_listener(&a), c[2];

	CHECK(l >= 0, "listener");
	CHECK(io_uring_queue_init(8, &ring, 0) == 0, "init");
	CHECK(io_uring_register_files(&ring, table, 4) == 0, "table");
	io_uring_prep_multishot_accept_direct(io_uring_get_sqe(&ring), l,
					      NULL, NULL, 0);
	CHECK(io_uring_submit(&ring) == 1, "submit");
	for (int i = 0; i < 2; i++) {
		unsigned flags;
		int res;

		c[i] = tcp_connect(&a);
		CHECK(c[i] >= 0, "connect");
		res = reap(&ring, NULL, &flags);
		CHECK(res >= 0 && res < 4, "index %d of 4", res);
		CHECK(flags & IORING_CQE_F_MORE, "more");
	}
	close(c[0]);
	close(c[1]);
	close(l);
	io_uring_queue_exit(&ring);
}

/* A write from a NULL buffer fails when it runs (-EFAULT), not at
 * submit: in a hard-linked chain of NOPs the CQEs come in order, and
 * in a soft-linked one the members after it are cancelled, unseen
 * when it asked to skip its success CQE. */
static void test_exec_failure_in_chain(void)
{
	struct io_uring ring;
	int p[2];

	CHECK(pipe(p) == 0, "pipe");
	CHECK(io_uring_queue_init(16, &ring, 0) == 0, "init");
	for (int i = 0; i < 5; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		if (i == 2)
			io_uring_prep_write(sqe, p[1], NULL, 100, 0);
		else
			io_uring_prep_nop(sqe);
		if (i < 4)
			sqe->flags |= IOSQE_IO_HARDLINK;
		sqe->user_data = (__u64)i;
	}
	CHECK(io_uring_submit(&ring) == 5, "submit: all five taken");
	for (int i = 0; i < 5; i++) {
		__u64 ud;
		int res = reap(&ring, &ud, NULL);

		CHECK(ud == (__u64)i, "CQE %d: user_data %llu", i,
		      (unsigned long long)ud);
		CHECK(res == (i == 2 ? -EFAULT : 0), "CQE %d: %d", i, res);
	}
	for (int i = 0; i < 4; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		if (i == 1)
			io_uring_prep_write(sqe, p[1], NULL, 100, 0);
		else
			io_uring_prep_nop(sqe);
		if (i < 3)
			sqe->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
		sqe->user_data = (__u64)i;
	}
	CHECK(io_uring_submit(&ring) == 4, "submit: all four taken");
	{
		__u64 ud;
		int res = reap(&ring, &ud, NULL);
		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts = { .tv_nsec = 50 * 1000 * 1000 };

		CHECK(ud == 1 && res == -EFAULT, "the one CQE: %llu %d",
		      (unsigned long long)ud, res);
		CHECK(io_uring_wait_cqe_timeout(&ring, &cqe, &ts) == -ETIME,
		      "no CQE for the cancelled members: %llu",
		      (unsigned long long)cqe->user_data);
	}
	io_uring_queue_exit(&ring);
	close(p[0]);
	close(p[1]);
}

/* A lone POLL_REMOVE is done when io_uring_submit returns: both CQEs
 * are there to peek at, with no wait. */
static void test_cancel_inline(void)
{
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	int p[2], seen = 0;

	CHECK(pipe(p) == 0, "pipe");
	CHECK(io_uring_queue_init(8, &ring, 0) == 0, "init");
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_poll_add(sqe, p[0], POLLIN);
	io_uring_sqe_set_data64(sqe, 1);
	CHECK(io_uring_submit(&ring) == 1, "poll");
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_poll_remove(sqe, 1);
	io_uring_sqe_set_data64(sqe, 2);
	CHECK(io_uring_submit(&ring) == 1, "remove");
	while (io_uring_peek_cqe(&ring, &cqe) == 0) {
		if (cqe->user_data == 1)
			seen |= cqe->res == -ECANCELED ? 1 : 4;
		if (cqe->user_data == 2)
			seen |= cqe->res == 0 ? 2 : 8;
		io_uring_cqe_seen(&ring, cqe);
	}
	CHECK(seen == 3, "peeked at once: %#x (1 poll cancelled, 2 remove ok)",
	      seen);
	io_uring_queue_exit(&ring);
	close(p[0]);
	close(p[1]);
}

/* The child of fork() must not take its parent's completions. */
static void test_fork_child(void)
{
	struct io_uring ring;
	struct io_uring_params par;
	int status;
	pid_t pid;

	memset(&par, 0, sizeof(par));
	CHECK(io_uring_queue_init_params(4, &ring, &par) == 0, "init");
	CHECK(par.features & IORING_FEAT_FAST_POLL, "FAST_POLL");
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		struct io_uring_cqe *cqe;

		signal(SIGPIPE, SIG_DFL);
		io_uring_prep_nop(io_uring_get_sqe(&ring));
		_exit(io_uring_submit(&ring) == -EOPNOTSUPP &&
		      io_uring_wait_cqe(&ring, &cqe) == -EOPNOTSUPP ? 0 : 1);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0, "child: -EOPNOTSUPP on its parent's ring");
	io_uring_prep_nop(io_uring_get_sqe(&ring));
	CHECK(io_uring_submit(&ring) == 1, "the parent goes on");
	CHECK(reap(&ring, NULL, NULL) == 0, "its NOP");
	io_uring_queue_exit(&ring);
}

int main(int argc, char **argv)
{
	struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
#define T(x) { #x, x }
		T(test_nop_user_data), T(test_short_read), T(test_chain_link),
		T(test_chain_hardlink_short), T(test_cancel_no_copy),
		T(test_fixed_file_outlives_fd), T(test_fd_reuse),
		T(test_arena_zero_copy), T(test_unsupported),
		T(test_no_drop), T(test_wait_timeout), T(test_backlog),
		T(test_warn), T(test_table_grows), T(test_long_chain),
		T(test_submit_and_wait_timeout), T(test_two_accepts),
		T(test_multishot_accept_alloc), T(test_exec_failure_in_chain),
		T(test_cancel_inline), T(test_fork_child),
	};

	if (argc == 2 && !strcmp(argv[1], "warn-child"))
		return warn_child();
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		int before = failures;

		tests[i].fn();
		printf("%s %s\n", failures == before ? "ok" : "FAILED",
		       tests[i].name);
	}
	return failures ? 1 : 0;
}
