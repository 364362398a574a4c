/* SPDX-License-Identifier: MIT */
/*
 * test_load.c - end-to-end: many clients at once, some killed.
 *
 * 20 worker processes open 50 libsaferring sessions each (4 slots of
 * 4 KiB, as sr_params asks), so that 1,000 sessions are held at once,
 * then run rounds of writes and reads on their own regions of a file,
 * pipelined across their sessions, verifying every byte read back.
 * Meanwhile 6 victim processes (20 sessions each, reads held on pipes,
 * file reads and writes running) are SIGKILLed at random points: two
 * while still connecting, four in the middle of their work.  Nothing may
 * be lost or corrupted for the workers, and once every process is gone
 * the daemon's descriptor count must be back at its baseline.  All of it
 * runs twice, and the second run must fit in the memory the first one
 * used (nothing accumulates per session); with SAFERRING_STRICT_RSS=1
 * the daemon's RSS must also be back at its baseline, which needs the
 * daemon to hand freed heap back (malloc_trim).
 *
 * Prints the figures: sessions held, operations done, errors, RSS and
 * descriptors before, at the peak and after.  Seeded; SAFERRING_SEED
 * replays a run.  Only generous hang guards bound the time.  Must never
 * leave a client process behind: all die with the test and are reaped.
 */
#include "../lib/harness.h"
#include "../lib/child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKERS 20
#define PER_WORKER 50
#define VICTIMS 6
#define PER_VICTIM 20
#define ROUNDS 20
#define SLOT 4096
#define REGION (2 * SLOT)

static const char load_conf[] =
	"# written by tests/e2e/test_load.c\n"
	"[default]\n"
	"ops = all\n"
	"slots = 16\n"
	"slot_size = 64K\n"
	"arena = 1M\n"
	"fds = 4\n"
	"in_flight = 16\n"
	"sessions = 2000\n"
	"max_errors = 64\n";

/* What a worker tells the parent at the end. */
struct report {
	uint32_t sessions;
	uint64_t ops;
	uint64_t errors;
	char why[112];
};

static void report_exit(int fd, struct report *r, const char *why)
{
	if (why)
		snprintf(r->why, sizeof(r->why), "%s", why);
	if (write(fd, r, sizeof(*r)) != (ssize_t)sizeof(*r))
		_exit(3);
	_exit(why ? 1 : 0);
}

static uint32_t seed_of(unsigned w, unsigned s, unsigned round)
{
	return 0x10000000u + w * 1000000u + s * 1000u + round;
}

static void wait_one(struct sr_client *c, struct sr_cqe *cqe,
		     struct report *r, int out)
{
	if (sr_wait_cqe(c, cqe) < 0)
		report_exit(out, r, "sr_wait_cqe failed");
}

static void worker(unsigned w, int file_fd, int ready_fd, int go_fd,
		   int out)
{
	static struct sr_client *cs[PER_WORKER];
	static sr_handle_t handle[PER_WORKER];
	static sr_slot_t slot[PER_WORKER][4];
	struct sr_params p = { .slot_count = 4, .slot_size = SLOT };
	struct report r = { 0 };
	char b;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (unsigned s = 0; s < PER_WORKER; s++) {
		if (sr_connect(hd.sock, &p, &cs[s]) < 0)
			report_exit(out, &r, "sr_connect failed");
		r.sessions++;
		handle[s] = sr_register_fd(cs[s], file_fd);
		if (sr_handle_index(handle[s]) < 0)
			report_exit(out, &r, "sr_register_fd failed");
		for (int k = 0; k < 4; k++) {
			slot[s][k] = sr_slot_acquire(cs[s]);
			if (sr_slot_index(slot[s][k]) < 0)
				report_exit(out, &r, "sr_slot_acquire failed");
		}
	}
	if (write(ready_fd, "R", 1) != 1 || read(go_fd, &b, 1) != 1)
		report_exit(out, &r, "parent gone");
	for (unsigned round = 0; round < ROUNDS; round++) {
		/* Writes: two slots to the session's region. */
		for (unsigned s = 0; s < PER_WORKER; s++) {
			uint64_t base = ((uint64_t)w * PER_WORKER + s) * REGION;
			uint32_t seed = seed_of(w, s, round);

			for (int k = 0; k < 2; k++) {
				hd_pattern(sr_slot_data(cs[s], slot[s][k]), SLOT,
					   base + (uint64_t)k * SLOT, seed);
				if (sr_prep_write(cs[s], (uint64_t)k, handle[s],
						  slot[s][k], 0, SLOT,
						  base + (uint64_t)k * SLOT) < 0)
					report_exit(out, &r, "sr_prep_write failed");
			}
			if (sr_prep_nop(cs[s], 9) < 0 || sr_submit_and_wait(cs[s], 0) != 3)
				report_exit(out, &r, "sr_submit failed");
		}
		for (unsigned s = 0; s < PER_WORKER; s++) {
			for (int k = 0; k < 3; k++) {
				struct sr_cqe cqe;

				wait_one(cs[s], &cqe, &r, out);
				r.ops++;
				if (cqe.status != SR_STATUS_OK ||
				    cqe.res != (cqe.user_data == 9 ? 0 : SLOT))
					r.errors++;
			}
		}
		/* Reads back into the two other slots, verified. */
		for (unsigned s = 0; s < PER_WORKER; s++) {
			uint64_t base = ((uint64_t)w * PER_WORKER + s) * REGION;

			for (int k = 0; k < 2; k++) {
				memset(sr_slot_data(cs[s], slot[s][2 + k]), 0, SLOT);
				if (sr_prep_read(cs[s], (uint64_t)k, handle[s],
						 slot[s][2 + k], 0, SLOT,
						 base + (uint64_t)k * SLOT) < 0)
					report_exit(out, &r, "sr_prep_read failed");
			}
			if (sr_submit_and_wait(cs[s], 0) != 2)
				report_exit(out, &r, "sr_submit failed");
		}
		for (unsigned s = 0; s < PER_WORKER; s++) {
			uint64_t base = ((uint64_t)w * PER_WORKER + s) * REGION;

			for (int k = 0; k < 2; k++) {
				struct sr_cqe cqe;

				wait_one(cs[s], &cqe, &r, out);
				r.ops++;
				if (cqe.status != SR_STATUS_OK || cqe.res != SLOT ||
				    cqe.user_data > 1 ||
				    !hd_pattern_ok(sr_slot_data(cs[s],
							slot[s][2 + cqe.user_data]),
						   SLOT,
						   base + cqe.user_data * SLOT,
						   seed_of(w, s, round)))
					r.errors++;
			}
		}
	}
	for (unsigned s = 0; s < PER_WORKER; s++)
		sr_close(cs[s]);
	report_exit(out, &r, NULL);
}

/* Holds reads on a pipe nobody writes and keeps file I/O going until it
 * is killed. */
static void victim(int file_fd, int ready_fd)
{
	static struct sr_client *cs[PER_VICTIM];
	static sr_handle_t file_h[PER_VICTIM];
	struct sr_params p = { .slot_count = 4, .slot_size = SLOT };
	int pfd[2];

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (pipe2(pfd, O_CLOEXEC) < 0)
		_exit(2);
	for (unsigned s = 0; s < PER_VICTIM; s++) {
		sr_handle_t hf;
		sr_handle_t hp;

		if (sr_connect(hd.sock, &p, &cs[s]) < 0)
			_exit(10);
		hp = sr_register_fd(cs[s], pfd[0]);
		hf = sr_register_fd(cs[s], file_fd);
		if (sr_handle_index(hp) < 0 || sr_handle_index(hf) < 0)
			_exit(11);
		file_h[s] = hf;
		for (int k = 0; k < 2; k++)
			if (sr_prep_read(cs[s], 100, hp, sr_slot_acquire(cs[s]), 0,
					 64, 0) < 0)
				_exit(12);
		if (sr_submit_and_wait(cs[s], 0) != 2)
			_exit(13);
	}
	if (write(ready_fd, "R", 1) != 1)
		_exit(14);
	for (;;) {
		for (unsigned s = 0; s < PER_VICTIM; s++) {
			sr_slot_t a = sr_slot_acquire(cs[s]);

			if (sr_slot_index(a) < 0)
				continue;
			sr_prep_read(cs[s], 1, file_h[s], a, 0, SLOT,
				     (uint64_t)s * SLOT);
			sr_submit_and_wait(cs[s], 0);
		}
		for (unsigned s = 0; s < PER_VICTIM; s++) {
			struct sr_cqe cqe;

			if (sr_wait_cqe(cs[s], &cqe) == 0 &&
			    sr_slot_index(cqe.slot) >= 0)
				sr_slot_release(cs[s], cqe.slot);
		}
	}
}

/* The RssAnon/RssFile/RssShmem lines of @pid's status, on one line. */
static void rss_detail(pid_t pid, char *out, size_t len)
{
	char path[64], line[256];
	FILE *f;
	size_t n = 0;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f) && n + 1 < len) {
		long kib;

		if (sscanf(line, "RssAnon: %ld", &kib) == 1)
			n += (size_t)snprintf(out + n, len - n, "anon %ld ", kib);
		else if (sscanf(line, "RssFile: %ld", &kib) == 1)
			n += (size_t)snprintf(out + n, len - n, "file %ld ", kib);
		else if (sscanf(line, "RssShmem: %ld", &kib) == 1)
			n += (size_t)snprintf(out + n, len - n, "shmem %ld", kib);
		if (n >= len)
			n = len - 1;
	}
	fclose(f);
}

static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* Read one byte per process from @fd, bounded; returns how many came. */
static unsigned wait_ready(int fd, unsigned n, int timeout_ms)
{
	uint64_t deadline = hd_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	unsigned got = 0;

	while (got < n && hd_now_ns() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char b;

		if (poll(&p, 1, 100) == 1 && read(fd, &b, 1) == 1)
			got++;
	}
	return got;
}

struct figures {
	unsigned held, sessions;
	uint64_t ops, errors;
	int peak_fds, end_fds;
	long rss_peak, rss_end;
	double seconds;
};

/* One run: workers and victims, start to finish; every process reaped. */
static void run_load(int file_fd, int base_fds, long rss_base,
		     struct figures *f)
{
	pid_t workers[WORKERS], victims[VICTIMS];
	int ready[2], go[2], reports[2], vready[2];
	unsigned victims_ready;
	uint64_t t0 = hd_now_ns();

	memset(f, 0, sizeof(*f));
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	assert_int_equal(pipe2(reports, O_CLOEXEC), 0);
	assert_int_equal(pipe2(vready, O_CLOEXEC), 0);
	fflush(NULL);
	for (unsigned v = 0; v < VICTIMS; v++) {
		victims[v] = test_fork();
		assert_true(victims[v] >= 0);
		if (victims[v] == 0)
			victim(file_fd, vready[1]);
	}
	/* Two victims die while connecting. */
	hd_sleep_ms((int)(rng() % 20));
	kill(victims[0], SIGKILL);
	hd_sleep_ms((int)(rng() % 20));
	kill(victims[1], SIGKILL);
	for (unsigned w = 0; w < WORKERS; w++) {
		workers[w] = test_fork();
		assert_true(workers[w] >= 0);
		if (workers[w] == 0)
			worker(w, file_fd, ready[1], go[0], reports[1]);
	}
	if (wait_ready(ready[0], WORKERS, 60000) != WORKERS)
		fail_msg("not every worker connected its %u sessions", PER_WORKER);
	victims_ready = wait_ready(vready[0], VICTIMS - 2, 20000);
	f->held = WORKERS * PER_WORKER + victims_ready * PER_VICTIM;
	f->peak_fds = hd_fd_count(hd.pid);
	f->rss_peak = hd_rss_kib(hd.pid);
	printf("test_load: %u sessions held at once (%u workers x %u, %u victims "
	       "x %u) after %.1f s; daemon fds %d, RSS %ld KiB\n", f->held,
	       WORKERS, PER_WORKER, victims_ready, PER_VICTIM,
	       (double)(hd_now_ns() - t0) / 1e9, f->peak_fds, f->rss_peak);
	/* Each session holds its socket and its ring in the daemon. */
	assert_true(f->peak_fds >= base_fds + 2 * WORKERS * PER_WORKER);

	/* Go; the other victims die at random points of the run. */
	for (unsigned w = 0; w < WORKERS; w++)
		assert_int_equal(write(go[1], "G", 1), 1);
	for (unsigned v = 2; v < VICTIMS; v++) {
		hd_sleep_ms((int)(rng() % 150));
		kill(victims[v], SIGKILL);
	}
	for (unsigned w = 0; w < WORKERS; w++) {
		struct report r;
		struct pollfd p = { .fd = reports[0], .events = POLLIN };

		if (poll(&p, 1, 60000) != 1 ||
		    read(reports[0], &r, sizeof(r)) != (ssize_t)sizeof(r))
			fail_msg("a worker did not report within 60 s");
		f->sessions += r.sessions;
		f->ops += r.ops;
		f->errors += r.errors;
		if (r.why[0])
			fail_msg("a worker failed after %u sessions: %s", r.sessions,
				 r.why);
	}
	for (unsigned w = 0; w < WORKERS; w++) {
		int status;

		assert_int_equal(waitpid(workers[w], &status, 0), workers[w]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	for (unsigned v = 0; v < VICTIMS; v++) {
		int status;

		assert_int_equal(waitpid(victims[v], &status, 0), victims[v]);
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
			fail_msg("victim %u ended with status %#x before it was "
				 "killed", v, status);
	}
	hd_assert_alive(&hd);
	f->end_fds = hd_wait_fd_count(hd.pid, base_fds, 20000);
	f->rss_end = hd_wait_rss_below(hd.pid,
				       rss_base + hd_rss_allowance_kib(hd.pid,
								       8 * 1024),
				       2000);
	f->seconds = (double)(hd_now_ns() - t0) / 1e9;
	{
		char detail[128];

		rss_detail(hd.pid, detail, sizeof(detail));
		printf("test_load: %u worker sessions, %llu operations done, %llu "
		       "errors, %u victims killed, %.1f s; daemon fds %d -> %d "
		       "-> %d, RSS %ld -> %ld -> %ld KiB (%s)\n", f->sessions,
		       (unsigned long long)f->ops,
		       (unsigned long long)f->errors, VICTIMS, f->seconds,
		       base_fds, f->peak_fds, f->end_fds, rss_base, f->rss_peak,
		       f->rss_end, detail);
	}
	assert_int_equal(f->sessions, WORKERS * PER_WORKER);
	assert_int_equal(f->ops, (uint64_t)WORKERS * PER_WORKER * ROUNDS * 5);
	assert_int_equal(f->errors, 0);
	assert_int_equal(f->end_fds, base_fds);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
	close(reports[0]);
	close(reports[1]);
	close(vready[0]);
	close(vready[1]);
}

/*
 * Two runs.  The descriptors must be back at the baseline after each.
 * Memory: the second run must fit in what the first one used (its peak,
 * and what is left after it, stay within a quarter above the first run's
 * peak: a session's worth lost per session would double it), so freed
 * sessions are reused and nothing accumulates.  How much the daemon
 * keeps after all sessions ended depends on glibc, which keeps freed
 * heap pages unless the daemon trims its heap; back to the baseline is
 * asserted only with SAFERRING_STRICT_RSS=1.
 */
static void test_thousand_sessions(void **state)
{
	const char *env = getenv("SAFERRING_SEED");
	struct figures one, two;
	int file_fd, base_fds;
	long rss0, allowed, slack;

	(void)state;
	rng_state = env ? strtoull(env, NULL, 0) : hd_now_ns();
	if (!rng_state)
		rng_state = 1;
	printf("test_load: seed %llu (SAFERRING_SEED replays it)\n",
	       (unsigned long long)rng_state);
	file_fd = hd_make_file(&hd, "load.dat",
			       (size_t)WORKERS * PER_WORKER * REGION, 1);
	base_fds = hd_settled_fd_count(hd.pid);
	rss0 = hd_rss_kib(hd.pid);
	assert_true(base_fds > 0 && rss0 > 0);
	allowed = hd_rss_allowance_kib(hd.pid, 8 * 1024);

	run_load(file_fd, base_fds, rss0, &one);
	run_load(file_fd, base_fds, rss0, &two);
	printf("test_load: daemon RSS %ld KiB before, %ld after one run, %ld "
	       "after two (%s %ld KiB of the baseline)\n", rss0, one.rss_end,
	       two.rss_end, two.rss_end - rss0 < allowed ? "within" :
	       "heap not trimmed: more than", allowed);
	/* Reused holes fit a new run's allocations only roughly. */
	slack = allowed > one.rss_peak / 4 ? allowed : one.rss_peak / 4;
	if (two.rss_peak >= one.rss_peak + slack ||
	    two.rss_end >= one.rss_peak + slack)
		fail_msg("daemon RSS grew between two equal runs (peaks %ld and "
			 "%ld KiB, %ld KiB left after the second): memory "
			 "accumulates", one.rss_peak, two.rss_peak, two.rss_end);
	if (getenv("SAFERRING_STRICT_RSS") && two.rss_end - rss0 >= allowed)
		fail_msg("daemon RSS %ld KiB after all sessions ended, %ld KiB "
			 "before", two.rss_end, rss0);
	close(file_fd);
	hd_check_service(&hd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thousand_sessions),
	};
	int failed;

	signal(SIGPIPE, SIG_IGN);
	hd_watchdog(150);
	hd_start_config(&hd, load_conf);
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	if (failed)
		hd_print_log_tail(&hd, 30);
	if (hd_stop(&hd) < 0)
		failed++;
	return failed ? 1 : 0;
}
