/* SPDX-License-Identifier: MIT */
/*
 * ring_layout.h - protocol v2's shared-memory rings: a submission ring
 * (client -> daemon) and a completion ring (daemon -> client) in the
 * session's arena memfd, after the slots.  Both sides include this; the
 * layout is part of the wire protocol (proto/PROTOCOL.md, "Rings").
 *
 *   offset + 0    struct sr_ring_ctl: the four indexes and two flag
 *                 words, each written by one side only, on cache lines
 *                 of their own
 *   + 256         submission ring data, sq_bytes (a power of two)
 *   + ...         completion ring data, cq_bytes (a power of two)
 *
 * A ring carries records: an 8-byte header (payload length, kind), the
 * payload (a protobuf message), zero padding to a multiple of 8.  A
 * record never wraps: when it does not fit before the end, the producer
 * writes a PAD record over the rest and starts again at 0.  Indexes are
 * free-running byte counts (mod 2^32); the position is index & (size-1).
 *
 * Memory ordering: a producer writes a record, then stores its tail with
 * release; a consumer loads the tail with acquire, reads, then stores its
 * head with release.  Doorbells are a Dekker pair: the side that is about
 * to sleep sets its NEED_WAKEUP flag, issues a full fence, and looks at
 * the other side's tail once more; the producer, after publishing its
 * tail, issues a full fence and writes the sleeper's eventfd only when
 * the flag is set.
 *
 * Everything here lives in memory the client can write.  The daemon must
 * never read a value from it twice, must bound every index and length it
 * reads before use, and must copy a record to private memory before
 * decoding it.
 */
#ifndef SAFERRING_RING_LAYOUT_H
#define SAFERRING_RING_LAYOUT_H

#include <stdint.h>

/* Record kinds. */
#define SR_RING_REC_OPS 1         /* submission: an OpBatch */
#define SR_RING_REC_COMPLETIONS 2 /* completion: a CompletionBatch */
#define SR_RING_REC_PAD 3         /* skip to the end of the ring */

/* sq_flags: the daemon sleeps; write its submission eventfd after
 * publishing a submission. */
#define SR_RING_SQ_NEED_WAKEUP 1U
/* sq_flags, with NEED_WAKEUP: the daemon also holds completions the
 * completion ring had no room for; write its eventfd after freeing
 * room (advancing cq_head). */
#define SR_RING_SQ_CQ_WAIT 2U
/* cq_flags: the client sleeps (or wants every completion signalled);
 * the daemon writes the client's completion eventfd. */
#define SR_RING_CQ_NEED_WAKEUP 1U
/* cq_flags: the client found the submission ring full and waits for
 * room; write its eventfd after freeing some (after a full fence). */
#define SR_RING_CQ_SQ_WAIT 2U

#define SR_RING_CACHELINE 64

struct sr_ring_ctl {
	uint32_t sq_tail;  /* client */
	uint32_t pad0[SR_RING_CACHELINE / 4 - 1];
	uint32_t sq_head;  /* daemon */
	uint32_t sq_flags; /* daemon */
	uint32_t pad1[SR_RING_CACHELINE / 4 - 2];
	uint32_t cq_tail;  /* daemon */
	uint32_t pad2[SR_RING_CACHELINE / 4 - 1];
	uint32_t cq_head;  /* client */
	uint32_t cq_flags; /* client */
	uint32_t pad3[SR_RING_CACHELINE / 4 - 2];
};
_Static_assert(sizeof(struct sr_ring_ctl) == 4 * SR_RING_CACHELINE,
	       "the ring control block is four cache lines");

struct sr_ring_rec {
	uint32_t len;  /* payload bytes */
	uint32_t kind; /* SR_RING_REC_* */
};

#define SR_RING_ALIGN 8U
#define SR_RING_HDR ((uint32_t)sizeof(struct sr_ring_rec))

/* Bytes a record of @len payload bytes takes in a ring. */
static inline uint32_t sr_ring_rec_bytes(uint32_t len)
{
	return SR_RING_HDR + ((len + SR_RING_ALIGN - 1) & ~(SR_RING_ALIGN - 1));
}

/* Total bytes of the ring area for the given data sizes. */
static inline uint64_t sr_ring_area_bytes(uint32_t sq_bytes, uint32_t cq_bytes)
{
	return sizeof(struct sr_ring_ctl) + (uint64_t)sq_bytes + cq_bytes;
}

static inline uint32_t sr_ring_load_acquire(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline uint32_t sr_ring_load(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void sr_ring_store_release(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline void sr_ring_store(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* The full fence of the doorbell protocol. */
static inline void sr_ring_fence(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

#endif
