/* SPDX-License-Identifier: MIT */
/*
 * main.c - saferringd's command line and start-up: check that io_uring
 * works for us, get the listening socket (from systemd or bound here),
 * then hand over to the event loop.
 *
 * Must never start serving when rings cannot be created: a daemon that
 * accepts clients it cannot serve only moves the failure somewhere less
 * clear.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "policy.h"
#include "ring.h"
#include "saferring.h"
#include "server.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: saferringd [OPTIONS]\n"
		"Run io_uring operations for clients that may not use io_uring.\n\n"
		"  -s, --socket PATH   listen on PATH (default " SR_DEFAULT_SOCKET ")\n"
		"  -f, --foreground    stay in the foreground, log to stderr\n"
		"  -v, --verbose       log every refused request\n"
		"  -h, --help          show this help and exit\n"
		"  -V, --version       show the version and exit\n\n"
		"Under systemd socket activation the passed socket is used and\n"
		"--socket is ignored.\n");
}

static void explain_io_uring_failure(int err)
{
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "re");
	int disabled = -1;

	if (f) {
		if (fscanf(f, "%d", &disabled) != 1)
			disabled = -1;
		fclose(f);
	}
	if (err == -ENOSYS) {
		log_err("cannot create an io_uring: this kernel has no io_uring support");
	} else if (err == -EPERM && disabled == 2) {
		log_err("cannot create an io_uring: io_uring is disabled for everyone "
			"(kernel.io_uring_disabled=2)");
	} else if (err == -EPERM && disabled == 1) {
		log_err("cannot create an io_uring: kernel.io_uring_disabled=1 and this "
			"process is not in kernel.io_uring_group; run saferringd as a "
			"member of that group");
	} else if (err == -EPERM) {
		log_err("cannot create an io_uring: denied (seccomp filter or security "
			"module)");
	} else {
		log_err("cannot create an io_uring: %s", strerror(-err));
	}
}

/* An existing socket file is ours to replace only if nobody answers on it. */
static int socket_path_free(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (access(path, F_OK) < 0)
		return 0;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (r == 0) {
		log_err("%s: another saferringd is already listening there", path);
		return -EADDRINUSE;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		log_err("%s: cannot remove stale socket: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)];
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_err("%s: socket path too long (at most %zu bytes)", path,
			sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* The default lives in /run/saferring, which may not exist yet. */
	memcpy(dir, path, strlen(path) + 1);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			log_err("%s: cannot create directory: %s", dir, strerror(errno));
			return -errno;
		}
	}
	r = socket_path_free(path);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Access control is the directory's and the policy's job (mode
	 * 0666 so that the policy, not the socket mode, decides). */
	mode_t old = umask(0);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		log_err("%s: cannot listen: %s", path, strerror(-r));
		close(fd);
		return r;
	}
	return fd;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *path = NULL;
	int foreground = 0, opt, r, fd;
	struct policy policy;
	struct server *srv;

	while ((opt = getopt_long(argc, argv, "s:fvhV", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'v':
			log_set_verbose(1);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("saferringd %s (protocol %d)\n", SR_VERSION,
			       SR_PROTOCOL_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "saferringd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	r = ring_driver_probe();
	if (r < 0) {
		explain_io_uring_failure(r);
		return 1;
	}
	policy_default(&policy);

	r = sd_listen_fds(1);
	if (r > 1) {
		log_err("socket activation passed %d sockets; expected one", r);
		return 1;
	}
	if (r == 1) {
		fd = SD_LISTEN_FDS_START;
		if (sd_is_socket_unix(fd, SOCK_SEQPACKET, 1, NULL, 0) <= 0) {
			log_err("socket activation: fd %d is not a listening "
				"SOCK_SEQPACKET Unix socket", fd);
			return 1;
		}
		path = "(socket activation)";
	} else {
		if (!path)
			path = SR_DEFAULT_SOCKET;
		fd = listen_on(path);
		if (fd < 0)
			return 1;
	}

	/* Detach only after every start-up error had its chance to reach
	 * the terminal. */
	if (!foreground && !getenv("NOTIFY_SOCKET")) {
		if (daemon(0, 0) < 0) {
			log_err("cannot detach: %s", strerror(errno));
			return 1;
		}
		log_to_syslog();
	}

	r = server_new(fd, &policy, &srv);
	if (r < 0) {
		log_err("cannot start: %s", strerror(-r));
		return 1;
	}
	log_info("listening on %s", path);
	sd_notify(0, "READY=1\nSTATUS=serving");
	r = server_run(srv);
	sd_notify(0, "STOPPING=1");
	server_free(srv);
	return r < 0 ? 1 : 0;
}
