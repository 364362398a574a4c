/* SPDX-License-Identifier: MIT */
/*
 * op_table.c - the rows of op_table.h as data, for the daemon's
 * validator and policy names and the client library's checks.
 */
#include "op_table.h"

#define OPF_ROW(rule) OPF_##rule
#define OP_INFO_ROW(op, nm, fd_, slot_, iov_, off_, len_, to_, tgt_, addr_, \
		    msg_, flags_, msgf_, daemon_, arg_, kernel_)             \
	[SR_OP_##op] = {                                                    \
		.name = nm,                                                 \
		.fd = OPF_ROW(fd_), .slot = OPF_ROW(slot_),                 \
		.iov = OPF_ROW(iov_), .file_offset = OPF_ROW(off_),         \
		.length = OPF_ROW(len_), .timeout = OPF_ROW(to_),           \
		.target = OPF_ROW(tgt_), .addr = OPF_ROW(addr_),            \
		.msg = OPF_ROW(msg_),                                       \
		.flags = flags_, .msg_flags = msgf_, .daemon = daemon_,     \
		.arg = arg_, .kernel = #kernel_,                            \
	},

static const struct op_info op_rows[SR_OP__COUNT] = {
	SR_OP_TABLE(OP_INFO_ROW)
};

const struct op_info *op_info(uint32_t opcode)
{
	return opcode < SR_OP__COUNT ? &op_rows[opcode] : NULL;
}
