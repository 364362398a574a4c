/* SPDX-License-Identifier: MIT */
/*
 * batch.c - builds operations (sr_prep_*), each under an internal tag that
 * indexes c->ops, and sends them as one Submit (sr_submit).
 *
 * Must never put on the wire an operation the library already knows is
 * wrong (bad slot, range, handle or flags), never let prepared plus
 * unreaped operations exceed max_in_flight, never send a batch over
 * max_batch or over one datagram, and never let a slot be named by two
 * operations that could run at once (only members of one chain share).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>

#include "client.h"
#include "op_table.h"

/* What each opcode takes: its row of the one table of operations
 * (proto/op_table.h), which the daemon's validator also reads. */
struct sr_op_needs {
	bool fd;
	bool slot;
	bool iov;
	bool file_offset;
	bool daemon; /* done by the daemon: never in a chain */
};

static struct sr_op_needs sr_needs(uint32_t opcode)
{
	const struct op_info *i = op_info(opcode);

	return (struct sr_op_needs){
		.fd = i->fd == OPF_REQ,
		.slot = i->slot == OPF_REQ,
		.iov = i->iov == OPF_REQ,
		.file_offset = i->file_offset == OPF_REQ,
		.daemon = i->daemon,
	};
}

/* Whether the last operation of the batch links to the next one. */
static bool sr_chain_open(const struct sr_client *c)
{
	return c->nbatch && c->batch[c->nbatch - 1].link;
}

/* May an operation of chain @chain name @slot's [off, off + len)? */
static int sr_slot_usable(const struct sr_client *c, int slot, uint32_t off,
			  uint32_t len, uint32_t chain)
{
	const struct sr_slot *s;

	if (slot < 0 || (uint32_t)slot >= c->lim.slot_count ||
	    (uint64_t)off + len > c->lim.slot_size)
		return -EINVAL;
	s = &c->slots[slot];
	if (s->state == SR_SLOT_ACQUIRED)
		return 0;
	/* Members of one chain run one after another. */
	if (s->state == SR_SLOT_IN_FLIGHT && chain && s->chain == chain)
		return 0;
	return s->state == SR_SLOT_FREE ? -EINVAL : -EBUSY;
}

static int sr_check_iov(const struct sr_client *c, const struct sr_op_req *r,
			uint32_t chain)
{
	int ret;

	if (!r->iov || r->niov == 0 || r->niov > SR_MAX_IOV)
		return -EINVAL;
	for (unsigned i = 0; i < r->niov; i++) {
		ret = sr_slot_usable(c, sr_slot_index(r->iov[i].slot),
				     r->iov[i].offset,
				     r->iov[i].len, chain);
		if (ret)
			return ret;
		for (unsigned j = 0; j < i; j++)
			if (sr_slot_eq(r->iov[j].slot, r->iov[i].slot))
				return -EBUSY;
	}
	return 0;
}

/* The checks the daemon would refuse with a status, made here first. */
static int sr_check_req(const struct sr_client *c, const struct sr_op_req *r,
			const struct sr_op_needs *n, uint32_t chain)
{
	int ret;

	if (n->fd && (r->handle < 0 ||
		      (uint32_t)r->handle >= c->fd_table_size ||
		      c->handles[r->handle].state != SR_HANDLE_LIVE))
		return -EINVAL;
	if (n->file_offset && r->file_offset > INT64_MAX)
		return -EINVAL;
	if (n->iov) {
		ret = sr_check_iov(c, r, chain);
		if (ret)
			return ret;
	}
	if (n->slot && !(r->opcode == SR_OP_RECV &&
			 (r->flags & SR_RECV_MULTISHOT))) {
		ret = sr_slot_usable(c, r->slot, r->slot_offset, r->len,
				     n->daemon ? 0 : chain);
		if (ret)
			return ret;
	}
	switch (r->opcode) {
	case SR_OP_FSYNC:
		return r->flags & ~SR_FSYNC_DATASYNC ? -EINVAL : 0;
	case SR_OP_FALLOCATE:
		if ((r->flags & ~(SR_FALLOC_KEEP_SIZE | SR_FALLOC_PUNCH_HOLE |
				  SR_FALLOC_ZERO_RANGE)) ||
		    ((r->flags & SR_FALLOC_PUNCH_HOLE) &&
		     (!(r->flags & SR_FALLOC_KEEP_SIZE) ||
		      (r->flags & SR_FALLOC_ZERO_RANGE))) ||
		    r->length > (uint64_t)INT64_MAX - r->file_offset)
			return -EINVAL;
		return 0;
	case SR_OP_SEND:
	case SR_OP_SENDMSG:
		return r->msg_flags & ~SR_SEND_MSG_FLAGS ? -EINVAL : 0;
	case SR_OP_RECV:
	case SR_OP_RECVMSG:
		return r->msg_flags & ~SR_RECV_MSG_FLAGS ? -EINVAL : 0;
	case SR_OP_POLL_ADD:
		return r->flags & ~SR_POLL_EVENTS ? -EINVAL : 0;
	case SR_OP_SHUTDOWN:
		return r->flags > SHUT_RDWR ? -EINVAL : 0;
	case SR_OP_LINK_TIMEOUT:
		return chain && sr_chain_open(c) ? 0 : -EINVAL;
	case SR_OP_CONNECT:
		if (!r->addr || r->addrlen < sizeof(sa_family_t))
			return -EINVAL;
		if (r->addr->sa_family == AF_INET)
			return r->addrlen == sizeof(struct sockaddr_in) ?
			       0 : -EINVAL;
		if (r->addr->sa_family == AF_INET6)
			return r->addrlen == sizeof(struct sockaddr_in6) ?
			       0 : -EINVAL;
		return -EAFNOSUPPORT;
	case SR_OP_PROVIDE:
		/* The pool takes whole slots only; never in a chain. */
		return r->slot_offset || r->len != c->lim.slot_size ||
		       sr_chain_open(c) ? -EINVAL : 0;
	case SR_OP_CLOSE:
		return sr_chain_open(c) ? -EINVAL : 0;
	default:
		return 0;
	}
}

/* The slot goes to this operation (shared within its chain). */
static void sr_slot_take(struct sr_client *c, struct sr_op *op, int slot,
			 uint32_t chain)
{
	slot_pool_take(&c->slots[slot], chain);
	op->slots[op->nslots++] = slot;
}

static void sr_fill_wire(struct sr_client *c, const struct sr_op_req *r,
			 const struct sr_op_needs *n, struct sr_op *op,
			 uint32_t tag, uint32_t chain, struct op_request *o,
			 struct sockaddr_storage *addr)
{
	/* Not the ranges: only the first n_iov are ever read, and zeroing
	 * all of them costs more than the rest of the preparation. */
	memset(o, 0, offsetof(struct op_request, iov));
	memset(&o->has_file_offset, 0, sizeof(*o) -
	       offsetof(struct op_request, has_file_offset));
	o->tag = tag;
	o->opcode = r->opcode;
	o->flags = r->flags;
	if (n->fd) {
		o->has_fd = true;
		o->fd_index = (uint32_t)r->handle;
		o->fd_generation = c->handles[r->handle].generation;
	}
	if (n->file_offset) {
		o->has_file_offset = true;
		o->file_offset = r->file_offset;
	}
	if (n->iov) {
		for (unsigned i = 0; i < r->niov; i++) {
			const struct sr_iov *v = &r->iov[i];

			o->iov[i] = (struct op_slot_ref){
				.index = (uint32_t)sr_slot_index(v->slot),
				.generation =
				    c->slots[sr_slot_index(v->slot)].generation,
				.offset = v->offset,
				.length = v->len,
			};
			op->len += v->len;
			sr_slot_take(c, op, sr_slot_index(v->slot), chain);
		}
		o->n_iov = r->niov;
		op->vectored = true;
	}
	switch (r->opcode) {
	case SR_OP_RECV:
		if (r->flags & SR_RECV_MULTISHOT) {
			op->multishot = true;
			break;
		}
		/* fall through */
	case SR_OP_READ:
	case SR_OP_WRITE:
	case SR_OP_SEND:
	case SR_OP_PROVIDE:
		o->has_slot = true;
		o->slot_index = (uint32_t)r->slot;
		o->slot_generation = c->slots[r->slot].generation;
		o->slot_offset = r->slot_offset;
		o->slot_length = r->len;
		if (r->opcode == SR_OP_PROVIDE) {
			o->slot_offset = 0;
			c->slots[r->slot].state = SR_SLOT_POOLED;
			op->slots[op->nslots++] = r->slot;
			break;
		}
		op->len = r->len;
		sr_slot_take(c, op, r->slot, chain);
		break;
	case SR_OP_FALLOCATE:
		o->has_length = true;
		o->length = r->length;
		break;
	case SR_OP_TIMEOUT:
	case SR_OP_LINK_TIMEOUT:
		o->has_timeout = true;
		o->timeout_ns = r->timeout_ns;
		break;
	case SR_OP_POLL_REMOVE:
	case SR_OP_ASYNC_CANCEL:
		o->has_target = true;
		o->target = r->target;
		break;
	case SR_OP_CONNECT:
		memcpy(addr, r->addr, r->addrlen);
		o->has_addr = true;
		o->addr = (const unsigned char *)addr;
		o->addr_len = r->addrlen;
		break;
	case SR_OP_ACCEPT:
		op->multishot = r->flags & SR_ACCEPT_MULTISHOT;
		break;
	case SR_OP_CLOSE:
		op->handle = (uint32_t)r->handle;
		op->handle_generation = c->handles[r->handle].generation;
		c->handles[r->handle].state = SR_HANDLE_CLOSING;
		break;
	default:
		break;
	}
	if (r->opcode == SR_OP_SEND || r->opcode == SR_OP_RECV ||
	    r->opcode == SR_OP_SENDMSG || r->opcode == SR_OP_RECVMSG) {
		o->has_msg_flags = r->msg_flags != 0;
		o->msg_flags = r->msg_flags;
	}
}

/* Check @r, take a tag for it and fill @w.  The slots it names become
 * IN_FLIGHT (POOLED for PROVIDE) until its completion arrives. */
int srl_op_prepare(struct sr_client *c, const struct sr_op_req *r,
		  bool internal, struct op_request *o,
		  struct sockaddr_storage *addr)
{
	struct sr_op_needs needs;
	const struct sr_op_needs *n = &needs;
	uint32_t chain = 0;
	struct sr_op *op;
	uint32_t tag;
	int ret;

	if (c->error)
		return c->error;
	if (r->opcode >= SR_OP__COUNT)
		return -EINVAL;
	if (c->in_flight + c->nbatch >= c->lim.max_in_flight || !c->op_nfree)
		return -ENOSPC;
	needs = sr_needs(r->opcode);
	/* Internal operations are sent alone, never in the batch's chain. */
	if (!internal)
		chain = sr_chain_open(c) ? c->chain : ++c->chain;
	if (!chain && !internal)
		chain = ++c->chain; /* 0 means "no chain" */
	ret = sr_check_req(c, r, n, chain);
	if (ret)
		return ret;

	tag = c->op_free[--c->op_nfree];
	op = &c->ops[tag];
	*op = (struct sr_op){
		.user_data = r->user_data,
		.opcode = r->opcode,
		.state = SR_OP_BATCHED,
		.internal = internal,
	};
	sr_fill_wire(c, r, n, op, tag, chain, o, addr);
	return 0;
}

/* Forget a prepared operation that was never sent. */
void srl_op_drop(struct sr_client *c, uint32_t tag)
{
	struct sr_op *op = &c->ops[tag];

	for (unsigned i = 0; i < op->nslots; i++) {
		struct sr_slot *s = &c->slots[op->slots[i]];

		if (s->state == SR_SLOT_POOLED)
			s->state = SR_SLOT_ACQUIRED;
		else
			slot_pool_put_back(s);
	}
	if (op->opcode == SR_OP_CLOSE &&
	    c->handles[op->handle].state == SR_HANDLE_CLOSING)
		c->handles[op->handle].state = SR_HANDLE_LIVE;
	op->state = SR_OP_FREE;
	c->op_free[c->op_nfree++] = tag;
}

int srl_send_ops(struct sr_client *c, const struct op_request *ops,
		 unsigned n, bool wait)
{
	int ret = c->rings.on ? srl_rings_send(c, ops, n, wait) :
				srl_socket_send(c, ops, n, wait);

	if (ret)
		return ret;
	for (unsigned i = 0; i < n; i++)
		c->ops[ops[i].tag].state = SR_OP_SENT;
	c->in_flight += n;
	return 0;
}

/* Most bytes an operation adds to a batch, in either layout: each of its
 * fields at most 10 bytes of varint plus a tag, a slot range 4 of them,
 * and the nested layout's framing.  A bound, not a size: only used to
 * keep a batch inside one datagram or record. */
static size_t sr_op_wire_bytes(const struct op_request *o)
{
	return 96 + (size_t)o->n_iov * 48 + o->addr_len;
}

static int sr_prep_locked(struct sr_client *c, const struct sr_op_req *r)
{
	struct op_request *o = &c->batch[c->nbatch];
	size_t bytes;
	int ret;

	if (c->nbatch >= c->lim.max_batch)
		return -ENOSPC;
	ret = srl_op_prepare(c, r, false, o, &c->batch_addr[c->nbatch]);
	if (ret)
		return ret;
	bytes = sr_op_wire_bytes(o);
	if (c->batch_bytes + bytes > WIRE_MAX_DATAGRAM - 256) {
		srl_op_drop(c, (uint32_t)o->tag);
		return -ENOSPC;
	}
	c->batch_bytes += bytes;
	c->nbatch++;
	return 0;
}

/* Every sr_prep_* comes here: one operation added under the lock. */
static int sr_prep(struct sr_client *c, const struct sr_op_req *r)
{
	int ret;

	srl_lock(c);
	ret = sr_prep_locked(c, r);
	srl_unlock(c);
	return ret;
}

int sr_link_last(struct sr_client *c, unsigned link)
{
	struct op_request *op;
	int ret = -EINVAL;

	srl_lock(c);
	if (!c->nbatch || link > SR_LINK_HARD)
		goto out;
	op = &c->batch[c->nbatch - 1];
	/* The daemon does these itself, outside the kernel's chains. */
	if (link && op_info(op->opcode)->daemon)
		goto out;
	op->link = link;
	ret = 0;
out:
	srl_unlock(c);
	return ret;
}

int sr_set_callback(struct sr_client *c, sr_cqe_fn fn, void *arg)
{
	struct sr_op *op;

	if (!c)
		return -EINVAL;
	srl_lock(c);
	if (!c->nbatch) {
		srl_unlock(c);
		return -EINVAL;
	}
	op = &c->ops[c->batch[c->nbatch - 1].tag];
	op->cb = fn;
	op->cb_arg = fn ? arg : NULL;
	srl_unlock(c);
	return 0;
}

int sr_prep_nop(struct sr_client *c, uint64_t user_data)
{
	struct sr_op_req r = { .user_data = user_data, .opcode = SR_OP_NOP };

	return sr_prep(c, &r);
}

static int sr_prep_rw(struct sr_client *c, uint32_t opcode,
		      uint64_t user_data, int handle, int slot,
		      uint32_t slot_offset, uint32_t len, uint64_t file_offset,
		      uint32_t msg_flags)
{
	struct sr_op_req r = {
		.user_data = user_data, .opcode = opcode,
		.handle = handle, .slot = slot, .slot_offset = slot_offset,
		.len = len, .file_offset = file_offset,
		.msg_flags = msg_flags,
	};

	return sr_prep(c, &r);
}

int sr_prep_read(struct sr_client *c, uint64_t user_data, sr_handle_t handle,
		 sr_slot_t slot, uint32_t slot_offset, uint32_t len,
		 uint64_t file_offset)
{
	return sr_prep_rw(c, SR_OP_READ, user_data, sr_handle_index(handle),
			  sr_slot_index(slot), slot_offset,
			  len, file_offset, 0);
}

int sr_prep_write(struct sr_client *c, uint64_t user_data, sr_handle_t handle,
		  sr_slot_t slot, uint32_t slot_offset, uint32_t len,
		  uint64_t file_offset)
{
	return sr_prep_rw(c, SR_OP_WRITE, user_data, sr_handle_index(handle),
			  sr_slot_index(slot), slot_offset,
			  len, file_offset, 0);
}

int sr_prep_send(struct sr_client *c, uint64_t user_data, sr_handle_t handle,
		 sr_slot_t slot, uint32_t slot_offset, uint32_t len,
		 uint32_t msg_flags)
{
	return sr_prep_rw(c, SR_OP_SEND, user_data, sr_handle_index(handle),
			  sr_slot_index(slot), slot_offset,
			  len, 0, msg_flags);
}

int sr_prep_recv(struct sr_client *c, uint64_t user_data, sr_handle_t handle,
		 sr_slot_t slot, uint32_t slot_offset, uint32_t len,
		 uint32_t msg_flags)
{
	return sr_prep_rw(c, SR_OP_RECV, user_data, sr_handle_index(handle),
			  sr_slot_index(slot), slot_offset,
			  len, 0, msg_flags);
}

int sr_prep_fsync(struct sr_client *c, uint64_t user_data, sr_handle_t handle,
		  uint32_t fsync_flags)
{
	struct sr_op_req r = {
		.user_data = user_data, .opcode = SR_OP_FSYNC,
		.handle = sr_handle_index(handle), .flags = fsync_flags,
	};

	return sr_prep(c, &r);
}

static int sr_prep_vec(struct sr_client *c, uint32_t opcode,
		       uint64_t user_data, int handle,
		       const struct sr_iov *iov, unsigned n,
		       uint64_t file_offset, uint32_t msg_flags)
{
	struct sr_op_req r = {
		.user_data = user_data, .opcode = opcode, .handle = handle,
		.iov = iov, .niov = n, .file_offset = file_offset,
		.msg_flags = msg_flags,
	};

	return sr_prep(c, &r);
}

int sr_prep_readv(struct sr_client *c, uint64_t user_data, sr_handle_t handle,
		  const struct sr_iov *iov, unsigned n, uint64_t file_offset)
{
	return sr_prep_vec(c, SR_OP_READV, user_data, sr_handle_index(handle),
			   iov, n,
			   file_offset, 0);
}

int sr_prep_writev(struct sr_client *c, uint64_t user_data, sr_handle_t handle,
		   const struct sr_iov *iov, unsigned n, uint64_t file_offset)
{
	return sr_prep_vec(c, SR_OP_WRITEV, user_data, sr_handle_index(handle),
			   iov, n,
			   file_offset, 0);
}

int sr_prep_sendmsg(struct sr_client *c, uint64_t user_data, sr_handle_t handle,
		    const struct sr_iov *iov, unsigned n, uint32_t msg_flags)
{
	return sr_prep_vec(c, SR_OP_SENDMSG, user_data, sr_handle_index(handle),
			   iov, n, 0,
			   msg_flags);
}

int sr_prep_recvmsg(struct sr_client *c, uint64_t user_data, sr_handle_t handle,
		    const struct sr_iov *iov, unsigned n, uint32_t msg_flags)
{
	return sr_prep_vec(c, SR_OP_RECVMSG, user_data, sr_handle_index(handle),
			   iov, n, 0,
			   msg_flags);
}

int sr_prep_fallocate(struct sr_client *c, uint64_t user_data,
		      sr_handle_t handle,
		      uint32_t mode, uint64_t offset, uint64_t len)
{
	struct sr_op_req r = {
		.user_data = user_data, .opcode = SR_OP_FALLOCATE,
		.handle = sr_handle_index(handle), .flags = mode,
		.file_offset = offset,
		.length = len,
	};

	return sr_prep(c, &r);
}

int sr_prep_recv_multishot(struct sr_client *c, uint64_t user_data,
			   sr_handle_t handle, uint32_t msg_flags)
{
	struct sr_op_req r = {
		.user_data = user_data, .opcode = SR_OP_RECV,
		.handle = sr_handle_index(handle),
		.flags = SR_RECV_MULTISHOT, .msg_flags = msg_flags,
	};

	return sr_prep(c, &r);
}

int sr_prep_provide(struct sr_client *c, uint64_t user_data, sr_slot_t slot)
{
	struct sr_op_req r = {
		.user_data = user_data, .opcode = SR_OP_PROVIDE,
		.slot = sr_slot_index(slot),
		.len = c->lim.slot_size,
	};

	return sr_prep(c, &r);
}

static int sr_prep_fd_flags(struct sr_client *c, uint32_t opcode,
			    uint64_t user_data, int handle, uint32_t flags)
{
	struct sr_op_req r = {
		.user_data = user_data, .opcode = opcode, .handle = handle,
		.flags = flags,
	};

	return sr_prep(c, &r);
}

int sr_prep_accept(struct sr_client *c, uint64_t user_data, sr_handle_t handle)
{
	return sr_prep_fd_flags(c, SR_OP_ACCEPT, user_data,
				sr_handle_index(handle), 0);
}

int sr_prep_multishot_accept(struct sr_client *c, uint64_t user_data,
			     sr_handle_t handle)
{
	return sr_prep_fd_flags(c, SR_OP_ACCEPT, user_data,
				sr_handle_index(handle),
				SR_ACCEPT_MULTISHOT);
}

int sr_prep_poll_add(struct sr_client *c, uint64_t user_data,
		     sr_handle_t handle,
		     uint32_t events)
{
	return sr_prep_fd_flags(c, SR_OP_POLL_ADD, user_data,
				sr_handle_index(handle), events);
}

int sr_prep_close(struct sr_client *c, uint64_t user_data, sr_handle_t handle)
{
	return sr_prep_fd_flags(c, SR_OP_CLOSE, user_data,
				sr_handle_index(handle), 0);
}

int sr_prep_shutdown(struct sr_client *c, uint64_t user_data,
		     sr_handle_t handle,
		     int how)
{
	if (how < 0)
		return -EINVAL;
	return sr_prep_fd_flags(c, SR_OP_SHUTDOWN, user_data,
				sr_handle_index(handle),
				(uint32_t)how);
}

int sr_prep_connect(struct sr_client *c, uint64_t user_data, sr_handle_t handle,
		    const struct sockaddr *addr, socklen_t addrlen)
{
	struct sr_op_req r = {
		.user_data = user_data, .opcode = SR_OP_CONNECT,
		.handle = sr_handle_index(handle), .addr = addr,
		.addrlen = addrlen,
	};

	return sr_prep(c, &r);
}

static int sr_prep_timer(struct sr_client *c, uint32_t opcode,
			 uint64_t user_data, uint64_t ns)
{
	struct sr_op_req r = {
		.user_data = user_data, .opcode = opcode, .timeout_ns = ns,
	};

	return sr_prep(c, &r);
}

int sr_prep_timeout(struct sr_client *c, uint64_t user_data, uint64_t ns)
{
	return sr_prep_timer(c, SR_OP_TIMEOUT, user_data, ns);
}

int sr_prep_link_timeout(struct sr_client *c, uint64_t user_data,
			 uint64_t ns)
{
	return sr_prep_timer(c, SR_OP_LINK_TIMEOUT, user_data, ns);
}

/* The wire tag of the first pending operation with @user_data; a tag no
 * operation has when none is pending (the daemon then answers -ENOENT). */
static uint64_t sr_find_tag(const struct sr_client *c, uint64_t user_data)
{
	for (uint32_t t = 0; t < c->lim.max_in_flight; t++) {
		const struct sr_op *op = &c->ops[t];

		if (op->state != SR_OP_FREE && !op->internal &&
		    op->user_data == user_data)
			return t;
	}
	return UINT64_MAX;
}

static int sr_prep_target(struct sr_client *c, uint32_t opcode,
			  uint64_t user_data, uint64_t target_user_data)
{
	struct sr_op_req r = { .user_data = user_data, .opcode = opcode };
	int ret;

	/* The tag is looked up under the same lock that prepares. */
	srl_lock(c);
	r.target = sr_find_tag(c, target_user_data);
	ret = sr_prep_locked(c, &r);
	srl_unlock(c);
	return ret;
}

int sr_prep_poll_remove(struct sr_client *c, uint64_t user_data,
			uint64_t target_user_data)
{
	return sr_prep_target(c, SR_OP_POLL_REMOVE, user_data,
			      target_user_data);
}

int sr_prep_cancel(struct sr_client *c, uint64_t user_data,
		   uint64_t target_user_data)
{
	return sr_prep_target(c, SR_OP_ASYNC_CANCEL, user_data,
			      target_user_data);
}

/* The batch is now its @count operations from @from on, as if only they
 * had been prepared. */
static void sr_batch_keep(struct sr_client *c, unsigned from, unsigned count)
{
	c->nbatch = count;
	c->batch_bytes = 0;
	for (unsigned i = 0; i < count; i++) {
		/* Only inline candidates are left: no address to move. */
		c->batch[i] = c->batch[from + i];
		c->batch_bytes += sr_op_wire_bytes(&c->batch[i]);
	}
}

int srl_submit(struct sr_client *c, bool wait)
{
	unsigned n = c->nbatch, keep, left;
	int ret;

	if (!n)
		return c->error;
	/* The daemon's share first, so that it works while we do ours. */
	ret = c->inline_on ? srl_inline_split(c, c->batch, n) : (int)n;
	if (ret < 0)
		return ret;
	keep = (unsigned)ret;
	if (keep) {
		ret = srl_send_ops(c, c->batch, keep, wait);
		if (ret)
			return ret;
	}
	left = keep < n ? srl_inline_run(c, c->batch + keep, n - keep) : 0;
	if (left) {
		ret = srl_send_ops(c, c->batch + keep, left, wait);
		if (ret) {
			/* What did not go stays prepared; the rest counts
			 * as sent, as a short io_uring_submit. */
			sr_batch_keep(c, keep, left);
			return n - left ? (int)(n - left) : ret;
		}
	}
	c->nbatch = 0;
	c->batch_bytes = 0;
	return (int)n;
}

int sr_submit(struct sr_client *c)
{
	int ret;

	/* An event loop's thread must never sleep here: the daemon's
	 * push-back is the caller's to wait for, on sr_fd. */
	srl_lock(c);
	ret = srl_submit(c, false);
	srl_unlock(c);
	return ret;
}

unsigned sr_in_flight(const struct sr_client *c)
{
	unsigned n;

	srl_lock(c);
	n = c->in_flight;
	srl_unlock(c);
	return n;
}
