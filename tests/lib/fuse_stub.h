/* SPDX-License-Identifier: MIT */
/*
 * fuse_stub.h - a tiny FUSE filesystem for the end-to-end tests.
 *
 * Speaks the raw /dev/fuse protocol (no libfuse) from a forked child and
 * serves a read-only root directory with two regular files:
 *
 *   data  FUSE_STUB_DATA_SIZE bytes of fuse_stub_data_byte(), read normally;
 *   hang  FUSE_STUB_HANG_SIZE bytes, opened with FOPEN_DIRECT_IO, whose
 *         READ requests are never answered (INTERRUPT is ignored too), so
 *         that a reader sits in the kernel until fuse_stub_stop() aborts
 *         the connection.
 *
 * This is how the tests reproduce a FUSE file that blocks io_uring_enter()
 * inline and check that saferringd refuses it or survives it.  Needs root.
 *
 * Must never be used outside the tests, and must never leave a mount or a
 * process behind once fuse_stub_stop() returned.
 */
#ifndef SAFERRING_TEST_FUSE_STUB_H
#define SAFERRING_TEST_FUSE_STUB_H

#include <stdint.h>

#define FUSE_STUB_DATA_SIZE (64U * 1024)
#define FUSE_STUB_HANG_SIZE (64U * 1024)

struct fuse_stub;

/* Mount the stub at @mountpoint (an existing empty directory) and serve
 * it from a child process; returns once the kernel's INIT was answered.
 * 0 and *out, or -errno: -ENODEV/-ENOENT (no FUSE here), -EACCES/-EPERM
 * (not root), -ETIMEDOUT (the child never answered INIT).  Should the
 * test die without fuse_stub_stop(), the child dies with it and the mount
 * stays behind, dead (ENOTCONN), until someone unmounts it. */
int fuse_stub_start(const char *mountpoint, struct fuse_stub **out);

/* How many READs of "hang" the server has received and is holding. */
int fuse_stub_hung_reads(const struct fuse_stub *s);

/* Abort the connection (every pending request, held READs included,
 * fails, typically with -ECONNABORTED), kill and reap the child, detach
 * the mount, free @s.  Never blocks on the filesystem.  NULL is a no-op. */
void fuse_stub_stop(struct fuse_stub *s);

/* Byte @pos of "data". */
uint8_t fuse_stub_data_byte(uint64_t pos);

#endif
