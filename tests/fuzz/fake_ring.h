/* SPDX-License-Identifier: MIT */
/*
 * fake_ring.h - test-only controls of tests/fuzz/fake_ring.c, a
 * deterministic stand-in for daemon/ring.c that lets the session fuzzer
 * drive daemon/session.c without a kernel.
 *
 * The fake implements every function of daemon/ring.h.  It completes
 * "fast" operations (NOP, READ, WRITE, FSYNC, ...) when the session reaps,
 * keeps "slow" ones (receives, accepts, polls, timeouts) pending until
 * fake_ring_kick() or a cancel, follows IOSQE_IO_LINK / IO_HARDLINK
 * semantics, and hands out receive-pool buffers for multishot receives.
 *
 * It checks what the kernel would rely on and aborts (a fuzzer crash) when
 * the session breaks it: every buffer, iovec, msghdr, address and
 * timespec handed over lies inside registered memory or is well formed,
 * every file an operation names is installed, chains are never split
 * across submissions, and the ring is never torn down with operations in
 * flight.  It must never complete an operation twice or invent user_data
 * the session did not queue.
 */
#ifndef SAFERRING_FAKE_RING_H
#define SAFERRING_FAKE_RING_H

#include <stdbool.h>

/* Complete every pending slow operation once (a multishot one produces
 * one more completion, or its last). */
void fake_ring_kick(void);
/* Operations the session queued or the kernel holds (cancels excluded). */
unsigned fake_ring_pending(void);
/* Whether a ring is set up now. */
bool fake_ring_live(void);

#endif
