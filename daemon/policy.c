/* SPDX-License-Identifier: MIT */
/*
 * policy.c - see policy.h.  Operation names come from the one table of
 * operations, proto/op_table.h.
 */
#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "op_table.h"
#include "saferring.h"

void policy_default(struct policy *p)
{
	*p = (struct policy){
		.default_slot_count = 64,
		.max_slot_count = 1024,
		.default_slot_size = 64 * 1024,
		.max_slot_size = 1024 * 1024,
		/* Arenas are pinned memory: 16 sessions of 64 MiB bound one uid
		 * to 1 GiB, and a Hello to a short stall while it is pinned. */
		.max_arena_bytes = 64ULL * 1024 * 1024,
		/* Enough for a server with a few hundred connections, each
		 * with a receive and a send in flight. */
		.max_fds = 512,
		.max_in_flight = 1024,
		.allowed_ops = (1ULL << SR_OP__COUNT) - 1,
		.max_errors = 64,
		.max_sessions = 16,
	};
}

void policy_grant_slots(const struct policy *p, uint32_t want_count,
			uint32_t want_size, uint32_t *count, uint32_t *size)
{
	uint64_t sz = want_size ? want_size : p->default_slot_size;
	uint32_t n = want_count ? want_count : p->default_slot_count;
	uint64_t arena_max = p->max_arena_bytes / POLICY_SLOT_ALIGN *
			     POLICY_SLOT_ALIGN;

	if (sz > p->max_slot_size)
		sz = p->max_slot_size;
	/* One slot must fit the arena, or "at least one slot" below would
	 * grant more than max_arena_bytes. */
	if (arena_max >= POLICY_SLOT_ALIGN && sz > arena_max)
		sz = arena_max;
	if (sz == 0)
		sz = POLICY_SLOT_ALIGN;
	sz = (sz + POLICY_SLOT_ALIGN - 1) / POLICY_SLOT_ALIGN *
	     POLICY_SLOT_ALIGN;
	if (n > p->max_slot_count)
		n = p->max_slot_count;
	if ((uint64_t)n * sz > p->max_arena_bytes)
		n = (uint32_t)(p->max_arena_bytes / sz);
	if (n == 0)
		n = 1;
	*count = n;
	*size = (uint32_t)sz;
}

int policy_op_from_name(const char *name, size_t len)
{
	for (unsigned op = 0; op < SR_OP__COUNT; op++)
		if (strlen(op_info(op)->name) == len &&
		    memcmp(op_info(op)->name, name, len) == 0)
			return (int)op;
	return -ENOENT;
}

const char *policy_op_name(unsigned opcode)
{
	const struct op_info *info = op_info(opcode);

	return info ? info->name : NULL;
}

uint64_t policy_all_ops(void)
{
	return (1ULL << SR_OP__COUNT) - 1;
}

void policy_format_ops(uint64_t ops, char *buf, size_t len)
{
	size_t used = 0;

	if (!len)
		return;
	buf[0] = '\0';
	for (unsigned op = 0; op < 64; op++) {
		const char *name;
		int n;

		if (!(ops & (1ULL << op)))
			continue;
		name = policy_op_name(op);
		if (name)
			n = snprintf(buf + used, len - used, "%s%s",
				     used ? " " : "", name);
		else
			n = snprintf(buf + used, len - used, "%sop%u",
				     used ? " " : "", op);
		if (n < 0 || (size_t)n >= len - used)
			return; /* truncated; snprintf left it terminated */
		used += (size_t)n;
	}
	if (!used)
		snprintf(buf, len, "none");
}
