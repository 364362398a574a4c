/* SPDX-License-Identifier: MIT */
/*
 * threads.c - a client shared by threads (SR_PARAMS_THREADSAFE): one
 * lock around every call, and waits that give it up while they sleep.
 *
 * Every public call takes c->ts_lock for its whole length (client.h's
 * srl_lock), so the state the rest of the library keeps is never seen
 * half-changed.  Only waiting for completions lets go: of the threads
 * that wait, one (the sleeper) sleeps on the transport's descriptors and
 * ts_wake_efd, the others on ts_cond; the sleeper broadcasts ts_cond
 * when it wakes, and whoever queues a completion or fails the session
 * meanwhile rings ts_wake_efd (srl_ts_kick), so no waiter sleeps through
 * what it waits for.  Each then takes in what arrived and pops its own
 * completion under the lock: two threads never get the same one.
 *
 * Must never sleep in poll(2) holding the lock (another thread's
 * submission could be what the wait needs), and never sleep without
 * having looked, under the lock, at what it waits for.
 */
#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "local.h"

int srl_ts_init(struct sr_client *c)
{
	pthread_condattr_t ca;
	int ret;

	c->ts_wake_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->ts_wake_efd < 0)
		return -errno;
	ret = pthread_mutex_init(&c->ts_lock, NULL);
	if (ret)
		return -ret;
	pthread_condattr_init(&ca);
	/* Timed waits count on the same clock as sr_wait_ready. */
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	ret = pthread_cond_init(&c->ts_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (ret) {
		pthread_mutex_destroy(&c->ts_lock);
		return -ret;
	}
	c->ts = true;
	return 0;
}

void srl_ts_free(struct sr_client *c)
{
	if (c->ts) {
		pthread_cond_destroy(&c->ts_cond);
		pthread_mutex_destroy(&c->ts_lock);
		c->ts = false;
	}
	if (c->ts_wake_efd >= 0)
		close(c->ts_wake_efd);
	c->ts_wake_efd = -1;
}

void srl_ts_kick(struct sr_client *c)
{
	uint64_t one = 1;

	if (!c->ts_sleeper || c->ts_kicked)
		return;
	/* Cannot fail: a nonblocking eventfd we ring once per sleep. */
	if (write(c->ts_wake_efd, &one, sizeof(one)) < 0)
		return;
	c->ts_kicked = true;
}

/* Another thread is the sleeper: wait for it to wake. */
static int sr_ts_wait_cond(struct sr_client *c, int64_t timeout_ns)
{
	struct timespec ts;
	int ret;

	if (timeout_ns < 0) {
		pthread_cond_wait(&c->ts_cond, &c->ts_lock);
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ns / 1000000000;
	ts.tv_nsec += timeout_ns % 1000000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	ret = pthread_cond_timedwait(&c->ts_cond, &c->ts_lock, &ts);
	return ret == ETIMEDOUT ? -ETIME : 0;
}

int srl_ts_wait(struct sr_client *c, int64_t timeout_ns)
{
	struct pollfd p[4] = {
		{ .fd = c->ts_wake_efd, .events = POLLIN },
		{ .fd = c->sock, .events = POLLIN },
		{ .fd = c->rings.cq_efd, .events = POLLIN },
	};
	unsigned np = c->rings.on ? 3 : 2;
	struct timespec ts, *tsp = NULL;
	bool ready = false;
	uint64_t n;
	int rc = 1;

	if (c->error)
		return c->error;
	if (c->ts_sleeper)
		return sr_ts_wait_cond(c, timeout_ns);
	/* Spinning keeps the lock: it is short, and bounded (spin.h). */
	if (c->rings.on && srl_rings_spin(c))
		return 0;
	/* An in-process worker runs only under our lock: a pass first, then
	 * its descriptor beside ours while we sleep without the lock. */
	if (c->local) {
		if (srl_local_poll(c->local))
			return 0;
		p[np++] = (struct pollfd){ .fd = srl_local_fd(c->local),
					   .events = POLLIN };
	}
	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	c->ts_sleeper = true;
	c->ts_kicked = false;
	if (c->rings.on)
		ready = srl_rings_sleep_begin(c);
	srl_unlock(c);
	if (!ready)
		rc = ppoll(p, np, tsp, NULL);
	if (rc < 0)
		rc = -errno;
	srl_lock(c);
	srl_local_kick(c);
	if (read(c->ts_wake_efd, &n, sizeof(n)) < 0) {
		/* EAGAIN: nobody kicked. */
	}
	if (c->rings.on)
		srl_rings_sleep_end(c);
	c->ts_sleeper = false;
	pthread_cond_broadcast(&c->ts_cond);
	if (rc < 0)
		return rc;
	return rc ? 0 : -ETIME;
}
