/* SPDX-License-Identifier: MIT */
/*
 * conn.c - libsaferring's side of the socket: sends requests (waiting for
 * room with poll), receives and decodes replies into the bounded unpack
 * arena, queues completions as they come, and matches control replies by
 * seq.
 *
 * Must never trust a datagram: one that is truncated, carries an
 * unexpected descriptor or does not decode ends the session (-EPROTO).
 * Must never block in anything but poll(2), and never allocate per
 * message.
 */
#include <errno.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

int srl_fail(struct sr_client *c, int err)
{
	if (!c->error)
		c->error = err;
	return err;
}

/* Wait for @events; the revents, or -EINTR when a signal came first. */
static int sr_poll(struct sr_client *c, short events)
{
	struct pollfd pfd = { .fd = c->sock, .events = events };

	if (poll(&pfd, 1, -1) < 0)
		return -errno;
	return pfd.revents;
}

int srl_send_msg(struct sr_client *c, const ProtobufCMessage *msg, int fd)
{
	int ret;

	if (c->error)
		return c->error;
	for (;;) {
		ret = wire_send_message(c->sock, msg, fd);
		if (ret != -EAGAIN)
			break;
		/* The daemon stops reading while we do not: read too. */
		ret = sr_poll(c, POLLOUT | POLLIN);
		if (ret == -EINTR)
			continue;
		if (ret < 0)
			return ret;
		if (ret & POLLIN) {
			ret = srl_pump(c, false, NULL);
			if (ret < 0 && ret != -EAGAIN)
				return ret;
		}
	}
	if (ret == -EPIPE || ret == -ECONNRESET || ret == -ENOTCONN)
		return srl_fail(c, -ECONNRESET);
	return ret;
}

static uint64_t sr_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int srl_recv_reply(struct sr_client *c, bool wait, int *fd,
		  Saferring__Reply **out)
{
	struct wire_msg m;
	int ret;

	if (fd)
		*fd = -1;
	uint64_t spin_until = wait && c->busy_poll_us ?
		sr_now_us() + c->busy_poll_us : 0;

	for (;;) {
		ret = wire_recv(c->sock, c->rx, sizeof(c->rx), &m);
		if (ret != -EAGAIN || !wait)
			break;
		if (spin_until && sr_now_us() < spin_until)
			continue;
		ret = sr_poll(c, POLLIN);
		if (ret < 0)
			return ret;
	}
	if (ret == -EAGAIN)
		return ret;
	if (ret == 0 || ret == -ECONNRESET)
		return srl_fail(c, -ECONNRESET);
	if (ret < 0)
		return srl_fail(c, ret);

	if (m.truncated || m.fds_truncated || m.nfds > (fd ? 1U : 0U)) {
		wire_msg_close_fds(&m);
		return srl_fail(c, -EPROTO);
	}
	wire_arena_reset(&c->unpack);
	*out = saferring__reply__unpack(&c->unpack.allocator, m.len, c->rx);
	if (!*out) {
		wire_msg_close_fds(&m);
		return srl_fail(c, -EPROTO);
	}
	if (fd && m.nfds)
		*fd = m.fds[0];
	return 0;
}

/*
 * Receive and deal with one reply.  Completions are queued (0); a control
 * reply is handed back in *ctl (1) when the caller waits for one.
 * -EAGAIN when !@wait and nothing is there.
 */
int srl_pump(struct sr_client *c, bool wait, Saferring__Reply **ctl)
{
	Saferring__Reply *r;
	int ret;

	if (c->error)
		return c->error;
	ret = srl_recv_reply(c, wait, NULL, &r);
	if (ret)
		return ret;
	switch (r->body_case) {
	case SAFERRING__REPLY__BODY_COMPLETIONS:
		return srl_take_completions(c, r->completions);
	case SAFERRING__REPLY__BODY_ERROR:
		if (!r->has_seq) {
			/* A Submit refused whole: its operations never
			 * complete, so the session cannot go on. */
			ret = sr_status_errno(r->error->status);
			return srl_fail(c, ret ? ret : -EPROTO);
		}
		break;
	case SAFERRING__REPLY__BODY_WELCOME:
	case SAFERRING__REPLY__BODY_FD_REGISTERED:
	case SAFERRING__REPLY__BODY_FD_UNREGISTERED:
	case SAFERRING__REPLY__BODY_STATS:
	case SAFERRING__REPLY__BODY__NOT_SET:
	case _SAFERRING__REPLY__BODY__CASE_IS_INT_SIZE:
	default:
		/* Control replies: the caller's, matched by seq below. */
		break;
	}
	if (!ctl || !r->has_seq)
		return srl_fail(c, -EPROTO);
	*ctl = r;
	return 1;
}

/*
 * Send a control request with a fresh seq and wait for its reply, queueing
 * completions meanwhile.  An Error reply becomes its errno.  *out is valid
 * until the next receive.
 */
int srl_control(struct sr_client *c, Saferring__Request *req, int fd,
	       Saferring__Reply **out)
{
	Saferring__Reply *r = NULL;
	int ret;

	req->has_seq = 1;
	req->seq = ++c->seq;
	ret = srl_send_msg(c, &req->base, fd);
	if (ret)
		return ret;
	do
		ret = srl_pump(c, true, &r);
	while (ret == 0 || ret == -EINTR);
	if (ret < 0)
		return ret;
	if (r->seq != req->seq)
		return srl_fail(c, -EPROTO);
	if (r->body_case == SAFERRING__REPLY__BODY_ERROR) {
		ret = sr_status_errno(r->error->status);
		return ret ? ret : srl_fail(c, -EPROTO);
	}
	*out = r;
	return 0;
}
