/* SPDX-License-Identifier: MIT */
/*
 * slot_pool.h - the slot table's state machine: every transition a slot
 * goes through on the client's side, as small functions over the table
 * and its free list.
 *
 * They are here, apart from the rest of the client, so that
 * tests/unit/test_slot_model.c runs these very functions under its
 * exhaustive interleaving explorer.  None of them locks: with
 * SR_PARAMS_THREADSAFE each runs under the client's lock, and the model
 * holds them to that (every call is one step between its lock and
 * unlock steps).
 *
 * Must never put a slot on the free list that is not ACQUIRED, nor hand
 * one out that is not on it.
 */
#ifndef SAFERRING_SLOT_POOL_H
#define SAFERRING_SLOT_POOL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#define SR_NONE UINT32_MAX

enum sr_slot_state {
	SR_SLOT_FREE = 0,   /* in the free list */
	SR_SLOT_ACQUIRED,   /* the caller (or sr_pread & co.) owns it */
	SR_SLOT_IN_FLIGHT,  /* named by operations prepared or sent */
	SR_SLOT_POOLED,     /* given to the daemon's receive pool */
};

struct sr_slot {
	uint32_t generation; /* the daemon's current generation */
	uint32_t next_free;  /* free list link, SR_NONE at the end */
	uint32_t chain;      /* IN_FLIGHT: the chain that took it */
	uint16_t refs;       /* IN_FLIGHT: operations naming it */
	uint8_t state;       /* enum sr_slot_state */
};

/*
 * A pop and a push each read the free list's head and then write it: the
 * model runs those halves as separate steps (a read-modify-write is two
 * memory steps unless something makes it one), the library back to
 * back under its lock.
 */
/* The head, and in *next what it links to; SR_NONE when empty. */
static inline uint32_t slot_pool_peek(const struct sr_slot *slots,
				      const uint32_t *head, uint32_t *next)
{
	uint32_t i = *head;

	*next = i == SR_NONE ? SR_NONE : slots[i].next_free;
	return i;
}

/* Take @i, which peek found with @next behind it, off the list. */
static inline void slot_pool_unlink(struct sr_slot *slots, uint32_t *head,
				    uint32_t i, uint32_t next)
{
	*head = next;
	slots[i].next_free = SR_NONE;
	slots[i].state = SR_SLOT_ACQUIRED;
}

/* Whether @i may go back to the list: then it is FREE (not linked yet). */
static inline int slot_pool_unhold(struct sr_slot *slots, uint32_t i)
{
	struct sr_slot *s = &slots[i];

	/* The kernel may still write it, now or from the pool. */
	if (s->state == SR_SLOT_IN_FLIGHT || s->state == SR_SLOT_POOLED)
		return -EBUSY;
	if (s->state != SR_SLOT_ACQUIRED)
		return -EINVAL;
	s->state = SR_SLOT_FREE;
	return 0;
}

/* Link @i in front of @old_head, which was read from *head. */
static inline void slot_pool_link(struct sr_slot *slots, uint32_t *head,
				  uint32_t i, uint32_t old_head)
{
	slots[i].next_free = old_head;
	*head = i;
}

/* sr_slot_acquire: the free list's head, now ACQUIRED; SR_NONE if none. */
static inline uint32_t slot_pool_pop(struct sr_slot *slots, uint32_t *head)
{
	uint32_t next, i = slot_pool_peek(slots, head, &next);

	if (i != SR_NONE)
		slot_pool_unlink(slots, head, i, next);
	return i;
}

/* sr_slot_release of a valid index. */
static inline int slot_pool_push(struct sr_slot *slots, uint32_t *head,
				 uint32_t i)
{
	int ret = slot_pool_unhold(slots, i);

	if (!ret)
		slot_pool_link(slots, head, i, *head);
	return ret;
}

/* An operation of chain @chain names the slot (checked usable). */
static inline void slot_pool_take(struct sr_slot *s, uint32_t chain)
{
	if (s->state == SR_SLOT_IN_FLIGHT) {
		s->refs++;
	} else {
		s->state = SR_SLOT_IN_FLIGHT;
		s->refs = 1;
		s->chain = chain;
	}
}

/* An operation naming the slot is done (completed, or dropped unsent):
 * whether it was the last, the slot then the caller's again. */
static inline bool slot_pool_put_back(struct sr_slot *s)
{
	if (--s->refs)
		return false;
	s->state = SR_SLOT_ACQUIRED;
	return true;
}

#endif
