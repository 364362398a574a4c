/* SPDX-License-Identifier: MIT */
/*
 * saferring-bench - the same I/O work through several backends, measured
 * alike: in-process liburing (raw, the upper bound), one thread doing
 * pread/pwrite, a pool of threads doing pread/pwrite, and saferringd.
 *
 *   saferring-bench --backend raw|pread|threads|saferring|unix
 *                   --workload randread|seqread|randwrite|echo|pingpong|idle
 *                   [--bs BYTES] [--qd N] [--direct] [--seconds S] ...
 *
 * This file holds the command line, the test file, the measured window,
 * the histogram and the report; the backends live beside it.  Must never
 * report work done outside the measured window, and never put a file for
 * --direct on tmpfs (O_DIRECT there measures nothing real).
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include "bench.h"
#include "saferring.h"

#define DEFAULT_FILE "/var/tmp/saferring-bench.dat"
#define DEFAULT_SIZE (1ULL << 30)
#define FILL_CHUNK (1U << 20)

static const char *const backend_names[] = {
	[BE_RAW] = "raw",
	[BE_PREAD] = "pread",
	[BE_THREADS] = "threads",
	[BE_SAFERRING] = "saferring",
	[BE_UNIX] = "unix",
};

static const char *const workload_names[] = {
	[WL_RANDREAD] = "randread",
	[WL_SEQREAD] = "seqread",
	[WL_RANDWRITE] = "randwrite",
	[WL_ECHO] = "echo",
	[WL_PINGPONG] = "pingpong",
	[WL_IDLE] = "idle",
};

void bench_die(const char *fmt, ...)
{
	va_list ap;

	fputs("saferring-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void bench_warn(const char *fmt, ...)
{
	va_list ap;

	fputs("saferring-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void *bench_alloc(size_t len)
{
	void *p = NULL;

	if (!len)
		len = 1;
	if (posix_memalign(&p, 4096, len))
		bench_die("out of memory (%zu bytes)", len);
	memset(p, 0, len);
	return p;
}

void bench_fill(void *buf, size_t len, uint64_t seed)
{
	uint64_t s = seed | 1, v;
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i += sizeof(v)) {
		v = xorshift64(&s);
		memcpy(p + i, &v, len - i < sizeof(v) ? len - i : sizeof(v));
	}
}

/* ---- histogram ---- */

void hist_merge(struct hist *into, const struct hist *from)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->b[i] += from->b[i];
	into->count += from->count;
	into->sum += from->sum;
	if (from->max > into->max)
		into->max = from->max;
}

/* Lower bound and width of bucket @i. */
static void hist_bucket(unsigned i, double *lo, double *width)
{
	unsigned g = i / HIST_SUB, s = i % HIST_SUB;

	if (g == 0) {
		*lo = i;
		*width = 1;
		return;
	}
	*lo = ldexp(HIST_SUB + s, (int)g - 1);
	*width = ldexp(1, (int)g - 1);
}

double hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0;
	double lo, width, v;

	if (!h->count)
		return 0;
	rank = (uint64_t)ceil(q * (double)h->count);
	if (rank == 0)
		rank = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		if (!h->b[i])
			continue;
		if (seen + h->b[i] >= rank) {
			/* Interpolate inside the bucket. */
			hist_bucket(i, &lo, &width);
			v = lo + width * ((double)(rank - seen) /
					  (double)(h->b[i] + 1));
			return v > (double)h->max ? (double)h->max : v;
		}
		seen += h->b[i];
	}
	return (double)h->max;
}

/* ---- CPU accounting ---- */

/* utime+stime of @pid (the whole thread group) in seconds, -1 if gone. */
static double proc_cpu(pid_t pid, uint64_t *csw)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0, v;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p)
		return -1;
	/* Fields after the command name, which may hold spaces. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &ut, &st) != 2)
		return -1;

	*csw = 0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (f) {
		while (fgets(buf, sizeof(buf), f))
			if (sscanf(buf, "voluntary_ctxt_switches: %llu", &v) == 1 ||
			    sscanf(buf, "nonvoluntary_ctxt_switches: %llu", &v) == 1)
				*csw += v;
		fclose(f);
	}
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

void cpu_snapshot(const struct bench *b, struct cpu_snap *s)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	s->self_cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		      (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	s->self_csw = (uint64_t)ru.ru_nvcsw + (uint64_t)ru.ru_nivcsw;
	s->peer_cpu = -1;
	s->peer_csw = 0;
	if (b->peer_pid > 0)
		s->peer_cpu = proc_cpu(b->peer_pid, &s->peer_csw);
}

static const char *const pin_names[] = { "none", "same", "cross" };

/* --pin: this process on CPU 0, the peer on CPU 0 (same) or 1 (cross). */
static void pin_cpus(struct bench *b)
{
	cpu_set_t set;

	if (!b->o->pin)
		return;
	if (b->peer_pid <= 0 || !b->peer_ours) {
		bench_warn("--pin: no peer process of ours to pin; not pinned");
		return;
	}
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		bench_die("--pin: %s", strerror(errno));
	CPU_ZERO(&set);
	CPU_SET(b->o->pin == 2 ? 1 : 0, &set);
	if (sched_setaffinity(b->peer_pid, sizeof(set), &set) < 0)
		bench_die("--pin: peer: %s", strerror(errno));
}

void bench_clock_start(struct bench *b)
{
	pin_cpus(b);
	b->t_begin = now_ns();
	b->t_start = b->t_begin + (uint64_t)(b->o->warmup * 1e9);
	b->t_end = b->t_start + (uint64_t)(b->o->seconds * 1e9);
	b->phase = PH_WARMUP;
	if (b->t_start == b->t_begin)
		bench_tick(b, b->t_begin);
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = {
		.tv_sec = (time_t)(t / 1000000000ULL),
		.tv_nsec = (long)(t % 1000000000ULL),
	};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

void bench_wait_window(struct bench *b)
{
	sleep_until(b->t_start);
	cpu_snapshot(b, &b->snap_start);
	b->phase = PH_MEASURE;
	sleep_until(b->t_end);
	cpu_snapshot(b, &b->snap_end);
	b->phase = PH_DONE;
}

/* ---- the test file ---- */

static void file_extend(int fd, const char *path, uint64_t from, uint64_t to)
{
	unsigned char *buf = bench_alloc(FILL_CHUNK);
	uint64_t off;

	bench_warn("writing %s up to %" PRIu64 " MiB (once; kept for later runs)",
		   path, to >> 20);
	for (off = from & ~(uint64_t)(FILL_CHUNK - 1); off < to; off += FILL_CHUNK) {
		size_t n = to - off < FILL_CHUNK ? to - off : FILL_CHUNK;

		bench_fill(buf, n, off + 1);
		if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
			bench_die("write %s: %s", path, strerror(errno));
	}
	if (fdatasync(fd) < 0)
		bench_die("fdatasync %s: %s", path, strerror(errno));
	free(buf);
}

static void file_warm(int fd, const char *path, uint64_t size)
{
	unsigned char *buf = bench_alloc(FILL_CHUNK);

	for (uint64_t off = 0; off < size; off += FILL_CHUNK)
		if (pread(fd, buf, FILL_CHUNK, (off_t)off) < 0)
			bench_die("read %s: %s", path, strerror(errno));
	free(buf);
}

static void file_setup(struct bench *b)
{
	const struct bench_opts *o = b->o;
	const char *path = o->file ? o->file : DEFAULT_FILE;
	struct statfs sf;
	struct stat st;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		bench_die("open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || fstatfs(fd, &sf) < 0)
		bench_die("stat %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		bench_die("%s: not a regular file", path);
	if (o->direct && (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC))
		bench_die("%s is on tmpfs/ramfs: --direct needs a file on a real "
			  "disk (try --file /var/tmp/...)", path);
	if ((uint64_t)st.st_size < o->size)
		file_extend(fd, path, (uint64_t)st.st_size, o->size);
	if (!o->direct && o->workload != WL_RANDWRITE)
		file_warm(fd, path, o->size);
	if (o->direct) {
		close(fd);
		fd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
		if (fd < 0)
			bench_die("open %s with O_DIRECT: %s", path,
				  strerror(errno));
	}
	b->fd = fd;
	b->nblocks = o->size / o->bs;
	if (!b->nblocks)
		bench_die("--size %" PRIu64 " holds no block of %u bytes",
			  o->size, o->bs);
}

/* ---- output ---- */

static double per_mop(double cpu, uint64_t ops)
{
	return ops ? cpu / ((double)ops / 1e6) : 0;
}

static void report(const struct bench *b)
{
	const struct bench_opts *o = b->o;
	double secs = (double)(b->t_end - b->t_start) / 1e9;
	double iops = (double)b->ops / secs;
	double gbps = (double)b->bytes / secs / 1e9;
	double p50 = hist_quantile(&b->lat, 0.5) / 1e3;
	double p99 = hist_quantile(&b->lat, 0.99) / 1e3;
	double p999 = hist_quantile(&b->lat, 0.999) / 1e3;
	double mean = b->lat.count ? (double)b->lat.sum / b->lat.count / 1e3 : 0;
	double self = b->snap_end.self_cpu - b->snap_start.self_cpu;
	double peer = -1;
	double self_csw = (double)(b->snap_end.self_csw - b->snap_start.self_csw);
	double peer_csw = (double)(b->snap_end.peer_csw - b->snap_start.peer_csw);
	const char *pk = b->peer_kind;
	char peer_s[32] = "-";

	if (b->snap_start.peer_cpu >= 0 && b->snap_end.peer_cpu >= 0)
		peer = b->snap_end.peer_cpu - b->snap_start.peer_cpu;
	if (o->json) {
		printf("{\"label\":\"%s\",\"backend\":\"%s\",\"workload\":\"%s\","
		       "\"bs\":%u,\"qd\":%u,\"eff_qd\":%u,\"threads\":%u,"
		       "\"direct\":%s,\"pin\":\"%s\",\"seconds\":%.3f,\"ops\":%" PRIu64 ","
		       "\"iops\":%.0f,\"gbps\":%.4f,\"p50_us\":%.2f,"
		       "\"p99_us\":%.2f,\"p999_us\":%.2f,\"mean_us\":%.2f,"
		       "\"max_us\":%.1f,\"syncs\":%" PRIu64 ","
		       "\"client_cpu_s_per_mop\":%.4f,"
		       "\"client_csw_per_op\":%.4f",
		       o->label ? o->label : "", backend_names[o->backend],
		       workload_names[o->workload], o->bs, o->qd, b->eff_qd,
		       b->nthreads, o->direct ? "true" : "false",
		       pin_names[o->pin], secs, b->ops,
		       iops, gbps, p50, p99, p999, mean, b->lat.max / 1e3,
		       b->syncs, per_mop(self, b->ops),
		       b->ops ? self_csw / (double)b->ops : 0);
		if (pk && peer >= 0)
			printf(",\"%s_cpu_s_per_mop\":%.4f,\"%s_csw_per_op\":%.4f",
			       pk, per_mop(peer, b->ops), pk,
			       b->ops ? peer_csw / (double)b->ops : 0);
		if (!pk || strcmp(pk, "daemon") || peer < 0)
			printf(",\"daemon_cpu_s_per_mop\":null");
		/* CPU as a share of one CPU over the window: the idle
		 * workload's figure, and a sanity check for the others. */
		printf(",\"client_cpu_pct\":%.3f", 100 * self / secs);
		if (pk && peer >= 0)
			printf(",\"%s_cpu_s\":%.3f,\"%s_cpu_pct\":%.3f", pk, peer,
			       pk, 100 * peer / secs);
		if (b->sr_session)
			printf(",\"sr_backend\":\"%s\",\"transport\":\"%s\","
			       "\"inline\":%s,\"spin_us\":%u",
			       sr_backend_name(b->sr_backend),
			       b->sr_flags & SR_LIMITS_RINGS ? "rings" : "socket",
			       b->sr_flags & SR_LIMITS_INLINE ? "true" : "false",
			       b->sr_spin_us);
		if (o->workload == WL_IDLE)
			printf(",\"sessions\":%u", o->connections);
		if (b->note)
			printf(",\"note\":\"%s\"", b->note);
		printf("}\n");
		fflush(stdout);
		return;
	}
	if (pk && peer >= 0)
		snprintf(peer_s, sizeof(peer_s), "%.3f (%s)", per_mop(peer, b->ops),
			 pk);
	printf("%-9s %-9s %7s %4s %5s %10s %7s %8s %8s %8s %9s %s\n",
	       "backend", "workload", "bs", "qd", "direct", "IOPS", "GB/s",
	       "p50 us", "p99 us", "p99.9us", "cli s/Mop", "peer s/Mop");
	printf("%-9s %-9s %7u %4u %5s %10.0f %7.3f %8.1f %8.1f %8.1f %9.3f %s\n",
	       backend_names[o->backend], workload_names[o->workload], o->bs,
	       b->eff_qd, o->direct ? "yes" : "no", iops, gbps, p50, p99, p999,
	       per_mop(self, b->ops), peer_s);
	printf("(%" PRIu64 " ops in %.2f s, %u thread(s), mean %.1f us, max %.1f us, "
	       "%.3f client switches/op", b->ops, secs, b->nthreads, mean,
	       b->lat.max / 1e3, b->ops ? self_csw / (double)b->ops : 0);
	if (pk && peer >= 0)
		printf(", %.3f %s switches/op", b->ops ? peer_csw / (double)b->ops : 0,
		       pk);
	if (b->syncs)
		printf(", %" PRIu64 " fdatasyncs", b->syncs);
	printf(")\n");
	if (b->sr_session)
		printf("saferring: backend %s, transport %s, inline attempt %s, "
		       "spin %u us\n", sr_backend_name(b->sr_backend),
		       b->sr_flags & SR_LIMITS_RINGS ? "rings (v2)" : "socket (v1)",
		       b->sr_flags & SR_LIMITS_INLINE ? "on" : "off",
		       b->sr_spin_us);
	if (o->workload == WL_IDLE) {
		printf("idle: %u sessions for %.2f s: client %.3f%% of one CPU",
		       o->connections, secs, 100 * self / secs);
		if (pk && peer >= 0)
			printf(", %s %.3f%% of one CPU", pk, 100 * peer / secs);
		printf("\n");
	}
	if (b->note)
		printf("note: %s\n", b->note);
}

/* A run that could not happen, reported as such. */
static void report_skipped(const struct bench_opts *o, const char *why)
{
	if (o->json)
		printf("{\"label\":\"%s\",\"backend\":\"%s\",\"workload\":\"%s\","
		       "\"bs\":%u,\"qd\":%u,\"skipped\":\"%s\"}\n",
		       o->label ? o->label : "", backend_names[o->backend],
		       workload_names[o->workload], o->bs, o->qd, why);
	else
		printf("%s %s: skipped: %s\n", backend_names[o->backend],
		       workload_names[o->workload], why);
}

/* ---- command line ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: saferring-bench --backend B --workload W [options]\n"
		"Run the same I/O through several backends and report throughput,\n"
		"latency and CPU per operation.\n"
		"\n"
		"  -b, --backend B      raw (liburing, fixed buffers and files), pread\n"
		"                       (one thread), threads (pool of pread/pwrite),\n"
		"                       saferring (through saferringd), unix (pingpong)\n"
		"  -w, --workload W     randread, seqread, randwrite (fdatasync every\n"
		"                       --fsync-every writes), echo (TCP loopback),\n"
		"                       pingpong (bare SOCK_SEQPACKET round trip), or\n"
		"                       idle (saferring: --connections sessions, one\n"
		"                       NOP each, then nothing; the daemon's CPU %%)\n"
		"      --bs BYTES       operation size (default 4096)\n"
		"      --qd N           operations in flight (default 1)\n"
		"      --threads N      threads backend pool size (default: qd)\n"
		"      --direct         O_DIRECT (the file must be on a real disk)\n"
		"      --seconds S      measured time (default 5)\n"
		"      --warmup S       unmeasured time first (default 0.5)\n"
		"      --file PATH      test file (default " DEFAULT_FILE ")\n"
		"      --size BYTES     part of the file used (default 1 GiB); the\n"
		"                       file is written once up to this size\n"
		"      --fsync-every N  randwrite: fdatasync after N writes (32)\n"
		"      --connections M  echo: connections (default 64); idle:\n"
		"                       sessions (default 16)\n"
		"      --socket PATH    saferringd socket (default $%s; else a\n"
		"                       private daemon is started for the run)\n"
		"      --daemon PATH    saferringd for the private daemon (default:\n"
		"                       ../sbin/saferringd beside this program)\n"
		"      --batch N        saferring: most operations per submit\n"
		"      --sr-backend B   saferring: daemon (default), direct (an\n"
		"                       io_uring of this process) or threads (a\n"
		"                       thread pool of this process): sr_params\n"
		"      --pin same|cross this process on CPU 0, the daemon, echo\n"
		"                       server or pingpong peer it started on CPU\n"
		"                       0 too (same) or on CPU 1 (cross)\n"
		"      --label TEXT     copied into the output\n"
		"      --json           one JSON object per line\n"
		"  -h, --help           show this help\n"
		"Sizes take k, m, g suffixes (powers of 1024).\n",
		"SAFERRING_SOCKET");
}

static uint64_t parse_size(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		bench_die("%s: not a size: %s", what, s);
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end == 'i' || *end == 'B')
		end++;
	if (*end == 'B')
		end++;
	if (*end)
		bench_die("%s: not a size: %s", what, s);
	return v;
}

static unsigned parse_uint(const char *s, const char *what)
{
	uint64_t v = parse_size(s, what);

	if (v > UINT_MAX)
		bench_die("%s: too large: %s", what, s);
	return (unsigned)v;
}

static int lookup(const char *const *names, unsigned n, const char *s)
{
	for (unsigned i = 0; i < n; i++)
		if (names[i] && !strcmp(names[i], s))
			return (int)i;
	return -1;
}

enum {
	OPT_BS = 256, OPT_QD, OPT_THREADS, OPT_DIRECT, OPT_SECONDS, OPT_WARMUP,
	OPT_FILE, OPT_SIZE, OPT_FSYNC, OPT_CONN, OPT_SOCKET, OPT_DAEMON,
	OPT_BATCH, OPT_LABEL, OPT_JSON, OPT_PIN, OPT_SR_BACKEND,
};

static void parse_args(int argc, char **argv, struct bench_opts *o)
{
	static const struct option opts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "workload", required_argument, NULL, 'w' },
		{ "bs", required_argument, NULL, OPT_BS },
		{ "qd", required_argument, NULL, OPT_QD },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "direct", no_argument, NULL, OPT_DIRECT },
		{ "seconds", required_argument, NULL, OPT_SECONDS },
		{ "warmup", required_argument, NULL, OPT_WARMUP },
		{ "file", required_argument, NULL, OPT_FILE },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "fsync-every", required_argument, NULL, OPT_FSYNC },
		{ "connections", required_argument, NULL, OPT_CONN },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "daemon", required_argument, NULL, OPT_DAEMON },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "label", required_argument, NULL, OPT_LABEL },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "pin", required_argument, NULL, OPT_PIN },
		{ "sr-backend", required_argument, NULL, OPT_SR_BACKEND },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, v;
	bool have_b = false, have_w = false, have_conn = false;
	char *end;

	*o = (struct bench_opts){
		.bs = 4096, .qd = 1, .fsync_every = 32, .seconds = 5,
		.warmup = 0.5, .size = DEFAULT_SIZE, .connections = 64,
		.sr_backend = SR_BACKEND_DAEMON,
	};
	while ((opt = getopt_long(argc, argv, "b:w:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			v = lookup(backend_names, 5, optarg);
			if (v < 0)
				bench_die("unknown backend '%s'", optarg);
			o->backend = (enum bench_backend)v;
			have_b = true;
			break;
		case 'w':
			v = lookup(workload_names, 6, optarg);
			if (v < 0)
				bench_die("unknown workload '%s'", optarg);
			o->workload = (enum bench_workload)v;
			have_w = true;
			break;
		case OPT_BS: o->bs = parse_uint(optarg, "--bs"); break;
		case OPT_QD: o->qd = parse_uint(optarg, "--qd"); break;
		case OPT_THREADS: o->threads = parse_uint(optarg, "--threads"); break;
		case OPT_DIRECT: o->direct = true; break;
		case OPT_SECONDS:
		case OPT_WARMUP: {
			double d = strtod(optarg, &end);

			if (end == optarg || *end || !(d >= 0) || d > 86400)
				bench_die("not a duration: %s", optarg);
			if (opt == OPT_SECONDS)
				o->seconds = d;
			else
				o->warmup = d;
			break;
		}
		case OPT_FILE: o->file = optarg; break;
		case OPT_SIZE: o->size = parse_size(optarg, "--size"); break;
		case OPT_FSYNC: o->fsync_every = parse_uint(optarg, "--fsync-every"); break;
		case OPT_CONN:
			o->connections = parse_uint(optarg, "--connections");
			have_conn = true;
			break;
		case OPT_SOCKET: o->socket = optarg; break;
		case OPT_DAEMON: o->daemon = optarg; break;
		case OPT_BATCH: o->batch = parse_uint(optarg, "--batch"); break;
		case OPT_LABEL: o->label = optarg; break;
		case OPT_JSON: o->json = true; break;
		case OPT_PIN:
			v = lookup(pin_names, 3, optarg);
			if (v < 0)
				bench_die("--pin takes none, same or cross");
			o->pin = v;
			break;
		case OPT_SR_BACKEND:
			o->sr_backend = -1;
			for (int k = SR_BACKEND_DAEMON; k <= SR_BACKEND_THREADS; k++)
				if (!strcmp(optarg, sr_backend_name(k)))
					o->sr_backend = k;
			if (o->sr_backend < 0)
				bench_die("--sr-backend takes daemon, direct or "
					  "threads");
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc || !have_w || (!have_b && o->workload != WL_PINGPONG)) {
		usage(stderr);
		exit(2);
	}
	if (o->workload == WL_PINGPONG)
		o->backend = BE_UNIX;
	else if (o->backend == BE_UNIX)
		bench_die("backend unix only runs the pingpong workload");
	if (!o->bs || o->bs > (64U << 20))
		bench_die("--bs must be 1 byte to 64 MiB");
	if (!o->qd || o->qd > 4096)
		bench_die("--qd must be 1 to 4096");
	if (o->seconds <= 0)
		bench_die("--seconds must be > 0");
	if (o->workload == WL_IDLE) {
		if (o->backend != BE_SAFERRING)
			bench_die("the idle workload is for --backend saferring");
		if (!have_conn)
			o->connections = 16;
		if (!o->connections || o->connections > 4096)
			bench_die("--connections must be 1 to 4096");
	}
	if (o->workload == WL_ECHO) {
		if (!o->connections || o->connections > 4096)
			bench_die("--connections must be 1 to 4096");
		/* Every connection keeps one message in flight. */
		o->qd = o->connections;
	}
	if (o->pin == 2 && sysconf(_SC_NPROCESSORS_ONLN) < 2)
		bench_die("--pin cross needs two CPUs");
	if (o->direct && (o->bs % 512))
		bench_die("--direct needs --bs a multiple of 512");
	if (o->direct && o->workload >= WL_ECHO)
		bench_die("--direct only applies to file workloads");
	if (o->workload == WL_SEQREAD || o->workload == WL_RANDREAD ||
	    o->workload == WL_RANDWRITE) {
		if (o->workload != WL_RANDWRITE)
			o->fsync_every = 0;
	} else {
		o->fsync_every = 0;
	}
}

int main(int argc, char **argv)
{
	static struct bench b;
	struct bench_opts o;
	int r;

	parse_args(argc, argv, &o);
	b.o = &o;
	b.fd = -1;
	b.eff_qd = o.qd;
	b.nthreads = 1;

	switch (o.workload) {
	case WL_PINGPONG:
		r = pingpong_run(&b);
		break;
	case WL_ECHO:
		r = echo_run(&b);
		break;
	case WL_IDLE:
		r = backend_saferring_idle(&b);
		break;
	case WL_RANDREAD:
	case WL_SEQREAD:
	case WL_RANDWRITE:
	default:
		file_setup(&b);
		switch (o.backend) {
		case BE_RAW: r = backend_raw_file(&b); break;
		case BE_PREAD: r = backend_pread_file(&b); break;
		case BE_THREADS: r = backend_threads_file(&b); break;
		case BE_SAFERRING: r = backend_saferring_file(&b); break;
		case BE_UNIX:
		default: r = -ENOTSUP; break;
		}
		break;
	}
	if (r == -ENOTSUP) {
		report_skipped(&o, b.note ? b.note : "not supported");
		return 0;
	}
	if (r < 0)
		bench_die("run failed: %s", strerror(-r));
	if (b.fd >= 0)
		close(b.fd);
	report(&b);
	return 0;
}
