/* SPDX-License-Identifier: MIT */
/*
 * session.h - one client's session: decodes its requests, validates each
 * operation against daemon-private state (slot table, fd registry,
 * quotas), hands accepted ones to the ring driver, and sends replies and
 * completions back in batches.
 *
 * A session never blocks: its socket is non-blocking, and when the client
 * stops reading, the session stops taking requests (backpressure) instead
 * of queueing without bound.  Everything it queues is bounded by
 * max_in_flight + slot_count + max_fds + 2 * WIRE_MAX_BATCH completions
 * (multishot operations complete many times, but each interim completion
 * holds a pooled slot or an accepted handle) and one unsent datagram.
 *
 * It must never free its arena, files or ring while the kernel may still
 * use them: session_close() cancels, and the session may only be freed
 * once session_drained() says every completion came back.
 */
#ifndef SAFERRINGD_SESSION_H
#define SAFERRINGD_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "policy.h"
#include "saferring.h"

struct session;

/* Takes ownership of @sock (non-blocking).  NULL when out of memory. */
struct session *session_new(uint64_t id, int sock, const struct ucred *peer,
			    const struct policy *policy);
/* Only once session_drained(). */
void session_free(struct session *s);

/* Event handlers; each does a bounded amount of work. */
void session_on_readable(struct session *s);
void session_on_writable(struct session *s);
void session_on_ring(struct session *s);

/* Answer this session's Hello with @status and end it: for refusals
 * decided at accept time (e.g. too many sessions for the uid), delivered
 * where the client waits for an answer.  @why must be a static string. */
void session_deny(struct session *s, enum sr_status status, const char *why);

/* Stop serving: close the socket, cancel what is in flight.  Idempotent. */
void session_close(struct session *s, const char *reason);

uint64_t session_id(const struct session *s);
int session_sock(const struct session *s);    /* -1 once closed */
int session_ring_fd(const struct session *s); /* -1 before Hello */
bool session_wants_read(const struct session *s);
bool session_wants_write(const struct session *s);
bool session_drained(const struct session *s);

#endif
