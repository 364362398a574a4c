/* SPDX-License-Identifier: MIT */
/*
 * saferring-run - run a program with io_uring denied, pointed at
 * saferringd.
 *
 *   saferring-run [--socket PATH] [--] PROGRAM [ARGS...]
 *
 * Installs sr_sandbox_deny_io_uring() (io_uring_setup/enter/register fail
 * with EPERM in PROGRAM and everything it starts), closes every io_uring
 * descriptor it holds (saying which on stderr), exports
 * SAFERRING_SOCKET=PATH when --socket is given, and execs PROGRAM (looked
 * up in PATH).  Exit status, as env(1): 125 when saferring-run itself
 * fails, 126 when PROGRAM cannot be run, 127 when it is not found;
 * otherwise PROGRAM's own.
 *
 * Must never run PROGRAM without the filter in place, nor with an io_uring
 * descriptor: any failure to install the filter, or to find out which
 * descriptors are rings, ends here.
 *
 * Why inherited rings matter: the filter stops the three io_uring system
 * calls, but a ring created with IORING_SETUP_SQPOLL needs none of them.
 * Its kernel thread picks up whatever is written into the submission
 * queue, which the holder of the descriptor maps with plain mmap(2).  A
 * ring descriptor that reached PROGRAM (left without O_CLOEXEC by whoever
 * started saferring-run) would be io_uring without a single io_uring
 * system call.  So the rings are closed; bubblewrap-style, the tool does
 * what it must and says so, rather than refusing to run.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "saferring.h"

#define EXIT_FAILED 125
#define EXIT_CANNOT_RUN 126
#define EXIT_NOT_FOUND 127

/* What readlink(2) on /proc/self/fd/N says of an io_uring instance
 * ("anon_inode:[io_uring]" up to Linux 6.18 at least).  Matched as a
 * prefix, so that a later "[io_uring-...]" variant is closed too: closing
 * one descriptor too many is harmless, one too few is not. */
#define IO_URING_LINK "anon_inode:[io_uring"

/* The descriptors to close, found by find_rings(). */
struct fd_list {
	int *fd;
	size_t n, cap;
};

static int fd_list_add(struct fd_list *l, int fd)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		int *p = realloc(l->fd, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		l->fd = p;
		l->cap = cap;
	}
	l->fd[l->n++] = fd;
	return 0;
}

/*
 * Every open descriptor of this process that is an io_uring instance,
 * into @rings.  0, or -errno with *what naming what failed: the caller
 * must then not run PROGRAM, since the check could not be made.
 *
 * /proc/self/fd is the only complete list of open descriptors (a ring
 * looks like any other anonymous inode to fstat, and close_range cannot
 * choose), so no /proc, or something that is not procfs mounted there,
 * is a failure, not an empty list.
 */
static int find_rings(struct fd_list *rings, const char **what)
{
	struct statfs sfs;
	struct dirent *de;
	DIR *dir;
	int dfd, r = 0;

	*what = "/proc/self/fd";
	dir = opendir("/proc/self/fd");
	if (!dir)
		return -errno;
	dfd = dirfd(dir);
	if (fstatfs(dfd, &sfs) < 0) {
		r = -errno;
		goto out;
	}
	if (sfs.f_type != PROC_SUPER_MAGIC) {
		r = -ENOTSUP; /* reported as "not procfs" */
		goto out;
	}
	for (;;) {
		char link[sizeof(IO_URING_LINK) + 64], *end;
		ssize_t len;
		long fd;

		errno = 0;
		de = readdir(dir);
		if (!de) {
			r = -errno; /* 0 at the end */
			break;
		}
		if (de->d_name[0] == '.')
			continue;
		errno = 0;
		fd = strtol(de->d_name, &end, 10);
		if (errno || *end || end == de->d_name || fd < 0 ||
		    fd > INT_MAX) {
			*what = "/proc/self/fd (unexpected entry)";
			r = -EINVAL;
			break;
		}
		if (fd == dfd)
			continue;
		len = readlinkat(dfd, de->d_name, link, sizeof(link) - 1);
		if (len < 0) {
			if (errno == ENOENT)
				continue; /* closed meanwhile */
			*what = "/proc/self/fd (readlink)";
			r = -errno;
			break;
		}
		link[len] = '\0';
		if (strncmp(link, IO_URING_LINK, strlen(IO_URING_LINK)) != 0)
			continue;
		r = fd_list_add(rings, (int)fd);
		if (r < 0) {
			*what = "memory";
			break;
		}
	}
out:
	closedir(dir);
	return r;
}

/*
 * Close every io_uring descriptor, then look again: 0 when none is left
 * (the closed ones named on stderr), -errno when the check could not be
 * made or a ring is still open.
 */
static int close_rings(const char *prog)
{
	struct fd_list rings = { 0 };
	const char *what;
	int r;

	r = find_rings(&rings, &what);
	if (r < 0)
		goto fail;
	if (rings.n == 0)
		goto out;
	/* Said first: stderr may be one of them. */
	fprintf(stderr, "saferring-run: closed inherited io_uring descriptor%s",
		rings.n > 1 ? "s" : "");
	for (size_t i = 0; i < rings.n; i++)
		fprintf(stderr, "%s%d", i ? ", " : " ", rings.fd[i]);
	fprintf(stderr, " (%s must not get a ring: an SQPOLL ring needs no "
		"system call)\n", prog);
	fflush(stderr);
	for (size_t i = 0; i < rings.n; i++)
		close(rings.fd[i]); /* Linux frees the fd even on EINTR */
	/* Nothing can have made a new one (the filter is in place), and
	 * there is no other thread: this only proves the close worked. */
	rings.n = 0;
	r = find_rings(&rings, &what);
	if (r < 0)
		goto fail;
	if (rings.n > 0) {
		fprintf(stderr, "saferring-run: io_uring descriptor %d still "
			"open after close; not running %s\n", rings.fd[0], prog);
		r = -EBUSY;
	}
	goto out;
fail:
	fprintf(stderr, "saferring-run: cannot check for inherited io_uring "
		"descriptors: %s: %s%s; not running %s\n", what,
		r == -ENOTSUP ? "not procfs" : strerror(-r),
		r == -ENOENT || r == -ENOTSUP ? " (is /proc mounted?)" : "",
		prog);
out:
	free(rings.fd);
	return r;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: saferring-run [--socket PATH] [--] PROGRAM [ARGS...]\n"
		"Run PROGRAM with io_uring denied (io_uring_setup, _enter and\n"
		"_register fail with EPERM, also in its children, and any\n"
		"inherited io_uring descriptor is closed); it can still\n"
		"reach io_uring through saferringd.\n"
		"\n"
		"  -s, --socket PATH  set %s=PATH for PROGRAM\n"
		"  -h, --help         show this help\n",
		SR_SOCKET_ENV);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL;
	int opt, r;

	/* '+': options end at PROGRAM, so its own options stay its own. */
	while ((opt = getopt_long(argc, argv, "+s:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_FAILED;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "saferring-run: no program given\n");
		usage(stderr);
		return EXIT_FAILED;
	}
	if (sock) {
		if (!*sock) {
			fprintf(stderr, "saferring-run: --socket: empty path\n");
			return EXIT_FAILED;
		}
		if (setenv(SR_SOCKET_ENV, sock, 1) < 0) {
			fprintf(stderr, "saferring-run: cannot set %s: %s\n",
				SR_SOCKET_ENV, strerror(errno));
			return EXIT_FAILED;
		}
	}
	r = sr_sandbox_deny_io_uring();
	if (r < 0) {
		fprintf(stderr, "saferring-run: cannot deny io_uring (seccomp "
			"filter): %s; not running %s\n", strerror(-r),
			argv[optind]);
		return EXIT_FAILED;
	}
	/*
	 * Rings last, after the filter: from here on io_uring_setup fails in
	 * every thread of this process, so no ring can be created between
	 * the check and the execvp (not even by a preloaded library), and
	 * nothing here receives descriptors: the set can only shrink.
	 * Checked before the filter, anything that ran in between could have
	 * made a ring that PROGRAM then inherits.  A closed ring cannot come
	 * back through /proc/self/fd (the kernel does not reopen anonymous
	 * inodes: ENXIO) nor through a mapping (execve replaces them all).
	 */
	if (close_rings(argv[optind]) < 0)
		return EXIT_FAILED;
	execvp(argv[optind], argv + optind);
	r = errno;
	fprintf(stderr, "saferring-run: %s: %s\n", argv[optind], strerror(r));
	return r == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN;
}
