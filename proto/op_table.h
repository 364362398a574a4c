/* SPDX-License-Identifier: MIT */
/*
 * op_table.h - the one table of saferring's operations.  Every opcode is
 * one row; the validator's field rules, the allowed flag bits, the name
 * a policy file uses, whether the daemon does it itself, which kernel
 * opcode runs it and what the daemon keeps for the kernel while it runs
 * all come from the row, in the daemon and in the client library alike.
 * Adding an operation is a row here plus, where the kernel needs them,
 * its SQE fields in daemon/ring.c.
 *
 * Private: included by daemon/ and client/ code, never installed.  Must
 * never disagree with enum sr_opcode in saferring.h or enum Opcode in
 * saferring.proto: SR_OP_TABLE_CHECK and proto/status.c check both at
 * compile time.
 */
#ifndef SAFERRING_OP_TABLE_H
#define SAFERRING_OP_TABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "saferring.h"

/* Whether an opcode takes a field. */
enum op_field_rule {
	OPF_NO = 0, /* must be absent */
	OPF_REQ,    /* must be present */
	OPF_OPT,    /* may be present */
};

/* What the daemon keeps for the kernel while the operation runs. */
enum op_arg {
	OPA_NONE,  /* nothing but the SQE */
	OPA_SLOT,  /* a slot range: buffer and length */
	OPA_IOV,   /* an iovec array over slot ranges */
	OPA_MSG,   /* a msghdr over that iovec array */
	OPA_ADDR,  /* a socket address */
	OPA_TS,    /* a timespec */
};

#define SR_FALLOC_MODES (SR_FALLOC_KEEP_SIZE | SR_FALLOC_PUNCH_HOLE | \
			 SR_FALLOC_ZERO_RANGE)
#define SR_SHUTDOWN_HOWS (SHUT_RD | SHUT_WR | SHUT_RDWR)

/*
 * X(op, name, fd, slot, iov, file_offset, length, timeout, target, addr,
 *   msg, flags, msg_flags, daemon, arg, kernel)
 *
 * op: the SR_OP_ suffix; name: as a policy file spells it; fd ... msg:
 * the field rules (REQ, OPT, NO); flags, msg_flags: the bits allowed;
 * daemon: done by the daemon itself, never by the kernel and never in a
 * chain; arg: what the daemon keeps for the kernel; kernel: the io_uring
 * opcode (only the daemon expands it).  A multishot RECV takes no slot:
 * validator.c says so, since it depends on the flags.
 */
#define SR_OP_TABLE(X)                                                        \
	X(NOP, "nop", NO, NO, NO, NO, NO, NO, NO, NO, NO, 0, 0, false,       \
	  OPA_NONE, IORING_OP_NOP)                                            \
	X(READ, "read", REQ, REQ, NO, REQ, NO, NO, NO, NO, NO, 0, 0, false,  \
	  OPA_SLOT, IORING_OP_READ_FIXED)                                     \
	X(WRITE, "write", REQ, REQ, NO, REQ, NO, NO, NO, NO, NO, 0, 0, false, \
	  OPA_SLOT, IORING_OP_WRITE_FIXED)                                    \
	X(FSYNC, "fsync", REQ, NO, NO, NO, NO, NO, NO, NO, NO,               \
	  SR_FSYNC_DATASYNC, 0, false, OPA_NONE, IORING_OP_FSYNC)             \
	X(READV, "readv", REQ, NO, REQ, REQ, NO, NO, NO, NO, NO, 0, 0, false, \
	  OPA_IOV, IORING_OP_READV)                                           \
	X(WRITEV, "writev", REQ, NO, REQ, REQ, NO, NO, NO, NO, NO, 0, 0,     \
	  false, OPA_IOV, IORING_OP_WRITEV)                                   \
	X(FALLOCATE, "fallocate", REQ, NO, NO, REQ, REQ, NO, NO, NO, NO,     \
	  SR_FALLOC_MODES, 0, false, OPA_NONE, IORING_OP_FALLOCATE)           \
	X(SEND, "send", REQ, REQ, NO, NO, NO, NO, NO, NO, OPT, 0,            \
	  SR_SEND_MSG_FLAGS, false, OPA_SLOT, IORING_OP_SEND)                 \
	X(RECV, "recv", REQ, REQ, NO, NO, NO, NO, NO, NO, OPT,               \
	  SR_RECV_MULTISHOT, SR_RECV_MSG_FLAGS, false, OPA_SLOT,              \
	  IORING_OP_RECV)                                                     \
	X(SENDMSG, "sendmsg", REQ, NO, REQ, NO, NO, NO, NO, NO, OPT, 0,      \
	  SR_SEND_MSG_FLAGS, false, OPA_MSG, IORING_OP_SENDMSG)               \
	X(RECVMSG, "recvmsg", REQ, NO, REQ, NO, NO, NO, NO, NO, OPT, 0,      \
	  SR_RECV_MSG_FLAGS, false, OPA_MSG, IORING_OP_RECVMSG)               \
	X(ACCEPT, "accept", REQ, NO, NO, NO, NO, NO, NO, NO, NO,             \
	  SR_ACCEPT_MULTISHOT, 0, false, OPA_NONE, IORING_OP_ACCEPT)          \
	X(CONNECT, "connect", REQ, NO, NO, NO, NO, NO, NO, REQ, NO, 0, 0,    \
	  false, OPA_ADDR, IORING_OP_CONNECT)                                 \
	X(POLL_ADD, "poll_add", REQ, NO, NO, NO, NO, NO, NO, NO, NO,         \
	  SR_POLL_EVENTS, 0, false, OPA_NONE, IORING_OP_POLL_ADD)             \
	X(POLL_REMOVE, "poll_remove", NO, NO, NO, NO, NO, NO, REQ, NO, NO,   \
	  0, 0, false, OPA_NONE, IORING_OP_POLL_REMOVE)                       \
	X(TIMEOUT, "timeout", NO, NO, NO, NO, NO, REQ, NO, NO, NO, 0, 0,     \
	  false, OPA_TS, IORING_OP_TIMEOUT)                                   \
	X(LINK_TIMEOUT, "link_timeout", NO, NO, NO, NO, NO, REQ, NO, NO, NO, \
	  0, 0, false, OPA_TS, IORING_OP_LINK_TIMEOUT)                        \
	X(ASYNC_CANCEL, "cancel", NO, NO, NO, NO, NO, NO, REQ, NO, NO, 0, 0, \
	  false, OPA_NONE, IORING_OP_ASYNC_CANCEL)                            \
	X(CLOSE, "close", REQ, NO, NO, NO, NO, NO, NO, NO, NO, 0, 0, true,   \
	  OPA_NONE, NO_KERNEL_OP)                                             \
	X(SHUTDOWN, "shutdown", REQ, NO, NO, NO, NO, NO, NO, NO, NO,         \
	  SR_SHUTDOWN_HOWS, 0, false, OPA_NONE, IORING_OP_SHUTDOWN)           \
	X(PROVIDE, "provide", NO, REQ, NO, NO, NO, NO, NO, NO, NO, 0, 0,     \
	  true, OPA_SLOT, NO_KERNEL_OP)

/* One row per opcode, no more: with designated initializers (indexed by
 * SR_OP_x) a duplicate row is an "initialized field overwritten" error
 * (-Wextra), and this counts them. */
#define SR_OP_TABLE_COUNT_ROW(op, ...) +1
_Static_assert(0 SR_OP_TABLE(SR_OP_TABLE_COUNT_ROW) == SR_OP__COUNT,
	       "every opcode of enum sr_opcode needs one row in SR_OP_TABLE");

/* What the table says of one opcode, for code that needs no kernel. */
struct op_info {
	const char *name;
	uint8_t fd, slot, iov, file_offset, length, timeout, target, addr, msg;
	uint32_t flags;     /* allowed flag bits */
	uint32_t msg_flags; /* allowed MSG_* bits */
	bool daemon;        /* done by the daemon, never by the kernel */
	uint8_t arg;        /* enum op_arg */
	const char *kernel; /* the io_uring opcode's name, for messages;
			     * unless daemon */
};

/* The row of @opcode, or NULL for an unknown one. */
const struct op_info *op_info(uint32_t opcode);

#endif
