/* SPDX-License-Identifier: MIT */
/*
 * files.c - registers the caller's descriptors with the daemon and keeps
 * the (index, generation) of every handle it got back.
 *
 * Must never believe a handle the daemon names outside max_fds or one the
 * library already holds, and never keep a copy of the caller's descriptor.
 */
#include <errno.h>

#include "client.h"

int sr_register_fd(struct sr_client *c, int fd)
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
	if (!h || h->index >= c->lim.max_fds || h->index > INT32_MAX ||
	    c->handles[h->index].live)
		return srl_fail(c, -EPROTO);
	c->handles[h->index] = (struct sr_handle){
		.generation = h->generation,
		.live = true,
	};
	return (int)h->index;
}

int sr_unregister_fd(struct sr_client *c, int handle)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__UnregisterFd body = SAFERRING__UNREGISTER_FD__INIT;
	Saferring__FdHandle fh = SAFERRING__FD_HANDLE__INIT;
	const Saferring__FdHandle *h;
	Saferring__Reply *r;
	int ret;

	if (handle < 0 || (uint32_t)handle >= c->lim.max_fds ||
	    !c->handles[handle].live)
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
	c->handles[handle].live = false;
	return 0;
}
