/* SPDX-License-Identifier: MIT */
/*
 * local.c - the in-process backends: one saferringd worker (worker.c)
 * per client, serving one session over a socketpair, its ring driver on
 * io_uring (direct) or on a thread pool (threads).  The client talks to
 * it exactly as to the daemon, over the same transports; the worker has
 * no thread of its own (only its offload thread, for set-up): the
 * client's own calls run its loop, wherever the client would otherwise
 * wait for the daemon (srl_local_poll, and srl_local_fd in its polls).
 *
 * This file is the worker's embedder: it plays the part server.c plays
 * in the daemon (the server_* calls worker.h asks for), with a policy of
 * its own, since the program's own limits bound what it can do anyway.
 *
 * Must never return before the worker has let go of the session: the
 * arena and the descriptors are freed by the worker once drained.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "local.h"
#include "log.h"
#include "peer.h"
#include "policy.h"
#include "ring.h"
#include "saferring.h"
#include "session.h"
#include "worker.h"

/* Spin of the worker's polling of the rings: the daemon's default. */
#define LOCAL_SPIN_US 50U
/* While draining at sr_close: a bound on each sleep, in case a wake-up
 * is not one the worker's epoll sees (none is known). */
#define LOCAL_DRAIN_POLL_MS 10

/* worker.h's "server": what one client's worker reports to. */
struct server {
	/* Set by the worker on the client's own thread (it is embedded):
	 * no lock. */
	bool drained;   /* the worker stopped with no session left */
	uint64_t pinned;
	struct worker *worker;
};

struct sr_local {
	struct server srv;
	pid_t pid;            /* the process whose threads serve it */
	struct policy policy; /* the session's, for its whole life */
};

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static int probe_result;
static uint64_t probe_lacks;

/* kernel.io_uring_disabled: 0 everyone, 1 members of io_uring_group
 * only (io_uring_setup says -EPERM then), 2 nobody. */
static int local_sysctl_disabled(void)
{
	char buf[16] = "";
	int fd = open("/proc/sys/kernel/io_uring_disabled", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0; /* an older kernel: only io_uring_setup can tell */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 && buf[0] == '2';
}

static void local_probe(void)
{
	if (local_sysctl_disabled()) {
		probe_result = -EPERM;
		return;
	}
	probe_result = ring_driver_probe(&probe_lacks);
}

int srl_local_direct_usable(void)
{
	pthread_once(&probe_once, local_probe);
	return probe_result;
}

/* What a program may do through its own in-process backend: the
 * daemon's defaults for slots, with room for the descriptors and
 * operations a busy program has.  Its own RLIMIT_MEMLOCK and
 * RLIMIT_NOFILE bound it further, as for any of its own rings. */
static void local_policy(struct policy *p)
{
	policy_default(p);
	p->max_slot_count = POLICY_LIMIT_SLOTS;
	p->max_arena_bytes = 1ULL << 30;
	p->max_fds = 4096;
	p->max_in_flight = 4096;
	p->max_sessions = 1;
}

/* ---- worker.h's server side ---------------------------------------- */

bool server_session_gone(struct server *srv, unsigned index, uint32_t uid,
			 bool refused, const struct session_stats *st)
{
	(void)index;
	(void)uid;
	(void)refused;
	(void)st;
	(void)srv;
	return true; /* its worker's only session */
}

void server_worker_drained(struct server *srv, unsigned index)
{
	(void)index;
	srv->drained = true;
}

void server_stats_totals(struct server *srv, struct stats_totals *t)
{
	(void)srv;
	memset(t, 0, sizeof(*t));
}

struct worker *const *server_workers(struct server *srv, unsigned *n)
{
	*n = 1;
	return &srv->worker;
}

/* ---- start and stop ------------------------------------------------ */


static void local_quiet_logs(void)
{
	const char *v = secure_getenv("SAFERRING_DEBUG");

	/* The session's log lines are the daemon operator's; in a program
	 * they would be noise on its stderr.  Errors (bugs) still show. */
	log_set_max_priority(v && *v && strcmp(v, "0") ? LOG_DEBUG : LOG_ERR);
	if (v && *v && strcmp(v, "0"))
		log_set_verbose(1);
}

bool srl_local_poll(struct sr_local *l)
{
	return worker_poll(l->srv.worker);
}

int srl_local_fd(const struct sr_local *l)
{
	return worker_fd(l->srv.worker);
}

int srl_local_start(int backend, struct sr_local **out, int *sock)
{
	struct session_peer peer = { .file_size_limit = UINT64_MAX,
				     .incoming_cpu = -1 };
	socklen_t len = sizeof(peer.cred);
	struct worker_config wc = {
		.spin_us = LOCAL_SPIN_US,
		.pinned_max = UINT64_MAX, /* RLIMIT_MEMLOCK is the bound */
		.node = -1,
		.ring_threads = backend == SR_BACKEND_THREADS,
		.embedded = true,
	};
	struct sr_local *l;
	struct session *s;
	int sv[2], r;

	*out = NULL;
	*sock = -1;
	if (backend == SR_BACKEND_DIRECT) {
		r = srl_local_direct_usable();
		if (r < 0)
			return r;
		wc.kernel_lacks = probe_lacks;
	} else if (backend != SR_BACKEND_THREADS) {
		return -EINVAL;
	}
	local_quiet_logs();
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->pid = getpid();
	local_policy(&l->policy);
	wc.pinned = &l->srv.pinned;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		free(l);
		return r;
	}
	/* The session's end is non-blocking, as a listener's accept4 gives. */
	if (fcntl(sv[1], F_SETFL, O_NONBLOCK) < 0 ||
	    getsockopt(sv[1], SOL_SOCKET, SO_PEERCRED, &peer.cred, &len) < 0) {
		r = -errno;
		close(sv[0]);
		close(sv[1]);
		free(l);
		return r;
	}
	(void)peer_read_limits(sv[1], &peer.cred, &peer.file_size_limit);
	r = worker_new(&l->srv, &wc, &l->srv.worker);
	if (r < 0) {
		close(sv[0]);
		close(sv[1]);
		if (l->srv.worker) {
			worker_exit(l->srv.worker);
			worker_join(l->srv.worker);
			worker_free(l->srv.worker);
		}
		free(l);
		return r;
	}
	s = session_new(1, sv[1], &peer, &l->policy,
			worker_env(l->srv.worker));
	if (!s || worker_adopt(l->srv.worker, s, peer.cred.uid, false) < 0) {
		if (s)
			session_free(s); /* and sv[1] */
		else
			close(sv[1]);
		close(sv[0]);
		srl_local_stop(l);
		return -ENOMEM;
	}
	*sock = sv[0];
	*out = l;
	return 0;
}

void srl_local_stop(struct sr_local *l)
{
	struct server *srv;

	if (!l)
		return;
	/* A fork() child has none of the worker's threads: nothing would
	 * ever answer.  Its copy is left as it is, unused. */
	if (getpid() != l->pid)
		return;
	srv = &l->srv;
	/* The client hung up: the session cancels and drains as we run the
	 * loop; stop makes the worker say when nothing is left. */
	worker_stop(srv->worker);
	while (!srv->drained) {
		struct pollfd p = { .fd = worker_fd(srv->worker),
				    .events = POLLIN };

		if (!worker_poll(srv->worker))
			poll(&p, 1, LOCAL_DRAIN_POLL_MS);
	}
	worker_exit(srv->worker);
	worker_join(srv->worker);
	worker_free(srv->worker);
	free(l);
}
