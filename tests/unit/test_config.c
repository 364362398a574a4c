/* SPDX-License-Identifier: MIT */
/*
 * test_config.c - unit tests for the policy file parser (config.c) and
 * the policy helpers it relies on (policy.c).
 *
 * Every malformed input must be refused with a message that names the
 * file and the line; every accepted one must give exactly the documented
 * values, with uid > gid > [default] > built-in precedence.  Must never
 * depend on a daemon, a socket or a ring.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fs_table.h"
#include "policy.h"
#include "saferring.h"

#define OPS(...) ops_mask((const char *[]){ __VA_ARGS__, NULL })

static uint64_t ops_mask(const char **names)
{
	uint64_t m = 0;

	for (; *names; names++) {
		int op = policy_op_from_name(*names, strlen(*names));
		assert_true(op >= 0);
		m |= 1ULL << op;
	}
	return m;
}

static struct config *parse_ok(const char *text)
{
	struct config *cfg = NULL;
	char err[256] = "";
	int r = config_parse("t.conf", text, strlen(text), &cfg, err,
			     sizeof(err));

	if (r != 0)
		fail_msg("parse failed: %d %s\n--- input:\n%s", r, err, text);
	assert_non_null(cfg);
	return cfg;
}

/* Must fail with -EINVAL and a message "t.conf:LINE: ..." containing
 * @what. */
static void parse_bad(const char *text, unsigned line, const char *what)
{
	struct config *cfg = (struct config *)0x1;
	char err[256] = "", prefix[32];
	int r = config_parse("t.conf", text, strlen(text), &cfg, err,
			     sizeof(err));

	if (r != -EINVAL)
		fail_msg("expected -EINVAL, got %d (%s) for:\n%s", r, err, text);
	assert_null(cfg);
	snprintf(prefix, sizeof(prefix), "t.conf:%u: ", line);
	if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, what))
		fail_msg("message '%s' lacks '%s' or '%s' for:\n%s", err,
			 prefix, what, text);
}

static void test_empty_is_builtin(void **state)
{
	struct policy def;
	struct config *cfg;

	(void)state;
	policy_default(&def);
	cfg = parse_ok("");
	assert_memory_equal(&cfg->def, &def, sizeof(def));
	assert_int_equal(cfg->nrules, 0);
	config_free(cfg);

	cfg = parse_ok("# only a comment\n\n   \t\n");
	assert_memory_equal(&cfg->def, &def, sizeof(def));
	config_free(cfg);

	assert_int_equal(config_builtin(&cfg), 0);
	assert_memory_equal(&cfg->def, &def, sizeof(def));
	assert_int_equal(cfg->nrules, 0);
	assert_ptr_equal(config_lookup(cfg, 1000, 1000), &cfg->def);
	config_free(cfg);
}

static void test_all_keys(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = parse_ok("[default]\n"
		       "ops = nop read\n"
		       "slots = 16\n"
		       "slot_size = 8K\n"
		       "arena = 1M\n"
		       "fds = 3\n"
		       "in_flight = 5\n"
		       "sessions = 7\n"
		       "max_errors = 9\n");
	assert_int_equal(cfg->def.allowed_ops, OPS("nop", "read"));
	assert_int_equal(cfg->def.max_slot_count, 16);
	assert_int_equal(cfg->def.max_slot_size, 8192);
	assert_int_equal(cfg->def.max_arena_bytes, 1 << 20);
	assert_int_equal(cfg->def.max_fds, 3);
	assert_int_equal(cfg->def.max_in_flight, 5);
	assert_int_equal(cfg->def.max_sessions, 7);
	assert_int_equal(cfg->def.max_errors, 9);
	config_free(cfg);
}

static void test_units(void **state)
{
	static const struct {
		const char *text;
		uint64_t want;
	} cases[] = {
		{ "4096", 4096 }, { "64K", 65536 }, { "64k", 65536 },
		{ "64KiB", 65536 }, { "64kib", 65536 }, { "1M", 1 << 20 },
		{ "1MiB", 1 << 20 }, { "2G", 2ULL << 30 }, { "1T", 1ULL << 40 },
		{ "0001M", 1 << 20 },
	};
	char text[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *cfg;

		snprintf(text, sizeof(text), "[default]\narena = %s\n",
			 cases[i].text);
		cfg = parse_ok(text);
		assert_int_equal(cfg->def.max_arena_bytes, cases[i].want);
		config_free(cfg);
	}
}

static void test_syntax_tolerance(void **state)
{
	struct config *cfg;

	(void)state;
	/* CRLF, tabs, trailing comments, no final newline, commas. */
	cfg = parse_ok("# policy\r\n"
		       "  [ default ]  # everyone\r\n"
		       "\tops=read,write ,  fsync\r\n"
		       "fds\t=\t2 # two\r\n"
		       "[uid   1000]\n"
		       "fds = 1");
	assert_int_equal(cfg->def.allowed_ops, OPS("read", "write", "fsync"));
	assert_int_equal(cfg->def.max_fds, 2);
	assert_int_equal(cfg->nrules, 1);
	assert_int_equal(cfg->rules[0].id, 1000);
	assert_int_equal(cfg->rules[0].line, 5);
	assert_int_equal(cfg->rules[0].policy.max_fds, 1);
	config_free(cfg);
}

static void test_ops_forms(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = parse_ok("[default]\nops = all\n[uid 1]\nops = none\n"
		       "[uid 2]\nops = read read nop\n");
	assert_int_equal(cfg->def.allowed_ops, policy_all_ops());
	assert_int_equal(config_lookup(cfg, 1, 0)->allowed_ops, 0);
	assert_int_equal(config_lookup(cfg, 2, 0)->allowed_ops,
			 OPS("read", "nop"));
	config_free(cfg);
}

/* A section lists only what differs; the rest comes from [default]
 * (wherever it stands in the file), then from the built-in values. */
static void test_inheritance_and_precedence(void **state)
{
	struct policy def;
	struct config *cfg;
	const struct policy *p;

	(void)state;
	policy_default(&def);
	cfg = parse_ok("[uid 1000]\n"
		       "slots = 8\n"
		       "[gid 100]\n"
		       "fds = 5\n"
		       "slots = 9\n"
		       "[default]\n"
		       "fds = 10\n"
		       "ops = read\n");
	/* uid section: own slots, [default]'s fds and ops, built-in rest. */
	p = config_lookup(cfg, 1000, 100);
	assert_int_equal(p->max_slot_count, 8);
	assert_int_equal(p->max_fds, 10);
	assert_int_equal(p->allowed_ops, OPS("read"));
	assert_int_equal(p->max_in_flight, def.max_in_flight);
	/* The uid section wins over the gid section entirely. */
	p = config_lookup(cfg, 1000, 5);
	assert_int_equal(p->max_slot_count, 8);
	/* gid section for another uid in that group. */
	p = config_lookup(cfg, 1001, 100);
	assert_int_equal(p->max_slot_count, 9);
	assert_int_equal(p->max_fds, 5);
	assert_int_equal(p->allowed_ops, OPS("read"));
	/* Neither: [default]. */
	p = config_lookup(cfg, 1001, 101);
	assert_ptr_equal(p, &cfg->def);
	assert_int_equal(p->max_fds, 10);
	assert_int_equal(p->max_slot_count, def.max_slot_count);
	/* A uid number equal to the gid does not match the gid rule. */
	p = config_lookup(cfg, 100, 7);
	assert_ptr_equal(p, &cfg->def);
	config_free(cfg);
}

static void test_names(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = parse_ok("[user root]\nfds = 4\n[group root]\nfds = 6\n");
	assert_int_equal(config_lookup(cfg, 0, 12345)->max_fds, 4);
	assert_int_equal(config_lookup(cfg, 4321, 0)->max_fds, 6);
	config_free(cfg);

	parse_bad("[default]\n[user no-such-user-saferring]\n", 2,
		  "no such user");
	parse_bad("[group no-such-group-saferring]\n", 1, "no such group");
	parse_bad("[user]\n", 1, "[user NAME]");
	parse_bad("[user a b]\n", 1, "[user NAME]");
	/* The same uid by name and by number. */
	parse_bad("[uid 0]\nfds = 1\n[user root]\n", 3,
		  "uid 0 already has a section at line 1");
}

static void test_malformed(void **state)
{
	(void)state;
	parse_bad("[default]\nslots = 4\nbogus = 1\n", 3, "unknown key 'bogus'");
	parse_bad("[default]\n[default]\n", 2, "duplicate section [default]");
	parse_bad("[uid 5]\n\n[uid 5]\n", 3,
		  "uid 5 already has a section at line 1");
	parse_bad("[gid 5]\n[uid 5]\n[gid 5]\n", 3, "gid 5 already");
	parse_bad("[default]\nfds = 1\nfds = 2\n", 3,
		  "'fds' given twice in this section (first at line 2)");
	parse_bad("fds = 1\n", 1, "before any section");
	parse_bad("[default]\nfds 1\n", 2, "expected 'key = value'");
	parse_bad("[default]\n= 1\n", 2, "missing key");
	parse_bad("[default]\nfds =\n", 2, "missing value");
	parse_bad("[default]\nfds = # none\n", 2, "missing value");
	parse_bad("[default\n", 1, "without ']'");
	parse_bad("[default] fds = 1\n", 1, "text after");
	parse_bad("[default x]\n", 1, "takes no argument");
	parse_bad("[host foo]\n", 1, "unknown section [host foo]");
	parse_bad("[]\n", 1, "unknown section");
	parse_bad("[uid]\n", 1, "needs a number");
	parse_bad("[uid abc]\n", 1, "not a number");
	parse_bad("[uid -1]\n", 1, "not a number");
	parse_bad("[uid 4294967295]\n", 1, "out of range");
	parse_bad("[uid 99999999999999999999999]\n", 1, "too large");
	parse_bad("[uid 1K]\n", 1, "not a number");
	parse_bad("\n\n[default]\nfds = 0x10\n", 4, "unknown unit 'x10'");
}

static void test_bad_values(void **state)
{
	(void)state;
	parse_bad("[default]\nslots = 0\n", 2, "out of range (1 to 16384)");
	parse_bad("[default]\nslots = 16385\n", 2, "out of range");
	parse_bad("[default]\nslots = 17K\n", 2, "out of range");
	parse_bad("[default]\nslot_size = 5000\n", 2, "not a multiple of 4K");
	parse_bad("[default]\nslot_size = 1K\n", 2, "out of range");
	parse_bad("[default]\nslot_size = 2G\n", 2, "out of range");
	parse_bad("[default]\narena = 2T\n", 2, "out of range");
	parse_bad("[default]\narena = 100\n", 2, "out of range");
	parse_bad("[default]\nfds = 0\n", 2, "out of range");
	parse_bad("[default]\nin_flight = 0\n", 2, "out of range");
	parse_bad("[default]\nin_flight = 16384\n", 2, "out of range");
	parse_bad("[default]\nmax_errors = 0\n", 2, "out of range");
	parse_bad("[default]\nsessions = 65537\n", 2, "out of range");
	parse_bad("[default]\nfds = -1\n", 2, "not a number");
	parse_bad("[default]\nfds = ten\n", 2, "not a number");
	parse_bad("[default]\nfds = 1 2\n", 2, "unknown unit");
	parse_bad("[default]\narena = 64KB\n", 2, "unknown unit 'KB'");
	/* Overflow: of the digits, and of the unit multiplication. */
	parse_bad("[default]\narena = 18446744073709551616\n", 2, "too large");
	parse_bad("[default]\narena = 99999999999999999999999999\n", 2,
		  "too large");
	parse_bad("[default]\narena = 17179869184G\n", 2, "too large");
	parse_bad("[default]\nfds = 4294967297\n", 2, "out of range");
}

static void test_bad_ops(void **state)
{
	(void)state;
	parse_bad("[default]\nops = read frobnicate\n", 2,
		  "unknown operation 'frobnicate'");
	/* The message lists what is known. */
	parse_bad("[default]\nops = READ\n", 2, "known: nop read write");
	parse_bad("[default]\nops = all read\n", 2, "stand alone");
	parse_bad("[default]\nops = none nop\n", 2, "stand alone");
	parse_bad("[default]\nops = , ,\n", 2, "empty list");
}

static void test_nul_byte(void **state)
{
	static const char text[] = "[default]\nfds = 1\0\n";
	struct config *cfg = NULL;
	char err[256];
	int r;

	(void)state;
	r = config_parse("t.conf", text, sizeof(text) - 1, &cfg, err,
			 sizeof(err));
	assert_int_equal(r, -EINVAL);
	assert_null(cfg);
	assert_string_equal(err, "t.conf:2: NUL byte in the file");
}

/* The message must fit whatever buffer the caller has, even none. */
static void test_small_error_buffer(void **state)
{
	struct config *cfg;
	char err[8];

	(void)state;
	memset(err, 'x', sizeof(err));
	assert_int_equal(config_parse("a-long-file-name.conf", "x\n", 2, &cfg,
				      err, sizeof(err)), -EINVAL);
	assert_int_equal(err[sizeof(err) - 1], '\0');
	assert_int_equal(config_parse("t", "x\n", 2, &cfg, NULL, 0), -EINVAL);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_load(void **state)
{
	char dir[] = "/tmp/test_config.XXXXXX", path[64], err[256];
	struct config *cfg;
	int r;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/p.conf", dir);

	r = config_load(path, &cfg, err, sizeof(err));
	assert_int_equal(r, -ENOENT);
	assert_non_null(strstr(err, "No such file"));

	write_file(path, "[default]\nfds = 3\n[uid 7]\nfds = 4\n", 0644);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->source, path);
	assert_int_equal(cfg->def.max_fds, 3);
	assert_int_equal(config_lookup(cfg, 7, 7)->max_fds, 4);
	config_free(cfg);

	/* The message names the file it was loaded from. */
	write_file(path, "[default]\n\nfds = 0\n", 0644);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), -EINVAL);
	assert_true(strncmp(err, path, strlen(path)) == 0);
	assert_non_null(strstr(err, ":3: fds = 0 is out of range"));

	/* Anyone who can write the policy could grant themselves anything. */
	write_file(path, "[default]\n", 0666);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "writable by anyone"));

	assert_int_equal(config_load(dir, &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));

	/* Too large to be a policy. */
	{
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		for (int i = 0; i <= CONFIG_MAX_BYTES / 16; i++)
			fputs("# padding line.\n", f); /* 16 bytes */
		fclose(f);
		chmod(path, 0644);
		assert_int_equal(config_load(path, &cfg, err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "larger than"));
	}
	unlink(path);
	rmdir(dir);
}

static void test_print(void **state)
{
	struct config *cfg;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	cfg = parse_ok("[default]\nops = read\n[gid 9]\nfds = 2\n");
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	config_print(cfg, f);
	fclose(f);
	assert_non_null(strstr(buf, "default: ops=read "));
	assert_non_null(strstr(buf, "gid 9 (line 3): ops=read "));
	assert_non_null(strstr(buf, "fds=2 "));
	free(buf);
	config_free(cfg);
}

static void test_op_names(void **state)
{
	char buf[512];

	(void)state;
	assert_int_equal(policy_op_from_name("read", 4), SR_OP_READ);
	assert_int_equal(policy_op_from_name("readx", 4), SR_OP_READ);
	assert_int_equal(policy_op_from_name("rea", 3), -ENOENT);
	assert_int_equal(policy_op_from_name("", 0), -ENOENT);
	assert_string_equal(policy_op_name(SR_OP_FSYNC), "fsync");
	assert_null(policy_op_name(63));
	/* Every opcode has a name, and names map back to it. */
	for (unsigned op = 0; op < 64; op++) {
		const char *name = policy_op_name(op);

		assert_int_equal(!!name, !!(policy_all_ops() & (1ULL << op)));
		if (name)
			assert_int_equal(policy_op_from_name(name, strlen(name)),
					 (int)op);
	}
	assert_true(policy_all_ops() & (1ULL << SR_OP_NOP));
	policy_format_ops(0, buf, sizeof(buf));
	assert_string_equal(buf, "none");
	policy_format_ops(OPS("nop", "write"), buf, sizeof(buf));
	assert_string_equal(buf, "nop write");
	policy_format_ops(1ULL << 63, buf, sizeof(buf));
	assert_string_equal(buf, "op63");
	/* Truncation stays terminated. */
	policy_format_ops(policy_all_ops(), buf, 6);
	assert_true(strlen(buf) < 6);
}

/* allow_fs: only network, cluster and FUSE filesystems, by name. */
static void test_allow_fs(void **state)
{
	struct config *cfg;
	int nfs = fs_table_by_name("nfs", 3), fuse = fs_table_by_name("fuse", 4);
	char buf[64];

	(void)state;
	assert_true(nfs >= 0 && fuse >= 0);
	cfg = parse_ok("[default]\n[gid 7]\nallow_fs = nfs, fuse\n");
	assert_int_equal(cfg->def.allowed_fs, 0);
	assert_int_equal(cfg->nrules, 1);
	assert_int_equal(cfg->rules[0].policy.allowed_fs,
			 (1ULL << nfs) | (1ULL << fuse));
	config_format_fs(cfg->rules[0].policy.allowed_fs, buf, sizeof(buf));
	assert_string_equal(buf, "nfs fuse");
	config_free(cfg);
	cfg = parse_ok("[default]\nallow_fs = none\n");
	assert_int_equal(cfg->def.allowed_fs, 0);
	config_format_fs(0, buf, sizeof(buf));
	assert_string_equal(buf, "none");
	config_free(cfg);
	parse_bad("[default]\nallow_fs = ext4\n", 2, "admitted anyway");
	parse_bad("[default]\nallow_fs = proc\n", 2, "can never be allowed");
	parse_bad("[default]\nallow_fs = anon_inode\n", 2,
		  "can never be allowed");
	parse_bad("[default]\nallow_fs = zorkfs\n", 2,
		  "unknown filesystem 'zorkfs'");
	parse_bad("[default]\nallow_fs = none nfs\n", 2, "stands alone");
	parse_bad("[default]\nallow_fs = ,\n", 2, "empty list");
}

/* [daemon]: the daemon's own settings, with their defaults. */
static void test_daemon_section(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = parse_ok("[default]\nfds = 4\n");
	assert_string_equal(cfg->daemon.user, CONFIG_DEFAULT_USER);
	assert_string_equal(cfg->daemon.socket_group,
			    CONFIG_DEFAULT_SOCKET_GROUP);
	assert_false(cfg->daemon.socket_group_set);
	assert_int_equal(cfg->daemon.max_pinned_total, 0);
	assert_int_equal(cfg->daemon.max_sessions_total,
			 CONFIG_DEFAULT_MAX_SESSIONS_TOTAL);
	config_free(cfg);
	cfg = parse_ok("[daemon]\nuser = sr-d\nsocket_group = sr_clients\n"
		       "max_pinned_total = 2G\nmax_sessions_total = 100\n"
		       "[default]\nfds = 4\n");
	assert_string_equal(cfg->daemon.user, "sr-d");
	assert_string_equal(cfg->daemon.socket_group, "sr_clients");
	assert_true(cfg->daemon.socket_group_set);
	assert_int_equal(cfg->daemon.max_pinned_total, 2ULL << 30);
	assert_int_equal(cfg->daemon.max_sessions_total, 100);
	/* Policy keys after [daemon] need a policy section of their own. */
	assert_int_equal(cfg->def.max_fds, 4);
	config_free(cfg);
	parse_bad("[daemon]\nfds = 4\n", 2, "unknown key 'fds' in [daemon]");
	parse_bad("[daemon]\n[daemon]\n", 2, "duplicate section [daemon]");
	parse_bad("[daemon x]\n", 1, "takes no argument");
	parse_bad("[daemon]\nuser = a b\n", 2, "not a user or group name");
	parse_bad("[daemon]\nuser = ../x/y\n", 2, "not a user or group name");
	parse_bad("[daemon]\nuser = a\nuser = b\n", 3, "given twice");
	parse_bad("[daemon]\nmax_sessions_total = 0\n", 2, "out of range");
	parse_bad("[daemon]\nmax_pinned_total = 1K\n", 2, "out of range");
	parse_bad("[daemon]\nmax_pinned_total = lots\n", 2, "not a number");
	parse_bad("[daemon]\nuser = "
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "\n", 2, "longer than");
}

static void test_grant_slots(void **state)
{
	struct policy p;
	uint32_t count, size;

	(void)state;
	policy_default(&p);
	policy_grant_slots(&p, 0, 0, &count, &size);
	assert_int_equal(count, p.default_slot_count);
	assert_int_equal(size, p.default_slot_size);

	/* Wishes beyond the maxima are clamped; sizes round up to 4K. */
	p.max_slot_count = 4;
	p.max_slot_size = 8192;
	p.max_arena_bytes = 1 << 20;
	policy_grant_slots(&p, 100, 1 << 20, &count, &size);
	assert_int_equal(count, 4);
	assert_int_equal(size, 8192);
	policy_grant_slots(&p, 2, 5000, &count, &size);
	assert_int_equal(count, 2);
	assert_int_equal(size, 8192);

	/* The arena cuts the count. */
	p.max_arena_bytes = 16384;
	policy_grant_slots(&p, 4, 8192, &count, &size);
	assert_int_equal(count, 2);
	assert_true((uint64_t)count * size <= p.max_arena_bytes);

	/* An arena smaller than one slot: the slot shrinks to fit. */
	p.max_slot_size = 1 << 20;
	p.default_slot_size = 1 << 20;
	p.max_arena_bytes = 12288;
	policy_grant_slots(&p, 0, 0, &count, &size);
	assert_int_equal(count, 1);
	assert_int_equal(size, 12288);
	assert_true((uint64_t)count * size <= p.max_arena_bytes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_is_builtin),
		cmocka_unit_test(test_all_keys),
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_syntax_tolerance),
		cmocka_unit_test(test_ops_forms),
		cmocka_unit_test(test_inheritance_and_precedence),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_bad_ops),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_small_error_buffer),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_print),
		cmocka_unit_test(test_op_names),
		cmocka_unit_test(test_grant_slots),
		cmocka_unit_test(test_allow_fs),
		cmocka_unit_test(test_daemon_section),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
