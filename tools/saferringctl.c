/* SPDX-License-Identifier: MIT */
/*
 * saferringctl - ask a running saferringd how it is doing.
 *
 *   saferringctl [--socket PATH] status
 *   saferringctl [--socket PATH] sessions
 *   saferringctl [--socket PATH] stats --json
 *
 * Sends one StatsRequest instead of Hello on a fresh connection; the
 * daemon answers only peers whose policy allows control (root by
 * default).  Read-only: must never change anything in the daemon.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "op_table.h"
#include "saferring.h"
#include "saferring.pb-c.h"
#include "wire.h"

static const char *prog = "saferringctl";

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [--socket PATH] COMMAND\n"
		"Show what a running saferringd is doing.\n\n"
		"Commands:\n"
		"  status          version, uptime, sessions, operations,\n"
		"                  what the running kernel has of them\n"
		"  sessions        one line per session\n"
		"  stats --json    everything, as one JSON object\n\n"
		"  -s, --socket PATH  daemon socket (default $" SR_SOCKET_ENV
		", else " SR_DEFAULT_SOCKET ")\n"
		"  -h, --help         show this help\n", prog);
}

static int connect_daemon(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* One request, one reply, at most 5 s. */
static int ask(int fd, bool sessions, struct wire_arena *arena,
	       unsigned char *buf, Saferring__Reply **out)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__StatsRequest sreq = SAFERRING__STATS_REQUEST__INIT;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct wire_msg m;
	int r;

	sreq.has_sessions = true;
	sreq.sessions = sessions;
	req.has_seq = true;
	req.seq = 1;
	req.body_case = SAFERRING__REQUEST__BODY_STATS;
	req.stats = &sreq;
	/* The reply buffer is free until the reply comes. */
	r = wire_send_message(fd, &req.base, -1, buf, WIRE_MAX_DATAGRAM);
	if (r < 0)
		return r;
	r = poll(&pfd, 1, 5000);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	r = wire_recv(fd, buf, WIRE_MAX_DATAGRAM, &m);
	if (r < 0)
		return r;
	wire_msg_close_fds(&m);
	if (r == 0 || m.truncated)
		return -EPROTO;
	*out = saferring__reply__unpack(&arena->allocator, m.len, buf);
	return *out ? 0 : -EPROTO;
}

static void print_status(const Saferring__Stats *st)
{
	printf("saferringd %s\n", st->version);
	printf("uptime:          %.1f s\n", st->uptime_ms / 1000.0);
	printf("sessions:        %u now, %llu since start\n", st->sessions,
	       (unsigned long long)st->sessions_total);
	printf("in flight:       %u\n", st->in_flight);
	printf("operations done: %llu\n", (unsigned long long)st->ops_done);
	printf("refused:         %llu\n", (unsigned long long)st->ops_refused);
	if (st->has_workers)
		printf("workers:         %u\n", st->workers);
	/* The operations the kernel runs; those the daemon does itself
	 * (close, provide) do not depend on it. */
	if (st->has_kernel_lacks) {
		int n = 0;

		printf("kernel has:     ");
		for (uint32_t op = 0; op < SR_OP__COUNT; op++)
			if (!op_info(op)->daemon &&
			    !(st->kernel_lacks & (1ULL << op)))
				printf(" %s", op_info(op)->name);
		printf("\nkernel lacks:   ");
		for (uint32_t op = 0; op < SR_OP__COUNT; op++)
			if (!op_info(op)->daemon &&
			    (st->kernel_lacks & (1ULL << op)) && ++n)
				printf(" %s (%s)", op_info(op)->name,
				       op_info(op)->kernel);
		printf("%s\n", n ? "" : " none");
	}
}

static void print_sessions(const Saferring__Stats *st)
{
	/* New columns go last: scripts read these by position. */
	printf("%8s %7s %8s %6s %9s %4s %12s %9s %14s %14s %6s %4s\n",
	       "SESSION", "UID", "PID", "SLOTS", "INFLIGHT", "FDS", "OPS",
	       "REFUSED", "BYTES_READ", "BYTES_WRITTEN", "WORKER", "NODE");
	for (size_t i = 0; i < st->n_session; i++) {
		const Saferring__SessionStats *s = st->session[i];
		char worker[16] = "-", node[16] = "-";

		if (s->has_worker)
			snprintf(worker, sizeof(worker), "%u", s->worker);
		if (s->has_node)
			snprintf(node, sizeof(node), "%u", s->node);
		printf("%8llu %7u %8d %6u %9u %4u %12llu %9llu %14llu %14llu "
		       "%6s %4s\n",
		       (unsigned long long)s->session_id, s->uid, s->pid,
		       s->slots_in_use, s->in_flight, s->fds,
		       (unsigned long long)s->ops_done,
		       (unsigned long long)s->ops_refused,
		       (unsigned long long)s->bytes_read,
		       (unsigned long long)s->bytes_written, worker, node);
		for (size_t j = 0; j < s->n_refusals; j++)
			printf("%8s refused %llu x %s\n", "",
			       (unsigned long long)s->refusals[j]->count,
			       sr_strstatus(s->refusals[j]->status));
	}
	if (st->truncated)
		printf("(more sessions than fit one reply)\n");
}

/* The daemon's text is data: escape it rather than trust it. */
static void print_json_string(const char *str)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void print_json(const Saferring__Stats *st)
{
	printf("{\"version\":");
	print_json_string(st->version);
	printf(",\"uptime_ms\":%llu,\"sessions\":%u,"
	       "\"sessions_total\":%llu,\"in_flight\":%u,\"ops_done\":%llu,"
	       "\"ops_refused\":%llu,\"truncated\":%s,",
	       (unsigned long long)st->uptime_ms, st->sessions,
	       (unsigned long long)st->sessions_total, st->in_flight,
	       (unsigned long long)st->ops_done,
	       (unsigned long long)st->ops_refused,
	       st->truncated ? "true" : "false");
	if (st->has_workers)
		printf("\"workers\":%u,", st->workers);
	if (st->has_kernel_lacks) {
		int n = 0;

		printf("\"kernel_lacks\":[");
		for (uint32_t op = 0; op < SR_OP__COUNT; op++)
			if (st->kernel_lacks & (1ULL << op))
				printf("%s\"%s\"", n++ ? "," : "",
				       op_info(op)->name);
		printf("],");
	}
	printf("\"session_list\":[");
	for (size_t i = 0; i < st->n_session; i++) {
		const Saferring__SessionStats *s = st->session[i];
		printf("%s{\"session_id\":%llu,\"uid\":%u,\"pid\":%d,"
		       "\"slots_in_use\":%u,\"in_flight\":%u,\"fds\":%u,"
		       "\"ops_done\":%llu,\"ops_refused\":%llu,"
		       "\"bytes_read\":%llu,\"bytes_written\":%llu,",
		       i ? "," : "", (unsigned long long)s->session_id, s->uid,
		       s->pid, s->slots_in_use, s->in_flight, s->fds,
		       (unsigned long long)s->ops_done,
		       (unsigned long long)s->ops_refused,
		       (unsigned long long)s->bytes_read,
		       (unsigned long long)s->bytes_written);
		if (s->has_worker)
			printf("\"worker\":%u,", s->worker);
		if (s->has_node)
			printf("\"node\":%u,", s->node);
		printf("\"refusals\":{");
		for (size_t j = 0; j < s->n_refusals; j++)
			printf("%s\"%u\":%llu", j ? "," : "",
			       s->refusals[j]->status,
			       (unsigned long long)s->refusals[j]->count);
		printf("}}");
	}
	printf("]}\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static unsigned char buf[WIRE_MAX_DATAGRAM];
	static unsigned char heap[4 * WIRE_MAX_DATAGRAM];
	const char *path = NULL, *cmd;
	bool json = false;
	struct wire_arena arena;
	Saferring__Reply *reply = NULL;
	int opt, fd, r;

	while ((opt = getopt_long(argc, argv, "s:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	if (strcmp(cmd, "status") && strcmp(cmd, "sessions") &&
	    strcmp(cmd, "stats")) {
		fprintf(stderr, "%s: unknown command '%s'\n", prog, cmd);
		usage(stderr);
		return 2;
	}
	if (!strcmp(cmd, "stats") && !json) {
		fprintf(stderr, "%s: stats needs --json\n", prog);
		return 2;
	}
	if (!path)
		path = getenv(SR_SOCKET_ENV);
	if (!path)
		path = SR_DEFAULT_SOCKET;

	fd = connect_daemon(path);
	if (fd < 0) {
		fprintf(stderr, "%s: cannot connect to %s: %s\n", prog, path,
			strerror(-fd));
		return 1;
	}
	wire_arena_init(&arena, heap, sizeof(heap));
	r = ask(fd, strcmp(cmd, "status") != 0, &arena, buf, &reply);
	close(fd);
	if (r < 0) {
		fprintf(stderr, "%s: %s: no answer: %s\n", prog, path,
			strerror(-r));
		return 1;
	}
	if (reply->body_case == SAFERRING__REPLY__BODY_ERROR) {
		fprintf(stderr, "%s: %s: %s\n", prog, path,
			reply->error->message ? reply->error->message :
			sr_strstatus(reply->error->status));
		return 1;
	}
	if (reply->body_case != SAFERRING__REPLY__BODY_STATS) {
		fprintf(stderr, "%s: %s: unexpected reply\n", prog, path);
		return 1;
	}
	if (!strcmp(cmd, "status"))
		print_status(reply->stats);
	else if (!strcmp(cmd, "sessions"))
		print_sessions(reply->stats);
	else
		print_json(reply->stats);
	return 0;
}
