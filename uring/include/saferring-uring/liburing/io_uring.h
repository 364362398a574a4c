/* SPDX-License-Identifier: MIT */
/*
 * liburing/io_uring.h - libsaferring-uring's stand-in for liburing's copy
 * of the kernel's io_uring ABI header.
 *
 * Programs written for liburing include "liburing/io_uring.h" now and
 * then; the definitions of struct io_uring_sqe, struct io_uring_cqe, the
 * IORING_OP_* opcodes and the IOSQE_* flags must be the kernel's own, so
 * that values a program puts in an SQE mean what they mean to the kernel.
 * Must never define any of them itself.
 */
#ifndef SAFERRING_URING_IO_URING_H
#define SAFERRING_URING_IO_URING_H

#include <linux/io_uring.h>

#endif
