/* SPDX-License-Identifier: MIT */
/*
 * backend-saferring.c - the workloads through saferringd with
 * libsaferring.  Files: one slot per operation in flight, the file
 * registered once, qd operations kept in flight by resubmitting every
 * completion reaped (one Submit per reap, or per --batch operations).
 * Echo: each connection registered, a send slot and a receive slot, a
 * SEND linked to a RECV (MSG_WAITALL) per round trip.  Idle: sessions
 * that do one NOP each and then nothing, to see what they cost the
 * daemon while they sit there.
 *
 * Which transport and whether the inline attempt is on is libsaferring's
 * choice from $SAFERRING_TRANSPORT and $SAFERRING_INLINE (run-matrix.sh
 * sets them); the result reports what the session actually got
 * (sr_limits.flags), so a label can never claim rings the daemon did not
 * grant.
 *
 * The daemon is the one at --socket, else at $SAFERRING_SOCKET, else a
 * private one started for the run.  Must never make an io_uring system
 * call itself: everything goes through libsaferring, as a sandboxed
 * client's would.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bench.h"
#include "saferring.h"

struct srb_op {
	uint64_t t0;
	sr_slot_t slot;
	bool fsync; /* this op is doing an fdatasync */
};

struct srb {
	struct bench *b;
	struct sr_client *c;
	sr_handle_t handle;
	struct srb_op *ops;
	unsigned *pending; /* ops prepared since the last submit */
	unsigned npending;
	unsigned batch;    /* submit when this many are pending */
	uint64_t rng;
};

/* The daemon's socket named by --socket or the environment, or NULL
 * for a private daemon. */
static const char *srb_named_socket(const struct bench *b)
{
	const char *path = b->o->socket;

	if (!path) {
		path = getenv(SR_SOCKET_ENV);
		if (path && !*path)
			path = NULL;
	}
	return path;
}

/* What the session got, for the report. */
static void srb_note_session(struct bench *b, const struct sr_limits *lim)
{
	b->sr_session = true;
	b->sr_flags = lim->flags;
	b->sr_spin_us = lim->spin_us;
}

/* --sr-backend direct or threads: an in-process session, no daemon. */
static struct sr_client *srb_connect_local(struct bench *b,
					   const struct sr_params *p)
{
	struct sr_params mine = *p;
	struct sr_client *c = NULL;
	int r;

	mine.backend = (uint32_t)b->o->sr_backend;
	r = sr_connect(NULL, &mine, &c);
	if (r < 0)
		bench_die("saferring %s backend: %s",
			  sr_backend_name(b->o->sr_backend), strerror(-r));
	b->sr_backend = sr_backend(c);
	return c;
}

/* Connect to the daemon, starting a private one if none is named. */
static struct sr_client *srb_connect(struct bench *b, struct private_daemon *d,
				     const struct sr_params *p)
{
	const char *path = srb_named_socket(b);
	struct sr_params daemon_only = *p;
	struct sr_client *c = NULL;
	uint64_t give_up;
	int r;

	if (b->o->sr_backend != SR_BACKEND_DAEMON)
		return srb_connect_local(b, p);
	/* Whatever $SAFERRING_BACKEND says: --sr-backend chose. */
	daemon_only.backend = SR_BACKEND_DAEMON;
	p = &daemon_only;
	b->sr_backend = SR_BACKEND_DAEMON;
	if (path) {
		r = sr_connect(path, p, &c);
		if (r < 0)
			bench_die("connect to saferringd at %s: %s", path,
				  strerror(-r));
		b->peer_pid = daemon_peer_pid(path);
		if (!b->peer_pid)
			bench_warn("cannot tell saferringd's pid from %s (socket "
				   "activation?): daemon CPU not reported", path);
		return c;
	}
	daemon_start(d, b->o->daemon);
	give_up = now_ns() + 5000000000ULL;
	for (;;) {
		r = sr_connect(d->sock, p, &c);
		if (r == 0)
			break;
		if ((r != -ENOENT && r != -ECONNREFUSED) || now_ns() > give_up) {
			daemon_stop(d);
			bench_die("connect to private saferringd: %s", strerror(-r));
		}
		daemon_wait_step(d);
	}
	b->peer_pid = d->pid;
	b->peer_ours = true;
	return c;
}

static void srb_submit(struct srb *x)
{
	uint64_t t = now_ns();
	int r;

	for (unsigned k = 0; k < x->npending; k++)
		x->ops[x->pending[k]].t0 = t;
	r = sr_submit_and_wait(x->c, 0);
	if (r < 0)
		bench_die("saferring: submit: %s", strerror(-r));
	x->npending = 0;
}

static void srb_prep(struct srb *x, unsigned i)
{
	struct bench *b = x->b;
	const struct bench_opts *o = b->o;
	struct srb_op *op = &x->ops[i];
	int r;

	for (int tries = 0; tries < 2; tries++) {
		if (op->fsync)
			r = sr_prep_fsync(x->c, i, x->handle, SR_FSYNC_DATASYNC);
		else if (o->workload == WL_RANDWRITE)
			r = sr_prep_write(x->c, i, x->handle, op->slot, 0, o->bs,
					  bench_offset(b, &x->rng));
		else
			r = sr_prep_read(x->c, i, x->handle, op->slot, 0, o->bs,
					 bench_offset(b, &x->rng));
		if (r != -ENOSPC || !x->npending)
			break;
		srb_submit(x);
	}
	if (r < 0)
		bench_die("saferring: prepare: %s", strerror(-r));
	x->pending[x->npending++] = i;
	if (x->npending >= x->batch)
		srb_submit(x);
}

int backend_saferring_file(struct bench *b)
{
	const struct bench_opts *o = b->o;
	struct private_daemon d = { 0 };
	struct sr_params p = { .slot_count = o->qd, .slot_size = o->bs };
	struct srb x = { .b = b, .rng = 0x9E3779B97F4A7C15ULL };
	struct sr_limits lim;
	struct sr_cqe *cqes;
	unsigned qd = o->qd;
	int n;

	x.c = srb_connect(b, &d, &p);
	b->peer_kind = "daemon";
	sr_limits(x.c, &lim);
	srb_note_session(b, &lim);
	if (lim.slot_size < o->bs)
		bench_die("saferring: daemon grants %u-byte slots, --bs is %u",
			  lim.slot_size, o->bs);
	if (lim.slot_count < qd || lim.max_in_flight < qd) {
		qd = lim.slot_count < lim.max_in_flight ? lim.slot_count :
							  lim.max_in_flight;
		bench_warn("saferring: daemon grants %u slots and %u in flight; "
			   "running at qd %u", lim.slot_count, lim.max_in_flight,
			   qd);
		b->note = "qd clamped to the daemon's limits";
	}
	b->eff_qd = qd;
	x.batch = o->batch ? o->batch : qd;
	if (x.batch > lim.max_batch)
		x.batch = lim.max_batch;
	x.handle = sr_register_fd(x.c, b->fd);
	if (sr_handle_index(x.handle) < 0)
		bench_die("saferring: register file: %s",
			  strerror(-sr_handle_index(x.handle)));
	x.ops = bench_alloc(qd * sizeof(*x.ops));
	x.pending = bench_alloc(qd * sizeof(*x.pending));
	cqes = bench_alloc(qd * sizeof(*cqes));
	for (unsigned i = 0; i < qd; i++) {
		x.ops[i].slot = sr_slot_acquire(x.c);
		if (sr_slot_index(x.ops[i].slot) < 0)
			bench_die("saferring: acquire slot: %s",
				  strerror(-sr_slot_index(x.ops[i].slot)));
		if (o->workload == WL_RANDWRITE)
			bench_fill(sr_slot_data(x.c, x.ops[i].slot), o->bs, i + 1);
	}

	bench_clock_start(b);
	for (unsigned i = 0; i < qd; i++)
		srb_prep(&x, i);
	for (;;) {
		enum bench_phase ph;
		uint64_t now;

		if (x.npending)
			srb_submit(&x);
		if (!sr_in_flight(x.c))
			break;
		n = sr_wait_cqes(x.c, cqes, qd, 1);
		if (n < 0)
			bench_die("saferring: wait: %s", strerror(-n));
		now = now_ns();
		ph = bench_tick(b, now);
		for (int k = 0; k < n; k++) {
			const struct sr_cqe *e = &cqes[k];
			unsigned i = (unsigned)e->user_data;
			struct srb_op *op = &x.ops[i];
			bool due = false;

			if (e->res < 0)
				bench_die("saferring: %s: %s%s%s",
					  op->fsync ? "fdatasync" : "I/O",
					  strerror(-e->res),
					  e->status ? ", refused by saferringd: " : "",
					  e->status ? sr_strstatus(e->status) : "");
			if (op->fsync) {
				if (ph == PH_MEASURE)
					b->syncs++;
			} else {
				if ((uint32_t)e->res != o->bs)
					bench_die("saferring: short I/O (%d bytes)",
						  e->res);
				if (ph == PH_MEASURE) {
					hist_add(&b->lat, now - op->t0);
					b->ops++;
					b->bytes += o->bs;
				}
				if (o->workload == WL_RANDWRITE)
					due = bench_write_done(b);
			}
			if (ph == PH_DONE)
				continue;
			op->fsync = due;
			srb_prep(&x, i);
		}
	}
	/* Take the daemon's figures before it goes. */
	if (b->phase != PH_DONE)
		bench_tick(b, b->t_end);
	sr_close(x.c);
	if (d.pid)
		daemon_stop(&d);
	free(cqes);
	free(x.pending);
	free(x.ops);
	return 0;
}

/* ---- echo: SEND linked to RECV per connection, sockets as handles ---- */

struct srb_conn {
	uint64_t t0;
	sr_handle_t handle;
	sr_slot_t sslot, rslot; /* the message sent, the reply received */
	uint32_t got;     /* bytes of the reply so far */
};

/* Queue a round trip (send linked to a receive of the whole reply), or
 * only the receive of the rest of a reply. */
static void srb_echo_prep(struct sr_client *c, struct srb_conn *k, unsigned i,
			  uint32_t bs, bool send)
{
	int r = 0;

	if (send) {
		r = sr_prep_send(c, (uint64_t)i << 1, k->handle, k->sslot, 0,
				 bs, 0);
		if (r == -ENOSPC) {
			r = sr_submit_and_wait(c, 0);
			if (r >= 0)
				r = sr_prep_send(c, (uint64_t)i << 1, k->handle,
						 k->sslot, 0, bs, 0);
		}
		if (r == 0)
			r = sr_link_last(c, SR_LINK);
	}
	if (r == 0)
		r = sr_prep_recv(c, ((uint64_t)i << 1) | 1, k->handle, k->rslot,
				 k->got, bs - k->got, MSG_WAITALL);
	if (r < 0)
		bench_die("saferring: prepare echo: %s", strerror(-r));
}

int backend_saferring_echo(struct bench *b, const int *fds)
{
	const struct bench_opts *o = b->o;
	unsigned m = o->connections, npending = 0;
	uint32_t bs = o->bs;
	struct private_daemon d = { 0 };
	struct sr_params p = { .slot_count = 2 * m, .slot_size = bs };
	struct srb_conn *ks = bench_alloc(m * sizeof(*ks));
	unsigned *pending = bench_alloc(m * sizeof(*pending));
	struct sr_cqe *cqes = bench_alloc(2 * m * sizeof(*cqes));
	struct sr_limits lim;
	struct sr_client *c;
	int n;

	c = srb_connect(b, &d, &p);
	b->peer_kind = "daemon";
	sr_limits(c, &lim);
	srb_note_session(b, &lim);
	if (lim.slot_count < 2 * m || lim.slot_size < bs ||
	    lim.max_in_flight < 2 * m || lim.max_fds < m)
		bench_die("saferring: daemon grants %u slots of %u bytes, %u in "
			  "flight, %u handles; echo needs %u, %u, %u, %u",
			  lim.slot_count, lim.slot_size, lim.max_in_flight,
			  lim.max_fds, 2 * m, bs, 2 * m, m);
	for (unsigned i = 0; i < m; i++) {
		ks[i].handle = sr_register_fd(c, fds[i]);
		ks[i].sslot = sr_slot_acquire(c);
		ks[i].rslot = sr_slot_acquire(c);
		int eh = sr_handle_index(ks[i].handle);
		int es = sr_slot_index(ks[i].sslot);
		int er = sr_slot_index(ks[i].rslot);

		if (eh < 0 || es < 0 || er < 0)
			bench_die("saferring: register connection %u: %s", i,
				  strerror(-(eh < 0 ? eh : es < 0 ? es : er)));
		bench_fill(sr_slot_data(c, ks[i].sslot), bs, 3);
	}

	bench_clock_start(b);
	for (unsigned i = 0; i < m; i++) {
		srb_echo_prep(c, &ks[i], i, bs, true);
		pending[npending++] = i;
	}
	for (;;) {
		uint64_t t = now_ns(), now;
		enum bench_phase ph;

		for (unsigned k = 0; k < npending; k++)
			ks[pending[k]].t0 = t;
		npending = 0;
		n = sr_submit_and_wait(c, 0);
		if (n < 0)
			bench_die("saferring: submit: %s", strerror(-n));
		if (!sr_in_flight(c))
			break;
		n = sr_wait_cqes(c, cqes, 2 * m, 1);
		if (n < 0)
			bench_die("saferring: wait: %s", strerror(-n));
		now = now_ns();
		ph = bench_tick(b, now);
		for (int j = 0; j < n; j++) {
			const struct sr_cqe *e = &cqes[j];
			unsigned i = (unsigned)(e->user_data >> 1);
			struct srb_conn *k = &ks[i];

			if (!(e->user_data & 1)) {
				if (e->res != (int)bs)
					bench_die("saferring: send: %s%s%s",
						  e->res < 0 ? strerror(-e->res) : "short",
						  e->status ? ", refused by saferringd: " : "",
						  e->status ? sr_strstatus(e->status) : "");
				continue;
			}
			if (e->res <= 0)
				bench_die("saferring: recv: %s%s%s",
					  e->res < 0 ? strerror(-e->res) : "closed",
					  e->status ? ", refused by saferringd: " : "",
					  e->status ? sr_strstatus(e->status) : "");
			k->got += (uint32_t)e->res;
			if (k->got < bs) {
				srb_echo_prep(c, k, i, bs, false);
				continue;
			}
			k->got = 0;
			if (ph == PH_MEASURE) {
				hist_add(&b->lat, now - k->t0);
				b->ops++;
				b->bytes += bs;
			}
			if (ph == PH_DONE)
				continue;
			srb_echo_prep(c, k, i, bs, true);
			pending[npending++] = i;
		}
	}
	if (b->phase != PH_DONE)
		bench_tick(b, b->t_end);
	sr_close(c);
	if (d.pid)
		daemon_stop(&d);
	free(cqes);
	free(pending);
	free(ks);
	return 0;
}

/* ---- idle: sessions that sit there ---- */

/* One NOP through @c, waited for: the session is live and has been used
 * once, so a daemon that keeps polling once-busy sessions shows. */
static void srb_idle_nop(struct sr_client *c, unsigned i)
{
	struct sr_cqe e;
	int r;

	r = sr_prep_nop(c, i);
	if (r >= 0)
		r = sr_submit_and_wait(c, 0);
	if (r >= 0)
		r = sr_wait_cqes(c, &e, 1, 1);
	if (r >= 0 && (e.res < 0 || e.status))
		r = e.res < 0 ? e.res : -EPERM;
	if (r < 0)
		bench_die("saferring: idle session %u: NOP: %s", i, strerror(-r));
}

int backend_saferring_idle(struct bench *b)
{
	const struct bench_opts *o = b->o;
	unsigned m = o->connections;
	struct private_daemon d = { 0 };
	/* The smallest sessions: the arena is pinned memory, and what is
	 * measured is the daemon's work, not its memory. */
	struct sr_params p = { .slot_count = 1, .slot_size = 4096,
				 .backend = SR_BACKEND_DAEMON };
	struct sr_client **cs = bench_alloc(m * sizeof(*cs));
	const char *path;
	struct sr_limits lim;
	int r;

	if (o->sr_backend != SR_BACKEND_DAEMON)
		bench_die("--workload idle measures the daemon's idle sessions: "
			  "--sr-backend daemon only");
	cs[0] = srb_connect(b, &d, &p);
	b->peer_kind = "daemon";
	sr_limits(cs[0], &lim);
	srb_note_session(b, &lim);
	path = d.pid ? d.sock : srb_named_socket(b);
	for (unsigned i = 1; i < m; i++) {
		r = sr_connect(path, &p, &cs[i]);
		if (r < 0) {
			if (d.pid)
				daemon_stop(&d);
			bench_die("saferring: idle session %u of %u: %s%s", i + 1,
				  m, strerror(-r), r == -EDQUOT ?
				  " (the policy's sessions per uid)" : "");
		}
	}
	for (unsigned i = 0; i < m; i++)
		srb_idle_nop(cs[i], i);
	b->eff_qd = 0;
	b->nthreads = 0;
	/* Warm-up first: the daemon's polling after the NOPs (spin_us) is
	 * part of being busy, not of being idle. */
	bench_clock_start(b);
	bench_wait_window(b);
	for (unsigned i = 0; i < m; i++)
		sr_close(cs[i]);
	if (d.pid)
		daemon_stop(&d);
	free(cs);
	return 0;
}
