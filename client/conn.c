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
#include <string.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "local.h"

int srl_fail(struct sr_client *c, int err)
{
	if (!c->error) {
		c->error = err;
		/* An event loop must hear of it: sr_peek_cqe returns it. */
		srl_ready_update(c);
		if (c->ts)
			srl_ts_kick(c);
	}
	return err;
}

int srl_ppoll(struct sr_client *c, struct pollfd *p, unsigned n,
	      const struct timespec *ts)
{
	struct pollfd all[4];
	int rc;

	if (!c->local) {
		rc = ppoll(p, n, ts, NULL);
		return rc < 0 ? -errno : rc;
	}
	if (n >= sizeof(all) / sizeof(all[0]))
		return -EINVAL;
	/* The worker runs in our calls alone: first let it do what it can,
	 * then sleep on it too. */
	if (srl_local_poll(c->local)) {
		for (unsigned i = 0; i < n; i++)
			p[i].revents = 0;
		return 1;
	}
	memcpy(all, p, n * sizeof(*p));
	all[n] = (struct pollfd){ .fd = srl_local_fd(c->local),
				  .events = POLLIN };
	rc = ppoll(all, n + 1, ts, NULL);
	if (rc < 0)
		return -errno;
	for (unsigned i = 0; i < n; i++)
		p[i].revents = all[i].revents;
	if (all[n].revents)
		srl_local_poll(c->local);
	return rc;
}

void srl_local_kick(struct sr_client *c)
{
	if (c->local)
		srl_local_poll(c->local);
}

/* Wait for @events; the revents, or -EINTR when a signal came first. */
static int sr_poll(struct sr_client *c, short events)
{
	struct pollfd pfd = { .fd = c->sock, .events = events };
	int rc = srl_ppoll(c, &pfd, 1, NULL);

	return rc < 0 ? rc : pfd.revents;
}

int srl_send_msg(struct sr_client *c, const ProtobufCMessage *msg, int fd)
{
	return srl_send_msg_wait(c, msg, fd, true);
}

int srl_send_msg_wait(struct sr_client *c, const ProtobufCMessage *msg,
		      int fd, bool wait)
{
	bool tried_again = false;
	int ret;

	if (c->error)
		return c->error;
	for (;;) {
		ret = wire_send_message(c->sock, msg, fd, c->tx,
					sizeof(c->tx));
		if (ret != -EAGAIN) {
			if (ret == 0)
				srl_local_kick(c);
			break;
		}
		if (!wait) {
			/* The daemon may have stopped reading only because
			 * we did not: read what came, and try once more. */
			if (tried_again) {
				if (!c->send_blocked) {
					c->send_blocked = true;
					srl_poll_update(c);
				}
				return -EAGAIN;
			}
			tried_again = true;
			do
				ret = srl_pump(c, false, NULL);
			while (ret == 0);
			if (ret != -EAGAIN)
				return ret;
			continue;
		}
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

int srl_recv_reply(struct sr_client *c, bool wait, int *fds,
		   unsigned maxfds, Saferring__Reply **out)
{
	struct wire_msg m;
	int ret;

	for (unsigned i = 0; i < maxfds; i++)
		fds[i] = -1;
	uint64_t spin_until = wait && c->spin_us && !c->rings.on ?
		spin_now_us() + c->spin_us : 0;

	for (;;) {
		ret = wire_recv(c->sock, c->rx, sizeof(c->rx), &m);
		if (ret != -EAGAIN || !wait)
			break;
		if (spin_until && spin_now_us() < spin_until) {
			srl_local_kick(c);
			continue;
		}
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

	if (m.truncated || m.fds_truncated || m.nfds > maxfds) {
		wire_msg_close_fds(&m);
		return srl_fail(c, -EPROTO);
	}
	wire_arena_reset(&c->unpack);
	*out = saferring__reply__unpack(&c->unpack.allocator, m.len, c->rx);
	if (!*out) {
		wire_msg_close_fds(&m);
		return srl_fail(c, -EPROTO);
	}
	for (unsigned i = 0; i < m.nfds; i++)
		fds[i] = m.fds[i];
	return 0;
}

/* A CompletionBatch on the socket: the same as a Completions. */
static int sr_take_batch(struct sr_client *c,
			 const Saferring__CompletionBatch *b)
{
	size_t n;

	if (batch_completions_from_wire(b, c->comps, BATCH_MAX_OPS, &n))
		return srl_fail(c, -EPROTO);
	return srl_take_decoded(c, c->comps, n);
}

/* One reply from the socket (see srl_pump). */
static int sr_pump_socket(struct sr_client *c, bool wait,
			  Saferring__Reply **ctl)
{
	Saferring__Reply *r;
	int ret;

	ret = srl_recv_reply(c, wait, NULL, 0, &r);
	if (ret)
		return ret;
	switch (r->body_case) {
	case SAFERRING__REPLY__BODY_COMPLETIONS:
		return srl_take_completions(c, r->completions);
	case SAFERRING__REPLY__BODY_COMPLETION_BATCH:
		return sr_take_batch(c, r->completion_batch);
	case SAFERRING__REPLY__BODY_ERROR:
		if (!r->has_seq) {
			/* A batch refused whole: its operations never
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

int srl_pump(struct sr_client *c, bool wait, Saferring__Reply **ctl)
{
	int ret;

	if (c->error)
		return c->error;
	/* Without waiting too: an event loop's sr_peek_cqe is all the
	 * in-process worker gets to run. */
	srl_local_kick(c);
	if (!c->rings.on)
		return sr_pump_socket(c, wait, ctl);
	for (;;) {
		ret = srl_rings_take(c);
		if (ret != 0)
			return ret < 0 ? ret : 0;
		/* Completions are polled for before the socket is asked (a
		 * system call): an error there waits a spin at most.  A
		 * control reply comes on the socket alone. */
		if (wait && !ctl && srl_rings_spin(c))
			continue;
		ret = sr_pump_socket(c, false, ctl);
		if (ret != -EAGAIN || !wait)
			return ret;
		ret = srl_rings_sleep(c, NULL);
		if (ret < 0)
			return ret;
	}
}

int srl_wait_event(struct sr_client *c, int64_t timeout_ns)
{
	struct timespec ts, *tsp = NULL;
	struct pollfd p = { .fd = c->sock, .events = POLLIN };
	int ret;

	if (c->error)
		return c->error;
	if (c->ts)
		return srl_ts_wait(c, timeout_ns);
	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	if (c->rings.on)
		return srl_rings_spin(c) ? 0 : srl_rings_sleep(c, tsp);
	ret = srl_ppoll(c, &p, 1, tsp);
	if (ret < 0)
		return ret;
	return ret ? 0 : -ETIME;
}

int srl_pump_wait(struct sr_client *c)
{
	int ret;

	if (!c->ts)
		return srl_pump(c, true, NULL);
	ret = srl_pump(c, false, NULL);
	return ret == -EAGAIN ? srl_ts_wait(c, -1) : ret;
}

int srl_socket_send(struct sr_client *c, const struct op_request *ops,
		    unsigned n, bool wait)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	int ret;

	ret = batch_ops_to_wire(c->enc, ops, n);
	if (ret)
		return ret;
	req.body_case = SAFERRING__REQUEST__BODY_OP_BATCH;
	req.op_batch = &c->enc->msg;
	ret = srl_send_msg_wait(c, &req.base, -1, wait);
	/* The batch that waited for room went: sr_fd need not say so. */
	if (!ret && c->send_blocked) {
		c->send_blocked = false;
		srl_poll_update(c);
	}
	return ret;
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
