/* SPDX-License-Identifier: MIT */
/*
 * saferring-run - run a program with io_uring denied, pointed at
 * saferringd.
 *
 *   saferring-run [--socket PATH] [--] PROGRAM [ARGS...]
 *
 * Installs sr_sandbox_deny_io_uring() (io_uring_setup/enter/register fail
 * with EPERM in PROGRAM and everything it starts), exports
 * SAFERRING_SOCKET=PATH when --socket is given, and execs PROGRAM (looked
 * up in PATH).  Exit status, as env(1): 125 when saferring-run itself
 * fails, 126 when PROGRAM cannot be run, 127 when it is not found;
 * otherwise PROGRAM's own.
 *
 * Must never run PROGRAM without the filter in place: any failure to
 * install it ends here.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "saferring.h"

#define EXIT_FAILED 125
#define EXIT_CANNOT_RUN 126
#define EXIT_NOT_FOUND 127

static void usage(FILE *f)
{
	fprintf(f,
		"usage: saferring-run [--socket PATH] [--] PROGRAM [ARGS...]\n"
		"Run PROGRAM with io_uring denied (io_uring_setup, _enter and\n"
		"_register fail with EPERM, also in its children); it can still\n"
		"reach io_uring through saferringd.\n"
		"\n"
		"  -s, --socket PATH  set %s=PATH for PROGRAM\n"
		"  -h, --help         show this help\n",
		SR_SOCKET_ENV);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL;
	int opt, r;

	/* '+': options end at PROGRAM, so its own options stay its own. */
	while ((opt = getopt_long(argc, argv, "+s:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_FAILED;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "saferring-run: no program given\n");
		usage(stderr);
		return EXIT_FAILED;
	}
	if (sock) {
		if (!*sock) {
			fprintf(stderr, "saferring-run: --socket: empty path\n");
			return EXIT_FAILED;
		}
		if (setenv(SR_SOCKET_ENV, sock, 1) < 0) {
			fprintf(stderr, "saferring-run: cannot set %s: %s\n",
				SR_SOCKET_ENV, strerror(errno));
			return EXIT_FAILED;
		}
	}
	r = sr_sandbox_deny_io_uring();
	if (r < 0) {
		fprintf(stderr, "saferring-run: cannot deny io_uring (seccomp "
			"filter): %s; not running %s\n", strerror(-r),
			argv[optind]);
		return EXIT_FAILED;
	}
	execvp(argv[optind], argv + optind);
	r = errno;
	fprintf(stderr, "saferring-run: %s: %s\n", argv[optind], strerror(r));
	return r == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN;
}
