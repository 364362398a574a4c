/* SPDX-License-Identifier: MIT */
/*
 * privdrop.c - see privdrop.h.  Raw prctl/capset, as OpenSSH's
 * permanently_set_uid() does it: few steps, each checked, and a final
 * check that the way back is shut.
 */
#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The highest capability this kernel knows (CAP_LAST_CAP of its own
 * headers may be newer than ours). */
static int last_cap(void)
{
	int cap = CAP_LAST_CAP;

	while (prctl(PR_CAPBSET_READ, cap + 1, 0, 0, 0) >= 0)
		cap++;
	return cap;
}

static int caps_get(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};

	return syscall(SYS_capget, &hdr, data) < 0 ? -errno : 0;
}

/* Effective and permitted become @keep (what of it we hold), inheritable
 * nothing. */
static int caps_set(uint64_t keep)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2] = { { 0 } };

	bool same = true;

	if (caps_get(data) < 0)
		return -errno;
	for (int i = 0; i < 2; i++) {
		uint32_t k = (uint32_t)(keep >> (32 * i)) & data[i].permitted;

		same &= data[i].effective == k && data[i].permitted == k &&
			data[i].inheritable == 0;
		data[i] = (struct __user_cap_data_struct){
			.effective = k, .permitted = k, .inheritable = 0,
		};
	}
	/* Nothing to change (a service manager started us without any, and
	 * may filter capset itself): done. */
	if (same)
		return 0;
	return syscall(SYS_capset, &hdr, data) < 0 ? -errno : 0;
}

uint64_t privdrop_effective(void)
{
	struct __user_cap_data_struct data[2] = { { 0 } };

	if (caps_get(data) < 0)
		return 0;
	return data[0].effective | (uint64_t)data[1].effective << 32;
}

/* Nothing but @keep in any set. */
static int caps_check(uint64_t keep)
{
	struct __user_cap_data_struct data[2] = { { 0 } };

	if (caps_get(data) < 0)
		return -errno;
	for (int i = 0; i < 2; i++) {
		uint32_t k = (uint32_t)(keep >> (32 * i));

		if ((data[i].effective | data[i].permitted) & ~k ||
		    data[i].inheritable)
			return -EPERM;
	}
	return 0;
}

static int bounding_drop(uint64_t keep)
{
	/* Without CAP_SETPCAP only a set that is already empty passes. */
	for (int cap = 0; cap <= last_cap(); cap++) {
		int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);

		if (r < 0)
			return -errno;
		if (cap < 64 && (keep & (1ULL << cap)))
			continue;
		if (r == 1 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return -errno;
	}
	return 0;
}

static int caps_finish(uint64_t keep, const char **step)
{
	*step = "clearing the capability sets";
	int r = caps_set(keep);
	if (r < 0)
		return r;
	*step = "clearing the ambient capabilities";
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		return -errno;
	*step = "setting no_new_privs";
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	*step = "checking that no other capability is left";
	return caps_check(keep);
}

int privdrop(uid_t uid, gid_t gid, uint64_t keep, const char **step)
{
	uid_t ru, eu, su;
	int r;

	*step = "dropping the capability bounding set";
	r = bounding_drop(keep);
	if (geteuid() != 0) {
		if (r < 0 && r != -EPERM)
			return r;
		return caps_finish(keep, step);
	}
	if (r < 0)
		return r;
	/* Keep what @keep names across the uid change, nothing else (the
	 * flag goes again below and does not survive execve anyway). */
	*step = "setting keep-caps";
	if (prctl(PR_SET_KEEPCAPS, keep ? 1 : 0, 0, 0, 0) < 0)
		return -errno;
	*step = "setgroups";
	if (setgroups(0, NULL) < 0)
		return -errno;
	*step = "setresgid";
	if (setresgid(gid, gid, gid) < 0)
		return -errno;
	*step = "setresuid";
	if (setresuid(uid, uid, uid) < 0)
		return -errno;
	*step = "checking the uids";
	if (getresuid(&ru, &eu, &su) < 0)
		return -errno;
	if (ru != uid || eu != uid || su != uid)
		return -EPERM;
	*step = "clearing keep-caps";
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return -errno;
	r = caps_finish(keep, step);
	if (r < 0)
		return r;
	/* The way back must be shut. */
	*step = "checking that root cannot be regained";
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
		return -EPERM;
	return 0;
}
