/* SPDX-License-Identifier: MIT */
/*
 * quiet_log.c - daemon/log.h for the fuzz harnesses: formats every line
 * (so a bad format argument still trips the sanitizers) and prints it
 * only when FUZZ_LOG is set in the environment, so that millions of runs
 * do not drown libFuzzer's own output.
 *
 * Must never be linked into saferringd.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int state = -1; /* -1: not looked up yet, 0: quiet, 1: print */

void log_to_syslog(void)
{
}

void log_set_verbose(int on)
{
	(void)on;
}

static void vlog(int priority, const char *fmt, va_list ap)
{
	char line[1024];

	if (state < 0)
		state = getenv("FUZZ_LOG") != NULL;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (state)
		fprintf(stderr, "<%d>saferringd: %s\n", priority, line);
}

void log_msg(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(priority, fmt, ap);
	va_end(ap);
}

void log_limited(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(priority, fmt, ap);
	va_end(ap);
}
