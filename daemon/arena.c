/* SPDX-License-Identifier: MIT */
/*
 * arena.c - see arena.h.
 */
#include "arena.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mempolicy.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "numa.h"

/*
 * MPOL_PREFERRED rather than MPOL_BIND: a node short of memory then
 * hands out another node's pages instead of failing the fault.  Under
 * MPOL_BIND that failure would come as -ENOMEM from the buffer
 * registration at best, and as SIGBUS in the client touching a slot at
 * worst; a remote page is only slower.  On a memfd the policy is the
 * shared object's, so it holds whichever process faults a page in
 * first: the daemon's ring pinning it, or the client.
 */
static int arena_bind(void *p, size_t size, int node)
{
	unsigned long mask;

	if (node < 0 || node >= NUMA_MAX_NODES ||
	    (size_t)node >= sizeof(mask) * 8)
		return -EINVAL;
	mask = 1UL << node;
	/* maxnode counts one past the mask's bits (mbind(2), "BUGS"). */
	if (syscall(SYS_mbind, p, size, MPOL_PREFERRED, &mask,
		    sizeof(mask) * 8 + 1, 0) < 0)
		return -errno;
	return 0;
}

int arena_create(struct arena *a, size_t size, int node)
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
	/* Before any page exists: a policy set later would not move the
	 * pages already faulted in. */
	if (node >= 0 && arena_bind(p, size, node) == 0)
		a->node = node;
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
