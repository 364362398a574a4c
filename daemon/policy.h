/* SPDX-License-Identifier: MIT */
/*
 * policy.h - what a session may have and do: slot count and size, arena
 * bytes, registered files, operations in flight, allowed opcodes, and how
 * many sessions its uid may hold at once.  Which policy a peer gets is
 * config.h's business; this header knows nothing of files or uids.
 *
 * Operation names come from the one table of operations
 * (proto/op_table.h): the config parser and the logs both go through
 * the functions below.
 *
 * Must never grant more than the POLICY_LIMIT_* bounds below: they are
 * what the kernel and the daemon can hold per session, and the config
 * parser refuses values beyond them.
 */
#ifndef SAFERRINGD_POLICY_H
#define SAFERRINGD_POLICY_H

#include <stddef.h>
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
	uint64_t allowed_fs;  /* bit (1 << enum fs_id): FS_REMOTE filesystems
			       * admitted besides the local ones */
	uint32_t max_errors;  /* refused messages before the session ends */
	uint32_t max_sessions; /* per uid, across all of its connections;
				* 0 = this uid may not connect at all */
	uint32_t control;     /* 1: may read daemon statistics (root may) */
};

/* Slot sizes are multiples of this so that O_DIRECT works on any slot. */
#define POLICY_SLOT_ALIGN 4096U

/* Hard bounds, from the kernel's own limits on one ring. */
#define POLICY_LIMIT_SLOTS 16384U      /* fixed buffers per ring */
#define POLICY_LIMIT_SLOT_SIZE (1U << 30) /* bytes per fixed buffer */
#define POLICY_LIMIT_ARENA (1ULL << 40)
#define POLICY_LIMIT_FDS 65536U        /* also bounded by RLIMIT_NOFILE */
#define POLICY_LIMIT_IN_FLIGHT 16383U  /* + 1 cancel SQE fits 16384 entries */
#define POLICY_LIMIT_SESSIONS 65536U
#define POLICY_LIMIT_ERRORS 1000000U

void policy_default(struct policy *p);

/* The slot count and size a session gets for what its Hello wished
 * (0 = no wish): defaults, clamped to the maxima, size rounded up to
 * POLICY_SLOT_ALIGN, count cut so the arena fits max_arena_bytes. */
void policy_grant_slots(const struct policy *p, uint32_t want_count,
			uint32_t want_size, uint32_t *count, uint32_t *size);

/* Operation names, as the config file spells them ("read", "fsync").
 * policy_op_from_name: the opcode, or -ENOENT for a name the table does
 * not know.  @len bytes of @name are compared, case-sensitively. */
int policy_op_from_name(const char *name, size_t len);
/* NULL for an opcode without a name. */
const char *policy_op_name(unsigned opcode);
/* Every opcode the table names. */
uint64_t policy_all_ops(void);
/* "nop read write" (or "none") into @buf; truncated to fit @len. */
void policy_format_ops(uint64_t ops, char *buf, size_t len);

#endif
