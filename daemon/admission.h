/* SPDX-License-Identifier: MIT */
/*
 * admission.h - which descriptors the daemon will do I/O on at all.
 *
 * The kernel decides many things when the I/O happens, not when the
 * descriptor was opened, and decides them for the task doing the I/O,
 * which is the daemon: which process's signals a signalfd dequeues, whose
 * credentials an AF_UNIX send carries, whose capabilities a procfs write
 * is checked against, whether a read may sleep in the submitting thread
 * (FUSE, network filesystems).  So a descriptor is admitted only when
 * its I/O means the same whoever does it and cannot stall the thread
 * that serves other sessions: regular files on local filesystems (see
 * fs_table.h), pipes and FIFOs, and TCP or UDP sockets over IPv4 or IPv6.
 * Everything else is refused with a reason; a policy may widen the set
 * only by filesystems whose fault is being slow (FS_REMOTE), and those
 * are then always run on io_uring's workers.
 *
 * Classifying must not itself block on what it inspects: the file type
 * comes from statx(AT_STATX_DONT_SYNC), which a FUSE or NFS server never
 * sees; only regular files are asked their filesystem (fstatfs), which on
 * FUSE reaches the server only for mounts the daemon's user may access
 * (allow_other), and on a network filesystem asks the server.
 *
 * Knows nothing of sessions, rings or protobuf; never keeps the
 * descriptor.
 */
#ifndef SAFERRINGD_ADMISSION_H
#define SAFERRINGD_ADMISSION_H

#include <stdint.h>

/* What is kept with an admitted descriptor's handle. */
#define ADMIT_REGULAR 0x01U   /* a regular file: RLIMIT_FSIZE applies */
#define ADMIT_MAY_BLOCK 0x02U /* may hold the submitter: always async */
#define ADMIT_APPEND 0x04U    /* opened O_APPEND: writes land at EOF */

struct admission {
	uint8_t attrs;    /* ADMIT_* */
	char what[160];    /* "ext4 file", "TCP/IPv6 socket": for logs; or,
			   * when refused, why */
};

/*
 * Classify @fd.  @allowed_fs: bit (1 << enum fs_id) for each FS_REMOTE
 * filesystem the session's policy admits.  0 and out->attrs when
 * admitted; -EPERM when refused (out->what says why, in words fit for
 * the client); -errno when the descriptor cannot be inspected at all.
 */
int admission_check(int fd, uint64_t allowed_fs, struct admission *out);

#endif
