/* SPDX-License-Identifier: MIT */
/*
 * confine.h - the daemon's own seccomp allow-list, the fourth layer of
 * defence: once start-up is over, saferringd can make only the system
 * calls its event loop, sessions and rings need.
 *
 * Must be installed only after everything that needs more (reading the
 * config, binding the socket, detaching, probing io_uring) is done, and
 * must never be loosened to make a test pass without saying why in
 * confine.c.
 */
#ifndef SAFERRINGD_CONFINE_H
#define SAFERRINGD_CONFINE_H

/* Install the filter on every thread of the process (TSYNC).  Sets
 * no_new_privs.  Returns the number of system calls the filter allows
 * (> 0), or -errno: -EOPNOTSUPP when this process may not use seccomp(2)
 * itself (a systemd unit's SystemCallFilter= without "seccomp"), so that
 * the filter cannot cover every thread. */
int confine_install(void);
/* What a forbidden call does under the installed filter, in words for
 * the log ("kills the process", or SIGSYS where the kernel lacks the
 * kill-process action). */
const char *confine_action(void);

#endif
