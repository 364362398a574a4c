/* SPDX-License-Identifier: MIT */
/*
 * harness.c - see harness.h.  Used by every end-to-end test: starting,
 * measuring and stopping a real saferringd, and the raw protocol client.
 */
#include "harness.h"
#include "child.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct hd_daemon hd;

/* Unpack arena of the raw client: a full Completions reply needs far less. */
#define RC_UNPACK_BYTES (4U * 1024 * 1024)
#define RC_MAX_SEND_FDS 16

/* ------------------------------------------------------------------ */
/* Time and small helpers. */

int hd_become(uid_t uid, gid_t gid)
{
	struct group *gr = getgrnam(HD_SOCKET_GROUP);
	gid_t groups[1];
	size_t n = 0;

	if (gr)
		groups[n++] = gr->gr_gid;
	if (setgroups(n, groups) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
		return -errno;
	return 0;
}

uint64_t hd_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void hd_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int ms_left(uint64_t deadline)
{
	uint64_t now = hd_now_ns();

	return now >= deadline ? 0 : (int)((deadline - now) / 1000000ULL) + 1;
}

/* ------------------------------------------------------------------ */
/* Watchdog. */

static volatile pid_t wd_daemon_pid;

static void wd_expired(int sig)
{
	static const char msg[] =
		"\nharness: watchdog expired: the test ran too long (hung?); "
		"killing the daemon and failing\n";
	pid_t pid = wd_daemon_pid;

	(void)sig;
	if (pid > 0)
		kill(pid, SIGKILL);
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing left to do */
	}
	_exit(1);
}

unsigned hd_timeout_scale(void)
{
	static unsigned scale;

	if (!scale) {
		const char *env = getenv("SAFERRING_TIMEOUT_SCALE");
		long v = env ? strtol(env, NULL, 10) : 1;

		scale = v >= 1 && v <= 1000 ? (unsigned)v : 1;
	}
	return scale;
}

int hd_timeout_ms(void)
{
	return 5000 * (int)hd_timeout_scale();
}

void hd_watchdog(unsigned seconds)
{
	struct sigaction sa = { .sa_handler = wd_expired };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	alarm(seconds * hd_timeout_scale());
}

/* ------------------------------------------------------------------ */
/* Daemon life cycle. */

static void find_daemon(char *buf, size_t len)
{
	const char *env = getenv("SAFERRINGD");
	char exe[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(buf, len, "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0) {
		snprintf(buf, len, "build/sbin/saferringd");
		return;
	}
	exe[n] = '\0';
	snprintf(buf, len, "%s/../sbin/saferringd", dirname(exe));
}

static char *read_log(const struct hd_daemon *d)
{
	FILE *f = fopen(d->log, "re");
	char *buf = NULL;
	size_t cap = 0, len = 0;

	if (!f)
		return strdup("");
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = (cap + 4096) * 2;
			char *nb = realloc(buf, cap);
			if (!nb)
				break;
			buf = nb;
		}
		size_t n = fread(buf + len, 1, 4096, f);
		len += n;
		if (n == 0)
			break;
	}
	fclose(f);
	if (!buf)
		return strdup("");
	buf[len] = '\0';
	return buf;
}

void hd_print_log_tail(const struct hd_daemon *d, int lines)
{
	char *log = read_log(d);
	size_t len = strlen(log);
	const char *p = log + len;
	int seen = 0;

	while (p > log) {
		p--;
		if (*p == '\n' && p + 1 < log + len && ++seen > lines) {
			p++;
			break;
		}
	}
	fprintf(stderr, "---- saferringd log (last %d lines) ----\n%s%s"
		"---- end of log ----\n", lines, p,
		len && log[len - 1] != '\n' ? "\n" : "");
	free(log);
}

bool hd_wait_log(const struct hd_daemon *d, const char *text, int timeout_ms)
{
	uint64_t deadline = hd_now_ns() + (uint64_t)timeout_ms * 1000000ULL;

	for (;;) {
		char *log = read_log(d);
		bool found = strstr(log, text) != NULL;

		free(log);
		if (found)
			return true;
		if (!ms_left(deadline))
			return false;
		hd_sleep_ms(10);
	}
}

static void describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)%s", WTERMSIG(status),
			 strsignal(WTERMSIG(status)),
			 WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(buf, len, "wait status 0x%x", status);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void remove_dir(const struct hd_daemon *d)
{
	if (getenv("SAFERRING_KEEP_TMP")) {
		fprintf(stderr, "harness: kept %s\n", d->dir);
		return;
	}
	if (d->dir[0])
		nftw(d->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static bool can_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	int r;

	if (fd < 0)
		return false;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		close(fd);
		return false;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return r == 0;
}

/* The built-in policy, spelled out (the daemon's documented defaults). */
static const char default_config[] =
	"# written by tests/lib/harness.c\n"
	"[default]\n"
	"ops = all\n"
	"slots = 1024\n"
	"slot_size = 1M\n"
	"arena = 256M\n"
	"fds = 64\n"
	"in_flight = 256\n"
	"sessions = 64\n"
	"max_errors = 64\n";

void hd_write_config(const struct hd_daemon *d, const char *config)
{
	char conf[160], tmp[170];
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/saferringd.conf", d->dir);
	snprintf(tmp, sizeof(tmp), "%s.new", conf);
	f = fopen(tmp, "we");
	if (!f || fputs(config ? config : default_config, f) < 0 ||
	    fclose(f) != 0 || rename(tmp, conf) < 0) {
		fprintf(stderr, "harness: cannot write %s\n", conf);
		exit(1);
	}
}

void hd_start(struct hd_daemon *d)
{
	hd_start_config(d, NULL);
}

void hd_start_config(struct hd_daemon *d, const char *config)
{
	char bin[PATH_MAX], conf[160];
	pid_t parent = getpid();
	int logfd;

	memset(d, 0, sizeof(*d));
	d->pid = -1;
	snprintf(d->dir, sizeof(d->dir), "/tmp/saferring-test.XXXXXX");
	if (!mkdtemp(d->dir)) {
		fprintf(stderr, "harness: mkdtemp: %s\n", strerror(errno));
		exit(1);
	}
	/* Started as root, the daemon drops to its own user, which must
	 * still reach its policy file on SIGHUP; test clients of other uids
	 * must reach the socket.  Neither may list the directory. */
	if (chmod(d->dir, 0711) < 0) {
		fprintf(stderr, "harness: chmod %s: %s\n", d->dir, strerror(errno));
		exit(1);
	}
	snprintf(d->sock, sizeof(d->sock), "%s/sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
	snprintf(conf, sizeof(conf), "%s/saferringd.conf", d->dir);
	hd_write_config(d, config);
	find_daemon(bin, sizeof(bin));
	if (access(bin, X_OK) < 0) {
		fprintf(stderr, "harness: daemon binary %s: %s (build it, or set "
			"SAFERRINGD)\n", bin, strerror(errno));
		remove_dir(d);
		exit(1);
	}
	logfd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0) {
		fprintf(stderr, "harness: %s: %s\n", d->log, strerror(errno));
		exit(1);
	}
	fflush(NULL);
	d->pid = test_fork();
	if (d->pid < 0) {
		fprintf(stderr, "harness: fork: %s\n", strerror(errno));
		exit(1);
	}
	if (d->pid == 0) {
		int nul = open("/dev/null", O_RDONLY);

		/* Never outlive the test program. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (nul >= 0)
			dup2(nul, STDIN_FILENO);
		dup2(logfd, STDOUT_FILENO);
		dup2(logfd, STDERR_FILENO);
		/* Nothing the test runner left open may reach the daemon (it
		 * would skew descriptor counts). */
		close_range(3, ~0U, 0);
		execl(bin, bin, "--socket", d->sock, "--config", conf,
		      "--foreground", "--verbose", (char *)NULL);
		fprintf(stderr, "harness: exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	close(logfd);
	wd_daemon_pid = d->pid;

	uint64_t deadline = hd_now_ns() + HD_TIMEOUT_MS * 1000000ULL;
	for (;;) {
		int status;

		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			char *log = read_log(d);
			char how[128];
			const char *why = strstr(log, "cannot create an io_uring");

			d->reaped = true;
			d->status = status;
			wd_daemon_pid = 0;
			describe_status(status, how, sizeof(how));
			if (WIFEXITED(status) && WEXITSTATUS(status) == 1 && why) {
				const char *end = strchr(why, '\n');
				int n = end ? (int)(end - why) : (int)strlen(why);

				printf("SKIP: saferringd cannot run here: %.*s\n", n,
				       why);
				free(log);
				remove_dir(d);
				exit(77);
			}
			fprintf(stderr, "harness: saferringd %s during start-up\n",
				how);
			free(log);
			hd_print_log_tail(d, 40);
			remove_dir(d);
			exit(1);
		}
		/* Accepting is not enough: the daemon binds before it drops
		 * privileges and confines itself, and says "listening" only
		 * once it did.  Connect only then: every probe is a session
		 * until the daemon has reaped it, and counts against the
		 * session limits the test may be about. */
		if (hd_wait_log(d, "listening on", 0) && can_connect(d->sock))
			return;
		if (!ms_left(deadline)) {
			fprintf(stderr, "harness: saferringd did not accept "
				"connections within %d ms\n", HD_TIMEOUT_MS);
			kill(d->pid, SIGKILL);
			waitpid(d->pid, NULL, 0);
			hd_print_log_tail(d, 40);
			remove_dir(d);
			exit(1);
		}
		hd_sleep_ms(10);
	}
}

bool hd_alive(struct hd_daemon *d)
{
	int status;

	if (d->reaped || d->pid <= 0)
		return false;
	if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
		d->reaped = true;
		d->status = status;
		wd_daemon_pid = 0;
		return false;
	}
	return true;
}

void hd_assert_alive(struct hd_daemon *d)
{
	char how[128];

	if (hd_alive(d))
		return;
	describe_status(d->status, how, sizeof(how));
	hd_print_log_tail(d, 40);
	fail_msg("saferringd is gone: %s", how);
}

int hd_stop(struct hd_daemon *d)
{
	char how[128];
	int ret = 0, status;

	if (!hd_alive(d)) {
		describe_status(d->status, how, sizeof(how));
		fprintf(stderr, "harness: FAIL: saferringd died before the end of "
			"the test: %s\n", how);
		hd_print_log_tail(d, 40);
		remove_dir(d);
		return -1;
	}
	kill(d->pid, SIGTERM);
	uint64_t deadline = hd_now_ns() + HD_TIMEOUT_MS * 1000000ULL;
	while (!d->reaped && ms_left(deadline)) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->reaped = true;
			d->status = status;
			break;
		}
		hd_sleep_ms(5);
	}
	if (!d->reaped) {
		fprintf(stderr, "harness: FAIL: saferringd did not exit within %d ms "
			"of SIGTERM; killed\n", HD_TIMEOUT_MS);
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &status, 0);
		d->reaped = true;
		d->status = status;
		ret = -1;
	} else if (!WIFEXITED(d->status) || WEXITSTATUS(d->status) != 0) {
		describe_status(d->status, how, sizeof(how));
		fprintf(stderr, "harness: FAIL: saferringd %s on SIGTERM "
			"(expected 0)\n", how);
		ret = -1;
	}
	wd_daemon_pid = 0;
	if (ret < 0)
		hd_print_log_tail(d, 40);
	remove_dir(d);
	return ret;
}

int hd_run_tests(const char *name, const struct CMUnitTest *tests, size_t n,
		 unsigned seconds)
{
	int failed;

	pid_t runner = getpid();

	hd_watchdog(seconds);
	hd_start(&hd);
	failed = _cmocka_run_group_tests(name, tests, n, NULL, NULL);
	/* A forked child that came back here instead of leaving with
	 * _exit() must not tear down the daemon its parent still uses. */
	if (getpid() != runner) {
		fprintf(stderr, "harness: FAIL: a test child (pid %d) returned "
			"into the test runner; use test_fork() and _exit()\n",
			(int)getpid());
		_exit(1);
	}
	if (failed)
		hd_print_log_tail(&hd, 30);
	if (hd_stop(&hd) < 0)
		failed++;
	alarm(0);
	return failed ? 1 : 0;
}

/* Real uid and gid of @pid from /proc: 0, or -errno. */
static int proc_ids(pid_t pid, uid_t *uid, gid_t *gid)
{
	char path[64], line[256];
	unsigned u = 0, g = 0;
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		found += sscanf(line, "Uid: %u", &u) == 1;
		found += sscanf(line, "Gid: %u", &g) == 1;
	}
	fclose(f);
	if (found != 2)
		return -EINVAL;
	*uid = u;
	*gid = g;
	return 0;
}

int hd_prlimit(const struct hd_daemon *d, int resource,
	       const struct rlimit *lim)
{
	uid_t uid;
	gid_t gid;
	int status, r = proc_ids(d->pid, &uid, &gid);
	pid_t pid;

	if (r < 0)
		return r;
	if (uid == geteuid())
		return prlimit(d->pid, resource, lim, NULL) < 0 ? -errno : 0;
	pid = test_fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
			_exit(100);
		_exit(prlimit(d->pid, resource, lim, NULL) < 0 ? errno : 0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -ECHILD;
	r = WEXITSTATUS(status);
	return r == 100 ? -EPERM : -r;
}

/* ------------------------------------------------------------------ */
/* Measuring the daemon. */

int hd_fd_count(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

int hd_wait_fd_count(pid_t pid, int want, int timeout_ms)
{
	uint64_t deadline = hd_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	int n;

	for (;;) {
		n = hd_fd_count(pid);
		if (n == want || !ms_left(deadline))
			return n;
		hd_sleep_ms(10);
	}
}

int hd_settled_fd_count(pid_t pid)
{
	uint64_t deadline = hd_now_ns() + HD_TIMEOUT_MS * 1000000ULL;
	uint64_t since = hd_now_ns();
	int last = hd_fd_count(pid);

	while (ms_left(deadline)) {
		hd_sleep_ms(20);
		int n = hd_fd_count(pid);
		if (n != last) {
			last = n;
			since = hd_now_ns();
		} else if (hd_now_ns() - since >= 200000000ULL) {
			break;
		}
	}
	return last;
}

long hd_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

long hd_rss_allowance_kib(pid_t pid, long kib)
{
	char path[64], line[512];
	bool asan = false, tsan = false, valgrind = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (f) {
		while (!asan && !tsan && !valgrind &&
		       fgets(line, sizeof(line), f)) {
			asan = strstr(line, "libasan") != NULL;
			tsan = strstr(line, "libtsan") != NULL;
			valgrind = strstr(line, "vgpreload") != NULL;
		}
		fclose(f);
	}
	if (valgrind)
		return kib + 64 * 1024;
	/* ASan's quarantine holds up to 256 MiB of freed memory; its
	 * LeakSanitizer, not RSS, finds leaks there.  ThreadSanitizer's
	 * shadow and per-thread history grow with what it has seen, and
	 * leaks are the other runs' to find. */
	return asan || tsan ? 4 * kib + 256 * 1024 : kib;
}

long hd_wait_rss_below(pid_t pid, long limit_kib, int timeout_ms)
{
	uint64_t deadline = hd_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	long kib;

	for (;;) {
		kib = hd_rss_kib(pid);
		if ((kib >= 0 && kib < limit_kib) || !ms_left(deadline))
			return kib;
		hd_sleep_ms(5);
	}
}

/* ------------------------------------------------------------------ */
/* Files and patterns. */

void hd_path(const struct hd_daemon *d, const char *name, char *buf,
	     size_t len)
{
	snprintf(buf, len, "%s/%s", d->dir, name);
}

static uint8_t pattern_byte(uint64_t pos, uint32_t seed)
{
	uint64_t x = pos * 0x9e3779b97f4a7c15ULL + seed * 0xbf58476d1ce4e5b9ULL;

	x ^= x >> 29;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 32;
	return (uint8_t)x;
}

void hd_pattern(void *buf, size_t len, uint64_t pos, uint32_t seed)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = pattern_byte(pos + i, seed);
}

bool hd_pattern_ok(const void *buf, size_t len, uint64_t pos, uint32_t seed)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern_byte(pos + i, seed))
			return false;
	return true;
}

int hd_make_file(const struct hd_daemon *d, const char *name, size_t size,
		 uint32_t seed)
{
	char path[256];
	unsigned char buf[65536];
	int fd;

	hd_path(d, name, path, sizeof(path));
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
	for (size_t done = 0; done < size;) {
		size_t n = size - done < sizeof(buf) ? size - done : sizeof(buf);
		hd_pattern(buf, n, done, seed);
		ssize_t w = pwrite(fd, buf, n, (off_t)done);
		if (w <= 0)
			fail_msg("write %s: %s", path, strerror(errno));
		done += (size_t)w;
	}
	return fd;
}

/* ------------------------------------------------------------------ */
/* Honest client through libsaferring. */

void hd_honest_roundtrip(const struct hd_daemon *d)
{
	static uint32_t round;
	struct sr_client *c = NULL;
	struct sr_cqe cqe;
	char path[256];
	unsigned char check[4096];
	uint32_t seed = 0x5eed0000 + ++round;
	size_t len = sizeof(check);
	int r, fd, h, a, b;

	r = sr_connect(d->sock, NULL, &c);
	if (r < 0)
		fail_msg("honest client: sr_connect: %s", strerror(-r));
	hd_path(d, "honest.XXXXXX", path, sizeof(path));
	fd = mkostemp(path, O_CLOEXEC);
	assert_true(fd >= 0);
	h = sr_register_fd(c, fd);
	if (h < 0)
		fail_msg("honest client: sr_register_fd: %s", strerror(-h));
	a = sr_slot_acquire(c);
	b = sr_slot_acquire(c);
	assert_true(a >= 0 && b >= 0 && a != b);
	assert_true(sr_slot_size(c) >= len);

	hd_pattern(sr_slot_data(c, a), len, 0, seed);
	memset(sr_slot_data(c, b), 0, len);
	assert_int_equal(sr_prep_write(c, 11, h, a, 0, (uint32_t)len, 0), 0);
	assert_int_equal(sr_submit(c), 1);
	assert_int_equal(sr_wait_cqe(c, &cqe), 0);
	assert_int_equal(cqe.user_data, 11);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	assert_int_equal(cqe.res, (int)len);
	assert_int_equal(cqe.slot, a);

	assert_int_equal(sr_prep_read(c, 12, h, b, 0, (uint32_t)len, 0), 0);
	assert_int_equal(sr_submit(c), 1);
	assert_int_equal(sr_wait_cqe(c, &cqe), 0);
	assert_int_equal(cqe.user_data, 12);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	assert_int_equal(cqe.res, (int)len);
	assert_true(hd_pattern_ok(sr_slot_data(c, b), len, 0, seed));
	/* And the file really holds it. */
	assert_int_equal(pread(fd, check, len, 0), (ssize_t)len);
	assert_true(hd_pattern_ok(check, len, 0, seed));

	sr_close(c);
	close(fd);
	unlink(path);
}

void hd_check_service(struct hd_daemon *d)
{
	hd_assert_alive(d);
	hd_honest_roundtrip(d);
	hd_assert_alive(d);
}

/* ------------------------------------------------------------------ */
/* Raw client. */

struct rc *rc_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct rc *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->rx = malloc(WIRE_MAX_DATAGRAM);
	c->unpack_buf = malloc(RC_UNPACK_BYTES);
	assert_non_null(c->rx);
	assert_non_null(c->unpack_buf);
	wire_arena_init(&c->unpack, c->unpack_buf, RC_UNPACK_BYTES);
	c->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(c->sock >= 0);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(c->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail_msg("raw client: connect %s: %s", path, strerror(errno));
	/* Everything after this waits with poll and a deadline. */
	fcntl(c->sock, F_SETFL, fcntl(c->sock, F_GETFL) | O_NONBLOCK);
	return c;
}

void rc_close(struct rc *c)
{
	if (!c)
		return;
	if (c->arena)
		munmap(c->arena, c->arena_size);
	if (c->sock >= 0)
		close(c->sock);
	free(c->gen);
	free(c->cq);
	free(c->rx);
	free(c->unpack_buf);
	free(c);
}

void *rc_slot(struct rc *c, uint32_t index)
{
	assert_true(c->arena != NULL && index < c->slot_count);
	return c->arena + (size_t)index * c->slot_size;
}

uint32_t rc_next_seq(struct rc *c)
{
	return ++c->seq;
}

int rc_send_raw(struct rc *c, const void *buf, size_t len, const int *fds,
		unsigned nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * RC_MAX_SEND_FDS)];
	} control;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	uint64_t deadline = hd_now_ns() + HD_TIMEOUT_MS * 1000000ULL;

	assert_true(nfds <= RC_MAX_SEND_FDS);
	if (nfds) {
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	for (;;) {
		if (sendmsg(c->sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		struct pollfd pfd = { .fd = c->sock, .events = POLLOUT };
		int left = ms_left(deadline);
		if (!left)
			return -ETIMEDOUT;
		poll(&pfd, 1, left);
	}
}

int rc_send_request(struct rc *c, Saferring__Request *req, const int *fds,
		    unsigned nfds)
{
	size_t len = saferring__request__get_packed_size(req);
	unsigned char *buf = malloc(len ? len : 1);
	int r;

	assert_non_null(buf);
	saferring__request__pack(req, buf);
	r = rc_send_raw(c, buf, len, fds, nfds);
	free(buf);
	return r;
}

/* The protocol's promises about every completion. */
static void check_completion(const Saferring__Completion *cc)
{
	if (cc->status >= SR_STATUS__COUNT)
		fail_msg("completion tag %llu: unknown status %u",
			 (unsigned long long)cc->tag, cc->status);
	if (cc->status != SR_STATUS_OK) {
		if (cc->result != sr_status_errno(cc->status))
			fail_msg("completion tag %llu: status %u (%s) with result %d, "
				 "expected %d", (unsigned long long)cc->tag,
				 cc->status, sr_strstatus(cc->status), cc->result,
				 sr_status_errno(cc->status));
		if (cc->has_slot_index || cc->has_slot_generation)
			fail_msg("completion tag %llu: refusal (%s) carries slot fields",
				 (unsigned long long)cc->tag,
				 sr_strstatus(cc->status));
		return;
	}
	if (cc->has_slot_index != cc->has_slot_generation)
		fail_msg("completion tag %llu: slot index without generation or "
			 "the reverse", (unsigned long long)cc->tag);
	if (cc->has_slot_generation && cc->slot_generation == 0)
		fail_msg("completion tag %llu: generation 0 handed out",
			 (unsigned long long)cc->tag);
}

int rc_recv(struct rc *c, int timeout_ms, Saferring__Reply **out, int *fd)
{
	uint64_t deadline = hd_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	struct wire_msg m;
	int r;

	if (fd)
		*fd = -1;
	for (;;) {
		r = wire_recv(c->sock, c->rx, WIRE_MAX_DATAGRAM, &m);
		if (r != -EAGAIN && r != -EINTR)
			break;
		struct pollfd pfd = { .fd = c->sock, .events = POLLIN };
		int left = ms_left(deadline);
		if (!left)
			return -ETIMEDOUT;
		poll(&pfd, 1, left);
	}
	if (r == 0 || r == -ECONNRESET) {
		c->eof = true;
		return 0;
	}
	if (r < 0)
		return r;
	if (m.truncated) {
		wire_msg_close_fds(&m);
		fail_msg("daemon sent a datagram over %d bytes", WIRE_MAX_DATAGRAM);
	}
	if (m.nfds > (fd ? 1U : 0U)) {
		wire_msg_close_fds(&m);
		fail_msg("daemon sent %u unexpected descriptor(s)", m.nfds);
	}
	wire_arena_reset(&c->unpack);
	*out = saferring__reply__unpack(&c->unpack.allocator, m.len, c->rx);
	if (!*out) {
		wire_msg_close_fds(&m);
		fail_msg("daemon sent a reply that does not decode (%zu bytes)",
			 m.len);
	}
	if (fd && m.nfds)
		*fd = m.fds[0];
	if ((*out)->body_case == SAFERRING__REPLY__BODY_COMPLETIONS) {
		const Saferring__Completions *cs = (*out)->completions;

		if ((*out)->has_seq)
			fail_msg("Completions reply carries a seq");
		for (size_t i = 0; i < cs->n_completions; i++)
			check_completion(cs->completions[i]);
	}
	return 1;
}

static void stash_completions(struct rc *c, const Saferring__Completions *cs)
{
	for (size_t i = 0; i < cs->n_completions; i++) {
		const Saferring__Completion *cc = cs->completions[i];

		if (c->cq_len == c->cq_cap) {
			c->cq_cap = c->cq_cap ? c->cq_cap * 2 : 256;
			c->cq = realloc(c->cq, c->cq_cap * sizeof(*c->cq));
			assert_non_null(c->cq);
		}
		c->cq[c->cq_len++] = (struct rc_cqe){
			.tag = cc->tag,
			.status = cc->status,
			.result = cc->result,
			.flags = cc->has_flags ? cc->flags : 0,
			.has_slot = cc->has_slot_index,
			.slot_index = cc->slot_index,
			.slot_generation = cc->slot_generation,
		};
		if (cc->has_slot_index) {
			if (!c->gen || cc->slot_index >= c->slot_count)
				fail_msg("completion names slot %u of %u",
					 cc->slot_index, c->slot_count);
			c->gen[cc->slot_index] = cc->slot_generation;
		}
	}
}

const char *rc_body_name(const Saferring__Reply *r)
{
	switch (r->body_case) {
	case SAFERRING__REPLY__BODY_WELCOME:
		return "Welcome";
	case SAFERRING__REPLY__BODY_FD_REGISTERED:
		return "FdRegistered";
	case SAFERRING__REPLY__BODY_FD_UNREGISTERED:
		return "FdUnregistered";
	case SAFERRING__REPLY__BODY_COMPLETIONS:
		return "Completions";
	case SAFERRING__REPLY__BODY_ERROR:
		return "Error";
	case SAFERRING__REPLY__BODY_STATS:
		return "Stats";
	case SAFERRING__REPLY__BODY_COMPLETION_BATCH:
		return "CompletionBatch";
	case SAFERRING__REPLY__BODY__NOT_SET:
	case _SAFERRING__REPLY__BODY__CASE_IS_INT_SIZE:
	default:
		return "(no body)";
	}
}

Saferring__Reply *rc_recv_control(struct rc *c, int *fd)
{
	uint64_t deadline = hd_now_ns() + HD_TIMEOUT_MS * 1000000ULL;
	Saferring__Reply *r;

	for (;;) {
		int n = rc_recv(c, ms_left(deadline), &r, fd);

		if (n == 0)
			fail_msg("daemon closed the connection instead of replying");
		if (n == -ETIMEDOUT)
			fail_msg("no reply within %d ms", HD_TIMEOUT_MS);
		if (n < 0)
			fail_msg("receive: %s", strerror(-n));
		if (r->body_case != SAFERRING__REPLY__BODY_COMPLETIONS)
			return r;
		stash_completions(c, r->completions);
	}
}

void rc_expect_error(struct rc *c, bool has_seq, uint32_t seq,
		     uint32_t status)
{
	Saferring__Reply *r = rc_recv_control(c, NULL);

	if (r->body_case != SAFERRING__REPLY__BODY_ERROR)
		fail_msg("expected Error{%s}, got %s", sr_strstatus(status),
			 rc_body_name(r));
	if (r->error->status != status)
		fail_msg("expected Error{%u: %s}, got Error{%u: %s} \"%s\"", status,
			 sr_strstatus(status), r->error->status,
			 sr_strstatus(r->error->status),
			 r->error->message ? r->error->message : "");
	assert_int_equal(r->has_seq, has_seq);
	if (has_seq)
		assert_int_equal(r->seq, seq);
}

void rc_expect_eof(struct rc *c, int timeout_ms)
{
	uint64_t deadline = hd_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	Saferring__Reply *r;

	for (;;) {
		int n = rc_recv(c, ms_left(deadline), &r, NULL);

		if (n == 0)
			return;
		if (n == -ETIMEDOUT)
			fail_msg("connection still open after %d ms; expected the "
				 "daemon to close it", timeout_ms);
		if (n < 0)
			fail_msg("receive: %s", strerror(-n));
		if (r->body_case != SAFERRING__REPLY__BODY_COMPLETIONS)
			fail_msg("expected end of file, got %s%s%s", rc_body_name(r),
				 r->body_case == SAFERRING__REPLY__BODY_ERROR ? ": " : "",
				 r->body_case == SAFERRING__REPLY__BODY_ERROR ?
				 sr_strstatus(r->error->status) : "");
		stash_completions(c, r->completions);
	}
}

void rc_expect_error_limit(struct rc *c, int timeout_ms)
{
	Saferring__Reply *r = rc_recv_control(c, NULL);

	if (r->body_case != SAFERRING__REPLY__BODY_ERROR ||
	    r->error->status != SR_STATUS_QUOTA || r->has_seq ||
	    !r->error->message || !strstr(r->error->message, "max_errors"))
		fail_msg("expected the daemon to say the error limit ended the "
			 "session, got %s%s%s", rc_body_name(r),
			 r->body_case == SAFERRING__REPLY__BODY_ERROR ? ": " : "",
			 r->body_case == SAFERRING__REPLY__BODY_ERROR ?
			 sr_strstatus(r->error->status) : "");
	rc_expect_eof(c, timeout_ms);
}

void rc_expect_quiet(struct rc *c, int ms)
{
	Saferring__Reply *r;
	int n;

	if (c->cq_len)
		fail_msg("%zu unexpected completion(s) queued (first tag %llu)",
			 c->cq_len, (unsigned long long)c->cq[0].tag);
	n = rc_recv(c, ms, &r, NULL);
	if (n == 1)
		fail_msg("expected silence, got %s (%zu completions)", rc_body_name(r),
			 r->body_case == SAFERRING__REPLY__BODY_COMPLETIONS ?
			 r->completions->n_completions : (size_t)0);
	if (n == 0)
		fail_msg("expected silence, got end of file");
	assert_int_equal(n, -ETIMEDOUT);
}

void rc_wait_cqes(struct rc *c, size_t n, struct rc_cqe *out, int timeout_ms)
{
	uint64_t deadline = hd_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	Saferring__Reply *r;

	while (c->cq_len < n) {
		int k = rc_recv(c, ms_left(deadline), &r, NULL);

		if (k == 0)
			fail_msg("end of file after %zu of %zu completions", c->cq_len,
				 n);
		if (k == -ETIMEDOUT)
			fail_msg("timed out after %d ms with %zu of %zu completions",
				 timeout_ms, c->cq_len, n);
		if (k < 0)
			fail_msg("receive: %s", strerror(-k));
		if (r->body_case != SAFERRING__REPLY__BODY_COMPLETIONS)
			fail_msg("expected completions, got %s%s%s", rc_body_name(r),
				 r->body_case == SAFERRING__REPLY__BODY_ERROR ? ": " : "",
				 r->body_case == SAFERRING__REPLY__BODY_ERROR ?
				 sr_strstatus(r->error->status) : "");
		stash_completions(c, r->completions);
	}
	if (out)
		memcpy(out, c->cq, n * sizeof(*out));
	memmove(c->cq, c->cq + n, (c->cq_len - n) * sizeof(*c->cq));
	c->cq_len -= n;
}

const struct rc_cqe *rc_find_cqe(const struct rc_cqe *v, size_t n,
				 uint64_t tag)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].tag == tag)
			return &v[i];
	return NULL;
}

int rc_hello_memfd(struct rc *c, uint32_t slot_count, uint32_t slot_size)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__Hello hello = SAFERRING__HELLO__INIT;
	const Saferring__Welcome *w;
	Saferring__Reply *r;
	struct stat st;
	int memfd = -1;

	hello.version = SR_PROTOCOL_VERSION;
	hello.has_slot_count = slot_count != 0;
	hello.slot_count = slot_count;
	hello.has_slot_size = slot_size != 0;
	hello.slot_size = slot_size;
	req.has_seq = true;
	req.seq = rc_next_seq(c);
	req.body_case = SAFERRING__REQUEST__BODY_HELLO;
	req.hello = &hello;
	assert_int_equal(rc_send_request(c, &req, NULL, 0), 0);
	r = rc_recv_control(c, &memfd);
	if (r->body_case != SAFERRING__REPLY__BODY_WELCOME)
		fail_msg("Hello answered with %s (%s)", rc_body_name(r),
			 r->body_case == SAFERRING__REPLY__BODY_ERROR ?
			 sr_strstatus(r->error->status) : "-");
	assert_true(r->has_seq);
	assert_int_equal(r->seq, req.seq);
	assert_true(memfd >= 0);
	w = r->welcome;
	assert_int_equal(w->version, SR_PROTOCOL_VERSION);
	assert_true(w->slot_count > 0 && w->slot_size > 0);
	assert_int_equal(w->slot_size % 4096, 0);
	assert_true(w->slot_generation != 0);
	c->session_id = w->session_id;
	c->slot_count = w->slot_count;
	c->slot_size = w->slot_size;
	c->slot_generation = w->slot_generation;
	c->max_fds = w->max_fds;
	c->max_in_flight = w->max_in_flight;
	c->max_batch = w->max_batch;
	c->allowed_ops = w->has_allowed_ops ? w->allowed_ops : 0;
	c->max_errors = w->has_max_errors ? w->max_errors : 0;
	c->has_max_file_size = w->has_max_file_size;
	c->max_file_size = w->max_file_size;
	c->arena_size = (size_t)w->slot_count * w->slot_size;
	assert_int_equal(fstat(memfd, &st), 0);
	assert_int_equal((uint64_t)st.st_size, c->arena_size);
	/* Sealed: the client can neither shrink the arena under the daemon
	 * nor grow it. */
	{
		int seals = fcntl(memfd, F_GET_SEALS);

		assert_true(seals >= 0);
		if ((seals & (F_SEAL_SHRINK | F_SEAL_GROW)) !=
		    (F_SEAL_SHRINK | F_SEAL_GROW))
			fail_msg("arena memfd seals 0x%x lack SHRINK|GROW", seals);
		assert_int_equal(ftruncate(memfd, 0), -1);
		assert_int_equal(ftruncate(memfd, (off_t)c->arena_size * 2), -1);
	}
	c->arena = mmap(NULL, c->arena_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			memfd, 0);
	assert_true(c->arena != MAP_FAILED);
	c->gen = calloc(c->slot_count, sizeof(*c->gen));
	assert_non_null(c->gen);
	for (uint32_t i = 0; i < c->slot_count; i++)
		c->gen[i] = c->slot_generation;
	c->welcomed = true;
	return memfd;
}

void rc_hello(struct rc *c, uint32_t slot_count, uint32_t slot_size)
{
	close(rc_hello_memfd(c, slot_count, slot_size));
}

struct rc *rc_open(const char *path)
{
	struct rc *c = rc_connect(path);

	rc_hello(c, 0, 0);
	return c;
}

void rc_op_nop(struct rc_op *o, uint64_t tag)
{
	memset(o, 0, sizeof(*o));
	saferring__op__init(&o->op);
	saferring__fd_handle__init(&o->fd);
	saferring__slot_ref__init(&o->slot);
	o->op.tag = tag;
	o->op.opcode = SR_OP_NOP;
}

void rc_op_rw(struct rc_op *o, uint64_t tag, uint32_t opcode,
	      struct rc_handle h, uint32_t slot, uint32_t generation,
	      uint32_t offset, uint32_t length, uint64_t file_offset)
{
	rc_op_nop(o, tag);
	o->op.opcode = opcode;
	o->fd.index = h.index;
	o->fd.generation = h.generation;
	o->op.fd = &o->fd;
	o->slot.index = slot;
	o->slot.generation = generation;
	o->slot.offset = offset;
	o->slot.length = length;
	o->op.slot = &o->slot;
	o->op.has_file_offset = true;
	o->op.file_offset = file_offset;
}

void rc_op_fsync(struct rc_op *o, uint64_t tag, struct rc_handle h,
		 uint32_t flags)
{
	rc_op_nop(o, tag);
	o->op.opcode = SR_OP_FSYNC;
	o->fd.index = h.index;
	o->fd.generation = h.generation;
	o->op.fd = &o->fd;
	if (flags) {
		o->op.has_flags = true;
		o->op.flags = flags;
	}
}

int rc_submit_fds(struct rc *c, struct rc_op *ops, size_t n, const int *fds,
		  unsigned nfds)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__Submit submit = SAFERRING__SUBMIT__INIT;
	Saferring__Op **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	int r;

	assert_non_null(ptrs);
	for (size_t i = 0; i < n; i++) {
		/* The builders point into the struct; keep that true even if
		 * the array was copied. */
		if (ops[i].op.fd)
			ops[i].op.fd = &ops[i].fd;
		if (ops[i].op.slot)
			ops[i].op.slot = &ops[i].slot;
		ptrs[i] = &ops[i].op;
	}
	submit.n_ops = n;
	submit.ops = ptrs;
	req.body_case = SAFERRING__REQUEST__BODY_SUBMIT;
	req.submit = &submit;
	r = rc_send_request(c, &req, fds, nfds);
	free(ptrs);
	return r;
}

void rc_submit(struct rc *c, struct rc_op *ops, size_t n)
{
	int r = rc_submit_fds(c, ops, n, NULL, 0);

	if (r < 0)
		fail_msg("raw client: submit of %zu ops: %s", n, strerror(-r));
}

void rc_run(struct rc *c, struct rc_op *ops, size_t n, struct rc_cqe *out)
{
	rc_submit(c, ops, n);
	rc_wait_cqes(c, n, out, HD_TIMEOUT_MS);
}

uint32_t rc_register(struct rc *c, const int *fds, unsigned nfds,
		     struct rc_handle *h)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__RegisterFd body = SAFERRING__REGISTER_FD__INIT;
	Saferring__Reply *r;
	int s;

	req.has_seq = true;
	req.seq = rc_next_seq(c);
	req.body_case = SAFERRING__REQUEST__BODY_REGISTER_FD;
	req.register_fd = &body;
	s = rc_send_request(c, &req, fds, nfds);
	if (s < 0)
		fail_msg("raw client: send RegisterFd: %s", strerror(-s));
	r = rc_recv_control(c, NULL);
	assert_true(r->has_seq);
	assert_int_equal(r->seq, req.seq);
	if (r->body_case == SAFERRING__REPLY__BODY_ERROR) {
		snprintf(c->last_error, sizeof(c->last_error), "%s",
			 r->error->message ? r->error->message : "");
		return r->error->status;
	}
	if (r->body_case != SAFERRING__REPLY__BODY_FD_REGISTERED)
		fail_msg("RegisterFd answered with %s", rc_body_name(r));
	assert_non_null(r->fd_registered->handle);
	if (h) {
		h->index = r->fd_registered->handle->index;
		h->generation = r->fd_registered->handle->generation;
	}
	return SR_STATUS_OK;
}

struct rc_handle rc_register_fd(struct rc *c, int fd)
{
	struct rc_handle h = { 0, 0 };
	uint32_t st = rc_register(c, &fd, 1, &h);

	if (st != SR_STATUS_OK)
		fail_msg("RegisterFd refused: %s", sr_strstatus(st));
	return h;
}

uint32_t rc_unregister(struct rc *c, struct rc_handle h)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__UnregisterFd body = SAFERRING__UNREGISTER_FD__INIT;
	Saferring__FdHandle fh = SAFERRING__FD_HANDLE__INIT;
	Saferring__Reply *r;

	fh.index = h.index;
	fh.generation = h.generation;
	body.handle = &fh;
	req.has_seq = true;
	req.seq = rc_next_seq(c);
	req.body_case = SAFERRING__REQUEST__BODY_UNREGISTER_FD;
	req.unregister_fd = &body;
	assert_int_equal(rc_send_request(c, &req, NULL, 0), 0);
	r = rc_recv_control(c, NULL);
	assert_true(r->has_seq);
	assert_int_equal(r->seq, req.seq);
	if (r->body_case == SAFERRING__REPLY__BODY_ERROR)
		return r->error->status;
	if (r->body_case != SAFERRING__REPLY__BODY_FD_UNREGISTERED)
		fail_msg("UnregisterFd answered with %s", rc_body_name(r));
	assert_non_null(r->fd_unregistered->handle);
	assert_int_equal(r->fd_unregistered->handle->index, h.index);
	return SR_STATUS_OK;
}
