/* SPDX-License-Identifier: MIT */
/*
 * test_admission.c - end-to-end: the daemon never lends its identity.
 *
 * Every operation the daemon runs is done as the daemon, and the kernel
 * decides many things at I/O time for the task doing the I/O.  A
 * hostile-client review showed what that lent a client; each is a test
 * here, run as an unprivileged client where that is what matters:
 *
 *  - signal theft: a signalfd read through the daemon dequeued the
 *    daemon's own SIGHUP and SIGTERM.  Now every anon-inode descriptor
 *    (signalfd, eventfd, timerfd, epoll, inotify) and pidfds are refused
 *    BAD_DESCRIPTORS with the reason, and SIGHUP still reaches the daemon;
 *  - credentials: a send on an AF_UNIX socket carried the daemon's pid and
 *    uid (SO_PASSCRED).  Now AF_UNIX sockets of every type, netlink,
 *    packet and raw sockets are refused; TCP and UDP over IPv4 and IPv6
 *    are admitted;
 *  - capabilities and uid: procfs files (timerslack_ns, ns_last_pid,
 *    another process's stat), sysfs, devices and directories are refused;
 *    a write through the daemon to a setuid file the client owns strips
 *    the setuid bit, as the client's own write would (the daemon holds no
 *    CAP_FSETID); the daemon runs as its own uid with no capability
 *    (CAP_IPC_LOCK alone where RLIMIT_MEMLOCK cannot be raised, and only
 *    then), no_new_privs and its seccomp filter;
 *  - what is admitted works: regular files on local filesystems (ext4 or
 *    whatever /tmp is, tmpfs via memfd and /dev/shm), pipes and FIFOs.
 *
 * FUSE (the event-loop freeze) is test_admission_fuse's; the client's own
 * limits and the daemon-wide caps are test_limits'.
 */
#include "../lib/harness.h"
#include "../lib/child.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534

/* Register @fd (our copy stays ours): must be refused BAD_DESCRIPTORS
 * with a reason that names @why. */
static void expect_refused(struct rc *c, int fd, const char *what,
			   const char *why)
{
	struct rc_handle h;
	uint32_t st;

	if (fd < 0)
		fail_msg("%s: cannot make one: %s", what, strerror(errno));
	st = rc_register(c, &fd, 1, &h);
	if (st != SR_STATUS_BAD_DESCRIPTORS)
		fail_msg("%s: registration answered %s, expected "
			 "BAD_DESCRIPTORS", what, sr_strstatus(st));
	if (!strstr(c->last_error, why))
		fail_msg("%s: refused, but the reason \"%s\" does not say "
			 "\"%s\"", what, c->last_error, why);
	printf("test_admission: %-28s refused: %s\n", what, c->last_error);
	close(fd);
}

/* Register @fd: must be admitted; the handle is unregistered again. */
static void expect_admitted(struct rc *c, int fd, const char *what)
{
	struct rc_handle h;
	uint32_t st;

	if (fd < 0)
		fail_msg("%s: cannot make one: %s", what, strerror(errno));
	st = rc_register(c, &fd, 1, &h);
	if (st != SR_STATUS_OK)
		fail_msg("%s: refused (%s: %s)", what, sr_strstatus(st),
			 c->last_error);
	assert_int_equal(rc_unregister(c, h), SR_STATUS_OK);
	close(fd);
}

static void test_anon_inodes_and_signals(void **state)
{
	struct rc *c = rc_open(hd.sock);
	sigset_t mask;
	int fd;

	(void)state;
	/* The review's descriptor: a signalfd for SIGHUP and SIGTERM. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	expect_refused(c, signalfd(-1, &mask, SFD_CLOEXEC), "signalfd",
		       "anon-inode");
	expect_refused(c, eventfd(0, EFD_CLOEXEC), "eventfd", "anon-inode");
	expect_refused(c, timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC),
		       "timerfd", "anon-inode");
	expect_refused(c, epoll_create1(EPOLL_CLOEXEC), "epoll", "anon-inode");
	expect_refused(c, inotify_init1(IN_CLOEXEC), "inotify", "anon-inode");
	fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (fd >= 0)
		expect_refused(c, fd, "pidfd", "pidfd");
	else
		printf("test_admission: pidfd_open: %s; pidfd not checked\n",
		       strerror(errno));
	/* The daemon's signals are its own: SIGHUP still reloads. */
	assert_int_equal(kill(hd.pid, SIGHUP), 0);
	if (!hd_wait_log(&hd, "SIGHUP: policy reloaded", HD_TIMEOUT_MS))
		fail_msg("SIGHUP did not reach the daemon");
	rc_close(c);
	hd_check_service(&hd);
}

static void test_sockets(void **state)
{
	struct rc *c = rc_open(hd.sock);
	int sv[2], fd;
	static const struct {
		int family, type, proto;
		const char *what, *why;
		bool admitted;
	} kinds[] = {
		{ AF_UNIX, SOCK_STREAM, 0, "AF_UNIX stream", "AF_UNIX", false },
		{ AF_UNIX, SOCK_DGRAM, 0, "AF_UNIX datagram", "AF_UNIX", false },
		{ AF_UNIX, SOCK_SEQPACKET, 0, "AF_UNIX seqpacket", "AF_UNIX",
		  false },
		{ AF_NETLINK, SOCK_RAW, 0, "AF_NETLINK", "AF_NETLINK", false },
		{ AF_PACKET, SOCK_DGRAM, 0, "AF_PACKET", "AF_PACKET", false },
		{ AF_INET, SOCK_RAW, IPPROTO_ICMP, "raw IPv4", "only TCP and UDP",
		  false },
		{ AF_INET, SOCK_STREAM, 0, "TCP/IPv4", NULL, true },
		{ AF_INET, SOCK_DGRAM, 0, "UDP/IPv4", NULL, true },
		{ AF_INET6, SOCK_STREAM, 0, "TCP/IPv6", NULL, true },
		{ AF_INET6, SOCK_DGRAM, 0, "UDP/IPv6", NULL, true },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		fd = socket(kinds[i].family, kinds[i].type | SOCK_CLOEXEC,
			    kinds[i].proto);
		if (fd < 0) {
			/* No IPv6 here, or no CAP_NET_RAW: nothing to pass. */
			printf("test_admission: %s: cannot make one (%s); not "
			       "checked\n", kinds[i].what, strerror(errno));
			continue;
		}
		if (kinds[i].admitted)
			expect_admitted(c, fd, kinds[i].what);
		else
			expect_refused(c, fd, kinds[i].what, kinds[i].why);
	}
	/* The review's confused deputy: a connected AF_UNIX pair whose
	 * receiver asked for credentials. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv),
			 0);
	setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &(int){ 1 }, sizeof(int));
	expect_refused(c, sv[0], "AF_UNIX (SO_PASSCRED peer)", "AF_UNIX");
	close(sv[1]);
	rc_close(c);
	hd_check_service(&hd);
}

/* Open @path with @flags and expect it refused with @why; a path this
 * machine lacks is said and skipped. */
static void refuse_path(struct rc *c, const char *path, int flags,
			const char *why)
{
	int fd = open(path, flags | O_CLOEXEC);

	if (fd < 0) {
		printf("test_admission: %s: %s; not checked\n", path,
		       strerror(errno));
		return;
	}
	expect_refused(c, fd, path, why);
}

static void test_identity_files(void **state)
{
	struct rc *c = rc_open(hd.sock);
	char path[64];

	(void)state;
	/* What a write there does depends on who writes: procfs checks
	 * the writer's capabilities, and reads of another process's stat
	 * hide addresses unless the reader may ptrace it. */
	snprintf(path, sizeof(path), "/proc/%d/timerslack_ns", (int)getpid());
	refuse_path(c, path, O_RDWR, "proc");
	refuse_path(c, "/proc/sys/kernel/ns_last_pid", O_RDONLY, "proc");
	refuse_path(c, "/proc/1/stat", O_RDONLY, "proc");
	refuse_path(c, "/proc/self/status", O_RDONLY, "proc");
	refuse_path(c, "/sys/kernel/mm/transparent_hugepage/enabled",
		    O_RDONLY, "sysfs");
	refuse_path(c, "/dev/null", O_RDWR, "character device");
	refuse_path(c, "/", O_RDONLY | O_DIRECTORY, "directory");
	refuse_path(c, "/", O_PATH, "O_PATH");
	rc_close(c);
	hd_check_service(&hd);
}

static void test_local_kinds(void **state)
{
	struct rc *c = rc_open(hd.sock);
	char fifo[200];
	int p[2], fd;

	(void)state;
	expect_admitted(c, hd_make_file(&hd, "plain", 4096, 1),
			"regular file in the test directory");
	expect_admitted(c, memfd_create("admission", MFD_CLOEXEC), "memfd");
	fd = open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		expect_admitted(c, fd, "file on /dev/shm");
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	expect_admitted(c, p[0], "pipe (read end)");
	expect_admitted(c, p[1], "pipe (write end)");
	hd_path(&hd, "fifo", fifo, sizeof(fifo));
	assert_int_equal(mkfifo(fifo, 0600), 0);
	fd = open(fifo, O_RDWR | O_CLOEXEC);
	expect_admitted(c, fd, "FIFO");
	rc_close(c);
}

/* In a child as nobody: write through the daemon to a setuid file it
 * owns; exit 0 when the bit is gone afterwards, as after its own write. */
static int setuid_child(const char *dir)
{
	struct sr_client *c;
	char path[256];
	struct stat st;
	int fd, r;
	sr_handle_t h;

	if (hd_become(NOBODY, NOBODY) < 0)
		return 10;
	snprintf(path, sizeof(path), "%s/suid-file", dir);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	if (fd < 0 || fchmod(fd, 04755) < 0 || fstat(fd, &st) < 0 ||
	    !(st.st_mode & S_ISUID))
		return 11;
	r = sr_connect(hd.sock, NULL, &c);
	if (r < 0)
		return 12;
	h = sr_register_fd(c, fd);
	if (sr_handle_index(h) < 0)
		return 13;
	if (sr_pwrite(c, h, "through the daemon", 18, 0) != 18)
		return 14;
	sr_close(c);
	if (fstat(fd, &st) < 0)
		return 15;
	if (st.st_mode & S_ISUID) {
		fprintf(stderr, "setuid bit kept: mode %o\n", st.st_mode);
		return 16;
	}
	return 0;
}

static void test_setuid_stripped(void **state)
{
	char dir[200];
	int status;
	pid_t pid;

	(void)state;
	hd_path(&hd, "pub", dir, sizeof(dir));
	assert_int_equal(mkdir(dir, 01777), 0);
	assert_int_equal(chmod(dir, 01777), 0);
	pid = test_fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(setuid_child(dir));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("setuid child: status %#x (16: the daemon's write kept "
			 "the setuid bit, as only CAP_FSETID may)", status);
	hd_check_service(&hd);
}

/* The value of @key ("CapEff:") in /proc/@pid/status, parsed by @fmt. */
static bool status_field(pid_t pid, const char *key, const char *fmt,
			 void *out)
{
	char path[64], line[256];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0)
			found = sscanf(line + strlen(key), fmt, out) == 1;
	fclose(f);
	return found;
}

/* Whether this process could raise its RLIMIT_MEMLOCK hard limit (as
 * the daemon, started by us, tried): in a child, so that nothing here
 * changes. */
static bool can_raise_memlock(void)
{
	int status;
	pid_t pid = test_fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl;

		if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
			_exit(2);
		if (rl.rlim_max == RLIM_INFINITY)
			_exit(0);
		rl.rlim_max += 4096;
		rl.rlim_cur = rl.rlim_max;
		_exit(setrlimit(RLIMIT_MEMLOCK, &rl) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void test_daemon_identity(void **state)
{
	unsigned uid[4], gid[4];
	unsigned long long eff, prm, inh, bnd, amb;
	int nnp, seccomp;
	const unsigned long long ipc_lock = 1ULL << CAP_IPC_LOCK;

	char path[64], line[256];
	int ids = 0;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)hd.pid);
	f = fopen(path, "re");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		ids += sscanf(line, "Uid: %u %u %u %u", &uid[0], &uid[1],
			      &uid[2], &uid[3]) == 4;
		ids += sscanf(line, "Gid: %u %u %u %u", &gid[0], &gid[1],
			      &gid[2], &gid[3]) == 4;
	}
	fclose(f);
	assert_int_equal(ids, 2);
	assert_true(status_field(hd.pid, "CapEff:", "%llx", &eff));
	assert_true(status_field(hd.pid, "CapPrm:", "%llx", &prm));
	assert_true(status_field(hd.pid, "CapInh:", "%llx", &inh));
	assert_true(status_field(hd.pid, "CapBnd:", "%llx", &bnd));
	assert_true(status_field(hd.pid, "CapAmb:", "%llx", &amb));
	assert_true(status_field(hd.pid, "NoNewPrivs:", "%d", &nnp));
	assert_true(status_field(hd.pid, "Seccomp:", "%d", &seccomp));
	printf("test_admission: daemon uids %u %u %u %u gids %u %u %u %u; "
	       "CapEff %llx CapPrm %llx CapInh %llx CapBnd %llx CapAmb %llx; "
	       "NoNewPrivs %d Seccomp %d\n", uid[0], uid[1], uid[2], uid[3],
	       gid[0], gid[1], gid[2], gid[3], eff, prm, inh, bnd, amb, nnp,
	       seccomp);
	/* Started by root here; never root afterwards. */
	for (int i = 0; i < 4; i++) {
		assert_int_not_equal(uid[i], 0);
		assert_int_not_equal(gid[i], 0);
	}
	assert_int_equal(inh, 0);
	assert_int_equal(amb, 0);
	assert_int_equal(eff, prm);
	assert_int_equal(bnd & ~ipc_lock, 0);
	assert_int_equal(nnp, 1);
	/* Only a daemon told so (valgrind's runs) goes without its filter. */
	if (seccomp != 2)
		assert_true(hd_wait_log(&hd, "running without the seccomp "
					"filter", 0));
	if (eff) {
		/* CAP_IPC_LOCK alone, and only where the kernel left no other
		 * way to pin arenas: RLIMIT_MEMLOCK cannot be raised here. */
		assert_int_equal(eff, ipc_lock);
		assert_false(can_raise_memlock());
		assert_true(hd_wait_log(&hd, "keeping CAP_IPC_LOCK", 0));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_anon_inodes_and_signals),
		cmocka_unit_test(test_sockets),
		cmocka_unit_test(test_identity_files),
		cmocka_unit_test(test_local_kinds),
		cmocka_unit_test(test_setuid_stripped),
		cmocka_unit_test(test_daemon_identity),
	};

	if (geteuid() != 0) {
		printf("SKIP: test_admission needs root: it starts the daemon "
		       "as root to check that it drops to its own user, and "
		       "connects as uid %d\n", NOBODY);
		return 77;
	}
	return HD_RUN(tests, 120);
}
