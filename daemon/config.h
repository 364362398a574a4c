/* SPDX-License-Identifier: MIT */
/*
 * config.h - the policy file: which struct policy a peer gets, by the uid
 * and gid the kernel vouches for (SO_PEERCRED).  The format is described
 * atop config.c and in docs/policy.md.
 *
 * A struct config is immutable once parsed: a reload parses a new one and
 * swaps it in; sessions copy their policy when they start, so freeing the
 * old config never touches a running session.
 *
 * Must never accept a file it does not fully understand: an unknown key,
 * operation or section, a value out of range, or a duplicate is an error
 * naming file:line, never a silent default.
 */
#ifndef SAFERRINGD_CONFIG_H
#define SAFERRINGD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "policy.h"

#define CONFIG_DEFAULT_PATH "/etc/saferring/saferringd.conf"
/* Larger files are refused: a policy is a few hundred lines at most. */
#define CONFIG_MAX_BYTES (1024 * 1024)

enum config_match {
	CONFIG_MATCH_UID,
	CONFIG_MATCH_GID,
};

struct config_rule {
	enum config_match match;
	uint32_t id;
	unsigned line; /* of its section header */
	struct policy policy;
};

/* The [daemon] section: the daemon's own settings, read at start-up only
 * (a reload keeps the running values). */
struct daemon_settings {
	char user[64];          /* drop to this user when started as root */
	char socket_group[64];  /* the socket's group (mode 0660) */
	bool socket_group_set;  /* given in the file, not the default */
	uint64_t max_pinned_total; /* bytes of arenas across all sessions;
				    * 0: a quarter of RAM */
	uint32_t max_sessions_total; /* sessions across all uids */
	uint32_t spin_us;  /* v2 rings: poll this long after the last work
			    * before sleeping (0: never poll) */
	uint32_t workers;  /* most worker threads, whatever --workers says */
};

#define CONFIG_DEFAULT_USER "saferringd"
#define CONFIG_DEFAULT_SOCKET_GROUP "saferring"
#define CONFIG_DEFAULT_MAX_SESSIONS_TOTAL 4096U
#define CONFIG_LIMIT_SESSIONS_TOTAL 1048576U
/* Long enough to cover a client's turn-around, short enough that a
 * daemon with nothing to do stops burning a CPU at once. */
#define CONFIG_DEFAULT_SPIN_US 50U
#define CONFIG_LIMIT_SPIN_US 1000000U
#define CONFIG_LIMIT_WORKERS 64U

struct config {
	char *source; /* file name, or "(built-in)" */
	struct daemon_settings daemon;
	struct policy def;
	struct config_rule *rules;
	size_t nrules;
};

/* The built-in default policy for everyone.  -ENOMEM or 0. */
int config_builtin(struct config **out);

/* Read and parse @path.  On failure returns -errno (-ENOENT when the
 * file does not exist, -EINVAL for a malformed or unsafe file) and puts
 * "PATH:LINE: reason" (or "PATH: reason") into @err. */
int config_load(const char *path, struct config **out, char *err,
		size_t errlen);

/* Parse @len bytes of @text; @name stands for the file in messages. */
int config_parse(const char *name, const char *text, size_t len,
		 struct config **out, char *err, size_t errlen);

void config_free(struct config *cfg);

/* From now on [user NAME] and [group NAME] are errors: called once the
 * daemon confines itself, before any reload. */
void config_forbid_names(void);

/* The built-in [daemon] settings. */
void config_daemon_defaults(struct daemon_settings *d);
/* "nfs fuse" (or "none") into @buf; truncated to fit @len. */
void config_format_fs(uint64_t set, char *buf, size_t len);

/* Every section's resolved policy, one line each, for --check-config. */
void config_print(const struct config *cfg, FILE *out);

/* The policy for a peer: its uid's section, else its (primary) gid's
 * section, else [default].  Never NULL; valid as long as @cfg is. */
const struct policy *config_lookup(const struct config *cfg, uint32_t uid,
				   uint32_t gid);

#endif
