/* SPDX-License-Identifier: MIT */
/*
 * test_prop_tables.c - model-based property test of the daemon's slot
 * table, fd registry and validator together, without a kernel.
 *
 * Each seed runs a random sequence of what a session does to them -
 * validate a READ naming any (handle, generation) and (slot, generation,
 * range) and begin it when OK, complete operations, pool and unpool
 * slots, allocate, release and close handles - against a reference model
 * written from the headers' contracts (slot_table.h, fd_registry.h,
 * validator.h's check order), and compares every return value, verdict
 * and generation, and after every step the whole of both tables.  Stale
 * references are generated on purpose: old generations of live slots and
 * handles, released indices, indices past the end.  Some generations
 * start next to UINT32_MAX so that the wrap (which skips 0) is crossed.
 *
 * Where the end-to-end test_properties drives the library, which refuses
 * most stale references itself, this reaches every refusal status of the
 * daemon's own tables, many more times per second.
 *
 * SR_PROP_SEED=N runs seed N alone, SR_PROP_SEEDS=N that many seeds; a
 * failure prints the command line that replays it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validator.h"
#include "../lib/prng.h"

#define NSLOTS 5
#define SLOT_SIZE 4096U
#define QUOTA 3
#define CAPACITY (2 * QUOTA)
#define MAX_IN_FLIGHT 6
#define STEPS 200
#define DEFAULT_SEEDS 100000

struct mslot {
	uint32_t gen;
	enum slot_state state;
	uint16_t refs;
};

struct mfd {
	uint32_t gen;
	enum fd_state state;
	uint32_t in_flight;
};

struct mop {
	bool on;
	uint32_t slot, fd;
};

static struct {
	struct mslot s[NSLOTS];
	struct mfd f[CAPACITY];
	struct mop op[MAX_IN_FLIGHT];
	uint32_t in_flight;
} m;

static struct slot_table st;
static struct fd_registry fr;
static uint64_t cur_seed;
static unsigned cur_step;
static const char *cur_what;

static void pfail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void pfail(const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "property failed, seed %" PRIu64 " step %u (%s): %s\n"
		"replay: SR_PROP_SEED=%" PRIu64 " %s\n", cur_seed, cur_step,
		cur_what, msg, cur_seed, program_invocation_name);
	fail_msg("seed %" PRIu64 ": %s", cur_seed, msg);
}

static void expect(const char *what, long got, long want)
{
	if (got != want)
		pfail("%s returned %ld, model expected %ld", what, got, want);
}

static uint32_t next_gen(uint32_t g)
{
	return g + 1 ? g + 1 : 1;
}

/* A generation for a reference to something whose current one is @cur:
 * mostly current, else one it had or will have, or anything. */
static uint32_t pick_gen(uint32_t cur)
{
	switch (rng_below(6)) {
	case 0:
		return cur - 1;
	case 1:
		return next_gen(cur);
	case 2:
		return (uint32_t)rng_next();
	default:
		return cur;
	}
}

static uint32_t live_count(void)
{
	uint32_t n = 0;

	for (int i = 0; i < CAPACITY; i++)
		n += m.f[i].state != FD_FREE;
	return n;
}

static void compare_all(void)
{
	uint32_t busy = 0, pooled = 0;

	for (uint32_t i = 0; i < NSLOTS; i++) {
		const struct slot *s = slot_table_get(&st, i);

		if (s->generation != m.s[i].gen || s->state != m.s[i].state ||
		    (s->state == SLOT_IN_FLIGHT && s->refs != m.s[i].refs))
			pfail("slot %u: generation %u state %u refs %u, model %u "
			      "%u %u", i, s->generation, s->state, s->refs,
			      m.s[i].gen, m.s[i].state, m.s[i].refs);
		busy += m.s[i].state != SLOT_AVAILABLE;
		pooled += m.s[i].state == SLOT_POOLED;
	}
	if (slot_table_get(&st, NSLOTS))
		pfail("slot_table_get past the end is not NULL");
	if (st.busy != busy || st.pooled != pooled)
		pfail("slot table busy %u pooled %u, model %u %u", st.busy,
		      st.pooled, busy, pooled);
	for (uint32_t i = 0; i < CAPACITY; i++) {
		const struct fd_entry *e = &fr.entries[i];

		if (e->generation != m.f[i].gen || e->state != m.f[i].state ||
		    e->in_flight != m.f[i].in_flight)
			pfail("fd %u: generation %u state %u in_flight %u, model "
			      "%u %u %u", i, e->generation, e->state,
			      e->in_flight, m.f[i].gen, m.f[i].state,
			      m.f[i].in_flight);
		if (fd_registry_busy(&fr, i) != (m.f[i].in_flight != 0))
			pfail("fd_registry_busy(%u) disagrees", i);
	}
	if (fr.live_count != live_count())
		pfail("fd registry live_count %u, model %u", fr.live_count,
		      live_count());
}

/* validator.h's order, for a READ on a descriptor of no special kind. */
static enum sr_status model_verdict(const struct op_request *o)
{
	if (m.in_flight >= MAX_IN_FLIGHT)
		return SR_STATUS_QUOTA;
	if (o->fd_index >= CAPACITY || m.f[o->fd_index].state != FD_LIVE)
		return SR_STATUS_BAD_HANDLE;
	if (m.f[o->fd_index].gen != o->fd_generation)
		return SR_STATUS_STALE_HANDLE;
	if (o->slot_index >= NSLOTS)
		return SR_STATUS_BAD_SLOT;
	if (m.s[o->slot_index].state != SLOT_AVAILABLE)
		return SR_STATUS_BUFFER_IN_FLIGHT;
	if (m.s[o->slot_index].gen != o->slot_generation)
		return SR_STATUS_STALE_GENERATION;
	if ((uint64_t)o->slot_offset + o->slot_length > SLOT_SIZE)
		return SR_STATUS_OUT_OF_BOUNDS;
	if (o->file_offset > INT64_MAX)
		return SR_STATUS_OUT_OF_BOUNDS;
	return SR_STATUS_OK;
}

static void act_submit(void)
{
	uint32_t fi = rng_below(CAPACITY + 1), si = rng_below(NSLOTS + 1);
	uint32_t off = rng_below(SLOT_SIZE);
	struct op_request o = {
		.tag = 1,
		.opcode = SR_OP_READ,
		.has_fd = true,
		.fd_index = fi,
		.fd_generation = pick_gen(fi < CAPACITY ? m.f[fi].gen : 1),
		.has_slot = true,
		.slot_index = si,
		.slot_generation = pick_gen(si < NSLOTS ? m.s[si].gen : 1),
		.slot_offset = off,
		.slot_length = 1 + rng_below(SLOT_SIZE - off),
		.has_file_offset = true,
		.file_offset = rng_pct(3) ? (uint64_t)INT64_MAX + 1 :
					    rng_below(1 << 20),
	};
	struct validator_view v = {
		.slots = &st,
		.fds = &fr,
		.in_flight = m.in_flight,
		.max_in_flight = MAX_IN_FLIGHT,
		.allowed_ops = (1ULL << VALIDATOR_OPCODE_COUNT) - 1,
		.pool_capacity = NSLOTS,
		.file_size_limit = UINT64_MAX,
	};
	enum sr_status want, got;

	cur_what = "validate";
	if (rng_pct(5))
		o.slot_length = SLOT_SIZE - off + 1 + rng_below(UINT32_MAX / 2);
	want = model_verdict(&o);
	got = validate_op(&v, &o);
	if (got != want)
		pfail("READ fd (%u, %u) slot (%u, %u) [%u+%u] at %" PRIu64
		      ": %s, model expected %s", o.fd_index, o.fd_generation,
		      o.slot_index, o.slot_generation, o.slot_offset,
		      o.slot_length, o.file_offset, sr_strstatus(got),
		      sr_strstatus(want));
	if (got != SR_STATUS_OK)
		return;
	/* What the session does with an OK verdict. */
	expect("slot_table_begin", slot_table_begin(&st, si), 0);
	fd_registry_get(&fr, fi);
	m.s[si].gen = next_gen(m.s[si].gen);
	m.s[si].state = SLOT_IN_FLIGHT;
	m.s[si].refs = 1;
	m.f[fi].in_flight++;
	for (int i = 0; i < MAX_IN_FLIGHT; i++)
		if (!m.op[i].on) {
			m.op[i] = (struct mop){ .on = true, .slot = si, .fd = fi };
			break;
		}
	m.in_flight++;
}

static void act_complete(void)
{
	int cand[MAX_IN_FLIGHT], n = 0;
	uint32_t gen = 0;

	cur_what = "complete";
	for (int i = 0; i < MAX_IN_FLIGHT; i++)
		if (m.op[i].on)
			cand[n++] = i;
	if (!n)
		return;
	struct mop *o = &m.op[cand[rng_below((uint32_t)n)]];
	bool frees = m.f[o->fd].state == FD_CLOSING && m.f[o->fd].in_flight == 1;

	expect("slot_table_complete", slot_table_complete(&st, o->slot), 0);
	expect("slot_table_hand_back",
	       slot_table_hand_back(&st, o->slot, &gen), 0);
	/* Bumped again, so that the in-flight generation is stale too. */
	m.s[o->slot].gen = next_gen(m.s[o->slot].gen);
	m.s[o->slot].state = SLOT_AVAILABLE;
	m.s[o->slot].refs = 0;
	expect("hand_back generation", gen, m.s[o->slot].gen);
	expect("fd_registry_put", fd_registry_put(&fr, o->fd), frees);
	m.f[o->fd].in_flight--;
	if (frees)
		m.f[o->fd].state = FD_FREE;
	o->on = false;
	m.in_flight--;
}

/* Calls made in the wrong state must be refused and change nothing. */
static void act_wrong_slot_call(void)
{
	uint32_t i = rng_below(NSLOTS + 1), gen;
	enum slot_state s = i < NSLOTS ? m.s[i].state : SLOT_AVAILABLE;
	int want;

	switch (rng_below(4)) {
	case 0:
		cur_what = "begin";
		if (i < NSLOTS && s == SLOT_AVAILABLE)
			return; /* that one is act_submit's */
		want = i >= NSLOTS ? -ENXIO : -EBUSY;
		expect("slot_table_begin", slot_table_begin(&st, i), want);
		return;
	case 1:
		cur_what = "complete (wrong)";
		if (i < NSLOTS && s == SLOT_IN_FLIGHT)
			return;
		want = i >= NSLOTS ? -ENXIO : -EINVAL;
		expect("slot_table_complete", slot_table_complete(&st, i),
		       want);
		return;
	case 2:
		cur_what = "hand_back (wrong)";
		want = i >= NSLOTS ? -ENXIO : -EINVAL;
		expect("slot_table_hand_back",
		       slot_table_hand_back(&st, i, &gen), want);
		return;
	default:
		cur_what = "unpool (wrong)";
		if (i < NSLOTS && s == SLOT_POOLED)
			return;
		want = i >= NSLOTS ? -ENXIO : -EINVAL;
		expect("slot_table_unpool", slot_table_unpool(&st, i), want);
		return;
	}
}

static void act_pool(void)
{
	uint32_t i = rng_below(NSLOTS + 1);
	int want;

	cur_what = "pool";
	want = i >= NSLOTS ? -ENXIO :
	       m.s[i].state != SLOT_AVAILABLE ? -EBUSY : 0;
	expect("slot_table_pool", slot_table_pool(&st, i), want);
	if (want)
		return;
	m.s[i].gen = next_gen(m.s[i].gen);
	m.s[i].state = SLOT_POOLED;
}

/* The kernel picks a pooled slot; its completion hands it back. */
static void act_unpool(void)
{
	uint32_t i = rng_below(NSLOTS), gen = 0;

	cur_what = "unpool";
	if (m.s[i].state != SLOT_POOLED)
		return;
	expect("slot_table_unpool", slot_table_unpool(&st, i), 0);
	expect("slot_table_hand_back", slot_table_hand_back(&st, i, &gen), 0);
	m.s[i].gen = next_gen(m.s[i].gen);
	m.s[i].state = SLOT_AVAILABLE;
	expect("hand_back generation", gen, m.s[i].gen);
}

static void act_alloc(void)
{
	uint32_t idx = UINT32_MAX, gen = 0;
	int r = fd_registry_alloc(&fr, &idx, &gen);
	uint32_t want = UINT32_MAX;

	cur_what = "alloc";
	for (uint32_t i = 0; i < QUOTA; i++)
		if (m.f[i].state == FD_FREE) {
			want = i;
			break;
		}
	if (live_count() >= QUOTA) {
		expect("fd_registry_alloc", r, -EMFILE);
		return;
	}
	expect("fd_registry_alloc", r, 0);
	/* The lowest free index the daemon may hand out. */
	expect("fd_registry_alloc index", idx, want);
	expect("fd_registry_alloc generation", gen, m.f[idx].gen);
	m.f[idx].state = FD_LIVE;
	m.f[idx].in_flight = 0;
}

static int model_lookup(uint32_t i, uint32_t gen)
{
	if (i >= CAPACITY || m.f[i].state != FD_LIVE)
		return -EBADF;
	return m.f[i].gen == gen ? 0 : -ESTALE;
}

static void act_release_or_close(void)
{
	uint32_t i = rng_below(CAPACITY + 1);
	uint32_t gen = pick_gen(i < CAPACITY ? m.f[i].gen : 1);
	bool close = rng_pct(50);
	int want = model_lookup(i, gen), r;

	expect("fd_registry_lookup", fd_registry_lookup(&fr, i, gen), want);
	if (close) {
		cur_what = "close";
		if (!want)
			want = m.f[i].in_flight ? 1 : 0;
		r = fd_registry_close(&fr, i, gen);
		expect("fd_registry_close", r, want);
	} else {
		cur_what = "release";
		if (!want && m.f[i].in_flight)
			want = -EBUSY;
		r = fd_registry_release(&fr, i, gen);
		expect("fd_registry_release", r, want);
	}
	if (r < 0)
		return;
	/* The handle dies now, whatever the kernel still holds. */
	m.f[i].gen = next_gen(m.f[i].gen);
	m.f[i].state = r == 1 ? FD_CLOSING : FD_FREE;
}

static void run_seed(uint64_t seed)
{
	cur_seed = seed;
	rng_state = seed;
	memset(&m, 0, sizeof(m));
	assert_int_equal(slot_table_init(&st, NSLOTS, SLOT_SIZE), 0);
	assert_int_equal(fd_registry_init(&fr, QUOTA, CAPACITY), 0);
	for (int i = 0; i < NSLOTS; i++) {
		m.s[i].gen = SLOT_FIRST_GENERATION;
		/* A few hand-overs from the wrap, which skips 0. */
		if (rng_pct(20))
			st.slots[i].generation = m.s[i].gen =
				UINT32_MAX - rng_below(4);
	}
	for (int i = 0; i < CAPACITY; i++) {
		m.f[i].gen = 1;
		if (rng_pct(20))
			fr.entries[i].generation = m.f[i].gen =
				UINT32_MAX - rng_below(3);
	}
	for (cur_step = 0; cur_step < STEPS; cur_step++) {
		unsigned a = rng_below(100);

		if (a < 35)
			act_submit();
		else if (a < 55)
			act_complete();
		else if (a < 62)
			act_wrong_slot_call();
		else if (a < 68)
			act_pool();
		else if (a < 73)
			act_unpool();
		else if (a < 85)
			act_alloc();
		else
			act_release_or_close();
		compare_all();
	}
	slot_table_free(&st);
	fd_registry_free(&fr);
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : dflt;
}

static void test_model(void **state)
{
	uint64_t first = 1, n = env_u64("SR_PROP_SEEDS", DEFAULT_SEEDS);

	if (getenv("SR_PROP_SEED")) {
		first = env_u64("SR_PROP_SEED", 1);
		n = 1;
	}
	printf("test_prop_tables: %" PRIu64 " seeds (%" PRIu64 "..%" PRIu64
	       "), %d steps each\n", n, first, first + n - 1, STEPS);
	for (uint64_t s = first; s < first + n; s++)
		run_seed(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
