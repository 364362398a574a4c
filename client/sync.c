/* SPDX-License-Identifier: MIT */
/*
 * sync.c - sr_pread, sr_pwrite and sr_fsync: one operation each, through a
 * slot the library acquires for the call, waited for specifically while
 * other completions stay queued for the caller.
 *
 * Shared by threads, each call holds the client's lock but while it
 * sleeps, and its completion comes to its own struct sr_sync.
 *
 * Must never copy more than the operation asked for or the daemon says it
 * did, and never move more than one slot per call.
 */
#include <errno.h>
#include <string.h>

#include "client.h"

/* Send one internal operation and wait for its completion. */
static int sr_sync_op(struct sr_client *c, const struct sr_op_req *r,
		      struct sr_cqe *cqe)
{
	struct sockaddr_storage addr;
	struct sr_sync sync = { .done = false };
	struct op_request op;
	int ret;

	ret = srl_op_prepare(c, r, true, &op, &addr);
	if (ret)
		return ret;
	c->ops[op.tag].sync = &sync;
	if (!(c->inline_on && !c->in_flight && srl_inline_try(c, &op))) {
		ret = srl_send_ops(c, &op, 1, true);
		if (ret) {
			srl_op_drop(c, (uint32_t)op.tag);
			return ret;
		}
	}
	while (!sync.done) {
		ret = srl_pump_wait(c);
		if (ret < 0 && ret != -EINTR) {
			/* Still in flight: its completion must not land in
			 * this frame once it is gone. */
			c->ops[op.tag].sync = &c->sync_lost;
			return ret;
		}
	}
	*cqe = sync.cqe;
	return 0;
}

static ssize_t sr_sync_rw(struct sr_client *c, uint32_t opcode, int handle,
			  void *rbuf, const void *wbuf, size_t len,
			  uint64_t offset)
{
	struct sr_op_req r = {
		.opcode = opcode,
		.handle = handle,
		.len = len < c->lim.slot_size ? (uint32_t)len
					      : c->lim.slot_size,
		.file_offset = offset,
	};
	struct sr_cqe cqe;
	void *data;
	int ret;

	srl_lock(c);
	ret = srl_slot_acquire(c);
	if (ret < 0)
		goto out;
	r.slot = ret;
	data = sr_slot_data(c, SR_SLOT(r.slot));
	if (wbuf)
		memcpy(data, wbuf, r.len);
	ret = sr_sync_op(c, &r, &cqe);
	if (!ret) {
		ret = cqe.res;
		if (rbuf && ret > 0)
			memcpy(rbuf, data, (size_t)ret);
	}
	/* Fails only if the session died with the operation in flight. */
	srl_slot_release(c, r.slot);
out:
	srl_unlock(c);
	return ret;
}

ssize_t sr_pread(struct sr_client *c, sr_handle_t handle, void *buf,
		 size_t len, uint64_t offset)
{
	return sr_sync_rw(c, SR_OP_READ, sr_handle_index(handle), buf, NULL,
			  len, offset);
}

ssize_t sr_pwrite(struct sr_client *c, sr_handle_t handle, const void *buf,
		  size_t len, uint64_t offset)
{
	return sr_sync_rw(c, SR_OP_WRITE, sr_handle_index(handle), NULL, buf,
			  len, offset);
}

int sr_fsync(struct sr_client *c, sr_handle_t handle)
{
	struct sr_op_req r = {
		.opcode = SR_OP_FSYNC, .handle = sr_handle_index(handle),
	};
	struct sr_cqe cqe;
	int ret;

	srl_lock(c);
	ret = sr_sync_op(c, &r, &cqe);
	srl_unlock(c);
	return ret ? ret : cqe.res;
}
