/* SPDX-License-Identifier: MIT */
/*
 * fd_registry.h - the daemon-private record of a session's registered
 * files: which entries of the ring's sparse file table are live, their
 * generations, and how many operations in flight use each.
 *
 * A handle is (index, generation).  Releasing an entry bumps its
 * generation, so a handle kept after unregister is stale, not a handle to
 * whatever file takes the index next.  Generations are never 0.
 *
 * Knows nothing of rings or descriptors: the caller installs and removes
 * the file in the ring's table around these calls.
 */
#ifndef SAFERRINGD_FD_REGISTRY_H
#define SAFERRINGD_FD_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

struct fd_entry {
	uint32_t generation;
	uint32_t in_flight;
	bool live;
};

struct fd_registry {
	uint32_t capacity;
	uint32_t live_count;
	struct fd_entry *entries;
};

/* -EINVAL when capacity is 0, -ENOMEM. */
int fd_registry_init(struct fd_registry *r, uint32_t capacity);
void fd_registry_free(struct fd_registry *r);

/* Take the lowest free entry: returns 0 and its handle, or -EMFILE when
 * all capacity entries are live. */
int fd_registry_alloc(struct fd_registry *r, uint32_t *index,
		      uint32_t *generation);
/* 0 when the handle is live and current; -EBADF index out of range or
 * not live; -ESTALE generation does not match a live entry. */
int fd_registry_lookup(const struct fd_registry *r, uint32_t index,
		       uint32_t generation);
/* Free a live, current entry with nothing in flight; bumps generation.
 * -EBADF / -ESTALE as lookup, -EBUSY when operations are in flight. */
int fd_registry_release(struct fd_registry *r, uint32_t index,
			uint32_t generation);
/* Count an operation in flight on a live entry, and its completion. */
void fd_registry_get(struct fd_registry *r, uint32_t index);
void fd_registry_put(struct fd_registry *r, uint32_t index);
/* Whether the entry has operations in flight. */
bool fd_registry_busy(const struct fd_registry *r, uint32_t index);

#endif
