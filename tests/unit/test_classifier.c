/* SPDX-License-Identifier: MIT */
/*
 * test_classifier.c - unit tests of the descriptor classifier
 * (daemon/admission.c) and its filesystem table (daemon/fs_table.h).
 *
 * Every kind of descriptor this process can make is classified: the
 * admitted ones with the attributes kept with their handle (regular,
 * may block, O_APPEND), the refused ones with a reason that names the
 * kind.  A policy may widen the set only by FS_REMOTE filesystems; that
 * is checked through the table, since no network filesystem is mounted
 * here (test_admission_fuse widens FUSE end to end).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "admission.h"
#include "fs_table.h"

static void expect(int fd, uint64_t allowed_fs, int want, uint8_t attrs,
		   const char *words)
{
	struct admission a;
	int r;

	assert_true(fd >= 0);
	r = admission_check(fd, allowed_fs, &a);
	if (r != want)
		fail_msg("fd %d: %d (%s), expected %d", fd, r, a.what, want);
	assert_int_equal(a.attrs, want == 0 ? attrs : 0);
	if (!strstr(a.what, words))
		fail_msg("fd %d: \"%s\" does not say \"%s\"", fd, a.what, words);
	close(fd);
}

static void test_table(void **state)
{
	(void)state;
	for (int i = 0; i < FS__COUNT; i++) {
		const struct fs_info *fs = fs_table_get((enum fs_id)i);

		assert_non_null(fs);
		assert_int_equal(fs_table_by_magic(fs->magic), i);
		assert_int_equal(fs_table_by_name(fs->name, strlen(fs->name)), i);
	}
	assert_null(fs_table_get(FS__COUNT));
	assert_int_equal(fs_table_by_magic(0x12345678UL), -1);
	assert_int_equal(fs_table_by_name("ext", 3), -1);
	/* What the review found must be where it belongs. */
	assert_int_equal(fs_table_get(FS_FUSE)->class, FS_REMOTE);
	assert_int_equal(fs_table_get(FS_NFS)->class, FS_REMOTE);
	assert_int_equal(fs_table_get(FS_PROC)->class, FS_NEVER);
	assert_int_equal(fs_table_get(FS_ANON_INODE)->class, FS_NEVER);
	assert_int_equal(fs_table_get(FS_EXT4)->class, FS_LOCAL);
	assert_int_equal(fs_table_get(FS_TMPFS)->class, FS_LOCAL);
}

static void test_files(void **state)
{
	char path[] = "/tmp/saferring-admission.XXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	expect(fd, 0, 0, ADMIT_REGULAR, " file");
	fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		expect(fd, 0, 0, ADMIT_REGULAR, " file");
	expect(memfd_create("t", MFD_CLOEXEC), 0, 0, ADMIT_REGULAR, "tmpfs");
	/* O_APPEND is kept: where its writes land is the file's end. */
	fd = memfd_create("t", MFD_CLOEXEC);
	assert_int_equal(fcntl(fd, F_SETFL, O_APPEND), 0);
	expect(fd, 0, 0, ADMIT_REGULAR | ADMIT_APPEND, "tmpfs");
	/* No policy bit for a local filesystem changes anything. */
	expect(memfd_create("t", MFD_CLOEXEC), ~0ULL, 0, ADMIT_REGULAR,
	       "tmpfs");
	expect(open("/proc/self/stat", O_RDONLY | O_CLOEXEC), ~0ULL, -EPERM, 0,
	       "proc");
	expect(open("/dev/null", O_RDWR | O_CLOEXEC), 0, -EPERM, 0,
	       "character device");
	expect(open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC), 0, -EPERM, 0,
	       "directory");
	expect(open("/", O_PATH | O_CLOEXEC), 0, -EPERM, 0, "O_PATH");
}

static void test_anon(void **state)
{
	sigset_t m;
	int fd;

	(void)state;
	sigemptyset(&m);
	sigaddset(&m, SIGHUP);
	/* Even a policy that allows every filesystem it may cannot admit
	 * these: what a read does depends on who reads. */
	expect(signalfd(-1, &m, SFD_CLOEXEC), ~0ULL, -EPERM, 0, "anon-inode");
	expect(eventfd(0, EFD_CLOEXEC), ~0ULL, -EPERM, 0, "anon-inode");
	expect(epoll_create1(EPOLL_CLOEXEC), ~0ULL, -EPERM, 0, "anon-inode");
	fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (fd >= 0)
		expect(fd, ~0ULL, -EPERM, 0, "pidfd");
}

static void test_pipes_and_sockets(void **state)
{
	int p[2], sv[2], fd;

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	expect(p[0], 0, 0, 0, "pipe");
	expect(p[1], 0, 0, 0, "pipe");
	expect(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), 0, 0, 0,
	       "TCP/IPv4");
	expect(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), 0, 0, 0,
	       "UDP/IPv4");
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		expect(fd, 0, 0, 0, "TCP/IPv6");
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	expect(sv[0], ~0ULL, -EPERM, 0, "AF_UNIX");
	close(sv[1]);
	expect(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0), ~0ULL, -EPERM,
	       0, "AF_NETLINK");
	/* SCTP and MPTCP speak IPv4 too, but are not TCP or UDP. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 262 /* MPTCP */);
	if (fd >= 0)
		expect(fd, 0, -EPERM, 0, "only TCP and UDP");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_anon),
		cmocka_unit_test(test_pipes_and_sockets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
