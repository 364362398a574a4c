/* SPDX-License-Identifier: MIT */
/*
 * backend-raw.c - the upper bound: file workloads through an io_uring in
 * this process, with fixed buffers (one per operation in flight) and the
 * file registered as fixed file 0.
 *
 * Every completion is resubmitted at once, so qd operations stay in
 * flight; completions reaped together are resubmitted together.  Must
 * never be used by the saferring backend (which must reach io_uring only
 * through saferringd).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <liburing.h>

#include "bench.h"

struct raw_op {
	uint64_t t0;
	bool fsync; /* this op slot is doing an fdatasync */
};

struct raw {
	struct bench *b;
	struct io_uring ring;
	unsigned char *bufs;
	struct raw_op *ops;
	unsigned *pending; /* op slots prepared since the last submit */
	unsigned npending;
	uint64_t rng;
};

int raw_ring_init(struct io_uring *ring, unsigned entries)
{
	/* The best a single-threaded io_uring user can ask for; older
	 * kernels lack the flags, so fall back step by step. */
	static const unsigned flags[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	int r = -EINVAL;

	for (unsigned i = 0; i < 3 && r == -EINVAL; i++) {
		struct io_uring_params p = { .flags = flags[i] };

		r = io_uring_queue_init_params(entries, ring, &p);
	}
	return r;
}

static void raw_prep(struct raw *x, unsigned i)
{
	struct bench *b = x->b;
	uint32_t bs = b->o->bs;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&x->ring);
	void *buf = x->bufs + (size_t)i * bs;

	if (!sqe)
		bench_die("raw: submission queue full");
	if (x->ops[i].fsync)
		io_uring_prep_fsync(sqe, 0, IORING_FSYNC_DATASYNC);
	else if (b->o->workload == WL_RANDWRITE)
		io_uring_prep_write_fixed(sqe, 0, buf, bs,
					  bench_offset(b, &x->rng), (int)i);
	else
		io_uring_prep_read_fixed(sqe, 0, buf, bs,
					 bench_offset(b, &x->rng), (int)i);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, i);
	x->pending[x->npending++] = i;
}

int backend_raw_file(struct bench *b)
{
	const struct bench_opts *o = b->o;
	unsigned qd = o->qd, inflight = 0;
	struct raw x = { .b = b, .rng = 0x9E3779B97F4A7C15ULL };
	struct io_uring_cqe *cqe;
	struct iovec *iov;
	unsigned head, n;
	int r;

	r = raw_ring_init(&x.ring, qd);
	if (r < 0)
		bench_die("raw: io_uring_queue_init: %s", strerror(-r));
	x.bufs = bench_alloc((size_t)qd * o->bs);
	x.ops = bench_alloc(qd * sizeof(*x.ops));
	x.pending = bench_alloc(qd * sizeof(*x.pending));
	iov = bench_alloc(qd * sizeof(*iov));
	if (o->workload == WL_RANDWRITE)
		bench_fill(x.bufs, (size_t)qd * o->bs, 42);
	for (unsigned i = 0; i < qd; i++)
		iov[i] = (struct iovec){ x.bufs + (size_t)i * o->bs, o->bs };
	r = io_uring_register_buffers(&x.ring, iov, qd);
	if (r < 0)
		bench_die("raw: register buffers: %s", strerror(-r));
	r = io_uring_register_files(&x.ring, &b->fd, 1);
	if (r < 0)
		bench_die("raw: register file: %s", strerror(-r));

	bench_clock_start(b);
	for (unsigned i = 0; i < qd; i++)
		raw_prep(&x, i);
	inflight = qd;
	for (;;) {
		uint64_t t = now_ns(), now;
		enum bench_phase ph;

		for (unsigned k = 0; k < x.npending; k++)
			x.ops[x.pending[k]].t0 = t;
		x.npending = 0;
		r = io_uring_submit_and_wait(&x.ring, 1);
		if (r < 0 && r != -EINTR)
			bench_die("raw: submit: %s", strerror(-r));
		now = now_ns();
		ph = bench_tick(b, now);
		n = 0;
		io_uring_for_each_cqe(&x.ring, head, cqe) {
			unsigned i = (unsigned)cqe->user_data;
			struct raw_op *op = &x.ops[i];
			bool due = false;

			n++;
			inflight--;
			if (cqe->res < 0)
				bench_die("raw: %s: %s", op->fsync ? "fdatasync" :
					  "I/O", strerror(-cqe->res));
			if (op->fsync) {
				if (ph == PH_MEASURE)
					b->syncs++;
			} else {
				if ((uint32_t)cqe->res != o->bs)
					bench_die("raw: short I/O (%d bytes)",
						  cqe->res);
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
			raw_prep(&x, i);
			inflight++;
		}
		io_uring_cq_advance(&x.ring, n);
		if (ph == PH_DONE && !inflight)
			break;
	}
	io_uring_queue_exit(&x.ring);
	free(iov);
	free(x.pending);
	free(x.ops);
	free(x.bufs);
	return 0;
}
