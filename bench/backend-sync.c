/* SPDX-License-Identifier: MIT */
/*
 * backend-sync.c - what a process denied io_uring does today: file
 * workloads with plain pread/pwrite/fdatasync, either on one thread
 * (pread) or on a pool of threads each with one operation in flight
 * (threads; the pool is --threads, else --qd, threads).
 *
 * Must never use io_uring or libsaferring: this is the baseline.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

struct sync_worker {
	struct bench *b;
	pthread_t tid;
	pthread_barrier_t *go;
	uint64_t rng;
	uint64_t ops, bytes, syncs;
	struct hist lat;
};

/* The phase at @t: the pread backend's only thread also takes the CPU
 * snapshots; pool threads leave that to the main thread. */
static enum bench_phase sync_phase(struct sync_worker *w, bool single,
				   uint64_t t)
{
	return single ? bench_tick(w->b, t) : bench_phase_at(w->b, t);
}

/* One thread's loop: one operation at a time until the window closes. */
static void sync_loop(struct sync_worker *w, bool single)
{
	struct bench *b = w->b;
	const struct bench_opts *o = b->o;
	unsigned char *buf = bench_alloc(o->bs);
	bool write = o->workload == WL_RANDWRITE, due = false;
	uint64_t t0, now;
	ssize_t r;

	if (write)
		bench_fill(buf, o->bs, w->rng);
	for (;;) {
		t0 = now_ns();
		if (due) {
			if (fdatasync(b->fd) < 0)
				bench_die("fdatasync: %s", strerror(errno));
			due = false;
			now = now_ns();
			if (sync_phase(w, single, now) == PH_MEASURE)
				w->syncs++;
		} else {
			off_t off = (off_t)bench_offset(b, &w->rng);

			r = write ? pwrite(b->fd, buf, o->bs, off) :
				    pread(b->fd, buf, o->bs, off);
			if (r != (ssize_t)o->bs)
				bench_die("%s: %s", write ? "pwrite" : "pread",
					  r < 0 ? strerror(errno) : "short");
			now = now_ns();
			if (sync_phase(w, single, now) == PH_MEASURE) {
				hist_add(&w->lat, now - t0);
				w->ops++;
				w->bytes += o->bs;
			}
			if (write)
				due = bench_write_done(b);
		}
		if (sync_phase(w, single, now) == PH_DONE)
			break;
	}
	free(buf);
}

static void sync_collect(struct bench *b, const struct sync_worker *w)
{
	hist_merge(&b->lat, &w->lat);
	b->ops += w->ops;
	b->bytes += w->bytes;
	b->syncs += w->syncs;
}

int backend_pread_file(struct bench *b)
{
	static struct sync_worker w;

	w.b = b;
	w.rng = 0x9E3779B97F4A7C15ULL;
	b->eff_qd = 1;
	bench_clock_start(b);
	sync_loop(&w, true);
	sync_collect(b, &w);
	return 0;
}

static void *sync_thread(void *arg)
{
	struct sync_worker *w = arg;

	pthread_barrier_wait(w->go);
	sync_loop(w, false);
	return NULL;
}

int backend_threads_file(struct bench *b)
{
	unsigned n = b->o->threads ? b->o->threads : b->o->qd;
	struct sync_worker *ws = calloc(n, sizeof(*ws));
	pthread_barrier_t go;
	int r;

	if (!ws)
		return -ENOMEM;
	b->nthreads = n;
	b->eff_qd = n;
	pthread_barrier_init(&go, NULL, n + 1);
	for (unsigned i = 0; i < n; i++) {
		ws[i].b = b;
		ws[i].go = &go;
		ws[i].rng = 0x9E3779B97F4A7C15ULL * (i + 1);
		r = pthread_create(&ws[i].tid, NULL, sync_thread, &ws[i]);
		if (r)
			bench_die("pthread_create: %s", strerror(r));
	}
	bench_clock_start(b);
	pthread_barrier_wait(&go);
	bench_wait_window(b);
	for (unsigned i = 0; i < n; i++) {
		pthread_join(ws[i].tid, NULL);
		sync_collect(b, &ws[i]);
	}
	pthread_barrier_destroy(&go);
	free(ws);
	return 0;
}
