/* SPDX-License-Identifier: MIT */
/*
 * peer.c - see peer.h.
 */
#include "peer.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5 */
#endif

int peer_parse_fsize(const char *text, size_t len, uint64_t *out)
{
	static const char key[] = "Max file size";
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;

		if ((size_t)(eol - p) > sizeof(key) - 1 &&
		    memcmp(p, key, sizeof(key) - 1) == 0) {
			char field[32];
			const char *v = p + sizeof(key) - 1;
			size_t n;

			while (v < eol && *v == ' ')
				v++;
			n = strcspn(v, " \n");
			if (n == 0 || n >= sizeof(field) || v + n > eol)
				return -EINVAL;
			memcpy(field, v, n);
			field[n] = '\0';
			if (strcmp(field, "unlimited") == 0) {
				*out = UINT64_MAX;
				return 0;
			}
			char *stop;
			errno = 0;
			unsigned long long l = strtoull(field, &stop, 10);
			if (errno || *stop || field[0] == '-')
				return -EINVAL;
			*out = l;
			return 0;
		}
		p = eol + 1;
	}
	return -EINVAL;
}

/* The connecting process, pinned: from the socket, which recorded it at
 * connect (Linux 6.5).  Only a kernel without SO_PEERPIDFD gets the
 * weaker pidfd_open(pid): a pid the process held a moment ago. */
static int peer_pidfd(int sock, pid_t pid)
{
	int fd = -1;
	socklen_t len = sizeof(fd);

	if (getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) == 0)
		return fd >= 0 ? fd : -ESRCH;
	if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
		return -errno;
	if (errno != ENOPROTOOPT)
		return -ESRCH; /* it exited before we looked */
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	return fd < 0 ? -errno : fd;
}

/* Whether the process behind @pidfd is still running (a pidfd becomes
 * readable when it exits): then the pid read was its own, since a pid is
 * reused only after its process exited and was reaped. */
static bool pid_still_held(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return poll(&p, 1, 0) == 0;
}

int peer_read_limits(int sock, const struct ucred *cred,
		     uint64_t *file_size_limit)
{
	char path[64], text[4096];
	ssize_t n = 0, got;
	int pidfd, fd, r;

	if (cred->pid <= 0)
		return -ESRCH; /* in a pid namespace we cannot see */
	pidfd = peer_pidfd(sock, cred->pid);
	if (pidfd < 0)
		return pidfd;
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)cred->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = errno == ENOENT ? -ESRCH : -errno;
		close(pidfd);
		return r;
	}
	while ((size_t)n < sizeof(text) &&
	       (got = read(fd, text + n, sizeof(text) - (size_t)n)) > 0)
		n += got;
	close(fd);
	r = peer_parse_fsize(text, (size_t)n, file_size_limit);
	/* Read while the pid was still the connecting process's? */
	if (r == 0 && !pid_still_held(pidfd))
		r = -ESRCH;
	close(pidfd);
	return r;
}
