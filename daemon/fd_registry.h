/* SPDX-License-Identifier: MIT */
/*
 * fd_registry.h - the daemon-private record of a session's registered
 * files: which entries of the ring's sparse file table are in use, their
 * generations, and how many operations in flight use each.
 *
 * A handle is (index, generation).  Releasing or closing an entry bumps
 * its generation, so a handle kept after unregister or close is refused,
 * never a handle to whatever file takes the index next.  Generations are
 * never 0.
 *
 * The table has `capacity` entries.  Indices below `quota` are the
 * daemon's to hand out (registered files, single-shot accepts); indices
 * from `quota` up are the kernel's to pick for multishot accepts, and are
 * only adopted here.  At most `quota` entries are in use at once, however
 * they were filled.  An entry moves:
 *   FREE -> LIVE (alloc) -> FREE (release, or close when idle)
 *   LIVE -> CLOSING (close with operations in flight) -> FREE (last put)
 *   FREE -> RESERVED (reserve/adopt) -> LIVE (publish) or FREE (unreserve)
 * Only LIVE entries can be named by a request.  A RESERVED entry holds a
 * socket the client has not been told about yet; a CLOSING one a file
 * the kernel may still use.  Neither is handed out again before FREE.
 *
 * Knows nothing of rings or descriptors: the caller installs and removes
 * the file in the ring's table around these calls.
 */
#ifndef SAFERRINGD_FD_REGISTRY_H
#define SAFERRINGD_FD_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

enum fd_state {
	FD_FREE = 0,
	FD_RESERVED,
	FD_LIVE,
	FD_CLOSING,
};

struct fd_entry {
	uint32_t generation;
	uint32_t in_flight;
	uint8_t state; /* enum fd_state */
	uint8_t attrs; /* the caller's, e.g. ADMIT_*; 0 when taken */
};

struct fd_registry {
	uint32_t capacity;   /* entries; handle indices are below it */
	uint32_t quota;      /* entries in use at most; daemon indices < quota */
	uint32_t live_count; /* entries not FREE */
	struct fd_entry *entries;
};

/* -EINVAL when quota is 0 or above capacity, -ENOMEM. */
int fd_registry_init(struct fd_registry *r, uint32_t quota,
		     uint32_t capacity);
void fd_registry_free(struct fd_registry *r);

/* Take the lowest FREE index below quota as LIVE: returns 0 and its
 * handle, or -EMFILE when quota entries are in use. */
int fd_registry_alloc(struct fd_registry *r, uint32_t *index,
		      uint32_t *generation);
/* The same, as RESERVED (a single-shot accept's target). */
int fd_registry_reserve(struct fd_registry *r, uint32_t *index);
/* Take the kernel-chosen @index (>= quota) as RESERVED.  -EINVAL when it
 * is not in the kernel's range or not FREE, -EMFILE over quota. */
int fd_registry_adopt(struct fd_registry *r, uint32_t index);
/* RESERVED -> LIVE; its generation in *generation.  -EINVAL otherwise. */
int fd_registry_publish(struct fd_registry *r, uint32_t index,
			uint32_t *generation);
/* RESERVED -> FREE (the accept failed).  -EINVAL otherwise. */
int fd_registry_unreserve(struct fd_registry *r, uint32_t index);

/* 0 when the handle is LIVE and current; -EBADF index out of range or
 * not LIVE; -ESTALE generation does not match a LIVE entry. */
int fd_registry_lookup(const struct fd_registry *r, uint32_t index,
		       uint32_t generation);
/* Free a LIVE, current entry with nothing in flight; bumps generation.
 * -EBADF / -ESTALE as lookup, -EBUSY when operations are in flight. */
int fd_registry_release(struct fd_registry *r, uint32_t index,
			uint32_t generation);
/* Close a LIVE, current entry: its generation is bumped at once.  0: it
 * is FREE now (the caller removes the file); 1: operations still use it,
 * it is CLOSING until fd_registry_put() frees it.  -EBADF / -ESTALE. */
int fd_registry_close(struct fd_registry *r, uint32_t index,
		      uint32_t generation);
/* Count an operation in flight on a LIVE entry, and its completion.  put
 * returns 1 when it freed a CLOSING entry (the caller removes the file),
 * else 0. */
void fd_registry_get(struct fd_registry *r, uint32_t index);
int fd_registry_put(struct fd_registry *r, uint32_t index);
/* Whether the entry has operations in flight. */
bool fd_registry_busy(const struct fd_registry *r, uint32_t index);
/* What the caller keeps with an entry (what kind of file it holds);
 * 0 for an entry never set or out of range. */
void fd_registry_set_attrs(struct fd_registry *r, uint32_t index,
			   uint8_t attrs);
uint8_t fd_registry_attrs(const struct fd_registry *r, uint32_t index);

#endif
