/* SPDX-License-Identifier: MIT */
/*
 * wire.c - see wire.h.  Must never trust a length or descriptor count the
 * peer controls: every size used here is bounded by the caller's buffers.
 */
#include "wire.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void *wire_arena_alloc(void *data, size_t size)
{
	struct wire_arena *a = data;
	/* Keep every allocation aligned for any scalar protobuf-c stores. */
	size_t aligned = (size + 15) & ~(size_t)15;

	if (aligned < size || aligned > a->size - a->used)
		return NULL;
	void *p = a->base + a->used;
	a->used += aligned;
	return p;
}

static void wire_arena_free(void *data, void *ptr)
{
	(void)data;
	(void)ptr;
}

void wire_arena_init(struct wire_arena *a, void *buf, size_t size)
{
	uintptr_t start = ((uintptr_t)buf + 15) & ~(uintptr_t)15;
	size_t skip = start - (uintptr_t)buf;

	a->allocator.alloc = wire_arena_alloc;
	a->allocator.free = wire_arena_free;
	a->allocator.allocator_data = a;
	a->base = (unsigned char *)start;
	a->size = size > skip ? size - skip : 0;
	a->used = 0;
}

void wire_arena_reset(struct wire_arena *a)
{
	a->used = 0;
}

int wire_recv(int sock, void *buf, size_t cap, struct wire_msg *m)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * (WIRE_MAX_FDS + 1))];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};

	memset(m, 0, sizeof(*m));
	ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm;
	     cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t payload = cm->cmsg_len - CMSG_LEN(0);
		unsigned count = payload / sizeof(int);
		for (unsigned i = 0; i < count; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			if (m->nfds < WIRE_MAX_FDS + 1)
				m->fds[m->nfds++] = fd;
			else
				close(fd);
		}
	}
	m->len = (size_t)n;
	m->truncated = (mh.msg_flags & MSG_TRUNC) != 0;
	m->fds_truncated = (mh.msg_flags & MSG_CTRUNC) != 0;
	/* SEQPACKET: a zero-length read with no descriptors is end of file. */
	if (n == 0 && m->nfds == 0 && !m->truncated)
		return 0;
	return 1;
}

void wire_msg_close_fds(struct wire_msg *m)
{
	for (unsigned i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	m->nfds = 0;
}

int wire_send_fds(int sock, const void *buf, size_t len, const int *fds,
		  unsigned nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * WIRE_MAX_FDS)];
	} control;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds > WIRE_MAX_FDS)
		return -EINVAL;
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
	ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return 0;
}

int wire_send(int sock, const void *buf, size_t len, int fd)
{
	return wire_send_fds(sock, buf, len, &fd, fd >= 0 ? 1 : 0);
}

int wire_send_message(int sock, const ProtobufCMessage *msg, int fd,
		      void *buf, size_t cap)
{
	size_t len = protobuf_c_message_get_packed_size(msg);

	if (len > cap || len > WIRE_MAX_DATAGRAM)
		return -EMSGSIZE;
	protobuf_c_message_pack(msg, buf);
	return wire_send(sock, buf, len, fd);
}
