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
	int node;   /* NUMA node its memory is bound to; -1: none */
};

#define ARENA_INIT { .memfd = -1, .base = NULL, .size = 0, .node = -1 }

/* @node: the NUMA node to take its memory from (numa.h), -1: the
 * kernel's default.  A binding the kernel refuses leaves node at -1
 * rather than fail the arena: placement is only ever a preference. */
int arena_create(struct arena *a, size_t size, int node);
void arena_destroy(struct arena *a);

#endif
