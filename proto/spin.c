/* SPDX-License-Identifier: MIT */
/*
 * spin.c - see spin.h.
 */
#include "spin.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

uint64_t spin_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int spin_guard_init(struct spin_guard *g)
{
	cpu_set_t set;

	*g = (struct spin_guard){ .loadavg_fd = -1, .ncpus = 1 };
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		g->ncpus = (unsigned)CPU_COUNT(&set);
	g->loadavg_fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
	return g->loadavg_fd < 0 ? -errno : 0;
}

void spin_guard_free(struct spin_guard *g)
{
	if (g->loadavg_fd >= 0)
		close(g->loadavg_fd);
	g->loadavg_fd = -1;
}

/* Tasks runnable on the whole machine now ("3/345" in /proc/loadavg),
 * ourselves included; -1 when it cannot be read. */
static long spin_runnable(int fd)
{
	char buf[128], *p, *end;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	int field = 0;

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	for (p = buf; *p && field < 3; p++)
		if (*p == ' ')
			field++;
	if (field < 3)
		return -1;
	long v = strtol(p, &end, 10);
	return end == p || *end != '/' ? -1 : v;
}

void spin_learn(struct spin_guard *g, uint64_t took_us)
{
	if (took_us > SPIN_WAIT_CAP_US)
		took_us = SPIN_WAIT_CAP_US;
	/* avg += (sample - avg) / 8, in eighths of a microsecond. */
	g->wait_avg_us8 = (uint32_t)(g->wait_avg_us8 + took_us -
				     g->wait_avg_us8 / 8);
}

void spin_wait_end(struct spin_guard *g, uint64_t now)
{
	uint64_t since = g->wait_since_us;

	if (!since)
		return;
	g->wait_since_us = 0;
	spin_learn(g, now > since ? now - since : 0);
}

bool spin_worth(struct spin_guard *g, uint32_t window_us, uint64_t now)
{
	/* Average under half the window: in 1/8 us, avg8 / 8 <= w / 2. */
	if (g->wait_avg_us8 <= (uint64_t)window_us * 4 ||
	    now < g->probe_until_us)
		return true;
	if (++g->unworthy < SPIN_PROBE_EVERY)
		return false;
	g->unworthy = 0;
	g->probe_until_us = now + window_us;
	return true;
}

bool spin_idle(struct spin_guard *g, uint64_t now)
{
	uint64_t last = g->last_idle_us;

	g->last_idle_us = now;
	if (last && now - last > SPIN_STOLEN_US) {
		g->off_until_us = now + SPIN_BACKOFF_US;
		g->last_idle_us = 0;
		return true;
	}
	return spin_contended(g, now);
}

bool spin_contended(struct spin_guard *g, uint64_t now)
{
	long running;

	if (now < g->off_until_us)
		return true;
	if (now < g->next_check_us || g->loadavg_fd < 0)
		return false;
	g->next_check_us = now + SPIN_CHECK_US;
	running = spin_runnable(g->loadavg_fd);
	if (running < 0 || (unsigned long)running <= g->ncpus) {
		g->over = 0;
		return false;
	}
	/* A task that runs for a moment (a kworker, a timer) is no reason:
	 * only a queue that stays longer than the machine is wide. */
	if (++g->over < SPIN_CHECKS_OVER)
		return false;
	g->over = 0;
	g->off_until_us = now + SPIN_BACKOFF_US;
	return true;
}
