/* SPDX-License-Identifier: MIT */
/*
 * slot_table.h - the daemon-private record of a session's buffer slots.
 *
 * The arena the client maps is cut into `count` slots of `size` bytes.
 * What a slot may be used for is decided here, never by anything in the
 * shared arena.  A slot moves AVAILABLE -> IN_FLIGHT -> COMPLETED ->
 * AVAILABLE; its generation changes on every hand-over (to the kernel and
 * back to the client), so a request naming an old generation is stale.
 * Generations are never 0 and skip 0 when they wrap.
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
};

struct slot {
	uint32_t generation;
	uint8_t state; /* enum slot_state */
};

struct slot_table {
	uint32_t count;
	uint32_t size;
	uint32_t busy; /* slots not AVAILABLE */
	struct slot *slots;
};

#define SLOT_FIRST_GENERATION 1U

/* All slots AVAILABLE at SLOT_FIRST_GENERATION.  -EINVAL when count or
 * size is 0, -ENOMEM. */
int slot_table_init(struct slot_table *t, uint32_t count, uint32_t size);
void slot_table_free(struct slot_table *t);

/* NULL when index is past the end. */
const struct slot *slot_table_get(const struct slot_table *t, uint32_t index);

/* AVAILABLE -> IN_FLIGHT, generation bumped.  -ENXIO bad index, -EBUSY
 * not AVAILABLE. */
int slot_table_begin(struct slot_table *t, uint32_t index);
/* IN_FLIGHT -> COMPLETED.  -ENXIO bad index, -EINVAL not IN_FLIGHT. */
int slot_table_complete(struct slot_table *t, uint32_t index);
/* COMPLETED -> AVAILABLE, generation bumped; returns 0 and the new
 * generation in *generation.  -ENXIO bad index, -EINVAL not COMPLETED. */
int slot_table_hand_back(struct slot_table *t, uint32_t index,
			 uint32_t *generation);

#endif
