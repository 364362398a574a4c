/* SPDX-License-Identifier: MIT */
/*
 * files.c - registers the caller's descriptors with the daemon and keeps
 * the (index, generation) of every handle it got back.
 *
 * Must never believe a handle the daemon names outside its table or one
 * the library already holds live, and never keep a copy of the caller's
 * descriptor beyond the handle's life (inline.c keeps one of a regular
 * file's, for the inline attempt).
 */
#include <errno.h>

#include "client.h"

static int sr_register_fd_locked(struct sr_client *c, int fd)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__RegisterFd body = SAFERRING__REGISTER_FD__INIT;
	const Saferring__FdHandle *h;
	Saferring__Reply *r;
	int ret;

	if (fd < 0)
		return -EBADF;
	req.body_case = SAFERRING__REQUEST__BODY_REGISTER_FD;
	req.register_fd = &body;
	ret = srl_control(c, &req, fd, &r);
	if (ret)
		return ret;
	if (r->body_case != SAFERRING__REPLY__BODY_FD_REGISTERED)
		return srl_fail(c, -EPROTO);
	h = r->fd_registered->handle;
	/* A CLOSING index may come back: the daemon freed it before we
	 * read the CLOSE's completion. */
	if (!h || h->index >= c->fd_table_size || h->index > INT32_MAX ||
	    c->handles[h->index].state == SR_HANDLE_LIVE)
		return srl_fail(c, -EPROTO);
	srl_inline_forget(c, h->index);
	c->handles[h->index] = (struct sr_handle){
		.generation = h->generation,
		.state = SR_HANDLE_LIVE,
		.fd = -1,
	};
	srl_inline_adopt(c, h->index, fd);
	return (int)h->index;
}

static int sr_unregister_fd_locked(struct sr_client *c, int handle)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__UnregisterFd body = SAFERRING__UNREGISTER_FD__INIT;
	Saferring__FdHandle fh = SAFERRING__FD_HANDLE__INIT;
	const Saferring__FdHandle *h;
	Saferring__Reply *r;
	int ret;

	if (handle < 0 || (uint32_t)handle >= c->fd_table_size ||
	    c->handles[handle].state != SR_HANDLE_LIVE)
		return -EBADF;
	fh.index = (uint32_t)handle;
	fh.generation = c->handles[handle].generation;
	body.handle = &fh;
	req.body_case = SAFERRING__REQUEST__BODY_UNREGISTER_FD;
	req.unregister_fd = &body;
	ret = srl_control(c, &req, -1, &r);
	if (ret)
		return ret;
	if (r->body_case != SAFERRING__REPLY__BODY_FD_UNREGISTERED)
		return srl_fail(c, -EPROTO);
	h = r->fd_unregistered->handle;
	if (!h || h->index != fh.index)
		return srl_fail(c, -EPROTO);
	c->handles[handle].state = SR_HANDLE_DEAD;
	srl_inline_forget(c, (uint32_t)handle);
	return 0;
}

/* The lock is held across the round trip: the reply comes from the
 * daemon whatever the other threads do. */
sr_handle_t sr_register_fd(struct sr_client *c, int fd)
{
	int ret;

	srl_lock(c);
	ret = sr_register_fd_locked(c, fd);
	srl_unlock(c);
	return SR_HANDLE(ret);
}

int sr_unregister_fd(struct sr_client *c, sr_handle_t handle)
{
	int ret;

	srl_lock(c);
	ret = sr_unregister_fd_locked(c, sr_handle_index(handle));
	srl_unlock(c);
	return ret;
}
