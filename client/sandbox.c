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
 *
 * libseccomp is loaded here, at the call (dlopen), not linked: a program
 * that never takes io_uring away from itself does not need libseccomp
 * installed, nor -lseccomp on its link line.  The header is still used
 * at build time, for the syscall numbers and the function types.  Must
 * never keep libseccomp loaded or any state of it after returning.
 */
#include <dlfcn.h>
#include <errno.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <seccomp.h>

#include "saferring.h"

/* The one name a distribution installs for libseccomp's runtime, the
 * soname the header's ABI belongs to. */
#define SECCOMP_SONAME "libseccomp.so.2"

/* The libseccomp functions used here, with the header's own types. */
struct seccomp_api {
	void *dl;
	__typeof__(seccomp_init) *init;
	__typeof__(seccomp_attr_set) *attr_set;
	__typeof__(seccomp_arch_native) *arch_native;
	__typeof__(seccomp_arch_add) *arch_add;
	__typeof__(seccomp_rule_add) *rule_add;
	__typeof__(seccomp_load) *load;
	__typeof__(seccomp_release) *release;
};

/* 0, or -ELIBACC when libseccomp or one of its functions is missing
 * (the errno glibc's own loader means by "cannot access a needed shared
 * library"). */
static int seccomp_api_open(struct seccomp_api *api)
{
	api->dl = dlopen(SECCOMP_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!api->dl)
		return -ELIBACC;
#define SR_SYM(field, name) \
	(api->field = (__typeof__(api->field))dlsym(api->dl, name)) != NULL
	if (SR_SYM(init, "seccomp_init") &&
	    SR_SYM(attr_set, "seccomp_attr_set") &&
	    SR_SYM(arch_native, "seccomp_arch_native") &&
	    SR_SYM(arch_add, "seccomp_arch_add") &&
	    SR_SYM(rule_add, "seccomp_rule_add") &&
	    SR_SYM(load, "seccomp_load") &&
	    SR_SYM(release, "seccomp_release"))
		return 0;
#undef SR_SYM
	dlclose(api->dl);
	return -ELIBACC;
}

/* The same three calls under the process's other ABIs (i386 and x32 on
 * x86-64, 32-bit ARM on arm64), or `int 0x80` would get around the
 * filter; and a 32-bit program started later must not be killed for
 * using its own ABI. */
static void add_compat_arches(const struct seccomp_api *api,
			      scmp_filter_ctx ctx)
{
	switch (api->arch_native()) {
	case SCMP_ARCH_X86_64:
		api->arch_add(ctx, SCMP_ARCH_X86);
		api->arch_add(ctx, SCMP_ARCH_X32);
		break;
	case SCMP_ARCH_AARCH64:
		api->arch_add(ctx, SCMP_ARCH_ARM);
		break;
	case SCMP_ARCH_PPC64:
		api->arch_add(ctx, SCMP_ARCH_PPC);
		break;
	case SCMP_ARCH_S390X:
		api->arch_add(ctx, SCMP_ARCH_S390);
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
	struct seccomp_api api;
	scmp_filter_ctx ctx;
	int r;

	r = seccomp_api_open(&api);
	if (r)
		return r;
	ctx = api.init(SCMP_ACT_ALLOW);
	if (!ctx) {
		dlclose(api.dl);
		return -ENOMEM;
	}
	/* Unprivileged filters need no_new_privs (no setuid gains across
	 * exec); a process with CAP_SYS_ADMIN keeps its exec semantics. */
	r = api.attr_set(ctx, SCMP_FLTATR_CTL_NNP, have_sys_admin() ? 0 : 1);
	/* Every thread, not only the caller: the whole process loses
	 * io_uring. */
	if (r == 0)
		r = api.attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	/* The kernel's own errno (EACCES, EINVAL), not -ECANCELED. */
	if (r == 0)
		r = api.attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
	if (r == 0)
		add_compat_arches(&api, ctx);
	for (unsigned i = 0; r == 0 && i < sizeof(calls) / sizeof(calls[0]); i++)
		r = api.rule_add(ctx, SCMP_ACT_ERRNO(EPERM), calls[i], 0);
	if (r == 0)
		r = api.load(ctx);
	api.release(ctx);
	/* The filter is in the kernel now: nothing of libseccomp is. */
	dlclose(api.dl);
	return r > 0 ? -r : r;
}
