/* SPDX-License-Identifier: MIT */
/*
 * saferring.h - the public API of libsaferring.
 *
 * libsaferring lets a process that is denied io_uring have file and socket
 * I/O done by saferringd: data lives in shared-memory slots of an arena the daemon
 * created, files are named by handles the daemon handed out, and every
 * operation is checked by the daemon before the kernel sees it.  The shape
 * follows liburing: prepare operations into a batch, submit the batch, reap
 * completions.
 *
 * Every function returns 0 or a non-negative value on success and a
 * negative errno value on failure; none aborts, none sets errno as its
 * result.  Each has a man page (man 3 sr_connect) that lists them; the
 * errors that end a session are in libsaferring(3).  The library never
 * makes an io_uring system call.
 *
 * Threads: a struct sr_client belongs to one thread at a time, unless
 * sr_connect was given SR_PARAMS_THREADSAFE.  Then every call but
 * sr_close may come from any thread at any time: each runs under one
 * lock of the client, which a call waiting for completions gives up
 * while it sleeps.  The pending batch is the client's, not the
 * thread's: sr_submit sends what every thread prepared, and
 * sr_link_last and sr_set_callback act on the last operation any thread
 * prepared (to build a chain, or set a callback, without another
 * thread's operation coming between, hold a lock of your own).  Each
 * completion goes to exactly one caller, whichever thread reaps first,
 * with its slot; a waiter finding nothing in flight gets -ENODATA.
 * sr_close must come after every other call on the client has
 * returned.  libsaferring(3) has the details.
 *
 * ABI (libsaferring.so.1, symbol versions SAFERRING_1 and, for the
 * event-loop calls, SAFERRING_1.1): every public struct keeps its size
 * and layout for as long as the soname does, and none has implicit
 * padding.  Structs the library writes (sr_cqe,
 * sr_limits) carry reserved fields it sets to zero, so that a later
 * field takes reserved room and an older caller is never written past
 * its struct; a later field means "not given" when zero.  Structs the
 * caller fills have reserved fields that must be zero (sr_params:
 * -EINVAL otherwise) or none (sr_iov, like struct iovec: it never
 * grows).  struct sr_client is opaque.
 */
#ifndef SAFERRING_H
#define SAFERRING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SR_PROTOCOL_VERSION 1
#define SR_DEFAULT_SOCKET "/run/saferring/saferringd.sock"
#define SR_SOCKET_ENV "SAFERRING_SOCKET"

/*
 * Why the daemon refused an operation or request.  Sent as sr_cqe.status;
 * sr_cqe.res then holds the matching negative errno (see sr_status_errno).
 * Values are part of the wire protocol and never change meaning.
 */
enum sr_status {
	SR_STATUS_OK = 0,
	SR_STATUS_MALFORMED = 1,
	SR_STATUS_UNKNOWN_OP = 2,
	SR_STATUS_BAD_SLOT = 3,
	SR_STATUS_STALE_GENERATION = 4,
	SR_STATUS_BUFFER_IN_FLIGHT = 5,
	SR_STATUS_OUT_OF_BOUNDS = 6,
	SR_STATUS_BAD_HANDLE = 7,
	SR_STATUS_STALE_HANDLE = 8,
	SR_STATUS_NOT_PERMITTED = 9,
	SR_STATUS_QUOTA = 10,
	SR_STATUS_BAD_FLAGS = 11,
	SR_STATUS_VERSION = 12,
	SR_STATUS_PROTOCOL = 13,
	SR_STATUS_TOO_LARGE = 14,
	SR_STATUS_BAD_DESCRIPTORS = 15,
	SR_STATUS_BUSY = 16,
	SR_STATUS_INTERNAL = 17,
	SR_STATUS_CHAIN_REFUSED = 18,
	/* another member of the chain was refused */
	SR_STATUS_BAD_CHAIN = 19,     /* chain runs past its batch, or op not
				       * allowed at that place in a chain */
	SR_STATUS_BAD_ADDRESS = 20,   /* socket address family or length */
	SR_STATUS_FILE_TOO_LARGE = 21, /* a write or fallocate past the
					* client's own RLIMIT_FSIZE */
	SR_STATUS__COUNT
};

/* Operation codes (wire values). */
enum sr_opcode {
	SR_OP_NOP = 0,
	SR_OP_READ = 1,
	SR_OP_WRITE = 2,
	SR_OP_FSYNC = 3,
	SR_OP_READV = 4,
	SR_OP_WRITEV = 5,
	SR_OP_FALLOCATE = 6,
	SR_OP_SEND = 7,
	SR_OP_RECV = 8,
	SR_OP_SENDMSG = 9,
	SR_OP_RECVMSG = 10,
	SR_OP_ACCEPT = 11,
	SR_OP_CONNECT = 12,
	SR_OP_POLL_ADD = 13,
	SR_OP_POLL_REMOVE = 14,
	SR_OP_TIMEOUT = 15,
	SR_OP_LINK_TIMEOUT = 16,
	SR_OP_ASYNC_CANCEL = 17,
	SR_OP_CLOSE = 18,
	SR_OP_SHUTDOWN = 19,
	SR_OP_PROVIDE = 20,
	SR_OP__COUNT
};

/* sr_prep_fsync flag: fdatasync semantics. */
#define SR_FSYNC_DATASYNC (1U << 0)
/* sr_prep_fallocate modes (the Linux FALLOC_FL_* values).  PUNCH_HOLE
 * needs KEEP_SIZE and excludes ZERO_RANGE. */
#define SR_FALLOC_KEEP_SIZE 0x01U
#define SR_FALLOC_PUNCH_HOLE 0x02U
#define SR_FALLOC_ZERO_RANGE 0x10U
/* Op flags of RECV and ACCEPT: keep completing (SR_CQE_F_MORE) until an
 * error, a cancel or, for RECV, an empty pool or end of stream. */
#define SR_RECV_MULTISHOT (1U << 0)
#define SR_ACCEPT_MULTISHOT (1U << 0)
/* Socket message flags the daemon accepts (the Linux MSG_* values):
 * sends take DONTWAIT, MORE, WAITALL (MSG_NOSIGNAL is always added);
 * receives take DONTWAIT, PEEK, WAITALL. */
#define SR_SEND_MSG_FLAGS (MSG_DONTWAIT | MSG_MORE | MSG_WAITALL | MSG_NOSIGNAL)
#define SR_RECV_MSG_FLAGS (MSG_DONTWAIT | MSG_PEEK | MSG_WAITALL)
/* poll(2) events sr_prep_poll_add accepts. */
#define SR_POLL_EVENTS (0x001U | 0x002U | 0x004U | 0x008U | 0x010U | 0x2000U)
/* Slot ranges one vectored operation may name. */
#define SR_MAX_IOV 16

/* Link kinds for sr_link_last: the next operation of the batch starts
 * only after this one completed (SR_LINK: and only if it succeeded fully;
 * a short read or write counts as failure, and the rest of the chain
 * completes with -ECANCELED). */
#define SR_LINK 1U
#define SR_LINK_HARD 2U

/* sr_cqe.flags: the operation stays pending; more completions follow. */
#define SR_CQE_F_MORE (1U << 1)
/* sr_cqe.flags: a receive left more data in the socket. */
#define SR_CQE_F_SOCK_NONEMPTY (1U << 2)

/*
 * Slots and handles are distinct types, so that a handle passed where a
 * slot is expected, a slot where a handle is expected, or a bare int where
 * either is expected does not compile.  Each is a struct of one int32_t:
 * x86-64 SysV and AAPCS64 pass and return it exactly like an int32_t (in
 * one integer register), and it has the size and alignment of one, so the
 * functions and structs below keep the ABI they had when these were int.
 *
 * sr_slot_acquire and sr_register_fd return the typed value; a negative
 * index there is the -errno of the failure (as liburing: >= 0 success,
 * -errno failure), so check sr_slot_index() / sr_handle_index() < 0
 * before use.  SR_SLOT(i) / SR_HANDLE(i) make one from an index you got
 * elsewhere (a stored index, a wire trace); SR_SLOT_NONE / SR_HANDLE_NONE
 * (index -1) are what a completion carries when it names none.  One
 * gap C leaves: in an initializer, "struct sr_iov v = { .slot = 3 }"
 * fills the struct's member by brace elision; -Wall (-Wmissing-braces)
 * flags it.  tests/compile-fail/ holds the misuse that must not compile.
 *
 * SR_UNTYPED_API: define it before including this header to build source
 * written for the int API unchanged (sr_slot_t and sr_handle_t are then
 * plain int32_t and the macros and accessors still work): a migration
 * aid, which gives up the checks.  The library is the same either way.
 */
#ifdef SR_UNTYPED_API
typedef int32_t sr_slot_t;
typedef int32_t sr_handle_t;
#define SR_SLOT(i) ((sr_slot_t)(i))
#define SR_HANDLE(i) ((sr_handle_t)(i))
static inline int sr_slot_index(sr_slot_t s) { return s; }
static inline int sr_handle_index(sr_handle_t h) { return h; }
#else
/* No struct tag: struct sr_slot is the library's own, and a caller has
 * no use for one. */
typedef struct { int32_t idx; } sr_slot_t;
typedef struct { int32_t idx; } sr_handle_t;
#ifdef __cplusplus
#define SR_SLOT(i) (sr_slot_t{ (int32_t)(i) })
#define SR_HANDLE(i) (sr_handle_t{ (int32_t)(i) })
#else
#define SR_SLOT(i) ((sr_slot_t){ (int32_t)(i) })
#define SR_HANDLE(i) ((sr_handle_t){ (int32_t)(i) })
#endif
/* The index (>= 0), or the -errno a failed acquire/register returned. */
static inline int sr_slot_index(sr_slot_t s) { return s.idx; }
static inline int sr_handle_index(sr_handle_t h) { return h.idx; }
#endif
#define SR_SLOT_NONE SR_SLOT(-1)
#define SR_HANDLE_NONE SR_HANDLE(-1)
/* Whether two refer to the same slot / handle (== does not apply to
 * structs). */
static inline int sr_slot_eq(sr_slot_t a, sr_slot_t b)
{
	return sr_slot_index(a) == sr_slot_index(b);
}
static inline int sr_handle_eq(sr_handle_t a, sr_handle_t b)
{
	return sr_handle_index(a) == sr_handle_index(b);
}

/* A completion, as liburing's io_uring_cqe plus the daemon's verdict.
 * 48 bytes: sr_wait_cqes fills arrays of them, so its size never
 * changes; later fields come out of reserved. */
struct sr_cqe {
	uint64_t user_data; /* the tag given at prep time */
	int32_t res;        /* bytes done, 0, or a negative errno */
	uint32_t flags;     /* the kernel's CQE flags */
	uint32_t status;    /* enum sr_status; OK when the kernel ran it */
	sr_slot_t slot;     /* slot the operation used (the first, if several),
			     * or for a pool receive the slot holding the
			     * data, now the caller's; or SR_SLOT_NONE */
	sr_handle_t handle; /* ACCEPT: the accepted socket's handle, or
			     * SR_HANDLE_NONE */
	uint32_t reserved[5]; /* zero */
};

/* One slot range of a vectored operation.  12 bytes, never grows (a
 * new layout would come with new functions). */
struct sr_iov {
	sr_slot_t slot;
	uint32_t offset;
	uint32_t len;
};

/* sr_params.flags. */
/* Everything over the socket (protocol v1), no shared-memory rings;
 * also $SAFERRING_TRANSPORT=socket. */
#define SR_PARAMS_SOCKET (1U << 0)
/* Every read and write goes through the daemon: no inline attempt (see
 * sr_params); also $SAFERRING_INLINE=0. */
#define SR_PARAMS_NO_INLINE (1U << 1)
/* spin_us is given (0 included); else $SAFERRING_SPIN_US, else 50. */
#define SR_PARAMS_SPIN (1U << 2)
/* Every call but sr_close may come from any thread, concurrently (see
 * "Threads" at the top); without it a client belongs to one thread at a
 * time. */
#define SR_PARAMS_THREADSAFE (1U << 3)
#define SR_PARAMS__ALL 0xfU

/*
 * Connection wishes; a zeroed struct (or NULL) takes every default.
 *
 * By default the session uses shared-memory rings (protocol v2) when the
 * daemon offers them, polls for completions up to spin_us microseconds
 * before sleeping, and tries a read or write of a regular file itself
 * first (preadv2/pwritev2 with RWF_NOWAIT, into or out of the slot) when
 * nothing else is in flight and the daemon's policy allows the
 * operation: completed from the page cache, it never reaches the daemon;
 * otherwise the daemon does it as usual.  The completion looks the same
 * either way.
 */
struct sr_params { /* 32 bytes */
	uint32_t slot_count;  /* 0: the daemon's default */
	uint32_t slot_size;   /* 0: the daemon's default */
	uint32_t flags;       /* SR_PARAMS_* */
	uint32_t spin_us;     /* with SR_PARAMS_SPIN; at most 1000000 */
	uint32_t backend;     /* enum sr_backend; 0: $SAFERRING_BACKEND, else
			       * SR_BACKEND_AUTO */
	uint32_t reserved[3]; /* must be zero (-EINVAL otherwise) */
};

/*
 * Who does the I/O (README "Choosing a backend").  Every backend runs the
 * same checks (the daemon's session code: slot generations, handles,
 * ranges, quotas, descriptor kinds) and gives the same statuses and
 * completions; they differ in who submits:
 *   DAEMON   saferringd, over its socket: the only one for a process
 *            denied io_uring, and the only one whose policy the program
 *            cannot change.
 *   DIRECT   an io_uring of this process, driven in the library's own
 *            calls: for programs allowed io_uring.
 *   THREADS  a pool of threads of this process doing plain system calls:
 *            where there is neither a daemon nor io_uring.
 *   AUTO     DAEMON at the default socket ($SAFERRING_SOCKET or
 *            SR_DEFAULT_SOCKET) if one answers; else DIRECT if
 *            io_uring_setup works and kernel.io_uring_disabled allows it;
 *            else THREADS.  Only when sr_connect() is given no path: a
 *            named socket means that daemon, whose absence is an error.
 * The in-process backends run with the program's own credentials and
 * limits and a policy of their own: every operation, up to 4096 in
 * flight and 4096 handles.
 */
enum sr_backend {
	SR_BACKEND_DEFAULT = 0, /* sr_params only: $SAFERRING_BACKEND or AUTO */
	SR_BACKEND_AUTO = 1,    /* sr_params only */
	SR_BACKEND_DAEMON = 2,
	SR_BACKEND_DIRECT = 3,
	SR_BACKEND_THREADS = 4,
};

/* Limits the daemon granted this session.  72 bytes; later fields come
 * out of reserved. */
struct sr_limits {
	uint64_t session_id;
	uint32_t slot_count;
	uint32_t slot_size;
	uint32_t max_fds;
	uint32_t max_in_flight;
	uint32_t max_batch;
	uint32_t fd_table_size; /* handles are below this (accepted sockets
				 * take indices from max_fds up) */
	uint32_t flags;         /* SR_LIMITS_* */
	uint32_t spin_us;       /* what the session spins for */
	uint64_t allowed_ops;   /* bit (1 << opcode): the policy allows it */
	uint32_t reserved[6];   /* zero */
};

/* sr_limits.flags: how the session runs. */
#define SR_LIMITS_RINGS (1U << 0)  /* shared-memory rings (v2) */
#define SR_LIMITS_INLINE (1U << 1) /* the inline attempt is on */
#define SR_LIMITS_THREADSAFE (1U << 2) /* SR_PARAMS_THREADSAFE */

struct sr_client;

/*
 * Connect to saferringd.  The socket is @path if not NULL, else
 * $SAFERRING_SOCKET, else SR_DEFAULT_SOCKET.  @params may be NULL.
 * Maps the session's arena.  Returns 0 and sets *out, or -errno
 * (-ENOENT/-ECONNREFUSED: no daemon; -EDQUOT/-EPERM: refused by quota or
 * policy; -EPROTO: version refused; the rest in sr_connect(3)).
 */
int sr_connect(const char *path, const struct sr_params *params,
	       struct sr_client **out);
/* Ends the session; the daemon cancels what is still in flight. */
void sr_close(struct sr_client *c);
int sr_limits(const struct sr_client *c, struct sr_limits *out);
/* The backend the session runs on: SR_BACKEND_DAEMON, _DIRECT or
 * _THREADS; -EINVAL for NULL. */
int sr_backend(const struct sr_client *c);
/* "daemon", "direct", "threads", "auto" or "default" ($SAFERRING_BACKEND
 * spells them so); NULL for any other value. */
const char *sr_backend_name(int backend);
/* A descriptor for poll(2), epoll(7) or any event loop (POLLIN), owned
 * by the library.  Level-triggered: readable for as long as sr_peek_cqe
 * would return a completion (sr_cq_ready() > 0) or the session's error,
 * including completions already queued inside the library.  It may also
 * be readable with nothing to take (a completion announced twice, or
 * room again after sr_submit returned -EAGAIN); sr_peek_cqe then returns
 * -EAGAIN and that clears it (over the socket, room for a batch sr_submit
 * could not send stays readable until sr_submit sends it).  With
 * edge-triggered use (EPOLLET) reap until -EAGAIN after each wake-up.
 * With rings, asking for it makes the daemon signal every completion it
 * publishes, which costs it a system call each time: ask only when you
 * poll. */
int sr_fd(struct sr_client *c);

/* Slots: the library hands them out; the caller owns an acquired slot
 * until it releases it.  A slot with an operation in flight cannot be
 * released (-EBUSY). */
/* The slot, or one whose index is -ENOBUFS (see sr_slot_index). */
sr_slot_t sr_slot_acquire(struct sr_client *c);
int sr_slot_release(struct sr_client *c, sr_slot_t slot);
void *sr_slot_data(struct sr_client *c, sr_slot_t slot); /* NULL if bad */
size_t sr_slot_size(const struct sr_client *c);
/* A read-only view of a slot's data, for code that only consumes what
 * was read into it: writing through it does not compile. */
static inline const void *sr_slot_view(struct sr_client *c, sr_slot_t slot)
{
	return sr_slot_data(c, slot);
}

/* Files: pass a descriptor to the daemon, get a handle back (index >= 0;
 * a negative index is the -errno, see sr_handle_index).  The caller may
 * close its own descriptor afterwards.  Unregistering a handle with
 * operations in flight fails with -EBUSY. */
sr_handle_t sr_register_fd(struct sr_client *c, int fd);
int sr_unregister_fd(struct sr_client *c, sr_handle_t handle);

/* Batch building.  Each prep adds one operation to the pending batch;
 * -ENOSPC when the batch is full or would exceed max_in_flight (submit
 * and reap first), -EINVAL for a slot, range, handle or flag the library
 * already knows is wrong, -EBUSY for a slot already in flight (a slot may
 * appear in several operations of one chain: they run one after another).
 * A slot comes back to the caller with the completion of the last
 * operation that named it. */
int sr_prep_nop(struct sr_client *c, uint64_t user_data);
int sr_prep_read(struct sr_client *c, uint64_t user_data, sr_handle_t handle,
		 sr_slot_t slot, uint32_t slot_offset, uint32_t len,
		 uint64_t file_offset);
int sr_prep_write(struct sr_client *c, uint64_t user_data, sr_handle_t handle,
		  sr_slot_t slot, uint32_t slot_offset, uint32_t len,
		  uint64_t file_offset);
int sr_prep_fsync(struct sr_client *c, uint64_t user_data, sr_handle_t handle,
		  uint32_t fsync_flags);
int sr_prep_readv(struct sr_client *c, uint64_t user_data, sr_handle_t handle,
		  const struct sr_iov *iov, unsigned n, uint64_t file_offset);
int sr_prep_writev(struct sr_client *c, uint64_t user_data, sr_handle_t handle,
		   const struct sr_iov *iov, unsigned n, uint64_t file_offset);
int sr_prep_fallocate(struct sr_client *c, uint64_t user_data,
		      sr_handle_t handle,
		      uint32_t mode, uint64_t offset, uint64_t len);
int sr_prep_send(struct sr_client *c, uint64_t user_data, sr_handle_t handle,
		 sr_slot_t slot, uint32_t slot_offset, uint32_t len,
		 uint32_t msg_flags);
int sr_prep_recv(struct sr_client *c, uint64_t user_data, sr_handle_t handle,
		 sr_slot_t slot, uint32_t slot_offset, uint32_t len,
		 uint32_t msg_flags);
int sr_prep_sendmsg(struct sr_client *c, uint64_t user_data, sr_handle_t handle,
		    const struct sr_iov *iov, unsigned n, uint32_t msg_flags);
int sr_prep_recvmsg(struct sr_client *c, uint64_t user_data, sr_handle_t handle,
		    const struct sr_iov *iov, unsigned n, uint32_t msg_flags);
/* Receive into slots of the session's pool (see sr_prep_provide), one
 * completion per message with SR_CQE_F_MORE while it goes on; each
 * completion's slot is the caller's (acquired) from then on.  An empty
 * pool ends it with -ENOBUFS: provide slots and prepare it again. */
int sr_prep_recv_multishot(struct sr_client *c, uint64_t user_data,
			   sr_handle_t handle, uint32_t msg_flags);
/* Give an acquired slot to the receive pool.  It comes back only as the
 * slot of a pool receive's completion. */
int sr_prep_provide(struct sr_client *c, uint64_t user_data, sr_slot_t slot);
/* Accept on a listening socket; cqe.handle is the new socket's handle,
 * registered like sr_register_fd's and counted in max_fds. */
int sr_prep_accept(struct sr_client *c, uint64_t user_data, sr_handle_t handle);
int sr_prep_multishot_accept(struct sr_client *c, uint64_t user_data,
			     sr_handle_t handle);
/* AF_INET and AF_INET6 only (-EAFNOSUPPORT otherwise). */
int sr_prep_connect(struct sr_client *c, uint64_t user_data, sr_handle_t handle,
		    const struct sockaddr *addr, socklen_t addrlen);
/* Single-shot; @events from SR_POLL_EVENTS; res is the ready events. */
int sr_prep_poll_add(struct sr_client *c, uint64_t user_data,
		     sr_handle_t handle,
		     uint32_t events);
/* Target an operation by its user_data (the first pending one with it);
 * res -ENOENT when none is pending. */
int sr_prep_poll_remove(struct sr_client *c, uint64_t user_data,
			uint64_t target_user_data);
int sr_prep_cancel(struct sr_client *c, uint64_t user_data,
		   uint64_t target_user_data);
/* Completes with -ETIME after @ns nanoseconds, unless cancelled. */
int sr_prep_timeout(struct sr_client *c, uint64_t user_data, uint64_t ns);
/* Must follow an operation linked with sr_link_last: cancels it if it has
 * not completed after @ns nanoseconds. */
int sr_prep_link_timeout(struct sr_client *c, uint64_t user_data,
			 uint64_t ns);
/* The handle is gone at once; operations still using it finish first,
 * then the daemon closes the file.  Cannot be part of a chain. */
int sr_prep_close(struct sr_client *c, uint64_t user_data, sr_handle_t handle);
int sr_prep_shutdown(struct sr_client *c, uint64_t user_data,
		     sr_handle_t handle,
		     int how);
/* Link the last prepared operation to the next one prepared (SR_LINK or
 * SR_LINK_HARD, 0 to unlink).  A chain must end inside its batch: if the
 * last operation submitted still links, the daemon refuses the whole
 * chain (SR_STATUS_BAD_CHAIN). */
int sr_link_last(struct sr_client *c, unsigned link);

/* Send the pending batch.  Returns the number of operations sent.
 * Never blocks: -EAGAIN when the daemon has no room for the batch yet
 * (it stays prepared, nothing is lost); sr_fd() turns readable when a
 * retry may succeed. */
int sr_submit(struct sr_client *c);
/* Send the pending batch, waiting for room if need be, then wait until
 * at least @wait_nr completions are ready (sr_cq_ready).  Returns the
 * number of operations sent; -ENODATA when fewer than @wait_nr can ever
 * come. */
int sr_submit_and_wait(struct sr_client *c, unsigned wait_nr);
/* Operations sent whose last completion has not been reaped yet. */
unsigned sr_in_flight(const struct sr_client *c);

/* Completions.  peek never blocks (-EAGAIN when none is ready); wait
 * blocks until one is ready (-ENODATA if nothing is in flight).
 * wait_cqes fills up to @max and blocks only while it has fewer than
 * @min; returns how many it filled. */
int sr_peek_cqe(struct sr_client *c, struct sr_cqe *cqe);
int sr_wait_cqe(struct sr_client *c, struct sr_cqe *cqe);
int sr_wait_cqes(struct sr_client *c, struct sr_cqe *cqes, unsigned max,
		 unsigned min);
/* sr_wait_cqe for @timeout_ns nanoseconds at most: -ETIME when none came
 * (0: look without waiting). */
int sr_wait_cqe_timeout(struct sr_client *c, struct sr_cqe *cqe,
			uint64_t timeout_ns);
/* How many completions sr_peek_cqe would return now without waiting
 * (what has arrived is taken in first), or -errno. */
int sr_cq_ready(struct sr_client *c);

/* Completion callbacks, for event loops and async runtimes.  A callback
 * gets the completion (valid during the call) and the argument given
 * with it; it may prepare and submit operations, and reap, but must not
 * call sr_close.  A multishot operation calls it for every completion. */
typedef void (*sr_cqe_fn)(struct sr_client *c, const struct sr_cqe *cqe,
			  void *arg);
/* Give the last prepared operation (not submitted yet) a callback and
 * its argument (@fn NULL: none); sr_dispatch calls it. */
int sr_set_callback(struct sr_client *c, sr_cqe_fn fn, void *arg);
/* Take the completions ready now, in order, calling each one's callback;
 * at most @max (0: no limit), never ones that arrive meanwhile.  Stops
 * before a completion without a callback (sr_peek_cqe takes it).  Never
 * blocks.  Returns how many it dispatched, or -errno when none. */
int sr_dispatch(struct sr_client *c, unsigned max);

/* Blocking helpers on the same path: copy through a slot of their own.
 * They return bytes done or -errno, like pread/pwrite, and may move at
 * most sr_slot_size() bytes per call.  Other operations' completions that
 * arrive meanwhile stay queued for sr_peek_cqe/sr_wait_cqe. */
ssize_t sr_pread(struct sr_client *c, sr_handle_t handle, void *buf, size_t len,
		 uint64_t offset);
ssize_t sr_pwrite(struct sr_client *c, sr_handle_t handle, const void *buf,
		  size_t len, uint64_t offset);
int sr_fsync(struct sr_client *c, sr_handle_t handle);

/*
 * Take io_uring away from this process, all its threads and everything it
 * starts later (the filter survives fork and execve and cannot be
 * removed): io_uring_setup, io_uring_enter and io_uring_register fail with
 * EPERM from now on; every other system call is unaffected, so a program
 * can still use saferringd.  A seccomp filter built with libseccomp,
 * which is loaded (libseccomp.so.2) only when this is called: -ELIBACC
 * without it.  Sets no_new_privs first unless the caller has
 * CAP_SYS_ADMIN.  0 or -errno.
 */
int sr_sandbox_deny_io_uring(void);

/* Human-readable text for a status, and the errno it maps to. */
const char *sr_strstatus(uint32_t status);
int sr_status_errno(uint32_t status);

#ifdef __cplusplus
}
#endif
#endif /* SAFERRING_H */
