/* SPDX-License-Identifier: MIT */
/*
 * log.c - see log.h.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static int use_syslog;
static int verbose;

void log_to_syslog(void)
{
	openlog("saferringd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	use_syslog = 1;
}

void log_set_verbose(int on)
{
	verbose = on;
}

void log_msg(int priority, const char *fmt, ...)
{
	static const char *const prefix[] = {
		[LOG_ERR] = "<3>", [LOG_WARNING] = "<4>",
		[LOG_INFO] = "<6>", [LOG_DEBUG] = "<7>",
	};
	va_list ap;

	if (priority == LOG_DEBUG && !verbose)
		return;
	va_start(ap, fmt);
	if (use_syslog) {
		vsyslog(priority, fmt, ap);
	} else {
		/* sd-daemon(3) priority prefixes: journald files the line at
		 * the right level, a terminal shows them harmlessly. */
		const char *p = priority <= LOG_DEBUG && prefix[priority] ?
			prefix[priority] : "";
		fprintf(stderr, "%ssaferringd: ", p);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}
