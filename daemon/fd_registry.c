/* SPDX-License-Identifier: MIT */
/*
 * fd_registry.c - which entries of a session's registered-file table are
 * in use, at which generation, and how many operations use each.
 *
 * A handle is only as good as its generation: releasing or closing an
 * entry bumps it, so a handle kept past unregister or close can never
 * reach the next file put at that index.  This file must never free an
 * entry the kernel may still use, never let more than quota entries be in
 * use, never hand out generation 0, and never touch a descriptor.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fd_registry.h"

#define FD_FIRST_GENERATION 1U

/* 0 is reserved so that a zeroed request never names a live handle. */
static uint32_t next_generation(uint32_t generation)
{
	generation++;
	return generation ? generation : FD_FIRST_GENERATION;
}

int fd_registry_init(struct fd_registry *r, uint32_t quota,
		     uint32_t capacity)
{
	uint32_t i;

	/* A failed init leaves a registry that fd_registry_free() accepts. */
	memset(r, 0, sizeof(*r));
	if (!quota || quota > capacity)
		return -EINVAL;
	r->entries = calloc(capacity, sizeof(*r->entries));
	if (!r->entries)
		return -ENOMEM;
	for (i = 0; i < capacity; i++)
		r->entries[i].generation = FD_FIRST_GENERATION;
	r->capacity = capacity;
	r->quota = quota;
	return 0;
}

void fd_registry_free(struct fd_registry *r)
{
	if (!r)
		return;
	free(r->entries);
	memset(r, 0, sizeof(*r));
}

/* Lowest FREE index the daemon may hand out, moved to @state. */
static int fd_registry_take(struct fd_registry *r, enum fd_state state,
			    uint32_t *index)
{
	uint32_t i;

	if (r->live_count >= r->quota)
		return -EMFILE;
	for (i = 0; i < r->quota; i++) {
		struct fd_entry *e = &r->entries[i];

		if (e->state != FD_FREE)
			continue;
		e->state = state;
		e->in_flight = 0;
		e->attrs = 0;
		r->live_count++;
		*index = i;
		return 0;
	}
	/* Unreachable: with fewer than quota entries in use, one of the
	 * quota daemon indices is FREE. */
	return -EMFILE;
}

int fd_registry_alloc(struct fd_registry *r, uint32_t *index,
		      uint32_t *generation)
{
	int ret = fd_registry_take(r, FD_LIVE, index);

	if (ret == 0)
		*generation = r->entries[*index].generation;
	return ret;
}

int fd_registry_reserve(struct fd_registry *r, uint32_t *index)
{
	return fd_registry_take(r, FD_RESERVED, index);
}

int fd_registry_adopt(struct fd_registry *r, uint32_t index)
{
	struct fd_entry *e;

	/* Only the kernel's range: a daemon index it named would mean the
	 * kernel and this table disagree about who owns what. */
	if (index < r->quota || index >= r->capacity)
		return -EINVAL;
	e = &r->entries[index];
	if (e->state != FD_FREE)
		return -EINVAL;
	if (r->live_count >= r->quota)
		return -EMFILE;
	e->state = FD_RESERVED;
	e->in_flight = 0;
	e->attrs = 0;
	r->live_count++;
	return 0;
}

int fd_registry_publish(struct fd_registry *r, uint32_t index,
			uint32_t *generation)
{
	if (index >= r->capacity || r->entries[index].state != FD_RESERVED)
		return -EINVAL;
	r->entries[index].state = FD_LIVE;
	*generation = r->entries[index].generation;
	return 0;
}

int fd_registry_unreserve(struct fd_registry *r, uint32_t index)
{
	if (index >= r->capacity || r->entries[index].state != FD_RESERVED)
		return -EINVAL;
	r->entries[index].state = FD_FREE;
	r->live_count--;
	return 0;
}

int fd_registry_lookup(const struct fd_registry *r, uint32_t index,
		       uint32_t generation)
{
	const struct fd_entry *e;

	if (index >= r->capacity)
		return -EBADF;
	e = &r->entries[index];
	if (e->state != FD_LIVE)
		return -EBADF;
	if (e->generation != generation)
		return -ESTALE;
	return 0;
}

int fd_registry_release(struct fd_registry *r, uint32_t index,
			uint32_t generation)
{
	int ret = fd_registry_lookup(r, index, generation);

	if (ret < 0)
		return ret;
	/* The kernel may still read through this entry: nothing is
	 * cancelled on the client's behalf, the client must wait. */
	if (r->entries[index].in_flight)
		return -EBUSY;
	/* Idle, so closing frees it at once. */
	return fd_registry_close(r, index, generation);
}

int fd_registry_close(struct fd_registry *r, uint32_t index,
		      uint32_t generation)
{
	struct fd_entry *e;
	int ret;

	ret = fd_registry_lookup(r, index, generation);
	if (ret < 0)
		return ret;
	e = &r->entries[index];
	/* The handle dies now; the index stays taken while the kernel may
	 * still resolve it for an operation already submitted. */
	e->generation = next_generation(e->generation);
	if (e->in_flight) {
		e->state = FD_CLOSING;
		return 1;
	}
	e->state = FD_FREE;
	r->live_count--;
	return 0;
}

void fd_registry_get(struct fd_registry *r, uint32_t index)
{
	/* Counting on an entry that is not LIVE would pin an index nobody
	 * can name, so such a call is ignored. */
	if (index >= r->capacity || r->entries[index].state != FD_LIVE)
		return;
	r->entries[index].in_flight++;
}

int fd_registry_put(struct fd_registry *r, uint32_t index)
{
	struct fd_entry *e;

	/* An unmatched put must not wrap the count and pin the entry. */
	if (index >= r->capacity || !r->entries[index].in_flight)
		return 0;
	e = &r->entries[index];
	if (--e->in_flight || e->state != FD_CLOSING)
		return 0;
	e->state = FD_FREE;
	r->live_count--;
	return 1;
}

bool fd_registry_busy(const struct fd_registry *r, uint32_t index)
{
	if (index >= r->capacity)
		return false;
	return r->entries[index].in_flight != 0;
}

void fd_registry_set_attrs(struct fd_registry *r, uint32_t index,
			   uint8_t attrs)
{
	if (index < r->capacity)
		r->entries[index].attrs = attrs;
}

uint8_t fd_registry_attrs(const struct fd_registry *r, uint32_t index)
{
	return index < r->capacity ? r->entries[index].attrs : 0;
}
