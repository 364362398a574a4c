/* SPDX-License-Identifier: MIT */
/*
 * bufs.c - where an operation's data lives: the facade's slots, the
 * program's memory, and the copies between them; the arena allocator the
 * facade exports; the provided-buffer groups of IORING_OP_PROVIDE_BUFFERS.
 *
 * Program memory inside an arena buffer the program got from
 * sr_uring_buf_alloc() is named as it is (zero-copy); any other memory is
 * bounced through a slot: copied in before the operation is sent when
 * the operation takes data from memory, copied out when it completes
 * when it puts data in memory, only as many bytes as it did.  Within a
 * linked chain a member that takes data from memory an earlier member
 * reads into shares that member's slot range, so it sees what the read
 * brought and not what the memory held at submit time.
 *
 * Must never copy more than the operation's result, never copy out for
 * an operation the program was told is gone, never give a slot back
 * while an operation in flight still names it, and never name one slot
 * twice in one operation (the daemon refuses it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "facade.h"

int sru_slot_get(struct sru_state *st)
{
	int32_t i = st->slot_free;

	if (i < 0)
		return -EAGAIN;
	st->slot_free = (int32_t)st->slots[i].next;
	st->slots[i].use = SRU_SLOT_BOUNCE;
	st->slots[i].refs = 0;
	st->nfree_slots--;
	return i;
}

void sru_slot_put(struct sru_state *st, int slot)
{
	st->slots[slot].use = SRU_SLOT_FREE;
	st->slots[slot].refs = 0;
	st->slots[slot].chain = 0;
	st->slots[slot].next = (uint32_t)st->slot_free;
	st->slot_free = slot;
	st->nfree_slots++;
}

/*
 * What the members of the chain being prepared read into, so that a
 * later member can share it: program address, length, slot, offset.
 */
struct sru_chain_map {
	unsigned char *p;
	size_t len;
	int slot;
	uint32_t off;
	bool hard; /* a hard link lies between it and what follows */
};

static struct sru_chain_map *chain_map;
static size_t chain_nmap, chain_cap;
static uint32_t chain_id;

void sru_chain_forget(struct sru_state *st)
{
	(void)st;
	chain_nmap = 0;
	chain_id = 0;
}

static void chain_note(uint32_t chain, unsigned char *p, size_t len,
		       int slot, uint32_t off)
{
	if (chain != chain_id) {
		chain_nmap = 0;
		chain_id = chain;
	}
	if (chain_nmap == chain_cap) {
		size_t cap = chain_cap ? 2 * chain_cap : 16;
		struct sru_chain_map *m = realloc(chain_map, cap * sizeof(*m));

		if (!m)
			return; /* then a later member bounces instead */
		chain_map = m;
		chain_cap = cap;
	}
	chain_map[chain_nmap++] = (struct sru_chain_map){
		.p = p, .len = len, .slot = slot, .off = off,
	};
}

/* The latest read of the chain that covers @p: how much of it from
 * there, and where. */
static size_t chain_find(uint32_t chain, unsigned char *p, int *slot,
			 uint32_t *off)
{
	if (!chain || chain != chain_id)
		return 0;
	for (size_t i = chain_nmap; i-- > 0;) {
		struct sru_chain_map *m = &chain_map[i];

		if (p >= m->p && p < m->p + m->len) {
			*slot = m->slot;
			*off = m->off + (uint32_t)(p - m->p);
			return m->len - (size_t)(p - m->p);
		}
	}
	return 0;
}

/* Append [slot, off, len) of @kind to @op's ranges, merging with the
 * last one when it continues it.  -EINVAL when it cannot be named. */
static int add_range(struct sru_state *st, struct sru_op *op, int slot,
		     uint32_t off, uint32_t len, uint8_t kind)
{
	struct sru_range *last = op->nranges ? &op->ranges[op->nranges - 1] :
			       NULL;

	if (last && last->slot == slot && last->kind == kind &&
	    last->off + last->len == off) {
		last->len += len;
		return 0;
	}
	for (uint32_t i = 0; i < op->nranges; i++)
		if (op->ranges[i].slot == slot)
			return -EINVAL; /* one slot twice: refused */
	if (op->nranges == SR_MAX_IOV)
		return -EINVAL;
	op->ranges[op->nranges++] = (struct sru_range){
		.slot = slot, .off = off, .len = len, .kind = kind,
	};
	if (kind != SRU_R_BOUNCE)
		st->slots[slot].refs++;
	return 0;
}

void sru_unmap(struct sru_state *st, struct sru_op *op)
{
	if (!op->have_ranges)
		return;
	for (uint32_t i = 0; i < op->nranges; i++) {
		struct sru_range *r = &op->ranges[i];
		struct sru_slot *s = &st->slots[r->slot];

		if (s->refs && --s->refs == 0 && s->use == SRU_SLOT_BOUNCE)
			sru_slot_put(st, r->slot);
	}
	op->nranges = 0;
	op->have_ranges = false;
}

/* A zero-copy range at @p, if @p lies in an arena buffer the program
 * holds that no other operation uses now: its slot and offset, and how
 * many bytes of it from @p. */
static size_t zc_find(struct sru_state *st, unsigned char *p, uint32_t chain,
		      int *slot, uint32_t *off)
{
	size_t i;
	struct sru_slot *s;

	if (p < st->arena_lo || p >= st->arena_hi)
		return 0;
	i = (size_t)(p - st->arena_lo) / st->slot_size;
	s = &st->slots[i];
	if (s->use != SRU_SLOT_LENT ||
	    (s->refs && (!chain || s->chain != chain)))
		return 0;
	*slot = (int)i;
	*off = (uint32_t)((size_t)(p - st->arena_lo) % st->slot_size);
	return st->slot_size - *off;
}

int sru_map(struct sru_state *st, struct sru_op *op, bool from_memory,
	    uint32_t chain)
{
	int cur = -1;        /* the bounce slot being filled */
	uint32_t cur_used = 0;
	int ret = 0;

	op->nranges = 0;
	op->have_ranges = true;
	for (uint32_t i = 0; i < op->npieces && !ret; i++) {
		unsigned char *p = sru_op_pieces(op)[i].p;
		size_t rem = sru_op_pieces(op)[i].len;

		while (rem && !ret) {
			int slot;
			uint32_t off;
			size_t n;

			n = zc_find(st, p, chain, &slot, &off);
			if (n) {
				n = n < rem ? n : rem;
				ret = add_range(st, op, slot, off, (uint32_t)n,
						SRU_R_ZC);
				if (!ret)
					st->slots[slot].chain = chain;
				cur = -1; /* a bounce slot is named once */
				p += n;
				rem -= n;
				continue;
			}
			n = from_memory ? chain_find(chain, p, &slot, &off) : 0;
			if (n) {
				n = n < rem ? n : rem;
				ret = add_range(st, op, slot, off, (uint32_t)n,
						SRU_R_SHARED);
				/* What the memory holds now, where the read
				 * will land: a hard link runs this member
				 * after a short read too, and then the bytes
				 * the read did not reach are the memory's. */
				if (!ret)
					memcpy((unsigned char *)sr_slot_data(
						       st->c, SR_SLOT(slot)) +
						       off, p, n);
				cur = -1;
				p += n;
				rem -= n;
				continue;
			}
			if (cur < 0 || cur_used == st->slot_size) {
				cur = sru_slot_get(st);
				if (cur < 0) {
					ret = -EAGAIN;
					break;
				}
				cur_used = 0;
				st->slots[cur].chain = chain;
				/* Held by this operation from now on. */
				st->slots[cur].refs = 1;
			}
			n = st->slot_size - cur_used;
			n = n < rem ? n : rem;
			ret = add_range(st, op, cur, cur_used, (uint32_t)n,
					SRU_R_BOUNCE);
			if (ret) {
				/* The range was not added: the slot is
				 * still ours alone. */
				if (!cur_used)
					sru_slot_put(st, cur);
				break;
			}
			if (!from_memory && chain)
				chain_note(chain, p, n, cur, cur_used);
			cur_used += (uint32_t)n;
			p += n;
			rem -= n;
		}
	}
	if (ret) {
		sru_unmap(st, op);
		/* -EAGAIN can pass once slots come back, unless it needs
		 * more than there are. */
		if (ret == -EAGAIN && op->len > (uint64_t)st->lim.slot_count *
		    st->slot_size / 2)
			ret = -EINVAL;
	}
	return ret;
}

/* Walk @op's ranges and pieces together, @n bytes at most, copying
 * between bounce ranges and the pieces: in (memory -> slot) or out. */
static void copy_walk(struct sru_state *st, struct sru_op *op, size_t n,
		      bool in)
{
	uint32_t pi = 0;
	size_t pdone = 0;

	for (uint32_t i = 0; i < op->nranges && n; i++) {
		struct sru_range *r = &op->ranges[i];
		size_t rlen = r->len < n ? r->len : n;
		size_t rdone = 0;
		unsigned char *s = sr_slot_data(st->c, SR_SLOT(r->slot));

		while (rdone < rlen && pi < op->npieces) {
			struct sru_piece *pc = &sru_op_pieces(op)[pi];
			size_t k = pc->len - pdone;

			if (k > rlen - rdone)
				k = rlen - rdone;
			if (r->kind == SRU_R_BOUNCE) {
				if (in)
					memcpy(s + r->off + rdone,
					       pc->p + pdone, k);
				else
					memcpy(pc->p + pdone,
					       s + r->off + rdone, k);
			}
			rdone += k;
			pdone += k;
			if (pdone == pc->len) {
				pi++;
				pdone = 0;
			}
		}
		n -= rlen;
	}
}

void sru_copy_in(struct sru_state *st, struct sru_op *op)
{
	copy_walk(st, op, op->len, true);
}

void sru_copy_out(struct sru_state *st, struct sru_op *op, size_t n)
{
	if (op->told_gone)
		return;
	copy_walk(st, op, n < op->len ? n : op->len, false);
}

/* ---- the arena allocator ------------------------------------------- */

void *sr_uring_buf_alloc(struct io_uring *ring, size_t len)
{
	struct sru_state *st = ring ? sru(ring) : NULL;
	int slot;

	if (!st || !len || len > st->slot_size) {
		errno = EINVAL;
		return NULL;
	}
	slot = sru_slot_get(st);
	if (slot < 0) {
		errno = ENOMEM;
		return NULL;
	}
	st->slots[slot].use = SRU_SLOT_LENT;
	return sr_slot_data(st->c, SR_SLOT(slot));
}

int sr_uring_buf_free(struct io_uring *ring, void *buf)
{
	struct sru_state *st = ring ? sru(ring) : NULL;
	unsigned char *p = buf;
	size_t i;

	if (!st || p < st->arena_lo || p >= st->arena_hi ||
	    (size_t)(p - st->arena_lo) % st->slot_size)
		return -EINVAL;
	i = (size_t)(p - st->arena_lo) / st->slot_size;
	if (st->slots[i].use != SRU_SLOT_LENT)
		return -EINVAL;
	if (st->slots[i].refs)
		return -EBUSY;
	sru_slot_put(st, (int)i);
	return 0;
}

size_t sr_uring_buf_size(struct io_uring *ring)
{
	return ring ? sru(ring)->slot_size : 0;
}

/* ---- provided buffers ---------------------------------------------- */

static struct sru_group *group_find(struct sru_state *st, uint16_t bgid,
				    bool create)
{
	struct sru_group *g;

	for (uint32_t i = 0; i < st->ngroups; i++)
		if (st->groups[i].bgid == bgid)
			return &st->groups[i];
	if (!create)
		return NULL;
	g = realloc(st->groups, (st->ngroups + 1) * sizeof(*g));
	if (!g)
		return NULL;
	st->groups = g;
	g = &st->groups[st->ngroups++];
	*g = (struct sru_group){ .bgid = bgid, .head = -1, .tail = -1 };
	return g;
}

static int32_t pbuf_new(struct sru_state *st)
{
	int32_t i;

	if (st->pbuf_free < 0) {
		uint32_t n = st->npbufs ? 2 * st->npbufs : 64;
		struct sru_pbuf *b = realloc(st->pbufs, n * sizeof(*b));

		if (!b)
			return -ENOMEM;
		st->pbufs = b;
		for (uint32_t k = n; k-- > st->npbufs;) {
			b[k].next = st->pbuf_free;
			st->pbuf_free = (int32_t)k;
		}
		st->npbufs = n;
	}
	i = st->pbuf_free;
	st->pbuf_free = st->pbufs[i].next;
	return i;
}

int sru_provide(struct sru_state *st, unsigned char *addr, uint32_t len,
		uint32_t nr, uint16_t bgid, uint32_t bid)
{
	struct sru_group *g;

	/* The kernel's limits: a positive count, buffer ids in 16 bits. */
	if (!nr || nr > 0x10000 || bid + nr > 0x10000 || !len)
		return -EINVAL;
	g = group_find(st, bgid, true);
	if (!g)
		return -ENOMEM;
	for (uint32_t k = 0; k < nr; k++) {
		int32_t i = pbuf_new(st);

		if (i < 0)
			return k ? 0 : -ENOMEM;
		g = group_find(st, bgid, false); /* pbufs moved, not groups */
		st->pbufs[i] = (struct sru_pbuf){
			.addr = addr + (size_t)k * len, .len = len,
			.bid = (uint16_t)(bid + k), .bgid = bgid, .next = -1,
		};
		if (g->tail >= 0)
			st->pbufs[g->tail].next = i;
		else
			g->head = i;
		g->tail = i;
	}
	return 0;
}

int sru_remove_bufs(struct sru_state *st, uint32_t nr, uint16_t bgid)
{
	struct sru_group *g = group_find(st, bgid, false);
	int n = 0;

	if (!nr || nr > 0x10000)
		return -EINVAL;
	if (!g || g->head < 0)
		return -ENOENT;
	while (nr-- && g->head >= 0) {
		int32_t i = g->head;

		g->head = st->pbufs[i].next;
		if (g->head < 0)
			g->tail = -1;
		st->pbufs[i].next = st->pbuf_free;
		st->pbuf_free = i;
		n++;
	}
	return n;
}

int sru_pbuf_take(struct sru_state *st, uint16_t bgid)
{
	struct sru_group *g = group_find(st, bgid, false);
	int32_t i;

	if (!g || g->head < 0)
		return -ENOBUFS;
	i = g->head;
	g->head = st->pbufs[i].next;
	if (g->head < 0)
		g->tail = -1;
	st->pbufs[i].next = -1;
	return i;
}

/* An operation that took a buffer did not use it: back at the head of
 * its group, as the kernel recycles it. */
void sru_pbuf_return(struct sru_state *st, int32_t i)
{
	struct sru_group *g = group_find(st, st->pbufs[i].bgid, false);

	if (!g)
		return;
	st->pbufs[i].next = g->head;
	g->head = i;
	if (g->tail < 0)
		g->tail = i;
}
