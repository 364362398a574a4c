/* SPDX-License-Identifier: MIT */
/*
 * pingpong.c - the floor under any daemon round trip: a --bs byte message
 * (cap 64 KiB) sent over a SOCK_SEQPACKET Unix socket pair to a child
 * process, which sends it straight back; blocking send and recv, no
 * protocol.  saferring's QD 1 latency is compared with this.
 *
 * Must never leave the child behind.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define PP_MAX (64 * 1024)

static void __attribute__((noreturn)) pingpong_child(int fd)
{
	static unsigned char buf[PP_MAX];

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n <= 0 || send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
			_exit(0);
	}
}

int pingpong_run(struct bench *b)
{
	static unsigned char msg[PP_MAX], back[PP_MAX];
	size_t len = b->o->bs < PP_MAX ? b->o->bs : PP_MAX;
	enum bench_phase ph;
	int sv[2], st;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		bench_die("socketpair: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(sv[0]);
		pingpong_child(sv[1]);
	}
	close(sv[1]);
	b->peer_pid = pid;
	b->peer_kind = "server";
	b->peer_ours = true;
	b->eff_qd = 1;
	bench_fill(msg, len, 5);

	bench_clock_start(b);
	do {
		uint64_t t0 = now_ns(), now;

		if (send(sv[0], msg, len, MSG_NOSIGNAL) != (ssize_t)len ||
		    recv(sv[0], back, sizeof(back), 0) != (ssize_t)len)
			bench_die("pingpong: %s", strerror(errno));
		now = now_ns();
		ph = bench_tick(b, now);
		if (ph == PH_MEASURE) {
			hist_add(&b->lat, now - t0);
			b->ops++;
			b->bytes += len;
		}
	} while (ph != PH_DONE);
	close(sv[0]);
	waitpid(pid, &st, 0);
	return 0;
}
