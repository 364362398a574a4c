/* SPDX-License-Identifier: MIT */
/*
 * fuzz_request.c - libFuzzer harness A: Request decoding through the
 * bounded wire_arena allocator, then validation of every operation of a
 * Submit against a session state built from the input (slot table, fd
 * registry, in-flight count, policy), chain by chain as session.c does.
 *
 * Input: a header that builds the state (see build_state), then the bytes
 * of one protobuf Request.
 *
 * Checked for every verdict: validate_op is pure (slot table and fd
 * registry byte-identical afterwards) and deterministic (same verdict
 * twice), returns a known status, and an OK verdict keeps every promise
 * of validator.h: opcode known and allowed, in-flight quota, link kinds
 * and chain places, handle live and current, every slot range AVAILABLE,
 * current and inside its slot (hence inside the arena), at most 16
 * distinct ranges, file offsets within loff_t, CONNECT addresses of the
 * exact size, PROVIDE whole slots with room in the pool.  Accepted chains
 * are then applied to the state, as the session would, so later
 * operations meet slots and handles in flight.
 *
 * Must never call into the kernel: everything here is pure modules.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fd_registry.h"
#include "saferring.h"
#include "saferring.pb-c.h"
#include "slot_table.h"
#include "request.h"
#include "validator.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define UNPACK_BYTES (4 * 1024 * 1024)

static unsigned char unpack_buf[UNPACK_BYTES] __attribute__((aligned(64)));
static struct op_request reqs[WIRE_MAX_BATCH];

static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz_request: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

struct input {
	const uint8_t *p;
	size_t n;
};

static uint8_t take(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

struct state {
	struct slot_table slots;
	struct fd_registry fds;
	struct validator_view view;
};

/*
 * Header: slot count (1..64), slot size (4 KiB x 1..4), fd quota (1..8),
 * max_in_flight (1..32), in_flight (0..max), three bytes of allowed
 * opcodes (0xff 0xff 0xff: all), pool capacity, then a count and that
 * many (kind, index) pairs of slot table and fd registry transitions,
 * applied whether they succeed or not.
 */
static void build_state(struct state *st, struct input *in)
{
	uint32_t count = 1 + take(in) % 64;
	uint32_t size = 4096 * (1 + take(in) % 4);
	uint32_t quota = 1 + take(in) % 8;
	uint32_t max_in_flight = 1 + take(in) % 32;
	uint32_t in_flight = take(in) % (max_in_flight + 1);
	uint64_t allowed = take(in);
	unsigned steps;

	allowed |= (uint64_t)take(in) << 8;
	allowed |= (uint64_t)take(in) << 16;
	if (slot_table_init(&st->slots, count, size) < 0 ||
	    fd_registry_init(&st->fds, quota, 2 * quota) < 0)
		fail("state init");
	st->view = (struct validator_view){
		.slots = &st->slots,
		.fds = &st->fds,
		.in_flight = in_flight,
		.max_in_flight = max_in_flight,
		.allowed_ops = allowed,
		.pool_capacity = take(in) % (count + 1),
	};
	steps = take(in);
	for (unsigned i = 0; i < steps && in->n; i++) {
		uint8_t kind = take(in);
		uint32_t idx = take(in);
		uint32_t gen;

		switch (kind % 12) {
		case 0:
			slot_table_begin(&st->slots, idx % count);
			break;
		case 1:
			slot_table_complete(&st->slots, idx % count);
			break;
		case 2:
			slot_table_hand_back(&st->slots, idx % count, &gen);
			break;
		case 3:
			if (st->slots.pooled < st->view.pool_capacity)
				slot_table_pool(&st->slots, idx % count);
			break;
		case 4:
			slot_table_unpool(&st->slots, idx % count);
			break;
		case 5:
			fd_registry_alloc(&st->fds, &idx, &gen);
			break;
		case 6:
			fd_registry_reserve(&st->fds, &idx);
			break;
		case 7:
			fd_registry_adopt(&st->fds, idx % (2 * quota));
			break;
		case 8:
			fd_registry_publish(&st->fds, idx % (2 * quota), &gen);
			break;
		case 9: {
			uint32_t k = idx % (2 * quota);
			const struct fd_entry *e = &st->fds.entries[k];

			if (e->state == FD_LIVE)
				fd_registry_get(&st->fds, k);
			break;
		}
		case 10: {
			uint32_t k = idx % (2 * quota);
			const struct fd_entry *e = &st->fds.entries[k];

			if (e->state == FD_LIVE)
				fd_registry_close(&st->fds, k, e->generation);
			break;
		}
		default: { /* 11 */
			uint32_t k = idx % (2 * quota);
			const struct fd_entry *e = &st->fds.entries[k];

			if (e->in_flight)
				fd_registry_put(&st->fds, k);
			break;
		}
		}
	}
}

static void check_range(const struct state *st, const struct op_slot_ref *r,
			const char *what)
{
	const struct slot *sl = slot_table_get(&st->slots, r->index);

	if (!sl || r->index >= st->slots.count)
		fail("OK with %s slot %u of %u", what, r->index, st->slots.count);
	if (sl->state != SLOT_AVAILABLE)
		fail("OK with %s slot %u in state %u", what, r->index, sl->state);
	if (sl->generation != r->generation)
		fail("OK with %s slot %u generation %u, current %u", what,
		     r->index, r->generation, sl->generation);
	if ((uint64_t)r->offset + r->length > st->slots.size)
		fail("OK with %s slot %u range %u+%u past %u bytes", what,
		     r->index, r->offset, r->length, st->slots.size);
	if ((uint64_t)r->index * st->slots.size + r->offset + r->length >
	    (uint64_t)st->slots.count * st->slots.size)
		fail("OK with a %s range outside the arena", what);
}

/* An OK verdict for @op in view @v must keep validator.h's promises. */
static void check_ok(const struct state *st, const struct validator_view *v,
		     const struct op_request *op)
{
	if (op->opcode >= VALIDATOR_OPCODE_COUNT)
		fail("OK for unknown opcode %u", op->opcode);
	if (!(v->allowed_ops & (1ULL << op->opcode)))
		fail("OK for opcode %u, not allowed", op->opcode);
	if (validator_takes_record(op->opcode) &&
	    (uint64_t)v->in_flight + v->chain_records >= v->max_in_flight)
		fail("OK over the in-flight quota (%u + %u of %u)", v->in_flight,
		     v->chain_records, v->max_in_flight);
	if (op->link > SR_LINK_HARD)
		fail("OK with link kind %u", op->link);
	if (!validator_takes_record(op->opcode) &&
	    (op->link || v->follows_link))
		fail("OK for daemon opcode %u in a chain", op->opcode);
	if (op->opcode == SR_OP_LINK_TIMEOUT &&
	    (!v->follows_link || v->prev_opcode == SR_OP_LINK_TIMEOUT))
		fail("OK for a link timeout that follows no link");
	if (op->has_fd &&
	    fd_registry_lookup(&st->fds, op->fd_index, op->fd_generation) != 0)
		fail("OK with handle (%u, %u), not live and current",
		     op->fd_index, op->fd_generation);
	switch (op->opcode) {
	case SR_OP_NOP:
	case SR_OP_TIMEOUT:
	case SR_OP_LINK_TIMEOUT:
	case SR_OP_POLL_REMOVE:
	case SR_OP_ASYNC_CANCEL:
	case SR_OP_PROVIDE:
		break;
	default:
		if (!op->has_fd)
			fail("OK for opcode %u without a handle", op->opcode);
	}
	if ((op->opcode == SR_OP_READ || op->opcode == SR_OP_WRITE ||
	     op->opcode == SR_OP_PROVIDE) && !op->has_slot)
		fail("OK for opcode %u without a slot", op->opcode);
	if (op->has_slot) {
		const struct op_slot_ref r = {
			op->slot_index, op->slot_generation, op->slot_offset,
			op->slot_length,
		};

		check_range(st, &r, "the");
	}
	if (op->n_iov > VALIDATOR_MAX_IOV)
		fail("OK with %u ranges", op->n_iov);
	for (uint32_t i = 0; i < op->n_iov; i++) {
		check_range(st, &op->iov[i], "an iov");
		for (uint32_t j = 0; j < i; j++)
			if (op->iov[i].index == op->iov[j].index)
				fail("OK with slot %u named twice", op->iov[i].index);
	}
	if ((op->opcode == SR_OP_READV || op->opcode == SR_OP_WRITEV ||
	     op->opcode == SR_OP_SENDMSG || op->opcode == SR_OP_RECVMSG) &&
	    op->n_iov == 0)
		fail("OK for a vectored opcode without ranges");
	if (op->has_file_offset && op->file_offset > INT64_MAX)
		fail("OK with file offset %llu",
		     (unsigned long long)op->file_offset);
	if (op->opcode == SR_OP_FALLOCATE &&
	    (!op->has_length ||
	     op->length > (uint64_t)INT64_MAX - op->file_offset))
		fail("OK for fallocate past loff_t");
	if (op->opcode == SR_OP_CONNECT) {
		sa_family_t family;

		if (!op->has_addr || op->addr_len < sizeof(family))
			fail("OK for connect without an address");
		memcpy(&family, op->addr, sizeof(family));
		if (!((family == AF_INET &&
		       op->addr_len == sizeof(struct sockaddr_in)) ||
		      (family == AF_INET6 &&
		       op->addr_len == sizeof(struct sockaddr_in6))))
			fail("OK for connect to family %u, %u bytes", family,
			     op->addr_len);
	} else if (op->has_addr) {
		fail("OK for opcode %u with an address", op->opcode);
	}
	if (op->opcode == SR_OP_PROVIDE &&
	    (op->slot_offset != 0 || op->slot_length != st->slots.size ||
	     st->slots.pooled >= v->pool_capacity || op->slot_index > UINT16_MAX))
		fail("OK for a provide that is not a whole slot with room");
	if (validator_reserves_fd(op) &&
	    st->fds.live_count + v->chain_fds >= st->fds.quota)
		fail("OK for an accept without a free entry");
}

/* validate_op, twice, checking purity and determinism. */
static enum sr_status validate(struct state *st,
			       const struct validator_view *v,
			       const struct op_request *op)
{
	static struct slot slots_before[64];
	static struct fd_entry fds_before[16];
	struct slot_table t = st->slots;
	struct fd_registry r = st->fds;
	enum sr_status a, b;

	memcpy(slots_before, st->slots.slots, st->slots.count * sizeof(struct slot));
	memcpy(fds_before, st->fds.entries,
	       st->fds.capacity * sizeof(struct fd_entry));
	a = validate_op(v, op);
	b = validate_op(v, op);
	if (a != b)
		fail("verdicts %u then %u for the same operation", a, b);
	if (a >= SR_STATUS__COUNT)
		fail("unknown verdict %u", a);
	if (memcmp(&t, &st->slots, sizeof(t)) || memcmp(&r, &st->fds, sizeof(r)) ||
	    memcmp(slots_before, st->slots.slots,
		   st->slots.count * sizeof(struct slot)) ||
	    memcmp(fds_before, st->fds.entries,
		   st->fds.capacity * sizeof(struct fd_entry)))
		fail("validate_op changed the session state");
	if (op->opcode >= VALIDATOR_OPCODE_COUNT && a != SR_STATUS_UNKNOWN_OP)
		fail("unknown opcode %u answered %u", op->opcode, a);
	if (a == SR_STATUS_OK)
		check_ok(st, v, op);
	return a;
}

/* What session_start_op does to the state for a validated operation. */
static void apply(struct state *st, const struct op_request *op)
{
	uint32_t idx;

	if (op->opcode == SR_OP_PROVIDE) {
		if (slot_table_pool(&st->slots, op->slot_index) < 0)
			fail("validated provide of slot %u failed", op->slot_index);
		return;
	}
	if (op->opcode == SR_OP_CLOSE) {
		if (fd_registry_close(&st->fds, op->fd_index,
				      op->fd_generation) < 0)
			fail("validated close of handle %u failed", op->fd_index);
		return;
	}
	if (validator_reserves_fd(op) && fd_registry_reserve(&st->fds, &idx) < 0)
		fail("validated accept found no entry");
	if (op->has_slot && slot_table_begin(&st->slots, op->slot_index) < 0 &&
	    slot_table_share(&st->slots, op->slot_index) < 0)
		fail("validated slot %u cannot be taken", op->slot_index);
	for (uint32_t i = 0; i < op->n_iov; i++)
		if (slot_table_begin(&st->slots, op->iov[i].index) < 0 &&
		    slot_table_share(&st->slots, op->iov[i].index) < 0)
			fail("validated slot %u cannot be taken", op->iov[i].index);
	if (op->has_fd)
		fd_registry_get(&st->fds, op->fd_index);
	st->view.in_flight++;
}

static void run_chain(struct state *st, size_t first, size_t last,
		      bool runs_off)
{
	struct validator_view v = st->view;
	bool ok = !runs_off;

	for (size_t k = first; k <= last; k++) {
		v.follows_link = k > first;
		v.prev_opcode = k > first ? reqs[k - 1].opcode : 0;
		if (validate(st, &v, &reqs[k]) != SR_STATUS_OK) {
			ok = false;
			/* The session stops at the first refusal. */
			break;
		}
		if (validator_takes_record(reqs[k].opcode))
			v.chain_records++;
		if (validator_reserves_fd(&reqs[k]))
			v.chain_fds++;
	}
	if (!ok)
		return;
	for (size_t k = first; k <= last; k++)
		apply(st, &reqs[k]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wire_arena arena;
	struct input in = { data, size };
	struct state st;
	Saferring__Request *req;

	build_state(&st, &in);
	wire_arena_init(&arena, unpack_buf, sizeof(unpack_buf));
	req = saferring__request__unpack(&arena.allocator, in.n, in.p);
	if (arena.used > arena.size)
		fail("the unpack arena handed out %zu of %zu bytes", arena.used,
		     arena.size);
	if (req && req->body_case == SAFERRING__REQUEST__BODY_SUBMIT &&
	    req->submit->n_ops <= WIRE_MAX_BATCH) {
		size_t n = req->submit->n_ops;

		for (size_t i = 0; i < n; i++)
			request_from_wire(req->submit->ops[i], &reqs[i]);
		for (size_t first = 0; first < n;) {
			size_t last = first;

			while (last < n && reqs[last].link)
				last++;
			bool runs_off = last == n;
			if (runs_off)
				last = n - 1;
			run_chain(&st, first, last, runs_off);
			first = last + 1;
		}
	}
	slot_table_free(&st.slots);
	fd_registry_free(&st.fds);
	return 0;
}
