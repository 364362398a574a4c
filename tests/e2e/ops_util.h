/* SPDX-License-Identifier: MIT */
/*
 * ops_util.h - helpers the test_ops_* programs share: a libsaferring
 * session on the harness daemon, bounded waits for completions, loopback
 * sockets, and raw-protocol operations of the newer opcodes.
 *
 * Header-only (static functions) so that each test program stays one
 * file for the Makefile.  Every wait is bounded; nothing here may hang a
 * test.
 */
#ifndef SAFERRING_TEST_OPS_UTIL_H
#define SAFERRING_TEST_OPS_UTIL_H

#include "../lib/harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A session on the harness daemon; @p may be NULL. */
static inline struct sr_client *ou_connect(const struct sr_params *p)
{
	struct sr_client *c = NULL;
	int r = sr_connect(hd.sock, p, &c);

	if (r < 0)
		fail_msg("sr_connect: %s", strerror(-r));
	hd_check_backend(c);
	return c;
}

/* A session of @count slots of 4 KiB. */
static inline struct sr_client *ou_small_session(uint32_t count)
{
	struct sr_params p = { .slot_count = count, .slot_size = 4096 };

	return ou_connect(&p);
}

static inline void ou_submit(struct sr_client *c, int want)
{
	int r = sr_submit_and_wait(c, 0);

	if (r != want)
		fail_msg("sr_submit: %d (%s), expected %d", r,
			 r < 0 ? strerror(-r) : "", want);
}

/* Exactly @n completions within @ms, in arrival order. */
static inline void ou_wait_ms(struct sr_client *c, struct sr_cqe *out,
			      unsigned n, int ms)
{
	uint64_t deadline = hd_now_ns() + (uint64_t)ms * 1000000ULL;

	for (unsigned got = 0; got < n;) {
		int r = sr_peek_cqe(c, &out[got]);

		if (r == 0) {
			got++;
			continue;
		}
		if (r != -EAGAIN)
			fail_msg("waiting for completion %u of %u: %s", got + 1,
				 n, strerror(-r));
		uint64_t now = hd_now_ns();
		if (now >= deadline)
			fail_msg("only %u of %u completions within %d ms", got,
				 n, ms);
		struct pollfd p = { .fd = sr_fd(c), .events = POLLIN };
		poll(&p, 1, (int)((deadline - now) / 1000000ULL) + 1);
	}
}

static inline void ou_wait(struct sr_client *c, struct sr_cqe *out,
			   unsigned n)
{
	ou_wait_ms(c, out, n, HD_TIMEOUT_MS);
}

/* No completion may arrive within @ms. */
static inline void ou_quiet(struct sr_client *c, int ms)
{
	struct sr_cqe cqe;
	struct pollfd p = { .fd = sr_fd(c), .events = POLLIN };

	poll(&p, 1, ms);
	if (sr_peek_cqe(c, &cqe) == 0)
		fail_msg("unexpected completion: user_data %llu res %d",
			 (unsigned long long)cqe.user_data, cqe.res);
}

/* The completion with @user_data among @n; fails when missing. */
static inline const struct sr_cqe *ou_find(const struct sr_cqe *v,
					   unsigned n, uint64_t user_data)
{
	for (unsigned i = 0; i < n; i++)
		if (v[i].user_data == user_data)
			return &v[i];
	fail_msg("no completion for user_data %llu",
		 (unsigned long long)user_data);
	return NULL;
}

/* The completion must be the daemon's refusal @status, with its errno. */
static inline void ou_refused(const struct sr_cqe *e, uint32_t status)
{
	if (e->status != status)
		fail_msg("user_data %llu: expected %s, got %s (res %d)",
			 (unsigned long long)e->user_data, sr_strstatus(status),
			 sr_strstatus(e->status), e->res);
	assert_int_equal(e->res, sr_status_errno(status));
}

/* Run by the kernel with result @res. */
static inline void ou_ok(const struct sr_cqe *e, int res)
{
	if (e->status != SR_STATUS_OK || e->res != res)
		fail_msg("user_data %llu: expected OK res %d, got %s res %d",
			 (unsigned long long)e->user_data, res,
			 sr_strstatus(e->status), e->res);
}

/* A TCP listener on 127.0.0.1, any port: its fd; the port in *port. */
static inline int ou_listener(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 128), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static inline struct sockaddr_in ou_loopback(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	return a;
}

/* A blocking TCP connection to 127.0.0.1:@port. */
static inline int ou_dial(uint16_t port)
{
	struct sockaddr_in a = ou_loopback(port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		fail_msg("connect to port %u: %s", port, strerror(errno));
	return fd;
}

/* A connected TCP pair on loopback: sv[0] for the daemon, sv[1] for the
 * test.  (The daemon admits no AF_UNIX socket: its peer would see the
 * daemon's credentials.) */
static inline void ou_socketpair(int sv[2])
{
	struct sockaddr_in a = ou_loopback(0);
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
	sv[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(sv[1] >= 0);
	assert_int_equal(connect(sv[1], (struct sockaddr *)&a, sizeof(a)), 0);
	sv[0] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(sv[0] >= 0);
	close(l);
}

/* A connected UDP pair on loopback, for message boundaries. */
static inline void ou_udp_pair(int sv[2])
{
	struct sockaddr_in a[2];
	socklen_t len = sizeof(a[0]);

	for (int i = 0; i < 2; i++) {
		a[i] = ou_loopback(0);
		sv[i] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		assert_true(sv[i] >= 0);
		assert_int_equal(bind(sv[i], (struct sockaddr *)&a[i],
				      sizeof(a[i])), 0);
		assert_int_equal(getsockname(sv[i], (struct sockaddr *)&a[i],
					     &len), 0);
	}
	assert_int_equal(connect(sv[0], (struct sockaddr *)&a[1],
				 sizeof(a[1])), 0);
	assert_int_equal(connect(sv[1], (struct sockaddr *)&a[0],
				 sizeof(a[0])), 0);
}

/* Register @fd and close our copy: the daemon holds the only one. */
static inline sr_handle_t ou_register(struct sr_client *c, int fd)
{
	sr_handle_t h = sr_register_fd(c, fd);

	if (sr_handle_index(h) < 0)
		fail_msg("sr_register_fd: %s", strerror(-sr_handle_index(h)));
	close(fd);
	return h;
}

static inline sr_slot_t ou_acquire(struct sr_client *c)
{
	sr_slot_t s = sr_slot_acquire(c);

	assert_true(sr_slot_index(s) >= 0);
	return s;
}

/* Read exactly @len bytes from a blocking socket within the timeout. */
static inline void ou_read_all(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, HD_TIMEOUT_MS) != 1)
			fail_msg("read: only %zu of %zu bytes in time", got, len);
		ssize_t r = recv(fd, (char *)buf + got, len - got, 0);
		if (r <= 0)
			fail_msg("read: %s after %zu of %zu bytes",
				 r ? strerror(errno) : "end of stream", got, len);
		got += (size_t)r;
	}
}

/* ---- raw protocol ---------------------------------------------------- */

/* A raw operation of any opcode with no fields; set them after. */
static inline void ou_raw_op(struct rc_op *o, uint64_t tag, uint32_t opcode)
{
	rc_op_nop(o, tag);
	o->op.opcode = opcode;
}

static inline void ou_raw_fd(struct rc_op *o, struct rc_handle h)
{
	saferring__fd_handle__init(&o->fd);
	o->fd.index = h.index;
	o->fd.generation = h.generation;
	o->op.fd = &o->fd;
}

static inline void ou_raw_slot(struct rc_op *o, uint32_t slot, uint32_t gen,
			       uint32_t off, uint32_t len)
{
	saferring__slot_ref__init(&o->slot);
	o->slot.index = slot;
	o->slot.generation = gen;
	o->slot.offset = off;
	o->slot.length = len;
	o->op.slot = &o->slot;
}

/* Submit @n raw operations; each must be refused with its status. */
static inline void ou_raw_expect(struct rc *c, struct rc_op *ops, size_t n,
				 const uint32_t *status)
{
	struct rc_cqe *out = calloc(n, sizeof(*out));

	assert_non_null(out);
	rc_run(c, ops, n, out);
	for (size_t i = 0; i < n; i++) {
		const struct rc_cqe *e = rc_find_cqe(out, n, ops[i].op.tag);

		assert_non_null(e);
		if (e->status != status[i])
			fail_msg("raw op %zu (tag %llu, opcode %u): expected %s, "
				 "got %s (res %d)", i,
				 (unsigned long long)ops[i].op.tag,
				 ops[i].op.opcode, sr_strstatus(status[i]),
				 sr_strstatus(e->status), e->result);
		if (e->status != SR_STATUS_OK)
			assert_int_equal(e->result, sr_status_errno(e->status));
	}
	free(out);
}

/* One raw operation must be refused with @status. */
static inline void ou_raw_refused(struct rc *c, struct rc_op *op,
				  uint32_t status)
{
	ou_raw_expect(c, op, 1, &status);
}

#endif
