/* SPDX-License-Identifier: MIT */
/*
 * offload.c - see offload.h.  One mutex guards both queues; the thread
 * sleeps on a condition variable, and wakes the event loop through an
 * eventfd.
 */
#include "offload.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct offload {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct offload_job *todo, *todo_tail;
	struct offload_job *done, *done_tail;
	unsigned pending; /* queued or running */
	bool stop;
	bool running;     /* the thread is past its start-up */
	int efd;
};

static void queue_push(struct offload_job **head, struct offload_job **tail,
		       struct offload_job *job)
{
	job->next = NULL;
	if (*tail)
		(*tail)->next = job;
	else
		*head = job;
	*tail = job;
}

static struct offload_job *queue_pop(struct offload_job **head,
				     struct offload_job **tail)
{
	struct offload_job *job = *head;

	if (job) {
		*head = job->next;
		if (!*head)
			*tail = NULL;
		job->next = NULL;
	}
	return job;
}

static void *offload_main(void *arg)
{
	struct offload *o = arg;
	const uint64_t one = 1;

	pthread_mutex_lock(&o->lock);
	o->running = true;
	pthread_cond_broadcast(&o->wake);
	for (;;) {
		struct offload_job *job;

		while (!o->stop && !o->todo)
			pthread_cond_wait(&o->wake, &o->lock);
		if (o->stop)
			break;
		job = queue_pop(&o->todo, &o->todo_tail);
		pthread_mutex_unlock(&o->lock);
		job->run(job);
		pthread_mutex_lock(&o->lock);
		queue_push(&o->done, &o->done_tail, job);
		/* An eventfd counter cannot overflow at one per job. */
		if (write(o->efd, &one, sizeof(one)) < 0) {
			/* EAGAIN only: the counter is already non-zero. */
		}
	}
	pthread_mutex_unlock(&o->lock);
	return NULL;
}

int offload_pin(struct offload *o, const cpu_set_t *cpus)
{
	return -pthread_setaffinity_np(o->thread, sizeof(cpu_set_t), cpus);
}

int offload_start(struct offload **out)
{
	struct offload *o = calloc(1, sizeof(*o));
	sigset_t all, old;
	int r;

	if (!o)
		return -ENOMEM;
	o->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (o->efd < 0) {
		r = -errno;
		free(o);
		return r;
	}
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->wake, NULL);
	/* Process-directed signals must reach the event loop's signalfd,
	 * never this thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&o->thread, NULL, offload_main, o);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		close(o->efd);
		free(o);
		return -r;
	}
	pthread_setname_np(o->thread, "sr-setup");
	/* A new thread's first system calls (rseq, set_robust_list, ...) are
	 * not on the seccomp list that the caller installs next: wait until
	 * it is past them, asleep in its loop. */
	pthread_mutex_lock(&o->lock);
	while (!o->running)
		pthread_cond_wait(&o->wake, &o->lock);
	pthread_mutex_unlock(&o->lock);
	*out = o;
	return 0;
}

int offload_fd(const struct offload *o)
{
	return o->efd;
}

void offload_submit(struct offload *o, struct offload_job *job)
{
	pthread_mutex_lock(&o->lock);
	queue_push(&o->todo, &o->todo_tail, job);
	o->pending++;
	pthread_cond_signal(&o->wake);
	pthread_mutex_unlock(&o->lock);
}

struct offload_job *offload_take_done(struct offload *o)
{
	struct offload_job *job;
	uint64_t n;

	pthread_mutex_lock(&o->lock);
	job = queue_pop(&o->done, &o->done_tail);
	if (job)
		o->pending--;
	else if (read(o->efd, &n, sizeof(n)) < 0) {
		/* EAGAIN: nothing to clear. */
	}
	pthread_mutex_unlock(&o->lock);
	return job;
}

unsigned offload_pending(const struct offload *o)
{
	return o->pending;
}

void offload_stop(struct offload *o)
{
	if (!o)
		return;
	pthread_mutex_lock(&o->lock);
	o->stop = true;
	pthread_cond_signal(&o->wake);
	pthread_mutex_unlock(&o->lock);
	pthread_join(o->thread, NULL);
	close(o->efd);
	pthread_mutex_destroy(&o->lock);
	pthread_cond_destroy(&o->wake);
	free(o);
}
