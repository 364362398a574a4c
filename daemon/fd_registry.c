/* SPDX-License-Identifier: MIT */
/*
 * fd_registry.c - which entries of a session's registered-file table are
 * live, at which generation, and how many operations use each.
 *
 * A handle is only as good as its generation: releasing an entry bumps it,
 * so a handle kept past unregister can never reach the next file put at
 * that index.  This file must never free an entry the kernel may still
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

int fd_registry_init(struct fd_registry *r, uint32_t capacity)
{
	uint32_t i;

	/* A failed init leaves a registry that fd_registry_free() accepts. */
	memset(r, 0, sizeof(*r));
	if (!capacity)
		return -EINVAL;
	r->entries = calloc(capacity, sizeof(*r->entries));
	if (!r->entries)
		return -ENOMEM;
	for (i = 0; i < capacity; i++)
		r->entries[i].generation = FD_FIRST_GENERATION;
	r->capacity = capacity;
	return 0;
}

void fd_registry_free(struct fd_registry *r)
{
	if (!r)
		return;
	free(r->entries);
	memset(r, 0, sizeof(*r));
}

int fd_registry_alloc(struct fd_registry *r, uint32_t *index,
		      uint32_t *generation)
{
	uint32_t i;

	for (i = 0; i < r->capacity; i++) {
		struct fd_entry *e = &r->entries[i];

		if (e->live)
			continue;
		e->live = true;
		e->in_flight = 0;
		r->live_count++;
		*index = i;
		*generation = e->generation;
		return 0;
	}
	return -EMFILE;
}

int fd_registry_lookup(const struct fd_registry *r, uint32_t index,
		       uint32_t generation)
{
	const struct fd_entry *e;

	if (index >= r->capacity)
		return -EBADF;
	e = &r->entries[index];
	if (!e->live)
		return -EBADF;
	if (e->generation != generation)
		return -ESTALE;
	return 0;
}

int fd_registry_release(struct fd_registry *r, uint32_t index,
			uint32_t generation)
{
	struct fd_entry *e;
	int ret;

	ret = fd_registry_lookup(r, index, generation);
	if (ret < 0)
		return ret;
	e = &r->entries[index];
	/* The kernel may still read through this entry: nothing is
	 * cancelled on the client's behalf, the client must wait. */
	if (e->in_flight)
		return -EBUSY;
	e->live = false;
	e->generation = next_generation(e->generation);
	r->live_count--;
	return 0;
}

void fd_registry_get(struct fd_registry *r, uint32_t index)
{
	/* Counting on a dead entry would make the index unreleasable once
	 * it is allocated again, so such a call is ignored. */
	if (index >= r->capacity || !r->entries[index].live)
		return;
	r->entries[index].in_flight++;
}

void fd_registry_put(struct fd_registry *r, uint32_t index)
{
	/* An unmatched put must not wrap the count and pin the entry. */
	if (index >= r->capacity || !r->entries[index].in_flight)
		return;
	r->entries[index].in_flight--;
}

bool fd_registry_busy(const struct fd_registry *r, uint32_t index)
{
	if (index >= r->capacity)
		return false;
	return r->entries[index].in_flight != 0;
}
