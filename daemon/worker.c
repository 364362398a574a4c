/* SPDX-License-Identifier: MIT */
/*
 * worker.c - see worker.h.
 *
 * The loop is the daemon's former single event loop without the
 * listener and the signals: epoll over each session's socket, ring and
 * doorbell, plus the offload thread's completion descriptor and the
 * mailbox's eventfd; between epoll calls it polls its hot v2 sessions.
 *
 * What crosses threads, and how:
 *  - the mailbox (mail_lock): sessions in, Stats parts in and answers
 *    back, stop and exit; the poster writes the eventfd after unlocking;
 *  - a session's end and the drained state go to the server under its
 *    lock (server_session_gone, server_worker_drained);
 *  - the pinned budget is an atomic count (session.c);
 *  - nothing else: a session, its client record, the hot list, the spin
 *    guard and the scratch buffers are this thread's alone.
 */
#include "worker.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "numa.h"
#include "offload.h"
#include "spin.h"

#define MAX_EVENTS 64
/* While polling, how often epoll is asked too: sockets, other sessions,
 * and the kernel's task work for asynchronous completions, which runs
 * on the way out of a system call. */
#define EPOLL_EVERY_US 20

enum source_kind {
	SOURCE_MAIL,
	SOURCE_OFFLOAD,
	SOURCE_SOCK,
	SOURCE_RING,
	SOURCE_DOORBELL,
};

struct source {
	enum source_kind kind;
	struct client *client;
};

/* The worker's handle on a session: its epoll state and list links. */
struct client {
	struct worker *worker;
	struct session *session;
	struct source sock_src, ring_src, bell_src;
	int sock_fd;        /* fd registered in epoll, -1 when none */
	uint32_t sock_mask; /* events registered for sock_fd */
	int ring_fd;        /* ring fd registered in epoll, -1 when none */
	int bell_fd;        /* v2 doorbell registered in epoll, -1 when none */
	int hot;            /* index in worker.hot, -1 when not polled */
	bool dead;          /* drained; freed after this batch of events */
	bool stats_pending; /* its StatsRequest is out to the workers */
	uint32_t uid;       /* peer's uid, for the per-uid count */
	bool refused;       /* counted as a pending refusal, not a session */
	struct client *prev, *next;
};

struct worker {
	struct server *srv;
	/* Reaped sessions whose arena the offload thread is unmapping
	 * (session_free_begin), linked by next. */
	struct client *freeing;
	unsigned index;
	pthread_t thread;
	bool thread_started;
	int epfd;
	struct session_env env;
	struct source mail_src, offload_src;

	/* The mailbox: other threads write under mail_lock, then ring
	 * mail_fd. */
	pthread_mutex_t mail_lock;
	pthread_cond_t started;
	bool running;                 /* past its start-up */
	int mail_fd;
	struct client *arrivals, *arrivals_tail;
	struct stats_part *asks;      /* parts of questions to answer */
	struct stats_part *answered;  /* this worker's questions, gathered */
	bool stop_asked, exit_asked;

	/* The thread's own. */
	struct client *clients;
	bool stopping;
	bool said_drained;
	bool exiting;
	/* v2 sessions polled instead of slept on (see worker_poll_hot). */
	unsigned spin_us;
	struct client **hot;
	unsigned nhot, hot_cap;
	uint64_t last_work_us;   /* a hot session last had something to do */
	struct spin_guard spin;  /* contended: no polling for a while */
	uint64_t last_epoll_us;  /* while polling: when epoll was last asked */
	/* No thread: the embedder runs the loop (worker_poll). */
	bool embedded;
};

static int epoll_set(int epfd, int op, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	return epoll_ctl(epfd, op, fd, &ev) < 0 ? -errno : 0;
}

static void mail_ring(struct worker *w)
{
	const uint64_t one = 1;

	/* An eventfd counter cannot overflow at one per message. */
	if (write(w->mail_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN only: it is rung already. */
	}
}

/* A hot session had work at @now: the wait for it ended, and the spin
 * window starts again. */
static void worker_worked(struct worker *w, uint64_t now)
{
	/* The gap since the last work is this worker's wait. */
	if (w->last_work_us)
		spin_learn(&w->spin, now > w->last_work_us ?
					     now - w->last_work_us : 0);
	w->last_work_us = now;
}

/* Poll @c's rings from now on instead of waiting for its doorbell: it
 * just had work. */
static void client_hot(struct worker *w, struct client *c)
{
	if (c->dead)
		return;
	worker_worked(w, spin_now_us());
	if (c->hot >= 0)
		return;
	if (w->nhot == w->hot_cap) {
		unsigned cap = w->hot_cap ? 2 * w->hot_cap : 16;
		struct client **n = realloc(w->hot, cap * sizeof(*n));

		if (!n)
			return; /* it is served by its doorbell instead */
		w->hot = n;
		w->hot_cap = cap;
	}
	c->hot = (int)w->nhot;
	w->hot[w->nhot++] = c;
}

static void client_cold(struct worker *w, struct client *c)
{
	if (c->hot < 0)
		return;
	w->hot[c->hot] = w->hot[--w->nhot];
	w->hot[c->hot]->hot = c->hot;
	c->hot = -1;
}

/* The doorbell is in epoll exactly while the session serves rings.  Out
 * before the session closes it: the client's copy keeps the eventfd
 * alive, and epoll would go on reporting it for a freed client. */
static void client_sync_doorbell(struct worker *w, struct client *c)
{
	int bell = session_doorbell_fd(c->session);

	if (bell == c->bell_fd)
		return;
	if (c->bell_fd >= 0) {
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->bell_fd, NULL);
		c->bell_fd = -1;
		client_cold(w, c);
	}
	if (bell >= 0 && epoll_set(w->epfd, EPOLL_CTL_ADD, bell, EPOLLIN,
				   &c->bell_src) == 0) {
		c->bell_fd = bell;
		/* Until it has been idle for a while, it is polled. */
		client_hot(w, c);
	}
}

/* Bring epoll in step with what the session wants now. */
static void client_sync(struct worker *w, struct client *c)
{
	struct session *s = c->session;
	int sock = session_sock(s);
	int ring = session_ring_fd(s);

	if (c->sock_fd >= 0 && sock < 0) {
		/* The session closed its socket, which removed it from epoll. */
		c->sock_fd = -1;
	} else if (sock >= 0) {
		uint32_t want = (session_wants_read(s) ? EPOLLIN : 0) |
				(session_wants_write(s) ? EPOLLOUT : 0);
		if (want != c->sock_mask &&
		    epoll_set(w->epfd, EPOLL_CTL_MOD, sock, want,
			      &c->sock_src) == 0)
			c->sock_mask = want;
	}
	if (ring >= 0 && c->ring_fd < 0 &&
	    epoll_set(w->epfd, EPOLL_CTL_ADD, ring, EPOLLIN, &c->ring_src) == 0)
		c->ring_fd = ring;
	client_sync_doorbell(w, c);
	if (session_drained(s) && !c->dead) {
		c->dead = true;
		if (c->ring_fd >= 0)
			epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->ring_fd, NULL);
		c->ring_fd = -1;
	}
}

/* A session the listener handed over: into epoll, onto the list. */
static void worker_add_client(struct worker *w, struct client *c)
{
	int fd = session_sock(c->session);

	if (epoll_set(w->epfd, EPOLL_CTL_ADD, fd, EPOLLIN, &c->sock_src) < 0) {
		struct session_stats st;

		log_err("session %llu: epoll: %s; connection refused",
			(unsigned long long)session_id(c->session),
			strerror(errno));
		session_close(c->session, "epoll failed");
		session_get_stats(c->session, &st);
		session_free(c->session);
		server_session_gone(w->srv, w->index, c->uid, c->refused, &st);
		free(c);
		return;
	}
	c->next = w->clients;
	if (w->clients)
		w->clients->prev = c;
	w->clients = c;
	if (w->stopping) {
		session_shutdown(c->session);
		client_sync(w, c);
	}
}

/* The end of a reaped session: gone from the counts, its memory freed. */
static bool client_free(struct worker *w, struct client *c)
{
	struct session_stats st;
	bool last;

	session_get_stats(c->session, &st);
	session_free(c->session);
	last = server_session_gone(w->srv, w->index, c->uid, c->refused, &st);
	free(c);
	return last;
}

/* glibc keeps freed heap for reuse; once the daemon is idle, give it
 * back, so that its memory returns to its baseline after a load. */
static void worker_trim(bool last)
{
	if (last)
		malloc_trim(0);
}

static void worker_reap_dead(struct worker *w)
{
	struct client *c = w->clients;
	bool last = false;

	while (c) {
		struct client *next = c->next;

		/* A StatsRequest out to the workers comes back to it. */
		if (c->dead && !c->stats_pending) {
			if (c->prev)
				c->prev->next = c->next;
			else
				w->clients = c->next;
			if (c->next)
				c->next->prev = c->prev;
			client_cold(w, c);
			if (session_free_begin(c->session)) {
				c->prev = NULL;
				c->next = w->freeing;
				w->freeing = c;
			} else {
				last = client_free(w, c);
			}
		}
		c = next;
	}
	worker_trim(last);
}

/* A release job is back: finish freeing its session. */
static void worker_released(struct worker *w, struct client *c)
{
	struct client **p = &w->freeing;

	while (*p && *p != c)
		p = &(*p)->next;
	if (*p)
		*p = c->next;
	worker_trim(client_free(w, c));
}

static void worker_stop_sessions(struct worker *w)
{
	w->stopping = true;
	for (struct client *c = w->clients; c; c = c->next) {
		session_shutdown(c->session);
		client_sync(w, c);
	}
}

/* This worker's share of a Stats question: every session but the
 * asker, each read by its own thread (this one). */
static void worker_add_stats(struct worker *w, struct stats_part *part)
{
	struct stats_query *q = part->query;
	struct client *asker = stats_query_asker(q);

	for (struct client *c = w->clients; c; c = c->next) {
		struct session_stats st;

		if (c == asker)
			continue;
		session_get_stats(c->session, &st);
		stats_query_add(q, &st, w->index, !c->dead);
	}
	if (!stats_query_part_done(q))
		return;
	/* The last part: the asker's worker answers.  Its own part is
	 * done, so that part is free to carry the query back. */
	struct worker *origin = asker->worker;
	struct stats_part *back = stats_query_part(q, origin->index);

	pthread_mutex_lock(&origin->mail_lock);
	back->next = origin->answered;
	origin->answered = back;
	pthread_mutex_unlock(&origin->mail_lock);
	mail_ring(origin);
}

static void worker_answer(struct worker *w, struct stats_query *q)
{
	struct client *c = stats_query_asker(q);
	struct stats_totals t;

	server_stats_totals(w->srv, &t);
	stats_query_answer(q, c->session, &t);
	stats_query_free(q);
	c->stats_pending = false;
	client_sync(w, c);
}

void worker_answer_stats(void *arg, struct session *asker, uint32_t seq,
			 bool with_sessions)
{
	struct server *srv = arg;
	struct client *c = session_owner(asker);
	struct worker *const *all;
	unsigned n;
	struct stats_query *q;

	all = server_workers(srv, &n);
	q = stats_query_new(n, c, seq, with_sessions);
	if (!q) {
		session_stats_unavailable(asker, seq);
		return;
	}
	session_hold(asker);
	c->stats_pending = true;
	for (unsigned i = 0; i < n; i++) {
		struct stats_part *part = stats_query_part(q, i);

		pthread_mutex_lock(&all[i]->mail_lock);
		part->next = all[i]->asks;
		all[i]->asks = part;
		pthread_mutex_unlock(&all[i]->mail_lock);
		mail_ring(all[i]);
	}
}

static void worker_take_mail(struct worker *w)
{
	struct client *arrivals;
	struct stats_part *asks, *answered;
	bool stop, quit;
	uint64_t n;

	/* Cleared first: whatever is posted after the read rings again. */
	if (read(w->mail_fd, &n, sizeof(n)) < 0) {
		/* EAGAIN: nothing was rung. */
	}
	pthread_mutex_lock(&w->mail_lock);
	arrivals = w->arrivals;
	w->arrivals = w->arrivals_tail = NULL;
	asks = w->asks;
	w->asks = NULL;
	answered = w->answered;
	w->answered = NULL;
	stop = w->stop_asked;
	quit = w->exit_asked;
	pthread_mutex_unlock(&w->mail_lock);

	while (arrivals) {
		struct client *c = arrivals;

		arrivals = c->next;
		c->next = NULL;
		worker_add_client(w, c);
	}
	if (stop && !w->stopping)
		worker_stop_sessions(w);
	while (asks) {
		struct stats_part *part = asks;

		asks = part->next;
		worker_add_stats(w, part);
	}
	while (answered) {
		struct stats_part *part = answered;

		answered = part->next;
		worker_answer(w, part->query);
	}
	if (quit)
		w->exiting = true;
}

/*
 * Poll every hot v2 session once: its kernel completions, its completion
 * ring's room, its submission ring.  A session goes cold (its doorbell
 * armed: the client rings it after its next submission) once no hot
 * session had work for spin_us, at once when spinning is off or
 * contended, and never while it has work it could do now.
 */
static bool worker_poll_hot(struct worker *w, bool dispatched)
{
	uint64_t now;
	bool contended, did = dispatched;

	for (unsigned i = 0; i < w->nhot; i++) {
		struct client *c = w->hot[i];

		if (c->dead)
			continue;
		if (session_rings_poll(c->session))
			did = true;
		client_sync(w, c);
	}
	now = spin_now_us();
	if (did) {
		spin_worked(&w->spin);
		worker_worked(w, now);
		if (!spin_contended(&w->spin, now))
			return did;
		contended = true;
	} else {
		/* A gap since the last idle pass was someone else's. */
		contended = spin_idle(&w->spin, now);
	}
	/* Not when the work comes slower than the window: a doorbell then
	 * costs less than the polling that would wait for it. */
	if (!contended && w->spin_us && now - w->last_work_us < w->spin_us &&
	    spin_worth(&w->spin, w->spin_us, now))
		return did;
	/* Embedded: the embedder polls after each of its submissions, so a
	 * doorbell would only cost it a system call. */
	if (w->embedded)
		return did;
	for (unsigned i = 0; i < w->nhot;) {
		struct client *c = w->hot[i];

		if (c->dead || session_rings_idle(c->session))
			client_cold(w, c); /* the last one moves to i */
		else
			i++;
	}
	return did;
}

static void worker_dispatch(struct worker *w, struct epoll_event *ev)
{
	struct source *src = ev->data.ptr;
	struct client *c = src->client;

	switch (src->kind) {
	case SOURCE_MAIL:
		worker_take_mail(w);
		return;
	case SOURCE_OFFLOAD: {
		struct offload_job *job;

		while ((job = offload_take_done(w->env.offload))) {
			struct session *s = session_of_setup(job);

			if (session_releasing(s)) {
				worker_released(w, session_owner(s));
				continue;
			}
			session_on_setup_done(s);
			client_sync(w, session_owner(s));
		}
		return;
	}
	case SOURCE_SOCK:
		if (c->dead || session_sock(c->session) < 0)
			return;
		if (ev->events & EPOLLOUT)
			session_on_writable(c->session);
		if (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			session_on_readable(c->session);
		/* Hung up with nothing left to read: readable finds EOF. */
		if ((ev->events & (EPOLLHUP | EPOLLERR)) &&
		    !session_wants_read(c->session))
			session_close(c->session, "connection lost");
		break;
	case SOURCE_RING:
		if (c->dead)
			return;
		session_on_ring(c->session);
		if (c->bell_fd >= 0)
			client_hot(w, c); /* completions move: poll a while */
		break;
	case SOURCE_DOORBELL:
		if (c->dead)
			return;
		session_rings_on_doorbell(c->session);
		client_hot(w, c);
		break;
	default:
		return;
	}
	client_sync(w, c);
}

/* One pass: epoll (without sleeping while sessions are hot), or, while
 * polling, the hot sessions alone. */
static bool worker_turn(struct worker *w)
{
	struct epoll_event events[MAX_EVENTS];
	bool did;
	int n;

	/* Polling: the rings are memory, epoll a system call (and a costly
	 * one on a paravirtualised CPU); look at epoll only every
	 * EPOLL_EVERY_US. */
	if (w->nhot && spin_now_us() - w->last_epoll_us < EPOLL_EVERY_US)
		return worker_poll_hot(w, false);
	n = epoll_wait(w->epfd, events, MAX_EVENTS,
		       w->nhot || w->embedded ? 0 : -1);
	w->last_epoll_us = spin_now_us();
	if (n < 0 && errno != EINTR) {
		/* Only a bug makes epoll_wait fail (EBADF, EFAULT, EINVAL),
		 * and this thread cannot serve anyone without it: end the
		 * daemon the way the seccomp filter lets it (the kernel
		 * cancels every ring's work before it frees the memory). */
		log_err("worker %u: epoll_wait: %s", w->index, strerror(errno));
		abort();
	}
	for (int i = 0; i < n; i++)
		worker_dispatch(w, &events[i]);
	did = n > 0;
	if (w->nhot && worker_poll_hot(w, n > 0))
		did = true;
	return did;
}

/* One turn of the loop and what follows it; whether it did anything. */
static bool worker_pass(struct worker *w)
{
	bool did = worker_turn(w);

	worker_reap_dead(w);
	if (w->stopping && !w->clients && !w->said_drained) {
		w->said_drained = true;
		server_worker_drained(w->srv, w->index);
	}
	return did;
}

static void worker_run(struct worker *w)
{
	while (!w->exiting)
		worker_pass(w);
}

bool worker_poll(struct worker *w)
{
	return worker_pass(w);
}

int worker_fd(const struct worker *w)
{
	return w->epfd;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	pthread_mutex_lock(&w->mail_lock);
	w->running = true;
	pthread_cond_broadcast(&w->started);
	pthread_mutex_unlock(&w->mail_lock);
	worker_run(w);
	return NULL;
}

/* Both threads on @node's CPUs (those the daemon may use), so that what
 * the kernel allocates for them and their sessions' rings is near the
 * arenas bound there.  Failing that, unpinned: a worker elsewhere is
 * slower, never wrong. */
static void worker_pin(struct worker *w, const struct numa_topo *t, int node)
{
	cpu_set_t cpus, allowed;
	int r;

	if (!t || node < 0 || sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
		return;
	CPU_ZERO(&cpus);
	for (unsigned cpu = 0; cpu < t->ncpus && cpu < CPU_SETSIZE; cpu++)
		if (t->cpu_node[cpu] == node && CPU_ISSET(cpu, &allowed))
			CPU_SET(cpu, &cpus);
	if (CPU_COUNT(&cpus) == 0)
		return;
	r = -pthread_setaffinity_np(w->thread, sizeof(cpus), &cpus);
	if (r == 0)
		r = offload_pin(w->env.offload, &cpus);
	if (r < 0) {
		log_warn("worker %u: cannot pin it to NUMA node %d: %s",
			 w->index, node, strerror(-r));
		pthread_setaffinity_np(w->thread, sizeof(allowed), &allowed);
		offload_pin(w->env.offload, &allowed);
		return;
	}
	w->env.node = node;
}

int worker_new(struct server *srv, const struct worker_config *cfg,
	       struct worker **out)
{
	struct worker *w = calloc(1, sizeof(*w));
	sigset_t all, old;
	char name[16];
	int r;

	if (!w)
		return -ENOMEM;
	w->srv = srv;
	w->index = cfg->index;
	w->spin.loadavg_fd = -1;
	w->spin_us = cfg->spin_us;
	w->env.rings = true;
	w->env.pinned_max = cfg->pinned_max;
	w->env.pinned_shared = cfg->pinned;
	w->env.kernel_lacks = cfg->kernel_lacks;
	w->env.topo = cfg->topo;
	w->env.node = -1;
	w->env.ring_threads = cfg->ring_threads;
	w->embedded = cfg->embedded;
	w->mail_src.kind = SOURCE_MAIL;
	w->offload_src.kind = SOURCE_OFFLOAD;
	pthread_mutex_init(&w->mail_lock, NULL);
	pthread_cond_init(&w->started, NULL);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->mail_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->env.scratch = session_scratch_new();
	*out = w;
	if (w->epfd < 0 || w->mail_fd < 0)
		return -errno;
	if (!w->env.scratch)
		return -ENOMEM;
	if (spin_guard_init(&w->spin) < 0 && cfg->index == 0)
		log_warn("cannot read /proc/loadavg: polling v2 rings will not "
			 "back off when the CPUs are contended");
	r = epoll_set(w->epfd, EPOLL_CTL_ADD, w->mail_fd, EPOLLIN,
		      &w->mail_src);
	if (r == 0)
		r = offload_start(&w->env.offload);
	if (r == 0)
		r = epoll_set(w->epfd, EPOLL_CTL_ADD,
			      offload_fd(w->env.offload), EPOLLIN,
			      &w->offload_src);
	if (r < 0)
		return r;
	if (w->embedded) {
		w->running = true;
		return 0;
	}
	/* Process-directed signals must reach the listener's signalfd,
	 * never this thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return -r;
	w->thread_started = true;
	snprintf(name, sizeof(name), "sr-worker%u", w->index);
	pthread_setname_np(w->thread, name);
	worker_pin(w, cfg->topo, cfg->node);
	/* A new thread's first system calls (rseq, set_robust_list, ...) are
	 * not on the seccomp list that is installed next: wait until it is
	 * past them. */
	pthread_mutex_lock(&w->mail_lock);
	while (!w->running)
		pthread_cond_wait(&w->started, &w->mail_lock);
	pthread_mutex_unlock(&w->mail_lock);
	return 0;
}

int worker_node(const struct worker *w)
{
	return w->env.node;
}

struct session_env *worker_env(struct worker *w)
{
	return &w->env;
}

int worker_adopt(struct worker *w, struct session *s, uint32_t uid,
		 bool refused)
{
	struct client *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->worker = w;
	c->session = s;
	c->uid = uid;
	c->refused = refused;
	c->sock_src = (struct source){ SOURCE_SOCK, c };
	c->ring_src = (struct source){ SOURCE_RING, c };
	c->bell_src = (struct source){ SOURCE_DOORBELL, c };
	c->sock_fd = session_sock(s);
	c->sock_mask = EPOLLIN;
	c->ring_fd = -1;
	c->bell_fd = -1;
	c->hot = -1;
	/* Before the worker can see it: nothing of it is touched here
	 * afterwards. */
	session_set_owner(s, c);
	pthread_mutex_lock(&w->mail_lock);
	if (w->arrivals_tail)
		w->arrivals_tail->next = c;
	else
		w->arrivals = c;
	w->arrivals_tail = c;
	pthread_mutex_unlock(&w->mail_lock);
	mail_ring(w);
	return 0;
}

void worker_stop(struct worker *w)
{
	pthread_mutex_lock(&w->mail_lock);
	w->stop_asked = true;
	pthread_mutex_unlock(&w->mail_lock);
	mail_ring(w);
}

void worker_exit(struct worker *w)
{
	pthread_mutex_lock(&w->mail_lock);
	w->exit_asked = true;
	pthread_mutex_unlock(&w->mail_lock);
	mail_ring(w);
}

void worker_join(struct worker *w)
{
	if (!w->thread_started)
		return;
	pthread_join(w->thread, NULL);
	w->thread_started = false;
}

/* Questions this worker never got to (the daemon stopped): the last
 * holder of each frees it. */
static void worker_drop_stats(struct worker *w)
{
	while (w->asks) {
		struct stats_part *part = w->asks;

		w->asks = part->next;
		if (stats_query_part_done(part->query))
			stats_query_free(part->query);
	}
	while (w->answered) {
		struct stats_part *part = w->answered;

		w->answered = part->next;
		stats_query_free(part->query);
	}
}

void worker_free(struct worker *w)
{
	if (!w)
		return;
	worker_join(w); /* the server joined every worker first */
	/* Before any session goes: the thread may be setting one up. */
	if (w->env.offload) {
		offload_stop(w->env.offload);
		w->env.offload = NULL;
		for (struct client *c = w->clients; c; c = c->next)
			session_setup_reclaim(c->session);
	}
	/* Their release jobs are done or were never run: either way the
	 * rest is ours (session_free). */
	while (w->freeing) {
		struct client *c = w->freeing;

		w->freeing = c->next;
		session_free(c->session);
		free(c);
	}
	/* Handed over but never taken: never in epoll, never set up. */
	while (w->arrivals) {
		struct client *c = w->arrivals;

		w->arrivals = c->next;
		session_close(c->session, "daemon stopping");
		session_free(c->session);
		free(c);
	}
	while (w->clients) {
		struct client *c = w->clients;

		w->clients = c->next;
		session_free(c->session);
		free(c);
	}
	worker_drop_stats(w);
	if (w->mail_fd >= 0)
		close(w->mail_fd);
	if (w->epfd >= 0)
		close(w->epfd);
	free(w->hot);
	session_scratch_free(w->env.scratch);
	spin_guard_free(&w->spin);
	pthread_mutex_destroy(&w->mail_lock);
	pthread_cond_destroy(&w->started);
	free(w);
}
