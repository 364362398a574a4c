/* SPDX-License-Identifier: MIT */
/*
 * facade.h - libsaferring-uring's private state: what one struct
 * io_uring is when saferringd does its I/O, and the helpers the facade's
 * files share.
 *
 * The facade is a client of libsaferring like any other: it uses only
 * the public API of <saferring.h>.  It must never reach into client/,
 * never make an io_uring system call, never copy into the program's
 * memory for an operation the program was already told is gone, and
 * never let an SQE do anything but what it says: what cannot be done
 * completes with -EOPNOTSUPP or -EINVAL.  Nothing here is API.
 */
#ifndef SAFERRING_URING_FACADE_H
#define SAFERRING_URING_FACADE_H

#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "saferring.h"
#include "saferring-uring/liburing.h"

/* Every user_data the facade gives libsaferring is an index into
 * st->ops; internal operations (evictions, wait timeouts, pool slots)
 * carry this bit and complete without a CQE. */
#define SRU_INTERNAL (1ULL << 63)

/* Most pieces of program memory one operation may name (UIO_MAXIOV). */
#define SRU_MAX_PIECES 1024U

enum sru_slot_use {
	SRU_SLOT_FREE = 0, /* the facade's, ready for a bounce */
	SRU_SLOT_BOUNCE,   /* bouncing for operations (refs of them) */
	SRU_SLOT_LENT,     /* handed to the program (sr_uring_buf_alloc) */
	SRU_SLOT_POOLED,   /* in the daemon's receive pool */
	SRU_SLOT_HELD,     /* data of a pool receive not yet delivered */
};

struct sru_slot {
	uint8_t use;    /* enum sru_slot_use */
	uint16_t refs;  /* operations in flight naming it */
	uint32_t chain; /* the chain that took it (shared within it) */
	uint32_t next;  /* free list */
};

/* One range of slot memory an operation names, and how it relates to
 * the program's memory. */
enum sru_range_kind {
	SRU_R_BOUNCE, /* copy between it and the program's pieces */
	SRU_R_SHARED, /* holds what an earlier member of the chain read into
		       * the same program memory: no copy in */
	SRU_R_ZC,     /* is the program's memory (an arena buffer) */
};

struct sru_range {
	int slot;
	uint32_t off;
	uint32_t len;
	uint8_t kind;
};

/* A piece of program memory, in the order the data goes. */
struct sru_piece {
	unsigned char *p;
	size_t len;
};

/* Where an operation stands. */
enum sru_op_state {
	SRU_OP_FREE = 0,
	SRU_OP_WAITING, /* parsed; waits in the backlog for resources */
	SRU_OP_SENT,    /* with libsaferring; its completion will come */
	SRU_OP_LOCAL,   /* being done by the facade itself */
};

/* What kind of thing the facade does for an SQE. */
enum sru_how {
	SRU_DAEMON = 0, /* one libsaferring operation */
	SRU_ACCEPT,     /* POLL_ADD(POLLIN) by the daemon, then accept4 here */
	SRU_LOCAL,      /* done by the facade alone, at its turn */
};

/* One SQE the program submitted, from submit to its last CQE. */
struct sru_op {
	uint64_t user_data;
	uint32_t id;          /* index in st->ops */
	uint8_t opcode;       /* IORING_OP_* */
	uint8_t sqe_flags;    /* IOSQE_* */
	uint8_t state;        /* enum sru_op_state */
	uint8_t how;          /* enum sru_how */
	uint8_t link;         /* SR_LINK, SR_LINK_HARD or 0: to the next */
	bool chained;         /* a member (not the head) of a chain */
	bool to_memory;       /* data goes into program memory: copy out */
	bool told_gone;       /* a cancel said it is gone: never copy out */
	bool multishot;
	bool cancel_pending;  /* a cancel of it was sent */
	bool stream;          /* its file has no offsets */
	int32_t next;         /* backlog or free list */
	int32_t hnext;        /* in its user_data bucket, while hashed */
	bool sync;            /* a lone cancel: io_uring_submit returns
			       * after its CQE, as the kernel's does */
	bool standin;         /* a NOP keeping a failed member's place in
			       * its chain: completes with local_res */
	bool standin_quiet;   /* ... and posts no CQE */
	bool hashed;          /* in st->by_ud (a cancel may find it) */
	int32_t target_id;    /* cancels: the operation they aim at */

	/* What it does. */
	uint32_t sr_opcode;   /* SR_OP_* for SRU_DAEMON */
	int fd;               /* the program's descriptor, or -1 */
	int handle;           /* its saferring handle */
	uint64_t off;         /* file offset */
	int pos_fd;           /* off was -1: move this fd's position by res */
	uint32_t len;         /* bytes asked for */
	uint32_t flags;       /* fsync, poll, fallocate, shutdown: sr flags */
	uint32_t msg_flags;
	uint64_t length;      /* FALLOCATE length */
	uint64_t timeout_ns;
	uint64_t target;      /* cancel and removes: the program's user_data */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct msghdr *msg;   /* RECVMSG: msg_flags set at completion */

	/* Program memory, and the slot ranges that carry it. */
	struct sru_piece *pieces;
	uint32_t npieces;
	/* The one piece of most operations.  Never pointed to from
	 * inside the op: st->ops moves when it grows (sru_op_pieces). */
	struct sru_piece piece1;
	struct sru_range ranges[SR_MAX_IOV];
	uint32_t nranges;
	bool have_ranges;     /* slots taken (refs held) */

	/* Provided buffers (IOSQE_BUFFER_SELECT). */
	int bgid;
	int32_t pbuf;         /* the selected buffer, index in st->pbufs */

	/* ACCEPT: where accept4 puts the peer, and how. */
	struct sockaddr *acc_addr;
	socklen_t *acc_addrlen;
	int acc_flags;
	uint32_t acc_file_index; /* as in the SQE: 0 a plain fd, else fixed
				  * index + 1, or IORING_FILE_INDEX_ALLOC
				  * (which no signed sentinel may shadow) */

	/* LOCAL operations: the result to post. */
	int32_t local_res;
	uint32_t local_cqe_flags;
};

/* A buffer given with IORING_OP_PROVIDE_BUFFERS. */
struct sru_pbuf {
	unsigned char *addr;
	uint32_t len;
	uint16_t bid;
	uint16_t bgid;
	int32_t next; /* in its group, FIFO; or the free list */
};

struct sru_group {
	uint16_t bgid;
	int32_t head, tail;
};

/* What the facade knows of one program descriptor it registered. */
struct sru_fd {
	int handle;     /* -1: none */
	dev_t dev;
	ino_t ino;
	int fl;         /* F_GETFL when registered */
	bool seekable;
	unsigned checked; /* st->submits when last found the same file */
};

/* Buckets of operations by user_data: a cancel finds its target without
 * walking every operation (liburing's poll-cancel-ton cancels 30000). */
#define SRU_UD_BUCKETS 4096U

struct sru_state {
	struct sr_client *c;
	unsigned submits;     /* io_uring_submit calls: a descriptor is
			       * checked once per call (sru_fd_handle) */
	unsigned sync_sent;   /* sync operations sent, not yet back */
	int32_t by_ud[SRU_UD_BUCKETS]; /* first op of each bucket, or -1 */
	unsigned forks;       /* sru_forks when set up: see sru_forked() */
	struct sr_limits lim;
	uint32_t slot_size;
	unsigned char *arena_lo, *arena_hi; /* the slots' memory */

	/* The rings of struct io_uring point here. */
	unsigned sq_khead, sq_ktail, sq_kflags, sq_kdropped;
	unsigned sq_ring_mask, sq_ring_entries;
	unsigned cq_khead, cq_ktail, cq_kflags, cq_koverflow;
	unsigned cq_ring_mask, cq_ring_entries;
	unsigned *sq_array;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;

	/* CQEs that did not fit the CQ ring, oldest first. */
	struct io_uring_cqe *over;
	size_t over_head, over_len, over_cap;

	/* Operations. */
	struct sru_op *ops;
	uint32_t nops;
	int32_t op_free;
	int32_t backlog_head, backlog_tail; /* WAITING, in submit order */
	uint32_t chain_seq;
	bool disabled;         /* IORING_SETUP_R_DISABLED, not enabled yet */
	unsigned outstanding;  /* SQEs submitted whose last CQE is not posted */
	unsigned sent;         /* our operations with libsaferring */

	/* Slots. */
	struct sru_slot *slots;
	int32_t slot_free;
	uint32_t nfree_slots;

	/* Descriptors. */
	struct sru_fd *fds;
	int nfds;
	int *fixed;            /* registered files: handle or -1 */
	unsigned nfixed;
	unsigned fixed_alloc_lo, fixed_alloc_hi; /* IORING_FILE_INDEX_ALLOC */

	/* Registered buffers (io_uring_register_buffers). */
	struct iovec *bufs;
	unsigned nbufs;

	/* Provided buffers. */
	struct sru_pbuf *pbufs;
	uint32_t npbufs;
	int32_t pbuf_free;
	struct sru_group *groups;
	uint32_t ngroups;

};

static inline struct sru_state *sru(const struct io_uring *ring)
{
	return (struct sru_state *)ring->sq.ring_ptr;
}

/* ops.c */
struct sru_op *sru_op_new(struct sru_state *st);
void sru_op_free(struct sru_state *st, struct sru_op *op);

/* cq.c: completions. */
void sru_post(struct sru_state *st, uint64_t user_data, int32_t res,
	      uint32_t flags);
/* The final (or, with IORING_CQE_F_MORE, an interim) CQE of @op. */
void sru_complete(struct sru_state *st, struct sru_op *op, int32_t res,
		  uint32_t flags);
void sru_flush_overflow(struct sru_state *st);
/* Take what libsaferring has, without waiting (or waiting for one). */
int sru_pump(struct sru_state *st, bool wait);

/* Wait for @wait_nr CQEs (0: only look), @ts at most, @sigmask while
 * sleeping; the first ready one in *cqe_ptr. */
int sru_wait(struct sru_state *st, struct io_uring_cqe **cqe_ptr,
	     unsigned wait_nr, const struct __kernel_timespec *ts,
	     const sigset_t *sigmask);

/* submit.c */
int sru_submit(struct io_uring *ring);
/* Send what waits in the backlog while there are resources. */
int sru_run_backlog(struct sru_state *st);
void sru_backlog_push(struct sru_state *st, struct sru_op *op);
void sru_backlog_remove(struct sru_state *st, struct sru_op *op);

/* register.c */
/* Put @fd (registered anew) at fixed index @file_index - 1, or at a free
 * one for IORING_FILE_INDEX_ALLOC: 0 or the index allocated, -errno. */
int sru_fixed_install(struct sru_state *st, int fd, uint32_t file_index);
/* io_uring_register_files_update; @op: for IORING_OP_FILES_UPDATE. */
int sru_files_update(struct sru_state *st, uint32_t off, const int *fds,
		     unsigned nr, bool op);

/* bufs.c: slots and program memory. */
int sru_slot_get(struct sru_state *st);
void sru_slot_put(struct sru_state *st, int slot);
/* Take slot ranges for @op's pieces (0, -EAGAIN when not enough slots
 * now, -EINVAL when it can never fit). */
int sru_map(struct sru_state *st, struct sru_op *op, bool from_memory,
	    uint32_t chain);
void sru_copy_in(struct sru_state *st, struct sru_op *op);
void sru_copy_out(struct sru_state *st, struct sru_op *op, size_t n);
void sru_unmap(struct sru_state *st, struct sru_op *op);
void sru_chain_forget(struct sru_state *st);
/* Provided buffers. */
int sru_pbuf_take(struct sru_state *st, uint16_t bgid);
void sru_pbuf_return(struct sru_state *st, int32_t idx);
int sru_provide(struct sru_state *st, unsigned char *addr, uint32_t len,
		uint32_t nr, uint16_t bgid, uint32_t bid);
int sru_remove_bufs(struct sru_state *st, uint32_t nr, uint16_t bgid);

/* @op's pieces of program memory: its own piece1, or an array. */
static inline struct sru_piece *sru_op_pieces(struct sru_op *op)
{
	return op->pieces ? op->pieces : &op->piece1;
}

/* fds.c */
/* The handle for program descriptor @fd, registering it on first use;
 * -errno (-EBADF for a closed descriptor, -EOPNOTSUPP for a kind the
 * daemon does not admit). */
int sru_fd_handle(struct sru_state *st, int fd, bool *seekable);
/* Drop what the facade knows of @fd (it is being closed). */
void sru_fd_forget(struct sru_state *st, int fd);
/* Forget descriptors the program closed behind the facade's back. */
void sru_fd_sweep(struct sru_state *st);
/* Give a handle back to the daemon once nothing uses it. */
void sru_handle_drop(struct sru_state *st, int handle);
void sru_fds_free(struct sru_state *st);
/* -EOPNOTSUPP for @fd, which the daemon refused to admit, saying which
 * kind of descriptor it is (sru_unsupported). */
int sru_fd_refused(int fd, const struct stat *sb);

/* setup.c */
/* A ring is one session of the process that set it up.  A child of
 * fork() shares the session's socket and memory with its parent: its
 * calls on the ring would take the parent's completions, so they fail
 * (-EOPNOTSUPP, named by sru_unsupported) where the kernel would let a
 * child use its parent's ring. */
bool sru_forked(const struct sru_state *st);
/*
 * Return @err for something the facade does not do that liburing on a
 * kernel would (an opcode, a flag, a field, a registration, a kind of
 * descriptor), first saying what on stderr when $SAFERRING_URING_WARN
 * is set: a program being ported sees what it leans on, and
 * check-compat tells "uses what saferring leaves out" from "broken".
 */
int sru_unsupported(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
