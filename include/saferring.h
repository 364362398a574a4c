/* SPDX-License-Identifier: MIT */
/*
 * saferring.h - the public API of libsaferring.
 *
 * libsaferring lets a process that is denied io_uring have file I/O done
 * by saferringd: data lives in shared-memory slots of an arena the daemon
 * created, files are named by handles the daemon handed out, and every
 * operation is checked by the daemon before the kernel sees it.  The shape
 * follows liburing: prepare operations into a batch, submit the batch, reap
 * completions.
 *
 * Every function returns 0 or a non-negative value on success and a
 * negative errno value on failure; none aborts, none sets errno as its
 * result.  The library never makes an io_uring system call.
 *
 * A struct sr_client is not thread-safe: use one per thread, or lock.
 */
#ifndef SAFERRING_H
#define SAFERRING_H

#include <stddef.h>
#include <stdint.h>
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
	SR_STATUS__COUNT
};

/* Operation codes (wire values). */
enum sr_opcode {
	SR_OP_NOP = 0,
	SR_OP_READ = 1,
	SR_OP_WRITE = 2,
	SR_OP_FSYNC = 3,
};

/* sr_prep_fsync flag: fdatasync semantics. */
#define SR_FSYNC_DATASYNC (1U << 0)

/* A completion, as liburing's io_uring_cqe plus the daemon's verdict. */
struct sr_cqe {
	uint64_t user_data; /* the tag given at prep time */
	int32_t res;        /* bytes done, 0, or a negative errno */
	uint32_t flags;     /* the kernel's CQE flags */
	uint32_t status;    /* enum sr_status; OK when the kernel ran it */
	int32_t slot;       /* slot the operation used, or -1 */
};

/* Connection wishes; zero fields take the daemon's defaults. */
struct sr_params {
	uint32_t slot_count;
	uint32_t slot_size;
};

/* Limits the daemon granted this session. */
struct sr_limits {
	uint64_t session_id;
	uint32_t slot_count;
	uint32_t slot_size;
	uint32_t max_fds;
	uint32_t max_in_flight;
	uint32_t max_batch;
};

struct sr_client;

/*
 * Connect to saferringd.  The socket is @path if not NULL, else
 * $SAFERRING_SOCKET, else SR_DEFAULT_SOCKET.  @params may be NULL.
 * Maps the session's arena.  Returns 0 and sets *out, or -errno
 * (-ENOENT/-ECONNREFUSED: no daemon; -EPROTO: version refused).
 */
int sr_connect(const char *path, const struct sr_params *params,
	       struct sr_client **out);
/* Ends the session; the daemon cancels what is still in flight. */
void sr_close(struct sr_client *c);
int sr_limits(const struct sr_client *c, struct sr_limits *out);
/* The connection's descriptor, for poll(2): readable when a reply waits. */
int sr_fd(const struct sr_client *c);

/* Slots: the library hands them out; the caller owns an acquired slot
 * until it releases it.  A slot with an operation in flight cannot be
 * released (-EBUSY). */
int sr_slot_acquire(struct sr_client *c); /* index, or -ENOBUFS */
int sr_slot_release(struct sr_client *c, int slot);
void *sr_slot_data(struct sr_client *c, int slot); /* NULL if bad index */
size_t sr_slot_size(const struct sr_client *c);

/* Files: pass a descriptor to the daemon, get a handle (>= 0) back.  The
 * caller may close its own descriptor afterwards.  Unregistering a handle
 * with operations in flight fails with -EBUSY. */
int sr_register_fd(struct sr_client *c, int fd);
int sr_unregister_fd(struct sr_client *c, int handle);

/* Batch building.  Each prep adds one operation to the pending batch;
 * -ENOSPC when the batch is full or would exceed max_in_flight (submit
 * and reap first), -EINVAL for a slot or range the library already knows
 * is wrong, -EBUSY for a slot already in flight. */
int sr_prep_nop(struct sr_client *c, uint64_t user_data);
int sr_prep_read(struct sr_client *c, uint64_t user_data, int handle,
		 int slot, uint32_t slot_offset, uint32_t len,
		 uint64_t file_offset);
int sr_prep_write(struct sr_client *c, uint64_t user_data, int handle,
		  int slot, uint32_t slot_offset, uint32_t len,
		  uint64_t file_offset);
int sr_prep_fsync(struct sr_client *c, uint64_t user_data, int handle,
		  uint32_t fsync_flags);

/* Send the pending batch.  Returns the number of operations sent. */
int sr_submit(struct sr_client *c);
/* Operations sent whose completion has not been reaped yet. */
unsigned sr_in_flight(const struct sr_client *c);

/* Completions.  peek never blocks (-EAGAIN when none is ready); wait
 * blocks until one is ready (-ENODATA if nothing is in flight).
 * wait_cqes fills up to @max and blocks only while it has fewer than
 * @min; returns how many it filled. */
int sr_peek_cqe(struct sr_client *c, struct sr_cqe *cqe);
int sr_wait_cqe(struct sr_client *c, struct sr_cqe *cqe);
int sr_wait_cqes(struct sr_client *c, struct sr_cqe *cqes, unsigned max,
		 unsigned min);

/* Blocking helpers on the same path: copy through a slot of their own.
 * They return bytes done or -errno, like pread/pwrite, and may move at
 * most sr_slot_size() bytes per call.  Other operations' completions that
 * arrive meanwhile stay queued for sr_peek_cqe/sr_wait_cqe. */
ssize_t sr_pread(struct sr_client *c, int handle, void *buf, size_t len,
		 uint64_t offset);
ssize_t sr_pwrite(struct sr_client *c, int handle, const void *buf,
		  size_t len, uint64_t offset);
int sr_fsync(struct sr_client *c, int handle);

/* Human-readable text for a status, and the errno it maps to. */
const char *sr_strstatus(uint32_t status);
int sr_status_errno(uint32_t status);

#ifdef __cplusplus
}
#endif
#endif /* SAFERRING_H */
