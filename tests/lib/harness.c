/* SPDX-License-Identifier: MIT */
/*
 * harness.c - see harness.h.  Used by every end-to-end test: starting,
 * measuring and stopping a real saferringd, and the raw protocol client.
 */
#include "harness.h"
#include "child.h"

#include <dirent.h>
#include <execinfo.h>
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
/* The daemon's log, for the watchdog to show what the daemon was doing
 * when the test hung (a hang is otherwise a bare "ran too long"). */
static char wd_log[PATH_MAX];

static void wd_say(const char *s, size_t n)
{
	if (write(STDERR_FILENO, s, n) < 0) {
		/* nothing left to do */
	}
}

/* A signal handler: open, lseek, read and write only. */
static void wd_expired(int sig)
{
	static const char msg[] =
		"\nharness: watchdog expired: the test ran too long (hung?); "
		"killing the daemon and failing\n";
	static const char head[] = "---- saferringd log (last 4 KiB) ----\n";
	static const char tail[] = "\n---- end of log ----\n";
	char buf[4096];
	pid_t pid = wd_daemon_pid;
	int fd;

	void *frames[32];
	int nframes;

	(void)sig;
	if (pid > 0)
		kill(pid, SIGKILL);
	wd_say(msg, sizeof(msg) - 1);
	/* Where the test was (addr2line -e the test turns it into lines). */
	nframes = backtrace(frames, 32);
	backtrace_symbols_fd(frames, nframes, STDERR_FILENO);
	fd = wd_log[0] ? open(wd_log, O_RDONLY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		off_t end = lseek(fd, 0, SEEK_END);
		ssize_t n;

		lseek(fd, end > (off_t)sizeof(buf) ? end - (off_t)sizeof(buf) : 0,
		      SEEK_SET);
		n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			wd_say(head, sizeof(head) - 1);
			wd_say(buf, (size_t)n);
			wd_say(tail, sizeof(tail) - 1);
		}
		close(fd);
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
	void *warm[1];

	/* backtrace() loads libgcc on its first call, which a signal
	 * handler must not be the one to do. */
	backtrace(warm, 1);
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
	snprintf(wd_log, sizeof(wd_log), "%s", d->log);

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

void hd_discard(struct hd_daemon *d)
{
	if (hd_alive(d)) {
		hd_print_log_tail(d, 30);
		kill(d->pid, SIGKILL);
		waitpid(d->pid, NULL, 0);
		d->reaped = true;
		wd_daemon_pid = 0;
	}
	remove_dir(d);
	d->dir[0] = '\0';
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
	int r, fd;
	sr_handle_t h;
	sr_slot_t a, b;

	r = sr_connect(d->sock, NULL, &c);
	if (r < 0)
		fail_msg("honest client: sr_connect: %s", strerror(-r));
	hd_path(d, "honest.XXXXXX", path, sizeof(path));
	fd = mkostemp(path, O_CLOEXEC);
	assert_true(fd >= 0);
	h = sr_register_fd(c, fd);
	if (sr_handle_index(h) < 0)
		fail_msg("honest client: sr_register_fd: %s",
			 strerror(-sr_handle_index(h)));
	a = sr_slot_acquire(c);
	b = sr_slot_acquire(c);
	assert_true(sr_slot_index(a) >= 0 && sr_slot_index(b) >= 0 &&
		    !sr_slot_eq(a, b));
	assert_true(sr_slot_size(c) >= len);

	hd_pattern(sr_slot_data(c, a), len, 0, seed);
	memset(sr_slot_data(c, b), 0, len);
	assert_int_equal(sr_prep_write(c, 11, h, a, 0, (uint32_t)len, 0), 0);
	assert_int_equal(sr_submit_and_wait(c, 0), 1);
	assert_int_equal(sr_wait_cqe(c, &cqe), 0);
	assert_int_equal(cqe.user_data, 11);
	assert_int_equal(cqe.status, SR_STATUS_OK);
	assert_int_equal(cqe.res, (int)len);
	assert_true(sr_slot_eq(cqe.slot, a));

	assert_int_equal(sr_prep_read(c, 12, h, b, 0, (uint32_t)len, 0), 0);
	assert_int_equal(sr_submit_and_wait(c, 0), 1);
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
	c->ring.memfd = c->ring.sq_efd = c->ring.cq_efd = -1;
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
	if (c->ring.map) {
		/* The arena is the start of this mapping. */
		munmap(c->ring.map, c->ring.map_size);
		c->arena = NULL;
	}
	if (c->ring.memfd >= 0)
		close(c->ring.memfd);
	if (c->ring.sq_efd >= 0)
		close(c->ring.sq_efd);
	if (c->ring.cq_efd >= 0)
		close(c->ring.cq_efd);
	free(c->ring.enc);
	free(c->ring.rec);
	free(c->ring.comps);
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

/* rc_recv with up to @max_fds descriptors accepted (to @fds, *nfds). */
static int rc_recv_fds(struct rc *c, int timeout_ms, Saferring__Reply **out,
		       int *fds, unsigned max_fds, unsigned *nfds)
{
	uint64_t deadline = hd_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	struct wire_msg m;
	int r;

	*nfds = 0;
	for (;;) {
		r = wire_recv(c->sock, c->rx, WIRE_MAX_DATAGRAM, &m);
		/* The daemon closed with requests of ours still unread: the
		 * kernel says so once (ECONNRESET), ahead of the replies it
		 * sent before, which are still queued for us.  Read those,
		 * then the end of file. */
		if (r == -ECONNRESET)
			continue;
		if (r != -EAGAIN && r != -EINTR)
			break;
		struct pollfd pfd = { .fd = c->sock, .events = POLLIN };
		int left = ms_left(deadline);
		if (!left)
			return -ETIMEDOUT;
		poll(&pfd, 1, left);
	}
	if (r == 0) {
		c->eof = true;
		return 0;
	}
	if (r < 0)
		return r;
	if (m.truncated) {
		wire_msg_close_fds(&m);
		fail_msg("daemon sent a datagram over %d bytes", WIRE_MAX_DATAGRAM);
	}
	if (m.nfds > max_fds || m.fds_truncated) {
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
	for (unsigned i = 0; i < m.nfds; i++)
		fds[i] = m.fds[i];
	*nfds = m.nfds;
	if ((*out)->body_case == SAFERRING__REPLY__BODY_COMPLETIONS) {
		const Saferring__Completions *cs = (*out)->completions;

		if ((*out)->has_seq)
			fail_msg("Completions reply carries a seq");
		for (size_t i = 0; i < cs->n_completions; i++)
			check_completion(cs->completions[i]);
	}
	return 1;
}

int rc_recv(struct rc *c, int timeout_ms, Saferring__Reply **out, int *fd)
{
	unsigned n;
	int got[1];
	int r = rc_recv_fds(c, timeout_ms, out, got, fd ? 1 : 0, &n);

	if (fd)
		*fd = r == 1 && n ? got[0] : -1;
	return r;
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

/* rc_recv_control with up to @max_fds descriptors accepted. */
static Saferring__Reply *rc_recv_control_fds(struct rc *c, int *fds,
					     unsigned max_fds, unsigned *nfds)
{
	uint64_t deadline = hd_now_ns() + HD_TIMEOUT_MS * 1000000ULL;
	Saferring__Reply *r;

	for (;;) {
		int n = rc_recv_fds(c, ms_left(deadline), &r, fds, max_fds, nfds);

		if (n == 0)
			fail_msg("daemon closed the connection instead of replying");
		if (n == -ETIMEDOUT)
			fail_msg("no reply within %d ms", HD_TIMEOUT_MS);
		if (n < 0)
			fail_msg("receive: %s", strerror(-n));
		if (r->body_case != SAFERRING__REPLY__BODY_COMPLETIONS)
			return r;
		if (*nfds)
			fail_msg("Completions carried %u descriptor(s)", *nfds);
		stash_completions(c, r->completions);
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

const Saferring__Stats *rc_stats(struct rc *c, int timeout_ms)
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
	assert_int_equal(rc_send_request(c, &req, NULL, 0), 0);
	assert_int_equal(rc_recv(c, timeout_ms, &r, NULL), 1);
	assert_int_equal(r->body_case, SAFERRING__REPLY__BODY_STATS);
	assert_int_equal(r->seq, seq);
	return r->stats;
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

/* The limits a Welcome grants, checked and kept. */
static void take_welcome(struct rc *c, const Saferring__Welcome *w)
{
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
	c->gen = calloc(c->slot_count, sizeof(*c->gen));
	assert_non_null(c->gen);
	for (uint32_t i = 0; i < c->slot_count; i++)
		c->gen[i] = c->slot_generation;
}

/* Sealed: the client can neither shrink the memfd under the daemon nor
 * grow it. */
static void assert_sealed(int memfd, size_t size)
{
	int seals = fcntl(memfd, F_GET_SEALS);

	assert_true(seals >= 0);
	if ((seals & (F_SEAL_SHRINK | F_SEAL_GROW)) !=
	    (F_SEAL_SHRINK | F_SEAL_GROW))
		fail_msg("arena memfd seals 0x%x lack SHRINK|GROW", seals);
	assert_int_equal(ftruncate(memfd, 0), -1);
	assert_int_equal(ftruncate(memfd, (off_t)size * 2), -1);
}

int rc_hello_memfd(struct rc *c, uint32_t slot_count, uint32_t slot_size)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__Hello hello = SAFERRING__HELLO__INIT;
	Saferring__Reply *r;
	struct stat st;
	int memfd = -1;

	hello.version = SR_PROTOCOL_VERSION;
	hello.has_slot_count = slot_count != 0;
	hello.slot_count = slot_count;
	hello.has_slot_size = slot_size != 0;
	hello.slot_size = slot_size;
	hello.has_cpu = c->has_hello_cpu;
	hello.cpu = c->hello_cpu;
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
	/* A v1 session: no rings, one descriptor. */
	assert_null(r->welcome->rings);
	take_welcome(c, r->welcome);
	assert_int_equal(fstat(memfd, &st), 0);
	assert_int_equal((uint64_t)st.st_size, c->arena_size);
	assert_sealed(memfd, c->arena_size);
	c->arena = mmap(NULL, c->arena_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			memfd, 0);
	assert_true(c->arena != MAP_FAILED);
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

/* ------------------------------------------------------------------ */
/* Raw ring client (protocol v2). */

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* What /proc says descriptor @fd is: an eventfd, for a doorbell. */
static bool is_eventfd(int fd)
{
	char path[64], link[128];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	return strcmp(link, "anon_inode:[eventfd]") == 0;
}

void rc_hello_rings(struct rc *c, uint32_t slot_count, uint32_t slot_size)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__Hello hello = SAFERRING__HELLO__INIT;
	const Saferring__RingLayout *l;
	struct rc_rings *g = &c->ring;
	static const unsigned char zero[sizeof(struct sr_ring_ctl)];
	Saferring__Reply *r;
	unsigned nfds = 0;
	int fds[3];
	struct stat st;

	hello.version = SR_PROTOCOL_VERSION;
	hello.has_slot_count = slot_count != 0;
	hello.slot_count = slot_count;
	hello.has_slot_size = slot_size != 0;
	hello.slot_size = slot_size;
	hello.has_rings = true;
	hello.rings = true;
	req.has_seq = true;
	req.seq = rc_next_seq(c);
	req.body_case = SAFERRING__REQUEST__BODY_HELLO;
	req.hello = &hello;
	assert_int_equal(rc_send_request(c, &req, NULL, 0), 0);
	r = rc_recv_control_fds(c, fds, 3, &nfds);
	if (r->body_case != SAFERRING__REPLY__BODY_WELCOME)
		fail_msg("Hello{rings} answered with %s (%s)", rc_body_name(r),
			 r->body_case == SAFERRING__REPLY__BODY_ERROR ?
			 sr_strstatus(r->error->status) : "-");
	assert_true(r->has_seq);
	assert_int_equal(r->seq, req.seq);
	if (!r->welcome->rings)
		fail_msg("Welcome without rings: protocol v2 not granted");
	if (nfds != 3)
		fail_msg("a Welcome with rings carried %u descriptors, not 3",
			 nfds);
	g->memfd = fds[0];
	g->sq_efd = fds[1];
	g->cq_efd = fds[2];
	assert_true(is_eventfd(g->sq_efd));
	assert_true(is_eventfd(g->cq_efd));
	take_welcome(c, r->welcome);

	l = r->welcome->rings;
	if (l->offset % 4096 || l->offset < c->arena_size ||
	    !is_pow2(l->sq_bytes) || !is_pow2(l->cq_bytes) ||
	    l->sq_bytes < SR_RING_ALIGN || l->cq_bytes < SR_RING_ALIGN ||
	    !l->max_record || l->max_record > WIRE_MAX_DATAGRAM)
		fail_msg("ring layout offset %llu sq %u cq %u max_record %u breaks "
			 "PROTOCOL.md", (unsigned long long)l->offset,
			 l->sq_bytes, l->cq_bytes, l->max_record);
	g->offset = l->offset;
	g->sq_bytes = l->sq_bytes;
	g->cq_bytes = l->cq_bytes;
	g->max_record = l->max_record;
	g->map_size = (size_t)(l->offset +
			       sr_ring_area_bytes(l->sq_bytes, l->cq_bytes));
	assert_int_equal(fstat(g->memfd, &st), 0);
	assert_int_equal((uint64_t)st.st_size, g->map_size);
	assert_sealed(g->memfd, g->map_size);
	g->map = mmap(NULL, g->map_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      g->memfd, 0);
	assert_true(g->map != MAP_FAILED);
	g->ctl = (struct sr_ring_ctl *)(g->map + g->offset);
	g->sq = g->map + g->offset + sizeof(struct sr_ring_ctl);
	g->cq = g->sq + g->sq_bytes;
	/* Both rings start at 0, every unused byte of the block is 0; the
	 * daemon may already sleep (sq_flags), on nothing else. */
	{
		struct sr_ring_ctl ctl;

		memcpy(&ctl, g->ctl, sizeof(ctl));
		if (ctl.sq_flags & ~(SR_RING_SQ_NEED_WAKEUP | SR_RING_SQ_CQ_WAIT))
			fail_msg("sq_flags 0x%x at Welcome", ctl.sq_flags);
		ctl.sq_flags = 0;
		if (memcmp(&ctl, zero, sizeof(zero)))
			fail_msg("ring control block not zeroed at Welcome");
	}
	g->enc = calloc(1, sizeof(*g->enc));
	g->rec = malloc(g->max_record);
	g->comps = calloc(BATCH_MAX_OPS, sizeof(*g->comps));
	assert_true(g->enc && g->rec && g->comps);
	g->on = true;
	c->arena = g->map;
	c->welcomed = true;
}

struct rc *rc_open_rings(const char *path, uint32_t slot_count,
			 uint32_t slot_size)
{
	struct rc *c = rc_connect(path);

	rc_hello_rings(c, slot_count, slot_size);
	return c;
}

void rc_ring_write(struct rc *c, uint32_t pos, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t mask = c->ring.sq_bytes - 1;

	assert_true(c->ring.on && len <= c->ring.sq_bytes);
	while (len) {
		uint32_t off = pos & mask;
		size_t n = c->ring.sq_bytes - off;

		if (n > len)
			n = len;
		memcpy(c->ring.sq + off, p, n);
		p += n;
		pos += (uint32_t)n;
		len -= n;
	}
}

/* Bytes a record of @len takes at sq_pos, a PAD before it included. */
static uint32_t ring_need(const struct rc *c, uint32_t len)
{
	uint32_t need = sr_ring_rec_bytes(len);
	uint32_t contig = c->ring.sq_bytes -
			  (c->ring.sq_pos & (c->ring.sq_bytes - 1));

	return need > contig ? contig + need : need;
}

bool rc_ring_room(struct rc *c, uint32_t len)
{
	uint32_t head = sr_ring_load_acquire(&c->ring.ctl->sq_head);
	uint32_t used = c->ring.sq_pos - head;

	if (len > c->ring.max_record || used > c->ring.sq_bytes)
		return false;
	return ring_need(c, len) <= c->ring.sq_bytes - used;
}

uint32_t rc_ring_put(struct rc *c, uint32_t kind, const void *payload,
		     uint32_t len)
{
	static const unsigned char zeros[SR_RING_ALIGN];
	struct rc_rings *g = &c->ring;
	uint32_t need = sr_ring_rec_bytes(len);
	uint32_t contig = g->sq_bytes - (g->sq_pos & (g->sq_bytes - 1));
	struct sr_ring_rec hdr;
	uint32_t start;

	if (!rc_ring_room(c, len))
		fail_msg("no room for a record of %u bytes in the submission "
			 "ring (tail %u, daemon's head %u)", len, g->sq_pos,
			 sr_ring_load_acquire(&g->ctl->sq_head));
	if (need > contig) {
		hdr = (struct sr_ring_rec){ .len = contig - SR_RING_HDR,
					     .kind = SR_RING_REC_PAD };
		rc_ring_write(c, g->sq_pos, &hdr, sizeof(hdr));
		g->sq_pos += contig;
	}
	start = g->sq_pos;
	hdr = (struct sr_ring_rec){ .len = len, .kind = kind };
	rc_ring_write(c, start, &hdr, sizeof(hdr));
	if (len)
		rc_ring_write(c, start + SR_RING_HDR, payload, len);
	rc_ring_write(c, start + SR_RING_HDR + len, zeros,
		      need - SR_RING_HDR - len);
	g->sq_pos += need;
	return start;
}

void rc_ring_put_raw(struct rc *c, uint32_t len, uint32_t kind,
		     const void *payload, uint32_t payload_len,
		     uint32_t advance)
{
	struct sr_ring_rec hdr = { .len = len, .kind = kind };

	rc_ring_write(c, c->ring.sq_pos, &hdr, sizeof(hdr));
	if (payload_len)
		rc_ring_write(c, c->ring.sq_pos + SR_RING_HDR, payload,
			      payload_len);
	c->ring.sq_pos += advance;
}

void rc_ring_bell(struct rc *c)
{
	uint64_t one = 1;

	if (write(c->ring.sq_efd, &one, sizeof(one)) != sizeof(one) &&
	    errno != EAGAIN)
		fail_msg("ringing the daemon's doorbell: %s", strerror(errno));
}

void rc_ring_publish_quiet(struct rc *c)
{
	sr_ring_store_release(&c->ring.ctl->sq_tail, c->ring.sq_pos);
}

void rc_ring_publish(struct rc *c)
{
	rc_ring_publish_quiet(c);
	/* Dekker with the daemon's going to sleep (PROTOCOL.md). */
	sr_ring_fence();
	if (sr_ring_load(&c->ring.ctl->sq_flags) & SR_RING_SQ_NEED_WAKEUP)
		rc_ring_bell(c);
}

void rc_ring_set_tail(struct rc *c, uint32_t tail)
{
	sr_ring_store_release(&c->ring.ctl->sq_tail, tail);
}

void rc_ring_submit(struct rc *c, const struct op_request *ops, size_t n)
{
	size_t len;
	int r = batch_encode_ops(c->ring.enc, ops, n, c->ring.rec,
				 c->ring.max_record, &len);

	if (r)
		fail_msg("encoding %zu operations: %s", n, strerror(-r));
	rc_ring_put(c, SR_RING_REC_OPS, c->ring.rec, (uint32_t)len);
	rc_ring_publish(c);
}

/* The protocol's promises about a completion from the ring (as
 * check_completion for the socket's), then queue it. */
static void take_ring_completion(struct rc *c, const struct op_completion *oc)
{
	if (oc->status >= SR_STATUS__COUNT)
		fail_msg("ring completion tag %llu: unknown status %u",
			 (unsigned long long)oc->tag, oc->status);
	if (oc->status != SR_STATUS_OK &&
	    (oc->result != sr_status_errno(oc->status) || oc->has_slot ||
	     oc->n_slots || oc->has_handle))
		fail_msg("ring completion tag %llu: refusal %s with result %d "
			 "or slot fields", (unsigned long long)oc->tag,
			 sr_strstatus(oc->status), oc->result);
	if (oc->has_slot && (oc->slot_index >= c->slot_count ||
			     oc->slot_generation == 0))
		fail_msg("ring completion tag %llu names slot %u generation %u "
			 "of %u", (unsigned long long)oc->tag, oc->slot_index,
			 oc->slot_generation, c->slot_count);
	if (c->cq_len == c->cq_cap) {
		c->cq_cap = c->cq_cap ? c->cq_cap * 2 : 256;
		c->cq = realloc(c->cq, c->cq_cap * sizeof(*c->cq));
		assert_non_null(c->cq);
	}
	c->cq[c->cq_len++] = (struct rc_cqe){
		.tag = oc->tag,
		.status = oc->status,
		.result = oc->result,
		.flags = oc->flags,
		.has_slot = oc->has_slot,
		.slot_index = oc->slot_index,
		.slot_generation = oc->slot_generation,
	};
	if (oc->has_slot)
		c->gen[oc->slot_index] = oc->slot_generation;
	for (uint32_t i = 0; i < oc->n_slots && i < OP_MAX_IOV; i++)
		if (oc->slots[i].index < c->slot_count)
			c->gen[oc->slots[i].index] = oc->slots[i].generation;
	c->ring.completions++;
}

size_t rc_ring_reap(struct rc *c)
{
	struct rc_rings *g = &c->ring;
	uint32_t tail = sr_ring_load_acquire(&g->ctl->cq_tail);
	uint32_t mask = g->cq_bytes - 1;
	size_t got = 0;

	/* An independent reading of the record rules, not shm_ring.c: the
	 * daemon's side is what is under test. */
	while (g->cq_pos != tail) {
		uint32_t avail = tail - g->cq_pos, off = g->cq_pos & mask;
		uint32_t need, pad;
		struct sr_ring_rec hdr;
		size_t n;

		if (avail > g->cq_bytes || avail % SR_RING_ALIGN)
			fail_msg("daemon's cq_tail %u with our head at %u (ring "
				 "%u bytes)", tail, g->cq_pos, g->cq_bytes);
		memcpy(&hdr, g->cq + off, sizeof(hdr));
		if (hdr.kind == SR_RING_REC_PAD) {
			if (hdr.len != g->cq_bytes - off - SR_RING_HDR ||
			    g->cq_bytes - off > avail)
				fail_msg("daemon wrote a PAD of %u at %u", hdr.len,
					 off);
			g->cq_pos += g->cq_bytes - off;
			continue;
		}
		if (hdr.kind != SR_RING_REC_COMPLETIONS)
			fail_msg("record of kind %u in the completion ring",
				 hdr.kind);
		need = sr_ring_rec_bytes(hdr.len);
		if (hdr.len > g->max_record || need > avail ||
		    need > g->cq_bytes - off)
			fail_msg("completion record of %u bytes at %u out of "
				 "bounds", hdr.len, off);
		memcpy(g->rec, g->cq + off + SR_RING_HDR, hdr.len);
		for (pad = hdr.len; pad < need - SR_RING_HDR; pad++)
			if (g->cq[off + SR_RING_HDR + pad])
				fail_msg("completion record padding not zero");
		wire_arena_reset(&c->unpack);
		if (batch_decode_completions(g->rec, hdr.len, &c->unpack,
					     g->comps, BATCH_MAX_OPS, &n))
			fail_msg("completion record of %u bytes does not decode",
				 hdr.len);
		for (size_t i = 0; i < n; i++)
			take_ring_completion(c, &g->comps[i]);
		got += n;
		g->cq_pos += need;
	}
	if (!g->hold_cq) {
		sr_ring_store_release(&g->ctl->cq_head, g->cq_pos);
		/* The daemon may hold completions that waited for room. */
		sr_ring_fence();
		if (sr_ring_load(&g->ctl->sq_flags) & SR_RING_SQ_CQ_WAIT)
			rc_ring_bell(c);
	}
	return got;
}

void rc_ring_wait_cqes(struct rc *c, size_t n, struct rc_cqe *out,
		       int timeout_ms)
{
	uint64_t deadline = hd_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	struct rc_rings *g = &c->ring;

	assert_true(g->on);
	while (c->cq_len < n) {
		struct pollfd p[2] = {
			{ .fd = g->cq_efd, .events = POLLIN },
			{ .fd = c->sock, .events = POLLIN },
		};
		Saferring__Reply *r;
		uint64_t v;
		int left;

		/* Dekker with the daemon's publish: flag, fence, look. */
		sr_ring_store(&g->ctl->cq_flags, SR_RING_CQ_NEED_WAKEUP);
		sr_ring_fence();
		rc_ring_reap(c);
		if (c->cq_len >= n)
			break;
		left = ms_left(deadline);
		if (!left)
			fail_msg("timed out after %d ms with %zu of %zu completions "
				 "(cq_tail %u, sq_head %u of tail %u)", timeout_ms,
				 c->cq_len, n,
				 sr_ring_load_acquire(&g->ctl->cq_tail),
				 sr_ring_load_acquire(&g->ctl->sq_head), g->sq_pos);
		poll(p, 2, left < 100 ? left : 100);
		if ((p[0].revents & POLLIN) && read(g->cq_efd, &v, sizeof(v)) < 0) {
			/* EAGAIN: read already. */
		}
		if (!(p[1].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		int k = rc_recv(c, 0, &r, NULL);
		if (k == 0)
			fail_msg("end of file after %zu of %zu completions",
				 c->cq_len, n);
		if (k == 1 && r->body_case == SAFERRING__REPLY__BODY_COMPLETIONS)
			fail_msg("a v2 session got Completions on the socket");
		if (k == 1)
			fail_msg("expected completions, got %s%s%s \"%s\"",
				 rc_body_name(r),
				 r->body_case == SAFERRING__REPLY__BODY_ERROR ?
				 ": " : "",
				 r->body_case == SAFERRING__REPLY__BODY_ERROR ?
				 sr_strstatus(r->error->status) : "",
				 r->body_case == SAFERRING__REPLY__BODY_ERROR &&
				 r->error->message ? r->error->message : "");
	}
	if (out)
		memcpy(out, c->cq, n * sizeof(*out));
	memmove(c->cq, c->cq + n, (c->cq_len - n) * sizeof(*c->cq));
	c->cq_len -= n;
}

void rc_ring_expect_corrupt(struct rc *c, int timeout_ms)
{
	rc_expect_error(c, false, 0, SR_STATUS_PROTOCOL);
	rc_expect_eof(c, timeout_ms);
}

void rc_req_nop(struct op_request *o, uint64_t tag)
{
	memset(o, 0, sizeof(*o));
	o->tag = tag;
	o->opcode = SR_OP_NOP;
}

void rc_req_rw(struct op_request *o, uint64_t tag, uint32_t opcode,
	       struct rc_handle h, uint32_t slot, uint32_t generation,
	       uint32_t offset, uint32_t length, uint64_t file_offset)
{
	rc_req_nop(o, tag);
	o->opcode = opcode;
	o->has_fd = true;
	o->fd_index = h.index;
	o->fd_generation = h.generation;
	o->has_slot = true;
	o->slot_index = slot;
	o->slot_generation = generation;
	o->slot_offset = offset;
	o->slot_length = length;
	o->has_file_offset = true;
	o->file_offset = file_offset;
}

void hd_check_backend(const struct sr_client *c)
{
	const char *want = getenv("SAFERRING_BACKEND");
	const char *got = sr_backend_name(sr_backend(c));

	if (!want || !*want || strcmp(want, "auto") == 0)
		return;
	if (!got || strcmp(want, got) != 0)
		fail_msg("SAFERRING_BACKEND=%s, but the session runs on %s", want,
			 got ? got : "nothing");
}
