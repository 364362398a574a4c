/* SPDX-License-Identifier: MIT */
/*
 * main.c - saferringd's command line and start-up: load the policy
 * file, get the listening socket (from systemd, or bound here with mode
 * 0660 and the configured group), set the limits only root may raise
 * (RLIMIT_MEMLOCK for pinned arenas), drop root and every capability,
 * check that io_uring works for the user we became, confine the process
 * with seccomp, then hand over to the event loop.
 *
 * Must never start serving when rings cannot be created or the policy
 * file is malformed: a daemon that accepts clients it cannot serve, or
 * serves them under a policy nobody wrote, only moves the failure
 * somewhere less clear.  Everything that needs root happens before the
 * drop, everything that needs more than the seccomp allow-list (opening
 * files, binding, detaching, starting threads) before the filter.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <malloc.h>
#include <pwd.h>
#include <sched.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "config.h"
#include "confine.h"
#include "log.h"
#include "op_table.h"
#include "privdrop.h"
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
		"      --check-reload  the same, by the rules of a reload (SIGHUP):\n"
		"                      what `systemctl reload` runs first\n"
		"      --no-seccomp    do not confine the daemon with its seccomp\n"
		"                      allow-list (for debugging only)\n"
		"      --allow-root    started as root, stay root with every\n"
		"                      capability (for debugging only: clients'\n"
		"                      I/O then runs as root)\n"
		"      --spin-us USEC  after the last work on a v2 session, poll\n"
		"                      its rings this long before sleeping\n"
		"                      (default: spin_us in the config, 50;\n"
		"                      0: never poll)\n"
		"      --workers N     serve sessions on N threads (default: the\n"
		"                      CPUs it may run on; at most workers in\n"
		"                      the config, 64)\n"
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
	int disabled = -1, ferr = f ? 0 : errno;

	if (f) {
		if (fscanf(f, "%d", &disabled) != 1)
			disabled = -1;
		fclose(f);
	}
	if (err == -EPERM && ferr)
		/* A service manager's ProcSubset=pid hides /proc/sys. */
		log_err("cannot read /proc/sys/kernel/io_uring_disabled (%s): "
			"the reason below is a guess", strerror(ferr));
	if (err == -ENOSYS) {
		log_err("cannot create an io_uring: this kernel has no io_uring support");
	} else if (err == -EPERM && disabled == 2) {
		log_err("cannot create an io_uring: io_uring is disabled for everyone "
			"(kernel.io_uring_disabled=2)");
	} else if (err == -EPERM && disabled == 1) {
		log_err("cannot create an io_uring: kernel.io_uring_disabled=1 and "
			"gid %u is not kernel.io_uring_group; make the daemon's "
			"user a member of that group", (unsigned)getegid());
	} else if (err == -EPERM) {
		log_err("cannot create an io_uring: denied (kernel.io_uring_disabled, "
			"a seccomp filter or a security module)");
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
		r = -errno;
		log_err("%s: cannot remove stale socket: %s", path, strerror(-r));
		return r;
	}
	return 0;
}

/* Bind @path, mode 0660 with group @gid (-1: the daemon's own), and
 * listen. */
static int listen_on(const char *path, gid_t gid)
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
	/* Only the daemon's user and the socket group may connect: 0660
	 * from the start (umask), the group set before listen(). */
	mode_t old = umask(0117);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r == 0 && gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0) {
		r = -errno;
		log_err("%s: cannot give the socket to group %u: %s", path,
			(unsigned)gid, strerror(-r));
		close(fd);
		return r;
	}
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

/* Descriptors each worker holds whatever it serves: its epoll, its
 * mailbox's and its offload thread's eventfds, /proc/loadavg. */
#define FDS_PER_WORKER 4

/* More clients, and liburing never needs to raise the limit itself
 * (which the seccomp filter would refuse).  Says so when the limit is
 * below what max_sessions_total sessions need (a socket and a ring each;
 * registered files live in the rings) besides the workers' own. */
static void raise_fd_limit(uint32_t max_sessions, unsigned workers)
{
	uint64_t need = 2ULL * max_sessions + 64 +
			(uint64_t)FDS_PER_WORKER * workers;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t soft = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		/* A service manager's filter may refuse (EPERM); then its
		 * LimitNOFILE= is what counts. */
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			log_info("open file limit stays at %llu: %s",
				 (unsigned long long)soft, strerror(errno));
			rl.rlim_cur = soft;
		}
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		log_warn("RLIMIT_NOFILE is %llu, below the %llu descriptors that "
			 "max_sessions_total = %u sessions on %u workers need; "
			 "clients will be refused (QUOTA) before that "
			 "(LimitNOFILE=, or lower max_sessions_total)",
			 (unsigned long long)rl.rlim_cur,
			 (unsigned long long)need, max_sessions, workers);
}

/* Rings and receive pools besides the arenas, per the pinned budget. */
#define MEMLOCK_SLACK (64ULL << 20)

/*
 * io_uring charges every pinned arena to RLIMIT_MEMLOCK of the daemon's
 * user, unless the daemon holds CAP_IPC_LOCK: the limit must cover
 * max_pinned_total.  Root raises it.  Where even root may not (no
 * CAP_SYS_RESOURCE, as in some containers), the daemon keeps
 * CAP_IPC_LOCK alone, and says so; a daemon that is not root and
 * cannot raise it serves a smaller budget, and says so.  Returns the
 * capabilities to keep; @pinned_max in and out.
 */
static uint64_t plan_memlock(uint64_t *pinned_max)
{
	uint64_t want = *pinned_max + MEMLOCK_SLACK;
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		rl.rlim_cur = rl.rlim_max = 0;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		struct rlimit up = rl;

		up.rlim_cur = rl.rlim_max == RLIM_INFINITY ||
			      rl.rlim_max >= want ? (rlim_t)want : rl.rlim_max;
		if (geteuid() == 0)
			up.rlim_cur = up.rlim_max = (rlim_t)want;
		if (setrlimit(RLIMIT_MEMLOCK, &up) == 0)
			rl = up;
		else if (up.rlim_cur != rl.rlim_max) {
			/* Root without CAP_SYS_RESOURCE: up to the hard one. */
			up.rlim_cur = rl.rlim_max;
			up.rlim_max = rl.rlim_max;
			if (setrlimit(RLIMIT_MEMLOCK, &up) == 0)
				rl = up;
		}
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want) {
		log_info("pinned memory: max_pinned_total %llu MiB within "
			 "RLIMIT_MEMLOCK", (unsigned long long)(*pinned_max >> 20));
		return 0;
	}
	if (privdrop_effective() & (1ULL << CAP_IPC_LOCK)) {
		log_warn("RLIMIT_MEMLOCK is %llu bytes and cannot be raised "
			 "(no CAP_SYS_RESOURCE): keeping CAP_IPC_LOCK, and only "
			 "it, so that arenas can be pinned; max_pinned_total "
			 "%llu MiB bounds them.  Raise the hard limit "
			 "(LimitMEMLOCK=) to run with no capability at all",
			 (unsigned long long)rl.rlim_cur,
			 (unsigned long long)(*pinned_max >> 20));
		return 1ULL << CAP_IPC_LOCK;
	}
	uint64_t fit = rl.rlim_cur > 2 * MEMLOCK_SLACK ?
		       rl.rlim_cur - MEMLOCK_SLACK : rl.rlim_cur / 2;
	log_warn("RLIMIT_MEMLOCK is %llu bytes: max_pinned_total lowered from "
		 "%llu to %llu (raise LimitMEMLOCK= to serve more)",
		 (unsigned long long)rl.rlim_cur,
		 (unsigned long long)*pinned_max, (unsigned long long)fit);
	*pinned_max = fit;
	return 0;
}

/* max_pinned_total = 0: a quarter of the machine's memory. */
static uint64_t default_pinned_total(void)
{
	struct sysinfo si;
	uint64_t q;

	if (sysinfo(&si) < 0)
		return 1ULL << 30;
	q = (uint64_t)si.totalram * si.mem_unit / 4;
	return q / POLICY_SLOT_ALIGN * POLICY_SLOT_ALIGN;
}

/* Who the daemon becomes: the [daemon] user, and the socket's group. */
struct identity {
	uid_t uid;       /* started as root: who to become */
	gid_t gid;
	gid_t socket_gid; /* (gid_t)-1: leave the socket's group alone */
};

static int resolve_identity(const struct daemon_settings *d, bool allow_root,
			    struct identity *id)
{
	struct passwd *pw;
	struct group *gr;

	*id = (struct identity){ .socket_gid = (gid_t)-1 };
	if (geteuid() == 0 && !allow_root) {
		errno = 0;
		pw = getpwnam(d->user);
		if (!pw) {
			log_err("user %s: %s; create it (systemd-sysusers, or "
				"make users), name another in [daemon] user =, "
				"or use --allow-root for debugging", d->user,
				errno ? strerror(errno) : "no such user");
			return -ENOENT;
		}
		if (pw->pw_uid == 0) {
			log_err("[daemon] user = %s is root: the daemon must run "
				"as a user of its own", d->user);
			return -EINVAL;
		}
		id->uid = pw->pw_uid;
		id->gid = pw->pw_gid;
	}
	errno = 0;
	gr = getgrnam(d->socket_group);
	if (gr) {
		id->socket_gid = gr->gr_gid;
	} else if (d->socket_group_set || geteuid() == 0) {
		log_err("socket_group %s: %s; create it (systemd-sysusers, or "
			"make users), or name another in [daemon] socket_group =",
			d->socket_group, errno ? strerror(errno) : "no such group");
		return -ENOENT;
	} else {
		log_warn("group %s does not exist: the socket keeps the daemon's "
			 "own group", d->socket_group);
	}
	return 0;
}

static int drop_privileges(const struct identity *id, bool allow_root,
			   uint64_t keep)
{
	const char *step = "";
	int r;

	if (allow_root && geteuid() == 0) {
		log_warn("--allow-root: running as root with every capability; "
			 "clients' I/O is done as root.  For debugging only: "
			 "never run a daemon clients depend on like this");
		return 0;
	}
	r = privdrop(id->uid, id->gid, keep, &step);
	if (r < 0) {
		log_err("cannot drop privileges: %s failed: %s", step,
			strerror(-r));
		return r;
	}
#if defined(__SANITIZE_ADDRESS__)
	/* LeakSanitizer attaches to the process with ptrace at exit, which
	 * a process that changed uid no longer allows. */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
	log_info("running as uid %u gid %u with %s", (unsigned)getuid(),
		 (unsigned)getgid(), keep ? "CAP_IPC_LOCK alone" :
		 "no capabilities");
	return 0;
}

/* The CPUs this process may run on: how many workers by default. */
static unsigned cpus_available(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

/* Parse a non-negative decimal no larger than @max; -1 when it is not. */
static long parse_count(const char *arg, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || !*arg || *arg == '-' || v > max)
		return -1;
	return (long)v;
}

enum { OPT_NO_SECCOMP = 256, OPT_CHECK_CONFIG, OPT_CHECK_RELOAD,
       OPT_SPIN_US, OPT_ALLOW_ROOT, OPT_WORKERS };

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
		{ "check-reload", no_argument, NULL, OPT_CHECK_RELOAD },
		{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
		{ "allow-root", no_argument, NULL, OPT_ALLOW_ROOT },
		{ "spin-us", required_argument, NULL, OPT_SPIN_US },
		{ "workers", required_argument, NULL, OPT_WORKERS },
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *path = NULL, *config_path = NULL;
	int foreground = 0, seccomp = 1, check = 0, opt, r, fd;
	bool allow_root = false;
	long spin_us = -1; /* -1: the config's */
	long workers = -1; /* -1: one per CPU */
	struct server_options sopts;
	uint64_t keep;
	struct identity id;
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
		case OPT_CHECK_RELOAD:
			/* What a running daemon's SIGHUP would accept: no
			 * names, which it may no longer resolve. */
			check = 1;
			config_forbid_names();
			break;
		case OPT_NO_SECCOMP:
			seccomp = 0;
			break;
		case OPT_ALLOW_ROOT:
			allow_root = true;
			break;
		case OPT_SPIN_US:
			spin_us = parse_count(optarg, CONFIG_LIMIT_SPIN_US);
			if (spin_us < 0) {
				fprintf(stderr, "saferringd: --spin-us takes "
					"microseconds, 0 to %u\n",
					CONFIG_LIMIT_SPIN_US);
				return 2;
			}
			break;
		case OPT_WORKERS:
			workers = parse_count(optarg, CONFIG_LIMIT_WORKERS);
			if (workers < 1) {
				fprintf(stderr, "saferringd: --workers takes a "
					"number of threads, 1 to %u\n",
					CONFIG_LIMIT_WORKERS);
				return 2;
			}
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

	/* One malloc arena for every thread: memory the offload threads
	 * and the listener allocate is freed by the workers, and glibc
	 * trimming a thread's arena reads /proc/sys/vm/overcommit_memory,
	 * which the seccomp filter does not allow. */
	mallopt(M_ARENA_MAX, 1);
	if (load_config(config_path, &cfg) < 0)
		return 1;
	if (check) {
		config_print(cfg, stdout);
		config_free(cfg);
		return 0;
	}
	if (resolve_identity(&cfg->daemon, allow_root, &id) < 0) {
		config_free(cfg);
		return 1;
	}
	if (!cfg->daemon.max_pinned_total)
		cfg->daemon.max_pinned_total = default_pinned_total();
	sopts = (struct server_options){
		.workers = workers > 0 ? (unsigned)workers : cpus_available(),
		.spin_us = spin_us >= 0 ? (unsigned)spin_us :
					  cfg->daemon.spin_us,
	};
	/* The config's cap holds whatever the command line says. */
	if (sopts.workers > cfg->daemon.workers)
		sopts.workers = cfg->daemon.workers;
	raise_fd_limit(cfg->daemon.max_sessions_total, sopts.workers);
	keep = plan_memlock(&cfg->daemon.max_pinned_total);
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
		fd = listen_on(path, id.socket_gid);
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
	if (drop_privileges(&id, allow_root, keep) < 0) {
		config_free(cfg);
		return 1;
	}
	/* As the user that will create every ring: kernel.io_uring_disabled
	 * and io_uring_group judge it, not root.  Before the seccomp filter,
	 * which leaves IORING_REGISTER_PROBE out: no session needs it. */
	r = ring_driver_probe(&sopts.kernel_lacks);
	if (r < 0) {
		explain_io_uring_failure(r);
		config_free(cfg);
		return 1;
	}
	for (uint32_t op = 0; op < SR_OP__COUNT; op++)
		if (sopts.kernel_lacks & (1ULL << op))
			log_warn("the running kernel lacks %s: operation '%s' "
				 "is refused (unknown operation)",
				 op_info(op)->kernel, op_info(op)->name);

	log_info("policy from %s: %zu uid/gid sections", cfg->source,
		 cfg->nrules);
	log_info("serving sessions on %u worker thread%s (%s%u; at most %u "
		 "by the config)", sopts.workers, sopts.workers == 1 ? "" : "s",
		 workers > 0 ? "--workers " : "CPUs: ",
		 workers > 0 ? (unsigned)workers : cpus_available(),
		 cfg->daemon.workers);
	/* Every thread starts here, before the seccomp filter below. */
	r = server_new(fd, cfg, &sopts, &srv);
	if (r < 0) {
		log_err("cannot start: %s", strerror(-r));
		return 1;
	}
	reload_path = config_path;
	server_set_reload(srv, reload_config);
	config_forbid_names();
	if (seccomp) {
		r = confine_install();
		if (r == -EOPNOTSUPP) {
			log_err("cannot install the seccomp filter: this process "
				"may not call seccomp(2) itself, which the filter "
				"needs to cover every thread (a systemd unit must "
				"allow it: SystemCallFilter=seccomp)");
			server_free(srv);
			return 1;
		}
		if (r < 0) {
			log_err("cannot install the seccomp filter: %s",
				strerror(-r));
			server_free(srv);
			return 1;
		}
		log_info("confined: seccomp allows %d system calls; any other %s",
			 r, confine_action());
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
