/* SPDX-License-Identifier: MIT */
/*
 * slots.c - hands the arena's slots out to the caller and takes them back.
 *
 * A slot is FREE (in the free list), ACQUIRED (the caller's), IN_FLIGHT
 * (named by operations; the last completion moves it back to ACQUIRED)
 * or POOLED (given to the receive pool; a pool receive's completion
 * hands it back as ACQUIRED).  Must
 * never release a slot an operation still names, nor hand out a pointer
 * outside the arena.
 */
#include <errno.h>

#include "client.h"

int sr_slot_acquire(struct sr_client *c)
{
	uint32_t i = c->free_slot;

	if (i == SR_NONE)
		return -ENOBUFS;
	c->free_slot = c->slots[i].next_free;
	c->slots[i].next_free = SR_NONE;
	c->slots[i].state = SR_SLOT_ACQUIRED;
	return (int)i;
}

int sr_slot_release(struct sr_client *c, int slot)
{
	struct sr_slot *s;

	if (slot < 0 || (uint32_t)slot >= c->lim.slot_count)
		return -EINVAL;
	s = &c->slots[slot];
	/* The kernel may still write it, now or from the pool. */
	if (s->state == SR_SLOT_IN_FLIGHT || s->state == SR_SLOT_POOLED)
		return -EBUSY;
	if (s->state != SR_SLOT_ACQUIRED)
		return -EINVAL;
	s->state = SR_SLOT_FREE;
	s->next_free = c->free_slot;
	c->free_slot = (uint32_t)slot;
	return 0;
}

void *sr_slot_data(struct sr_client *c, int slot)
{
	if (slot < 0 || (uint32_t)slot >= c->lim.slot_count)
		return NULL;
	return c->arena + (size_t)slot * c->lim.slot_size;
}

size_t sr_slot_size(const struct sr_client *c)
{
	return c->lim.slot_size;
}
