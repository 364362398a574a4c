/* SPDX-License-Identifier: MIT */
/*
 * slots.c - hands the arena's slots out to the caller and takes them back.
 *
 * A slot is FREE (in the free list), ACQUIRED (the caller's), IN_FLIGHT
 * (named by operations; the last completion moves it back to ACQUIRED)
 * or POOLED (given to the receive pool; a pool receive's completion
 * hands it back as ACQUIRED); slot_pool.h has the transitions.  Must
 * never release a slot an operation still names, nor hand out a pointer
 * outside the arena.
 */
#include <errno.h>

#include "client.h"

/* Static, so that both the public calls and the srl_ ones below inline
 * it: a call through the PIC library's interposable srl_ name doubled
 * the cost of an acquire and release. */
static int sr_acquire(struct sr_client *c)
{
	uint32_t i = slot_pool_pop(c->slots, &c->free_slot);

	return i == SR_NONE ? -ENOBUFS : (int)i;
}

static int sr_release(struct sr_client *c, int slot)
{
	if (slot < 0 || (uint32_t)slot >= c->lim.slot_count)
		return -EINVAL;
	return slot_pool_push(c->slots, &c->free_slot, (uint32_t)slot);
}

int srl_slot_acquire(struct sr_client *c)
{
	return sr_acquire(c);
}

int srl_slot_release(struct sr_client *c, int slot)
{
	return sr_release(c, slot);
}

sr_slot_t sr_slot_acquire(struct sr_client *c)
{
	int ret;

	srl_lock(c);
	ret = sr_acquire(c);
	srl_unlock(c);
	return SR_SLOT(ret);
}

int sr_slot_release(struct sr_client *c, sr_slot_t s)
{
	int ret, slot = sr_slot_index(s);

	srl_lock(c);
	ret = sr_release(c, slot);
	srl_unlock(c);
	return ret;
}

/* The arena's mapping and the limits never change after sr_connect: no
 * lock. */
void *sr_slot_data(struct sr_client *c, sr_slot_t s)
{
	int slot = sr_slot_index(s);

	if (slot < 0 || (uint32_t)slot >= c->lim.slot_count)
		return NULL;
	return c->arena + (size_t)slot * c->lim.slot_size;
}

size_t sr_slot_size(const struct sr_client *c)
{
	return c->lim.slot_size;
}
