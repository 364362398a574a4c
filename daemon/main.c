/* SPDX-License-Identifier: MIT */
/*
 * main.c - saferringd's command line and start-up: load the policy
 * file, check that io_uring works for us, get the listening socket (from
 * systemd or bound here), confine the process with seccomp, then hand
 * over to the event loop.
 *
 * Must never start serving when rings cannot be created or the policy
 * file is malformed: a daemon that accepts clients it cannot serve, or
 * serves them under a policy nobody wrote, only moves the failure
 * somewhere less clear.  Everything that needs more than the seccomp
 * allow-list (opening files, binding, detaching) happens before it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "config.h"
#include "confine.h"
#include "log.h"
#include "ring.h"
#include "saferring.h"
#include "server.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: saferringd [OPTIONS]\n"
		"Run io_uring operations for clients that may not use io_uring.\n\n"
		"  -s, --socket PATH   listen on PATH (default " SR_DEFAULT_SOCKET ")\n"
		"  -c, --config PATH   policy file (default " CONFIG_DEFAULT_PATH ";\n"
		"                      built-in policy when that does not exist)\n"
		"      --check-config  load the policy file, print what each uid/gid\n"
		"                      gets, and exit (1 if malformed)\n"
		"      --no-seccomp    do not confine the daemon with its seccomp\n"
		"                      allow-list (for debugging only)\n"
		"      --busy-poll USEC  spin up to USEC microseconds for work\n"
		"                      before sleeping (default 0: never)\n"
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

/* An explicit --config must exist; the default path may be absent. */
static int load_config(const char *path, struct config **cfg)
{
	char err[512];
	int r;

	r = config_load(path ? path : CONFIG_DEFAULT_PATH, cfg, err,
			sizeof(err));
	if (r == -ENOENT && !path) {
		log_info("%s does not exist; using the built-in policy",
			 CONFIG_DEFAULT_PATH);
		r = config_builtin(cfg);
		if (r < 0)
			log_err("cannot set up the built-in policy: %s",
				strerror(-r));
		return r;
	}
	if (r < 0)
		log_err("policy file %s", err);
	return r;
}

/* The --config given at start-up, for SIGHUP. */
static const char *reload_path;

static struct config *reload_config(void)
{
	struct config *cfg;

	return load_config(reload_path, &cfg) < 0 ? NULL : cfg;
}

/* More clients, and liburing never needs to raise the limit itself
 * (which the seccomp filter would refuse). */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rlim_t soft = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		/* A service manager's filter may refuse (EPERM); then its
		 * LimitNOFILE= is what counts. */
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_info("open file limit stays at %llu: %s",
				 (unsigned long long)soft, strerror(errno));
	}
}

enum { OPT_NO_SECCOMP = 256, OPT_CHECK_CONFIG, OPT_BUSY_POLL };

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
		{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
		{ "busy-poll", required_argument, NULL, OPT_BUSY_POLL },
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *path = NULL, *config_path = NULL;
	int foreground = 0, seccomp = 1, check = 0, opt, r, fd;
	unsigned busy_poll_us = 0;
	struct config *cfg;
	struct server *srv;

	while ((opt = getopt_long(argc, argv, "s:c:fvhV", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'c':
			config_path = optarg;
			break;
		case OPT_CHECK_CONFIG:
			check = 1;
			break;
		case OPT_NO_SECCOMP:
			seccomp = 0;
			break;
		case OPT_BUSY_POLL: {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || v > 1000000) {
				fprintf(stderr, "saferringd: --busy-poll takes "
					"microseconds, 0 to 1000000\n");
				return 2;
			}
			busy_poll_us = (unsigned)v;
			break;
		}
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

	if (load_config(config_path, &cfg) < 0)
		return 1;
	if (check) {
		config_print(cfg, stdout);
		config_free(cfg);
		return 0;
	}

	r = ring_driver_probe();
	if (r < 0) {
		explain_io_uring_failure(r);
		config_free(cfg);
		return 1;
	}
	raise_fd_limit();
	/* syslog's timestamps read the time zone once; do it while files
	 * can still be opened. */
	tzset();

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
			config_free(cfg);
			return 1;
		}
		/* systemd hands it over blocking; the event loop accepts until
		 * EAGAIN and would stall on the next accept. */
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
			log_err("socket activation: fd %d: cannot make it "
				"non-blocking: %s", fd, strerror(errno));
			config_free(cfg);
			return 1;
		}
		path = "(socket activation)";
	} else {
		if (!path)
			path = SR_DEFAULT_SOCKET;
		fd = listen_on(path);
		if (fd < 0) {
			config_free(cfg);
			return 1;
		}
	}

	/* Detach only after every start-up error had its chance to reach
	 * the terminal. */
	if (!foreground && !getenv("NOTIFY_SOCKET")) {
		if (daemon(0, 0) < 0) {
			log_err("cannot detach: %s", strerror(errno));
			config_free(cfg);
			return 1;
		}
		log_to_syslog();
	}

	log_info("policy from %s: %zu uid/gid sections", cfg->source,
		 cfg->nrules);
	r = server_new(fd, cfg, &srv);
	if (r < 0) {
		log_err("cannot start: %s", strerror(-r));
		return 1;
	}
	reload_path = config_path;
	server_set_reload(srv, reload_config);
	server_set_busy_poll(srv, busy_poll_us);
	config_forbid_names();
	if (seccomp) {
		r = confine_install();
		if (r < 0) {
			log_err("cannot install the seccomp filter: %s",
				strerror(-r));
			server_free(srv);
			return 1;
		}
		log_info("confined: seccomp allows %d system calls", r);
	} else {
		log_warn("running without the seccomp filter (--no-seccomp)");
	}
	log_info("listening on %s", path);
	sd_notify(0, "READY=1\nSTATUS=serving");
	r = server_run(srv);
	sd_notify(0, "STOPPING=1");
	server_free(srv);
	return r < 0 ? 1 : 0;
}
