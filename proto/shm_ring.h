/* SPDX-License-Identifier: MIT */
/*
 * shm_ring.h - one side of a protocol v2 ring (ring_layout.h): putting
 * records into it, or taking them out, for the daemon and the client
 * library alike.
 *
 * The shared words are read once per call and bounded before use: a
 * producer that finds the consumer's head out of range sees a full ring,
 * a consumer that finds a tail, a length or a padding record out of range
 * reports the ring as corrupt.  Payloads are copied whole into the
 * caller's private buffer, so nothing is read twice from shared memory.
 * Must never read or write outside the ring's data, and never trust a
 * value the other side wrote.
 */
#ifndef SAFERRING_SHM_RING_H
#define SAFERRING_SHM_RING_H

#include <stdint.h>

#include "ring_layout.h"

struct shm_ring {
	unsigned char *data; /* the ring's bytes in the shared mapping */
	uint32_t size;       /* a power of two, a multiple of 8 */
	uint32_t max_record; /* largest payload either side writes */
	uint32_t *tail;      /* shared: the producer's index */
	uint32_t *head;      /* shared: the consumer's index */
	uint32_t pos;        /* private: our own index (tail or head) */
};

/* Set up one side: @tail/@head are the shared words of this ring, @pos
 * their common start (0). */
void shm_ring_init(struct shm_ring *r, void *data, uint32_t size,
		  uint32_t max_record, uint32_t *tail, uint32_t *head);

/* Producer: room for a record of @len payload bytes right now? */
int shm_ring_room(const struct shm_ring *r, uint32_t len);
/* Producer: write one record (not yet visible).  0; -EMSGSIZE over
 * max_record; -EAGAIN when there is no room (the consumer is behind, or
 * its head is out of range). */
int shm_ring_put(struct shm_ring *r, uint32_t kind, const void *payload,
		uint32_t len);
/* Producer: make every record put so far visible (release). */
void shm_ring_publish(struct shm_ring *r);

/* Consumer: the producer's tail, loaded once (acquire), for a pass of
 * shm_ring_get calls. */
uint32_t shm_ring_tail(const struct shm_ring *r);
/* Consumer: copy the next record before @tail into @buf (@cap bytes).
 * 1 and its kind and length; 0 when there is none; -EPROTO when what the
 * producer wrote is out of bounds (the ring is corrupt: stop using it). */
int shm_ring_get(struct shm_ring *r, uint32_t tail, void *buf, uint32_t cap,
		uint32_t *kind, uint32_t *len);
/* Consumer: give back the space of every record taken (release). */
void shm_ring_release(struct shm_ring *r);
/* Consumer: records are waiting at the producer's current tail. */
int shm_ring_pending(const struct shm_ring *r);

#endif
