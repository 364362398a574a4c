/* SPDX-License-Identifier: MIT */
/*
 * peer.h - who is at the other end of a new connection: the credentials
 * the kernel recorded when it connected (SO_PEERCRED), and the resource
 * limits of that process which the daemon must apply on its behalf,
 * because the kernel checks them against the task doing the I/O.  Today
 * that is RLIMIT_FSIZE.
 *
 * The limits are read from /proc/PID/limits of the process that
 * connected, which is pinned by a pidfd (SO_PEERPIDFD) for the time of
 * the read: a process that exited, and whose pid was taken by another,
 * is never mistaken for it (a connecting process that has exited by the
 * time it is accepted is refused).
 *
 * Must never trust anything the client says about itself: only what the
 * kernel reports.
 */
#ifndef SAFERRINGD_PEER_H
#define SAFERRINGD_PEER_H

#include <stdint.h>
#include <sys/socket.h>

/* The limits of @cred's process (the peer of @sock, per SO_PEERCRED):
 * *file_size_limit is its RLIMIT_FSIZE, UINT64_MAX when unlimited.  0,
 * or -errno: -ESRCH when the connecting process is gone (its limits
 * cannot be known), or what reading them failed with. */
int peer_read_limits(int sock, const struct ucred *cred,
		     uint64_t *file_size_limit);

/* Parse the "Max file size" soft limit out of @len bytes of a
 * /proc/PID/limits text: 0 and *out, or -EINVAL. */
int peer_parse_fsize(const char *text, size_t len, uint64_t *out);

#endif
