/* SPDX-License-Identifier: MIT */
/*
 * shm_ring.c - see shm_ring.h.  All index arithmetic is unsigned 32-bit and
 * wraps; every value loaded from shared memory goes into a local first
 * and is checked there.
 */
#include "shm_ring.h"

#include <errno.h>
#include <string.h>

void shm_ring_init(struct shm_ring *r, void *data, uint32_t size,
		  uint32_t max_record, uint32_t *tail, uint32_t *head)
{
	*r = (struct shm_ring){
		.data = data,
		.size = size,
		.max_record = max_record,
		.tail = tail,
		.head = head,
		.pos = 0,
	};
}

/* Free bytes as the consumer's head says, or 0 when that head is not
 * one a consumer could have (behind our tail by more than the ring). */
static uint32_t ring_free(const struct shm_ring *r)
{
	uint32_t head = sr_ring_load_acquire(r->head);
	uint32_t used = r->pos - head;

	return used > r->size ? 0 : r->size - used;
}

/* Bytes a record of @len needs now, the padding up to the end of the
 * ring included when it does not fit there. */
static uint32_t ring_need(const struct shm_ring *r, uint32_t len)
{
	uint32_t need = sr_ring_rec_bytes(len);
	uint32_t contig = r->size - (r->pos & (r->size - 1));

	return need > contig ? contig + need : need;
}

int shm_ring_room(const struct shm_ring *r, uint32_t len)
{
	if (len > r->max_record)
		return 0;
	return ring_need(r, len) <= ring_free(r);
}

int shm_ring_put(struct shm_ring *r, uint32_t kind, const void *payload,
		uint32_t len)
{
	uint32_t need, off, contig;
	struct sr_ring_rec hdr;

	if (len > r->max_record)
		return -EMSGSIZE;
	if (ring_need(r, len) > ring_free(r))
		return -EAGAIN;
	need = sr_ring_rec_bytes(len);
	off = r->pos & (r->size - 1);
	contig = r->size - off;
	if (need > contig) {
		/* Skip to the start: the consumer jumps over this. */
		hdr = (struct sr_ring_rec){ .len = contig - SR_RING_HDR,
					     .kind = SR_RING_REC_PAD };
		memcpy(r->data + off, &hdr, sizeof(hdr));
		r->pos += contig;
		off = 0;
	}
	hdr = (struct sr_ring_rec){ .len = len, .kind = kind };
	memcpy(r->data + off, &hdr, sizeof(hdr));
	memcpy(r->data + off + SR_RING_HDR, payload, len);
	if (need - SR_RING_HDR > len)
		memset(r->data + off + SR_RING_HDR + len, 0,
		       need - SR_RING_HDR - len);
	r->pos += need;
	return 0;
}

void shm_ring_publish(struct shm_ring *r)
{
	sr_ring_store_release(r->tail, r->pos);
}

uint32_t shm_ring_tail(const struct shm_ring *r)
{
	return sr_ring_load_acquire(r->tail);
}

int shm_ring_pending(const struct shm_ring *r)
{
	return shm_ring_tail(r) != r->pos;
}

int shm_ring_get(struct shm_ring *r, uint32_t tail, void *buf, uint32_t cap,
		uint32_t *kind, uint32_t *len)
{
	for (;;) {
		uint32_t avail = tail - r->pos, off, need;
		struct sr_ring_rec hdr;

		if (avail == 0)
			return 0;
		/* A tail behind our head, past the ring, or off the record
		 * alignment is not one a producer could have written. */
		if (avail > r->size || avail % SR_RING_ALIGN)
			return -EPROTO;
		off = r->pos & (r->size - 1);
		/* Once: the producer may be rewriting it as we look. */
		memcpy(&hdr, r->data + off, sizeof(hdr));
		if (hdr.kind == SR_RING_REC_PAD) {
			uint32_t skip = r->size - off;

			if (hdr.len != skip - SR_RING_HDR || skip > avail)
				return -EPROTO;
			r->pos += skip;
			continue;
		}
		if (hdr.len > r->max_record || hdr.len > cap)
			return -EPROTO;
		need = sr_ring_rec_bytes(hdr.len);
		if (need > avail || need > r->size - off)
			return -EPROTO;
		memcpy(buf, r->data + off + SR_RING_HDR, hdr.len);
		*kind = hdr.kind;
		*len = hdr.len;
		r->pos += need;
		return 1;
	}
}

void shm_ring_release(struct shm_ring *r)
{
	sr_ring_store_release(r->head, r->pos);
}
