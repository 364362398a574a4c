/* SPDX-License-Identifier: MIT */
/*
 * spin.h - whether polling for the other side of a v2 session is worth a
 * CPU right now, for saferringd and libsaferring alike.
 *
 * Polling instead of sleeping saves a wake-up (tens of microseconds on a
 * paravirtualised machine), but only while the poller has a CPU to
 * itself: with more runnable tasks than CPUs, a spinning daemon and a
 * spinning client take turns on one CPU and each waits a whole time
 * slice for the other.  So a poller looks at the machine's run queue
 * (the running count of /proc/loadavg, itself included) every
 * SPIN_CHECK_US, and stops polling for SPIN_BACKOFF_US when it is longer
 * than the CPUs it may run on, twice in a row.  That misses tasks pinned
 * to one CPU (a client and a daemon sharing it look like two tasks on
 * two CPUs), so a poller also stops when a pass of its idle polling
 * finds it lost the CPU for a whole time slice (SPIN_STOLEN_US): only a
 * runnable task does that; the hypervisor and interrupts make gaps of
 * 50 us hundreds of times a second on an idle machine, but rarely of a
 * millisecond.  Involuntary context switches do not tell: every wake-up
 * of the other side counts as one.
 *
 * Nor is polling worth it when the other side is slow to answer anyway
 * (a disk, a peer across the network): a poller that gives up after its
 * window and sleeps has paid both.  So each poller learns how long its
 * waits take (spin_wait_begin/spin_wait_end: a moving average) and
 * polls only while they have lately been under half its window.
 *
 * Must never sleep, and costs one pread per SPIN_CHECK_US of polling.
 */
#ifndef SAFERRING_SPIN_H
#define SAFERRING_SPIN_H

#include <stdbool.h>
#include <stdint.h>

/* How often a poller asks the scheduler, and how long it stays off
 * polling after finding it contended. */
#define SPIN_CHECK_US 1000U
#define SPIN_CHECKS_OVER 2U
#define SPIN_BACKOFF_US 10000U
#define SPIN_STOLEN_US 1000U

struct spin_guard {
	int loadavg_fd;         /* /proc/loadavg; -1: never contended */
	unsigned ncpus;         /* CPUs this thread may run on */
	unsigned over;          /* checks in a row that found a long queue */
	uint64_t next_check_us; /* when to look again */
	uint64_t off_until_us;  /* contended: no polling before this */
	uint64_t last_idle_us;  /* the last idle poll, 0 after work */
	uint64_t wait_since_us; /* the wait in progress began; 0: none */
	uint32_t wait_avg_us8;  /* waits' moving average, in 1/8 us */
	uint32_t unworthy;      /* waits not polled for since the last probe */
	uint64_t probe_until_us; /* a probe polls until then */
};

/* Longest wait spin_learn() takes in: a longer one (a night's sleep)
 * says no more than this about the next. */
#define SPIN_WAIT_CAP_US 2000U
/* One wait in this many is polled for anyway (spin_worth). */
#define SPIN_PROBE_EVERY 8U

/* Open what it reads (before a seccomp filter forbids it).  0, or
 * -errno: then it never finds contention. */
int spin_guard_init(struct spin_guard *g);
void spin_guard_free(struct spin_guard *g);

/* CLOCK_MONOTONIC in microseconds. */
uint64_t spin_now_us(void);

/* Called while polling: true when polling should stop, because more
 * tasks are runnable than there are CPUs (and then for SPIN_BACKOFF_US). */
bool spin_contended(struct spin_guard *g, uint64_t now);

/* One pass of polling found nothing to do: true (and backing off) when
 * the previous idle pass was a time slice ago, i.e. another task ran on
 * this CPU meanwhile.  Call spin_worked() when a pass did work. */
bool spin_idle(struct spin_guard *g, uint64_t now);

static inline void spin_worked(struct spin_guard *g)
{
	g->last_idle_us = 0;
}

/* A wait begins at @now, unless one is in progress already. */
static inline void spin_wait_begin(struct spin_guard *g, uint64_t now)
{
	if (!g->wait_since_us)
		g->wait_since_us = now;
}

/* A wait took @took_us: learn it (capped at SPIN_WAIT_CAP_US). */
void spin_learn(struct spin_guard *g, uint64_t took_us);

/* The wait in progress (if any) ended at @now: learn its length. */
void spin_wait_end(struct spin_guard *g, uint64_t now);

/* A wait is in progress (spin_wait_end would learn something). */
static inline bool spin_waiting(const struct spin_guard *g)
{
	return g->wait_since_us != 0;
}

/* Should a wait that begins at @now be polled for, with @window_us?  Yes
 * while waits have lately averaged under half the window.  Else only one
 * wait in SPIN_PROBE_EVERY, polled for the whole window: a wait that was
 * slept through lasted its wake-up too, so without such probes a poller
 * that once stopped would learn only long waits and never poll again. */
bool spin_worth(struct spin_guard *g, uint32_t window_us, uint64_t now);

/* Polling is off (backing off) at @now, without asking the scheduler. */
static inline bool spin_backing_off(const struct spin_guard *g, uint64_t now)
{
	return now < g->off_until_us;
}

/* One step of a busy-wait: tell the CPU (and a hyperthread sibling). */
static inline void spin_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

#endif
