/* SPDX-License-Identifier: MIT */
/*
 * admission.c - see admission.h.  Default deny: every branch that does
 * not end in an explicit admission refuses.
 */
#include "admission.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "fs_table.h"

static const struct fs_info fs_rows[FS__COUNT] = {
#define FS_ROW(id, name, magic, class) [FS_##id] = { name, magic, class },
	FS_TABLE(FS_ROW)
#undef FS_ROW
};

const struct fs_info *fs_table_get(enum fs_id id)
{
	return (unsigned)id < FS__COUNT ? &fs_rows[id] : NULL;
}

int fs_table_by_magic(unsigned long magic)
{
	for (int i = 0; i < FS__COUNT; i++)
		if (fs_rows[i].magic == magic)
			return i;
	return -1;
}

int fs_table_by_name(const char *name, size_t len)
{
	for (int i = 0; i < FS__COUNT; i++)
		if (strlen(fs_rows[i].name) == len &&
		    memcmp(fs_rows[i].name, name, len) == 0)
			return i;
	return -1;
}

static int refuse(struct admission *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int refuse(struct admission *out, const char *fmt, ...)
{
	va_list ap;

	out->attrs = 0;
	va_start(ap, fmt);
	vsnprintf(out->what, sizeof(out->what), fmt, ap);
	va_end(ap);
	return -EPERM;
}

static const char *family_name(int family)
{
	switch (family) {
	case AF_UNIX: return "AF_UNIX";
	case AF_INET: return "AF_INET";
	case AF_INET6: return "AF_INET6";
	case AF_NETLINK: return "AF_NETLINK";
	case AF_PACKET: return "AF_PACKET";
	default: return NULL;
	}
}

/* TCP or UDP over IPv4 or IPv6: the kernel checks nothing about the
 * sending task there (netfilter's owner match and cgroup hooks see the
 * socket's creator, not the task).  AF_UNIX would carry the daemon's pid
 * and uid (SCM_CREDENTIALS, SO_PASSCRED); netlink, packet and raw sockets
 * check the sender's capabilities or speak for it to the kernel. */
static int check_socket(int fd, struct admission *out)
{
	int family = -1, type = -1, proto = -1;
	socklen_t len = sizeof(int);
	const char *fname;

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) < 0 ||
	    (len = sizeof(int),
	     getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) ||
	    (len = sizeof(int),
	     getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) < 0))
		return refuse(out, "socket whose kind cannot be read (%s)",
			      strerror(errno));
	fname = family_name(family);
	if (family == AF_UNIX)
		return refuse(out, "AF_UNIX socket: its peer would see the "
			      "daemon's pid and uid, not yours");
	if (family != AF_INET && family != AF_INET6) {
		if (fname)
			return refuse(out, "%s socket: only TCP and UDP over "
				      "IPv4 and IPv6 are admitted", fname);
		return refuse(out, "socket of address family %d: only TCP "
			      "and UDP over IPv4 and IPv6 are admitted", family);
	}
	if (type == SOCK_STREAM && proto == IPPROTO_TCP) {
		snprintf(out->what, sizeof(out->what), "TCP/%s socket",
			 family == AF_INET ? "IPv4" : "IPv6");
		return 0;
	}
	if (type == SOCK_DGRAM && proto == IPPROTO_UDP) {
		snprintf(out->what, sizeof(out->what), "UDP/%s socket",
			 family == AF_INET ? "IPv4" : "IPv6");
		return 0;
	}
	return refuse(out, "%s socket of type %d, protocol %d: only TCP and "
		      "UDP are admitted", fname, type, proto);
}

static int check_regular(int fd, uint64_t allowed_fs, struct admission *out)
{
	struct statfs sf;
	const struct fs_info *fs;
	int id;

	if (fstatfs(fd, &sf) < 0)
		return refuse(out, "file whose filesystem cannot be read (%s)",
			      strerror(errno));
	id = fs_table_by_magic((unsigned long)sf.f_type);
	if (id < 0)
		return refuse(out, "file on a filesystem the daemon does not "
			      "know (magic 0x%lx)", (unsigned long)sf.f_type);
	fs = fs_table_get((enum fs_id)id);
	switch (fs->class) {
	case FS_LOCAL:
		out->attrs |= ADMIT_REGULAR;
		snprintf(out->what, sizeof(out->what), "%s file", fs->name);
		return 0;
	case FS_REMOTE:
		if (!(allowed_fs & (1ULL << id)))
			return refuse(out, "%s file: a %s server can hold a read "
				      "or write as long as it likes (policy "
				      "allow_fs = %s admits it)", fs->name,
				      fs->name, fs->name);
		out->attrs |= ADMIT_REGULAR | ADMIT_MAY_BLOCK;
		snprintf(out->what, sizeof(out->what), "%s file (allowed by "
			 "policy; run on io_uring's workers)", fs->name);
		return 0;
	case FS_NEVER:
	default:
		return refuse(out, "%s file: what I/O there does depends on who "
			      "does it", fs->name);
	}
}

/* Descriptors with no file type of their own (anon inodes, pidfds) are
 * named by their filesystem. */
static int refuse_typeless(int fd, struct admission *out)
{
	struct statfs sf;
	int id = fstatfs(fd, &sf) == 0 ?
		 fs_table_by_magic((unsigned long)sf.f_type) : -1;

	if (id == FS_ANON_INODE)
		return refuse(out, "anon-inode descriptor (signalfd, eventfd, "
			      "timerfd, epoll, inotify, userfaultfd, perf, ...): "
			      "its I/O would act as the daemon");
	if (id == FS_PIDFS)
		return refuse(out, "pidfd: it would act as the daemon");
	if (id >= 0)
		return refuse(out, "%s descriptor: what I/O there does depends "
			      "on who does it", fs_table_get((enum fs_id)id)->name);
	return refuse(out, "descriptor of no file type the daemon admits");
}

int admission_check(int fd, uint64_t allowed_fs, struct admission *out)
{
	struct statx stx;
	int fl;

	out->attrs = 0;
	out->what[0] = '\0';
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	if (fl & O_PATH)
		return refuse(out, "O_PATH descriptor: it allows no I/O");
	/* The type from the inode the kernel holds: DONT_SYNC keeps a FUSE
	 * or NFS server out of it. */
	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_TYPE,
		  &stx) < 0) {
		if (errno == EACCES)
			return refuse_typeless(fd, out);
		return -errno;
	}
	switch (stx.stx_mode & S_IFMT) {
	case S_IFREG:
		if (fl & O_APPEND)
			out->attrs |= ADMIT_APPEND;
		return check_regular(fd, allowed_fs, out);
	case S_IFIFO:
		/* Pipe buffers are the same whoever reads them, and io_uring
		 * never sleeps on a pipe in the submitter: it polls. */
		snprintf(out->what, sizeof(out->what), "pipe");
		return 0;
	case S_IFSOCK:
		return check_socket(fd, out);
	case S_IFCHR:
		return refuse(out, "character device: devices are not admitted");
	case S_IFBLK:
		return refuse(out, "block device: devices are not admitted");
	case S_IFDIR:
		return refuse(out, "directory: it allows no I/O");
	case S_IFLNK:
		return refuse(out, "symbolic link: it allows no I/O");
	default:
		return refuse_typeless(fd, out);
	}
}
