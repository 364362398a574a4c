/* SPDX-License-Identifier: MIT */
/*
 * log.h - the daemon's log lines.  To stderr (journald picks them up) or,
 * once detached, to syslog.  A line names the object and the reason.
 * Any thread may log; each line comes out whole.
 *
 * Must never be handed a client-controlled format string.
 */
#ifndef SAFERRINGD_LOG_H
#define SAFERRINGD_LOG_H

#include <syslog.h>

void log_to_syslog(void);
void log_set_verbose(int verbose);
/* Drop messages less urgent than @priority (LOG_ERR: errors only).  For
 * an embedder whose stderr is not an operator's (libsaferring). */
void log_set_max_priority(int priority);
void log_msg(int priority, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* As log_msg, but at most LOG_BURST lines at once and LOG_RATE a second
 * on average across all callers, so that a hostile client cannot flood
 * the journal; the next line that gets through says how many were
 * dropped. */
void log_limited(int priority, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define LOG_BURST 50
#define LOG_RATE 10

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
