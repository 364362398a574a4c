/* SPDX-License-Identifier: MIT */
/*
 * register.c - io_uring_register_files* and io_uring_register_buffers*:
 * the registered-file table (IOSQE_FIXED_FILE indexes it) holds saferring
 * handles, so a registered file stays usable after the program closed
 * its own descriptor, as with the kernel; registered buffers are only
 * remembered, to check what READ_FIXED and WRITE_FIXED name (their data
 * still bounces unless it lies in an arena buffer).
 *
 * Must never keep a handle for a table entry the program replaced or
 * removed, and never accept what the kernel refuses (a second table, an
 * update past the end, a buffer over 1 GiB).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "facade.h"

#define SRU_MAX_FIXED_FILES (1U << 20)
#define SRU_MAX_BUFFERS 16384U
#define SRU_MAX_BUFFER (1UL << 30)

/* A handle for @fd, registered for the table (never the plain-fd cache:
 * the table keeps it after the program closes the descriptor). */
static int sru_table_handle(struct sru_state *st, int fd)
{
	struct stat sb;
	int h;

	if (fd < 0 || fstat(fd, &sb) < 0)
		return -EBADF;
	h = sr_handle_index(sr_register_fd(st->c, fd));
	if (h == -EBADF)
		return sru_fd_refused(fd, &sb);
	if (h == -EDQUOT)
		return -EMFILE;
	return h;
}

static void sru_table_free(struct sru_state *st)
{
	for (unsigned i = 0; i < st->nfixed; i++)
		sru_handle_drop(st, st->fixed[i]);
	free(st->fixed);
	st->fixed = NULL;
	st->nfixed = 0;
}

static int sru_table_new(struct sru_state *st, unsigned nr)
{
	if (st->fixed)
		return -EBUSY;
	if (!nr)
		return -EINVAL;
	if (nr > SRU_MAX_FIXED_FILES)
		return -EMFILE;
	st->fixed = malloc(nr * sizeof(*st->fixed));
	if (!st->fixed)
		return -ENOMEM;
	for (unsigned i = 0; i < nr; i++)
		st->fixed[i] = -1;
	st->nfixed = nr;
	st->fixed_alloc_lo = 0;
	st->fixed_alloc_hi = nr;
	return 0;
}

int io_uring_register_files(struct io_uring *ring, const int *files,
			    unsigned nr_files)
{
	struct sru_state *st = sru(ring);
	int ret;

	if (!files && nr_files)
		return -EFAULT;
	ret = sru_table_new(st, nr_files);
	if (ret)
		return ret;
	for (unsigned i = 0; i < nr_files; i++) {
		if (files[i] == -1)
			continue; /* sparse */
		ret = sru_table_handle(st, files[i]);
		if (ret < 0) {
			sru_table_free(st);
			return ret;
		}
		st->fixed[i] = ret;
	}
	return 0;
}

int io_uring_register_files_tags(struct io_uring *ring, const int *files,
				 const __u64 *tags, unsigned nr)
{
	/* Tags post a CQE when a file leaves the table: not done here. */
	for (unsigned i = 0; tags && i < nr; i++)
		if (tags[i])
			return -EINVAL;
	return io_uring_register_files(ring, files, nr);
}

int io_uring_register_files_sparse(struct io_uring *ring, unsigned nr)
{
	return sru_table_new(sru(ring), nr);
}

int io_uring_unregister_files(struct io_uring *ring)
{
	struct sru_state *st = sru(ring);

	if (!st->fixed)
		return -ENXIO;
	sru_table_free(st);
	return 0;
}

int sru_files_update(struct sru_state *st, uint32_t off, const int *fds,
		     unsigned nr, bool op)
{
	unsigned done = 0;

	(void)op;
	if (!st->fixed)
		return -ENXIO;
	if (!fds && nr)
		return -EFAULT;
	if (off > st->nfixed || nr > st->nfixed - off)
		return -EINVAL;
	for (; done < nr; done++) {
		int fd = fds[done], h = -1;

		if (fd == IORING_REGISTER_FILES_SKIP)
			continue;
		if (fd != -1) {
			h = sru_table_handle(st, fd);
			if (h < 0)
				return done ? (int)done : h;
		}
		sru_handle_drop(st, st->fixed[off + done]);
		st->fixed[off + done] = h;
	}
	return (int)done;
}

int io_uring_register_files_update(struct io_uring *ring, unsigned off,
				   const int *files, unsigned nr_files)
{
	return sru_files_update(sru(ring), off, files, nr_files, false);
}

int io_uring_register_files_update_tag(struct io_uring *ring, unsigned off,
				       const int *files, const __u64 *tags,
				       unsigned nr_files)
{
	for (unsigned i = 0; tags && i < nr_files; i++)
		if (tags[i])
			return -EINVAL;
	return sru_files_update(sru(ring), off, files, nr_files, false);
}

int io_uring_register_file_alloc_range(struct io_uring *ring, unsigned off,
				       unsigned len)
{
	struct sru_state *st = sru(ring);

	if (!st->fixed)
		return -ENXIO;
	if (off > st->nfixed || len > st->nfixed - off)
		return -EINVAL;
	st->fixed_alloc_lo = off;
	st->fixed_alloc_hi = off + len;
	return 0;
}

int sru_fixed_install(struct sru_state *st, int fd, uint32_t file_index)
{
	uint32_t i;
	int h;

	if (!st->fixed)
		return -ENXIO;
	if (file_index == IORING_FILE_INDEX_ALLOC) {
		for (i = st->fixed_alloc_lo; i < st->fixed_alloc_hi; i++)
			if (st->fixed[i] < 0)
				break;
		if (i >= st->fixed_alloc_hi)
			return -ENFILE;
	} else {
		i = file_index - 1;
		if (i >= st->nfixed)
			return -EINVAL;
	}
	h = sru_table_handle(st, fd);
	if (h < 0)
		return h;
	sru_handle_drop(st, st->fixed[i]);
	st->fixed[i] = h;
	return file_index == IORING_FILE_INDEX_ALLOC ? (int)i : 0;
}

/* ---- buffers ---------------------------------------------------------- */

static int sru_bufs_check(const struct iovec *iov, unsigned nr)
{
	for (unsigned i = 0; i < nr; i++) {
		if (!iov[i].iov_base && iov[i].iov_len)
			return -EFAULT;
		if (iov[i].iov_len > SRU_MAX_BUFFER)
			return -EFAULT;
	}
	return 0;
}

int io_uring_register_buffers(struct io_uring *ring, const struct iovec *iovecs,
			      unsigned nr_iovecs)
{
	struct sru_state *st = sru(ring);
	int ret;

	if (st->bufs)
		return -EBUSY;
	if (!nr_iovecs || nr_iovecs > SRU_MAX_BUFFERS)
		return -EINVAL;
	if (!iovecs)
		return -EFAULT;
	ret = sru_bufs_check(iovecs, nr_iovecs);
	if (ret)
		return ret;
	st->bufs = malloc(nr_iovecs * sizeof(*st->bufs));
	if (!st->bufs)
		return -ENOMEM;
	memcpy(st->bufs, iovecs, nr_iovecs * sizeof(*st->bufs));
	st->nbufs = nr_iovecs;
	return 0;
}

int io_uring_register_buffers_tags(struct io_uring *ring,
				   const struct iovec *iovecs,
				   const __u64 *tags, unsigned nr)
{
	for (unsigned i = 0; tags && i < nr; i++)
		if (tags[i])
			return -EINVAL;
	return io_uring_register_buffers(ring, iovecs, nr);
}

int io_uring_register_buffers_sparse(struct io_uring *ring, unsigned nr)
{
	struct sru_state *st = sru(ring);

	if (st->bufs)
		return -EBUSY;
	if (!nr || nr > SRU_MAX_BUFFERS)
		return -EINVAL;
	st->bufs = calloc(nr, sizeof(*st->bufs));
	if (!st->bufs)
		return -ENOMEM;
	st->nbufs = nr;
	return 0;
}

int io_uring_register_buffers_update_tag(struct io_uring *ring, unsigned off,
					 const struct iovec *iovecs,
					 const __u64 *tags, unsigned nr)
{
	struct sru_state *st = sru(ring);
	int ret;

	if (!st->bufs)
		return -ENXIO;
	if (off > st->nbufs || nr > st->nbufs - off)
		return -EINVAL;
	for (unsigned i = 0; tags && i < nr; i++)
		if (tags[i])
			return -EINVAL;
	ret = sru_bufs_check(iovecs, nr);
	if (ret)
		return ret;
	memcpy(&st->bufs[off], iovecs, nr * sizeof(*st->bufs));
	return (int)nr;
}

int io_uring_unregister_buffers(struct io_uring *ring)
{
	struct sru_state *st = sru(ring);

	if (!st->bufs)
		return -ENXIO;
	free(st->bufs);
	st->bufs = NULL;
	st->nbufs = 0;
	return 0;
}
