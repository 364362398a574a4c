/* SPDX-License-Identifier: MIT */
/*
 * fds.c - the program's plain descriptors as saferring handles: each is
 * registered with the daemon the first time an SQE names it, and the
 * handle is kept for the next.
 *
 * A program may close a descriptor behind the facade's back (close(2)
 * rather than IORING_OP_CLOSE) and get the same number for another file.
 * So every use checks that the number still names what was registered
 * (device, inode and open flags), and the facade sweeps its cache before
 * it sleeps, giving back the handles of descriptors that are gone (the
 * daemon's copy would otherwise keep a pipe or a socket open).  Must
 * never use a handle for a descriptor number that now names something
 * else.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "facade.h"


int sru_fd_refused(int fd, const struct stat *sb)
{
	int domain = 0;
	socklen_t len = sizeof(domain);
	char kind[48];

	if (S_ISSOCK(sb->st_mode) &&
	    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0)
		snprintf(kind, sizeof(kind), "%s socket",
			 domain == AF_UNIX ? "AF_UNIX" :
			 domain == AF_INET6 ? "AF_INET6" :
			 domain == AF_INET ? "AF_INET" : "non-IP");
	else
		snprintf(kind, sizeof(kind), "%s",
			 S_ISCHR(sb->st_mode) ? "character device" :
			 S_ISBLK(sb->st_mode) ? "block device" :
			 S_ISDIR(sb->st_mode) ? "directory" :
			 S_ISREG(sb->st_mode) ? "file" : "anonymous inode");
	return sru_unsupported(-EOPNOTSUPP,
			       "descriptor %d (%s): a kind saferringd does not admit",
			       fd, kind);
}

/* Flags that change what I/O on the file means. */
#define SRU_FL_MASK (O_ACCMODE | O_APPEND | O_DIRECT | O_NONBLOCK | O_SYNC | \
		     O_DSYNC)

void sru_handle_drop(struct sru_state *st, int handle)
{
	int ret;

	if (handle < 0)
		return;
	/* Operations still using it finish first; the completion is ours. */
	ret = sr_prep_close(st->c, SRU_INTERNAL | (uint64_t)handle,
			    SR_HANDLE(handle));
	if (ret == -ENOSPC) {
		sr_submit_and_wait(st->c, 0);
		ret = sr_prep_close(st->c, SRU_INTERNAL | (uint64_t)handle,
				    SR_HANDLE(handle));
	}
	if (ret == 0) {
		/* Alone: a batch the facade builds later must not find a
		 * close of ours in the middle of it. */
		sr_submit_and_wait(st->c, 0);
		st->sent++;
		return;
	}
	/* No room at all: nothing is in flight on it only if nothing is
	 * in flight; otherwise the handle stays until the session ends. */
	sr_unregister_fd(st->c, SR_HANDLE(handle));
}

/* Does @fd still name the file @e was registered for?  With @flags,
 * also opened the same way (a reopen of the same file with O_APPEND is
 * another open file); without, only "not closed or replaced", which is
 * all the sweep before a wait needs. */
static bool same_file(const struct sru_fd *e, int fd, bool flags)
{
	struct stat sb;
	int fl;

	if (fstat(fd, &sb) < 0 || sb.st_dev != e->dev || sb.st_ino != e->ino)
		return false;
	if (!flags)
		return true;
	fl = fcntl(fd, F_GETFL);
	return fl >= 0 && (fl & SRU_FL_MASK) == (e->fl & SRU_FL_MASK);
}

void sru_fd_forget(struct sru_state *st, int fd)
{
	if (fd < 0 || fd >= st->nfds || st->fds[fd].handle < 0)
		return;
	sru_handle_drop(st, st->fds[fd].handle);
	st->fds[fd].handle = -1;
}

int sru_fd_handle(struct sru_state *st, int fd, bool *seekable)
{
	struct sru_fd *e;
	struct stat sb;
	int h;

	if (fd < 0)
		return -EBADF;
	if (fd >= st->nfds) {
		int n = st->nfds ? st->nfds : 64;
		struct sru_fd *f;

		while (n <= fd)
			n *= 2;
		f = realloc(st->fds, (size_t)n * sizeof(*f));
		if (!f)
			return -ENOMEM;
		for (int i = st->nfds; i < n; i++)
			f[i].handle = -1;
		st->fds = f;
		st->nfds = n;
	}
	e = &st->fds[fd];
	if (e->handle >= 0) {
		/* The program cannot close and reopen a number in the
		 * middle of one io_uring_submit (short of a race of its own
		 * threads, which the kernel would not order either): two
		 * system calls per SQE are one per descriptor per call. */
		if (e->checked == st->submits || same_file(e, fd, true)) {
			e->checked = st->submits;
			*seekable = e->seekable;
			return e->handle;
		}
		sru_fd_forget(st, fd);
	}
	if (fstat(fd, &sb) < 0)
		return -errno;
	h = sr_handle_index(sr_register_fd(st->c, fd));
	if (h < 0)
		/* The daemon does not admit this kind of descriptor (or
		 * is out of room for it): not something this facade can
		 * do, rather than a bad descriptor. */
		return h == -EBADF ? sru_fd_refused(fd, &sb) :
		       h == -EDQUOT ? -EMFILE : h;
	*e = (struct sru_fd){
		.handle = h,
		.dev = sb.st_dev,
		.ino = sb.st_ino,
		.fl = fcntl(fd, F_GETFL),
		.seekable = S_ISREG(sb.st_mode) || S_ISBLK(sb.st_mode),
		.checked = st->submits,
	};
	*seekable = e->seekable;
	return h;
}

void sru_fd_sweep(struct sru_state *st)
{
	for (int fd = 0; fd < st->nfds; fd++)
		if (st->fds[fd].handle >= 0 && !same_file(&st->fds[fd], fd, false))
			sru_fd_forget(st, fd);
}

void sru_fds_free(struct sru_state *st)
{
	free(st->fds);
	st->fds = NULL;
	st->nfds = 0;
}
