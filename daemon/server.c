/* SPDX-License-Identifier: MIT */
/*
 * server.c - see server.h.
 */
#include "server.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "session.h"

#define MAX_EVENTS 64

enum source_kind {
	SOURCE_LISTENER,
	SOURCE_SIGNAL,
	SOURCE_SOCK,
	SOURCE_RING,
};

struct source {
	enum source_kind kind;
	struct client *client;
};

/* The server's handle on a session: its epoll state and list links. */
struct client {
	struct session *session;
	struct source sock_src, ring_src;
	int sock_fd;        /* fd registered in epoll, -1 when none */
	uint32_t sock_mask; /* events registered for sock_fd */
	int ring_fd;        /* ring fd registered in epoll, -1 when none */
	bool dead;          /* drained; freed after this batch of events */
	struct client *prev, *next;
};

struct server {
	int epfd;
	int listen_fd;
	int signal_fd;
	struct source listen_src, signal_src;
	struct policy policy;
	struct client *clients;
	uint64_t next_session_id;
	unsigned sessions;
	bool stopping;
};

static int epoll_set(int epfd, int op, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	return epoll_ctl(epfd, op, fd, &ev) < 0 ? -errno : 0;
}

int server_new(int listen_fd, const struct policy *policy,
	       struct server **out)
{
	struct server *srv = calloc(1, sizeof(*srv));
	sigset_t mask;
	int r;

	if (!srv) {
		close(listen_fd);
		return -ENOMEM;
	}
	srv->listen_fd = listen_fd;
	srv->epfd = srv->signal_fd = -1;
	srv->policy = *policy;
	srv->next_session_id = 1;
	srv->listen_src.kind = SOURCE_LISTENER;
	srv->signal_src.kind = SOURCE_SIGNAL;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	/* A client that vanishes must not kill us on send. */
	signal(SIGPIPE, SIG_IGN);

	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	srv->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (srv->epfd < 0 || srv->signal_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = epoll_set(srv->epfd, EPOLL_CTL_ADD, listen_fd, EPOLLIN,
		      &srv->listen_src);
	if (r == 0)
		r = epoll_set(srv->epfd, EPOLL_CTL_ADD, srv->signal_fd, EPOLLIN,
			      &srv->signal_src);
	if (r < 0)
		goto fail;
	*out = srv;
	return 0;
fail:
	server_free(srv);
	return r;
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
	if (session_drained(s) && !c->dead) {
		c->dead = true;
		if (c->ring_fd >= 0)
			epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->ring_fd, NULL);
		c->ring_fd = -1;
	}
}

static void server_accept(struct server *srv)
{
	/* Bounded so a connect storm cannot starve established sessions. */
	for (int i = 0; i < 16; i++) {
		int fd = accept4(srv->listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("accept: %s", strerror(errno));
			return;
		}
		struct ucred peer;
		socklen_t len = sizeof(peer);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0) {
			log_warn("new connection: no peer credentials: %s; refused",
				 strerror(errno));
			close(fd);
			continue;
		}
		struct client *c = calloc(1, sizeof(*c));
		struct session *s = c ? session_new(srv->next_session_id, fd,
						    &peer, &srv->policy) : NULL;
		if (!s) {
			log_err("uid %u pid %d: out of memory; connection refused",
				peer.uid, peer.pid);
			free(c);
			close(fd);
			continue;
		}
		c->session = s;
		c->sock_src = (struct source){ SOURCE_SOCK, c };
		c->ring_src = (struct source){ SOURCE_RING, c };
		c->sock_fd = fd;
		c->sock_mask = EPOLLIN;
		c->ring_fd = -1;
		if (epoll_set(srv->epfd, EPOLL_CTL_ADD, fd, EPOLLIN,
			      &c->sock_src) < 0) {
			log_err("session %llu: epoll: %s; connection refused",
				(unsigned long long)srv->next_session_id,
				strerror(errno));
			session_close(s, "epoll failed");
			session_free(s);
			free(c);
			continue;
		}
		srv->next_session_id++;
		srv->sessions++;
		c->next = srv->clients;
		if (srv->clients)
			srv->clients->prev = c;
		srv->clients = c;
	}
}

static void server_reap_dead(struct server *srv)
{
	struct client *c = srv->clients;

	while (c) {
		struct client *next = c->next;
		if (c->dead) {
			if (c->prev)
				c->prev->next = c->next;
			else
				srv->clients = c->next;
			if (c->next)
				c->next->prev = c->prev;
			session_free(c->session);
			free(c);
			srv->sessions--;
		}
		c = next;
	}
}

static void server_stop(struct server *srv)
{
	srv->stopping = true;
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->listen_fd, NULL);
	for (struct client *c = srv->clients; c; c = c->next) {
		session_close(c->session, "daemon stopping");
		client_sync(srv, c);
	}
	log_info("stopping: %u sessions draining", srv->sessions);
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
		while (read(srv->signal_fd, &si, sizeof(si)) == sizeof(si))
			if (!srv->stopping)
				server_stop(srv);
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
		break;
	}
	client_sync(srv, c);
}

int server_run(struct server *srv)
{
	struct epoll_event events[MAX_EVENTS];

	while (!srv->stopping || srv->clients) {
		int n = epoll_wait(srv->epfd, events, MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait: %s", strerror(errno));
			return -errno;
		}
		for (int i = 0; i < n; i++)
			server_dispatch(srv, &events[i]);
		server_reap_dead(srv);
	}
	log_info("stopped");
	return 0;
}

void server_free(struct server *srv)
{
	if (!srv)
		return;
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
	free(srv);
}
