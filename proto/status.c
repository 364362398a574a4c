/* SPDX-License-Identifier: MIT */
/*
 * status.c - names and errno values of enum sr_status, shared by the
 * daemon (which fills sr_cqe.res for refused operations) and the library
 * (which reports them).  Must stay in step with proto/saferring.proto.
 */
#include <errno.h>

#include "op_table.h"
#include "saferring.h"
#include "saferring.pb-c.h"

#define SAME(a, b) _Static_assert((int)(a) == (int)(b), #a " != " #b)
SAME(SR_STATUS_OK, SAFERRING__STATUS__STATUS_OK);
SAME(SR_STATUS_MALFORMED, SAFERRING__STATUS__STATUS_MALFORMED);
SAME(SR_STATUS_UNKNOWN_OP, SAFERRING__STATUS__STATUS_UNKNOWN_OP);
SAME(SR_STATUS_BAD_SLOT, SAFERRING__STATUS__STATUS_BAD_SLOT);
SAME(SR_STATUS_STALE_GENERATION, SAFERRING__STATUS__STATUS_STALE_GENERATION);
SAME(SR_STATUS_BUFFER_IN_FLIGHT, SAFERRING__STATUS__STATUS_BUFFER_IN_FLIGHT);
SAME(SR_STATUS_OUT_OF_BOUNDS, SAFERRING__STATUS__STATUS_OUT_OF_BOUNDS);
SAME(SR_STATUS_BAD_HANDLE, SAFERRING__STATUS__STATUS_BAD_HANDLE);
SAME(SR_STATUS_STALE_HANDLE, SAFERRING__STATUS__STATUS_STALE_HANDLE);
SAME(SR_STATUS_NOT_PERMITTED, SAFERRING__STATUS__STATUS_NOT_PERMITTED);
SAME(SR_STATUS_QUOTA, SAFERRING__STATUS__STATUS_QUOTA);
SAME(SR_STATUS_BAD_FLAGS, SAFERRING__STATUS__STATUS_BAD_FLAGS);
SAME(SR_STATUS_VERSION, SAFERRING__STATUS__STATUS_VERSION);
SAME(SR_STATUS_PROTOCOL, SAFERRING__STATUS__STATUS_PROTOCOL);
SAME(SR_STATUS_TOO_LARGE, SAFERRING__STATUS__STATUS_TOO_LARGE);
SAME(SR_STATUS_BAD_DESCRIPTORS, SAFERRING__STATUS__STATUS_BAD_DESCRIPTORS);
SAME(SR_STATUS_BUSY, SAFERRING__STATUS__STATUS_BUSY);
SAME(SR_STATUS_INTERNAL, SAFERRING__STATUS__STATUS_INTERNAL);
SAME(SR_STATUS_CHAIN_REFUSED, SAFERRING__STATUS__STATUS_CHAIN_REFUSED);
SAME(SR_STATUS_BAD_CHAIN, SAFERRING__STATUS__STATUS_BAD_CHAIN);
SAME(SR_STATUS_BAD_ADDRESS, SAFERRING__STATUS__STATUS_BAD_ADDRESS);
SAME(SR_STATUS_FILE_TOO_LARGE, SAFERRING__STATUS__STATUS_FILE_TOO_LARGE);
#define SAME_OP(op, ...) SAME(SR_OP_##op, SAFERRING__OPCODE__OP_##op);
SR_OP_TABLE(SAME_OP)
SAME(SR_OP__COUNT, SAFERRING__OPCODE__OP_PROVIDE + 1);
SAME(SR_LINK, SAFERRING__LINK__LINK_SOFT);
SAME(SR_LINK_HARD, SAFERRING__LINK__LINK_HARD);

static const struct {
	const char *text;
	int err;
} status_table[SR_STATUS__COUNT] = {
	[SR_STATUS_OK] = { "success", 0 },
	[SR_STATUS_MALFORMED] = { "malformed request", EINVAL },
	[SR_STATUS_UNKNOWN_OP] = { "unknown operation", EOPNOTSUPP },
	[SR_STATUS_BAD_SLOT] = { "no such slot", ENXIO },
	[SR_STATUS_STALE_GENERATION] = { "stale slot generation", ESTALE },
	[SR_STATUS_BUFFER_IN_FLIGHT] = { "slot already in flight", EBUSY },
	[SR_STATUS_OUT_OF_BOUNDS] = { "range outside the slot", ERANGE },
	[SR_STATUS_BAD_HANDLE] = { "no such fd handle", EBADF },
	[SR_STATUS_STALE_HANDLE] = { "stale fd handle", EBADF },
	[SR_STATUS_NOT_PERMITTED] = { "not permitted by policy", EPERM },
	[SR_STATUS_QUOTA] = { "quota exceeded", EDQUOT },
	[SR_STATUS_BAD_FLAGS] = { "flags not allowed", EINVAL },
	[SR_STATUS_VERSION] = { "protocol version not supported", EPROTO },
	[SR_STATUS_PROTOCOL] = { "request not valid now", EPROTO },
	[SR_STATUS_TOO_LARGE] = { "message or batch too large", EMSGSIZE },
	[SR_STATUS_BAD_DESCRIPTORS] = { "missing or unexpected descriptors", EBADF },
	[SR_STATUS_BUSY] = { "in use by operations in flight", EBUSY },
	[SR_STATUS_INTERNAL] = { "daemon internal error", EIO },
	[SR_STATUS_CHAIN_REFUSED] = { "another operation of the chain was refused",
				      ECANCELED },
	[SR_STATUS_BAD_CHAIN] = { "chain not allowed so", EINVAL },
	[SR_STATUS_BAD_ADDRESS] = { "socket address not accepted", EINVAL },
	[SR_STATUS_FILE_TOO_LARGE] = { "past the client's file size limit "
				       "(RLIMIT_FSIZE)", EFBIG },
};

const char *sr_strstatus(uint32_t status)
{
	if (status >= SR_STATUS__COUNT)
		return "unknown status";
	return status_table[status].text;
}

int sr_status_errno(uint32_t status)
{
	if (status >= SR_STATUS__COUNT)
		return -EIO;
	return -status_table[status].err;
}
