/* SPDX-License-Identifier: MIT */
/*
 * fuse_stub.c - see fuse_stub.h.  The server half runs in a forked child
 * that only reads requests from /dev/fuse and writes replies; the test
 * half mounts, watches a counter in shared memory, and tears down.
 *
 * The child must never touch the test's descriptors, handlers or memory
 * beyond the shared counter, and must never answer a READ of "hang".
 */
#include "fuse_stub.h"
#include "child.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { INO_ROOT = FUSE_ROOT_ID, INO_DATA, INO_HANG };

/* Longer than any test, so that the kernel never asks twice. */
#define VALID_S 3600
/* At least FUSE_MIN_READ_BUFFER, and room for a max_write WRITE. */
#define MAX_WRITE (64U * 1024)
#define REQ_BUF (MAX_WRITE + 64U * 1024)
#define INIT_WAIT_MS 5000
#define FUSECTL "/sys/fs/fuse/connections"

/* Written by the child, read by the test: MAP_SHARED, not copied. */
struct shared {
	int ready; /* INIT answered */
	int hung;  /* READs of "hang" held */
};

struct fuse_stub {
	pid_t pid;
	unsigned long conn; /* fusectl directory name: the kernel's dev_t */
	bool have_conn;
	struct shared *sh;
	char *mnt;
};

uint8_t fuse_stub_data_byte(uint64_t pos)
{
	/* Not periodic at any small stride, so a wrong offset shows. */
	return (uint8_t)((pos * 0x9E3779B97F4A7C15ULL) >> 56);
}

/* ------------------------------------------------------------------ */
/* The server (child side). */

static void reply(int fd, uint64_t unique, int error, const void *arg,
		  size_t len)
{
	struct fuse_out_header oh = {
		.len = (uint32_t)(sizeof(oh) + len),
		.error = error,
		.unique = unique,
	};
	struct iovec iov[2] = {
		{ .iov_base = &oh, .iov_len = sizeof(oh) },
		{ .iov_base = (void *)arg, .iov_len = len },
	};

	/* ENOENT means the request was interrupted meanwhile: nothing to do. */
	if (writev(fd, iov, len ? 2 : 1) < 0)
		return;
}

static bool fill_attr(uint64_t ino, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->blksize = 4096;
	a->nlink = 1;
	switch (ino) {
	case INO_ROOT:
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
		return true;
	case INO_DATA:
		a->size = FUSE_STUB_DATA_SIZE;
		break;
	case INO_HANG:
		a->size = FUSE_STUB_HANG_SIZE;
		break;
	default:
		return false;
	}
	a->mode = S_IFREG | 0644;
	a->blocks = a->size / 512;
	return true;
}

static const char *const names[] = { ".", "..", "data", "hang" };
static const uint64_t inos[] = { INO_ROOT, INO_ROOT, INO_DATA, INO_HANG };

static void do_init(int fd, const struct fuse_in_header *h, const void *arg,
		    struct shared *sh)
{
	const struct fuse_init_in *in = arg;
	struct fuse_init_out out = {
		.major = FUSE_KERNEL_VERSION,
		.minor = FUSE_KERNEL_MINOR_VERSION,
		.max_readahead = in->max_readahead < MAX_WRITE ?
				 in->max_readahead : MAX_WRITE,
		/* No flag at all: in particular no FUSE_ASYNC_DIO, without
		 * which a direct read waits for its answer in the caller. */
		.flags = 0,
		.max_background = 16,
		.congestion_threshold = 12,
		.max_write = MAX_WRITE,
		.time_gran = 1,
	};

	if (in->major != FUSE_KERNEL_VERSION) {
		reply(fd, h->unique, -EPROTO, NULL, 0);
		return;
	}
	if (in->minor < out.minor)
		out.minor = in->minor;
	reply(fd, h->unique, 0, &out, sizeof(out));
	__atomic_store_n(&sh->ready, 1, __ATOMIC_RELEASE);
}

static void do_readdir(int fd, const struct fuse_in_header *h,
		       const struct fuse_read_in *in)
{
	char buf[512];
	size_t len = 0, cap = in->size < sizeof(buf) ? in->size : sizeof(buf);

	for (uint64_t i = in->offset; i < sizeof(names) / sizeof(names[0]); i++) {
		struct fuse_dirent *d = (struct fuse_dirent *)(buf + len);
		size_t nlen = strlen(names[i]);
		size_t sz = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + nlen);

		if (len + sz > cap)
			break;
		memset(d, 0, sz);
		d->ino = inos[i];
		d->off = i + 1;
		d->namelen = (uint32_t)nlen;
		d->type = inos[i] == INO_ROOT ? DT_DIR : DT_REG;
		memcpy(d->name, names[i], nlen);
		len += sz;
	}
	reply(fd, h->unique, 0, buf, len);
}

static void do_read(int fd, const struct fuse_in_header *h,
		    const struct fuse_read_in *in, struct shared *sh)
{
	static uint8_t buf[FUSE_STUB_DATA_SIZE];
	uint64_t end = in->offset + in->size;

	if (h->nodeid == INO_HANG) {
		/* The whole point: never answered.  The kernel keeps the
		 * request until fuse_stub_stop() aborts the connection. */
		__atomic_add_fetch(&sh->hung, 1, __ATOMIC_RELEASE);
		return;
	}
	if (h->nodeid != INO_DATA) {
		reply(fd, h->unique, -EBADF, NULL, 0);
		return;
	}
	if (in->offset >= FUSE_STUB_DATA_SIZE) {
		reply(fd, h->unique, 0, NULL, 0);
		return;
	}
	if (end > FUSE_STUB_DATA_SIZE)
		end = FUSE_STUB_DATA_SIZE;
	for (uint64_t p = in->offset; p < end; p++)
		buf[p - in->offset] = fuse_stub_data_byte(p);
	reply(fd, h->unique, 0, buf, end - in->offset);
}

static void handle(int fd, const struct fuse_in_header *h, const void *arg,
		   struct shared *sh)
{
	switch (h->opcode) {
	case FUSE_INIT:
		do_init(fd, h, arg, sh);
		return;
	case FUSE_LOOKUP: {
		struct fuse_entry_out e = {
			.entry_valid = VALID_S, .attr_valid = VALID_S,
		};

		for (unsigned i = 2; i < sizeof(names) / sizeof(names[0]); i++)
			if (h->nodeid == INO_ROOT && !strcmp(arg, names[i]))
				e.nodeid = inos[i];
		if (!e.nodeid || !fill_attr(e.nodeid, &e.attr)) {
			reply(fd, h->unique, -ENOENT, NULL, 0);
			return;
		}
		reply(fd, h->unique, 0, &e, sizeof(e));
		return;
	}
	case FUSE_GETATTR: {
		struct fuse_attr_out a = { .attr_valid = VALID_S };

		if (!fill_attr(h->nodeid, &a.attr))
			reply(fd, h->unique, -ENOENT, NULL, 0);
		else
			reply(fd, h->unique, 0, &a, sizeof(a));
		return;
	}
	case FUSE_OPEN:
	case FUSE_OPENDIR: {
		struct fuse_open_out o = { .fh = h->nodeid };

		/* Direct I/O keeps the page cache out of the way: every read
		 * of "hang" becomes a READ request that waits for us. */
		if (h->nodeid == INO_HANG)
			o.open_flags = FOPEN_DIRECT_IO;
		reply(fd, h->unique, 0, &o, sizeof(o));
		return;
	}
	case FUSE_READ:
		do_read(fd, h, arg, sh);
		return;
	case FUSE_READDIR:
		do_readdir(fd, h, arg);
		return;
	case FUSE_STATFS: {
		struct fuse_statfs_out st = { .st = {
			.blocks = 256, .bsize = 4096, .frsize = 4096,
			.files = 3, .namelen = 255,
		} };

		reply(fd, h->unique, 0, &st, sizeof(st));
		return;
	}
	case FUSE_FLUSH:
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
	case FUSE_ACCESS:
	case FUSE_DESTROY:
		reply(fd, h->unique, 0, NULL, 0);
		return;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT: /* ignored: the held READ must stay held */
		return;
	default:
		reply(fd, h->unique, -ENOSYS, NULL, 0);
		return;
	}
}

static void __attribute__((noreturn)) serve(int fd, struct shared *sh)
{
	char *buf = malloc(REQ_BUF);

	if (!buf)
		_exit(1);
	for (;;) {
		ssize_t n = read(fd, buf, REQ_BUF);
		const struct fuse_in_header *h = (const void *)buf;

		if (n < 0 && (errno == EINTR || errno == ENOENT || errno == EAGAIN))
			continue; /* ENOENT: a request was taken back */
		if (n < 0)
			_exit(errno == ENODEV ? 0 : 1); /* ENODEV: unmounted/aborted */
		if ((size_t)n < sizeof(*h) || h->len != (uint32_t)n)
			_exit(1);
		handle(fd, h, buf + sizeof(*h), sh);
		if (h->opcode == FUSE_DESTROY)
			_exit(0);
	}
}

/* ------------------------------------------------------------------ */
/* The test side. */

static void abort_connection(const struct fuse_stub *s)
{
	char path[96];
	int fd;

	if (!s->have_conn)
		return;
	snprintf(path, sizeof(path), FUSECTL "/%lu/abort", s->conn);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT &&
	    mount("fusectl", FUSECTL, "fusectl", 0, NULL) == 0)
		fd = open(path, O_WRONLY | O_CLOEXEC);
	/* On failure, killing the child (the last /dev/fuse holder) still
	 * aborts the connection. */
	if (fd < 0)
		return;
	if (write(fd, "1", 1) < 0)
		fprintf(stderr, "fuse_stub: %s: %m\n", path);
	close(fd);
}

void fuse_stub_stop(struct fuse_stub *s)
{
	if (!s)
		return;
	/* First, so that held READs fail even if the child cannot be killed
	 * at once or something else still holds a /dev/fuse descriptor. */
	abort_connection(s);
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	/* Detached: a daemon may still hold a file of it open. */
	if (s->mnt)
		umount2(s->mnt, MNT_DETACH);
	if (s->sh)
		munmap(s->sh, sizeof(*s->sh));
	free(s->mnt);
	free(s);
}

int fuse_stub_hung_reads(const struct fuse_stub *s)
{
	return __atomic_load_n(&s->sh->hung, __ATOMIC_ACQUIRE);
}

int fuse_stub_start(const char *mountpoint, struct fuse_stub **out)
{
	struct fuse_stub *s = calloc(1, sizeof(*s));
	pid_t parent = getpid();
	struct statx stx;
	char opts[128];
	int fd, err;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->sh = mmap(NULL, sizeof(*s->sh), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s->sh == MAP_FAILED) {
		s->sh = NULL;
		err = -errno;
		goto fail;
	}
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto fail;
	}
	snprintf(opts, sizeof(opts),
		 "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other", fd);
	if (mount("saferring-fuse-stub", mountpoint, "fuse", MS_NOSUID | MS_NODEV,
		  opts) < 0) {
		err = -errno;
		close(fd);
		goto fail;
	}
	s->mnt = strdup(mountpoint);
	if (!s->mnt) {
		umount2(mountpoint, MNT_DETACH);
		close(fd);
		err = -ENOMEM;
		goto fail;
	}
	s->pid = test_fork();
	if (s->pid == 0) {
		/* Die with the test; it may already be gone. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(1);
		/* Holding the test's sockets would keep its peers from
		 * seeing them close. */
		if (fd > 3)
			close_range(3, (unsigned)fd - 1, 0);
		close_range((unsigned)fd + 1, ~0U, 0);
		serve(fd, s->sh);
	}
	err = -errno; /* of fork, if it failed */
	/* The child is now the only holder, so its death aborts the mount. */
	close(fd);
	if (s->pid < 0)
		goto fail;
	/* Bounded: INIT was queued by mount(2) and is answered first. */
	for (int ms = 0; !__atomic_load_n(&s->sh->ready, __ATOMIC_ACQUIRE); ms++) {
		struct timespec t = { 0, 1000000 };

		if (waitpid(s->pid, NULL, WNOHANG) != 0)
			s->pid = -1; /* reaped (or lost): never kill its number */
		if (ms >= INIT_WAIT_MS || s->pid < 0) {
			err = -ETIMEDOUT;
			goto fail;
		}
		nanosleep(&t, NULL);
	}
	/* DONT_SYNC: st_dev without a GETATTR round trip. */
	if (statx(AT_FDCWD, mountpoint, AT_STATX_DONT_SYNC, STATX_TYPE, &stx) == 0) {
		s->conn = ((unsigned long)stx.stx_dev_major << 20) | stx.stx_dev_minor;
		s->have_conn = true;
	}
	*out = s;
	return 0;
fail:
	fuse_stub_stop(s);
	return err;
}
