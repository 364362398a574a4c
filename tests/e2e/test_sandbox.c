/* SPDX-License-Identifier: MIT */
/*
 * test_sandbox.c - end-to-end: the client sandbox (layer 5).
 *
 * sr_sandbox_deny_io_uring() must make io_uring_setup, io_uring_enter and
 * io_uring_register fail with EPERM in the caller, its other threads, its
 * children and whatever they exec, and change nothing else (the 32-bit
 * ABI on x86-64 is test_sandbox_compat's).  saferring-run must do the
 * same for the program it starts, export SAFERRING_SOCKET, and fail
 * clearly; a program under it cannot set up a ring yet saferring-cp under
 * it copies a file through the daemon.
 *
 * Each probe runs in a child process: the filter can never be removed,
 * and this test program itself must keep io_uring.
 */
#include "../lib/harness.h"
#include "../lib/child.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Probe exit codes. */
#define PROBE_DENIED 0   /* every io_uring call failed with EPERM */
#define PROBE_ALLOWED 10 /* io_uring_setup worked */
#define PROBE_OTHER 11   /* failed, but not with EPERM */

static char self_exe[PATH_MAX];

/* 0 when all three io_uring calls fail with EPERM; else which did not. */
static int probe_io_uring(void)
{
	struct io_uring_params p;
	long r;

	memset(&p, 0, sizeof(p));
	r = syscall(__NR_io_uring_setup, 2, &p);
	if (r >= 0) {
		close((int)r);
		return PROBE_ALLOWED;
	}
	if (errno != EPERM)
		return PROBE_OTHER;
	/* Without the filter these would fail with EBADF. */
	if (syscall(__NR_io_uring_enter, -1, 0, 0, 0, NULL, 0) != -1 ||
	    errno != EPERM)
		return PROBE_OTHER;
	if (syscall(__NR_io_uring_register, -1, 0, NULL, 0) != -1 ||
	    errno != EPERM)
		return PROBE_OTHER;
	return PROBE_DENIED;
}

/* The same, and in a child of the caller. */
static int probe_with_child(void)
{
	int r = probe_io_uring(), status;
	pid_t pid;

	if (r != PROBE_DENIED)
		return r;
	pid = test_fork();
	if (pid < 0)
		return PROBE_OTHER;
	if (pid == 0)
		_exit(probe_io_uring());
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return PROBE_OTHER;
	return WEXITSTATUS(status);
}

static int run_child(int (*fn)(void))
{
	int status;
	pid_t pid;

	pid = test_fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status))
		fail_msg("child died with signal %d", WTERMSIG(status));
	return WEXITSTATUS(status);
}

static int child_in_process(void)
{
	char buf[16];
	int fd, r;

	if (probe_io_uring() != PROBE_ALLOWED)
		return 20; /* io_uring must work before */
	r = sr_sandbox_deny_io_uring();
	if (r != 0) {
		fprintf(stderr, "sr_sandbox_deny_io_uring: %s\n", strerror(-r));
		return 21;
	}
	r = probe_with_child();
	if (r != PROBE_DENIED)
		return r;
	/* Everything else still works. */
	fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, buf, sizeof(buf)) <= 0)
		return 22;
	close(fd);
	if (getpid() <= 0)
		return 23;
	/* Twice is fine (a second filter stacks). */
	if (sr_sandbox_deny_io_uring() != 0)
		return 24;
	return probe_io_uring();
}

static void test_in_process(void **state)
{
	(void)state;
	assert_int_equal(run_child(child_in_process), PROBE_DENIED);
}

static int thread_pipe[2];
static volatile int thread_result = -1;

static void *thread_main(void *arg)
{
	char c;

	(void)arg;
	/* Wait until the main thread installed the filter. */
	if (read(thread_pipe[0], &c, 1) != 1)
		return NULL;
	thread_result = probe_io_uring();
	return NULL;
}

/* The filter reaches threads that existed before it (TSYNC). */
static int child_threads(void)
{
	pthread_t t;

	if (pipe(thread_pipe) < 0 ||
	    pthread_create(&t, NULL, thread_main, NULL) != 0)
		return 30;
	if (sr_sandbox_deny_io_uring() != 0)
		return 31;
	if (write(thread_pipe[1], "x", 1) != 1)
		return 32;
	pthread_join(t, NULL);
	return thread_result;
}

static void test_threads(void **state)
{
	(void)state;
	assert_int_equal(run_child(child_threads), PROBE_DENIED);
}

/* Across execve. */
static int child_exec(void)
{
	if (sr_sandbox_deny_io_uring() != 0)
		return 40;
	execl(self_exe, self_exe, "--probe", (char *)NULL);
	return 41;
}

static void test_exec(void **state)
{
	(void)state;
	assert_int_equal(run_child(child_exec), PROBE_DENIED);
}

static void bin_path(const char *name, char *buf, size_t len)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", self_exe);
	slash = strrchr(dir, '/');
	assert_non_null(slash);
	*slash = '\0';
	if ((size_t)snprintf(buf, len, "%s/../bin/%s", dir, name) >= len)
		fail_msg("path too long");
}

/* Run argv (NULL-terminated) with stdout+stderr captured; exit status. */
static int run_capture(char *const argv[], char *out, size_t len)
{
	int p[2], status;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = test_fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		execv(argv[0], argv);
		_exit(99);
	}
	close(p[1]);
	while (got + 1 < len && (n = read(p[0], out + got, len - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status))
		fail_msg("%s died with signal %d", argv[0], WTERMSIG(status));
	return WEXITSTATUS(status);
}

static void test_run_probe(void **state)
{
	char run[PATH_MAX + 64], out[1024];

	(void)state;
	bin_path("saferring-run", run, sizeof(run));
	{
		char *argv[] = { run, "--", self_exe, "--probe", NULL };
		assert_int_equal(run_capture(argv, out, sizeof(out)),
				 PROBE_DENIED);
	}
	/* Without "--"; the program's own options stay its own. */
	{
		char *argv[] = { run, self_exe, "--probe", NULL };
		assert_int_equal(run_capture(argv, out, sizeof(out)),
				 PROBE_DENIED);
	}
	/* And the same probe outside saferring-run has io_uring. */
	{
		char *argv[] = { self_exe, "--probe", NULL };
		assert_int_equal(run_capture(argv, out, sizeof(out)),
				 PROBE_ALLOWED);
	}
}

static void test_run_env(void **state)
{
	char run[PATH_MAX + 64], out[1024];

	(void)state;
	bin_path("saferring-run", run, sizeof(run));
	{
		char *argv[] = { run, "--socket", "/some/where.sock", "--",
				 self_exe, "--print-socket", NULL };
		assert_int_equal(run_capture(argv, out, sizeof(out)), 0);
		assert_string_equal(out, "/some/where.sock\n");
	}
}

static void test_run_errors(void **state)
{
	char run[PATH_MAX + 64], out[1024], plain[200];

	(void)state;
	bin_path("saferring-run", run, sizeof(run));
	{
		char *argv[] = { run, NULL };
		assert_int_equal(run_capture(argv, out, sizeof(out)), 125);
		assert_non_null(strstr(out, "no program given"));
	}
	{
		char *argv[] = { run, "--", "/no/such/program", NULL };
		assert_int_equal(run_capture(argv, out, sizeof(out)), 127);
		assert_non_null(strstr(out, "/no/such/program: No such file"));
	}
	{
		char *argv[] = { run, "--", "no-such-program-in-path", NULL };
		assert_int_equal(run_capture(argv, out, sizeof(out)), 127);
	}
	hd_path(&hd, "not-executable", plain, sizeof(plain));
	close(hd_make_file(&hd, "not-executable", 10, 1));
	{
		char *argv[] = { run, "--", plain, NULL };
		assert_int_equal(run_capture(argv, out, sizeof(out)), 126);
		assert_non_null(strstr(out, "Permission denied"));
	}
	{
		char *argv[] = { run, "--bogus", "--", "true", NULL };
		assert_int_equal(run_capture(argv, out, sizeof(out)), 125);
	}
}

/* The point of it all: no ring of its own, yet I/O through the daemon. */
static void test_run_cp(void **state)
{
	char run[PATH_MAX + 64], cp[PATH_MAX + 64], out[1024];
	char src[200], dst[200];
	static char buf[3 << 20];
	int fd;

	(void)state;
	bin_path("saferring-run", run, sizeof(run));
	bin_path("saferring-cp", cp, sizeof(cp));
	hd_path(&hd, "sandboxed-src", src, sizeof(src));
	hd_path(&hd, "sandboxed-dst", dst, sizeof(dst));
	close(hd_make_file(&hd, "sandboxed-src", sizeof(buf) - 12345, 77));
	{
		char *argv[] = { run, "--socket", hd.sock, "--", cp, src, dst,
				 NULL };
		int r = run_capture(argv, out, sizeof(out));

		if (r != 0)
			fail_msg("saferring-cp under saferring-run: exit %d: %s",
				 r, out);
	}
	fd = open(dst, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), sizeof(buf) - 12345);
	assert_true(hd_pattern_ok(buf, sizeof(buf) - 12345, 0, 77));
	close(fd);
	hd_check_service(&hd);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_process),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_exec),
		cmocka_unit_test(test_run_probe),
		cmocka_unit_test(test_run_env),
		cmocka_unit_test(test_run_errors),
		cmocka_unit_test(test_run_cp),
	};
	ssize_t n;

	/* Helper modes, run by the tests above in sandboxed processes. */
	if (argc == 2 && strcmp(argv[1], "--probe") == 0)
		return probe_with_child();
	if (argc == 2 && strcmp(argv[1], "--print-socket") == 0) {
		const char *s = getenv(SR_SOCKET_ENV);

		printf("%s\n", s ? s : "(unset)");
		return 0;
	}

	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n <= 0) {
		perror("readlink /proc/self/exe");
		return 1;
	}
	self_exe[n] = '\0';
	return HD_RUN(tests, 60);
}
