/* SPDX-License-Identifier: MIT */
/*
 * sandbox.c - sr_sandbox_deny_io_uring(): the fifth layer of defence, a
 * seccomp filter that takes io_uring away from the calling process and
 * everything it starts, so that saferringd is its only way to io_uring.
 *
 * The filter refuses io_uring_setup, io_uring_enter and io_uring_register
 * with EPERM and allows every other system call; it is never loosened or
 * removed (the kernel offers no way) and is inherited across fork and
 * execve.  Must never kill or otherwise change the process: a program
 * that probes io_uring sees EPERM and falls back, as it would with
 * kernel.io_uring_disabled.
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <seccomp.h>

#include "saferring.h"

/* The same three calls under the process's other ABIs (i386 and x32 on
 * x86-64, 32-bit ARM on arm64), or `int 0x80` would get around the
 * filter; and a 32-bit program started later must not be killed for
 * using its own ABI. */
static void add_compat_arches(scmp_filter_ctx ctx)
{
	switch (seccomp_arch_native()) {
	case SCMP_ARCH_X86_64:
		seccomp_arch_add(ctx, SCMP_ARCH_X86);
		seccomp_arch_add(ctx, SCMP_ARCH_X32);
		break;
	case SCMP_ARCH_AARCH64:
		seccomp_arch_add(ctx, SCMP_ARCH_ARM);
		break;
	case SCMP_ARCH_PPC64:
		seccomp_arch_add(ctx, SCMP_ARCH_PPC);
		break;
	case SCMP_ARCH_S390X:
		seccomp_arch_add(ctx, SCMP_ARCH_S390);
		break;
	default:
		break;
	}
}

/* CAP_SYS_ADMIN in the effective set lets a process install a filter
 * without no_new_privs. */
static bool have_sys_admin(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2] = { { 0 } };

	if (syscall(SYS_capget, &hdr, data) < 0)
		return false;
	return data[CAP_SYS_ADMIN / 32].effective &
	       (1U << (CAP_SYS_ADMIN % 32));
}

int sr_sandbox_deny_io_uring(void)
{
	static const int calls[] = {
		SCMP_SYS(io_uring_setup),
		SCMP_SYS(io_uring_enter),
		SCMP_SYS(io_uring_register),
	};
	scmp_filter_ctx ctx;
	int r;

	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return -ENOMEM;
	/* Unprivileged filters need no_new_privs (no setuid gains across
	 * exec); a process with CAP_SYS_ADMIN keeps its exec semantics. */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, have_sys_admin() ? 0 : 1);
	/* Every thread, not only the caller: the whole process loses
	 * io_uring. */
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	/* The kernel's own errno (EACCES, EINVAL), not -ECANCELED. */
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
	if (r == 0)
		add_compat_arches(ctx);
	for (unsigned i = 0; r == 0 && i < sizeof(calls) / sizeof(calls[0]); i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), calls[i], 0);
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	return r > 0 ? -r : r;
}
