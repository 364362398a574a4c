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
 * it copies a file through the daemon.  Nor may the program inherit a
 * ring (an SQPOLL ring needs no system call at all): saferring-run closes
 * every io_uring descriptor it was given, says so, and refuses to run
 * anything when it cannot tell (no procfs at /proc).
 *
 * Each probe runs in a child process: the filter can never be removed,
 * and this test program itself must keep io_uring.
 */
#include "../lib/harness.h"
#include "../lib/child.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
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

/* Exit status of a run_capture_in() child whose @setup could not be done
 * here (not permitted): the test is skipped. */
#define SETUP_SKIP 77

/* Run argv (NULL-terminated) with stdout+stderr captured, after @setup
 * (unless NULL) in the child; exit status. */
static int run_capture_in(void (*setup)(void), char *const argv[], char *out,
			  size_t len)
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
		if (setup)
			setup();
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

static int run_capture(char *const argv[], char *out, size_t len)
{
	return run_capture_in(NULL, argv, out, len);
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

/* --check-inherited exit codes. */
#define CHECK_OK 0
#define CHECK_USAGE 50
#define CHECK_STILL_OPEN 51  /* a descriptor that should be closed is open */
#define CHECK_GONE 52        /* a keep=N descriptor was closed */
#define CHECK_RING 53        /* some descriptor is an io_uring */
#define CHECK_NO_PROC 54

static bool fd_is_ring(const char *dir, const char *name)
{
	char path[PATH_MAX], link[256];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	return strcmp(link, "anon_inode:[io_uring]") == 0;
}

/*
 * Helper mode, run under saferring-run:  --check-inherited ARG...  where
 * ARG N names a descriptor that must be closed, keep=N one that must be
 * open (and is no ring).  Then no descriptor at all may be an io_uring.
 * The descriptors are checked first, before this process opens anything
 * that could take a freed number.
 */
static int check_inherited(int argc, char **argv)
{
	char name[32];
	struct dirent *e;
	int r = CHECK_OK;
	DIR *dir;

	for (int i = 0; i < argc; i++) {
		bool keep = strncmp(argv[i], "keep=", 5) == 0;
		const char *num = argv[i] + (keep ? 5 : 0);
		char *end;
		long fd = strtol(num, &end, 10);

		if (end == num || *end || fd < 0 || fd > INT_MAX)
			return CHECK_USAGE;
		errno = 0;
		if (!keep && (fcntl((int)fd, F_GETFD) != -1 || errno != EBADF)) {
			fprintf(stderr, "check-inherited: descriptor %ld is "
				"open\n", fd);
			r = CHECK_STILL_OPEN;
		}
		if (keep && fcntl((int)fd, F_GETFD) == -1) {
			fprintf(stderr, "check-inherited: descriptor %ld is "
				"closed: %s\n", fd, strerror(errno));
			return CHECK_GONE;
		}
		snprintf(name, sizeof(name), "%ld", fd);
		if (keep && fd_is_ring("/proc/self/fd", name))
			return CHECK_USAGE;
	}
	dir = opendir("/proc/self/fd");
	if (!dir)
		return CHECK_NO_PROC;
	while ((e = readdir(dir))) {
		if (e->d_name[0] != '.' && fd_is_ring("/proc/self/fd", e->d_name)) {
			fprintf(stderr, "check-inherited: descriptor %s is an "
				"io_uring\n", e->d_name);
			if (r == CHECK_OK)
				r = CHECK_RING;
		}
	}
	closedir(dir);
	return r;
}

static int ring_setup(unsigned flags)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	p.flags = flags;
	p.sq_thread_idle = 100; /* ms */
	return (int)syscall(__NR_io_uring_setup, 4, &p);
}

/* @fd is listed, as a number, in saferring-run's notice @out. */
static bool notice_names(const char *out, int fd)
{
	static const char notice[] = "closed inherited io_uring descriptor";
	const char *p = strstr(out, notice);
	const char *stop = p ? strchr(p, '(') : NULL;

	if (!p || !stop)
		return false;
	p += strlen(notice); /* then "s 3, 4 (" or " 3 (" */
	while (p < stop) {
		char *end;
		long v;

		p += strspn(p, " ,s");
		v = strtol(p, &end, 10);
		if (end == p)
			break;
		if (v == fd)
			return true;
		p = end;
	}
	return false;
}

/*
 * A ring left open without O_CLOEXEC must not reach the program: an
 * SQPOLL ring's kernel thread takes work from the mapped submission queue
 * with no system call, so the seccomp filter alone cannot stop it.
 */
static void test_run_inherited_rings(void **state)
{
	char run[PATH_MAX + 64], out[2048], direct[2048];
	char a_sq[32], a_plain[32], a_keep[32];
	int sq, plain, efd, r_direct, r_run, err;
	bool named;

	(void)state;
	bin_path("saferring-run", run, sizeof(run));
	plain = ring_setup(0);
	if (plain < 0) {
		print_message("io_uring_setup: %s; cannot test inherited "
			      "rings here\n", strerror(errno));
		skip();
	}
	sq = ring_setup(IORING_SETUP_SQPOLL);
	err = errno;
	if (sq < 0)
		print_message("SQPOLL ring: %s; testing with the plain ring "
			      "only\n", strerror(err));
	efd = eventfd(0, 0); /* another anonymous inode, to be left alone */
	assert_true(efd >= 0);
	/* Inherited across execve, as a careless parent would leave them. */
	assert_int_equal(fcntl(plain, F_SETFD, 0), 0);
	if (sq >= 0)
		assert_int_equal(fcntl(sq, F_SETFD, 0), 0);
	snprintf(a_plain, sizeof(a_plain), "%d", plain);
	snprintf(a_sq, sizeof(a_sq), "%d", sq);
	snprintf(a_keep, sizeof(a_keep), "keep=%d", efd);
	{
		/* Without saferring-run the helper does see them. */
		char *argv[] = { self_exe, "--check-inherited", a_plain, a_keep,
				 sq >= 0 ? a_sq : NULL, NULL };

		r_direct = run_capture(argv, direct, sizeof(direct));
	}
	{
		char *argv[] = { run, "--", self_exe, "--check-inherited",
				 a_plain, a_keep, sq >= 0 ? a_sq : NULL, NULL };

		r_run = run_capture(argv, out, sizeof(out));
	}
	named = notice_names(out, plain) && (sq < 0 || notice_names(out, sq));
	/* Not leaked into later tests' children, whatever happened. */
	close(plain);
	if (sq >= 0)
		close(sq);
	close(efd);
	if (r_direct != CHECK_STILL_OPEN)
		fail_msg("helper did not see the rings without saferring-run: "
			 "exit %d: %s", r_direct, direct);
	if (r_run != CHECK_OK)
		fail_msg("program under saferring-run: exit %d: %s", r_run, out);
	if (!named)
		fail_msg("saferring-run did not name descriptors %d and %d as "
			 "closed: %s", plain, sq, out);
}

static bool write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok;
}

/* In a private mount namespace (in a user namespace of its own when not
 * privileged), a tmpfs over /proc, with a fake /proc/self/fd when @fake. */
static void hide_proc(bool fake)
{
	char map[64];
	uid_t uid = getuid();
	gid_t gid = getgid();

	if (unshare(CLONE_NEWNS) < 0) {
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
			_exit(SETUP_SKIP);
		/* Mapped, so that files can be made on the tmpfs. */
		snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid,
			 (unsigned)uid);
		if (!write_file("/proc/self/uid_map", map))
			_exit(SETUP_SKIP);
		snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid,
			 (unsigned)gid);
		if (!write_file("/proc/self/setgroups", "deny") ||
		    !write_file("/proc/self/gid_map", map))
			_exit(SETUP_SKIP);
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("none", "/proc", "tmpfs", 0, "mode=0755") < 0)
		_exit(SETUP_SKIP);
	if (fake && (mkdir("/proc/self", 0755) < 0 ||
		     mkdir("/proc/self/fd", 0755) < 0))
		_exit(SETUP_SKIP);
}

static void hide_proc_empty(void)
{
	hide_proc(false);
}

static void hide_proc_fake(void)
{
	hide_proc(true);
}

/* Without /proc the check cannot be made: fail closed. */
static void test_run_no_proc(void **state)
{
	char run[PATH_MAX + 64], out[1024];
	char *argv[] = { NULL, "--", NULL, "--probe", NULL };
	int r;

	(void)state;
#if defined(__SANITIZE_ADDRESS__)
	/* ASan's runtime reads /proc as the program starts, and gives up
	 * without it before saferring-run's own code runs. */
	print_message("an AddressSanitizer build cannot start without /proc; "
		      "not tested\n");
	skip();
#endif
	bin_path("saferring-run", run, sizeof(run));
	argv[0] = run;
	argv[2] = self_exe;
	r = run_capture_in(hide_proc_empty, argv, out, sizeof(out));
	if (r == SETUP_SKIP) {
		print_message("cannot mount over /proc here; not tested\n");
		skip();
	}
	if (r != 125)
		fail_msg("saferring-run without /proc: exit %d: %s", r, out);
	assert_non_null(strstr(out, "cannot check for inherited io_uring"));
	assert_non_null(strstr(out, "is /proc mounted?"));
	assert_non_null(strstr(out, "not running"));
	/* Something else that merely looks like it will not do either. */
	r = run_capture_in(hide_proc_fake, argv, out, sizeof(out));
	if (r == SETUP_SKIP) {
		print_message("cannot make a fake /proc here; not tested\n");
		skip();
	}
	if (r != 125)
		fail_msg("saferring-run with a fake /proc: exit %d: %s", r, out);
	assert_non_null(strstr(out, "not procfs"));
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
		cmocka_unit_test(test_run_inherited_rings),
		cmocka_unit_test(test_run_no_proc),
		cmocka_unit_test(test_run_cp),
	};
	ssize_t n;

	/* Helper modes, run by the tests above in sandboxed processes. */
	if (argc == 2 && strcmp(argv[1], "--probe") == 0)
		return probe_with_child();
	if (argc >= 2 && strcmp(argv[1], "--check-inherited") == 0)
		return check_inherited(argc - 2, argv + 2);
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
