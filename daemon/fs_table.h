/* SPDX-License-Identifier: MIT */
/*
 * fs_table.h - the one table of filesystems the daemon knows, by the
 * magic number fstatfs(2) reports, and what it will do with a regular
 * file on each.  Private to the daemon: admission.c classifies with it,
 * config.c parses `allow_fs` names with it.
 *
 * A class says whether I/O on the filesystem means the same whoever does
 * it and whether it can stall the thread that submits it:
 *
 *  FS_LOCAL   served from memory or a local block device; io_uring's
 *             non-blocking attempt works, or it punts to its own workers
 *             (admitted);
 *  FS_REMOTE  answered by a server (network, cluster, FUSE): a slow or
 *             hostile server can hold a read for as long as it likes
 *             (refused unless a policy's allow_fs names it; then every
 *             operation on it goes to io_uring's workers, IOSQE_ASYNC);
 *  FS_NEVER   what a read or write does there depends on the task doing
 *             it (its pid, uid, capabilities, signals, cgroup): procfs,
 *             sysfs, anon inodes (signalfd, ...), ... (refused, and no
 *             policy can allow it).
 *
 * A filesystem not in the table is refused: default deny.  Rows are never
 * reordered (a policy's allowed set is a bit per row).
 */
#ifndef SAFERRINGD_FS_TABLE_H
#define SAFERRINGD_FS_TABLE_H

#include <stddef.h>

enum fs_class {
	FS_LOCAL,
	FS_REMOTE,
	FS_NEVER,
};

/* X(id, name for allow_fs and logs, fstatfs magic, class) */
#define FS_TABLE(X)                                                        \
	X(EXT4, "ext4", 0xEF53UL, FS_LOCAL) /* also ext2 and ext3 */        \
	X(XFS, "xfs", 0x58465342UL, FS_LOCAL)                               \
	X(BTRFS, "btrfs", 0x9123683EUL, FS_LOCAL)                           \
	X(F2FS, "f2fs", 0xF2F52010UL, FS_LOCAL)                             \
	X(TMPFS, "tmpfs", 0x01021994UL, FS_LOCAL) /* also memfd, /dev/shm */ \
	X(RAMFS, "ramfs", 0x858458F6UL, FS_LOCAL)                           \
	X(BCACHEFS, "bcachefs", 0xCA451A4EUL, FS_LOCAL)                     \
	X(ZFS, "zfs", 0x2FC12FC1UL, FS_LOCAL)                               \
	X(OVERLAY, "overlay", 0x794C7630UL, FS_LOCAL) /* with local layers */ \
	X(EROFS, "erofs", 0xE0F5E1E2UL, FS_LOCAL)                           \
	X(SQUASHFS, "squashfs", 0x73717368UL, FS_LOCAL)                     \
	X(VFAT, "vfat", 0x4D44UL, FS_LOCAL)                                 \
	X(EXFAT, "exfat", 0x2011BAB0UL, FS_LOCAL)                           \
	X(ISO9660, "iso9660", 0x9660UL, FS_LOCAL)                           \
	X(UDF, "udf", 0x15013346UL, FS_LOCAL)                               \
	X(JFS, "jfs", 0x3153464AUL, FS_LOCAL)                               \
	X(NILFS, "nilfs2", 0x3434UL, FS_LOCAL)                              \
	X(NFS, "nfs", 0x6969UL, FS_REMOTE)                                  \
	X(CIFS, "cifs", 0xFF534D42UL, FS_REMOTE)                            \
	X(SMB2, "smb3", 0xFE534D42UL, FS_REMOTE)                            \
	X(FUSE, "fuse", 0x65735546UL, FS_REMOTE) /* also virtiofs */         \
	X(V9FS, "9p", 0x01021997UL, FS_REMOTE)                              \
	X(CEPH, "ceph", 0x00C36400UL, FS_REMOTE)                            \
	X(AFS, "afs", 0x6B414653UL, FS_REMOTE)                              \
	X(OCFS2, "ocfs2", 0x7461636FUL, FS_REMOTE)                          \
	X(GFS2, "gfs2", 0x01161970UL, FS_REMOTE)                            \
	X(ORANGEFS, "orangefs", 0x20030528UL, FS_REMOTE)                    \
	X(PROC, "proc", 0x9FA0UL, FS_NEVER)                                 \
	X(SYSFS, "sysfs", 0x62656572UL, FS_NEVER)                           \
	X(DEBUGFS, "debugfs", 0x64626720UL, FS_NEVER)                       \
	X(TRACEFS, "tracefs", 0x74726163UL, FS_NEVER)                       \
	X(SECURITYFS, "securityfs", 0x73636673UL, FS_NEVER)                 \
	X(CGROUP, "cgroup", 0x0027E0EBUL, FS_NEVER)                         \
	X(CGROUP2, "cgroup2", 0x63677270UL, FS_NEVER)                       \
	X(BPF, "bpf", 0xCAFE4A11UL, FS_NEVER)                               \
	X(CONFIGFS, "configfs", 0x62656570UL, FS_NEVER)                     \
	X(PSTORE, "pstore", 0x6165676CUL, FS_NEVER)                         \
	X(EFIVARFS, "efivarfs", 0xDE5E81E4UL, FS_NEVER)                     \
	X(SELINUXFS, "selinuxfs", 0xF97CFF8CUL, FS_NEVER)                   \
	X(SMACKFS, "smackfs", 0x43415D53UL, FS_NEVER)                       \
	X(BINFMT, "binfmt_misc", 0x42494E4DUL, FS_NEVER)                    \
	X(FUSECTL, "fusectl", 0x65735543UL, FS_NEVER)                       \
	X(MQUEUE, "mqueue", 0x19800202UL, FS_NEVER)                         \
	X(RPC_PIPEFS, "rpc_pipefs", 0x67596969UL, FS_NEVER)                 \
	X(ANON_INODE, "anon_inode", 0x09041934UL, FS_NEVER)                 \
	X(PIDFS, "pidfs", 0x50494446UL, FS_NEVER)                           \
	X(NSFS, "nsfs", 0x6E736673UL, FS_NEVER)

enum fs_id {
#define FS_ENUM(id, name, magic, class) FS_##id,
	FS_TABLE(FS_ENUM)
#undef FS_ENUM
	FS__COUNT
};

/* A policy's allow_fs is a bit per row. */
_Static_assert(FS__COUNT <= 64, "allow_fs is a 64-bit set: one bit per row");

struct fs_info {
	const char *name;
	unsigned long magic;
	enum fs_class class;
};

/* The row for @id (< FS__COUNT). */
const struct fs_info *fs_table_get(enum fs_id id);
/* The row whose magic is @magic: its id, or -1 when the table has none. */
int fs_table_by_magic(unsigned long magic);
/* The row named @len bytes of @name: its id, or -1. */
int fs_table_by_name(const char *name, size_t len);

#endif
