/* SPDX-License-Identifier: MIT */
/*
 * slot_table.h - the daemon-private record of a session's buffer slots.
 *
 * The arena the client maps is cut into `count` slots of `size` bytes.
 * What a slot may be used for is decided here, never by anything in the
 * shared arena.  A slot moves AVAILABLE -> IN_FLIGHT -> COMPLETED ->
 * AVAILABLE, or AVAILABLE -> POOLED (given to the kernel's receive pool)
 * -> COMPLETED (the kernel filled it) -> AVAILABLE; its generation changes
 * on every hand-over (to the kernel and back to the client), so a request
 * naming an old generation is stale.  Generations are never 0 and skip 0
 * when they wrap.
 *
 * An IN_FLIGHT slot may be held by several operations of one linked
 * chain (they run one after another, never at once); it completes when
 * the last of them does.
 *
 * Knows nothing of sockets, rings or protobuf; never touches slot memory.
 */
#ifndef SAFERRINGD_SLOT_TABLE_H
#define SAFERRINGD_SLOT_TABLE_H

#include <stdint.h>

enum slot_state {
	SLOT_AVAILABLE = 0, /* owned by the client */
	SLOT_IN_FLIGHT,     /* the kernel may read or write it */
	SLOT_COMPLETED,     /* the kernel is done; completion not yet sent */
	SLOT_POOLED,        /* in the receive pool: the kernel may fill it */
};

struct slot {
	uint32_t generation;
	uint16_t refs; /* IN_FLIGHT: operations holding it */
	uint8_t state; /* enum slot_state */
};

struct slot_table {
	uint32_t count;
	uint32_t size;
	uint32_t busy;   /* slots not AVAILABLE */
	uint32_t pooled; /* slots POOLED */
	struct slot *slots;
};

#define SLOT_FIRST_GENERATION 1U

/* All slots AVAILABLE at SLOT_FIRST_GENERATION.  -EINVAL when count or
 * size is 0, -ENOMEM. */
int slot_table_init(struct slot_table *t, uint32_t count, uint32_t size);
void slot_table_free(struct slot_table *t);

/* NULL when index is past the end. */
const struct slot *slot_table_get(const struct slot_table *t, uint32_t index);

/* AVAILABLE -> IN_FLIGHT held once, generation bumped.  -ENXIO bad
 * index, -EBUSY not AVAILABLE. */
int slot_table_begin(struct slot_table *t, uint32_t index);
/* One more hold on an IN_FLIGHT slot, for a later member of the chain
 * that began it.  -ENXIO bad index, -EINVAL not IN_FLIGHT, -EOVERFLOW. */
int slot_table_share(struct slot_table *t, uint32_t index);
/* Drop one hold: 0 when that was the last (IN_FLIGHT -> COMPLETED), 1
 * when other operations still hold it.  -ENXIO bad index, -EINVAL not
 * IN_FLIGHT. */
int slot_table_complete(struct slot_table *t, uint32_t index);
/* AVAILABLE -> POOLED, generation bumped.  -ENXIO, -EBUSY not AVAILABLE. */
int slot_table_pool(struct slot_table *t, uint32_t index);
/* POOLED -> COMPLETED: the kernel picked it from the pool.  -ENXIO bad
 * index, -EINVAL not POOLED (so a buffer id the kernel reports is only
 * believed for a slot that really is in the pool). */
int slot_table_unpool(struct slot_table *t, uint32_t index);
/* COMPLETED -> AVAILABLE, generation bumped; returns 0 and the new
 * generation in *generation.  -ENXIO bad index, -EINVAL not COMPLETED. */
int slot_table_hand_back(struct slot_table *t, uint32_t index,
			 uint32_t *generation);

#endif
