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
 */
#include "server.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "offload.h"
#include "peer.h"
#include "saferring.h"
#include "saferring.pb-c.h"
#include "session.h"
#include "spin.h"

#define MAX_EVENTS 64
#define MAX_PENDING_REFUSALS 16
/* When accept fails for want of descriptors or memory the listener stays
 * readable; stop polling it for this long instead of spinning. */
#define ACCEPT_PAUSE_MS 100

enum source_kind {
	SOURCE_LISTENER,
	SOURCE_SIGNAL,
	SOURCE_OFFLOAD,
	SOURCE_SOCK,
	SOURCE_RING,
	SOURCE_DOORBELL,
};

struct source {
	enum source_kind kind;
	struct client *client;
};

/* The server's handle on a session: its epoll state and list links. */
struct client {
	struct session *session;
	struct source sock_src, ring_src, bell_src;
	int sock_fd;        /* fd registered in epoll, -1 when none */
	uint32_t sock_mask; /* events registered for sock_fd */
	int ring_fd;        /* ring fd registered in epoll, -1 when none */
	int bell_fd;        /* v2 doorbell registered in epoll, -1 when none */
	int hot;            /* index in server.hot, -1 when not polled */
	bool dead;          /* drained; freed after this batch of events */
	uint32_t uid;       /* peer's uid, for the per-uid count */
	bool refused;       /* counted as a pending refusal, not a session */
	struct client *prev, *next;
};

/* Sessions and pending refusals of one uid; entries at zero are removed. */
struct uid_count {
	uint32_t uid;
	uint32_t sessions;
	uint32_t refused;
};

struct server {
	int epfd;
	int listen_fd;
	int signal_fd;
	struct source listen_src, signal_src, offload_src;
	struct config *cfg;
	/* From the [daemon] settings at start-up; a reload keeps them. */
	uint32_t max_sessions_total;
	struct session_env env;
	struct client *clients;
	uint64_t next_session_id;
	unsigned sessions;  /* connections, granted or being refused */
	unsigned granted;   /* of them, sessions (counted per uid too) */
	struct uid_count *uids;
	size_t nuids, uids_cap;
	bool accept_paused;
	uint64_t paused_at_ms;
	bool accept_warned; /* said so once; quiet until an accept works */
	bool stopping;
	uint64_t stop_deadline_ms;
	server_reload_fn reload;
	/* v2 sessions polled instead of slept on (see server_poll_hot). */
	unsigned spin_us;
	struct client **hot;
	unsigned nhot, hot_cap;
	uint64_t last_work_us;   /* a hot session last had something to do */
	struct spin_guard spin;  /* contended: no polling for a while */
	uint64_t last_epoll_us;  /* while polling: when epoll was last asked */
	/* Figures for saferringctl, including sessions that have ended. */
	uint64_t started_ms;
	uint64_t sessions_total;
	uint64_t ended_ops_done, ended_ops_refused;
};

static uint64_t now_ms(void);
static void server_answer_stats(void *arg, struct session *asker,
				uint32_t seq, bool with_sessions);

static int epoll_set(int epfd, int op, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	return epoll_ctl(epfd, op, fd, &ev) < 0 ? -errno : 0;
}

int server_new(int listen_fd, struct config *cfg, struct server **out)
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
	srv->epfd = srv->signal_fd = -1;
	srv->cfg = cfg;
	srv->max_sessions_total = cfg->daemon.max_sessions_total;
	srv->env.pinned_max = cfg->daemon.max_pinned_total;
	srv->env.rings = true;
	srv->env.scratch = session_scratch_new();
	srv->spin_us = cfg->daemon.spin_us;
	if (spin_guard_init(&srv->spin) < 0)
		log_warn("cannot read /proc/loadavg: polling v2 rings will not "
			 "back off when the CPUs are contended");
	srv->next_session_id = 1;
	srv->listen_src.kind = SOURCE_LISTENER;
	srv->signal_src.kind = SOURCE_SIGNAL;
	srv->offload_src.kind = SOURCE_OFFLOAD;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	/* A client that vanishes must not kill us on send. */
	signal(SIGPIPE, SIG_IGN);

	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	srv->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (srv->epfd < 0 || srv->signal_fd < 0 || !srv->env.scratch) {
		if (!srv->env.scratch)
			errno = ENOMEM;
		r = -errno;
		goto fail;
	}
	r = epoll_set(srv->epfd, EPOLL_CTL_ADD, listen_fd, EPOLLIN,
		      &srv->listen_src);
	if (r == 0)
		r = epoll_set(srv->epfd, EPOLL_CTL_ADD, srv->signal_fd, EPOLLIN,
			      &srv->signal_src);
	/* After the signal mask: the thread inherits it. */
	if (r == 0)
		r = offload_start(&srv->env.offload);
	if (r == 0)
		r = epoll_set(srv->epfd, EPOLL_CTL_ADD,
			      offload_fd(srv->env.offload), EPOLLIN,
			      &srv->offload_src);
	if (r < 0)
		goto fail;
	srv->started_ms = now_ms();
	session_set_stats_handler(server_answer_stats, srv);
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

/* The count for @uid, created at zero; NULL when out of memory. */
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

/* Drop an entry that counts nothing any more. */
static void uid_count_trim(struct server *srv, struct uid_count *u)
{
	if (u->sessions || u->refused)
		return;
	*u = srv->uids[--srv->nuids];
}

static void uid_count_release(struct server *srv, const struct client *c)
{
	for (size_t i = 0; i < srv->nuids; i++) {
		struct uid_count *u = &srv->uids[i];

		if (u->uid != c->uid)
			continue;
		if (c->refused) {
			u->refused--;
		} else {
			u->sessions--;
			srv->granted--;
		}
		uid_count_trim(srv, u);
		return;
	}
	log_err("uid %u: session count out of step", c->uid);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void accept_pause(struct server *srv)
{
	if (srv->accept_paused)
		return;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->listen_fd, NULL) == 0) {
		srv->accept_paused = true;
		srv->paused_at_ms = now_ms();
	}
}

static void accept_resume(struct server *srv)
{
	if (!srv->accept_paused || srv->stopping)
		return;
	if (epoll_set(srv->epfd, EPOLL_CTL_ADD, srv->listen_fd, EPOLLIN,
		      &srv->listen_src) == 0)
		srv->accept_paused = false;
}

/* Poll @c's rings from now on instead of waiting for its doorbell: it
 * just had work, so the spin window starts again. */
static void client_hot(struct server *srv, struct client *c)
{
	if (c->dead)
		return;
	srv->last_work_us = spin_now_us();
	if (c->hot >= 0)
		return;
	if (srv->nhot == srv->hot_cap) {
		unsigned cap = srv->hot_cap ? 2 * srv->hot_cap : 16;
		struct client **n = realloc(srv->hot, cap * sizeof(*n));

		if (!n)
			return; /* it is served by its doorbell instead */
		srv->hot = n;
		srv->hot_cap = cap;
	}
	c->hot = (int)srv->nhot;
	srv->hot[srv->nhot++] = c;
}

static void client_cold(struct server *srv, struct client *c)
{
	if (c->hot < 0)
		return;
	srv->hot[c->hot] = srv->hot[--srv->nhot];
	srv->hot[c->hot]->hot = c->hot;
	c->hot = -1;
}

/* The doorbell is in epoll exactly while the session serves rings.  Out
 * before the session closes it: the client's copy keeps the eventfd
 * alive, and epoll would go on reporting it for a freed client. */
static void client_sync_doorbell(struct server *srv, struct client *c)
{
	int bell = session_doorbell_fd(c->session);

	if (bell == c->bell_fd)
		return;
	if (c->bell_fd >= 0) {
		epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->bell_fd, NULL);
		c->bell_fd = -1;
		client_cold(srv, c);
	}
	if (bell >= 0 && epoll_set(srv->epfd, EPOLL_CTL_ADD, bell, EPOLLIN,
				   &c->bell_src) == 0) {
		c->bell_fd = bell;
		/* Until it has been idle for a while, it is polled. */
		client_hot(srv, c);
	}
}

/* Bring epoll in step with what the session wants now. */
static void client_sync(struct server *srv, struct client *c)
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
		    epoll_set(srv->epfd, EPOLL_CTL_MOD, sock, want,
			      &c->sock_src) == 0)
			c->sock_mask = want;
	}
	if (ring >= 0 && c->ring_fd < 0 &&
	    epoll_set(srv->epfd, EPOLL_CTL_ADD, ring, EPOLLIN, &c->ring_src) == 0)
		c->ring_fd = ring;
	client_sync_doorbell(srv, c);
	if (session_drained(s) && !c->dead) {
		c->dead = true;
		if (c->ring_fd >= 0)
			epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->ring_fd, NULL);
		c->ring_fd = -1;
	}
}

/* Why a new connection gets no session; said in answer to its Hello. */
static void server_deny(struct server *srv, struct session *s,
			const struct session_peer *peer,
			const struct policy *pol, const struct uid_count *u,
			int identify_err)
{
	uint32_t uid = peer->cred.uid;
	int pid = peer->cred.pid;

	if (identify_err == -EMFILE || identify_err == -ENFILE ||
	    identify_err == -ENOMEM) {
		log_limited(LOG_WARNING, "uid %u pid %d: refused: cannot read its "
			    "resource limits: %s", uid, pid,
			    strerror(-identify_err));
		session_deny(s, SR_STATUS_QUOTA, identify_err == -ENOMEM ?
			     "the daemon is out of memory" :
			     "the daemon is out of file descriptors");
	} else if (identify_err < 0) {
		log_warn("uid %u pid %d: refused: cannot read its resource "
			 "limits (/proc/%d/limits): %s", uid, pid, pid,
			 strerror(-identify_err));
		session_deny(s, SR_STATUS_NOT_PERMITTED,
			     identify_err == -ESRCH ?
			     "the connecting process is gone" :
			     "the daemon cannot read the client's resource limits");
	} else if (pol->max_sessions == 0) {
		log_info("uid %u pid %d: refused: no sessions allowed", uid, pid);
		session_deny(s, SR_STATUS_NOT_PERMITTED,
			     "no sessions allowed for this uid");
	} else if (u->sessions >= pol->max_sessions) {
		log_info("uid %u pid %d: refused: %u sessions is its limit", uid,
			 pid, pol->max_sessions);
		session_deny(s, SR_STATUS_QUOTA, "too many sessions for this uid");
	} else {
		log_limited(LOG_WARNING, "uid %u pid %d: refused: %u sessions is "
			    "the daemon's limit (max_sessions_total)", uid, pid,
			    srv->max_sessions_total);
		session_deny(s, SR_STATUS_QUOTA,
			     "the daemon's session limit (max_sessions_total) "
			     "is reached");
	}
}

static void server_accept(struct server *srv)
{
	/* Bounded so a connect storm cannot starve established sessions. */
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
		struct session_peer peer = { .file_size_limit = UINT64_MAX };
		socklen_t len = sizeof(peer.cred);
		int pr;

		srv->accept_warned = false;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer.cred, &len) < 0) {
			log_warn("new connection: no peer credentials: %s; refused",
				 strerror(errno));
			close(fd);
			continue;
		}
		pr = peer_read_limits(fd, &peer.cred, &peer.file_size_limit);
		const struct policy *pol = config_lookup(srv->cfg, peer.cred.uid,
							 peer.cred.gid);
		struct uid_count *u = uid_count_get(srv, peer.cred.uid);
		struct client *c = u ? calloc(1, sizeof(*c)) : NULL;
		struct session *s = c ? session_new(srv->next_session_id, fd,
						    &peer, pol, &srv->env) : NULL;
		if (!s) {
			log_err("uid %u pid %d: out of memory; connection refused",
				peer.cred.uid, peer.cred.pid);
			if (u)
				uid_count_trim(srv, u);
			free(c);
			close(fd);
			continue;
		}
		c->uid = peer.cred.uid;
		session_set_owner(s, c);
		if (u->sessions >= pol->max_sessions ||
		    srv->granted >= srv->max_sessions_total || pr < 0) {
			if (u->refused >= MAX_PENDING_REFUSALS) {
				log_warn("uid %u pid %d: refused with %u refusals "
					 "pending; connection closed",
					 peer.cred.uid, peer.cred.pid, u->refused);
				session_free(s);
				uid_count_trim(srv, u);
				free(c);
				continue;
			}
			server_deny(srv, s, &peer, pol, u, pr);
			c->refused = true;
			u->refused++;
		} else {
			u->sessions++;
			srv->granted++;
		}
		c->session = s;
		c->sock_src = (struct source){ SOURCE_SOCK, c };
		c->ring_src = (struct source){ SOURCE_RING, c };
		c->bell_src = (struct source){ SOURCE_DOORBELL, c };
		c->sock_fd = fd;
		c->sock_mask = EPOLLIN;
		c->ring_fd = -1;
		c->bell_fd = -1;
		c->hot = -1;
		if (epoll_set(srv->epfd, EPOLL_CTL_ADD, fd, EPOLLIN,
			      &c->sock_src) < 0) {
			log_err("session %llu: epoll: %s; connection refused",
				(unsigned long long)srv->next_session_id,
				strerror(errno));
			session_close(s, "epoll failed");
			session_free(s);
			uid_count_release(srv, c);
			free(c);
			continue;
		}
		srv->next_session_id++;
		srv->sessions++;
		srv->sessions_total++;
		c->next = srv->clients;
		if (srv->clients)
			srv->clients->prev = c;
		srv->clients = c;
	}
}

static void server_reap_dead(struct server *srv)
{
	struct client *c = srv->clients;
	bool freed = false;

	while (c) {
		struct client *next = c->next;
		if (c->dead) {
			if (c->prev)
				c->prev->next = c->next;
			else
				srv->clients = c->next;
			if (c->next)
				c->next->prev = c->prev;
			struct session_stats st;
			client_cold(srv, c);
			session_get_stats(c->session, &st);
			srv->ended_ops_done += st.ops_done;
			srv->ended_ops_refused += st.ops_refused;
			session_free(c->session);
			uid_count_release(srv, c);
			free(c);
			srv->sessions--;
			/* A descriptor came free: try accepting again. */
			accept_resume(srv);
			freed = true;
		}
		c = next;
	}
	/* glibc keeps freed heap for reuse; once idle, give it back, so the
	 * daemon's memory returns to its baseline after a load. */
	if (freed && !srv->sessions)
		malloc_trim(0);
}

static void server_stop(struct server *srv)
{
	srv->stopping = true;
	srv->stop_deadline_ms = now_ms() + SERVER_STOP_TIMEOUT_MS;
	if (!srv->accept_paused)
		epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->listen_fd, NULL);
	for (struct client *c = srv->clients; c; c = c->next) {
		session_shutdown(c->session);
		client_sync(srv, c);
	}
	log_info("stopping: %u sessions draining", srv->sessions);
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

void server_set_spin(struct server *srv, unsigned usec)
{
	srv->spin_us = usec;
}

/*
 * Poll every hot v2 session once: its kernel completions, its completion
 * ring's room, its submission ring.  A session goes cold (its doorbell
 * armed: the client rings it after its next submission) once no hot
 * session had work for spin_us, at once when spinning is off or
 * contended, and never while it has work it could do now.
 */
static void server_poll_hot(struct server *srv)
{
	uint64_t now = spin_now_us();
	bool contended = spin_contended(&srv->spin, now);
	bool did = false;

	for (unsigned i = 0; i < srv->nhot; i++) {
		struct client *c = srv->hot[i];

		if (c->dead)
			continue;
		if (session_rings_poll(c->session))
			did = true;
		client_sync(srv, c);
	}
	if (did) {
		srv->last_work_us = now;
		if (!contended)
			return;
	}
	if (!contended && srv->spin_us &&
	    now - srv->last_work_us < srv->spin_us)
		return;
	for (unsigned i = 0; i < srv->nhot;) {
		struct client *c = srv->hot[i];

		if (c->dead || session_rings_idle(c->session))
			client_cold(srv, c); /* the last one moves to i */
		else
			i++;
	}
}

/* While polling, how often epoll is asked too: sockets, other sessions,
 * and the kernel's task work for asynchronous completions, which runs
 * on the way out of a system call. */
#define EPOLL_EVERY_US 20

/* epoll_wait without sleeping while sessions are hot. */
static int server_wait(struct server *srv, struct epoll_event *events,
		       int timeout)
{
	return epoll_wait(srv->epfd, events, MAX_EVENTS,
			  srv->nhot ? 0 : timeout);
}

/* Sessions listed in one Stats reply: 64 KiB holds about 500. */
#define STATS_MAX_SESSIONS 400

static void server_answer_stats(void *arg, struct session *asker,
				uint32_t seq, bool with_sessions)
{
	static struct session_stats st[STATS_MAX_SESSIONS];
	static Saferring__SessionStats ss[STATS_MAX_SESSIONS];
	static Saferring__SessionStats *ssp[STATS_MAX_SESSIONS];
	static Saferring__StatusCount counts[STATS_MAX_SESSIONS][SR_STATUS__COUNT];
	static Saferring__StatusCount *countp[STATS_MAX_SESSIONS][SR_STATUS__COUNT];
	struct server *srv = arg;
	Saferring__Stats out = SAFERRING__STATS__INIT;
	size_t n = 0;

	out.version = (char *)SR_VERSION;
	out.uptime_ms = now_ms() - srv->started_ms;
	/* The asker's own connection is not one of the sessions it asks
	 * about. */
	out.sessions = srv->sessions - 1;
	out.has_sessions_total = out.has_in_flight = true;
	out.has_ops_done = out.has_ops_refused = true;
	out.sessions_total = srv->sessions_total;
	out.ops_done = srv->ended_ops_done;
	out.ops_refused = srv->ended_ops_refused;
	for (struct client *c = srv->clients; c; c = c->next) {
		struct session_stats one, *p = n < STATS_MAX_SESSIONS ? &st[n] : &one;

		if (c->session == asker)
			continue;
		session_get_stats(c->session, p);
		out.in_flight += p->in_flight;
		out.ops_done += p->ops_done;
		out.ops_refused += p->ops_refused;
		if (!with_sessions || c->dead || p == &one) {
			out.truncated |= with_sessions && p == &one;
			continue;
		}
		Saferring__SessionStats *w = &ss[n];
		saferring__session_stats__init(w);
		w->session_id = p->id;
		w->uid = p->uid;
		w->pid = p->pid;
		w->has_slots_in_use = w->has_in_flight = w->has_fds = true;
		w->has_ops_done = w->has_ops_refused = true;
		w->has_bytes_read = w->has_bytes_written = true;
		w->slots_in_use = p->slots_in_use;
		w->in_flight = p->in_flight;
		w->fds = p->fds;
		w->ops_done = p->ops_done;
		w->ops_refused = p->ops_refused;
		w->bytes_read = p->bytes_read;
		w->bytes_written = p->bytes_written;
		w->refusals = countp[n];
		for (unsigned k = 0; k < SR_STATUS__COUNT; k++) {
			if (!p->refusals[k])
				continue;
			Saferring__StatusCount *sc = &counts[n][w->n_refusals];
			saferring__status_count__init(sc);
			sc->status = k;
			sc->count = p->refusals[k];
			countp[n][w->n_refusals++] = sc;
		}
		ssp[n++] = w;
	}
	out.has_truncated = out.truncated;
	out.n_session = n;
	out.session = ssp;
	session_send_stats(asker, seq, &out);
}

static void server_dispatch(struct server *srv, struct epoll_event *ev)
{
	struct source *src = ev->data.ptr;
	struct client *c = src->client;

	switch (src->kind) {
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
	case SOURCE_OFFLOAD: {
		struct offload_job *job;

		while ((job = offload_take_done(srv->env.offload))) {
			struct session *s = session_of_setup(job);

			session_on_setup_done(s);
			client_sync(srv, session_owner(s));
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
			client_hot(srv, c); /* completions move: poll a while */
		break;
	case SOURCE_DOORBELL:
		if (c->dead)
			return;
		session_rings_on_doorbell(c->session);
		client_hot(srv, c);
		break;
	default:
		return;
	}
	client_sync(srv, c);
}

int server_run(struct server *srv)
{
	struct epoll_event events[MAX_EVENTS];

	while (!srv->stopping || srv->clients) {
		int timeout = srv->accept_paused ? ACCEPT_PAUSE_MS : -1;

		if (srv->stopping) {
			uint64_t now = now_ms();
			if (now >= srv->stop_deadline_ms) {
				log_warn("stop: %u sessions still draining after %d ms; "
					 "leaving them to the kernel",
					 srv->sessions, SERVER_STOP_TIMEOUT_MS);
				break;
			}
			timeout = (int)(srv->stop_deadline_ms - now);
		}
		int n;

		/* Polling: the rings are memory, epoll a system call (and a
		 * costly one on a paravirtualised CPU); look at epoll only
		 * every EPOLL_EVERY_US. */
		if (srv->nhot && spin_now_us() - srv->last_epoll_us <
				 EPOLL_EVERY_US) {
			server_poll_hot(srv);
			server_reap_dead(srv);
			continue;
		}
		n = server_wait(srv, events, timeout);
		srv->last_epoll_us = spin_now_us();
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait: %s", strerror(errno));
			return -errno;
		}
		if (srv->accept_paused &&
		    now_ms() - srv->paused_at_ms >= ACCEPT_PAUSE_MS)
			accept_resume(srv);
		for (int i = 0; i < n; i++)
			server_dispatch(srv, &events[i]);
		if (srv->nhot)
			server_poll_hot(srv);
		server_reap_dead(srv);
	}
	log_info("stopped");
	return 0;
}

void server_free(struct server *srv)
{
	if (!srv)
		return;
	/* Before any session goes: the thread may be setting one up. */
	if (srv->env.offload) {
		offload_stop(srv->env.offload);
		srv->env.offload = NULL;
		for (struct client *c = srv->clients; c; c = c->next)
			session_setup_reclaim(c->session);
	}
	while (srv->clients) {
		struct client *c = srv->clients;
		srv->clients = c->next;
		session_free(c->session);
		free(c);
	}
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->signal_fd >= 0)
		close(srv->signal_fd);
	if (srv->epfd >= 0)
		close(srv->epfd);
	config_free(srv->cfg);
	free(srv->uids);
	free(srv->hot);
	session_scratch_free(srv->env.scratch);
	spin_guard_free(&srv->spin);
	free(srv);
}
