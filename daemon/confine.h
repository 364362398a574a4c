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

/* Install the filter on the calling (only) thread.  Sets no_new_privs.
 * Returns the number of system calls the filter allows (> 0), or -errno. */
int confine_install(void);

#endif
