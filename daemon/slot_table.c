/* SPDX-License-Identifier: MIT */
/*
 * slot_table.c - the daemon's authoritative record of which arena slots
 * the client may name and which the kernel holds.
 *
 * Every decision about a slot is taken from this table, never from the
 * shared arena the client can write.  It must never touch slot memory,
 * never let a slot skip a state, never complete a slot some operation
 * still holds, and never hand out generation 0.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "slot_table.h"

/* 0 is reserved so that a zeroed request never names a live generation. */
static uint32_t next_generation(uint32_t generation)
{
	generation++;
	return generation ? generation : SLOT_FIRST_GENERATION;
}

int slot_table_init(struct slot_table *t, uint32_t count, uint32_t size)
{
	uint32_t i;

	/* A failed init leaves a table that slot_table_free() accepts. */
	memset(t, 0, sizeof(*t));
	if (!count || !size)
		return -EINVAL;
	t->slots = calloc(count, sizeof(*t->slots));
	if (!t->slots)
		return -ENOMEM;
	for (i = 0; i < count; i++) {
		t->slots[i].generation = SLOT_FIRST_GENERATION;
		t->slots[i].state = SLOT_AVAILABLE;
	}
	t->count = count;
	t->size = size;
	return 0;
}

void slot_table_free(struct slot_table *t)
{
	if (!t)
		return;
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

const struct slot *slot_table_get(const struct slot_table *t, uint32_t index)
{
	if (index >= t->count)
		return NULL;
	return &t->slots[index];
}

/* The slot at @index, when it is in @state: 0 and *out, -ENXIO when
 * there is no such slot, @wrong when it is in another state. */
static int slot_at(struct slot_table *t, uint32_t index,
		   enum slot_state state, int wrong, struct slot **out)
{
	if (index >= t->count)
		return -ENXIO;
	if (t->slots[index].state != state)
		return wrong;
	*out = &t->slots[index];
	return 0;
}

int slot_table_begin(struct slot_table *t, uint32_t index)
{
	struct slot *s;
	int r = slot_at(t, index, SLOT_AVAILABLE, -EBUSY, &s);

	if (r)
		return r;
	/* The client's generation dies here: it may not name the slot again
	 * until the completion tells it the new one. */
	s->generation = next_generation(s->generation);
	s->state = SLOT_IN_FLIGHT;
	s->refs = 1;
	t->busy++;
	return 0;
}

int slot_table_share(struct slot_table *t, uint32_t index)
{
	struct slot *s;
	int r = slot_at(t, index, SLOT_IN_FLIGHT, -EINVAL, &s);

	if (r)
		return r;
	if (s->refs == UINT16_MAX)
		return -EOVERFLOW;
	s->refs++;
	return 0;
}

int slot_table_complete(struct slot_table *t, uint32_t index)
{
	struct slot *s;
	int r = slot_at(t, index, SLOT_IN_FLIGHT, -EINVAL, &s);

	if (r)
		return r;
	/* Another member of the chain may still be about to use it. */
	if (--s->refs > 0)
		return 1;
	s->state = SLOT_COMPLETED;
	return 0;
}

int slot_table_pool(struct slot_table *t, uint32_t index)
{
	struct slot *s;
	int r = slot_at(t, index, SLOT_AVAILABLE, -EBUSY, &s);

	if (r)
		return r;
	/* As for begin: the client's generation dies with the hand-over. */
	s->generation = next_generation(s->generation);
	s->state = SLOT_POOLED;
	t->busy++;
	t->pooled++;
	return 0;
}

int slot_table_unpool(struct slot_table *t, uint32_t index)
{
	struct slot *s;
	int r = slot_at(t, index, SLOT_POOLED, -EINVAL, &s);

	if (r)
		return r;
	s->state = SLOT_COMPLETED;
	t->pooled--;
	return 0;
}

int slot_table_hand_back(struct slot_table *t, uint32_t index,
			 uint32_t *generation)
{
	struct slot *s;
	int r = slot_at(t, index, SLOT_COMPLETED, -EINVAL, &s);

	if (r)
		return r;
	/* Bumped again so that a request racing the completion, still
	 * carrying the in-flight generation, is refused as stale. */
	s->generation = next_generation(s->generation);
	s->state = SLOT_AVAILABLE;
	t->busy--;
	*generation = s->generation;
	return 0;
}
