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
	SR_SLOT_IN_FLIGHT,  /* named by an operation prepared or sent */
};

struct sr_slot {
	uint32_t generation; /* the daemon's current generation */
	uint32_t next_free;  /* free list link, SR_NONE at the end */
	uint8_t state;       /* enum sr_slot_state */
};

struct sr_handle {
	uint32_t generation;
	bool live;
};

enum sr_op_state {
	SR_OP_FREE = 0,
	SR_OP_BATCHED, /* prepared, not sent yet */
	SR_OP_SENT,    /* sent, completion not arrived yet */
};

/* An operation prepared or sent.  Its index in c->ops is its wire tag. */
struct sr_op {
	uint64_t user_data;
	int32_t slot;   /* -1 when the operation takes none */
	uint32_t len;   /* bytes asked for (READ/WRITE) */
	uint32_t opcode;
	uint8_t state;  /* enum sr_op_state */
	bool internal;  /* sr_pread & co.: completes into c->sync_cqe */
};

/* One operation in wire form, with the submessages it points to. */
struct sr_wire_op {
	Saferring__Op op;
	Saferring__FdHandle fd;
	Saferring__SlotRef slot;
};

/* What an sr_prep_* call or a blocking helper asks for. */
struct sr_op_req {
	uint64_t user_data;
	uint32_t opcode;
	int handle;
	int slot;
	uint32_t slot_offset;
	uint32_t len;
	uint64_t file_offset;
	uint32_t flags;
};

struct sr_client {
	int sock;
	int error;      /* sticky -errno once the session is unusable */
	uint32_t seq;   /* last control request's seq */
	struct sr_limits lim;
	unsigned char *arena;
	size_t arena_size;

	struct sr_slot *slots;    /* lim.slot_count */
	uint32_t free_slot;       /* free list head, SR_NONE when empty */
	struct sr_handle *handles; /* lim.max_fds */

	struct sr_op *ops;        /* lim.max_in_flight, indexed by tag */
	uint32_t *op_free;        /* stack of free tags */
	uint32_t op_nfree;
	unsigned in_flight;       /* sent, completion not reaped */

	struct sr_wire_op *batch; /* lim.max_batch */
	Saferring__Op **batch_ptrs;
	unsigned nbatch;

	struct sr_cqe *cq;        /* ring of lim.max_in_flight */
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
