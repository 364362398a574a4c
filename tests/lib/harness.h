/* SPDX-License-Identifier: MIT */
/*
 * harness.h - shared machinery of the end-to-end tests.
 *
 * Starts a real saferringd on a socket in a fresh temporary directory,
 * stops it (and fails when it crashed or did not exit 0 on SIGTERM),
 * measures it (open descriptors, RSS), and speaks the wire protocol by
 * hand ("raw client", rc_*) so that tests can send what libsaferring never
 * would: forged generations, bad handles, garbage, stray descriptors.
 *
 * Every wait here is bounded; a test that would wait longer fails instead
 * of hanging, and hd_watchdog() ends a whole program that overruns.
 */
#ifndef SAFERRING_TEST_HARNESS_H
#define SAFERRING_TEST_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "batch.h"
#include "op.h"
#include "ring_layout.h"
#include "saferring.h"
#include "saferring.pb-c.h"
#include "wire.h"

/* cmocka compares integers; slots and handles are structs (saferring.h),
 * so these compare their indices, and name the field that differed. */
#define assert_slot_equal(a, b) \
	assert_int_equal(sr_slot_index(a), sr_slot_index(b))
#define assert_handle_equal(a, b) \
	assert_int_equal(sr_handle_index(a), sr_handle_index(b))

/* Longest any single wait of the harness lasts before the test fails:
 * 5 s, times $SAFERRING_TIMEOUT_SCALE (an integer, default 1) for a
 * daemon slowed down on purpose (valgrind). */
#define HD_TIMEOUT_MS (hd_timeout_ms())
int hd_timeout_ms(void);
/* $SAFERRING_TIMEOUT_SCALE, at least 1; hd_watchdog() applies it too. */
unsigned hd_timeout_scale(void);

/* ------------------------------------------------------------------ */
/* The daemon under test. */

struct hd_daemon {
	pid_t pid;          /* -1 once reaped */
	int status;         /* wait status once reaped */
	bool reaped;
	char dir[64];       /* temporary directory, removed by hd_stop */
	char sock[128];     /* its socket */
	char log[128];      /* its stderr */
};

/* The daemon every test program runs against (see hd_run). */
extern struct hd_daemon hd;

/* Ends the program with a message (exit 1, daemon killed) after @seconds. */
void hd_watchdog(unsigned seconds);
/* Start saferringd (env SAFERRINGD or ../sbin/saferringd next to this
 * program) and wait until it accepts connections.  Exits 77 with a reason
 * when the daemon reports that it cannot create an io_uring here, 1 on any
 * other start-up failure. */
void hd_start(struct hd_daemon *d);
/* The same with @config as the daemon's policy file (NULL: the built-in
 * values, written out, so that no /etc/saferring file affects a test). */
void hd_start_config(struct hd_daemon *d, const char *config);
/* SIGTERM, wait (bounded), SIGKILL if needed.  0 when the daemon was still
 * running and exited 0; -1 (with a message and its log) otherwise. */
int hd_stop(struct hd_daemon *d);
/* For a test's teardown: kill and reap the daemon if the test left it
 * running (printing its log tail), then remove its files. */
void hd_discard(struct hd_daemon *d);
bool hd_alive(struct hd_daemon *d);
/* Replace the daemon's policy file (atomically; NULL: the defaults). */
void hd_write_config(const struct hd_daemon *d, const char *config);
/* cmocka failure (with the daemon's log) unless it is still running. */
void hd_assert_alive(struct hd_daemon *d);
void hd_print_log_tail(const struct hd_daemon *d, int lines);
/* Wait (bounded by @timeout_ms) until the daemon's log contains @text.
 * Whether it did. */
bool hd_wait_log(const struct hd_daemon *d, const char *text, int timeout_ms);

/* Start the daemon, run @tests (watchdog @seconds), stop the daemon.
 * Returns the process exit status: 0 only if every test passed and the
 * daemon survived and exited cleanly. */
int hd_run_tests(const char *name, const struct CMUnitTest *tests, size_t n,
		 unsigned seconds);
#define HD_RUN(tests, seconds) \
	hd_run_tests(#tests, tests, sizeof(tests) / sizeof((tests)[0]), seconds)

/* prlimit(2) on the daemon: from a child that takes the daemon's uid and
 * gid, since the daemon (started as root) has dropped to its own user and
 * only that user, or CAP_SYS_RESOURCE, may change its limits.  0 or
 * -errno. */
int hd_prlimit(const struct hd_daemon *d, int resource,
	       const struct rlimit *lim);

/* Open descriptors of @pid (-errno on failure). */
int hd_fd_count(pid_t pid);
/* Poll until @pid has @want descriptors or @timeout_ms passed; returns
 * the last count seen. */
int hd_wait_fd_count(pid_t pid, int want, int timeout_ms);
/* Poll until the count stays the same for 200 ms (bounded); returns it. */
int hd_settled_fd_count(pid_t pid);
/* VmRSS of @pid in KiB (-errno on failure). */
long hd_rss_kib(pid_t pid);
/* How much the daemon's RSS may grow in a test: @kib; under
 * AddressSanitizer (and ThreadSanitizer, whose shadow grows) four times
 * that plus its quarantine (256 MiB of freed memory kept a while;
 * LeakSanitizer finds leaks there); under valgrind @kib plus 64 MiB (its
 * freed-block queue holds 20 MB, shadowed). */
long hd_rss_allowance_kib(pid_t pid, long kib);
/* Poll (bounded) until VmRSS < @limit_kib: a session's descriptors go a
 * moment before its arena is unmapped.  Returns the last value seen. */
long hd_wait_rss_below(pid_t pid, long limit_kib, int timeout_ms);

uint64_t hd_now_ns(void);
void hd_sleep_ms(int ms);

/* The group whose members may connect to the daemon's socket (mode 0660;
 * [daemon] socket_group, whose default this is). */
#define HD_SOCKET_GROUP "saferring"
/* In a test child: become @uid/@gid, a member of HD_SOCKET_GROUP and of
 * nothing else, so that it may connect as an unprivileged client would.
 * 0 or -errno. */
int hd_become(uid_t uid, gid_t gid);

/* A path inside the daemon's temporary directory. */
void hd_path(const struct hd_daemon *d, const char *name, char *buf,
	     size_t len);
/* Create (truncate) a file there, O_RDWR|O_CLOEXEC, @size bytes of the
 * pattern for @seed.  Asserts success. */
int hd_make_file(const struct hd_daemon *d, const char *name, size_t size,
		 uint32_t seed);
/* Deterministic byte pattern; @pos is the absolute position. */
void hd_pattern(void *buf, size_t len, uint64_t pos, uint32_t seed);
bool hd_pattern_ok(const void *buf, size_t len, uint64_t pos, uint32_t seed);

/* Through libsaferring on a fresh connection: register a file, write a
 * slot, read it back into another, compare (and compare with the file's
 * real content).  Asserts every step. */
void hd_honest_roundtrip(const struct hd_daemon *d);
/* Fails the test unless @c runs on the backend $SAFERRING_BACKEND names
 * (when it names one): a matrix run that silently fell back to another
 * backend would test nothing new. */
struct sr_client;
void hd_check_backend(const struct sr_client *c);
/* hd_assert_alive + hd_honest_roundtrip. */
void hd_check_service(struct hd_daemon *d);

/* ------------------------------------------------------------------ */
/* Raw protocol client. */

struct rc_handle {
	uint32_t index;
	uint32_t generation;
};

/* A completion as the daemon sent it. */
struct rc_cqe {
	uint64_t tag;
	uint32_t status;
	int32_t result;
	uint32_t flags;
	bool has_slot;
	uint32_t slot_index;
	uint32_t slot_generation;
};

/* One operation in wire form; the test may change any field afterwards
 * (set op.fd/op.slot to NULL, set has_flags, ...). */
struct rc_op {
	Saferring__Op op;
	Saferring__FdHandle fd;
	Saferring__SlotRef slot;
};

/* Protocol v2: the rings of a raw client (rc_hello_rings).  Everything
 * here is the test's to corrupt: a hostile test writes records, tails
 * and heads directly. */
struct rc_rings {
	bool on;
	int memfd;                /* the arena memfd, rings included */
	int sq_efd;               /* the daemon's doorbell: we write it */
	int cq_efd;               /* ours: the daemon writes it */
	unsigned char *map;       /* the whole memfd, mapped shared */
	size_t map_size;          /* offset + 256 + sq_bytes + cq_bytes */
	uint64_t offset;          /* of the control block */
	uint32_t sq_bytes, cq_bytes, max_record;
	struct sr_ring_ctl *ctl;
	unsigned char *sq, *cq;   /* the two rings' data */
	uint32_t sq_pos;          /* where our next record goes (our tail) */
	uint32_t cq_pos;          /* what we consumed (our head) */
	bool hold_cq;             /* take completions, never free their room */
	struct batch_op_encoder *enc;
	unsigned char *rec;       /* one record, max_record bytes */
	struct op_completion *comps;
	uint64_t completions;     /* taken from the completion ring so far */
};

struct rc {
	int sock;
	uint32_t seq;
	bool welcomed;
	bool eof;
	/* From the Welcome. */
	uint64_t session_id;
	uint32_t slot_count, slot_size, slot_generation;
	uint32_t max_fds, max_in_flight, max_batch;
	uint64_t allowed_ops;     /* 0 when the Welcome did not say */
	uint32_t max_errors;      /* 0 when the Welcome did not say */
	bool has_max_file_size;   /* the client's RLIMIT_FSIZE applies */
	uint64_t max_file_size;
	unsigned char *arena;
	size_t arena_size;
	uint32_t *gen;            /* each slot's current generation */
	/* Completions received while waiting for something else. */
	struct rc_cqe *cq;
	size_t cq_len, cq_cap;
	unsigned char *rx;
	unsigned char *unpack_buf;
	struct wire_arena unpack;
	/* The message of the last Error reply rc_register() got. */
	char last_error[256];
	struct rc_rings ring;
	/* Sent as Hello.cpu by rc_hello when has_hello_cpu (set it between
	 * rc_connect and rc_hello). */
	bool has_hello_cpu;
	uint32_t hello_cpu;
};

/* Connect only (no Hello). */
struct rc *rc_connect(const char *path);
/* Send Hello{1, count?, size?} (0 = absent) and take the Welcome: maps
 * the arena, sets up generation tracking.  Asserts success. */
void rc_hello(struct rc *c, uint32_t slot_count, uint32_t slot_size);
/* The same, keeping the arena memfd the Welcome carried: returned, the
 * caller closes it. */
int rc_hello_memfd(struct rc *c, uint32_t slot_count, uint32_t slot_size);
/* rc_connect + rc_hello(0, 0). */
struct rc *rc_open(const char *path);
void rc_close(struct rc *c);
void *rc_slot(struct rc *c, uint32_t index);

/* Send bytes as one datagram with @nfds descriptors (waits for room,
 * bounded).  0 or -errno (-ETIMEDOUT, -EPIPE, ...). */
int rc_send_raw(struct rc *c, const void *buf, size_t len, const int *fds,
		unsigned nfds);
/* Pack and send; no size limit is applied here. */
int rc_send_request(struct rc *c, Saferring__Request *req, const int *fds,
		    unsigned nfds);
uint32_t rc_next_seq(struct rc *c);

/* "Welcome", "Error", ...: what @r is, for messages. */
const char *rc_body_name(const Saferring__Reply *r);
/* Receive one reply within @timeout_ms.  1: *out valid until the next
 * receive; 0: end of file; -ETIMEDOUT or -errno.  A received descriptor
 * goes to *fd (which must be non-NULL to accept one).  Fails the test on
 * a reply that does not decode or a completion that breaks the protocol's
 * rules (refusal without matching errno, slot fields on a refusal). */
int rc_recv(struct rc *c, int timeout_ms, Saferring__Reply **out, int *fd);
/* Next reply that is not Completions (those are queued); fails on EOF or
 * timeout. */
Saferring__Reply *rc_recv_control(struct rc *c, int *fd);
/* Next control reply must be Error{@status} with the given seq. */
void rc_expect_error(struct rc *c, bool has_seq, uint32_t seq,
		     uint32_t status);
/* The daemon must close the connection within the timeout; completions
 * before that are queued, anything else fails. */
void rc_expect_eof(struct rc *c, int timeout_ms);
/* The session reached max_errors: the daemon must say so (Error{QUOTA},
 * no seq, naming max_errors), then close the connection. */
void rc_expect_error_limit(struct rc *c, int timeout_ms);
/* Nothing may arrive within @ms (and nothing is queued). */
void rc_expect_quiet(struct rc *c, int ms);
/* Ask the daemon's figures with every session's line (no Hello needed);
 * the answer, valid until @c's next receive or close.  Fails the test
 * when none comes within @timeout_ms. */
const Saferring__Stats *rc_stats(struct rc *c, int timeout_ms);
/* Wait (bounded by @timeout_ms) until @n completions are there; move them
 * to @out.  Fails on timeout, EOF or a non-completion reply. */
void rc_wait_cqes(struct rc *c, size_t n, struct rc_cqe *out, int timeout_ms);
const struct rc_cqe *rc_find_cqe(const struct rc_cqe *v, size_t n,
				 uint64_t tag);

void rc_op_nop(struct rc_op *o, uint64_t tag);
void rc_op_rw(struct rc_op *o, uint64_t tag, uint32_t opcode,
	      struct rc_handle h, uint32_t slot, uint32_t generation,
	      uint32_t offset, uint32_t length, uint64_t file_offset);
void rc_op_fsync(struct rc_op *o, uint64_t tag, struct rc_handle h,
		 uint32_t flags);
/* Send ops[0..n) as one Submit (no seq) with @nfds descriptors. */
int rc_submit_fds(struct rc *c, struct rc_op *ops, size_t n, const int *fds,
		  unsigned nfds);
/* Same without descriptors; asserts the send worked. */
void rc_submit(struct rc *c, struct rc_op *ops, size_t n);
/* Submit and wait for one completion per op, returned in @out. */
void rc_run(struct rc *c, struct rc_op *ops, size_t n, struct rc_cqe *out);

/* RegisterFd with @nfds descriptors: returns 0 and sets *h, or the status
 * of the Error reply. */
uint32_t rc_register(struct rc *c, const int *fds, unsigned nfds,
		     struct rc_handle *h);
struct rc_handle rc_register_fd(struct rc *c, int fd);
/* 0 on FdUnregistered, else the Error's status. */
uint32_t rc_unregister(struct rc *c, struct rc_handle h);

/* ------------------------------------------------------------------ */
/* Raw ring client (protocol v2, PROTOCOL.md "Rings"). */

/* Hello{rings = true}: asserts a Welcome with a RingLayout and three
 * descriptors (memfd, the daemon's doorbell, ours), a sealed memfd of
 * offset + 256 + sq_bytes + cq_bytes bytes with a zeroed control block,
 * and maps all of it (c->arena is its start, the slots). */
void rc_hello_rings(struct rc *c, uint32_t slot_count, uint32_t slot_size);
/* rc_connect + rc_hello_rings(count, size). */
struct rc *rc_open_rings(const char *path, uint32_t slot_count,
			 uint32_t slot_size);
/* Copy @len bytes into the submission ring at index @pos (wrapping
 * byte by byte: no record rules applied). */
void rc_ring_write(struct rc *c, uint32_t pos, const void *buf, size_t len);
/* An honest producer: a PAD record first when the record would not fit
 * before the end, then the record at c->ring.sq_pos, zero-padded; moves
 * sq_pos, publishes nothing.  Fails the test when the ring has no room.
 * Returns the index the record starts at. */
uint32_t rc_ring_put(struct rc *c, uint32_t kind, const void *payload,
		     uint32_t len);
/* Whether rc_ring_put of @len bytes would find room now. */
bool rc_ring_room(struct rc *c, uint32_t len);
/* A header of any @len and @kind at c->ring.sq_pos, @payload_len bytes
 * of @payload after it, then sq_pos moves by @advance. */
void rc_ring_put_raw(struct rc *c, uint32_t len, uint32_t kind,
		     const void *payload, uint32_t payload_len,
		     uint32_t advance);
/* Store sq_tail = sq_pos (release), full fence, ring the daemon's
 * doorbell if its flags say it sleeps. */
void rc_ring_publish(struct rc *c);
/* The same without the doorbell (the daemon may sleep through it). */
void rc_ring_publish_quiet(struct rc *c);
/* Any sq_tail at all, no doorbell. */
void rc_ring_set_tail(struct rc *c, uint32_t tail);
/* Write 1 to the daemon's doorbell, whatever its flags say. */
void rc_ring_bell(struct rc *c);
/* Encode @ops as an OpBatch record, put it, publish (with doorbell). */
void rc_ring_submit(struct rc *c, const struct op_request *ops, size_t n);
/* Take every published completion record into the completion queue
 * (checking each completion as rc_recv does), free their room unless
 * hold_cq, and ring the doorbell if the daemon waits for room.  Fails the
 * test on a record that breaks the protocol.  Returns completions taken. */
size_t rc_ring_reap(struct rc *c);
/* Wait (bounded) until @n completions came through the completion ring;
 * move them to @out (may be NULL).  Fails on an Error or EOF on the
 * socket, or on timeout. */
void rc_ring_wait_cqes(struct rc *c, size_t n, struct rc_cqe *out,
		       int timeout_ms);
/* The daemon ends the session for a corrupt ring: Error{PROTOCOL} (no
 * seq), then the end of the connection (completions on the ring are
 * not looked at). */
void rc_ring_expect_corrupt(struct rc *c, int timeout_ms);

/* Operations in decoded form, for rc_ring_submit. */
void rc_req_nop(struct op_request *o, uint64_t tag);
void rc_req_rw(struct op_request *o, uint64_t tag, uint32_t opcode,
	       struct rc_handle h, uint32_t slot, uint32_t generation,
	       uint32_t offset, uint32_t length, uint64_t file_offset);

#endif
