/* SPDX-License-Identifier: MIT */
/*
 * arena.h - a session's shared buffer arena: one memfd, sealed so that
 * neither side can grow or shrink it (a client that could shrink it would
 * make the kernel fault on pages it was told to use), mapped here so the
 * ring can register it as fixed buffers.
 *
 * The daemon never reads or writes payload through this mapping and never
 * trusts anything stored in it.  Must never be destroyed while the ring
 * may still touch it.
 */
#ifndef SAFERRINGD_ARENA_H
#define SAFERRINGD_ARENA_H

#include <stddef.h>

struct arena {
	int memfd;
	void *base;
	size_t size;
};

#define ARENA_INIT { .memfd = -1, .base = NULL, .size = 0 }

int arena_create(struct arena *a, size_t size);
void arena_destroy(struct arena *a);

#endif
