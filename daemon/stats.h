/* SPDX-License-Identifier: MIT */
/*
 * stats.h - one StatsRequest, answered with the figures of every session
 * of every worker thread.
 *
 * A session's figures may be read only by the thread that serves it, so
 * the question goes to every worker as a part of a stats_query; each
 * adds the figures of its own sessions, and the last one to finish hands
 * the query back to the asking session's worker, which answers.  Nothing
 * of this is on the hot path: the sessions' counters stay plain fields
 * their own thread writes.
 *
 * Must never read a session from another thread than its own, and never
 * answer before every worker has added its part.
 */
#ifndef SAFERRINGD_STATS_H
#define SAFERRINGD_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "session.h"

/* Sessions listed in one Stats reply: 64 KiB holds about 500. */
#define STATS_MAX_SESSIONS 400

struct stats_query;

/* One worker's share of a query, queued in that worker's mailbox. */
struct stats_part {
	struct stats_part *next;
	struct stats_query *query;
};

/* The daemon-wide figures (the server's). */
struct stats_totals {
	uint64_t uptime_ms;
	uint32_t connections;     /* now, the asker's own included */
	uint64_t sessions_total;  /* since start */
	uint64_t ended_ops_done;  /* by sessions that have ended */
	uint64_t ended_ops_refused;
	uint32_t workers;
	uint64_t kernel_lacks;    /* see ring_driver_probe */
};

/* A question from @asker (the asking worker's own record of the
 * session, opaque here), for @nworkers parts.  NULL when out of memory. */
struct stats_query *stats_query_new(unsigned nworkers, void *asker,
				    uint32_t seq, bool with_sessions);
struct stats_part *stats_query_part(struct stats_query *q, unsigned worker);
void *stats_query_asker(const struct stats_query *q);

/* From any worker, for each session it serves but the asker: its
 * figures (summed), and, when @listed and asked for, its line. */
void stats_query_add(struct stats_query *q, const struct session_stats *st,
		     unsigned worker, bool listed);
/* This worker has added all its sessions.  True for the last one: the
 * query is then the asker's worker's to answer. */
bool stats_query_part_done(struct stats_query *q);

/* On the asker's worker, once every part is done: the reply. */
void stats_query_answer(struct stats_query *q, struct session *asker,
			const struct stats_totals *t);
void stats_query_free(struct stats_query *q);

#endif
