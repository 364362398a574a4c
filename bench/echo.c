/* SPDX-License-Identifier: MIT */
/*
 * echo.c - the echo workload: a TCP echo server on 127.0.0.1 in a child
 * process (the same for every backend), and --connections clients, each
 * keeping one --bs message in flight: send it, receive it back, repeat.
 * An operation is one round trip, timed from send to full reply.
 *
 * Clients: raw (io_uring SEND linked to RECV with MSG_WAITALL, sockets as
 * fixed files), pread (one thread, blocking send/recv, poll(2) to find
 * the connection whose reply came), threads (a pool of blocking threads,
 * by default one per connection), saferring (the raw client's shape
 * through saferringd, in backend-saferring.c).  Must never leave the
 * server process behind.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <liburing.h>

#include "bench.h"

#define ECHO_BUF (64 * 1024)

static void set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Write all of @len, waiting for room on a non-blocking socket. */
static int write_all(int fd, const unsigned char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			poll(&pfd, 1, -1);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void __attribute__((noreturn)) echo_server(int lfd)
{
	static unsigned char buf[ECHO_BUF];
	struct epoll_event evs[64], ev = { .events = EPOLLIN };
	int ep = epoll_create1(EPOLL_CLOEXEC);

	ev.data.fd = lfd;
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		_exit(1);
	for (;;) {
		int n = epoll_wait(ep, evs, 64, -1);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == lfd) {
				int c = accept4(lfd, NULL, NULL,
						SOCK_NONBLOCK | SOCK_CLOEXEC);

				if (c < 0)
					continue;
				set_nodelay(c);
				ev.data.fd = c;
				epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				continue;
			}
			for (;;) {
				ssize_t got = read(fd, buf, sizeof(buf));

				if (got < 0 && errno == EAGAIN)
					break;
				if (got <= 0 || write_all(fd, buf, (size_t)got)) {
					close(fd);
					break;
				}
			}
		}
	}
}

static pid_t echo_server_start(struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int lfd, one = 1;
	pid_t pid;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		bench_die("echo: socket: %s", strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	*addr = (struct sockaddr_in){
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	if (bind(lfd, (struct sockaddr *)addr, sizeof(*addr)) < 0 ||
	    listen(lfd, 4096) < 0 ||
	    getsockname(lfd, (struct sockaddr *)addr, &len) < 0)
		bench_die("echo: listen: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		echo_server(lfd);
	}
	close(lfd);
	return pid;
}

static int *echo_connect(const struct sockaddr_in *addr, unsigned n)
{
	int *fds = bench_alloc(n * sizeof(*fds));

	for (unsigned i = 0; i < n; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 ||
		    connect(fds[i], (const struct sockaddr *)addr, sizeof(*addr)) < 0)
			bench_die("echo: connect: %s", strerror(errno));
		set_nodelay(fds[i]);
	}
	return fds;
}

static void send_all(int fd, const unsigned char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			bench_die("echo: send: %s", n < 0 ? strerror(errno) : "closed");
		p += n;
		len -= (size_t)n;
	}
}

static void recv_all(int fd, unsigned char *p, size_t len)
{
	while (len) {
		ssize_t n = recv(fd, p, len, MSG_WAITALL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			bench_die("echo: recv: %s", n < 0 ? strerror(errno) : "closed");
		p += n;
		len -= (size_t)n;
	}
}

/* ---- raw: io_uring SEND -> RECV links on fixed files ---- */

struct echo_conn {
	uint64_t t0;
	uint32_t got;   /* bytes of the reply received so far */
};

#define UD_RECV 1ULL

static void raw_echo_prep(struct io_uring *ring, unsigned i, uint32_t bs,
			  unsigned char *sbuf, unsigned char *rbuf, bool send)
{
	struct io_uring_sqe *sqe;

	if (send) {
		sqe = io_uring_get_sqe(ring);
		io_uring_prep_send(sqe, (int)i, sbuf, bs, MSG_NOSIGNAL);
		sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_LINK;
		io_uring_sqe_set_data64(sqe, (uint64_t)i << 1);
	}
	sqe = io_uring_get_sqe(ring);
	io_uring_prep_recv(sqe, (int)i, rbuf, bs, MSG_WAITALL);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, ((uint64_t)i << 1) | UD_RECV);
}

static void echo_raw(struct bench *b, int *fds)
{
	unsigned m = b->o->connections;
	uint32_t bs = b->o->bs;
	struct echo_conn *cs = bench_alloc(m * sizeof(*cs));
	unsigned char *sbuf = bench_alloc(bs);
	unsigned char *rbufs = bench_alloc((size_t)m * bs);
	unsigned *pending = bench_alloc(m * sizeof(*pending));
	unsigned npending = 0, inflight = 0, head, n;
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	int r;

	r = raw_ring_init(&ring, 2 * m);
	if (r < 0)
		bench_die("raw: io_uring_queue_init: %s", strerror(-r));
	r = io_uring_register_files(&ring, fds, m);
	if (r < 0)
		bench_die("raw: register sockets: %s", strerror(-r));
	bench_fill(sbuf, bs, 3);

	bench_clock_start(b);
	for (unsigned i = 0; i < m; i++) {
		raw_echo_prep(&ring, i, bs, sbuf, rbufs + (size_t)i * bs, true);
		pending[npending++] = i;
	}
	inflight = 2 * m;
	for (;;) {
		uint64_t t = now_ns(), now;
		enum bench_phase ph;

		for (unsigned k = 0; k < npending; k++)
			cs[pending[k]].t0 = t;
		npending = 0;
		r = io_uring_submit_and_wait(&ring, 1);
		if (r < 0 && r != -EINTR)
			bench_die("raw: submit: %s", strerror(-r));
		now = now_ns();
		ph = bench_tick(b, now);
		n = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			unsigned i = (unsigned)(cqe->user_data >> 1);
			struct echo_conn *c = &cs[i];
			unsigned char *rbuf = rbufs + (size_t)i * bs;

			n++;
			inflight--;
			if (!(cqe->user_data & UD_RECV)) {
				if (cqe->res != (int)bs)
					bench_die("raw: send: %s", cqe->res < 0 ?
						  strerror(-cqe->res) : "short");
				continue;
			}
			if (cqe->res <= 0)
				bench_die("raw: recv: %s", cqe->res < 0 ?
					  strerror(-cqe->res) : "closed");
			c->got += (uint32_t)cqe->res;
			if (c->got < bs) {
				/* A short receive: wait for the rest. */
				raw_echo_prep(&ring, i, bs - c->got, sbuf,
					      rbuf + c->got, false);
				inflight++;
				continue;
			}
			c->got = 0;
			if (ph == PH_MEASURE) {
				hist_add(&b->lat, now - c->t0);
				b->ops++;
				b->bytes += bs;
			}
			if (ph == PH_DONE)
				continue;
			raw_echo_prep(&ring, i, bs, sbuf, rbuf, true);
			pending[npending++] = i;
			inflight += 2;
		}
		io_uring_cq_advance(&ring, n);
		if (ph == PH_DONE && !inflight)
			break;
	}
	io_uring_queue_exit(&ring);
	free(pending);
	free(rbufs);
	free(sbuf);
	free(cs);
}

/* ---- pread: one thread, blocking send/recv, poll for replies ---- */

static void echo_poll(struct bench *b, int *fds)
{
	unsigned m = b->o->connections, live = m;
	uint32_t bs = b->o->bs;
	struct pollfd *pfds = bench_alloc(m * sizeof(*pfds));
	uint64_t *t0 = bench_alloc(m * sizeof(*t0));
	unsigned char *sbuf = bench_alloc(bs), *rbuf = bench_alloc(bs);

	bench_fill(sbuf, bs, 3);
	bench_clock_start(b);
	for (unsigned i = 0; i < m; i++) {
		pfds[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		t0[i] = now_ns();
		send_all(fds[i], sbuf, bs);
	}
	while (live) {
		if (poll(pfds, m, -1) < 0) {
			if (errno == EINTR)
				continue;
			bench_die("poll: %s", strerror(errno));
		}
		for (unsigned i = 0; i < m; i++) {
			uint64_t now;
			enum bench_phase ph;

			if (!pfds[i].revents || pfds[i].fd < 0)
				continue;
			recv_all(fds[i], rbuf, bs);
			now = now_ns();
			ph = bench_tick(b, now);
			if (ph == PH_MEASURE) {
				hist_add(&b->lat, now - t0[i]);
				b->ops++;
				b->bytes += bs;
			}
			if (ph == PH_DONE) {
				pfds[i].fd = -1;
				live--;
				continue;
			}
			t0[i] = now_ns();
			send_all(fds[i], sbuf, bs);
		}
	}
	free(rbuf);
	free(sbuf);
	free(t0);
	free(pfds);
}

/* ---- threads: blocking round trips, connections shared out ---- */

struct echo_worker {
	struct bench *b;
	pthread_t tid;
	pthread_barrier_t *go;
	const int *fds;
	unsigned first, step;
	uint64_t ops, bytes;
	struct hist lat;
};

static void *echo_thread(void *arg)
{
	struct echo_worker *w = arg;
	struct bench *b = w->b;
	unsigned m = b->o->connections;
	uint32_t bs = b->o->bs;
	unsigned char *sbuf = bench_alloc(bs), *rbuf = bench_alloc(bs);
	bool done = false;

	bench_fill(sbuf, bs, 3);
	pthread_barrier_wait(w->go);
	while (!done) {
		for (unsigned i = w->first; i < m; i += w->step) {
			uint64_t t0 = now_ns(), now;
			enum bench_phase ph;

			send_all(w->fds[i], sbuf, bs);
			recv_all(w->fds[i], rbuf, bs);
			now = now_ns();
			ph = bench_phase_at(b, now);
			if (ph == PH_MEASURE) {
				hist_add(&w->lat, now - t0);
				w->ops++;
				w->bytes += bs;
			}
			if (ph == PH_DONE)
				done = true;
		}
	}
	free(rbuf);
	free(sbuf);
	return NULL;
}

static void echo_threads(struct bench *b, int *fds)
{
	unsigned m = b->o->connections;
	unsigned n = b->o->threads ? b->o->threads : m;
	struct echo_worker *ws;
	pthread_barrier_t go;
	int r;

	if (n > m)
		n = m;
	ws = bench_alloc(n * sizeof(*ws));
	b->nthreads = n;
	b->eff_qd = n;
	pthread_barrier_init(&go, NULL, n + 1);
	for (unsigned i = 0; i < n; i++) {
		ws[i] = (struct echo_worker){
			.b = b, .go = &go, .fds = fds, .first = i, .step = n,
		};
		r = pthread_create(&ws[i].tid, NULL, echo_thread, &ws[i]);
		if (r)
			bench_die("pthread_create: %s", strerror(r));
	}
	bench_clock_start(b);
	pthread_barrier_wait(&go);
	bench_wait_window(b);
	for (unsigned i = 0; i < n; i++) {
		pthread_join(ws[i].tid, NULL);
		hist_merge(&b->lat, &ws[i].lat);
		b->ops += ws[i].ops;
		b->bytes += ws[i].bytes;
	}
	pthread_barrier_destroy(&go);
	free(ws);
}

int echo_run(struct bench *b)
{
	struct sockaddr_in addr;
	pid_t server;
	int *fds, st;

	server = echo_server_start(&addr);
	b->peer_pid = server;
	b->peer_kind = "server";
	b->peer_ours = true;
	fds = echo_connect(&addr, b->o->connections);
	switch (b->o->backend) {
	case BE_RAW:
		echo_raw(b, fds);
		break;
	case BE_PREAD:
		echo_poll(b, fds);
		break;
	case BE_SAFERRING:
		backend_saferring_echo(b, fds);
		break;
	case BE_THREADS:
	case BE_UNIX:
	default:
		echo_threads(b, fds);
		break;
	}
	for (unsigned i = 0; i < b->o->connections; i++)
		close(fds[i]);
	free(fds);
	kill(server, SIGKILL);
	waitpid(server, &st, 0);
	return 0;
}
