/* SPDX-License-Identifier: MIT */
/*
 * test_workers.c - end-to-end: sessions served by two worker threads
 * ([daemon] workers = 2; skipped where the daemon runs one).
 *
 *  - A session stalled on a large Hello does not hold up a QD1 reader
 *    on the other worker.  The slow one pins a 512 MiB arena; two
 *    libsaferring readers, each in its own process, connect while that
 *    is set up, one on each worker, and read 4 KiB at QD1 until it is
 *    done and on while the slow session is dropped (its worker unmaps
 *    the arena, which frees it).  The reader on the slow session's
 *    worker shows the stall it would see there: its Hello waits behind
 *    the set-up, its reads behind the unmapping.  The reader on the
 *    other worker must be welcomed before the slow session is, and
 *    none of its round trips may take half that stall.  (Its Hello is
 *    slowed down too, by tens of milliseconds: the two set-ups share
 *    the daemon's address space, and the machine's two CPUs.)  Figures
 *    are printed.
 *  - Sessions spread over both workers, and a StatsRequest, whichever
 *    worker serves the asker, lists every session with its worker and
 *    its own figures; so does `saferringctl sessions`.
 *  - SIGTERM with sessions on every worker, each with a read of an empty
 *    pipe in flight: every read completes (cancelled), every connection
 *    then ends, and the daemon exits 0 well within its deadline.
 */
#include "../lib/harness.h"
#include "../lib/child.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server.h" /* SERVER_STOP_TIMEOUT_MS */

#define WORKERS 2
#define BIG_SLOTS 512
#define BIG_SLOT (1U << 20)
/* A stall shorter than this cannot be told from the machine's noise:
 * the slow session was not slow here. */
#define MIN_STALL_NS (20ULL * 1000 * 1000)
/* Pinning 512 MiB takes seconds on a loaded machine. */
#define SLOW_WAIT_MS (60 * 1000)
#define READER_FILE_BYTES (1U << 20)
#define PROMPT_MS (SERVER_STOP_TIMEOUT_MS / 4)

static const char workers_conf[] =
	"# written by tests/e2e/test_workers.c\n"
	"[daemon]\n"
	"workers = 2\n"
	"max_pinned_total = 1G\n"
	"[default]\n"
	"ops = all\n"
	"slots = 512\n"
	"slot_size = 1M\n"
	"arena = 512M\n"
	"fds = 16\n"
	"in_flight = 64\n"
	"sessions = 64\n"
	"max_errors = 64\n";

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

/* ------------------------------------------------------------------ */
/* Statistics, as a StatsRequest on a connection of its own sees them. */

#define MAX_SEEN 64

struct seen {
	uint32_t workers;   /* 0: the reply did not say */
	uint32_t sessions;  /* besides the asker */
	size_t n;
	struct {
		uint64_t id;
		int32_t pid;
		uint32_t worker;
		bool has_worker;
		uint64_t ops_done;
	} s[MAX_SEEN];
};

/* Ask on @c (no Hello needed).  0, or -1 with nothing filled in. */
static int ask_stats_on(struct rc *c, struct seen *out)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__StatsRequest sr = SAFERRING__STATS_REQUEST__INIT;
	Saferring__Reply *r = NULL;
	uint32_t seq = rc_next_seq(c);

	sr.has_sessions = sr.sessions = true;
	req.has_seq = true;
	req.seq = seq;
	req.body_case = SAFERRING__REQUEST__BODY_STATS;
	req.stats = &sr;
	if (rc_send_request(c, &req, NULL, 0) < 0)
		return -1;
	/* Not rc_recv_control: usable outside a cmocka test too. */
	if (rc_recv(c, SLOW_WAIT_MS, &r, NULL) != 1 ||
	    r->body_case != SAFERRING__REPLY__BODY_STATS || r->seq != seq)
		return -1;
	*out = (struct seen){
		.workers = r->stats->has_workers ? r->stats->workers : 0,
		.sessions = r->stats->sessions,
	};
	for (size_t i = 0; i < r->stats->n_session && i < MAX_SEEN; i++) {
		const Saferring__SessionStats *s = r->stats->session[i];

		out->s[i].id = s->session_id;
		out->s[i].pid = s->pid;
		out->s[i].worker = s->worker;
		out->s[i].has_worker = s->has_worker;
		out->s[i].ops_done = s->ops_done;
		out->n++;
	}
	return 0;
}

static int ask_stats(const char *sock, struct seen *out)
{
	struct rc *c = rc_connect(sock);
	int r = ask_stats_on(c, out);

	rc_close(c);
	return r;
}

/* The line of session @id, or of the one session of @pid (id 0). */
static const typeof(((struct seen *)0)->s[0]) *
seen_find(const struct seen *v, uint64_t id, pid_t pid)
{
	for (size_t i = 0; i < v->n; i++)
		if (id ? v->s[i].id == id : v->s[i].pid == pid)
			return &v->s[i];
	return NULL;
}

/* Until no connection is left but @ctl (earlier tests' sessions, and
 * connections made only to ask, are freed asynchronously and count in a
 * worker's load until then). */
static void wait_idle(struct rc *ctl)
{
	uint64_t deadline = hd_now_ns() + SLOW_WAIT_MS * 1000000ULL;
	struct seen v;

	for (;;) {
		assert_int_equal(ask_stats_on(ctl, &v), 0);
		if (v.sessions == 0)
			return;
		if (hd_now_ns() > deadline)
			fail_msg("%u sessions still open after earlier tests",
				 v.sessions);
		hd_sleep_ms(10);
	}
}

/* ------------------------------------------------------------------ */
/* A QD1 reader in a process of its own. */

struct reader_report {
	uint64_t connect_ns;  /* sr_connect, Hello and Welcome included */
	uint64_t session_id;
	uint64_t reads;
	uint64_t worst_ns;    /* slowest round trip of the phase */
	uint64_t sum_ns;
	int err;              /* 0, or -errno of what failed */
};

struct reader {
	pid_t pid;
	int cmd;              /* parent -> child: 'g' go, 'p' phase, 'q' quit */
	int report;           /* child -> parent: struct reader_report */
	uint64_t told_ns;     /* 'g' sent, since the slow Hello was */
	struct reader_report connected, phase[2];
};

static void reader_send(int fd, const struct reader_report *r)
{
	if (write(fd, r, sizeof(*r)) != (ssize_t)sizeof(*r))
		_exit(3);
}

/* The child: wait for 'g', connect, then read until 'q', reporting the
 * round trips of each phase at every 'p'. */
static void __attribute__((noreturn))
reader_child(int cmd, int report, int file)
{
	struct sr_params params = { .flags = SR_PARAMS_NO_INLINE };
	struct reader_report r = { 0 };
	struct sr_limits lim;
	struct sr_client *c;
	struct pollfd p = { .fd = cmd, .events = POLLIN };
	char what;
	uint64_t t0, n = 0;
	sr_slot_t slot;
	sr_handle_t fh;

	/* Nothing of the parent's but these three: a copy of one of its
	 * connections would keep that session open after the parent
	 * closed it. */
	for (int fd = 3; fd < 1024; fd++)
		if (fd != cmd && fd != report && fd != file)
			close(fd);
	if (read(cmd, &what, 1) != 1 || what != 'g')
		_exit(2);
	t0 = hd_now_ns();
	r.err = sr_connect(hd.sock, &params, &c);
	r.connect_ns = hd_now_ns() - t0;
	if (r.err == 0 && sr_limits(c, &lim) == 0)
		r.session_id = lim.session_id;
	reader_send(report, &r);
	if (r.err)
		_exit(1);
	fh = sr_register_fd(c, file);
	slot = sr_slot_acquire(c);
	memset(&r, 0, sizeof(r));
	if (sr_handle_index(fh) < 0 || sr_slot_index(slot) < 0)
		r.err = sr_handle_index(fh) < 0 ? sr_handle_index(fh)
						: sr_slot_index(slot);
	for (;;) {
		if (!r.err) {
			uint64_t off = (n++ % (READER_FILE_BYTES / 4096)) * 4096;
			struct sr_cqe cqe;
			uint64_t dt;

			t0 = hd_now_ns();
			r.err = sr_prep_read(c, n, fh, slot, 0, 4096, off);
			if (!r.err)
				r.err = sr_submit_and_wait(c, 0) == 1 ? 0 : -EIO;
			if (!r.err)
				r.err = sr_wait_cqe(c, &cqe);
			if (!r.err && cqe.res != 4096)
				r.err = cqe.res < 0 ? cqe.res : -EIO;
			dt = hd_now_ns() - t0;
			r.reads++;
			r.sum_ns += dt;
			if (dt > r.worst_ns)
				r.worst_ns = dt;
		}
		if (poll(&p, 1, r.err ? -1 : 0) == 1) {
			if (read(cmd, &what, 1) != 1 || what == 'q') {
				reader_send(report, &r);
				sr_close(c);
				_exit(0);
			}
			reader_send(report, &r);
			memset(&r, 0, sizeof(r));
		}
	}
}

static void reader_start(struct reader *rd, int file)
{
	int cmd[2], rep[2];

	assert_int_equal(pipe2(cmd, O_CLOEXEC), 0);
	assert_int_equal(pipe2(rep, O_CLOEXEC), 0);
	rd->pid = test_fork();
	assert_true(rd->pid >= 0);
	if (rd->pid == 0) {
		close(cmd[1]);
		close(rep[0]);
		reader_child(cmd[0], rep[1], file);
	}
	close(cmd[0]);
	close(rep[1]);
	rd->cmd = cmd[1];
	rd->report = rep[0];
}

static void reader_tell(struct reader *rd, char what)
{
	assert_int_equal(write(rd->cmd, &what, 1), 1);
}

static void reader_collect(struct reader *rd, struct reader_report *out,
		   const char *who)
{
	struct pollfd p = { .fd = rd->report, .events = POLLIN };

	if (poll(&p, 1, SLOW_WAIT_MS) != 1 ||
	    read(rd->report, out, sizeof(*out)) != (ssize_t)sizeof(*out))
		fail_msg("%s: no report from the reader process", who);
	if (out->err)
		fail_msg("%s: the reader failed: %s", who, strerror(-out->err));
}

static void reader_end(struct reader *rd)
{
	int status;

	if (rd->pid <= 0)
		return;
	close(rd->cmd);
	close(rd->report);
	if (waitpid(rd->pid, &status, 0) == rd->pid &&
	    (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
		fprintf(stderr, "test_workers: a reader process ended with "
			"status 0x%x\n", status);
	rd->pid = -1;
}

/* ------------------------------------------------------------------ */

/* Send a Hello for @count slots of @size on @c; do not wait. */
static void send_hello(struct rc *c, uint32_t count, uint32_t size)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__Hello hello = SAFERRING__HELLO__INIT;

	hello.version = SR_PROTOCOL_VERSION;
	hello.has_slot_count = hello.has_slot_size = true;
	hello.slot_count = count;
	hello.slot_size = size;
	req.has_seq = true;
	req.seq = rc_next_seq(c);
	req.body_case = SAFERRING__REQUEST__BODY_HELLO;
	req.hello = &hello;
	assert_int_equal(rc_send_request(c, &req, NULL, 0), 0);
}

/* The big Hello's answer, within SLOW_WAIT_MS: whether it was a
 * Welcome (its memfd closed at once: the daemon's mapping is then the
 * arena's last). */
static bool slow_welcome(struct rc *c, char *why, size_t len)
{
	Saferring__Reply *r = NULL;
	int memfd = -1;

	if (rc_recv(c, SLOW_WAIT_MS, &r, &memfd) != 1)
		fail_msg("no answer to a %u MiB Hello within %d ms",
			 BIG_SLOTS * (BIG_SLOT >> 20), SLOW_WAIT_MS);
	if (memfd >= 0)
		close(memfd);
	if (r->body_case == SAFERRING__REPLY__BODY_WELCOME)
		return true;
	assert_int_equal(r->body_case, SAFERRING__REPLY__BODY_ERROR);
	snprintf(why, len, "%s", r->error->message ? r->error->message : "");
	return false;
}

static struct reader rd[2] = { { .pid = -1 }, { .pid = -1 } };

/* Readers a failed test left running would hold their sessions. */
static int readers_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++) {
		if (rd[i].pid > 0)
			kill(rd[i].pid, SIGKILL);
		reader_end(&rd[i]);
	}
	return 0;
}

static void test_slow_session_other_worker(void **state)
{
	struct rc *slow, *ctl;
	struct seen v;
	uint64_t t0, setup_ns, stall_ns, other_worst;
	const struct reader *same = NULL, *other = NULL;
	char why[256];
	int file;

	(void)state;
	file = hd_make_file(&hd, "workers.dat", READER_FILE_BYTES, 0x77);
	/* One connection asks every question, so that no short-lived one
	 * weighs on where the others go: it loads one worker, the slow
	 * session then goes to the other, and the readers one to each. */
	for (int i = 0; i < 2; i++)
		reader_start(&rd[i], file);
	ctl = rc_connect(hd.sock);
	wait_idle(ctl);
	slow = rc_connect(hd.sock);

	/* Its arena is set up on its worker's offload thread; the readers
	 * connect meanwhile, so one Hello waits behind it, or none. */
	t0 = hd_now_ns();
	send_hello(slow, BIG_SLOTS, BIG_SLOT);
	hd_sleep_ms(5);
	for (int i = 0; i < 2; i++) {
		rd[i].told_ns = hd_now_ns() - t0;
		reader_tell(&rd[i], 'g');
		/* Accepted in this order: wait until it is listed. */
		uint64_t deadline = hd_now_ns() + SLOW_WAIT_MS * 1000000ULL;
		for (;;) {
			assert_int_equal(ask_stats_on(ctl, &v), 0);
			if (seen_find(&v, 0, rd[i].pid))
				break;
			if (hd_now_ns() > deadline)
				fail_msg("reader %d never connected", i);
			hd_sleep_ms(1);
		}
	}
	if (!slow_welcome(slow, why, sizeof(why))) {
		printf("SKIP: the daemon cannot pin a %u MiB arena here: %s\n",
		       BIG_SLOTS * (BIG_SLOT >> 20), why);
		readers_teardown(NULL);
		rc_close(slow);
		rc_close(ctl);
		close(file);
		skip();
	}
	setup_ns = hd_now_ns() - t0;
	for (int i = 0; i < 2; i++)
		reader_collect(&rd[i], &rd[i].connected, "connect");

	/* Who is where. */
	assert_int_equal(ask_stats_on(ctl, &v), 0);
	const typeof(v.s[0]) *ls = seen_find(&v, 0, getpid());
	assert_non_null(ls);
	assert_true(ls->has_worker);
	for (int i = 0; i < 2; i++) {
		const typeof(v.s[0]) *l = seen_find(&v, rd[i].connected.session_id,
						    0);
		assert_non_null(l);
		if (l->worker == ls->worker)
			same = &rd[i];
		else
			other = &rd[i];
	}
	if (!same || !other)
		fail_msg("the slow session and the two readers are not spread "
			 "over both workers (the slow one on worker %u)",
			 ls->worker);

	/* Phase 1 ends with the Welcome; phase 2 is the teardown: once the
	 * client is gone, its worker unmaps the arena. */
	hd_sleep_ms(20);
	for (int i = 0; i < 2; i++)
		reader_tell(&rd[i], 'p');
	for (int i = 0; i < 2; i++)
		reader_collect(&rd[i], &rd[i].phase[0], "phase 1");
	t0 = hd_now_ns();
	rc_close(slow);
	for (;;) {
		assert_int_equal(ask_stats_on(ctl, &v), 0);
		if (!seen_find(&v, 0, getpid()))
			break;
		if (hd_now_ns() - t0 > SLOW_WAIT_MS * 1000000ULL)
			fail_msg("the slow session was never freed");
		hd_sleep_ms(5);
	}
	uint64_t teardown_ns = hd_now_ns() - t0;
	hd_sleep_ms(50);
	for (int i = 0; i < 2; i++)
		reader_tell(&rd[i], 'q');
	for (int i = 0; i < 2; i++)
		reader_collect(&rd[i], &rd[i].phase[1], "phase 2");
	for (int i = 0; i < 2; i++)
		reader_end(&rd[i]);
	rc_close(ctl);
	close(file);

	for (int k = 0; k < 2; k++) {
		const struct reader *r = k ? other : same;

		printf("test_workers: reader on the %s worker: Hello %.1f ms; "
		       "during the set-up %llu reads, worst %.2f ms, avg %.1f us; "
		       "during the teardown %llu reads, worst %.2f ms, avg %.1f us\n",
		       k ? "other" : "slow session's", ms(r->connected.connect_ns),
		       (unsigned long long)r->phase[0].reads,
		       ms(r->phase[0].worst_ns), r->phase[0].reads ?
		       (double)r->phase[0].sum_ns / r->phase[0].reads / 1e3 : 0,
		       (unsigned long long)r->phase[1].reads,
		       ms(r->phase[1].worst_ns), r->phase[1].reads ?
		       (double)r->phase[1].sum_ns / r->phase[1].reads / 1e3 : 0);
	}
	printf("test_workers: the %u MiB set-up took %.1f ms, the teardown "
	       "%.1f ms (until the session was gone from the statistics)\n",
	       BIG_SLOTS * (BIG_SLOT >> 20), ms(setup_ns), ms(teardown_ns));

	/* The stall the slow session causes on its own worker: a Hello
	 * there waits for its set-up (the worker's one offload thread), a
	 * read for its teardown (the worker's loop). */
	stall_ns = same->told_ns + same->connected.connect_ns;
	if (stall_ns < setup_ns || stall_ns < MIN_STALL_NS) {
		printf("SKIP: the reader beside the slow session was welcomed "
		       "%.1f ms after the slow Hello, before its set-up ended "
		       "(%.1f ms): no stall to compare with\n", ms(stall_ns),
		       ms(setup_ns));
		skip();
	}
	if (same->phase[1].worst_ns > stall_ns)
		stall_ns = same->phase[1].worst_ns;
	/* The reader on the other worker: welcomed before the slow
	 * session was, and no round trip near that stall. */
	if (other->told_ns + other->connected.connect_ns >= setup_ns)
		fail_msg("the reader on the other worker was welcomed %.1f ms "
			 "after the slow Hello, after the slow session (%.1f "
			 "ms): its Hello waited for that set-up",
			 ms(other->told_ns + other->connected.connect_ns),
			 ms(setup_ns));
	other_worst = 0;
	for (int k = 0; k < 2; k++)
		if (other->phase[k].worst_ns > other_worst)
			other_worst = other->phase[k].worst_ns;
	assert_true(other->phase[0].reads > 0 && other->phase[1].reads > 0);
	if (other_worst * 2 >= stall_ns)
		fail_msg("a read on the other worker took %.1f ms, the stall "
			 "beside the slow session was %.1f ms: not isolated",
			 ms(other_worst), ms(stall_ns));
	hd_check_service(&hd);
}

/* ------------------------------------------------------------------ */

/* `saferringctl sessions` against the test daemon: its output. */
static char *ctl_sessions(void)
{
	char exe[PATH_MAX], cmd[PATH_MAX + 256];
	static char out[16384];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	size_t len = 0;
	FILE *p;

	assert_true(n > 0);
	exe[n] = '\0';
	snprintf(cmd, sizeof(cmd), "%s/../bin/saferringctl --socket %s sessions",
		 dirname(exe), hd.sock);
	p = popen(cmd, "re");
	assert_non_null(p);
	while (len < sizeof(out) - 1) {
		size_t got = fread(out + len, 1, sizeof(out) - 1 - len, p);

		if (!got)
			break;
		len += got;
	}
	out[len] = '\0';
	assert_int_equal(pclose(p), 0);
	return out;
}

#define SPREAD 4

static void test_spread_and_stats(void **state)
{
	struct rc *s[SPREAD], *ask[WORKERS] = { NULL, NULL }, *ctl;
	unsigned per_worker[WORKERS];
	struct seen v;
	char *out;

	(void)state;
	ctl = rc_connect(hd.sock);
	wait_idle(ctl);
	for (int i = 0; i < SPREAD; i++) {
		struct rc_op op;
		struct rc_cqe cqe;

		s[i] = rc_open(hd.sock);
		/* Session i has done i + 1 operations. */
		for (int k = 0; k <= i; k++) {
			rc_op_nop(&op, (uint64_t)k);
			rc_run(s[i], &op, 1, &cqe);
			assert_int_equal(cqe.status, SR_STATUS_OK);
		}
	}
	/* An asker on each worker: the answer must not depend on which
	 * worker gathers it.  New connections go to the least loaded, so
	 * a few tries find both. */
	for (int tries = 0; tries < 8 && (!ask[0] || !ask[1]); tries++) {
		struct rc *c = rc_open(hd.sock);
		const typeof(v.s[0]) *l;

		assert_int_equal(ask_stats_on(ctl, &v), 0);
		l = seen_find(&v, c->session_id, 0);
		assert_non_null(l);
		assert_true(l->has_worker && l->worker < WORKERS);
		if (!ask[l->worker]) {
			ask[l->worker] = c;
			continue;
		}
		rc_close(c);
	}
	if (!ask[0] || !ask[1])
		fail_msg("no connection landed on each worker in 8 tries");

	for (int a = 0; a < WORKERS; a++) {
		assert_int_equal(ask_stats_on(ask[a], &v), 0);
		assert_int_equal(v.workers, WORKERS);
		/* The sessions, the other asker, ctl (and connections of the
		 * tries above still being freed). */
		assert_true(v.sessions >= SPREAD + 2);
		memset(per_worker, 0, sizeof(per_worker));
		for (int i = 0; i < SPREAD; i++) {
			const typeof(v.s[0]) *l = seen_find(&v, s[i]->session_id, 0);

			if (!l)
				fail_msg("asked on worker %d: session %llu not listed",
					 a, (unsigned long long)s[i]->session_id);
			assert_true(l->has_worker);
			assert_true(l->worker < WORKERS);
			/* Each session's own figures, read by its own worker. */
			assert_int_equal(l->ops_done, (uint64_t)i + 1);
			per_worker[l->worker]++;
		}
		assert_non_null(seen_find(&v, ask[!a]->session_id, 0));
		assert_null(seen_find(&v, ask[a]->session_id, 0));
		printf("test_workers: asked on worker %d: %u sessions on worker 0, "
		       "%u on worker 1\n", a, per_worker[0], per_worker[1]);
		/* Least-loaded: neither gets them all. */
		for (int w = 0; w < WORKERS; w++)
			assert_true(per_worker[w] >= 1);
	}
	out = ctl_sessions();
	assert_non_null(strstr(out, "WORKER"));
	for (int i = 0; i < SPREAD; i++) {
		char id[32];

		snprintf(id, sizeof(id), " %llu ",
			 (unsigned long long)s[i]->session_id);
		if (!strstr(out, id))
			fail_msg("saferringctl sessions lacks session %llu:\n%s",
				 (unsigned long long)s[i]->session_id, out);
	}
	for (int i = 0; i < SPREAD; i++)
		rc_close(s[i]);
	rc_close(ask[0]);
	rc_close(ask[1]);
	rc_close(ctl);
}

/* ------------------------------------------------------------------ */

#define STOP_SESSIONS 4

static struct hd_daemon stop_d;

static int stop_teardown(void **state)
{
	(void)state;
	hd_discard(&stop_d);
	return 0;
}

static void test_sigterm_every_worker(void **state)
{
	struct hd_daemon *d = &stop_d;
	struct sr_client *c[STOP_SESSIONS];
	unsigned per_worker[WORKERS] = { 0 };
	int pfd[2], status;
	struct seen v;
	uint64_t t0;
	struct rc *saved;

	(void)state;
	/* A daemon of its own: this one is stopped. */
	hd_start_config(d, workers_conf);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	for (int i = 0; i < STOP_SESSIONS; i++) {
		struct sr_params p = { .slot_count = 4, .slot_size = 4096 };
		struct sr_cqe cqe;
		sr_slot_t slot;
		sr_handle_t h;

		assert_int_equal(sr_connect(d->sock, &p, &c[i]), 0);
		h = sr_register_fd(c[i], pfd[0]);
		assert_true(sr_handle_index(h) >= 0);
		slot = sr_slot_acquire(c[i]);
		assert_true(sr_slot_index(slot) >= 0);
		/* A read of an empty pipe waits until cancelled. */
		assert_int_equal(sr_prep_read(c[i], 1, h, slot, 0, 4096, 0), 0);
		assert_int_equal(sr_submit_and_wait(c[i], 0), 1);
		/* In order: once the NOP is back, the read is the kernel's. */
		assert_int_equal(sr_prep_nop(c[i], 2), 0);
		assert_int_equal(sr_submit_and_wait(c[i], 0), 1);
		assert_int_equal(sr_wait_cqe(c[i], &cqe), 0);
		assert_int_equal(cqe.user_data, 2);
		assert_int_equal(sr_in_flight(c[i]), 1);
	}
	saved = rc_connect(d->sock);
	assert_int_equal(ask_stats_on(saved, &v), 0);
	rc_close(saved);
	for (int i = 0; i < STOP_SESSIONS; i++) {
		struct sr_limits lim;
		const typeof(v.s[0]) *l;

		assert_int_equal(sr_limits(c[i], &lim), 0);
		l = seen_find(&v, lim.session_id, 0);
		assert_non_null(l);
		per_worker[l->worker < WORKERS ? l->worker : 0]++;
	}
	assert_true(per_worker[0] >= 1 && per_worker[1] >= 1);

	t0 = hd_now_ns();
	assert_int_equal(kill(d->pid, SIGTERM), 0);
	for (int i = 0; i < STOP_SESSIONS; i++) {
		struct sr_cqe cqe;
		uint64_t deadline = t0 + PROMPT_MS * 1000000ULL;
		int r;

		/* The read's completion, then the end of the connection. */
		while ((r = sr_peek_cqe(c[i], &cqe)) == -EAGAIN) {
			struct pollfd p = { .fd = sr_fd(c[i]), .events = POLLIN };

			if (hd_now_ns() > deadline)
				fail_msg("session %d: no completion %d ms after "
					 "SIGTERM", i, PROMPT_MS);
			poll(&p, 1, 10);
		}
		assert_int_equal(r, 0);
		assert_int_equal(cqe.user_data, 1);
		assert_int_equal(cqe.status, SR_STATUS_OK);
		if (cqe.res != -ECANCELED && cqe.res != -EINTR)
			fail_msg("session %d: the read ended %d, expected "
				 "-ECANCELED or -EINTR", i, cqe.res);
		while ((r = sr_peek_cqe(c[i], &cqe)) == -EAGAIN) {
			struct pollfd p = { .fd = sr_fd(c[i]), .events = POLLIN };

			if (hd_now_ns() > deadline)
				fail_msg("session %d: still open %d ms after "
					 "SIGTERM", i, PROMPT_MS);
			poll(&p, 1, 10);
		}
		assert_int_equal(r, -ECONNRESET);
	}
	double t_sessions = ms(hd_now_ns() - t0);
	while (hd_alive(d)) {
		if (hd_now_ns() - t0 > PROMPT_MS * 1000000ULL)
			fail_msg("saferringd still running %d ms after SIGTERM",
				 PROMPT_MS);
		hd_sleep_ms(1);
	}
	status = d->status;
	printf("test_workers: SIGTERM with %u + %u sessions on the two "
	       "workers: all completed and closed after %.1f ms, daemon "
	       "exited after %.1f ms\n", per_worker[0], per_worker[1],
	       t_sessions, ms(hd_now_ns() - t0));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		hd_print_log_tail(d, 30);
		fail_msg("saferringd ended with status 0x%x on SIGTERM", status);
	}
	for (int i = 0; i < STOP_SESSIONS; i++)
		sr_close(c[i]);
	close(pfd[0]);
	close(pfd[1]);
}

int main(void)
{
	const struct CMUnitTest shared[] = {
		cmocka_unit_test_teardown(test_slow_session_other_worker,
					  readers_teardown),
		cmocka_unit_test(test_spread_and_stats),
	};
	const struct CMUnitTest own[] = {
		cmocka_unit_test_teardown(test_sigterm_every_worker,
					  stop_teardown),
	};
	struct seen v = { 0 };
	int failed;

	hd_watchdog(300);
	hd_start_config(&hd, workers_conf);
	if (ask_stats(hd.sock, &v) < 0 || v.workers < WORKERS) {
		printf("SKIP: the daemon serves with %u worker thread(s) here, "
		       "this test needs %d (one CPU?)\n", v.workers, WORKERS);
		hd_stop(&hd);
		return 77;
	}
	failed = cmocka_run_group_tests(shared, NULL, NULL);
	if (failed)
		hd_print_log_tail(&hd, 30);
	if (hd_stop(&hd) < 0)
		failed++;
	/* Its own daemon, once the shared one is gone. */
	failed += cmocka_run_group_tests(own, NULL, NULL);
	return failed ? 1 : 0;
}
