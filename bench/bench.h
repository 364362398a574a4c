/* SPDX-License-Identifier: MIT */
/*
 * bench.h - what the parts of saferring-bench share: options, the run's
 * clock and measurement window, the latency histogram, CPU snapshots and
 * the backends' entry points.
 *
 * saferring-bench does the same work through several backends (raw
 * liburing, pread, a thread pool, saferringd) and reports them alike.  It
 * must never count work done outside the measured window, never allocate
 * per operation, and never make an io_uring system call in the saferring
 * backend (that one goes through libsaferring only).
 */
#ifndef SAFERRING_BENCH_H
#define SAFERRING_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

enum bench_backend {
	BE_RAW,
	BE_PREAD,
	BE_THREADS,
	BE_SAFERRING,
	BE_UNIX, /* only for the pingpong workload */
};

enum bench_workload {
	WL_RANDREAD,
	WL_SEQREAD,
	WL_RANDWRITE,
	WL_ECHO,
	WL_PINGPONG,
	WL_IDLE,
};

struct bench_opts {
	enum bench_backend backend;
	enum bench_workload workload;
	uint32_t bs;
	unsigned qd;
	unsigned threads;     /* threads backend: pool size (0: qd) */
	unsigned batch;       /* saferring: most ops per submit (0: all) */
	unsigned fsync_every; /* randwrite: fdatasync after this many writes */
	bool direct;
	double seconds;
	double warmup;
	const char *file;
	uint64_t size;
	unsigned connections;
	const char *socket;   /* saferring: daemon socket, NULL: env/private */
	int sr_backend;       /* saferring: enum sr_backend (--sr-backend) */
	const char *daemon;   /* saferringd to start for a private daemon */
	const char *label;    /* passed through to the output */
	int pin;              /* 0: no; 1: peer on our CPU; 2: on another */
	bool json;
};

/* Log-linear latency histogram in nanoseconds: 2^HIST_SUB_BITS linear
 * buckets per power of two (about 3% resolution), up to 2^HIST_MAX_BITS. */
#define HIST_SUB_BITS 5
#define HIST_SUB (1U << HIST_SUB_BITS)
#define HIST_MAX_BITS 40
#define HIST_BUCKETS ((HIST_MAX_BITS - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
	uint64_t count;
	uint64_t sum;
	uint64_t max;
	uint64_t b[HIST_BUCKETS];
};

static inline unsigned hist_index(uint64_t v)
{
	unsigned e;

	if (v < HIST_SUB)
		return (unsigned)v;
	e = 63U - (unsigned)__builtin_clzll(v);
	if (e >= HIST_MAX_BITS)
		return HIST_BUCKETS - 1;
	return (e - HIST_SUB_BITS + 1) * HIST_SUB +
	       (unsigned)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

static inline void hist_add(struct hist *h, uint64_t ns)
{
	h->b[hist_index(ns)]++;
	h->count++;
	h->sum += ns;
	if (ns > h->max)
		h->max = ns;
}

void hist_merge(struct hist *into, const struct hist *from);
/* The value below which @q (0..1) of the samples lie, in nanoseconds. */
double hist_quantile(const struct hist *h, double q);

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* CPU used so far by this process and by a peer process (the daemon or
 * the echo server), in seconds, and their context switches. */
struct cpu_snap {
	double self_cpu;
	uint64_t self_csw;
	double peer_cpu;   /* < 0 when unknown */
	uint64_t peer_csw;
};

enum bench_phase {
	PH_WARMUP,
	PH_MEASURE,
	PH_DONE,
};

/* One run of one backend on one workload. */
struct bench {
	const struct bench_opts *o;
	int fd;                 /* file workloads: the open file */
	uint64_t nblocks;       /* bs-sized blocks in the file's used part */
	uint64_t seq_next;      /* seqread: next block (shared, atomic) */
	uint64_t writes_done;   /* randwrite: writes completed (atomic) */
	pid_t peer_pid;         /* daemon or echo server, 0 when unknown */
	const char *peer_kind;  /* "daemon", "server" or NULL */
	bool peer_ours;         /* we started the peer (may pin it) */
	const char *note;       /* printed with the result, may be NULL */
	bool sr_session;        /* saferring: the fields below are known */
	uint32_t sr_flags;      /* saferring: sr_limits.flags it got */
	uint32_t sr_spin_us;    /* saferring: sr_limits.spin_us */
	int sr_backend;         /* saferring: sr_backend() of the session */
	unsigned eff_qd;        /* ops actually kept in flight */
	unsigned nthreads;      /* threads doing I/O */

	uint64_t t_begin, t_start, t_end; /* ns: run, measuring, stop */
	enum bench_phase phase;
	struct cpu_snap snap_start, snap_end;

	/* Results, over the measured window only. */
	uint64_t ops;
	uint64_t bytes;
	uint64_t syncs;
	struct hist lat;
};

void cpu_snapshot(const struct bench *b, struct cpu_snap *s);

/* Start the run's clock: warmup, then the measured window. */
void bench_clock_start(struct bench *b);

/* For single-threaded loops: the phase at @now, taking the CPU snapshots
 * as the window opens and closes. */
static inline enum bench_phase bench_tick(struct bench *b, uint64_t now)
{
	if (b->phase == PH_WARMUP && now >= b->t_start) {
		cpu_snapshot(b, &b->snap_start);
		b->phase = PH_MEASURE;
	}
	if (b->phase == PH_MEASURE && now >= b->t_end) {
		cpu_snapshot(b, &b->snap_end);
		b->phase = PH_DONE;
	}
	return b->phase;
}

/* For worker threads: the phase at @now, without side effects; the main
 * thread takes the snapshots (bench_wait_window). */
static inline enum bench_phase bench_phase_at(const struct bench *b,
					      uint64_t now)
{
	if (now < b->t_start)
		return PH_WARMUP;
	return now < b->t_end ? PH_MEASURE : PH_DONE;
}

/* Main thread of a multi-threaded backend: sleep through the window,
 * taking the CPU snapshots at its edges. */
void bench_wait_window(struct bench *b);

/* File workloads: offset of the next operation.  @rng is the caller's
 * own random state (never 0). */
static inline uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static inline uint64_t bench_offset(struct bench *b, uint64_t *rng)
{
	uint64_t blk;

	if (b->o->workload == WL_SEQREAD)
		blk = __atomic_fetch_add(&b->seq_next, 1, __ATOMIC_RELAXED) %
		      b->nblocks;
	else
		blk = xorshift64(rng) % b->nblocks;
	return blk * b->o->bs;
}

/* randwrite: count one completed write; true when an fdatasync is due
 * (the op slot that completed it issues the fdatasync next). */
static inline bool bench_write_done(struct bench *b)
{
	uint64_t n = __atomic_add_fetch(&b->writes_done, 1, __ATOMIC_RELAXED);

	return b->o->fsync_every && n % b->o->fsync_every == 0;
}

void bench_die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void bench_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Fill @buf with bytes that do not compress or dedupe. */
void bench_fill(void *buf, size_t len, uint64_t seed);
/* An aligned, zeroed allocation, or death. */
void *bench_alloc(size_t len);

/* Backends.  Each runs the workload b->o->workload until b->t_end and
 * fills in b's results; 0, or -ENOTSUP when it cannot run that workload
 * (after saying why on stderr). */
int backend_raw_file(struct bench *b);
struct io_uring;
/* An io_uring set up as well as this kernel allows for one thread. */
int raw_ring_init(struct io_uring *ring, unsigned entries);
int backend_pread_file(struct bench *b);
int backend_threads_file(struct bench *b);
int backend_saferring_file(struct bench *b);
int backend_saferring_echo(struct bench *b, const int *fds);
/* --connections sessions that each do one NOP, then nothing through the
 * measured window: what idle sessions cost the daemon. */
int backend_saferring_idle(struct bench *b);

/* echo.c: a TCP loopback echo server in a child process, and clients. */
int echo_run(struct bench *b);
/* pingpong.c: bare SOCK_SEQPACKET round trips between two processes. */
int pingpong_run(struct bench *b);

/* daemon.c: a private saferringd for the run, when no socket is given. */
struct private_daemon {
	pid_t pid;
	char dir[64];
	char sock[96];
	char log[96];
};

/* Start saferringd --foreground --socket <tmpdir>/sock; @exe NULL means
 * $SAFERRINGD, else ../sbin/saferringd beside this program. */
int daemon_start(struct private_daemon *d, const char *exe);
/* Between connection attempts: dies with the daemon's log if it exited. */
void daemon_wait_step(struct private_daemon *d);
void daemon_stop(struct private_daemon *d);
/* The saferringd that serves the connected socket @fd, or 0. */
pid_t daemon_peer_pid(const char *sock);

#endif
