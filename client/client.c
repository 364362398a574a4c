/* SPDX-License-Identifier: MIT */
/*
 * client.c - a libsaferring session's life: connect, Hello/Welcome, map
 * the arena, build the tables the Welcome sizes, and tear it all down.
 *
 * Must never map an arena whose memfd is not exactly the size the
 * Welcome announced and sealed against shrinking (touching a page past a
 * shrunk end would kill the caller with SIGBUS), and never keep the
 * memfd open once it is mapped.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "local.h"

/* The public structs' sizes are the ABI's (saferring.h): a change here
 * must be deliberate, and then abi/libsaferring.so.1.abi changes too. */
_Static_assert(sizeof(struct sr_cqe) == 48, "struct sr_cqe is 48 bytes");
_Static_assert(sizeof(struct sr_iov) == 12, "struct sr_iov is 12 bytes");
_Static_assert(sizeof(struct sr_params) == 32, "struct sr_params is 32 bytes");
_Static_assert(sizeof(struct sr_limits) == 72, "struct sr_limits is 72 bytes");

static unsigned min_u(unsigned a, unsigned b)
{
	return a < b ? a : b;
}

static int sr_open_socket(struct sr_client *c, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int ret;

	if (!path)
		path = secure_getenv(SR_SOCKET_ENV);
	if (!path || !*path)
		path = SR_DEFAULT_SOCKET;
	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);

	c->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->sock < 0)
		return -errno;
	if (connect(c->sock, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		ret = -errno;
		close(c->sock);
		c->sock = -1;
		return ret;
	}
	return 0;
}

static const char *const backend_names[] = {
	[SR_BACKEND_DEFAULT] = "default",
	[SR_BACKEND_AUTO] = "auto",
	[SR_BACKEND_DAEMON] = "daemon",
	[SR_BACKEND_DIRECT] = "direct",
	[SR_BACKEND_THREADS] = "threads",
};
_Static_assert(sizeof(backend_names) / sizeof(backend_names[0]) ==
	       SR_BACKEND_THREADS + 1, "every backend has a name");

const char *sr_backend_name(int backend)
{
	if (backend < 0 || backend > SR_BACKEND_THREADS)
		return NULL;
	return backend_names[backend];
}

int sr_backend(const struct sr_client *c)
{
	return c ? c->backend : -EINVAL;
}

/* The backend asked for: sr_params, else $SAFERRING_BACKEND, else auto. */
static int sr_want_backend(const struct sr_params *p)
{
	const char *env;

	if (p && p->backend) {
		if (p->backend > SR_BACKEND_THREADS)
			return -EINVAL;
		return (int)p->backend;
	}
	env = secure_getenv("SAFERRING_BACKEND");
	if (!env || !*env)
		return SR_BACKEND_AUTO;
	for (int b = SR_BACKEND_AUTO; b <= SR_BACKEND_THREADS; b++)
		if (strcmp(env, backend_names[b]) == 0)
			return b;
	return -EINVAL; /* a typo must not pick a backend silently */
}

static int sr_open_backend(struct sr_client *c, const char *path, int want)
{
	int ret;

	switch (want) {
	case SR_BACKEND_DAEMON:
		ret = sr_open_socket(c, path);
		break;
	case SR_BACKEND_DIRECT:
	case SR_BACKEND_THREADS:
		ret = srl_local_start(want, &c->local, &c->sock);
		break;
	case SR_BACKEND_AUTO:
		/* A named socket is that daemon; its absence is the error. */
		ret = sr_open_socket(c, path);
		if (path || (ret != -ENOENT && ret != -ECONNREFUSED))
			return ret ? ret : (c->backend = SR_BACKEND_DAEMON, 0);
		want = srl_local_direct_usable() == 0 ? SR_BACKEND_DIRECT :
		       SR_BACKEND_THREADS;
		ret = srl_local_start(want, &c->local, &c->sock);
		break;
	default:
		return -EINVAL;
	}
	if (!ret)
		c->backend = want;
	return ret;
}

static int sr_send_hello(struct sr_client *c, const struct sr_params *p,
			 bool rings)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__Hello hello = SAFERRING__HELLO__INIT;

	hello.version = SR_PROTOCOL_VERSION;
	hello.has_rings = rings;
	hello.rings = rings;
	if (p && p->slot_count) {
		hello.has_slot_count = 1;
		hello.slot_count = p->slot_count;
	}
	if (p && p->slot_size) {
		hello.has_slot_size = 1;
		hello.slot_size = p->slot_size;
	}
	/* Where the caller runs now, so that the daemon takes the arena's
	 * memory from this CPU's NUMA node (a hint: threads move). */
	int cpu = sched_getcpu();
	if (cpu >= 0) {
		hello.has_cpu = 1;
		hello.cpu = (uint32_t)cpu;
	}
	req.has_seq = 1;
	req.seq = ++c->seq;
	req.body_case = SAFERRING__REQUEST__BODY_HELLO;
	req.hello = &hello;
	return srl_send_msg(c, &req.base, -1);
}

/* Check the arena memfd and map it: slots, then the rings if any. */
static int sr_map_arena(struct sr_client *c, int memfd, size_t size)
{
	struct stat st;
	int seals;
	void *p;

	if (fstat(memfd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (uint64_t)st.st_size != size)
		return -EPROTO;
	seals = fcntl(memfd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK))
		return -EPROTO;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (p == MAP_FAILED)
		return -errno;
	madvise(p, size, MADV_HUGEPAGE); /* as the daemon does; a hint */
	c->arena = p;
	c->arena_size = size;
	return 0;
}

static int sr_alloc_tables(struct sr_client *c, uint32_t generation)
{
	const struct sr_limits *l = &c->lim;
	uint32_t nhandles = c->fd_table_size ? c->fd_table_size : 1;

	c->cq_cap = l->max_in_flight + l->slot_count + c->fd_table_size;
	c->slots = calloc(l->slot_count, sizeof(*c->slots));
	c->handles = calloc(nhandles, sizeof(*c->handles));
	/* Before anything can fail: sr_close closes what is not -1. */
	for (uint32_t i = 0; c->handles && i < nhandles; i++)
		c->handles[i].fd = -1;
	c->ops = calloc(l->max_in_flight, sizeof(*c->ops));
	c->op_free = calloc(l->max_in_flight, sizeof(*c->op_free));
	c->cq = calloc(c->cq_cap, sizeof(*c->cq));
	c->cq_cb = calloc(c->cq_cap, sizeof(*c->cq_cb));
	c->batch = calloc(l->max_batch, sizeof(*c->batch));
	c->batch_addr = calloc(l->max_batch, sizeof(*c->batch_addr));
	c->enc = malloc(sizeof(*c->enc));
	c->comps = calloc(BATCH_MAX_OPS, sizeof(*c->comps));
	if (!c->slots || !c->handles || !c->ops || !c->op_free || !c->cq ||
	    !c->cq_cb || !c->batch || !c->batch_addr || !c->enc || !c->comps)
		return -ENOMEM;

	/* Free lists hand out low indices first. */
	for (uint32_t i = 0; i < l->slot_count; i++) {
		c->slots[i].generation = generation;
		c->slots[i].next_free = i + 1 < l->slot_count ? i + 1 : SR_NONE;
	}
	c->free_slot = 0;
	for (uint32_t i = 0; i < l->max_in_flight; i++)
		c->op_free[i] = l->max_in_flight - 1 - i;
	c->op_nfree = l->max_in_flight;
	return 0;
}

static int sr_accept_welcome(struct sr_client *c, const Saferring__Reply *r,
			     const int *fds)
{
	const Saferring__Welcome *w;
	int memfd = fds[0];
	uint64_t total;
	size_t size;
	int ret;

	if (!r->has_seq || r->seq != c->seq)
		return -EPROTO;
	if (r->body_case == SAFERRING__REPLY__BODY_ERROR) {
		if (r->error->status == SR_STATUS_VERSION)
			return -EPROTO;
		ret = sr_status_errno(r->error->status);
		return ret ? ret : -EPROTO;
	}
	if (r->body_case != SAFERRING__REPLY__BODY_WELCOME || memfd < 0)
		return -EPROTO;
	w = r->welcome;
	if (w->version != SR_PROTOCOL_VERSION || !w->slot_count ||
	    w->slot_count > SR_MAX_SLOTS || !w->slot_size ||
	    w->max_fds > SR_MAX_FDS || !w->max_in_flight || !w->max_batch)
		return -EPROTO;
	c->fd_table_size = w->has_fd_table_size ? w->fd_table_size : w->max_fds;
	if (c->fd_table_size < w->max_fds || c->fd_table_size > 2 * SR_MAX_FDS)
		return -EPROTO;
	if (__builtin_mul_overflow((size_t)w->slot_count, (size_t)w->slot_size,
				   &size))
		return -EPROTO;
	/* Rings only when asked for, with their two doorbells. */
	if (w->rings && (fds[1] < 0 || fds[2] < 0 || !c->want_rings ||
			 srl_rings_layout_ok(w->rings, size, &total)))
		return -EPROTO;
	if (!w->rings && fds[1] >= 0)
		return -EPROTO;
	ret = sr_map_arena(c, memfd, w->rings ? (size_t)total : size);
	if (ret)
		return ret;

	c->lim = (struct sr_limits){
		.session_id = w->session_id,
		.slot_count = w->slot_count,
		.slot_size = w->slot_size,
		.max_fds = w->max_fds,
		.max_in_flight = min_u(w->max_in_flight, SR_MAX_IN_FLIGHT),
	};
	c->lim.max_batch = min_u(min_u(w->max_batch, WIRE_MAX_BATCH),
				 c->lim.max_in_flight);
	c->lim.fd_table_size = c->fd_table_size;
	/* Without the list, every operation: the inline attempt then only
	 * tries what the daemon would be asked anyway. */
	c->lim.allowed_ops = w->has_allowed_ops ? w->allowed_ops : 0;
	c->file_size_limit = w->has_max_file_size ? w->max_file_size :
			     UINT64_MAX;
	c->lim.spin_us = c->spin_us;
	if (c->ts)
		c->lim.flags |= SR_LIMITS_THREADSAFE;
	ret = sr_alloc_tables(c, w->slot_generation);
	if (ret)
		return ret;
	if (w->rings) {
		ret = srl_rings_start(c, w->rings, fds[1], fds[2]);
		if (ret)
			return ret;
		c->lim.flags |= SR_LIMITS_RINGS;
	}
	/* Which operations it may do itself is the daemon's policy. */
	if (c->inline_on && w->has_allowed_ops)
		c->lim.flags |= SR_LIMITS_INLINE;
	else
		c->inline_on = false;
	return 0;
}

/* A number from the environment, or @dflt when unset or not a number. */
static unsigned long sr_env_number(const char *name, unsigned long dflt)
{
	const char *env = secure_getenv(name);
	unsigned long v;
	char *end;

	if (!env || !*env)
		return dflt;
	errno = 0;
	v = strtoul(env, &end, 10);
	return errno || *end ? dflt : v;
}

/* What the caller asked for, the environment where it did not say. */
static int sr_take_params(struct sr_client *c, const struct sr_params *p)
{
	const char *transport = secure_getenv("SAFERRING_TRANSPORT");
	uint32_t flags = p ? p->flags : 0;
	unsigned long spin;

	if (p) {
		for (size_t i = 0; i < sizeof(p->reserved) / sizeof(p->reserved[0]);
		     i++)
			if (p->reserved[i])
				return -EINVAL;
		if (flags & ~SR_PARAMS__ALL)
			return -EINVAL;
	}
	c->want_rings = !(flags & SR_PARAMS_SOCKET) &&
			!(transport && strcmp(transport, "socket") == 0);
	c->inline_on = !(flags & SR_PARAMS_NO_INLINE) &&
		       sr_env_number("SAFERRING_INLINE", 1) != 0;
	spin = flags & SR_PARAMS_SPIN ? p->spin_us :
	       sr_env_number("SAFERRING_SPIN_US", SR_DEFAULT_SPIN_US);
	c->spin_us = spin < SR_MAX_SPIN_US ? (uint32_t)spin : SR_MAX_SPIN_US;
	return 0;
}

int sr_connect(const char *path, const struct sr_params *params,
	       struct sr_client **out)
{
	Saferring__Reply *r;
	struct sr_client *c;
	int fds[3] = { -1, -1, -1 };
	int want = 0, ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->sock = -1;
	c->rings.sq_efd = c->rings.cq_efd = -1;
	c->poll_fd = c->ready_efd = -1;
	c->ts_wake_efd = -1;
	/* Without it, spinning just never backs off. */
	spin_guard_init(&c->spin);
	ret = sr_take_params(c, params);
	if (!ret)
		want = sr_want_backend(params);
	if (want < 0)
		ret = want;
	if (!ret && params && (params->flags & SR_PARAMS_THREADSAFE))
		ret = srl_ts_init(c);
	if (ret)
		goto fail;
	c->unpack_buf = malloc(SR_UNPACK_SIZE);
	if (!c->unpack_buf) {
		ret = -ENOMEM;
		goto fail;
	}
	wire_arena_init(&c->unpack, c->unpack_buf, SR_UNPACK_SIZE);

	ret = sr_open_backend(c, path, want);
	if (!ret)
		ret = sr_send_hello(c, params, c->want_rings);
	if (ret)
		goto fail;
	do
		ret = srl_recv_reply(c, true, fds, 3, &r);
	while (ret == -EINTR);
	if (ret)
		goto fail;
	ret = sr_accept_welcome(c, r, fds);
	/* The mapping keeps the memfd alive; the doorbells were taken by
	 * srl_rings_start when it succeeded. */
	if (fds[0] >= 0)
		close(fds[0]);
	if (ret) {
		if (fds[1] >= 0 && fds[1] != c->rings.sq_efd)
			close(fds[1]);
		if (fds[2] >= 0 && fds[2] != c->rings.cq_efd)
			close(fds[2]);
		goto fail;
	}
	*out = c;
	return 0;
fail:
	sr_close(c);
	return ret;
}

void sr_close(struct sr_client *c)
{
	if (!c)
		return;
	srl_rings_stop(c);
	srl_ts_free(c);
	spin_guard_free(&c->spin);
	if (c->poll_fd >= 0)
		close(c->poll_fd);
	if (c->ready_efd >= 0)
		close(c->ready_efd);
	if (c->handles)
		for (uint32_t i = 0; i < c->fd_table_size; i++)
			srl_inline_forget(c, i);
	if (c->arena)
		munmap(c->arena, c->arena_size);
	if (c->sock >= 0)
		close(c->sock);
	/* After the hang-up: the session drains before the worker goes. */
	srl_local_stop(c->local);
	free(c->slots);
	free(c->handles);
	free(c->ops);
	free(c->op_free);
	free(c->cq);
	free(c->cq_cb);
	free(c->batch);
	free(c->batch_addr);
	free(c->enc);
	free(c->comps);
	free(c->unpack_buf);
	free(c);
}

int sr_limits(const struct sr_client *c, struct sr_limits *out)
{
	if (!c || !out)
		return -EINVAL;
	*out = c->lim;
	return 0;
}

static int sr_watch(int epfd, int op, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	return epoll_ctl(epfd, op, fd, &ev) < 0 ? -errno : 0;
}

void srl_poll_update(struct sr_client *c)
{
	if (c->poll_fd < 0)
		return;
	/* Cannot fail for a descriptor already in the set; if it did, the
	 * caller's retry would only wait for the next completion. */
	(void)sr_watch(c->poll_fd, EPOLL_CTL_MOD, c->sock,
		       EPOLLIN | (c->send_blocked ? EPOLLOUT : 0));
}

/*
 * One descriptor for the caller's loop that is readable exactly when we
 * have something for it: completions queued here (ready_efd, which the
 * transport descriptors cannot show once we took their data), or data
 * waiting on the socket (v1's completions; v2's errors and the session's
 * end), or the daemon's ring of our doorbell (v2).  Made once, on first
 * use, so that clients that never poll pay nothing for it.
 */
static int sr_make_poll_fd(struct sr_client *c)
{
	int ret;

	c->poll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (c->poll_fd < 0)
		return -errno;
	c->ready_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->ready_efd < 0)
		ret = -errno;
	else
		ret = sr_watch(c->poll_fd, EPOLL_CTL_ADD, c->ready_efd, EPOLLIN);
	if (!ret)
		ret = sr_watch(c->poll_fd, EPOLL_CTL_ADD, c->sock,
			       EPOLLIN | (c->send_blocked ? EPOLLOUT : 0));
	if (!ret && c->rings.on)
		ret = sr_watch(c->poll_fd, EPOLL_CTL_ADD, c->rings.cq_efd,
			       EPOLLIN);
	/* In-process: readable when its loop has work, which sr_peek_cqe
	 * then runs. */
	if (!ret && c->local)
		ret = sr_watch(c->poll_fd, EPOLL_CTL_ADD, srl_local_fd(c->local),
			       EPOLLIN);
	if (ret) {
		close(c->poll_fd);
		if (c->ready_efd >= 0)
			close(c->ready_efd);
		c->poll_fd = c->ready_efd = -1;
		return ret;
	}
	c->ready_on = false;
	srl_ready_update(c);
	return 0;
}

int sr_fd(struct sr_client *c)
{
	int ret = 0;

	if (!c)
		return -EINVAL;
	srl_lock(c);
	if (c->poll_fd < 0)
		ret = sr_make_poll_fd(c);
	if (!ret && c->rings.on && !c->rings.notify)
		srl_rings_notify(c);
	if (!ret)
		ret = c->poll_fd;
	srl_unlock(c);
	return ret;
}
