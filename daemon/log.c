/* SPDX-License-Identifier: MIT */
/*
 * log.c - see log.h.
 *
 * Any thread may log.  A line is written whole (stderr stays locked for
 * its three parts; vsyslog sends one datagram), and the rate limit's
 * state is one bucket for the whole daemon, behind a mutex: logging is
 * never on the hot path, and a refusal storm on one worker must not
 * flood the journal through another.
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

/* Set before any thread starts; read-only afterwards. */
static int use_syslog;
static int verbose;
static int max_priority = LOG_DEBUG;

/* log_limited's token bucket. */
static pthread_mutex_t limit_lock = PTHREAD_MUTEX_INITIALIZER;
static double tokens = LOG_BURST;
static struct timespec last;
static unsigned long dropped;

void log_to_syslog(void)
{
	openlog("saferringd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	use_syslog = 1;
}

void log_set_verbose(int on)
{
	verbose = on;
}

void log_set_max_priority(int priority)
{
	max_priority = priority;
}

static void log_vmsg(int priority, const char *fmt, va_list ap)
{
	static const char *const prefix[] = {
		[LOG_ERR] = "<3>", [LOG_WARNING] = "<4>",
		[LOG_INFO] = "<6>", [LOG_DEBUG] = "<7>",
	};

	if ((priority == LOG_DEBUG && !verbose) || priority > max_priority)
		return;
	if (use_syslog) {
		vsyslog(priority, fmt, ap);
	} else {
		/* sd-daemon(3) priority prefixes: journald files the line at
		 * the right level, a terminal shows them harmlessly. */
		const char *p = priority <= LOG_DEBUG && prefix[priority] ?
			prefix[priority] : "";
		flockfile(stderr);
		fprintf(stderr, "%ssaferringd: ", p);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		funlockfile(stderr);
	}
}

void log_msg(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(priority, fmt, ap);
	va_end(ap);
}

void log_limited(int priority, const char *fmt, ...)
{
	unsigned long was_dropped;
	struct timespec now;
	va_list ap;

	pthread_mutex_lock(&limit_lock);
	/* Under the lock, so that time only moves forward for the bucket. */
	clock_gettime(CLOCK_MONOTONIC, &now);
	tokens += ((double)(now.tv_sec - last.tv_sec) +
		   (double)(now.tv_nsec - last.tv_nsec) / 1e9) * LOG_RATE;
	if (tokens > LOG_BURST)
		tokens = LOG_BURST;
	last = now;
	if (tokens < 1) {
		dropped++;
		pthread_mutex_unlock(&limit_lock);
		return;
	}
	tokens -= 1;
	was_dropped = dropped;
	dropped = 0;
	pthread_mutex_unlock(&limit_lock);
	if (was_dropped)
		log_msg(LOG_WARNING, "%lu log lines suppressed (rate limit)",
			was_dropped);
	va_start(ap, fmt);
	log_vmsg(priority, fmt, ap);
	va_end(ap);
}
