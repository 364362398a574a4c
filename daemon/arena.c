/* SPDX-License-Identifier: MIT */
/*
 * arena.c - see arena.h.
 */
#include "arena.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

int arena_create(struct arena *a, size_t size)
{
	const int seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	int fd, r;

	*a = (struct arena)ARENA_INIT;
	if (size == 0)
		return -EINVAL;
	fd = memfd_create("saferring-arena", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0 || fcntl(fd, F_ADD_SEALS, seals) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		r = -errno;
		close(fd);
		return r;
	}
	/* Where shmem may use transparent huge pages on request
	 * (shmem_enabled = advise), large copies into the slots touch fewer
	 * pages and the registered buffer pins fewer.  Elsewhere a no-op. */
	madvise(p, size, MADV_HUGEPAGE);
	a->memfd = fd;
	a->base = p;
	a->size = size;
	return 0;
}

void arena_destroy(struct arena *a)
{
	if (a->base)
		munmap(a->base, a->size);
	if (a->memfd >= 0)
		close(a->memfd);
	*a = (struct arena)ARENA_INIT;
}
