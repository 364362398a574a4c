/* SPDX-License-Identifier: MIT */
/*
 * policy.c - see policy.h.
 */
#include "policy.h"

#include "saferring.h"

void policy_default(struct policy *p)
{
	*p = (struct policy){
		.default_slot_count = 64,
		.max_slot_count = 1024,
		.default_slot_size = 64 * 1024,
		.max_slot_size = 1024 * 1024,
		.max_arena_bytes = 256ULL * 1024 * 1024,
		.max_fds = 64,
		.max_in_flight = 256,
		.allowed_ops = (1ULL << SR_OP_NOP) | (1ULL << SR_OP_READ) |
			       (1ULL << SR_OP_WRITE) | (1ULL << SR_OP_FSYNC),
		.max_errors = 64,
	};
}

void policy_grant_slots(const struct policy *p, uint32_t want_count,
			uint32_t want_size, uint32_t *count, uint32_t *size)
{
	uint64_t sz = want_size ? want_size : p->default_slot_size;
	uint32_t n = want_count ? want_count : p->default_slot_count;

	if (sz > p->max_slot_size)
		sz = p->max_slot_size;
	sz = (sz + POLICY_SLOT_ALIGN - 1) / POLICY_SLOT_ALIGN *
	     POLICY_SLOT_ALIGN;
	if (n > p->max_slot_count)
		n = p->max_slot_count;
	if ((uint64_t)n * sz > p->max_arena_bytes)
		n = p->max_arena_bytes / sz;
	if (n == 0)
		n = 1;
	*count = n;
	*size = (uint32_t)sz;
}
