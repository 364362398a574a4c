#!/bin/sh
# SPDX-License-Identifier: MIT
#
# test_valgrind.sh - part of make check: every end-to-end test program
# again, against a saferringd under valgrind memcheck (see
# valgrind-daemon.sh); passes only with zero errors and zero bytes
# definitely lost in every daemon run.  About a minute and a half on two
# vCPUs.  Skips (77) for a sanitizer build (make check-asan), which
# valgrind cannot run, and never otherwise: a missing valgrind is a skip
# that valgrind-daemon.sh prints.
set -u
B=${B:-build}
tests=""
for src in tests/e2e/test_*.c; do
	tests="$tests $B/tests/$(basename "$src" .c)"
done
# shellcheck disable=SC2086
exec "$(dirname "$0")/valgrind-daemon.sh" $tests
