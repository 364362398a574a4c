/* SPDX-License-Identifier: MIT */
/*
 * policy.h - what a session may have and do: slot count and size, arena
 * bytes, registered files, operations in flight, allowed opcodes.
 *
 * Only the built-in default exists so far; per-uid policy files come with
 * the isolation work.  Must never grant more than the limits below allow
 * the daemon to hold per session.
 */
#ifndef SAFERRINGD_POLICY_H
#define SAFERRINGD_POLICY_H

#include <stdint.h>

struct policy {
	uint32_t default_slot_count;
	uint32_t max_slot_count;
	uint32_t default_slot_size;
	uint32_t max_slot_size;
	uint64_t max_arena_bytes;
	uint32_t max_fds;
	uint32_t max_in_flight;
	uint64_t allowed_ops; /* bit (1 << opcode) */
	uint32_t max_errors;  /* refused messages before the session ends */
};

/* Slot sizes are multiples of this so that O_DIRECT works on any slot. */
#define POLICY_SLOT_ALIGN 4096U

void policy_default(struct policy *p);

/* The slot count and size a session gets for what its Hello wished
 * (0 = no wish): defaults, clamped to the maxima, size rounded up to
 * POLICY_SLOT_ALIGN, count cut so the arena fits max_arena_bytes. */
void policy_grant_slots(const struct policy *p, uint32_t want_count,
			uint32_t want_size, uint32_t *count, uint32_t *size);

#endif
