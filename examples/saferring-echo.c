/* SPDX-License-Identifier: MIT */
/*
 * saferring-echo - a TCP echo server whose I/O all goes through saferringd.
 *
 *   saferring-echo [--socket PATH] --port N [--bind ADDR]
 *
 * The listening socket is made here (socket, bind and listen are not
 * io_uring), registered with the daemon, and then every accept, receive
 * and send is an operation the daemon checks and runs: one multishot
 * accept for all connections, one multishot receive per connection into
 * slots of the daemon's receive pool, and the sends straight from the
 * slot the data arrived in, which goes back to the pool once sent.  Many
 * connections are served at once from one thread.  Prints "listening on
 * ADDR port N" when ready (N is the real port when --port 0).
 *
 * Must never make an io_uring system call itself, never send a
 * connection's bytes out of order (one send in flight per connection),
 * and never hand a slot back to the pool while a send may read it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "saferring.h"

/* Slots wished for: 1024 of 16 KiB, enough for 256 busy connections. */
#define WANT_SLOTS 1024
#define WANT_SLOT_SIZE (16 * 1024)
#define NONE UINT32_MAX

/* user_data: what an operation was for, and the handle it was about. */
enum kind { K_ACCEPT = 1, K_RECV, K_SEND, K_PROVIDE, K_CLOSE, K_CANCEL };
#define UD(kind, h) ((uint64_t)(kind) << 32 | (uint32_t)(h))
#define UD_KIND(ud) ((enum kind)((ud) >> 32))
#define UD_HANDLE(ud) ((uint32_t)(ud))

struct conn {
	bool open;
	bool recv_armed;  /* a multishot receive is pending */
	bool want_recv;   /* arm one when the pool has slots */
	bool eof;         /* no more receives: close once sends are done */
	bool sending;     /* one send in flight */
	bool cancelling;
	uint32_t head, tail; /* queue of slots to send, linked by next */
	uint32_t next_ready; /* ready list link */
	bool ready;          /* in the ready list */
};

/* A slot's place in its connection's send queue. */
struct slot_q {
	uint32_t next;
	uint32_t off, len;
};

struct echo {
	struct sr_client *c;
	struct sr_limits lim;
	sr_handle_t listener;
	bool accept_armed;
	struct conn *conns;     /* fd_table_size, by handle */
	struct slot_q *q;       /* slot_count */
	uint32_t *provide;      /* slots waiting to go back to the pool */
	uint32_t nprovide;
	uint32_t pooled;        /* slots in the pool */
	uint32_t ready_head, ready_tail; /* conns with work to prepare */
	unsigned long conns_total, bytes;
};

static void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("saferring-echo: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: saferring-echo [--socket PATH] --port N [--bind ADDR]\n"
		"TCP echo server; accept, receive and send go through saferringd.\n"
		"\n"
		"  -s, --socket PATH  daemon socket (default: $%s, else %s)\n"
		"  -p, --port N       TCP port (0: any free one, printed)\n"
		"  -b, --bind ADDR    IPv4 or IPv6 address (default 127.0.0.1)\n"
		"  -h, --help         show this help\n",
		SR_SOCKET_ENV, SR_DEFAULT_SOCKET);
}

/* Queue a connection for the preparation pass. */
static void mark_ready(struct echo *e, uint32_t h)
{
	struct conn *cn = &e->conns[h];

	if (cn->ready)
		return;
	cn->ready = true;
	cn->next_ready = NONE;
	if (e->ready_tail == NONE)
		e->ready_head = h;
	else
		e->conns[e->ready_tail].next_ready = h;
	e->ready_tail = h;
}

static void give_back(struct echo *e, uint32_t slot)
{
	e->provide[e->nprovide++] = slot;
}

/* Submit a full batch so that @call can be tried once more. */
static void flush(struct echo *e)
{
	int ret = sr_submit_and_wait(e->c, 0);

	if (ret < 0)
		die("submit: %s", strerror(-ret));
}

/* Prepare with @call; when the batch is full, submit it and try again.
 * -ENOSPC still means the in-flight quota is full: the caller retries
 * in the next round, after reaping. */
#define PREP(e, call)                                                      \
	({                                                                 \
		int r_ = (call);                                           \
		if (r_ == -ENOSPC) {                                       \
			flush(e);                                          \
			r_ = (call);                                       \
		}                                                          \
		r_;                                                        \
	})

/* One connection's next step; false when the batch is full. */
static bool conn_work(struct echo *e, uint32_t h)
{
	struct conn *cn = &e->conns[h];
	int r;

	if (!cn->open)
		return true;
	if (cn->sending == false && cn->head != NONE) {
		struct slot_q *sq = &e->q[cn->head];

		r = PREP(e, sr_prep_send(e->c, UD(K_SEND, h), SR_HANDLE(h),
					 SR_SLOT(cn->head), sq->off,
					 sq->len - sq->off, 0));
		if (r == -ENOSPC)
			return false;
		if (r < 0)
			die("prepare send: %s", strerror(-r));
		cn->sending = true;
	}
	/* With the pool empty a receive would end at once (-ENOBUFS):
	 * wait for a refill instead. */
	if (cn->want_recv && !cn->eof && !cn->recv_armed && e->pooled) {
		r = PREP(e, sr_prep_recv_multishot(e->c, UD(K_RECV, h),
						   SR_HANDLE(h), 0));
		if (r == -ENOSPC)
			return false;
		if (r < 0)
			die("prepare receive: %s", strerror(-r));
		cn->recv_armed = true;
		cn->want_recv = false;
	}
	if (cn->eof && cn->recv_armed && !cn->cancelling) {
		/* A send failed: stop the receive before closing. */
		r = PREP(e, sr_prep_cancel(e->c, UD(K_CANCEL, h),
					   UD(K_RECV, h)));
		if (r == -ENOSPC)
			return false;
		cn->cancelling = true;
	}
	if (cn->eof && !cn->recv_armed && !cn->sending && cn->head == NONE) {
		r = PREP(e, sr_prep_close(e->c, UD(K_CLOSE, h),
					  SR_HANDLE(h)));
		if (r == -ENOSPC)
			return false;
		if (r < 0)
			die("prepare close: %s", strerror(-r));
		cn->open = false;
	}
	return true;
}

/* Prepare everything that waits: pool refills, the accept, then each
 * ready connection's sends, receives and closes. */
static void prepare(struct echo *e)
{
	int r;

	while (e->nprovide) {
		sr_slot_t s = SR_SLOT(e->provide[e->nprovide - 1]);

		r = PREP(e, sr_prep_provide(e->c, UD(K_PROVIDE, 0), s));
		if (r == -ENOSPC)
			return;
		if (r < 0)
			die("give a slot to the pool: %s", strerror(-r));
		e->nprovide--;
		e->pooled++;
	}
	if (!e->accept_armed) {
		r = PREP(e, sr_prep_multishot_accept(e->c, UD(K_ACCEPT, 0),
						     e->listener));
		if (r == -ENOSPC)
			return;
		if (r < 0)
			die("prepare accept: %s", strerror(-r));
		e->accept_armed = true;
	}
	while (e->ready_head != NONE) {
		uint32_t h = e->ready_head;

		if (!conn_work(e, h))
			return;
		e->ready_head = e->conns[h].next_ready;
		if (e->ready_head == NONE)
			e->ready_tail = NONE;
		e->conns[h].ready = false;
	}
}

static void on_accept(struct echo *e, const struct sr_cqe *cq)
{
	if (!(cq->flags & SR_CQE_F_MORE))
		e->accept_armed = false;
	if (cq->res < 0) {
		/* Over the fd quota (-EMFILE) or a transient error: the
		 * accept is armed again; connections wait in the backlog. */
		if (cq->status != SR_STATUS_OK)
			die("accept refused: %s", sr_strstatus(cq->status));
		fprintf(stderr, "saferring-echo: accept: %s\n",
			strerror(-cq->res));
		return;
	}
	int hi = sr_handle_index(cq->handle);

	if (hi < 0 || (uint32_t)hi >= e->lim.fd_table_size)
		die("accept without a handle");
	uint32_t h = (uint32_t)hi;
	e->conns[h] = (struct conn){ .open = true, .want_recv = true,
				     .head = NONE, .tail = NONE };
	e->conns_total++;
	mark_ready(e, h);
}

static void on_recv(struct echo *e, uint32_t h, const struct sr_cqe *cq)
{
	struct conn *cn = &e->conns[h];

	if (!(cq->flags & SR_CQE_F_MORE))
		cn->recv_armed = false;
	int si = sr_slot_index(cq->slot);

	if (si >= 0)
		e->pooled--;
	if (cq->res > 0 && si >= 0) {
		uint32_t s = (uint32_t)si;

		e->q[s] = (struct slot_q){ .next = NONE, .len = (uint32_t)cq->res };
		if (cn->tail == NONE)
			cn->head = s;
		else
			e->q[cn->tail].next = s;
		cn->tail = s;
		e->bytes += (unsigned long)cq->res;
		/* The receive stopped with data: arm it again. */
		if (!cn->recv_armed && !cn->eof)
			cn->want_recv = true;
	} else if (si >= 0) {
		give_back(e, (uint32_t)si);
	}
	if (cq->res == -ENOBUFS) {
		/* The pool ran dry: receive again once slots come back. */
		cn->want_recv = true;
	} else if (cq->res <= 0 && !cn->recv_armed) {
		/* End of stream, reset, or cancelled. */
		cn->eof = true;
	}
	mark_ready(e, h);
}

static void on_send(struct echo *e, uint32_t h, const struct sr_cqe *cq)
{
	struct conn *cn = &e->conns[h];
	uint32_t s = cn->head;

	cn->sending = false;
	if (cq->res <= 0) {
		/* The peer is gone: drop what is queued, stop receiving. */
		while (cn->head != NONE) {
			uint32_t next = e->q[cn->head].next;

			give_back(e, cn->head);
			cn->head = next;
		}
		cn->tail = NONE;
		cn->eof = true;
	} else {
		e->q[s].off += (uint32_t)cq->res;
		if (e->q[s].off >= e->q[s].len) {
			cn->head = e->q[s].next;
			if (cn->head == NONE)
				cn->tail = NONE;
			give_back(e, s);
		}
	}
	mark_ready(e, h);
}

static void on_cqe(struct echo *e, const struct sr_cqe *cq)
{
	uint32_t h = UD_HANDLE(cq->user_data);

	switch (UD_KIND(cq->user_data)) {
	case K_ACCEPT:
		on_accept(e, cq);
		break;
	case K_RECV:
		on_recv(e, h, cq);
		break;
	case K_SEND:
		on_send(e, h, cq);
		break;
	case K_PROVIDE:
		if (cq->res < 0)
			die("give a slot to the pool: %s (%s)",
			    strerror(-cq->res), sr_strstatus(cq->status));
		break;
	case K_CLOSE:
	case K_CANCEL:
		break;
	default:
		die("completion for unknown operation %#llx",
		    (unsigned long long)cq->user_data);
	}
}

/* The listening socket, registered with the daemon. */
static sr_handle_t listen_on(struct echo *e, const char *addr,
			     unsigned port)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	char shown[INET6_ADDRSTRLEN];
	int fd, one = 1;
	sr_handle_t h;

	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		len = sizeof(*sin6);
	} else {
		die("--bind %s: not an IPv4 or IPv6 address", addr);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		die("bind %s port %u: %s", addr, port, strerror(errno));
	if (listen(fd, SOMAXCONN) < 0)
		die("listen: %s", strerror(errno));
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		die("getsockname: %s", strerror(errno));
	inet_ntop(ss.ss_family, ss.ss_family == AF_INET ?
		  (void *)&sin->sin_addr : (void *)&sin6->sin6_addr,
		  shown, sizeof(shown));
	h = sr_register_fd(e->c, fd);
	if (sr_handle_index(h) < 0)
		die("register the listening socket: %s",
		    strerror(-sr_handle_index(h)));
	close(fd);
	printf("listening on %s port %u\n", shown,
	       ntohs(ss.ss_family == AF_INET ? sin->sin_port : sin6->sin6_port));
	fflush(stdout);
	return h;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "port", required_argument, NULL, 'p' },
		{ "bind", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sr_params params = { .slot_count = WANT_SLOTS,
				    .slot_size = WANT_SLOT_SIZE };
	struct echo e = { .ready_head = NONE, .ready_tail = NONE };
	const char *sock = NULL, *bind_addr = "127.0.0.1";
	long port = -1;
	struct sr_cqe *cqes;
	char *end;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "s:p:b:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'p':
			errno = 0;
			port = strtol(optarg, &end, 10);
			if (errno || *end || port < 0 || port > 65535)
				die("--port %s: not a port number", optarg);
			break;
		case 'b':
			bind_addr = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || port < 0) {
		usage(stderr);
		return 2;
	}
	/* A peer that resets must not kill us; the daemon sends anyway. */
	signal(SIGPIPE, SIG_IGN);

	ret = sr_connect(sock, &params, &e.c);
	if (ret < 0)
		die("connect to saferringd: %s", strerror(-ret));
	sr_limits(e.c, &e.lim);
	e.conns = calloc(e.lim.fd_table_size, sizeof(*e.conns));
	e.q = calloc(e.lim.slot_count, sizeof(*e.q));
	e.provide = calloc(e.lim.slot_count, sizeof(*e.provide));
	cqes = calloc(e.lim.max_batch, sizeof(*cqes));
	if (!e.conns || !e.q || !e.provide || !cqes)
		die("out of memory");
	e.listener = listen_on(&e, bind_addr, (unsigned)port);
	/* Every slot goes to the receive pool. */
	for (uint32_t i = 0; i < e.lim.slot_count; i++) {
		ret = sr_slot_index(sr_slot_acquire(e.c));
		if (ret < 0)
			die("acquire slot: %s", strerror(-ret));
		give_back(&e, (uint32_t)ret);
	}

	for (;;) {
		prepare(&e);
		ret = sr_submit_and_wait(e.c, 0);
		if (ret < 0)
			die("submit: %s", strerror(-ret));
		int n = sr_wait_cqes(e.c, cqes, e.lim.max_batch, 1);
		if (n < 0)
			die("waiting for completions: %s", strerror(-n));
		for (int i = 0; i < n; i++)
			on_cqe(&e, &cqes[i]);
		/* Refilled slots wake the receivers that starved. */
		if (e.nprovide || e.pooled)
			for (uint32_t h = 0; h < e.lim.fd_table_size; h++)
				if (e.conns[h].open && e.conns[h].want_recv &&
				    !e.conns[h].recv_armed)
					mark_ready(&e, h);
	}
}
