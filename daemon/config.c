/* SPDX-License-Identifier: MIT */
/*
 * config.c - the policy file parser (see config.h).
 *
 * Format (also in docs/policy.md).  Line-based, INI-like:
 *
 *	# a comment runs from '#' to the end of the line
 *	[default]               # everyone without a more specific section
 *	ops = all
 *	slots = 1024            # most slots a session may have
 *	slot_size = 1M          # largest slot; a multiple of 4K
 *	arena = 64M             # most bytes of all of a session's slots
 *	fds = 512               # registered files per session
 *	in_flight = 1024        # operations in the kernel per session
 *	sessions = 16           # sessions one uid may hold at once (0: none)
 *	max_errors = 64         # refused requests before a session ends
 *	control = 0             # 1: may read statistics (saferringctl);
 *	                        # root always may
 *	allow_fs = none         # network, cluster or FUSE filesystems whose
 *	                        # files are admitted too (nfs, fuse, ...)
 *
 *	[uid 1000]              # also [gid N], [user NAME], [group NAME]
 *	ops = read
 *	slots = 8
 *
 * A section lists only what differs: every key it leaves out has its
 * value from [default], and what [default] leaves out has the built-in
 * value (the one shown above).  A peer gets its uid's section, else the
 * section of its primary gid (the gid SO_PEERCRED reports; supplementary
 * groups are not consulted), else [default].  User and group names are
 * resolved to numbers when the file is loaded.
 *
 * One more section holds the daemon's own settings, read at start-up
 * only (a reload keeps the running ones):
 *
 *	[daemon]
 *	user = saferringd       # started as root, run as this user
 *	socket_group = saferring # the socket is 0660 with this group
 *	max_pinned_total = 4G   # arena bytes of all sessions together
 *	                        # (default: a quarter of RAM)
 *	max_sessions_total = 4096 # sessions of all uids together
 *	spin_us = 50            # v2 rings: poll this long after the last
 *	                        # work before sleeping (0: never poll)
 *	workers = 64            # at most this many worker threads
 *
 * ops is a list of operation names (spaces or commas between them), or
 * "all" (every operation this daemon knows) or "none".  Numbers are
 * decimal, with an optional binary unit: K/KiB, M/MiB, G/GiB, T/TiB
 * (powers of 1024, any case).
 *
 * Everything else is an error that names file:line and the reason, and
 * the daemon does not start: unknown keys, unknown operation names,
 * unknown section kinds, a section or a key given twice, values out of
 * range or too large to represent, a key before any section, NUL bytes.
 * The file itself must be a regular file of at most 1 MiB, owned by root
 * or the daemon's user, and not writable by others.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_table.h"

enum key_id {
	KEY_OPS,
	KEY_SLOTS,
	KEY_SLOT_SIZE,
	KEY_ARENA,
	KEY_FDS,
	KEY_IN_FLIGHT,
	KEY_SESSIONS,
	KEY_MAX_ERRORS,
	KEY_CONTROL,
	KEY_ALLOW_FS,
	KEY_COUNT
};

/* Each key: where it lands in struct policy and what it may be. */
static const struct key_def {
	const char *name;
	size_t offset;
	size_t size;      /* 4 or 8 */
	uint64_t min, max;
	bool page_multiple;
} keys[KEY_COUNT] = {
	[KEY_OPS] = { "ops", offsetof(struct policy, allowed_ops), 8,
		      0, UINT64_MAX, false },
	[KEY_SLOTS] = { "slots", offsetof(struct policy, max_slot_count), 4,
			1, POLICY_LIMIT_SLOTS, false },
	[KEY_SLOT_SIZE] = { "slot_size", offsetof(struct policy, max_slot_size),
			    4, POLICY_SLOT_ALIGN, POLICY_LIMIT_SLOT_SIZE, true },
	[KEY_ARENA] = { "arena", offsetof(struct policy, max_arena_bytes), 8,
			POLICY_SLOT_ALIGN, POLICY_LIMIT_ARENA, false },
	[KEY_FDS] = { "fds", offsetof(struct policy, max_fds), 4,
		      1, POLICY_LIMIT_FDS, false },
	[KEY_IN_FLIGHT] = { "in_flight", offsetof(struct policy, max_in_flight),
			    4, 1, POLICY_LIMIT_IN_FLIGHT, false },
	[KEY_SESSIONS] = { "sessions", offsetof(struct policy, max_sessions), 4,
			   0, POLICY_LIMIT_SESSIONS, false },
	[KEY_MAX_ERRORS] = { "max_errors", offsetof(struct policy, max_errors),
			     4, 1, POLICY_LIMIT_ERRORS, false },
	[KEY_CONTROL] = { "control", offsetof(struct policy, control), 4,
			  0, 1, false },
	[KEY_ALLOW_FS] = { "allow_fs", offsetof(struct policy, allowed_fs), 8,
			   0, UINT64_MAX, false },
};

/* The [daemon] section's keys: strings are copied, numbers bounded. */
enum daemon_key_id {
	DKEY_USER,
	DKEY_SOCKET_GROUP,
	DKEY_MAX_PINNED_TOTAL,
	DKEY_MAX_SESSIONS_TOTAL,
	DKEY_SPIN_US,
	DKEY_WORKERS,
	DKEY_COUNT
};

static const struct daemon_key_def {
	const char *name;
	size_t offset;
	size_t size;      /* of the string buffer, or 4 or 8 */
	bool string;
	uint64_t min, max;
} daemon_keys[DKEY_COUNT] = {
	[DKEY_USER] = { "user", offsetof(struct daemon_settings, user),
			sizeof(((struct daemon_settings *)0)->user), true, 0, 0 },
	[DKEY_SOCKET_GROUP] = { "socket_group",
				offsetof(struct daemon_settings, socket_group),
				sizeof(((struct daemon_settings *)0)->socket_group),
				true, 0, 0 },
	[DKEY_MAX_PINNED_TOTAL] = { "max_pinned_total",
				    offsetof(struct daemon_settings,
					     max_pinned_total), 8, false,
				    POLICY_SLOT_ALIGN, POLICY_LIMIT_ARENA },
	[DKEY_MAX_SESSIONS_TOTAL] = { "max_sessions_total",
				      offsetof(struct daemon_settings,
					       max_sessions_total), 4, false,
				      1, CONFIG_LIMIT_SESSIONS_TOTAL },
	[DKEY_SPIN_US] = { "spin_us",
			   offsetof(struct daemon_settings, spin_us), 4, false,
			   0, CONFIG_LIMIT_SPIN_US },
	[DKEY_WORKERS] = { "workers",
			   offsetof(struct daemon_settings, workers), 4, false,
			   1, CONFIG_LIMIT_WORKERS },
};

enum section_kind { SEC_DEFAULT, SEC_UID, SEC_GID, SEC_DAEMON };

/* Name lookups may load NSS modules and open sockets, which the confined
 * daemon may not; after start-up only numeric sections parse. */
static bool names_allowed = true;

void config_forbid_names(void)
{
	names_allowed = false;
}

struct section {
	enum section_kind kind;
	uint32_t id;
	unsigned line;
	unsigned key_line[KEY_COUNT]; /* 0: key not given */
	uint64_t value[KEY_COUNT];
};

struct parser {
	const char *name;
	char *err;
	size_t errlen;
	unsigned line;
	struct section *secs;
	size_t nsecs, cap;
	struct section *cur;
	/* [daemon]: given at most once, applied as it is read. */
	bool in_daemon; /* the current section is [daemon] */
	unsigned daemon_line;
	unsigned daemon_key_line[DKEY_COUNT];
	struct daemon_settings daemon;
};

static int perr(struct parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Record "NAME:LINE: message"; returns -EINVAL for the caller to pass on. */
static int perr(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->errlen)
		return -EINVAL;
	n = snprintf(p->err, p->errlen, "%s:%u: ", p->name, p->line);
	if (n < 0 || (size_t)n >= p->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

static const char *section_kind_name(enum section_kind k)
{
	return k == SEC_UID ? "uid" : k == SEC_GID ? "gid" :
	       k == SEC_DAEMON ? "daemon" : "default";
}

void config_daemon_defaults(struct daemon_settings *d)
{
	*d = (struct daemon_settings){
		.max_sessions_total = CONFIG_DEFAULT_MAX_SESSIONS_TOTAL,
		.spin_us = CONFIG_DEFAULT_SPIN_US,
		.workers = CONFIG_LIMIT_WORKERS,
	};
	snprintf(d->user, sizeof(d->user), "%s", CONFIG_DEFAULT_USER);
	snprintf(d->socket_group, sizeof(d->socket_group), "%s",
		 CONFIG_DEFAULT_SOCKET_GROUP);
}

/* Decimal digits, then an optional binary unit.  No sign, no hex. */
static int parse_number(struct parser *p, const char *key, const char *v,
			bool units, uint64_t *out)
{
	static const struct {
		const char *suffix;
		unsigned shift;
	} unit[] = {
		{ "k", 10 }, { "kib", 10 }, { "m", 20 }, { "mib", 20 },
		{ "g", 30 }, { "gib", 30 }, { "t", 40 }, { "tib", 40 },
	};
	const char *s = v;
	uint64_t n = 0;

	if (!isdigit((unsigned char)*s))
		return perr(p, "%s: '%s' is not a number", key, v);
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');
		if (n > (UINT64_MAX - d) / 10)
			return perr(p, "%s: %s is too large", key, v);
		n = n * 10 + d;
	}
	if (*s) {
		size_t i;

		if (!units)
			return perr(p, "%s: '%s' is not a number", key, v);
		for (i = 0; i < sizeof(unit) / sizeof(unit[0]); i++)
			if (strcasecmp(s, unit[i].suffix) == 0)
				break;
		if (i == sizeof(unit) / sizeof(unit[0]))
			return perr(p, "%s: unknown unit '%s' in '%s' (use K, M, "
				    "G or T, powers of 1024)", key, s, v);
		if (n > (UINT64_MAX >> unit[i].shift))
			return perr(p, "%s: %s is too large", key, v);
		n <<= unit[i].shift;
	}
	*out = n;
	return 0;
}

static int parse_ops(struct parser *p, char *v, uint64_t *out)
{
	uint64_t ops = 0;
	unsigned words = 0;
	bool special = false;
	char *tok, *save = NULL;

	for (tok = strtok_r(v, " \t,", &save); tok;
	     tok = strtok_r(NULL, " \t,", &save)) {
		words++;
		if (strcmp(tok, "all") == 0) {
			ops |= policy_all_ops();
			special = true;
		} else if (strcmp(tok, "none") == 0) {
			special = true;
		} else {
			int op = policy_op_from_name(tok, strlen(tok));
			if (op < 0) {
				char known[256];

				policy_format_ops(policy_all_ops(), known,
						  sizeof(known));
				return perr(p, "ops: unknown operation '%s' "
					    "(known: %s; or all, none)", tok,
					    known);
			}
			ops |= 1ULL << op;
		}
	}
	if (!words)
		return perr(p, "ops: empty list (write 'ops = none' to allow "
			    "no operation)");
	if (special && words > 1)
		return perr(p, "ops: 'all' and 'none' stand alone");
	*out = ops;
	return 0;
}

/* allow_fs: names of FS_REMOTE filesystems, or "none". */
static int parse_fs(struct parser *p, char *v, uint64_t *out)
{
	uint64_t set = 0;
	unsigned words = 0;
	bool none = false;
	char *tok, *save = NULL;

	for (tok = strtok_r(v, " \t,", &save); tok;
	     tok = strtok_r(NULL, " \t,", &save)) {
		int id = fs_table_by_name(tok, strlen(tok));
		const struct fs_info *fs;

		words++;
		if (strcmp(tok, "none") == 0) {
			none = true;
			continue;
		}
		if (id < 0)
			return perr(p, "allow_fs: unknown filesystem '%s' (known: "
				    "nfs cifs smb3 fuse 9p ceph afs ocfs2 gfs2 "
				    "orangefs; or none)", tok);
		fs = fs_table_get((enum fs_id)id);
		if (fs->class == FS_LOCAL)
			return perr(p, "allow_fs: %s files are admitted anyway; "
				    "allow_fs names network, cluster and FUSE "
				    "filesystems", tok);
		if (fs->class != FS_REMOTE)
			return perr(p, "allow_fs: %s can never be allowed: what "
				    "I/O there does depends on who does it", tok);
		set |= 1ULL << id;
	}
	if (!words)
		return perr(p, "allow_fs: empty list (write 'allow_fs = none')");
	if (none && words > 1)
		return perr(p, "allow_fs: 'none' stands alone");
	*out = set;
	return 0;
}

/* user, socket_group: a name as getpwnam/getgrnam take it. */
static int parse_name(struct parser *p, const char *key, const char *v,
		      char *out, size_t len)
{
	for (const char *c = v; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("._-", *c))
			return perr(p, "%s: '%s' is not a user or group name",
				    key, v);
	if (strlen(v) >= len)
		return perr(p, "%s: '%s' is longer than %zu bytes", key, v,
			    len - 1);
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

static int parse_daemon_key(struct parser *p, const char *name,
			    const char *value)
{
	const struct daemon_key_def *k;
	unsigned id;
	uint64_t v;
	int r;

	for (id = 0; id < DKEY_COUNT; id++)
		if (strcmp(daemon_keys[id].name, name) == 0)
			break;
	if (id == DKEY_COUNT)
		return perr(p, "unknown key '%s' in [daemon] (known: user, "
			    "socket_group, max_pinned_total, max_sessions_total, "
			    "spin_us, workers)",
			    name);
	k = &daemon_keys[id];
	if (p->daemon_key_line[id])
		return perr(p, "'%s' given twice in [daemon] (first at line %u)",
			    name, p->daemon_key_line[id]);
	if (!*value)
		return perr(p, "%s: missing value", name);
	unsigned char *field = (unsigned char *)&p->daemon + k->offset;
	if (k->string) {
		r = parse_name(p, name, value, (char *)field, k->size);
	} else {
		r = parse_number(p, name, value, true, &v);
		if (r == 0 && (v < k->min || v > k->max))
			r = perr(p, "%s = %s is out of range (%llu to %llu)",
				 name, value, (unsigned long long)k->min,
				 (unsigned long long)k->max);
		if (r == 0 && k->size == 8)
			memcpy(field, &v, sizeof(v));
		else if (r == 0) {
			uint32_t v32 = (uint32_t)v;
			memcpy(field, &v32, sizeof(v32));
		}
	}
	if (r < 0)
		return r;
	if (id == DKEY_SOCKET_GROUP)
		p->daemon.socket_group_set = true;
	p->daemon_key_line[id] = p->line;
	return 0;
}

static int parse_section(struct parser *p, char *s)
{
	char *end = strchr(s, ']');
	char *kind, *arg;
	struct section sec = { .line = p->line };

	if (!end)
		return perr(p, "section header without ']'");
	if (*trim(end + 1))
		return perr(p, "text after the section header's ']'");
	*end = '\0';
	kind = trim(s + 1);
	arg = kind + strcspn(kind, " \t");
	if (*arg)
		*arg++ = '\0';
	arg = trim(arg);

	if (strcmp(kind, "daemon") == 0) {
		if (*arg)
			return perr(p, "[daemon] takes no argument");
		if (p->daemon_line)
			return perr(p, "duplicate section [daemon] (first at "
				    "line %u)", p->daemon_line);
		p->daemon_line = p->line;
		p->cur = NULL;
		p->in_daemon = true;
		return 0;
	}
	if (strcmp(kind, "default") == 0) {
		if (*arg)
			return perr(p, "[default] takes no argument");
		sec.kind = SEC_DEFAULT;
	} else if (strcmp(kind, "uid") == 0 || strcmp(kind, "gid") == 0) {
		uint64_t id;
		int r;

		if (!*arg)
			return perr(p, "[%s] needs a number: [%s N]", kind, kind);
		r = parse_number(p, kind, arg, false, &id);
		if (r < 0)
			return r;
		if (id >= UINT32_MAX)
			return perr(p, "%s %s is out of range", kind, arg);
		sec.kind = kind[0] == 'u' ? SEC_UID : SEC_GID;
		sec.id = (uint32_t)id;
	} else if ((!strcmp(kind, "user") || !strcmp(kind, "group")) &&
		   !names_allowed) {
		return perr(p, "[%s %s]: names are resolved only at start-up; "
			    "restart saferringd, or use [%cid N]", kind, arg,
			    kind[0]);
	} else if (strcmp(kind, "user") == 0) {
		struct passwd *pw;

		if (!*arg || arg[strcspn(arg, " \t")])
			return perr(p, "[user] needs one name: [user NAME]");
		errno = 0;
		pw = getpwnam(arg);
		if (!pw)
			return perr(p, "[user %s]: %s", arg,
				    errno ? strerror(errno) : "no such user");
		sec.kind = SEC_UID;
		sec.id = pw->pw_uid;
	} else if (strcmp(kind, "group") == 0) {
		struct group *gr;

		if (!*arg || arg[strcspn(arg, " \t")])
			return perr(p, "[group] needs one name: [group NAME]");
		errno = 0;
		gr = getgrnam(arg);
		if (!gr)
			return perr(p, "[group %s]: %s", arg,
				    errno ? strerror(errno) : "no such group");
		sec.kind = SEC_GID;
		sec.id = gr->gr_gid;
	} else {
		return perr(p, "unknown section [%s%s%s] (expected [default], "
			    "[uid N], [gid N], [user NAME], [group NAME] or "
			    "[daemon])",
			    kind, *arg ? " " : "", arg);
	}

	for (size_t i = 0; i < p->nsecs; i++) {
		const struct section *o = &p->secs[i];

		if (o->kind != sec.kind || o->id != sec.id)
			continue;
		if (sec.kind == SEC_DEFAULT)
			return perr(p, "duplicate section [default] (first at "
				    "line %u)", o->line);
		return perr(p, "duplicate section: %s %u already has a section "
			    "at line %u", section_kind_name(sec.kind), sec.id,
			    o->line);
	}
	if (p->nsecs == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 8;
		struct section *n = realloc(p->secs, cap * sizeof(*n));

		if (!n) {
			set_err(p->err, p->errlen, "%s: out of memory", p->name);
			return -ENOMEM;
		}
		p->secs = n;
		p->cap = cap;
	}
	p->secs[p->nsecs] = sec;
	p->cur = &p->secs[p->nsecs++];
	p->in_daemon = false;
	return 0;
}

static int parse_key(struct parser *p, char *s)
{
	char *eq = strchr(s, '=');
	char *name, *value;
	const struct key_def *k;
	enum key_id id;
	uint64_t v = 0;
	int r;

	if (!eq)
		return perr(p, "expected 'key = value' or '[section]'");
	*eq = '\0';
	name = trim(s);
	value = trim(eq + 1);
	if (!*name)
		return perr(p, "missing key before '='");
	if (p->in_daemon)
		return parse_daemon_key(p, name, value);
	for (id = 0; id < KEY_COUNT; id++)
		if (strcmp(keys[id].name, name) == 0)
			break;
	if (id == KEY_COUNT)
		return perr(p, "unknown key '%s' (known: ops, slots, slot_size, "
			    "arena, fds, in_flight, sessions, max_errors, control, "
			    "allow_fs)", name);
	k = &keys[id];
	if (!p->cur)
		return perr(p, "'%s' before any section (start with [default])",
			    name);
	if (p->cur->key_line[id])
		return perr(p, "'%s' given twice in this section (first at "
			    "line %u)", name, p->cur->key_line[id]);
	if (!*value)
		return perr(p, "%s: missing value", name);

	if (id == KEY_OPS || id == KEY_ALLOW_FS) {
		r = id == KEY_OPS ? parse_ops(p, value, &v) :
				    parse_fs(p, value, &v);
		if (r < 0)
			return r;
	} else {
		r = parse_number(p, name, value, true, &v);
		if (r < 0)
			return r;
		if (v < k->min || v > k->max)
			return perr(p, "%s = %s is out of range (%llu to %llu)",
				    name, value, (unsigned long long)k->min,
				    (unsigned long long)k->max);
		if (k->page_multiple && v % POLICY_SLOT_ALIGN)
			return perr(p, "%s = %s is not a multiple of 4K (%u)",
				    name, value, POLICY_SLOT_ALIGN);
	}
	p->cur->key_line[id] = p->line;
	p->cur->value[id] = v;
	return 0;
}

static void apply(struct policy *pol, const struct section *sec)
{
	for (unsigned id = 0; id < KEY_COUNT; id++) {
		unsigned char *field = (unsigned char *)pol + keys[id].offset;

		if (!sec->key_line[id])
			continue;
		if (keys[id].size == 8) {
			uint64_t v = sec->value[id];
			memcpy(field, &v, sizeof(v));
		} else {
			uint32_t v = (uint32_t)sec->value[id];
			memcpy(field, &v, sizeof(v));
		}
	}
}

static int build(struct parser *p, struct config **out)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	size_t n = 0;

	if (!cfg)
		return -ENOMEM;
	cfg->source = strdup(p->name);
	if (p->nsecs)
		cfg->rules = calloc(p->nsecs, sizeof(*cfg->rules));
	if (!cfg->source || (p->nsecs && !cfg->rules)) {
		config_free(cfg);
		return -ENOMEM;
	}
	cfg->daemon = p->daemon;
	policy_default(&cfg->def);
	for (size_t i = 0; i < p->nsecs; i++)
		if (p->secs[i].kind == SEC_DEFAULT)
			apply(&cfg->def, &p->secs[i]);
	for (size_t i = 0; i < p->nsecs; i++) {
		const struct section *sec = &p->secs[i];
		struct config_rule *rule;

		if (sec->kind == SEC_DEFAULT)
			continue;
		rule = &cfg->rules[n++];
		rule->match = sec->kind == SEC_UID ? CONFIG_MATCH_UID :
			      CONFIG_MATCH_GID;
		rule->id = sec->id;
		rule->line = sec->line;
		rule->policy = cfg->def;
		apply(&rule->policy, sec);
	}
	cfg->nrules = n;
	*out = cfg;
	return 0;
}

int config_parse(const char *name, const char *text, size_t len,
		 struct config **out, char *err, size_t errlen)
{
	struct parser p = { .name = name, .err = err, .errlen = errlen };
	char *buf, *line, *next;

	config_daemon_defaults(&p.daemon);
	int r = 0;

	if (errlen)
		err[0] = '\0';
	*out = NULL;
	buf = malloc(len + 1);
	if (!buf) {
		set_err(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';

	for (line = buf; line && r == 0; line = next) {
		char *s, *hash;
		size_t l;

		p.line++;
		next = memchr(line, '\n', len - (size_t)(line - buf));
		if (next)
			*next++ = '\0';
		l = (next ? (size_t)(next - 1 - line) : len - (size_t)(line - buf));
		/* A NUL inside the line: the text ends early for C. */
		if (strlen(line) != l) {
			r = perr(&p, "NUL byte in the file");
			break;
		}
		if (l && line[l - 1] == '\r')
			line[l - 1] = '\0';
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		s = trim(line);
		if (!*s)
			continue;
		if (*s == '[')
			r = parse_section(&p, s);
		else
			r = parse_key(&p, s);
		if (!next)
			break;
	}
	if (r == 0) {
		r = build(&p, out);
		if (r < 0)
			set_err(err, errlen, "%s: out of memory", name);
	}
	free(p.secs);
	free(buf);
	return r;
}

int config_load(const char *path, struct config **out, char *err,
		size_t errlen)
{
	struct stat st;
	char *text = NULL;
	size_t got = 0;
	int fd, r;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		set_err(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		set_err(err, errlen, "%s: %s", path, strerror(-r));
		goto out;
	}
	r = -EINVAL;
	if (!S_ISREG(st.st_mode)) {
		set_err(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	/* Whoever may write the policy decides who gets what: only root
	 * and the daemon's own user may. */
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		set_err(err, errlen, "%s: owned by uid %u, not by root or "
			"saferringd's user; refusing it", path,
			(unsigned)st.st_uid);
		goto out;
	}
	if (st.st_mode & S_IWOTH) {
		set_err(err, errlen, "%s: writable by anyone; refusing it "
			"(chmod o-w)", path);
		goto out;
	}
	if (st.st_size > CONFIG_MAX_BYTES) {
		set_err(err, errlen, "%s: larger than %d bytes", path,
			CONFIG_MAX_BYTES);
		goto out;
	}
	text = malloc(CONFIG_MAX_BYTES + 1);
	if (!text) {
		r = -ENOMEM;
		set_err(err, errlen, "%s: out of memory", path);
		goto out;
	}
	/* Read to end of file, not to st_size: the file may change. */
	for (;;) {
		ssize_t n = read(fd, text + got, CONFIG_MAX_BYTES + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			set_err(err, errlen, "%s: %s", path, strerror(-r));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > CONFIG_MAX_BYTES) {
			r = -EINVAL;
			set_err(err, errlen, "%s: larger than %d bytes", path,
				CONFIG_MAX_BYTES);
			goto out;
		}
	}
	r = config_parse(path, text, got, out, err, errlen);
out:
	free(text);
	close(fd);
	return r;
}

int config_builtin(struct config **out)
{
	struct parser p = { .name = "(built-in)" };

	config_daemon_defaults(&p.daemon);
	return build(&p, out);
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	free(cfg->source);
	free(cfg->rules);
	free(cfg);
}

const struct policy *config_lookup(const struct config *cfg, uint32_t uid,
				   uint32_t gid)
{
	for (size_t i = 0; i < cfg->nrules; i++)
		if (cfg->rules[i].match == CONFIG_MATCH_UID &&
		    cfg->rules[i].id == uid)
			return &cfg->rules[i].policy;
	for (size_t i = 0; i < cfg->nrules; i++)
		if (cfg->rules[i].match == CONFIG_MATCH_GID &&
		    cfg->rules[i].id == gid)
			return &cfg->rules[i].policy;
	return &cfg->def;
}

void config_format_fs(uint64_t set, char *buf, size_t len)
{
	size_t used = 0;

	if (!len)
		return;
	snprintf(buf, len, "none");
	for (int id = 0; id < FS__COUNT; id++) {
		int n;

		if (!(set & (1ULL << id)))
			continue;
		n = snprintf(buf + used, len - used, "%s%s", used ? " " : "",
			     fs_table_get((enum fs_id)id)->name);
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
	}
}

static void print_policy(FILE *out, const char *what, unsigned line,
			 const struct policy *p)
{
	char ops[256], fs[256];

	policy_format_ops(p->allowed_ops, ops, sizeof(ops));
	config_format_fs(p->allowed_fs, fs, sizeof(fs));
	fprintf(out, "%s", what);
	if (line)
		fprintf(out, " (line %u)", line);
	fprintf(out, ": ops=%s slots=%u slot_size=%u arena=%llu fds=%u "
		"in_flight=%u sessions=%u max_errors=%u control=%u "
		"allow_fs=%s\n", ops, p->max_slot_count, p->max_slot_size,
		(unsigned long long)p->max_arena_bytes, p->max_fds,
		p->max_in_flight, p->max_sessions, p->max_errors, p->control,
		fs);
}

void config_print(const struct config *cfg, FILE *out)
{
	char what[64];

	const struct daemon_settings *d = &cfg->daemon;

	fprintf(out, "%s\n", cfg->source);
	fprintf(out, "daemon: user=%s socket_group=%s max_pinned_total=",
		d->user, d->socket_group);
	if (d->max_pinned_total)
		fprintf(out, "%llu", (unsigned long long)d->max_pinned_total);
	else
		fprintf(out, "auto");
	fprintf(out, " max_sessions_total=%u spin_us=%u workers=%u\n",
		d->max_sessions_total, d->spin_us, d->workers);
	print_policy(out, "default", 0, &cfg->def);
	for (size_t i = 0; i < cfg->nrules; i++) {
		const struct config_rule *r = &cfg->rules[i];

		snprintf(what, sizeof(what), "%s %u",
			 r->match == CONFIG_MATCH_UID ? "uid" : "gid", r->id);
		print_policy(out, what, r->line, &r->policy);
	}
}
