/* SPDX-License-Identifier: MIT */
/*
 * liburing/compat.h - what liburing's compat.h brings in (the kernel's
 * time and openat2 types), for programs that include it by name.  Must
 * never define anything of its own.
 */
#ifndef SAFERRING_URING_COMPAT_H
#define SAFERRING_URING_COMPAT_H

#include <linux/time_types.h>
#include <linux/openat2.h>

#endif
