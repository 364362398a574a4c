/* SPDX-License-Identifier: MIT */
/*
 * test_backend.c - choosing a backend (sr_params.backend,
 * $SAFERRING_BACKEND, auto's fallbacks), and what each backend must do
 * alike: the same bytes, the same completion, the same refusal of a
 * descriptor kind, and for the in-process ones a clean end (nothing in
 * flight left behind, no descriptor leaked, a fork() child that closes
 * its copy does not hang).
 *
 * The operation tests (test_ops_*) run against every backend besides
 * (make check's direct: and threads: runs); this file covers what those
 * cannot see.
 */
#include "ops_util.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static const int all_backends[] = {
	SR_BACKEND_DAEMON, SR_BACKEND_DIRECT, SR_BACKEND_THREADS,
};

/* What auto picks when no daemon answers: direct if this process may
 * have an io_uring, threads otherwise. */
static int expected_fallback(void)
{
	struct {
		uint32_t sq_entries, cq_entries, flags, sq_thread_cpu,
			 sq_thread_idle, features, wq_fd, resv[3];
		uint64_t off[10 + 10];
	} p;
	long fd;

	memset(&p, 0, sizeof(p));
	fd = syscall(__NR_io_uring_setup, 1, &p);
	if (fd < 0)
		return SR_BACKEND_THREADS;
	close((int)fd);
	return SR_BACKEND_DIRECT;
}

/* A session on @backend; the daemon's is the harness daemon. */
static int connect_on(int backend, struct sr_client **c)
{
	struct sr_params p = { .backend = (uint32_t)backend };

	return sr_connect(hd.sock, &p, c);
}

static struct sr_client *must_connect_on(int backend)
{
	struct sr_client *c = NULL;
	int r = connect_on(backend, &c);

	if (backend == SR_BACKEND_DIRECT && (r == -ENOSYS || r == -EPERM)) {
		printf("SKIP: io_uring is unusable here (%s): no direct "
		       "backend to test\n", strerror(-r));
		fflush(stdout);
		_exit(77);
	}
	if (r < 0)
		fail_msg("sr_connect on %s: %s", sr_backend_name(backend),
			 strerror(-r));
	if (sr_backend(c) != backend)
		fail_msg("asked for %s, got %s", sr_backend_name(backend),
			 sr_backend_name(sr_backend(c)));
	return c;
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(sr_backend_name(SR_BACKEND_DEFAULT), "default");
	assert_string_equal(sr_backend_name(SR_BACKEND_AUTO), "auto");
	assert_string_equal(sr_backend_name(SR_BACKEND_DAEMON), "daemon");
	assert_string_equal(sr_backend_name(SR_BACKEND_DIRECT), "direct");
	assert_string_equal(sr_backend_name(SR_BACKEND_THREADS), "threads");
	assert_null(sr_backend_name(SR_BACKEND_THREADS + 1));
	assert_null(sr_backend_name(-1));
	assert_int_equal(sr_backend(NULL), -EINVAL);
}

static void test_bad_choice(void **state)
{
	struct sr_params p = { .backend = SR_BACKEND_THREADS + 1 };
	struct sr_client *c = NULL;
	char *saved = getenv("SAFERRING_BACKEND");

	(void)state;
	saved = saved ? strdup(saved) : NULL;
	assert_int_equal(sr_connect(hd.sock, &p, &c), -EINVAL);
	assert_null(c);
	/* A typo in the environment is an error, not a silent default. */
	setenv("SAFERRING_BACKEND", "io_uring", 1);
	assert_int_equal(sr_connect(hd.sock, NULL, &c), -EINVAL);
	assert_null(c);
	/* The parameter wins over the environment. */
	p.backend = SR_BACKEND_DAEMON;
	assert_int_equal(sr_connect(hd.sock, &p, &c), 0);
	assert_int_equal(sr_backend(c), SR_BACKEND_DAEMON);
	sr_close(c);
	if (saved)
		setenv("SAFERRING_BACKEND", saved, 1);
	else
		unsetenv("SAFERRING_BACKEND");
	free(saved);
}

static void test_auto(void **state)
{
	char *saved_backend = getenv("SAFERRING_BACKEND");
	char *saved_socket = getenv(SR_SOCKET_ENV);
	struct sr_params p = { .backend = SR_BACKEND_AUTO };
	struct sr_client *c = NULL;
	char missing[PATH_MAX];

	(void)state;
	saved_backend = saved_backend ? strdup(saved_backend) : NULL;
	saved_socket = saved_socket ? strdup(saved_socket) : NULL;
	unsetenv("SAFERRING_BACKEND");
	hd_path(&hd, "no-daemon.sock", missing, sizeof(missing));

	/* A daemon that answers is taken, named or found. */
	assert_int_equal(sr_connect(hd.sock, NULL, &c), 0);
	assert_int_equal(sr_backend(c), SR_BACKEND_DAEMON);
	sr_close(c);
	setenv(SR_SOCKET_ENV, hd.sock, 1);
	assert_int_equal(sr_connect(NULL, &p, &c), 0);
	assert_int_equal(sr_backend(c), SR_BACKEND_DAEMON);
	sr_close(c);

	/* A named socket without a daemon is an error, as it always was. */
	assert_int_equal(sr_connect(missing, NULL, &c), -ENOENT);
	assert_null(c);

	/* The default socket without a daemon: the in-process fallback. */
	setenv(SR_SOCKET_ENV, missing, 1);
	assert_int_equal(sr_connect(NULL, NULL, &c), 0);
	assert_int_equal(sr_backend(c), expected_fallback());
	sr_close(c);

	if (saved_backend)
		setenv("SAFERRING_BACKEND", saved_backend, 1);
	if (saved_socket)
		setenv(SR_SOCKET_ENV, saved_socket, 1);
	else
		unsetenv(SR_SOCKET_ENV);
	free(saved_backend);
	free(saved_socket);
}

/* Write a pattern through one slot, read it back through another, and
 * register a descriptor of a kind the checks refuse: the same results
 * on every backend. */
static void test_same_results(void **state)
{
	int refused[3];

	(void)state;
	for (unsigned b = 0; b < 3; b++) {
		struct sr_client *c = must_connect_on(all_backends[b]);
		char path[PATH_MAX];
		struct sr_cqe cqe[2];
		sr_handle_t h;
		sr_slot_t w, r;
		int fd, epfd;
		uint32_t seed = 0xbac0 + b;

		hd_path(&hd, "backend.XXXXXX", path, sizeof(path));
		fd = mkostemp(path, O_CLOEXEC);
		assert_true(fd >= 0);
		unlink(path);
		h = sr_register_fd(c, fd);
		assert_true(sr_handle_index(h) >= 0);
		w = sr_slot_acquire(c);
		r = sr_slot_acquire(c);
		assert_true(sr_slot_index(w) >= 0 && sr_slot_index(r) >= 0);
		hd_pattern(sr_slot_data(c, w), 4096, 0, seed);
		assert_int_equal(sr_prep_write(c, 1, h, w, 0, 4096, 8192), 0);
		ou_submit(c, 1);
		ou_wait(c, cqe, 1);
		ou_ok(&cqe[0], 4096);
		assert_int_equal(sr_prep_read(c, 2, h, r, 0, 4096, 8192), 0);
		ou_submit(c, 1);
		ou_wait(c, cqe + 1, 1);
		ou_ok(&cqe[1], 4096);
		assert_true(sr_slot_eq(cqe[1].slot, r));
		assert_true(hd_pattern_ok(sr_slot_data(c, r), 4096, 0, seed));
		/* And the file really holds it, at that offset. */
		{
			unsigned char buf[4096];

			assert_int_equal(pread(fd, buf, sizeof(buf), 8192), 4096);
			assert_true(hd_pattern_ok(buf, sizeof(buf), 0, seed));
		}
		epfd = epoll_create1(EPOLL_CLOEXEC);
		assert_true(epfd >= 0);
		refused[b] = sr_handle_index(sr_register_fd(c, epfd));
		close(epfd);
		assert_int_equal(sr_slot_release(c, w), 0);
		assert_int_equal(sr_slot_release(c, r), 0);
		sr_close(c);
		close(fd);
	}
	assert_true(refused[0] < 0);
	assert_int_equal(refused[1], refused[0]);
	assert_int_equal(refused[2], refused[0]);
}

/* sr_close with a receive waiting forever: the in-process session
 * cancels it and drains before the worker goes, and every descriptor
 * the backend opened is closed again. */
static void test_close_in_flight(void **state)
{
	(void)state;
	for (unsigned b = 1; b < 3; b++) {
		int before = hd_fd_count(getpid());
		struct sr_client *c = must_connect_on(all_backends[b]);
		sr_handle_t h;
		sr_slot_t s;
		int sv[2];

		ou_socketpair(sv);
		h = sr_register_fd(c, sv[0]);
		assert_true(sr_handle_index(h) >= 0);
		s = sr_slot_acquire(c);
		assert_true(sr_slot_index(s) >= 0);
		assert_int_equal(sr_prep_recv(c, 7, h, s, 0, 512, 0), 0);
		ou_submit(c, 1);
		ou_quiet(c, 50);
		sr_close(c);
		close(sv[0]);
		close(sv[1]);
		if (hd_fd_count(getpid()) != before)
			fail_msg("%s: %d descriptors before, %d after sr_close",
				 sr_backend_name(all_backends[b]), before,
				 hd_fd_count(getpid()));
	}
}

/* A fork() child has none of the worker's threads: its sr_close must
 * return rather than wait for them, and the parent's session goes on. */
static void test_fork_child_close(void **state)
{
	struct sr_client *c = must_connect_on(SR_BACKEND_DIRECT);
	struct sr_cqe cqe;
	int status = 0;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGALRM, SIG_DFL);
		alarm(10); /* a hang dies of SIGALRM, which the parent sees */
		sr_close(c);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("child's sr_close: status %#x", status);
	assert_int_equal(sr_prep_nop(c, 9), 0);
	ou_submit(c, 1);
	ou_wait(c, &cqe, 1);
	ou_ok(&cqe, 0);
	sr_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_bad_choice),
		cmocka_unit_test(test_auto),
		cmocka_unit_test(test_same_results),
		cmocka_unit_test(test_close_in_flight),
		cmocka_unit_test(test_fork_child_close),
	};

	return HD_RUN(tests, 120);
}
