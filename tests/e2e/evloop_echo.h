/* SPDX-License-Identifier: MIT */
/*
 * evloop_echo.h - what test_evloop_epoll and test_evloop_uv share: a TCP
 * echo server whose accepts, receives, sends and closes all go through
 * saferringd as operations with completion callbacks (sr_set_callback,
 * sr_dispatch), a repeating saferring TIMEOUT operation beside them, and
 * a client thread that talks to the server over plain sockets and checks
 * every byte that comes back.  Each test drives the server from its own
 * event loop; only the loop differs.
 *
 * Every callback checks that it got the completion of the operation it
 * was set on (user_data and argument), so that a completion dispatched
 * to the wrong callback fails the test.  Header-only, like ops_util.h.
 */
#ifndef SAFERRING_TEST_EVLOOP_ECHO_H
#define SAFERRING_TEST_EVLOOP_ECHO_H

#include "ops_util.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>

#define EE_CLIENTS 4
#define EE_CHUNK 3000 /* not a multiple of anything the server uses */
#define EE_ROUNDS 40
#define EE_SLOT_SIZE 4096
/* The saferring timer and the loop's own timer: each must have fired
 * this often before the loop may end. */
#define EE_TICKS 3
#define EE_TIMER_NS (2 * 1000 * 1000ULL)

enum ee_kind { EE_ACCEPT = 1, EE_RECV, EE_SEND, EE_CLOSE, EE_TIMEOUT };
#define EE_UD(kind, i) ((uint64_t)(kind) << 32 | (uint32_t)(i))

struct ee_server;

struct ee_conn {
	struct ee_server *s;
	unsigned index;
	sr_handle_t handle;
	sr_slot_t slot;
	uint32_t len, off; /* bytes received into the slot, sent of them */
	bool closed;
};

struct ee_server {
	struct sr_client *c;
	sr_handle_t listen_h;
	uint16_t port;
	unsigned accepted, closed;
	struct ee_conn conns[EE_CLIENTS];
	uint64_t echoed;           /* bytes sent back, all connections */
	unsigned sr_ticks;         /* saferring TIMEOUT completions */
	unsigned loop_ticks;       /* the loop's own timer, counted by the test */
	bool stopping;             /* no new timeouts */
	bool submit_again;         /* sr_submit said -EAGAIN: retry on sr_fd */
	unsigned eagain;           /* how often */

	pthread_t client;
	atomic_bool client_done;
	atomic_uint client_bad;    /* bytes that came back wrong */
	atomic_ullong client_checked; /* bytes that came back right */
	char client_err[160];
};

static void ee_on_accept(struct sr_client *c, const struct sr_cqe *cqe,
			 void *arg);
static void ee_on_recv(struct sr_client *c, const struct sr_cqe *cqe,
		       void *arg);

/* Prep helpers fail the test on refusal: the server never asks for more
 * than a batch holds, since it submits after every completion. */
#define EE_PREP(call, fn, arg) do {					\
		int r_ = (call);					\
		if (r_)							\
			fail_msg("%s: %s", #call, strerror(-r_));	\
		assert_int_equal(sr_set_callback(s->c, fn, arg), 0);	\
	} while (0)

/* Submit what the callbacks prepared.  -EAGAIN is the daemon pushing
 * back: the batch stays prepared and the loop retries when sr_fd says. */
static void ee_submit(struct ee_server *s)
{
	int r = sr_submit(s->c);

	if (r == -EAGAIN) {
		s->submit_again = true;
		s->eagain++;
		return;
	}
	if (r < 0)
		fail_msg("sr_submit: %s", strerror(-r));
	s->submit_again = false;
}

static void ee_on_timeout(struct sr_client *c, const struct sr_cqe *cqe,
			  void *arg)
{
	struct ee_server *s = arg;

	assert_ptr_equal(c, s->c);
	assert_int_equal(cqe->user_data, EE_UD(EE_TIMEOUT, 0));
	ou_ok(cqe, -ETIME);
	s->sr_ticks++;
	if (s->stopping)
		return;
	EE_PREP(sr_prep_timeout(c, EE_UD(EE_TIMEOUT, 0), EE_TIMER_NS),
		ee_on_timeout, s);
	ee_submit(s);
}

static void ee_arm_recv(struct ee_conn *k)
{
	struct ee_server *s = k->s;

	EE_PREP(sr_prep_recv(s->c, EE_UD(EE_RECV, k->index), k->handle,
			     k->slot, 0, EE_SLOT_SIZE, 0), ee_on_recv, k);
}

static void ee_on_close(struct sr_client *c, const struct sr_cqe *cqe,
			void *arg)
{
	struct ee_conn *k = arg;

	assert_int_equal(cqe->user_data, EE_UD(EE_CLOSE, k->index));
	ou_ok(cqe, 0);
	k->closed = true;
	k->s->closed++;
}

static void ee_on_send(struct sr_client *c, const struct sr_cqe *cqe,
		       void *arg)
{
	struct ee_conn *k = arg;
	struct ee_server *s = k->s;

	assert_int_equal(cqe->user_data, EE_UD(EE_SEND, k->index));
	if (cqe->status != SR_STATUS_OK || cqe->res <= 0)
		fail_msg("send on connection %u: %s res %d", k->index,
			 sr_strstatus(cqe->status), cqe->res);
	assert_slot_equal(cqe->slot, k->slot);
	k->off += (uint32_t)cqe->res;
	s->echoed += (uint64_t)cqe->res;
	if (k->off < k->len)
		EE_PREP(sr_prep_send(c, EE_UD(EE_SEND, k->index), k->handle,
				     k->slot, k->off, k->len - k->off, 0),
			ee_on_send, k);
	else
		ee_arm_recv(k);
	ee_submit(s);
}

static void ee_on_recv(struct sr_client *c, const struct sr_cqe *cqe,
		       void *arg)
{
	struct ee_conn *k = arg;
	struct ee_server *s = k->s;

	assert_int_equal(cqe->user_data, EE_UD(EE_RECV, k->index));
	if (cqe->status != SR_STATUS_OK || cqe->res < 0)
		fail_msg("recv on connection %u: %s res %d", k->index,
			 sr_strstatus(cqe->status), cqe->res);
	assert_slot_equal(cqe->slot, k->slot);
	if (cqe->res == 0) {
		/* The client is done with this connection. */
		assert_int_equal(sr_slot_release(c, k->slot), 0);
		EE_PREP(sr_prep_close(c, EE_UD(EE_CLOSE, k->index), k->handle),
			ee_on_close, k);
	} else {
		k->len = (uint32_t)cqe->res;
		k->off = 0;
		EE_PREP(sr_prep_send(c, EE_UD(EE_SEND, k->index), k->handle,
				     k->slot, 0, k->len, 0), ee_on_send, k);
	}
	ee_submit(s);
}

static void ee_arm_accept(struct ee_server *s)
{
	EE_PREP(sr_prep_accept(s->c, EE_UD(EE_ACCEPT, s->accepted),
			       s->listen_h), ee_on_accept, s);
}

static void ee_on_accept(struct sr_client *c, const struct sr_cqe *cqe,
			 void *arg)
{
	struct ee_server *s = arg;
	struct ee_conn *k;

	assert_int_equal(cqe->user_data, EE_UD(EE_ACCEPT, s->accepted));
	if (cqe->status != SR_STATUS_OK || cqe->res < 0 ||
	    sr_handle_index(cqe->handle) < 0)
		fail_msg("accept: %s res %d", sr_strstatus(cqe->status),
			 cqe->res);
	assert_true(s->accepted < EE_CLIENTS);
	k = &s->conns[s->accepted];
	*k = (struct ee_conn){ .s = s, .index = s->accepted,
			       .handle = cqe->handle };
	k->slot = sr_slot_acquire(c);
	assert_true(sr_slot_index(k->slot) >= 0);
	s->accepted++;
	/* A callback prepares and submits the next operations itself. */
	ee_arm_recv(k);
	if (s->accepted < EE_CLIENTS)
		ee_arm_accept(s);
	ee_submit(s);
}

/* Blocking client, bounded by receive and send timeouts: each round
 * sends a chunk on every connection, then reads every echo back. */
static void *ee_client(void *arg)
{
	struct ee_server *s = arg;
	struct timeval tv = { .tv_sec = HD_TIMEOUT_MS / 1000 };
	int fd[EE_CLIENTS];
	static __thread char out[EE_CHUNK], in[EE_CHUNK];

	for (unsigned i = 0; i < EE_CLIENTS; i++)
		fd[i] = -1;
	for (unsigned i = 0; i < EE_CLIENTS; i++) {
		struct sockaddr_in a = ou_loopback(s->port);

		fd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd[i] < 0 ||
		    connect(fd[i], (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    setsockopt(fd[i], SOL_SOCKET, SO_RCVTIMEO, &tv,
			       sizeof(tv)) < 0 ||
		    setsockopt(fd[i], SOL_SOCKET, SO_SNDTIMEO, &tv,
			       sizeof(tv)) < 0) {
			snprintf(s->client_err, sizeof(s->client_err),
				 "client %u: connect: %s", i, strerror(errno));
			goto out;
		}
	}
	for (unsigned r = 0; r < EE_ROUNDS; r++) {
		for (unsigned i = 0; i < EE_CLIENTS; i++) {
			uint64_t pos = (uint64_t)r * EE_CHUNK;

			hd_pattern(out, EE_CHUNK, pos, 100 + i);
			if (send(fd[i], out, EE_CHUNK, MSG_NOSIGNAL) !=
			    EE_CHUNK) {
				snprintf(s->client_err, sizeof(s->client_err),
					 "client %u round %u: send: %s", i, r,
					 strerror(errno));
				goto out;
			}
		}
		for (unsigned i = 0; i < EE_CLIENTS; i++) {
			uint64_t pos = (uint64_t)r * EE_CHUNK;
			size_t got = 0;

			while (got < EE_CHUNK) {
				ssize_t n = recv(fd[i], in + got,
						 EE_CHUNK - got, 0);

				if (n <= 0) {
					snprintf(s->client_err,
						 sizeof(s->client_err),
						 "client %u round %u: recv %zd: %s",
						 i, r, n,
						 n ? strerror(errno) : "EOF");
					goto out;
				}
				got += (size_t)n;
			}
			if (hd_pattern_ok(in, EE_CHUNK, pos, 100 + i))
				s->client_checked += EE_CHUNK;
			else
				s->client_bad += EE_CHUNK;
		}
	}
out:
	for (unsigned i = 0; i < EE_CLIENTS; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	s->client_done = true;
	return NULL;
}

/* Listener, session, first accept and first timeout; the client thread
 * starts connecting at once (the kernel's backlog holds it until the
 * accepts run). */
static void ee_start(struct ee_server *s)
{
	struct sr_params p = { .slot_count = 16, .slot_size = EE_SLOT_SIZE };

	memset(s, 0, sizeof(*s));
	s->c = ou_connect(&p);
	s->listen_h = ou_register(s->c, ou_listener(&s->port));
	ee_arm_accept(s);
	EE_PREP(sr_prep_timeout(s->c, EE_UD(EE_TIMEOUT, 0), EE_TIMER_NS),
		ee_on_timeout, s);
	ee_submit(s);
	assert_false(s->submit_again);
	assert_int_equal(pthread_create(&s->client, NULL, ee_client, s), 0);
}

/* Whether the loop has nothing left to do: the client finished, every
 * connection closed, both timers fired often enough, and (once stopping)
 * the last timeout came back. */
static bool ee_finished(struct ee_server *s)
{
	if (!s->client_done || s->closed < s->accepted ||
	    s->sr_ticks < EE_TICKS || s->loop_ticks < EE_TICKS)
		return false;
	s->stopping = true;
	return sr_in_flight(s->c) == 0 && !s->submit_again;
}

/* The level-triggered promise, checked from inside the loop: whenever a
 * completion is ready, sr_fd polls readable. */
static void ee_check_level(struct ee_server *s)
{
	int ready = sr_cq_ready(s->c);
	struct pollfd p = { .fd = sr_fd(s->c), .events = POLLIN };

	assert_true(ready >= 0);
	if (ready > 0 && (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN)))
		fail_msg("%d completions ready but sr_fd not readable", ready);
}

/* One wake-up of sr_fd: retry a pushed-back submission, dispatch at
 * most @max completions (0: all ready). */
static void ee_on_fd(struct ee_server *s, unsigned max)
{
	int r;

	if (s->submit_again)
		ee_submit(s);
	r = sr_dispatch(s->c, max);
	if (r < 0 && r != -EAGAIN)
		fail_msg("sr_dispatch: %s", strerror(-r));
	if (max)
		assert_true(r <= (int)max);
}

static void ee_finish(struct ee_server *s)
{
	const uint64_t total = (uint64_t)EE_CLIENTS * EE_ROUNDS * EE_CHUNK;

	assert_int_equal(pthread_join(s->client, NULL), 0);
	if (s->client_err[0])
		fail_msg("%s", s->client_err);
	assert_int_equal(s->client_bad, 0);
	assert_int_equal(s->client_checked, total);
	assert_int_equal(s->echoed, total);
	assert_int_equal(s->accepted, EE_CLIENTS);
	assert_int_equal(s->closed, EE_CLIENTS);
	assert_true(s->sr_ticks >= EE_TICKS);
	assert_int_equal(sr_cq_ready(s->c), 0);
	printf("echoed %llu bytes on %u connections; %u saferring timeouts, "
	       "%u loop timer ticks, %u submissions pushed back\n",
	       (unsigned long long)s->echoed, EE_CLIENTS, s->sr_ticks,
	       s->loop_ticks, s->eagain);
	sr_close(s->c);
}

#endif
