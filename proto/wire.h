/* SPDX-License-Identifier: MIT */
/*
 * wire.h - datagram transport and bounded decoding shared by saferringd and
 * libsaferring.
 *
 * One SOCK_SEQPACKET datagram carries one protobuf message and at most a
 * few SCM_RIGHTS descriptors.  This module moves datagrams and descriptors
 * and gives protobuf-c a bump allocator over a fixed buffer, so that no
 * message can make either side allocate without limit.  It must never
 * interpret a message: what a datagram means is the caller's business.
 */
#ifndef SAFERRING_WIRE_H
#define SAFERRING_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <protobuf-c/protobuf-c.h>

/* Largest datagram either side sends or accepts.  A longer one is
 * truncated by the kernel and reported as such. */
#define WIRE_MAX_DATAGRAM (64 * 1024)
/* Largest number of operations in one Submit, completions in one reply. */
#define WIRE_MAX_BATCH 256
/* Descriptors one datagram may carry (a v2 Welcome: the arena and two
 * doorbells); room is made for one more so that an extra descriptor is
 * seen (and closed), not silently dropped. */
#define WIRE_MAX_FDS 3

/* Bump allocator for protobuf_c_message_unpack: allocations come from
 * @buf until it is used up, then fail (and the unpack fails cleanly).
 * Frees are no-ops; wire_arena_reset() reclaims everything at once. */
struct wire_arena {
	ProtobufCAllocator allocator;
	unsigned char *base;
	size_t size;
	size_t used;
};

void wire_arena_init(struct wire_arena *a, void *buf, size_t size);
void wire_arena_reset(struct wire_arena *a);

struct wire_msg {
	size_t len;                  /* bytes received */
	int fds[WIRE_MAX_FDS + 1];   /* descriptors received, caller owns */
	unsigned nfds;
	bool truncated;              /* datagram was longer than the buffer */
	bool fds_truncated;          /* more descriptors than room: dropped */
};

/* Receive one datagram.  Returns 1 when a datagram arrived, 0 on orderly
 * shutdown by the peer, -EAGAIN when none is waiting on a non-blocking
 * socket, or another -errno.  Received descriptors are close-on-exec. */
int wire_recv(int sock, void *buf, size_t cap, struct wire_msg *m);

/* Close every descriptor in @m and forget them. */
void wire_msg_close_fds(struct wire_msg *m);

/* Send one datagram, with @fd as SCM_RIGHTS when it is >= 0.  Never
 * blocks on a non-blocking socket (-EAGAIN) and never raises SIGPIPE. */
int wire_send(int sock, const void *buf, size_t len, int fd);
/* The same with @nfds (at most WIRE_MAX_FDS) descriptors. */
int wire_send_fds(int sock, const void *buf, size_t len, const int *fds,
		  unsigned nfds);

/* Pack @msg into @buf (@cap bytes) and send it as one datagram.
 * -EMSGSIZE if it would exceed @cap or WIRE_MAX_DATAGRAM.  The buffer is
 * the caller's (libsaferring's is in its client struct) so that this
 * module keeps no global or thread-local state: a library must not cost
 * every thread of its host 64 KiB of TLS. */
int wire_send_message(int sock, const ProtobufCMessage *msg, int fd,
		      void *buf, size_t cap);

#endif
