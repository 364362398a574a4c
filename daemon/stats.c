/* SPDX-License-Identifier: MIT */
/*
 * stats.c - see stats.h.  The query's mutex orders every worker's
 * additions before the answer: the last part to finish saw all others'
 * under it, and hands the query over through the asker's mailbox (a
 * second lock), so the answering thread reads what they wrote.
 */
#include "stats.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "saferring.h"
#include "saferring.pb-c.h"

struct stats_query {
	pthread_mutex_t lock;
	void *asker;
	uint32_t seq;
	bool with_sessions;
	unsigned pending;   /* parts not done */
	/* Gathered. */
	uint32_t in_flight;
	uint64_t ops_done, ops_refused;
	bool truncated;
	size_t n;
	struct stats_line {
		struct session_stats st;
		unsigned worker;
	} *lines;           /* STATS_MAX_SESSIONS when with_sessions */
	unsigned nparts;
	struct stats_part parts[];
};

struct stats_query *stats_query_new(unsigned nworkers, void *asker,
				    uint32_t seq, bool with_sessions)
{
	struct stats_query *q = calloc(1, sizeof(*q) +
				       nworkers * sizeof(q->parts[0]));

	if (!q)
		return NULL;
	if (with_sessions) {
		q->lines = malloc(STATS_MAX_SESSIONS * sizeof(*q->lines));
		if (!q->lines) {
			free(q);
			return NULL;
		}
	}
	pthread_mutex_init(&q->lock, NULL);
	q->asker = asker;
	q->seq = seq;
	q->with_sessions = with_sessions;
	q->pending = q->nparts = nworkers;
	for (unsigned i = 0; i < nworkers; i++)
		q->parts[i].query = q;
	return q;
}

struct stats_part *stats_query_part(struct stats_query *q, unsigned worker)
{
	return &q->parts[worker];
}

void *stats_query_asker(const struct stats_query *q)
{
	return q->asker;
}

void stats_query_add(struct stats_query *q, const struct session_stats *st,
		     unsigned worker, bool listed)
{
	pthread_mutex_lock(&q->lock);
	q->in_flight += st->in_flight;
	q->ops_done += st->ops_done;
	q->ops_refused += st->ops_refused;
	if (q->with_sessions && listed) {
		if (q->n < STATS_MAX_SESSIONS)
			q->lines[q->n++] = (struct stats_line){ *st, worker };
		else
			q->truncated = true;
	}
	pthread_mutex_unlock(&q->lock);
}

bool stats_query_part_done(struct stats_query *q)
{
	bool last;

	pthread_mutex_lock(&q->lock);
	last = --q->pending == 0;
	pthread_mutex_unlock(&q->lock);
	return last;
}

static unsigned count_refusals(const struct session_stats *st)
{
	unsigned n = 0;

	for (unsigned k = 0; k < SR_STATUS__COUNT; k++)
		n += st->refusals[k] != 0;
	return n;
}

void stats_query_answer(struct stats_query *q, struct session *asker,
			const struct stats_totals *t)
{
	Saferring__Stats out = SAFERRING__STATS__INIT;
	Saferring__SessionStats *ss = NULL, **ssp = NULL;
	Saferring__StatusCount *counts = NULL, **countp = NULL;
	size_t ncounts = 0;

	out.version = (char *)SR_VERSION;
	out.uptime_ms = t->uptime_ms;
	/* The asker's own connection is not one of the sessions it asks
	 * about. */
	out.sessions = t->connections ? t->connections - 1 : 0;
	out.has_sessions_total = out.has_in_flight = true;
	out.has_ops_done = out.has_ops_refused = true;
	out.has_workers = true;
	out.sessions_total = t->sessions_total;
	out.in_flight = q->in_flight;
	out.ops_done = t->ended_ops_done + q->ops_done;
	out.ops_refused = t->ended_ops_refused + q->ops_refused;
	out.workers = t->workers;
	out.has_kernel_lacks = true;
	out.kernel_lacks = t->kernel_lacks;
	for (size_t i = 0; i < q->n; i++)
		ncounts += count_refusals(&q->lines[i].st);
	if (q->n) {
		ss = calloc(q->n, sizeof(*ss));
		ssp = calloc(q->n, sizeof(*ssp));
		counts = calloc(ncounts + 1, sizeof(*counts));
		countp = calloc(ncounts + 1, sizeof(*countp));
		if (!ss || !ssp || !counts || !countp) {
			/* The figures without the lines still say something. */
			q->n = 0;
			q->truncated = true;
		}
	}
	ncounts = 0;
	for (size_t i = 0; i < q->n; i++) {
		const struct session_stats *p = &q->lines[i].st;
		Saferring__SessionStats *w = &ss[i];

		saferring__session_stats__init(w);
		w->session_id = p->id;
		w->uid = p->uid;
		w->pid = p->pid;
		w->has_slots_in_use = w->has_in_flight = w->has_fds = true;
		w->has_ops_done = w->has_ops_refused = true;
		w->has_bytes_read = w->has_bytes_written = true;
		w->has_worker = true;
		w->slots_in_use = p->slots_in_use;
		w->in_flight = p->in_flight;
		w->fds = p->fds;
		w->ops_done = p->ops_done;
		w->ops_refused = p->ops_refused;
		w->bytes_read = p->bytes_read;
		w->bytes_written = p->bytes_written;
		w->worker = q->lines[i].worker;
		w->has_node = p->node >= 0;
		w->node = p->node >= 0 ? (uint32_t)p->node : 0;
		w->refusals = &countp[ncounts];
		for (unsigned k = 0; k < SR_STATUS__COUNT; k++) {
			if (!p->refusals[k])
				continue;
			Saferring__StatusCount *sc = &counts[ncounts];
			saferring__status_count__init(sc);
			sc->status = k;
			sc->count = p->refusals[k];
			countp[ncounts++] = sc;
			w->n_refusals++;
		}
		ssp[i] = w;
	}
	out.truncated = q->truncated;
	out.has_truncated = out.truncated;
	out.n_session = q->n;
	out.session = ssp;
	session_send_stats(asker, q->seq, &out);
	free(ss);
	free(ssp);
	free(counts);
	free(countp);
}

void stats_query_free(struct stats_query *q)
{
	if (!q)
		return;
	pthread_mutex_destroy(&q->lock);
	free(q->lines);
	free(q);
}
