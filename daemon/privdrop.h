/* SPDX-License-Identifier: MIT */
/*
 * privdrop.h - the daemon gives up root and every capability before it
 * serves anyone.  Every operation it runs for a client is checked by the
 * kernel against the daemon's own identity (CAP_FSETID on writes to
 * setuid files, CAP_SYS_RESOURCE, procfs owner checks, ...), so the
 * daemon must be nobody in particular: its own user, no capabilities,
 * no way back.
 *
 * Must never return success unless the drop is complete and cannot be
 * undone: the caller exits on any failure.
 */
#ifndef SAFERRINGD_PRIVDROP_H
#define SAFERRINGD_PRIVDROP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Started as root: become @uid/@gid with no supplementary groups, in
 * this order: drop the capability bounding set (which needs CAP_SETPCAP,
 * so it goes first), setgroups, setresgid, setresuid (which empties the
 * permitted and effective sets, but for @keep), clear the inheritable
 * and ambient sets, PR_SET_NO_NEW_PRIVS; then check that nothing but
 * @keep is left and that setuid(0) fails.  Started as another user: only
 * the capability steps and no_new_privs (@uid/@gid are ignored).
 *
 * @keep is a set of capabilities (bit 1 << CAP_*) to hold on to, 0 for
 * none: CAP_IPC_LOCK only, when RLIMIT_MEMLOCK cannot be raised to
 * cover the pinned arenas (see main.c).  The calling thread's set; call
 * before starting any thread.  0, or -errno with *step naming what
 * failed.
 */
int privdrop(uid_t uid, gid_t gid, uint64_t keep, const char **step);

/* The capabilities the calling thread holds (effective), bit 1 << CAP_*. */
uint64_t privdrop_effective(void);

#endif
