/* SPDX-License-Identifier: MIT */
/*
 * fake_offload.c - a deterministic stand-in for daemon/offload.c in the
 * session fuzzer: a job runs at once, on the caller's thread, and waits
 * in the done list until the harness hands it back, as server.c does
 * when the offload descriptor turns readable.  So the fuzzer sees the
 * session in every phase the real thread would leave it in, without
 * threads or timing.
 *
 * Must never run a job twice or hand back one that was not submitted.
 */
#include <stddef.h>

#include "offload.h"

struct offload {
	struct offload_job *done, *tail;
	unsigned pending;
};

static struct offload the_offload;

int offload_start(struct offload **out)
{
	the_offload = (struct offload){ 0 };
	*out = &the_offload;
	return 0;
}

int offload_fd(const struct offload *o)
{
	(void)o;
	return -1;
}

void offload_submit(struct offload *o, struct offload_job *job)
{
	job->run(job);
	job->next = NULL;
	if (o->tail)
		o->tail->next = job;
	else
		o->done = job;
	o->tail = job;
	o->pending++;
}

struct offload_job *offload_take_done(struct offload *o)
{
	struct offload_job *job = o->done;

	if (!job)
		return NULL;
	o->done = job->next;
	if (!o->done)
		o->tail = NULL;
	job->next = NULL;
	o->pending--;
	return job;
}

unsigned offload_pending(const struct offload *o)
{
	return o->pending;
}

void offload_stop(struct offload *o)
{
	(void)o;
}
