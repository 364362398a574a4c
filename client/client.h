/* SPDX-License-Identifier: MIT */
/*
 * client.h - libsaferring's private state and the helpers its files share.
 *
 * Everything the library believes about slots, handles and operations
 * lives here, never in the shared arena, and every number the daemon
 * sends is checked against it before use.  Must never be installed or
 * included from outside client/: nothing here is API.
 */
#ifndef SAFERRING_CLIENT_H
#define SAFERRING_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "saferring.h"
#include "saferring.pb-c.h"
#include "wire.h"

/* Largest tables the library builds from a Welcome.  More slots or file
 * handles than this: the Welcome is refused (-EPROTO).  A larger
 * max_in_flight or max_batch is cut down to these. */
#define SR_MAX_SLOTS 65536U
#define SR_MAX_FDS 65536U
#define SR_MAX_IN_FLIGHT 4096U

/* Unpack arena: a reply holding one completion per operation in flight
 * (struct, pointer and protobuf-c's scan slabs, which the bump allocator
 * never gets back), plus room for strings and unknown fields. */
#define SR_UNPACK_PER_CQE 256U
#define SR_UNPACK_SIZE \
	(2U * WIRE_MAX_DATAGRAM + SR_MAX_IN_FLIGHT * SR_UNPACK_PER_CQE)

#define SR_NONE UINT32_MAX

enum sr_slot_state {
	SR_SLOT_FREE = 0,   /* in the free list */
	SR_SLOT_ACQUIRED,   /* the caller (or sr_pread & co.) owns it */
	SR_SLOT_IN_FLIGHT,  /* named by operations prepared or sent */
	SR_SLOT_POOLED,     /* given to the daemon's receive pool */
};

struct sr_slot {
	uint32_t generation; /* the daemon's current generation */
	uint32_t next_free;  /* free list link, SR_NONE at the end */
	uint32_t chain;      /* IN_FLIGHT: the chain that took it */
	uint16_t refs;       /* IN_FLIGHT: operations naming it */
	uint8_t state;       /* enum sr_slot_state */
};

enum sr_handle_state {
	SR_HANDLE_DEAD = 0,
	SR_HANDLE_LIVE,
	SR_HANDLE_CLOSING, /* a CLOSE of it is prepared or sent */
};

struct sr_handle {
	uint32_t generation;
	uint8_t state; /* enum sr_handle_state */
};

enum sr_op_state {
	SR_OP_FREE = 0,
	SR_OP_BATCHED, /* prepared, not sent yet */
	SR_OP_SENT,    /* sent, last completion not arrived yet */
};

/* An operation prepared or sent.  Its index in c->ops is its wire tag. */
struct sr_op {
	uint64_t user_data;
	uint64_t len;      /* bytes asked for, when it moves bytes */
	uint32_t opcode;
	uint32_t handle;   /* CLOSE: the handle, and its generation: */
	uint32_t handle_generation;
	int32_t slots[SR_MAX_IOV]; /* slots it names, in wire order */
	uint8_t nslots;
	uint8_t state;     /* enum sr_op_state */
	bool vectored;     /* slots come back as Completion.slots */
	bool multishot;
	bool internal;     /* sr_pread & co.: completes into c->sync_cqe */
};

/* One operation in wire form, with the submessages it points to. */
struct sr_wire_op {
	Saferring__Op op;
	Saferring__FdHandle fd;
	Saferring__SlotRef slot;
	Saferring__SlotRef iov[SR_MAX_IOV];
	Saferring__SlotRef *iov_ptrs[SR_MAX_IOV];
	unsigned char addr[sizeof(struct sockaddr_storage)];
};

/* What an sr_prep_* call or a blocking helper asks for.  The opcode says
 * which fields count (see batch.c). */
struct sr_op_req {
	uint64_t user_data;
	uint32_t opcode;
	uint32_t flags;
	int handle;
	int slot;
	uint32_t slot_offset;
	uint32_t len;
	const struct sr_iov *iov;
	unsigned niov;
	uint64_t file_offset;
	uint64_t length;      /* FALLOCATE */
	uint64_t timeout_ns;
	uint64_t target;      /* a wire tag */
	const struct sockaddr *addr;
	socklen_t addrlen;
	uint32_t msg_flags;
};

struct sr_client {
	int sock;
	uint32_t busy_poll_us; /* spin this long before poll(2) */
	int error;      /* sticky -errno once the session is unusable */
	uint32_t seq;   /* last control request's seq */
	struct sr_limits lim;
	unsigned char *arena;
	size_t arena_size;

	struct sr_slot *slots;    /* lim.slot_count */
	uint32_t free_slot;       /* free list head, SR_NONE when empty */
	struct sr_handle *handles; /* fd_table_size */
	uint32_t fd_table_size;   /* handle indices are below it */

	struct sr_op *ops;        /* lim.max_in_flight, indexed by tag */
	uint32_t *op_free;        /* stack of free tags */
	uint32_t op_nfree;
	unsigned in_flight;       /* sent, completion not reaped */

	struct sr_wire_op *batch; /* lim.max_batch */
	Saferring__Op **batch_ptrs;
	unsigned nbatch;
	size_t batch_bytes;       /* packed size of the Submit so far */
	uint32_t chain;           /* id of the chain the next op may join */

	/* Ring of cq_cap: one entry per tag, plus the interim completions
	 * of multishot operations, each of which hands over a pooled slot
	 * or a new handle. */
	struct sr_cqe *cq;
	unsigned cq_cap;
	unsigned cq_head;
	unsigned cq_len;
	struct sr_cqe sync_cqe;   /* the blocking helpers' completion */
	bool sync_done;

	struct wire_arena unpack;
	unsigned char *unpack_buf; /* SR_UNPACK_SIZE */
	unsigned char rx[WIRE_MAX_DATAGRAM];
};

/* conn.c: the socket.  Every failure that leaves the session unusable is
 * made sticky by srl_fail(). */
int srl_fail(struct sr_client *c, int err);
int srl_send_msg(struct sr_client *c, const ProtobufCMessage *msg, int fd);
int srl_recv_reply(struct sr_client *c, bool wait, int *fd,
		  Saferring__Reply **out);
int srl_pump(struct sr_client *c, bool wait, Saferring__Reply **ctl);
int srl_control(struct sr_client *c, Saferring__Request *req, int fd,
	       Saferring__Reply **out);

/* batch.c: operations from request to wire. */
int srl_op_prepare(struct sr_client *c, const struct sr_op_req *r,
		  bool internal, struct sr_wire_op *w);
void srl_op_drop(struct sr_client *c, uint32_t tag);
int srl_send_ops(struct sr_client *c, Saferring__Op **ops, unsigned n);

/* cqe.c: completions from wire to queue. */
int srl_take_completions(struct sr_client *c,
			 const Saferring__Completions *cs);

#endif
