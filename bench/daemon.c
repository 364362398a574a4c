/* SPDX-License-Identifier: MIT */
/*
 * daemon.c - a private saferringd for one benchmark run (when no socket
 * is given), and finding the daemon behind a socket (for its CPU time).
 *
 * Must never leave the private daemon running or its socket directory
 * behind, and never touch a daemon it did not start (an external one is
 * only observed through /proc).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

/* ../sbin/saferringd beside this program, as laid out in build/. */
static const char *default_exe(char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return "saferringd";
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	snprintf(buf, len, "%s/../sbin/saferringd", self);
	return buf;
}

static void show_log(const struct private_daemon *d)
{
	char line[512];
	FILE *f = fopen(d->log, "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		fprintf(stderr, "  saferringd: %s", line);
	fclose(f);
}

int daemon_start(struct private_daemon *d, const char *exe)
{
	static char buf[PATH_MAX + 32];
	int fd;

	if (!exe)
		exe = getenv("SAFERRINGD");
	if (!exe || !*exe)
		exe = default_exe(buf, sizeof(buf));
	if (access(exe, X_OK) < 0)
		bench_die("cannot run %s: %s (build it with make, or pass "
			  "--daemon PATH or --socket PATH)", exe, strerror(errno));
	snprintf(d->dir, sizeof(d->dir), "/tmp/saferring-bench.XXXXXX");
	if (!mkdtemp(d->dir))
		bench_die("mkdtemp: %s", strerror(errno));
	snprintf(d->sock, sizeof(d->sock), "%s/sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/saferringd.log", d->dir);

	d->pid = fork();
	if (d->pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (d->pid == 0) {
		fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		/* Never outlive the benchmark. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		unsetenv("NOTIFY_SOCKET");
		/* The library spins as SAFERRING_SPIN_US says; the private
		 * daemon spins as long. */
		const char *spin = getenv("SAFERRING_SPIN_US");
		if (spin && *spin)
			execl(exe, "saferringd", "--foreground", "--socket",
			      d->sock, "--spin-us", spin, (char *)NULL);
		else
			execl(exe, "saferringd", "--foreground", "--socket",
			      d->sock, (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	return 0;
}

/* Still running?  If not, say why and give up. */
static void daemon_check(struct private_daemon *d)
{
	int st;

	if (waitpid(d->pid, &st, WNOHANG) != d->pid)
		return;
	d->pid = 0;
	bench_warn("private saferringd exited (status %d) before serving:",
		   WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	show_log(d);
	daemon_stop(d);
	exit(1);
}

void daemon_stop(struct private_daemon *d)
{
	int st = 0;

	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		for (int i = 0; i < 500; i++) {
			if (waitpid(d->pid, &st, WNOHANG) == d->pid)
				break;
			if (i == 499) {
				bench_warn("private saferringd ignores SIGTERM; killing it");
				kill(d->pid, SIGKILL);
				waitpid(d->pid, &st, 0);
			}
			usleep(10000);
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			bench_warn("private saferringd ended badly (status 0x%x):", st);
			show_log(d);
		}
		d->pid = 0;
	}
	if (d->dir[0]) {
		unlink(d->sock);
		unlink(d->log);
		rmdir(d->dir);
		d->dir[0] = '\0';
	}
}

void daemon_wait_step(struct private_daemon *d)
{
	daemon_check(d);
	usleep(5000);
}

pid_t daemon_peer_pid(const char *sock)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct ucred cr;
	socklen_t len = sizeof(cr);
	char path[64], comm[64] = "";
	FILE *f;
	int fd, r;

	/* A connection of our own, closed before it says Hello: the
	 * session's descriptor may be an eventfd, not the socket. */
	if (strlen(sock) >= sizeof(addr.sun_path))
		return 0;
	strcpy(addr.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	r = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0;
	close(fd);
	if (r || cr.pid <= 1)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)cr.pid);
	f = fopen(path, "re");
	if (f) {
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
	}
	comm[strcspn(comm, "\n")] = '\0';
	/* Under socket activation the listener is systemd's, not ours. */
	if (strcmp(comm, "saferringd"))
		return 0;
	return cr.pid;
}
