/* SPDX-License-Identifier: MIT */
/*
 * test_confine_filter.c - unit tests for the daemon's seccomp allow-list
 * (confine.c), each in a child process that installs it and then tries
 * one thing: what the daemon does must work, what it never does must end
 * the process with SIGSYS, and the optional library paths must fail with
 * EPERM.
 *
 * Must never install the filter in the test process itself.  In
 * sanitizer builds the filter only logs, so there nothing is killed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/mempolicy.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "confine.h"
#include "../lib/child.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FILTER_KILLS 0
#else
#define FILTER_KILLS 1
#endif

/* Fork; the child installs the filter and returns fn()'s result as its
 * exit status.  Returns the wait status. */
static int in_confined_child(int (*fn)(void))
{
	int status;
	pid_t pid;

	pid = test_fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int r = confine_install();

		if (r <= 0)
			_exit(100);
		_exit(fn());
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void expect_exit(int status, int code)
{
	if (!WIFEXITED(status))
		fail_msg("child killed by signal %d, expected exit %d",
			 WTERMSIG(status), code);
	assert_int_equal(WEXITSTATUS(status), code);
}

static void expect_killed(int status)
{
	if (!FILTER_KILLS) {
		assert_true(WIFEXITED(status));
		return;
	}
	if (!WIFSIGNALED(status))
		fail_msg("child exited %d, expected death by SIGSYS",
			 WEXITSTATUS(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

/* What a session's life takes: arena, ring, an AF_UNIX socket. */
static int daemon_like(void)
{
	struct io_uring_params p;
	int memfd, ring, sock;
	void *m;

	memfd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (memfd < 0 || ftruncate(memfd, 65536) < 0 ||
	    fcntl(memfd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK) < 0)
		return 1;
	m = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (m == MAP_FAILED)
		return 2;
	/* The arena's NUMA node, as arena.c prefers it. */
	unsigned long node0 = 1;
	if (syscall(__NR_mbind, m, 65536, MPOL_PREFERRED, &node0,
		    sizeof(node0) * 8 + 1, 0) < 0)
		return 6;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_R_DISABLED;
	ring = (int)syscall(__NR_io_uring_setup, 4, &p);
	if (ring < 0)
		return 3;
	if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_ENABLE_RINGS,
		    NULL, 0) < 0)
		return 4;
	sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return 5;
	close(sock);
	close(ring);
	munmap(m, 65536);
	close(memfd);
	return 0;
}

static void test_daemon_calls_work(void **state)
{
	(void)state;
	expect_exit(in_confined_child(daemon_like), 0);
}

static int do_open(void)
{
	return open("/etc/hostname", O_RDONLY | O_CLOEXEC) >= 0 ? 0 : 1;
}

static int do_exec(void)
{
	execl("/bin/true", "true", (char *)NULL);
	return 1;
}

static int do_exec_mmap(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? 1 : 0;
}

static int do_mprotect_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return 2;
	return mprotect(p, 4096, PROT_READ | PROT_EXEC) == 0 ? 0 : 1;
}

static int do_inet_socket(void)
{
	return socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 0 : 1;
}

static int do_fork(void)
{
	return fork() >= 0 ? 0 : 1;
}

/* Binding memory hard (or moving pages) is nothing the daemon does. */
static int do_mbind_bind(void)
{
	unsigned long node0 = 1;
	void *m = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return 2;
	syscall(__NR_mbind, m, 65536, MPOL_BIND, &node0, sizeof(node0) * 8 + 1, 0);
	return 0;
}

static int do_personality(void)
{
	struct io_uring_params p;
	int ring;

	memset(&p, 0, sizeof(p));
	ring = (int)syscall(__NR_io_uring_setup, 4, &p);
	if (ring < 0)
		return 2;
	/* Requests under other credentials: never the daemon's. */
	syscall(__NR_io_uring_register, ring, IORING_REGISTER_PERSONALITY,
		NULL, 0);
	return 0;
}

static void test_forbidden_calls_kill(void **state)
{
	(void)state;
	expect_killed(in_confined_child(do_open));
	expect_killed(in_confined_child(do_exec));
	expect_killed(in_confined_child(do_exec_mmap));
	expect_killed(in_confined_child(do_mprotect_exec));
	expect_killed(in_confined_child(do_inet_socket));
	expect_killed(in_confined_child(do_fork));
	expect_killed(in_confined_child(do_personality));
	expect_killed(in_confined_child(do_mbind_bind));
}

static int do_abort(void)
{
	abort();
}

static int do_signal_other(void)
{
	/* tgkill is allowed for abort() only: SIGABRT to this process. */
	syscall(__NR_tgkill, getpid(), syscall(__NR_gettid), SIGUSR1);
	return 0;
}

/* A failed assertion still reads as one. */
static void test_abort_is_sigabrt(void **state)
{
	int status;

	(void)state;
	status = in_confined_child(do_abort);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	if (FILTER_KILLS) {
		status = in_confined_child(do_signal_other);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGSYS);
	}
}

/* Library paths that cope with refusal get EPERM, not death. */
static int do_rlimit(void)
{
	struct rlimit rl = { 1024, 1024 };

	if (setrlimit(RLIMIT_NOFILE, &rl) == 0 || errno != EPERM)
		return 1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 || errno != EPERM)
		return 2;
	return 0;
}

static int do_setsockopt(void)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), v = 1 << 20;

	if (fd < 0)
		return 2;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)) == 0 ||
	    errno != EPERM)
		return 1;
	return 0;
}

static void test_optional_calls_refused(void **state)
{
	(void)state;
	if (!FILTER_KILLS)
		skip();
	expect_exit(in_confined_child(do_rlimit), 0);
	expect_exit(in_confined_child(do_setsockopt), 0);
}

/* The filter is in place for /proc to see, and no_new_privs is set. */
static void test_status(void **state)
{
	int p[2], status;
	char buf[8192];
	ssize_t n;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(p), 0);
	pid = test_fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char c;

		close(p[1]);
		if (confine_install() <= 0)
			_exit(100);
		/* Wait (read is allowed) until the parent looked. */
		_exit(read(p[0], &c, 1) < 0 ? 1 : 0);
	}
	close(p[0]);
	/* The child is confined once /proc says so; bounded wait. */
	for (int i = 0; i < 500; i++) {
		char path[64];
		int fd;

		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		assert_true(n > 0);
		buf[n] = '\0';
		if (strstr(buf, "Seccomp:\t2"))
			break;
		usleep(2000);
	}
	assert_non_null(strstr(buf, "Seccomp:\t2"));
	assert_non_null(strstr(buf, "NoNewPrivs:\t1"));
	close(p[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	expect_exit(status, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_daemon_calls_work),
		cmocka_unit_test(test_forbidden_calls_kill),
		cmocka_unit_test(test_abort_is_sigabrt),
		cmocka_unit_test(test_optional_calls_refused),
		cmocka_unit_test(test_status),
	};

	return cmocka_run_group_tests_name("confine", tests, NULL, NULL);
}
