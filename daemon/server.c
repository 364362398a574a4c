/* SPDX-License-Identifier: MIT */
/*
 * server.c - see server.h.
 *
 * Session quota per uid: a uid holds at most its policy's max_sessions
 * sessions at once (counted from accept until the session is freed, so a
 * session still draining its ring counts).  One more connection is
 * accepted but denied: it answers the client's Hello with QUOTA (or
 * NOT_PERMITTED when the policy allows the uid no session at all), which
 * the client library reports as -EDQUOT (-EPERM).  A uid with
 * MAX_PENDING_REFUSALS such denied connections open has any further one
 * closed at once, so refused connections cannot pile up either.
 *
 * Threads: the counts above, each worker's load and the daemon's totals
 * are behind one mutex, taken by the listener once per accepted
 * connection and by a worker once per session end: never per operation.
 * Everything else here (the config, the listening socket, the stop
 * deadline) is the listener's alone.
 */
#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "numa.h"
#include "peer.h"
#include "saferring.h"
#include "session.h"
#include "worker.h"

#define MAX_EVENTS 16
#define MAX_PENDING_REFUSALS 16
/* When accept fails for want of descriptors or memory the listener stays
 * readable; stop polling it for this long instead of spinning. */
#define ACCEPT_PAUSE_MS 100

enum source_kind {
	SOURCE_LISTENER,
	SOURCE_SIGNAL,
	SOURCE_WAKE,
};

/* Sessions and pending refusals of one uid; entries at zero are removed. */
struct uid_count {
	uint32_t uid;
	uint32_t sessions;
	uint32_t refused;
};

struct server {
	/* The listener's own. */
	int epfd;
	int listen_fd;
	int signal_fd;
	int wake_fd;        /* workers: drained, or a descriptor came free */
	enum source_kind listen_src, signal_src, wake_src;
	struct config *cfg;
	/* From the [daemon] settings at start-up; a reload keeps them. */
	uint32_t max_sessions_total;
	uint64_t next_session_id;
	uint64_t paused_at_ms;
	bool accept_warned; /* said so once; quiet until an accept works */
	bool stopping;
	uint64_t stop_deadline_ms;
	server_reload_fn reload;
	uint64_t started_ms;
	/* Fixed once started: read by every thread. */
	struct worker **workers;
	unsigned nworkers;
	int *worker_node;   /* each worker's NUMA node (worker_node()) */
	struct numa_topo topo;
	uint64_t kernel_lacks;
	/* Pinned arena bytes of every session: atomic (session.c). */
	uint64_t pinned;

	/* Shared with the workers, under lock. */
	pthread_mutex_t lock;
	bool accept_paused;
	unsigned *load;     /* connections per worker, granted or refused */
	unsigned drained;   /* workers stopped with no session left */
	unsigned sessions;  /* connections, granted or being refused */
	unsigned granted;   /* of them, sessions (counted per uid too) */
	struct uid_count *uids;
	size_t nuids, uids_cap;
	/* Figures for saferringctl, including sessions that have ended. */
	uint64_t sessions_total;
	uint64_t ended_ops_done, ended_ops_refused;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int epoll_set(int epfd, int op, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	return epoll_ctl(epfd, op, fd, &ev) < 0 ? -errno : 0;
}

static void wake_listener(struct server *srv)
{
	const uint64_t one = 1;

	if (write(srv->wake_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN only: it is awake already. */
	}
}

static int server_start_workers(struct server *srv, unsigned n,
				unsigned spin_us)
{
	srv->workers = calloc(n, sizeof(*srv->workers));
	srv->load = calloc(n, sizeof(*srv->load));
	srv->worker_node = calloc(n, sizeof(*srv->worker_node));
	if (!srv->workers || !srv->load || !srv->worker_node)
		return -ENOMEM;
	/* One node: no pinning, the scheduler's choice as before. */
	numa_worker_nodes(&srv->topo, n, srv->worker_node);
	for (unsigned i = 0; i < n; i++) {
		struct worker_config wc = {
			.index = i,
			.spin_us = spin_us,
			.pinned_max = srv->cfg->daemon.max_pinned_total,
			.pinned = &srv->pinned,
			.kernel_lacks = srv->kernel_lacks,
			.topo = &srv->topo,
			.node = srv->worker_node[i],
		};
		/* Counted as it is made: a half-made one is freed too. */
		int r = worker_new(srv, &wc, &srv->workers[i]);

		srv->nworkers = i + 1;
		if (r < 0)
			return r;
		/* What it got: unpinned if its node's CPUs were refused. */
		srv->worker_node[i] = worker_node(srv->workers[i]);
	}
	if (numa_cpu_node_count(&srv->topo) > 1)
		log_info("NUMA: %u nodes with CPUs, %d with memory; workers "
			 "pinned to a node each", numa_cpu_node_count(&srv->topo),
			 __builtin_popcountll(srv->topo.mem_nodes));
	return 0;
}

int server_new(int listen_fd, struct config *cfg,
	       const struct server_options *opts, struct server **out)
{
	struct server *srv = calloc(1, sizeof(*srv));
	sigset_t mask;
	int r;

	if (!srv) {
		close(listen_fd);
		config_free(cfg);
		return -ENOMEM;
	}
	srv->listen_fd = listen_fd;
	srv->epfd = srv->signal_fd = srv->wake_fd = -1;
	srv->cfg = cfg;
	pthread_mutex_init(&srv->lock, NULL);
	srv->max_sessions_total = cfg->daemon.max_sessions_total;
	srv->kernel_lacks = opts->kernel_lacks;
	srv->next_session_id = 1;
	srv->listen_src = SOURCE_LISTENER;
	srv->signal_src = SOURCE_SIGNAL;
	srv->wake_src = SOURCE_WAKE;
	/* Unreadable: one node, nothing placed; the daemon still serves. */
	r = numa_topo_read(&srv->topo);
	if (r < 0)
		log_warn("cannot read the NUMA topology (%s): %s; sessions are "
			 "not placed", "/sys/devices/system/node", strerror(-r));

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	/* A client that vanishes must not kill us on send. */
	signal(SIGPIPE, SIG_IGN);

	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	srv->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	srv->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (srv->epfd < 0 || srv->signal_fd < 0 || srv->wake_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = epoll_set(srv->epfd, EPOLL_CTL_ADD, listen_fd, EPOLLIN,
		      &srv->listen_src);
	if (r == 0)
		r = epoll_set(srv->epfd, EPOLL_CTL_ADD, srv->signal_fd, EPOLLIN,
			      &srv->signal_src);
	if (r == 0)
		r = epoll_set(srv->epfd, EPOLL_CTL_ADD, srv->wake_fd, EPOLLIN,
			      &srv->wake_src);
	/* Before any thread: they read it. */
	session_set_stats_handler(worker_answer_stats, srv);
	if (r == 0)
		r = server_start_workers(srv, opts->workers, opts->spin_us);
	if (r < 0)
		goto fail;
	srv->started_ms = now_ms();
	*out = srv;
	return 0;
fail:
	server_free(srv);
	return r;
}

struct config *server_swap_config(struct server *srv, struct config *cfg)
{
	struct config *old = srv->cfg;

	srv->cfg = cfg;
	return old;
}

/* The count for @uid, created at zero; NULL when out of memory.  Under
 * the lock. */
static struct uid_count *uid_count_get(struct server *srv, uint32_t uid)
{
	for (size_t i = 0; i < srv->nuids; i++)
		if (srv->uids[i].uid == uid)
			return &srv->uids[i];
	if (srv->nuids == srv->uids_cap) {
		size_t cap = srv->uids_cap ? 2 * srv->uids_cap : 16;
		struct uid_count *n = realloc(srv->uids, cap * sizeof(*n));

		if (!n)
			return NULL;
		srv->uids = n;
		srv->uids_cap = cap;
	}
	srv->uids[srv->nuids] = (struct uid_count){ .uid = uid };
	return &srv->uids[srv->nuids++];
}

/* Drop an entry that counts nothing any more.  Under the lock. */
static void uid_count_trim(struct server *srv, struct uid_count *u)
{
	if (u->sessions || u->refused)
		return;
	*u = srv->uids[--srv->nuids];
}

/* A connection counted at accept is gone.  Under the lock. */
static void server_uncount(struct server *srv, unsigned worker,
			   uint32_t uid, bool refused)
{
	srv->sessions--;
	srv->load[worker]--;
	if (!refused)
		srv->granted--;
	for (size_t i = 0; i < srv->nuids; i++) {
		struct uid_count *u = &srv->uids[i];

		if (u->uid != uid)
			continue;
		if (refused)
			u->refused--;
		else
			u->sessions--;
		uid_count_trim(srv, u);
		return;
	}
	log_err("uid %u: session count out of step", uid);
}

bool server_session_gone(struct server *srv, unsigned index, uint32_t uid,
			 bool refused, const struct session_stats *st)
{
	bool last, wake;

	pthread_mutex_lock(&srv->lock);
	server_uncount(srv, index, uid, refused);
	srv->ended_ops_done += st->ops_done;
	srv->ended_ops_refused += st->ops_refused;
	last = srv->sessions == 0;
	/* A descriptor came free: the listener may accept again. */
	wake = srv->accept_paused;
	pthread_mutex_unlock(&srv->lock);
	if (wake)
		wake_listener(srv);
	return last;
}

void server_worker_drained(struct server *srv, unsigned index)
{
	pthread_mutex_lock(&srv->lock);
	srv->drained++;
	pthread_mutex_unlock(&srv->lock);
	wake_listener(srv);
}

void server_stats_totals(struct server *srv, struct stats_totals *t)
{
	pthread_mutex_lock(&srv->lock);
	*t = (struct stats_totals){
		.uptime_ms = now_ms() - srv->started_ms,
		.connections = srv->sessions,
		.sessions_total = srv->sessions_total,
		.ended_ops_done = srv->ended_ops_done,
		.ended_ops_refused = srv->ended_ops_refused,
		.workers = srv->nworkers,
		.kernel_lacks = srv->kernel_lacks,
	};
	pthread_mutex_unlock(&srv->lock);
}

struct worker *const *server_workers(struct server *srv, unsigned *n)
{
	*n = srv->nworkers;
	return srv->workers;
}

static void accept_pause(struct server *srv)
{
	bool paused;

	pthread_mutex_lock(&srv->lock);
	paused = srv->accept_paused;
	pthread_mutex_unlock(&srv->lock);
	if (paused ||
	    epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->listen_fd, NULL) < 0)
		return;
	pthread_mutex_lock(&srv->lock);
	srv->accept_paused = true;
	pthread_mutex_unlock(&srv->lock);
	srv->paused_at_ms = now_ms();
}

static void accept_resume(struct server *srv)
{
	bool paused;

	pthread_mutex_lock(&srv->lock);
	paused = srv->accept_paused;
	pthread_mutex_unlock(&srv->lock);
	if (!paused || srv->stopping ||
	    epoll_set(srv->epfd, EPOLL_CTL_ADD, srv->listen_fd, EPOLLIN,
		      &srv->listen_src) < 0)
		return;
	pthread_mutex_lock(&srv->lock);
	srv->accept_paused = false;
	pthread_mutex_unlock(&srv->lock);
}

/* Why a new connection gets no session. */
enum deny_reason {
	DENY_NONE,
	DENY_LIMITS,        /* its resource limits could not be read */
	DENY_NO_SESSIONS,   /* its policy allows none */
	DENY_UID_QUOTA,     /* its uid holds max_sessions */
	DENY_TOTAL,         /* the daemon holds max_sessions_total */
};

/* Why a new connection gets no session; said in answer to its Hello. */
static void server_deny(struct server *srv, struct session *s,
			const struct session_peer *peer,
			const struct policy *pol, enum deny_reason why,
			int identify_err)
{
	uint32_t uid = peer->cred.uid;
	int pid = peer->cred.pid;

	switch (why) {
	case DENY_LIMITS:
		if (identify_err == -EMFILE || identify_err == -ENFILE ||
		    identify_err == -ENOMEM) {
			log_limited(LOG_WARNING, "uid %u pid %d: refused: cannot "
				    "read its resource limits: %s", uid, pid,
				    strerror(-identify_err));
			session_deny(s, SR_STATUS_QUOTA,
				     identify_err == -ENOMEM ?
				     "the daemon is out of memory" :
				     "the daemon is out of file descriptors");
			return;
		}
		log_warn("uid %u pid %d: refused: cannot read its resource "
			 "limits (/proc/%d/limits): %s", uid, pid, pid,
			 strerror(-identify_err));
		session_deny(s, SR_STATUS_NOT_PERMITTED,
			     identify_err == -ESRCH ?
			     "the connecting process is gone" :
			     "the daemon cannot read the client's resource limits");
		return;
	case DENY_NO_SESSIONS:
		log_info("uid %u pid %d: refused: no sessions allowed", uid, pid);
		session_deny(s, SR_STATUS_NOT_PERMITTED,
			     "no sessions allowed for this uid");
		return;
	case DENY_UID_QUOTA:
		log_info("uid %u pid %d: refused: %u sessions is its limit", uid,
			 pid, pol->max_sessions);
		session_deny(s, SR_STATUS_QUOTA, "too many sessions for this uid");
		return;
	case DENY_TOTAL:
		log_limited(LOG_WARNING, "uid %u pid %d: refused: %u sessions is "
			    "the daemon's limit (max_sessions_total)", uid, pid,
			    srv->max_sessions_total);
		session_deny(s, SR_STATUS_QUOTA,
			     "the daemon's session limit (max_sessions_total) "
			     "is reached");
		return;
	case DENY_NONE:
	default:
		return;
	}
}

/*
 * Count a new connection for @uid on the least-loaded worker of NUMA
 * node @node (-1: of all): a session, or (*why set) a pending refusal.
 * -EAGAIN: refused with too many refusals pending already; -ENOMEM.
 * Under the lock.
 */
static int server_count(struct server *srv, uint32_t uid,
			const struct policy *pol, int identify_err, int node,
			unsigned *worker, enum deny_reason *why)
{
	struct uid_count *u = uid_count_get(srv, uid);
	unsigned best;

	if (!u)
		return -ENOMEM;
	if (identify_err < 0)
		*why = DENY_LIMITS;
	else if (pol->max_sessions == 0)
		*why = DENY_NO_SESSIONS;
	else if (u->sessions >= pol->max_sessions)
		*why = DENY_UID_QUOTA;
	else if (srv->granted >= srv->max_sessions_total)
		*why = DENY_TOTAL;
	else
		*why = DENY_NONE;
	if (*why != DENY_NONE && u->refused >= MAX_PENDING_REFUSALS) {
		uid_count_trim(srv, u);
		return -EAGAIN;
	}
	best = numa_pick_worker(srv->worker_node, srv->load, srv->nworkers,
				node);
	*worker = best;
	srv->load[best]++;
	srv->sessions++;
	srv->sessions_total++;
	if (*why != DENY_NONE) {
		u->refused++;
	} else {
		u->sessions++;
		srv->granted++;
	}
	return 0;
}

/* Peer, limits, policy, quotas; then the session goes to a worker. */
static void server_take(struct server *srv, int fd)
{
	struct session_peer peer = { .file_size_limit = UINT64_MAX,
				     .incoming_cpu = -1 };
	socklen_t len = sizeof(peer.cred);
	enum deny_reason why;
	struct session *s;
	unsigned w;
	int pr, r;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer.cred, &len) < 0) {
		log_warn("new connection: no peer credentials: %s; refused",
			 strerror(errno));
		close(fd);
		return;
	}
	pr = peer_read_limits(fd, &peer.cred, &peer.file_size_limit);
	/* Where the kernel last processed the socket, when it says (AF_UNIX
	 * does not, today): it picks the worker's node.  The Hello's CPU,
	 * read later by that worker, picks only the arena's. */
	len = sizeof(peer.incoming_cpu);
	if (getsockopt(fd, SOL_SOCKET, SO_INCOMING_CPU, &peer.incoming_cpu,
		       &len) < 0)
		peer.incoming_cpu = -1;
	const struct policy *pol = config_lookup(srv->cfg, peer.cred.uid,
						 peer.cred.gid);
	pthread_mutex_lock(&srv->lock);
	r = server_count(srv, peer.cred.uid, pol, pr,
			 numa_node_of_cpu(&srv->topo, peer.incoming_cpu), &w,
			 &why);
	pthread_mutex_unlock(&srv->lock);
	if (r == -EAGAIN) {
		log_warn("uid %u pid %d: refused with %u refusals pending; "
			 "connection closed", peer.cred.uid, peer.cred.pid,
			 MAX_PENDING_REFUSALS);
		close(fd);
		return;
	}
	if (r < 0) {
		log_err("uid %u pid %d: out of memory; connection refused",
			peer.cred.uid, peer.cred.pid);
		close(fd);
		return;
	}
	/* Made here, served there: worker_adopt hands it over. */
	s = session_new(srv->next_session_id, fd, &peer, pol,
			worker_env(srv->workers[w]));
	if (s) {
		server_deny(srv, s, &peer, pol, why, pr);
		if (worker_adopt(srv->workers[w], s, peer.cred.uid,
				 why != DENY_NONE) == 0) {
			srv->next_session_id++;
			return;
		}
	}
	log_err("uid %u pid %d: out of memory; connection refused",
		peer.cred.uid, peer.cred.pid);
	if (s)
		session_free(s); /* and its socket */
	else
		close(fd);
	pthread_mutex_lock(&srv->lock);
	server_uncount(srv, w, peer.cred.uid, why != DENY_NONE);
	pthread_mutex_unlock(&srv->lock);
}

static void server_accept(struct server *srv)
{
	/* Bounded so a connect storm cannot starve the signals. */
	for (int i = 0; i < 16; i++) {
		int fd = accept4(srv->listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				if (!srv->accept_warned)
					log_warn("accept: %s; retrying every %d ms",
						 strerror(errno), ACCEPT_PAUSE_MS);
				srv->accept_warned = true;
				accept_pause(srv);
			} else if (errno != EAGAIN && errno != EINTR) {
				log_warn("accept: %s", strerror(errno));
			}
			return;
		}
		srv->accept_warned = false;
		server_take(srv, fd);
	}
}

static void server_stop(struct server *srv)
{
	unsigned sessions;
	bool paused;

	srv->stopping = true;
	srv->stop_deadline_ms = now_ms() + SERVER_STOP_TIMEOUT_MS;
	pthread_mutex_lock(&srv->lock);
	paused = srv->accept_paused;
	sessions = srv->sessions;
	pthread_mutex_unlock(&srv->lock);
	if (!paused)
		epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->listen_fd, NULL);
	for (unsigned i = 0; i < srv->nworkers; i++)
		worker_stop(srv->workers[i]);
	log_info("stopping: %u sessions draining", sessions);
}

static void server_reload(struct server *srv)
{
	struct config *cfg = srv->reload ? srv->reload() : NULL;

	if (!cfg) {
		log_warn("SIGHUP: keeping the current policy");
		return;
	}
	config_free(server_swap_config(srv, cfg));
	log_info("SIGHUP: policy reloaded from %s (%zu uid/gid sections); "
		 "new sessions get it", cfg->source, cfg->nrules);
}

void server_set_reload(struct server *srv, server_reload_fn fn)
{
	srv->reload = fn;
}

static void server_dispatch(struct server *srv, struct epoll_event *ev)
{
	const enum source_kind *src = ev->data.ptr;

	switch (*src) {
	case SOURCE_LISTENER:
		if (!srv->stopping)
			server_accept(srv);
		return;
	case SOURCE_SIGNAL: {
		struct signalfd_siginfo si;
		while (read(srv->signal_fd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGHUP)
				server_reload(srv);
			else if (!srv->stopping)
				server_stop(srv);
		}
		return;
	}
	case SOURCE_WAKE: {
		uint64_t n;

		if (read(srv->wake_fd, &n, sizeof(n)) < 0) {
			/* EAGAIN: woken and cleared already. */
		}
		accept_resume(srv);
		return;
	}
	default:
		return;
	}
}

/* While stopping: every worker drained (true), or how long to wait. */
static bool server_stopped(struct server *srv, int *timeout)
{
	uint64_t now = now_ms();
	unsigned drained, sessions;

	pthread_mutex_lock(&srv->lock);
	drained = srv->drained;
	sessions = srv->sessions;
	pthread_mutex_unlock(&srv->lock);
	if (drained == srv->nworkers)
		return true;
	if (now >= srv->stop_deadline_ms) {
		log_warn("stop: %u sessions still draining after %d ms; "
			 "leaving them to the kernel", sessions,
			 SERVER_STOP_TIMEOUT_MS);
		return true;
	}
	*timeout = (int)(srv->stop_deadline_ms - now);
	return false;
}

int server_run(struct server *srv)
{
	struct epoll_event events[MAX_EVENTS];
	int r = 0;

	for (;;) {
		bool paused;
		int timeout, n;

		pthread_mutex_lock(&srv->lock);
		paused = srv->accept_paused;
		pthread_mutex_unlock(&srv->lock);
		timeout = paused ? ACCEPT_PAUSE_MS : -1;
		if (srv->stopping && server_stopped(srv, &timeout))
			break;
		n = epoll_wait(srv->epfd, events, MAX_EVENTS, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			log_err("epoll_wait: %s", strerror(-r));
			break;
		}
		if (paused && now_ms() - srv->paused_at_ms >= ACCEPT_PAUSE_MS)
			accept_resume(srv);
		for (int i = 0; i < n; i++)
			server_dispatch(srv, &events[i]);
	}
	for (unsigned i = 0; i < srv->nworkers; i++)
		worker_exit(srv->workers[i]);
	for (unsigned i = 0; i < srv->nworkers; i++)
		worker_join(srv->workers[i]);
	if (r == 0)
		log_info("stopped");
	return r;
}

void server_free(struct server *srv)
{
	if (!srv)
		return;
	/* Every worker ends before any session goes (a worker hands
	 * Stats questions to the others); each then stops its set-up
	 * thread before it frees its sessions. */
	for (unsigned i = 0; i < srv->nworkers; i++)
		if (srv->workers[i])
			worker_exit(srv->workers[i]);
	for (unsigned i = 0; i < srv->nworkers; i++)
		if (srv->workers[i])
			worker_join(srv->workers[i]);
	for (unsigned i = 0; i < srv->nworkers; i++)
		worker_free(srv->workers[i]);
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->signal_fd >= 0)
		close(srv->signal_fd);
	if (srv->wake_fd >= 0)
		close(srv->wake_fd);
	if (srv->epfd >= 0)
		close(srv->epfd);
	config_free(srv->cfg);
	free(srv->workers);
	free(srv->load);
	free(srv->worker_node);
	free(srv->uids);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}
