/* SPDX-License-Identifier: MIT */
/*
 * confine.c - see confine.h.
 *
 * The list below is what the daemon was seen to call after start-up
 * (strace -f over the whole test suite), each with the reason it is
 * needed.  Three outcomes:
 *
 *  - allowed: the event loop, sessions, rings, memory, logging;
 *  - refused with EPERM: calls that libraries make on optional paths and
 *    cope with failing (liburing raising RLIMIT_NOFILE, sd_notify
 *    enlarging its socket buffer), so refusing them costs nothing;
 *  - anything else kills the whole process (SCMP_ACT_KILL_PROCESS).
 *
 * Why kill rather than fail with EPERM: after start-up the daemon's code
 * paths are fixed, so a call outside the list is either a bug we want to
 * see at once (the kernel logs the SECCOMP audit record with the call's
 * number, systemd restarts the service) or code that is not ours running
 * in the daemon, which must not get to try again.  Failing with EPERM
 * instead would leave a daemon that half works and fails clients in ways
 * nobody connects to the cause.  Dying is safe for the kernel's side: on
 * exit the kernel cancels and waits for every ring's requests before it
 * releases the registered buffers and files.
 *
 * What this layer cannot do: seccomp sees io_uring_setup/enter/register
 * but not the operations inside a ring, and io-wq workers never pass
 * through it.  A compromised daemon could create an unrestricted ring;
 * the filter narrows what it can reach otherwise (no exec, no new
 * executable memory, no files opened by path, no sockets but AF_UNIX).
 *
 * Sanitizer builds (make check-asan) log instead of killing: ASan and
 * LSan need system calls of their own (/proc reads, ptrace at exit), and
 * their reports matter more there than the kill.
 */
#include "confine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/mempolicy.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <seccomp.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CONFINE_DEFAULT_ACTION SCMP_ACT_LOG
#else
#define CONFINE_DEFAULT_ACTION SCMP_ACT_KILL_PROCESS
#endif

struct builder {
	scmp_filter_ctx ctx;
	int err;
	int allowed; /* distinct system calls with an ALLOW rule */
};

static void rule(struct builder *b, uint32_t action, int nr, unsigned n,
		 const struct scmp_arg_cmp *args)
{
	int r;

	if (b->err)
		return;
	/* A call this architecture lacks (e.g. epoll_wait on arm64) has
	 * a negative pseudo number; there is nothing to allow. */
	if (nr < 0)
		return;
	r = seccomp_rule_add_array(b->ctx, action, nr, n, args);
	if (r < 0)
		b->err = r;
}

static void allow(struct builder *b, int nr)
{
	if (nr >= 0 && !b->err)
		b->allowed++;
	rule(b, SCMP_ACT_ALLOW, nr, 0, NULL);
}

/* Allowed when argument @arg equals one of @vals. */
static void allow_arg_in(struct builder *b, int nr, unsigned arg,
			 const scmp_datum_t *vals, unsigned n)
{
	if (nr >= 0 && !b->err)
		b->allowed++;
	for (unsigned i = 0; i < n; i++) {
		struct scmp_arg_cmp cmp = {
			.arg = arg, .op = SCMP_CMP_EQ, .datum_a = vals[i],
		};
		rule(b, SCMP_ACT_ALLOW, nr, 1, &cmp);
	}
}

/* Allowed when (argument @arg & @mask) == @want. */
static void allow_masked(struct builder *b, int nr, unsigned arg,
			 scmp_datum_t mask, scmp_datum_t want)
{
	struct scmp_arg_cmp cmp = {
		.arg = arg, .op = SCMP_CMP_MASKED_EQ,
		.datum_a = mask, .datum_b = want,
	};

	if (nr >= 0 && !b->err)
		b->allowed++;
	rule(b, SCMP_ACT_ALLOW, nr, 1, &cmp);
}

static void refuse(struct builder *b, int nr)
{
	rule(b, SCMP_ACT_ERRNO(EPERM), nr, 0, NULL);
}

static void build(struct builder *b)
{
	/* The event loop. */
	allow(b, SCMP_SYS(epoll_wait));
	allow(b, SCMP_SYS(epoll_pwait));
	allow(b, SCMP_SYS(epoll_ctl));
	allow(b, SCMP_SYS(read));           /* signalfd */
	allow(b, SCMP_SYS(close));
	allow(b, SCMP_SYS(rt_sigreturn));
	allow(b, SCMP_SYS(rt_sigprocmask));
	allow(b, SCMP_SYS(restart_syscall));

	/* Clients: accept, credentials, datagrams with descriptors. */
	allow(b, SCMP_SYS(accept4));
	allow(b, SCMP_SYS(getsockopt));     /* SO_PEERCRED, SO_PEERPIDFD,
					     * SO_DOMAIN/TYPE/PROTOCOL */
	allow(b, SCMP_SYS(recvmsg));
	allow(b, SCMP_SYS(sendmsg));        /* also sd_notify */
	allow(b, SCMP_SYS(poll));           /* empty datagram or hang-up? */
	allow(b, SCMP_SYS(ppoll));
	/* The connecting process's limits: pinned by a pidfd (polled: has
	 * it exited?) while /proc/PID/limits is read (openat below). */
	allow(b, SCMP_SYS(pidfd_open));
	/* Admission: what a passed descriptor is, never by path. */
	allow_masked(b, SCMP_SYS(statx), 2, AT_EMPTY_PATH, AT_EMPTY_PATH);
	allow(b, SCMP_SYS(fstatfs));

	/* Sessions: the arena is a sealed memfd, mapped shared. */
	allow(b, SCMP_SYS(memfd_create));
	allow(b, SCMP_SYS(ftruncate));
	allow(b, SCMP_SYS(eventfd2));       /* v2 rings' doorbells */
	{
		static const scmp_datum_t cmds[] = {
			F_ADD_SEALS, F_GET_SEALS, F_GETFD, F_SETFD, F_GETFL,
			F_SETFL,
			F_DUPFD_CLOEXEC, /* v2: the client's doorbell copies */
		};
		allow_arg_in(b, SCMP_SYS(fcntl), 1, cmds,
			     sizeof(cmds) / sizeof(cmds[0]));
	}

	/* Memory, never executable: no new code may appear in the daemon. */
	allow_masked(b, SCMP_SYS(mmap), 2, PROT_EXEC, 0);
	allow_masked(b, SCMP_SYS(mprotect), 2, PROT_EXEC, 0);
	allow(b, SCMP_SYS(munmap));
	allow(b, SCMP_SYS(mremap));
	allow(b, SCMP_SYS(madvise));
	allow(b, SCMP_SYS(brk));
	/* A new arena's NUMA node (arena.c), as a preference alone: not
	 * MPOL_BIND or anything that moves pages other threads use. */
	allow_masked(b, SCMP_SYS(mbind), 2, 0xffffffffULL, MPOL_PREFERRED);

	/* Rings.  io_uring_register only for what ring.c does (seen under
	 * strace): at set-up the slots as fixed buffers (a sparse table filled
	 * a piece at a time: BUFFERS2, BUFFERS_UPDATE), a sparse file table
	 * (FILES2) and the range of it multishot accepts fill, the receive
	 * pool's buffer ring, the restrictions, enable; afterwards only file
	 * updates.  Not, e.g., PERSONALITY (requests under other
	 * credentials), IOWQ_AFF or EVENTFD. */
	allow(b, SCMP_SYS(io_uring_setup));
	allow(b, SCMP_SYS(io_uring_enter));
	{
		static const scmp_datum_t ops[] = {
			IORING_REGISTER_BUFFERS,
			IORING_REGISTER_BUFFERS2,
			IORING_REGISTER_BUFFERS_UPDATE,
			IORING_REGISTER_FILES2,
			IORING_REGISTER_FILE_ALLOC_RANGE,
			IORING_REGISTER_PBUF_RING,
			IORING_REGISTER_RESTRICTIONS,
			IORING_REGISTER_ENABLE_RINGS,
			IORING_REGISTER_FILES_UPDATE,
			IORING_REGISTER_IOWQ_MAX_WORKERS,
		};
		allow_arg_in(b, SCMP_SYS(io_uring_register), 1, ops,
			     sizeof(ops) / sizeof(ops[0]));
	}

	/* Logging: stderr, or syslog, which may reconnect to /dev/log;
	 * sd_notify at shutdown.  Only Unix sockets. */
	allow(b, SCMP_SYS(write));
	allow(b, SCMP_SYS(writev));
	allow(b, SCMP_SYS(sendto));
	allow(b, SCMP_SYS(connect));
	allow_masked(b, SCMP_SYS(socket), 0, 0xffffffffULL, AF_UNIX);
	allow(b, SCMP_SYS(getpid));         /* syslog's LOG_PID */
	/* sd_notify decides whether to send credentials. */
	allow(b, SCMP_SYS(getuid));
	allow(b, SCMP_SYS(geteuid));
	allow(b, SCMP_SYS(getgid));
	allow(b, SCMP_SYS(getegid));
	/* stdio asks fstat about stderr once: only by descriptor. */
	allow(b, SCMP_SYS(fstat));
	allow_masked(b, SCMP_SYS(newfstatat), 3, AT_EMPTY_PATH, AT_EMPTY_PATH);
	/* SIGHUP re-reads the policy file: read-only, exactly the flags
	 * config_load() uses, never creating or writing anything. */
	allow_masked(b, SCMP_SYS(openat), 2, 0xffffffffULL,
		     O_RDONLY | O_CLOEXEC | O_NOCTTY);
	allow(b, SCMP_SYS(clock_gettime));  /* when the vDSO cannot */
	allow(b, SCMP_SYS(gettimeofday));

	/* Locks, the threads, and the end.  The worker threads and their
	 * offload threads need no call of their own: they all start before
	 * the filter (server_new), then wait on futexes, eventfds and
	 * epoll, and end with exit (their stacks go back by madvise and
	 * munmap, above) when the listener joins them. */
	allow(b, SCMP_SYS(futex));
	allow(b, SCMP_SYS(exit_group));
	allow(b, SCMP_SYS(exit));
	/* abort() (a failed assertion, malloc finding its heap corrupt)
	 * must still end in SIGABRT with its message and core, not in a
	 * SIGSYS that hides the cause: glibc raises it with gettid and
	 * tgkill, which may only signal this process, and only SIGABRT. */
	allow(b, SCMP_SYS(gettid));
	allow(b, SCMP_SYS(pread64));        /* spin.h: /proc/loadavg */
	{
		struct scmp_arg_cmp self[2] = {
			{ .arg = 0, .op = SCMP_CMP_EQ,
			  .datum_a = (scmp_datum_t)getpid() },
			{ .arg = 2, .op = SCMP_CMP_EQ, .datum_a = SIGABRT },
		};

		if (!b->err)
			b->allowed++;
		rule(b, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 2, self);
	}

	/* Optional paths that cope with failure. */
	refuse(b, SCMP_SYS(prlimit64));     /* liburing: raise RLIMIT_NOFILE */
	refuse(b, SCMP_SYS(setrlimit));
	refuse(b, SCMP_SYS(getrlimit));
	refuse(b, SCMP_SYS(setsockopt));    /* sd_notify: SO_SNDBUF */
}

static const char *action_words = "kills the process";

const char *confine_action(void)
{
	return action_words;
}

int confine_install(void)
{
	struct builder b = { 0 };
	uint32_t kill = CONFINE_DEFAULT_ACTION;

	b.ctx = seccomp_init(kill);
	if (!b.ctx && kill == SCMP_ACT_KILL_PROCESS) {
		/* libseccomp accepts KILL_PROCESS only once the kernel has
		 * confirmed it through seccomp(2): NULL is that call being
		 * refused, or a kernel before 4.14.  SIGSYS, which the daemon
		 * never catches (and may not: rt_sigaction is not on the
		 * list), ends the process too. */
		kill = SCMP_ACT_TRAP;
		b.ctx = seccomp_init(kill);
		action_words = "raises SIGSYS, which ends the process (no "
			       "kill-process action here)";
	}
	if (!b.ctx)
		return -EOPNOTSUPP;
	/* A system call made through another ABI (int 0x80 on x86-64)
	 * is not on the list under any number: it ends the process. */
	b.err = seccomp_attr_set(b.ctx, SCMP_FLTATR_ACT_BADARCH,
				 kill == SCMP_ACT_TRAP ? SCMP_ACT_TRAP :
				 SCMP_ACT_KILL_PROCESS);
	/* Every thread started before the filter: each gets it too.
	 * That needs seccomp(2) itself; without it, refuse rather than
	 * leave a thread unconfined. */
	if (!b.err) {
		b.err = seccomp_attr_set(b.ctx, SCMP_FLTATR_CTL_TSYNC, 1);
		if (b.err == -EINVAL)
			b.err = -EOPNOTSUPP;
	}
	if (!b.err)
		build(&b);
	if (!b.err)
		b.err = seccomp_load(b.ctx);
	seccomp_release(b.ctx);
	return b.err < 0 ? b.err : b.allowed;
}
