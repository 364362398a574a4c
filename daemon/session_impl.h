/* SPDX-License-Identifier: MIT */
/*
 * session_impl.h - what the parts of a session share, and nothing else
 * may see: session.c (the transport-independent core: set-up,
 * validation, chains, records, the kernel's completions, the queue of
 * completions to send), session_socket.c (the socket: control requests,
 * v1 Submit and Completions, replies) and session_rings.c (protocol
 * v2's shared-memory rings).
 *
 * Must never be included outside daemon/session*.c.
 */
#ifndef SAFERRINGD_SESSION_IMPL_H
#define SAFERRINGD_SESSION_IMPL_H

#include <linux/time_types.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "arena.h"
#include "batch.h"
#include "fd_registry.h"
#include "offload.h"
#include "policy.h"
#include "ring.h"
#include "shm_ring.h"
#include "saferring.h"
#include "saferring.pb-c.h"
#include "session.h"
#include "slot_table.h"
#include "validator.h"
#include "wire.h"

#define NONE UINT32_MAX
/* Requests handled per readable event, so one client cannot starve the
 * others sharing the event loop. */
#define READS_PER_EVENT 32
/* protobuf-c allocations one request may make: enough to decode a 64 KiB
 * datagram of minimal operations (about 11000, some 200 bytes each
 * decoded, plus protobuf-c's scan slabs), so that an oversized batch is
 * answered TOO_LARGE, not MALFORMED.  Anything needing more fails to
 * decode. */
#define UNPACK_ARENA_BYTES (4 * 1024 * 1024)
/* Largest receive pool the kernel takes (buffer ids are 16 bits, ring
 * sizes powers of two below 65536). */
#define POOL_MAX_ENTRIES 32768U
/* Packed bytes one completion can take at most, without and per slot
 * handed back, and with an accepted handle (see session_flush). */
#define COMPLETION_MAX_BYTES 48U
#define SLOT_BACK_MAX_BYTES 16U
#define HANDLE_MAX_BYTES 16U
/* A submit slower than this means the kernel did I/O in the submitting
 * thread, which admission and IOSQE_ASYNC are there to prevent: logged. */
#define SLOW_SUBMIT_NS (20ULL * 1000 * 1000)
/* io_uring workers of the thread that serves sessions: file I/O that
 * missed the page cache, fsync, fallocate (bounded), and sockets that
 * must wait (unbounded, but most socket I/O is poll-driven and takes
 * none).  Sessions beyond that wait for a worker, they do not add one. */
#define SESSION_IOWQ_BOUNDED 16U
#define SESSION_IOWQ_UNBOUNDED 128U

/* Protocol v2 (session_rings.c): the largest record (what fits one v1
 * datagram fits one record), completions per record, and what
 * protobuf-c may allocate decoding one record (batch.h). */
#define RINGS_MAX_RECORD WIRE_MAX_DATAGRAM
#define RINGS_CQ_BATCH BATCH_MAX_OPS
#define RINGS_UNPACK_BYTES BATCH_UNPACK_BYTES(RINGS_MAX_RECORD)

enum session_phase {
	PHASE_HELLO,   /* waiting for Hello */
	PHASE_SETUP,   /* Hello taken; set-up runs on the offload thread */
	PHASE_READY,   /* serving */
	PHASE_CLOSING, /* socket gone; draining the ring */
};

/* Daemon-side record of an operation the kernel holds.  Its kernel
 * user_data is index | incarnation << 32, so a cancel aimed at a finished
 * operation can never hit the record's next user. */
struct op_record {
	uint64_t tag;
	uint32_t incarnation;
	uint32_t fd;           /* handle counted in flight, or NONE */
	uint32_t accept_index; /* single-shot ACCEPT's reserved entry, or NONE */
	uint8_t opcode;
	uint8_t nslots;
	bool live;
	bool multishot;
	bool vectored;         /* slots go back as Completion.slots */
	bool quota_stop;       /* multishot ACCEPT cancelled at the fd quota */
	uint32_t slots[VALIDATOR_MAX_IOV];
	/* What the kernel may read after submission. */
	struct iovec iov[VALIDATOR_MAX_IOV];
	struct msghdr msg;
	struct sockaddr_storage addr;
	struct __kernel_timespec ts;
};

/* A completion waiting to be sent.  The slots it names are COMPLETED and
 * its handle RESERVED until it is sent: they are the client's only then. */
struct pending_completion {
	uint64_t tag;
	uint32_t status;
	int32_t result;
	uint32_t flags;
	uint32_t handle; /* accepted socket's entry, or NONE */
	uint8_t nslots;
	bool vectored;
	uint32_t slots[VALIDATOR_MAX_IOV];
};

/* Protocol v2 (session_rings.c): the rings in the arena memfd and the
 * doorbells. */
struct session_rings {
	bool on;                 /* granted at Hello and set up */
	struct sr_ring_ctl *ctl; /* in the arena mapping: the client's too */
	struct shm_ring sq;      /* we take records from it */
	struct shm_ring cq;      /* we put records into it */
	uint64_t offset;         /* of ctl in the memfd */
	int sq_efd;              /* rung by the client; we wait on it */
	int cq_efd;              /* we ring it; the client waits on it */
	unsigned char *rec;      /* one record, copied out of the ring */
};

struct session {
	uint64_t id;
	int sock;
	struct ucred peer;
	uint64_t file_size_limit; /* the client's RLIMIT_FSIZE */
	struct policy policy;
	struct session_env *env;
	void *owner;
	enum session_phase phase;
	uint32_t errors;
	enum sr_status deny_status; /* OK unless session_deny() was called */
	const char *deny_reason;

	/* Set-up on the offload thread: while setup_busy, the rings, arena,
	 * ring, tables and queues below belong to that thread alone; the
	 * event loop does not even read them (whether the ring is live,
	 * whether the rings are on) until it has taken the job back. */
	struct offload_job setup_job;
	bool setup_busy;
	int setup_result;
	uint32_t setup_count, setup_size;
	int setup_node;  /* for the arena: numa_client_node() at Hello */
	int incoming_cpu; /* see session_peer */
	uint32_t hello_seq;
	uint64_t pinned; /* bytes of env->pinned this session holds */
	bool want_rings; /* the Hello asked for v2 */
	bool releasing;  /* setup_job unmaps the arena (session_free_begin) */
	struct session_rings rings;

	struct arena arena;
	struct ring_driver ring;
	struct slot_table slots;
	struct fd_registry fds;
	uint32_t pool_capacity; /* slots the receive pool can hold */

	struct op_record *ops; /* max_in_flight records */
	uint32_t *free_ops;    /* stack of free record indexes */
	uint32_t free_count;
	uint32_t in_flight;
	uint32_t queued;       /* SQEs queued since the last submit */

	struct pending_completion *out; /* ring buffer of out_cap */
	uint32_t out_cap, out_head, out_count;

	/* One datagram the socket would not take yet, with its descriptors. */
	unsigned char *stash;
	size_t stash_len;
	int stash_fds[WIRE_MAX_FDS];
	unsigned stash_nfds;

	bool shutting_down; /* session_shutdown(): close once all is sent */
	bool held;          /* session_hold(): a StatsRequest is open */
	/* Ends once the stash is sent (why, for the log), after saying so
	 * with an Error when end_reason_pending. */
	const char *end_after_flush;
	bool end_reason_pending;
	bool recancel;      /* an operation ended while cancelling */
	uint64_t ops_done, ops_refused;
	uint64_t bytes_read, bytes_written;
	uint64_t refusals[SR_STATUS__COUNT];
};


/* A completion, as a nested Completion of a v1 datagram. */
struct wire_completion {
	Saferring__Completion c;
	Saferring__SlotBack backs[OP_MAX_IOV];
	Saferring__SlotBack *back_ptrs[OP_MAX_IOV];
	Saferring__FdHandle handle;
};

/*
 * One thread's buffers (session_env.scratch), formerly file-scope
 * statics: every session of the thread uses them in turn, each only
 * within one call (nothing decoded or packed here outlives the event
 * that made it), so they need no lock as long as no two threads share
 * them.
 */
struct session_scratch {
	/* session_socket.c: one datagram in, one out, its decoding. */
	unsigned char recv_buf[WIRE_MAX_DATAGRAM];
	unsigned char send_buf[WIRE_MAX_DATAGRAM];
	struct wire_arena unpack;
	unsigned char unpack_buf[UNPACK_ARENA_BYTES] __attribute__((aligned(64)));
	/* One Submit's operations, parsed before any is validated. */
	struct op_request reqs[WIRE_MAX_BATCH];
	struct wire_completion comps[WIRE_MAX_BATCH];
	Saferring__Completion *comp_ptrs[WIRE_MAX_BATCH];
	/* session_rings.c: one record's decoding, one record out. */
	struct wire_arena ring_unpack;
	unsigned char ring_unpack_buf[RINGS_UNPACK_BYTES] __attribute__((aligned(64)));
	struct op_request ring_reqs[BATCH_MAX_OPS];
	struct op_completion ring_comps[RINGS_CQ_BATCH];
	struct batch_completion_encoder cq_encoder;
	unsigned char cq_buf[RINGS_MAX_RECORD];
};

/* ---- session.c: the core ------------------------------------------- */

/* Validate and start @n operations (chains whole), queueing a completion
 * for each one refused.  @reqs may be reused once this returns. */
void session_submit_ops(struct session *s, const struct op_request *reqs,
			size_t n);
/* Submit what is queued, take what completed, hand completions to the
 * transport. */
void session_progress(struct session *s);
/* The next completion to send, if any: its slots and handle are the
 * client's from now on (the caller sends it, or it is lost with the
 * session).  false when none is pending. */
bool session_pop_completion(struct session *s, struct op_completion *out);
/* Packed bytes the next pending completion takes at most in a nested
 * Completions datagram; 0 when none is pending. */
size_t session_next_completion_bound(const struct session *s);
void session_on_hello(struct session *s, uint32_t seq,
		      const Saferring__Hello *hello);
void session_on_register_fd(struct session *s, uint32_t seq,
			    struct wire_msg *m);
void session_on_unregister_fd(struct session *s, uint32_t seq,
			      const Saferring__UnregisterFd *req);
/* Stats of the whole daemon, by the server's handler; NULL when none. */
void session_ask_stats(struct session *s, uint32_t seq, bool with_sessions);
/* The session ends once everything queued is out (session_socket.c). */
void session_finish_shutdown(struct session *s);

/* Room in the completion queue for a whole batch besides everything that
 * may still complete (see session_wants_read). */
bool session_room_for_batch(const struct session *s);

/* ---- session_rings.c: protocol v2 ---------------------------------- */

/* Where the rings start in a memfd whose slots take @arena_bytes, and
 * how many bytes they take. */
uint64_t session_rings_offset(uint64_t arena_bytes);
uint64_t session_rings_area(void);
/* On the offload thread, the arena mapped: lay out the rings, make the
 * doorbells.  0 or -errno. */
int session_rings_setup(struct session *s, uint64_t offset);
void session_rings_free(struct session *s);
/* Fill the Welcome's RingLayout; @fds[0..2) get copies of the two
 * doorbells for the client.  0 or -errno. */
int session_rings_welcome(struct session *s, Saferring__RingLayout *l,
			  int *fds);
/* Take what the submission ring holds (while there is room); whether
 * anything was taken. */
bool session_rings_take(struct session *s);
/* Put pending completions into the completion ring and wake the client
 * if it sleeps. */
void session_rings_flush(struct session *s);
/* Ring the client's doorbell whatever its flag says. */
void session_rings_kick(struct session *s);
/* Enough operations queued to submit a chunk now. */
bool session_rings_want_chunk(const struct session *s);

/* ---- session_socket.c: the socket --------------------------------- */

/* Send one reply; @fd (>= 0) goes along and is owned by this call. */
void session_reply(struct session *s, bool has_seq, uint32_t seq,
		   Saferring__Reply *reply, int fd);
/* The same with @nfds descriptors, all owned by this call. */
void session_reply_fds(struct session *s, bool has_seq, uint32_t seq,
		       Saferring__Reply *reply, const int *fds, unsigned nfds);
/* Forget the unsent datagram and close its descriptors. */
void session_drop_stash(struct session *s);
/* Answer a request with an Error; a session that earns max_errors of
 * them is ended (saying so). */
void session_refuse(struct session *s, bool has_seq, uint32_t seq,
		    enum sr_status status, const char *why);
/* v1: pending completions as Completions datagrams, while the socket
 * takes them. */
void session_socket_flush(struct session *s);
void session_try_end(struct session *s);

#endif
