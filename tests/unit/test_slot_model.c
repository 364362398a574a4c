/* SPDX-License-Identifier: MIT */
/*
 * test_slot_model.c - the slot pool of a client shared by threads
 * (client/slot_pool.h), explored exhaustively for 2 and 3 threads, in
 * the spirit of the original design's loom tests.
 *
 * Each model thread runs rounds of what a thread of a real client does
 * with a slot: acquire it (sr_slot_acquire), prepare an operation naming
 * it (sr_prep_*), reap a completion (sr_wait_cqe: any thread's, the one
 * the daemon chose), and release its slot (sr_slot_release), reaping
 * again and retrying while the release answers -EBUSY.  Every step is a
 * call of slot_pool.h's own functions; a read-modify-write of the free
 * list's head is two steps (read, then write), and each lock and unlock
 * is a step of its own.  The explorer runs every step of every thread
 * from every reachable state (depth first, each state once), and after
 * each step checks that:
 *   - the free list ends within slot_count links and holds FREE slots;
 *   - each slot is either on the free list or held by one thread, never
 *     both, never two threads, never neither (none lost);
 *   - a held slot is ACQUIRED, or IN_FLIGHT exactly while its operation
 *     is, with one reference;
 *   - a slot's generation went up once for each completion of it;
 *   - only the lock's owner is inside a locked section;
 *   - -ENOBUFS means every slot was held;
 * that some thread can always move until all are done (no deadlock), and
 * that at the end every slot is free again.
 *
 * test_explorer_finds_race runs the same with sr_slot_acquire's lock
 * left out (its read and its write of the head are then a read-modify-
 * write another thread can come between): the explorer must find a slot
 * lost or held twice, or it could not fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../../client/slot_pool.h"

#define MAX_T 3
#define MAX_S 3
#define NOBODY 0xff

/* Where a model thread is in its round. */
enum pc {
	ACQ_LOCK, ACQ_PEEK, ACQ_UNLINK, ACQ_UNLOCK,
	PREP_LOCK, PREP, PREP_UNLOCK,
	REAP_LOCK, REAP, REAP_UNLOCK,
	REL_LOCK, REL_UNHOLD, REL_READ, REL_LINK, REL_UNLOCK,
	DONE,
};

struct mthread {
	uint8_t pc;
	uint8_t round;
	uint8_t slot;  /* held, or NOBODY */
	uint8_t next;  /* ACQ_PEEK's: what the head linked to */
	uint8_t peek;  /* ACQ_PEEK's head */
	uint8_t old_head; /* REL_READ's */
	uint8_t busy;  /* the release said -EBUSY: reap, then retry */
};

struct mstate {
	struct sr_slot slots[MAX_S];
	uint32_t head;
	uint8_t lock;              /* owner, or NOBODY */
	uint8_t in_flight[MAX_S];  /* 1: its operation is in flight */
	uint8_t completions[MAX_S];
	struct mthread th[MAX_T];
};

struct config {
	unsigned threads, slots, rounds;
	bool acquire_unlocked; /* the deliberate bug */
};

struct explorer {
	const struct config *cfg;
	/* Visited states, open addressing on their bytes. */
	struct mstate *table;
	size_t cap, count;
	unsigned long transitions, finals;
	char violation[256];
	/* The steps from the start to where the explorer is, to print. */
	struct { uint8_t t, pc; } path[256];
	unsigned depth;
};

static const char *const pc_name[] = {
	"acquire: lock", "acquire: read head", "acquire: write head",
	"acquire: unlock", "prep: lock", "prep", "prep: unlock",
	"reap: lock", "reap", "reap: unlock", "release: lock",
	"release: state", "release: read head", "release: write head",
	"release: unlock", "done",
};

static uint8_t u8(uint32_t v)
{
	return v == SR_NONE ? NOBODY : (uint8_t)v;
}

static uint32_t u32(uint8_t v)
{
	return v == NOBODY ? SR_NONE : v;
}

static uint64_t hash_state(const struct mstate *s)
{
	const unsigned char *p = (const unsigned char *)s;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < sizeof(*s); i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

static bool is_empty(const struct mstate *s)
{
	return s->lock == 0 && s->th[0].pc == 0 && s->th[0].round == 0 &&
	       s->th[0].slot == 0 && s->head == 0 && s->slots[0].state == 0 &&
	       s->slots[0].next_free == 0;
}

/* Whether @s is new (and now recorded).  A zeroed entry is empty: no
 * reachable state is all zeros (slot 0's next_free is never 0). */
static bool visit(struct explorer *x, const struct mstate *s)
{
	size_t i;

	if (2 * (x->count + 1) > x->cap) {
		struct mstate *old = x->table;
		size_t ocap = x->cap;

		x->cap = ocap ? 2 * ocap : 1 << 12;
		x->table = calloc(x->cap, sizeof(*x->table));
		assert_non_null(x->table);
		x->count = 0;
		for (size_t j = 0; j < ocap; j++)
			if (!is_empty(&old[j]))
				visit(x, &old[j]);
		free(old);
	}
	for (i = hash_state(s) & (x->cap - 1); !is_empty(&x->table[i]);
	     i = (i + 1) & (x->cap - 1))
		if (!memcmp(&x->table[i], s, sizeof(*s)))
			return false;
	memcpy(&x->table[i], s, sizeof(*s));
	x->count++;
	return true;
}

static bool violate(struct explorer *x, const char *what, unsigned a)
{
	if (!x->violation[0])
		snprintf(x->violation, sizeof(x->violation), "%s (%u)", what,
			 a);
	return false;
}

static bool in_locked_section(const struct config *c, uint8_t pc)
{
	switch (pc) {
	case ACQ_PEEK:
	case ACQ_UNLINK:
		return !c->acquire_unlocked;
	case PREP:
	case REAP:
	case REL_UNHOLD:
	case REL_READ:
	case REL_LINK:
		return true;
	default:
		return false;
	}
}

static bool check(struct explorer *x, const struct mstate *s)
{
	const struct config *c = x->cfg;
	uint8_t where[MAX_S] = { 0 }; /* 1 listed, 2 held */
	uint32_t i = s->head;
	unsigned n = 0;

	while (i != SR_NONE) {
		if (i >= c->slots || n++ >= c->slots)
			return violate(x, "free list runs away", i);
		if (where[i])
			return violate(x, "slot twice on the free list", i);
		if (s->slots[i].state != SR_SLOT_FREE)
			return violate(x, "slot on the free list is not FREE", i);
		where[i] = 1;
		i = s->slots[i].next_free;
	}
	for (unsigned t = 0; t < c->threads; t++) {
		const struct mthread *m = &s->th[t];
		const struct sr_slot *sl;

		if (in_locked_section(c, m->pc) && s->lock != t)
			return violate(x, "thread in a locked section without "
				    "the lock", t);
		if (m->slot == NOBODY)
			continue;
		if (where[m->slot] == 1)
			return violate(x, "held slot is on the free list", m->slot);
		if (where[m->slot] == 2)
			return violate(x, "slot held by two threads", m->slot);
		where[m->slot] = 2;
		sl = &s->slots[m->slot];
		if (s->in_flight[m->slot] ?
		    sl->state != SR_SLOT_IN_FLIGHT || sl->refs != 1 :
		    sl->state != SR_SLOT_ACQUIRED &&
		    !(sl->state == SR_SLOT_FREE &&
		      (m->pc == REL_READ || m->pc == REL_LINK)))
			return violate(x, "held slot in the wrong state", m->slot);
	}
	for (unsigned k = 0; k < c->slots; k++) {
		if (!where[k])
			return violate(x, "slot lost: neither free nor held", k);
		if (s->slots[k].generation != s->completions[k])
			return violate(x, "generation not bumped once per "
				    "completion", k);
	}
	return true;
}

static bool take_lock(struct mstate *s, unsigned t)
{
	if (s->lock != NOBODY)
		return false;
	s->lock = (uint8_t)t;
	return true;
}

/*
 * Thread @t's step from @s into @n, with completion @which for REAP
 * (the daemon completes any operation in flight).  false when the step
 * cannot run now (the lock is taken, or there is no such completion).
 */
static bool step(struct explorer *x, const struct mstate *s,
		 struct mstate *n, unsigned t, unsigned which)
{
	const struct config *c = x->cfg;
	struct mthread *m;
	uint32_t head;

	memcpy(n, s, sizeof(*n));
	m = &n->th[t];
	head = n->head;
	if (m->pc != REAP && which)
		return false;
	switch ((enum pc)m->pc) {
	case ACQ_LOCK:
		if (!c->acquire_unlocked && !take_lock(n, t))
			return false;
		m->pc = ACQ_PEEK;
		return true;
	case ACQ_PEEK: {
		uint32_t next;

		m->peek = u8(slot_pool_peek(n->slots, &head, &next));
		m->next = u8(next);
		if (m->peek == NOBODY) {
			/* -ENOBUFS: this round has no slot.  Only when
			 * other threads hold every one. */
			unsigned held = 0;

			for (unsigned u = 0; u < c->threads; u++)
				held += n->th[u].slot != NOBODY;
			if (held != c->slots)
				violate(x, "-ENOBUFS with a slot not held", t);
			m->pc = ACQ_UNLOCK;
			return true;
		}
		m->pc = ACQ_UNLINK;
		return true;
	}
	case ACQ_UNLINK:
		slot_pool_unlink(n->slots, &n->head, u32(m->peek),
				 u32(m->next));
		m->slot = m->peek;
		m->pc = ACQ_UNLOCK;
		return true;
	case ACQ_UNLOCK:
		if (!c->acquire_unlocked)
			n->lock = NOBODY;
		m->peek = m->next = 0;
		if (m->slot == NOBODY) {
			m->round++;
			m->pc = m->round < c->rounds ? ACQ_LOCK : DONE;
		} else {
			m->pc = PREP_LOCK;
		}
		return true;
	case PREP_LOCK:
	case REAP_LOCK:
	case REL_LOCK:
		if (!take_lock(n, t))
			return false;
		m->pc++;
		return true;
	case PREP:
		slot_pool_take(&n->slots[m->slot], 1);
		n->in_flight[m->slot] = 1;
		m->pc = PREP_UNLOCK;
		return true;
	case REAP: {
		/* which 0: nothing was in flight (-ENODATA); k + 1: the
		 * completion of slot k's operation. */
		bool any = false;

		for (unsigned k = 0; k < c->slots; k++)
			any |= n->in_flight[k];
		if (!which) {
			if (any)
				return false;
		} else {
			unsigned k = which - 1;

			if (!n->in_flight[k])
				return false;
			if (!slot_pool_put_back(&n->slots[k]))
				violate(x, "last reference did not bring the "
					"slot back", k);
			/* The daemon's bump, as cqe.c copies it. */
			n->slots[k].generation++;
			n->completions[k]++;
			n->in_flight[k] = 0;
		}
		m->pc = REAP_UNLOCK;
		return true;
	}
	case REL_UNHOLD: {
		int r = slot_pool_unhold(n->slots, m->slot);

		if (r == -EBUSY) {
			m->busy = 1;
			m->pc = REL_UNLOCK;
			return true;
		}
		if (r) {
			violate(x, "release refused", (unsigned)-r);
			return true;
		}
		m->pc = REL_READ;
		return true;
	}
	case REL_READ:
		m->old_head = u8(n->head);
		m->pc = REL_LINK;
		return true;
	case REL_LINK:
		slot_pool_link(n->slots, &n->head, m->slot, u32(m->old_head));
		m->slot = NOBODY;
		m->old_head = 0;
		m->pc = REL_UNLOCK;
		return true;
	case PREP_UNLOCK:
	case REAP_UNLOCK:
	case REL_UNLOCK:
		n->lock = NOBODY;
		if (m->pc == REL_UNLOCK && m->busy) {
			m->busy = 0;
			m->pc = REAP_LOCK;
		} else if (m->pc == REL_UNLOCK) {
			m->round++;
			m->pc = m->round < c->rounds ? ACQ_LOCK : DONE;
		} else {
			m->pc++;
		}
		return true;
	case DONE:
	default:
		return false;
	}
}

static bool explore(struct explorer *x, const struct mstate *s)
{
	const struct config *c = x->cfg;
	bool moved = false, all_done = true;
	struct mstate n;

	if (!check(x, s))
		return false;
	for (unsigned t = 0; t < c->threads; t++) {
		all_done &= s->th[t].pc == DONE;
		for (unsigned which = 0; which <= c->slots; which++) {
			if (!step(x, s, &n, t, which))
				continue;
			if (x->violation[0])
				return false;
			moved = true;
			x->transitions++;
			x->path[x->depth].t = (uint8_t)t;
			x->path[x->depth++].pc = s->th[t].pc;
			if (visit(x, &n) && !explore(x, &n))
				return false;
			x->depth--;
		}
	}
	if (all_done) {
		x->finals++;
		for (unsigned k = 0; k < c->slots; k++)
			if (s->slots[k].state != SR_SLOT_FREE)
				return violate(x, "slot not free at the end", k);
		return true;
	}
	return moved || violate(x, "deadlock: nobody can move", 0);
}

/* Explore @c; the violation found, or NULL. */
static const char *run(const struct config *c, struct explorer *x)
{
	struct mstate s;
	struct timespec a, b;

	memset(x, 0, sizeof(*x));
	x->cfg = c;
	memset(&s, 0, sizeof(s));
	/* As sr_alloc_tables builds it: low indices first. */
	for (unsigned k = 0; k < c->slots; k++)
		s.slots[k].next_free = k + 1 < c->slots ? k + 1 : SR_NONE;
	s.head = 0;
	s.lock = NOBODY;
	for (unsigned t = 0; t < MAX_T; t++)
		s.th[t] = (struct mthread){ .pc = t < c->threads ? ACQ_LOCK :
						  DONE, .slot = NOBODY };
	clock_gettime(CLOCK_MONOTONIC, &a);
	visit(x, &s);
	explore(x, &s);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("model: %u threads, %u slots, %u rounds%s: %zu states, "
	       "%lu steps, %lu end states, %.2f s%s%s\n", c->threads, c->slots,
	       c->rounds, c->acquire_unlocked ? ", acquire unlocked" : "",
	       x->count, x->transitions, x->finals,
	       (double)(b.tv_sec - a.tv_sec) +
	       (double)(b.tv_nsec - a.tv_nsec) / 1e9,
	       x->violation[0] ? ": " : "", x->violation);
	free(x->table);
	for (unsigned i = 0; x->violation[0] && i < x->depth; i++)
		printf("  thread %u: %s\n", x->path[i].t,
		       pc_name[x->path[i].pc]);
	return x->violation[0] ? x->violation : NULL;
}

static void test_two_threads(void **state)
{
	/* Fewer slots than threads: -ENOBUFS and -EBUSY both happen. */
	const struct config c1 = { .threads = 2, .slots = 1, .rounds = 3 };
	const struct config c2 = { .threads = 2, .slots = 2, .rounds = 3 };
	struct explorer x;

	(void)state;
	assert_null(run(&c1, &x));
	assert_true(x.finals > 0);
	assert_null(run(&c2, &x));
	assert_true(x.finals > 0);
}

static void test_three_threads(void **state)
{
	const struct config c1 = { .threads = 3, .slots = 2, .rounds = 2 };
	const struct config c2 = { .threads = 3, .slots = 3, .rounds = 2 };
	struct explorer x;

	(void)state;
	assert_null(run(&c1, &x));
	assert_true(x.finals > 0);
	assert_null(run(&c2, &x));
	assert_true(x.finals > 0);
}

static void test_explorer_finds_race(void **state)
{
	const struct config c = { .threads = 2, .slots = 2, .rounds = 1,
				  .acquire_unlocked = true };
	struct explorer x;
	const char *v;

	(void)state;
	/* A stale head written back loses a slot, or hands one out twice:
	 * whichever the search meets first. */
	v = run(&c, &x);
	assert_non_null(v);
	assert_true(strstr(v, "slot lost") ||
		    strstr(v, "slot held by two threads"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_threads),
		cmocka_unit_test(test_three_threads),
		cmocka_unit_test(test_explorer_finds_race),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
