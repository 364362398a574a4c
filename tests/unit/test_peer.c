/* SPDX-License-Identifier: MIT */
/*
 * test_peer.c - unit tests of daemon/peer.c: the client's RLIMIT_FSIZE
 * as /proc/PID/limits states it, and reading it for a live peer.
 *
 * The parser takes text from procfs, which the client cannot write, but
 * must still refuse what it does not understand rather than guess a
 * limit (a wrong guess would let a client write past its own limit).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "peer.h"

static const char limits_text[] =
	"Limit                     Soft Limit           Hard Limit           Units     \n"
	"Max cpu time              unlimited            unlimited            seconds   \n"
	"Max file size             %s            unlimited            bytes     \n"
	"Max data size             unlimited            unlimited            bytes     \n";

static int parse(const char *soft, uint64_t *out)
{
	char text[512];

	snprintf(text, sizeof(text), limits_text, soft);
	return peer_parse_fsize(text, strlen(text), out);
}

static void test_parse(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(parse("unlimited", &v), 0);
	assert_int_equal(v, UINT64_MAX);
	assert_int_equal(parse("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(parse("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse("-5", &v), -EINVAL);
	assert_int_equal(parse("12ab", &v), -EINVAL);
	assert_int_equal(parse("99999999999999999999999", &v), -EINVAL);
	/* No such line at all. */
	assert_int_equal(peer_parse_fsize("Max cpu time 1 1 s\n", 19, &v),
			 -EINVAL);
	assert_int_equal(peer_parse_fsize("", 0, &v), -EINVAL);
	/* A line cut before its value. */
	assert_int_equal(peer_parse_fsize("Max file size", 13, &v), -EINVAL);
	assert_int_equal(peer_parse_fsize("Max file size   ", 16, &v), -EINVAL);
}

/* The real thing: a socketpair's peer is this process. */
static void test_read_live(void **state)
{
	struct rlimit old, low;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uint64_t v = 0;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
				    sv), 0);
	assert_int_equal(getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &cred,
				    &len), 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	low = old;
	low.rlim_cur = 12345;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &low), 0);
	assert_int_equal(peer_read_limits(sv[0], &cred, &v), 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(v, 12345);
	/* A pid that is nobody's: gone. */
	cred.pid = 0;
	assert_int_equal(peer_read_limits(sv[0], &cred, &v), -ESRCH);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_read_live),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
