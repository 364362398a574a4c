#!/bin/sh
# SPDX-License-Identifier: MIT
#
# tsan-run.sh TEST... - runs the given test programs (built with
# -fsanitize=thread: `make check-tsan` builds them into build-tsan/)
# through tests/run-tests.sh, with the end-to-end tests' saferringd built
# the same way, then fails unless no process reported anything.
#
# ThreadSanitizer writes each process's reports to $TSAN_DIR/tsan.PID
# (default $B/tsan/) and makes a process that reported exit 66, so a
# race in the daemon fails the test that met it (the harness wants exit
# 0 on SIGTERM) and is listed here again, whichever process it was in.
# Nothing is suppressed.
#
# The daemon keeps its seccomp filter: confine.c logs a call outside the
# list instead of killing the process in sanitizer builds, since the
# sanitizer's own calls (its reports, /proc reads at exit) are not the
# daemon's.  Waits scale by SAFERRING_TIMEOUT_SCALE (default 4 here: a
# thread-sanitized daemon runs several times slower).
#
# Must never report success when a sanitizer report exists, or when the
# suite failed.
set -u
B=${B:-build-tsan}
top=$(pwd)
case "$B" in
/*) build=$B ;;
*) build=$top/$B ;;
esac
bin="$build/sbin/saferringd"
dir=${TSAN_DIR:-$build/tsan}
[ -x "$bin" ] || { echo "FAIL: $bin not built"; exit 1; }
if ! objdump -p "$bin" 2>/dev/null | grep -q 'NEEDED.*libtsan'; then
	echo "FAIL: $bin is not built with -fsanitize=thread (make check-tsan)"
	exit 1
fi
rm -rf "$dir"
mkdir -p "$dir"
# The daemon drops to its own user: it must be able to write there.
chmod 0777 "$dir"
export TSAN_OPTIONS="log_path=$dir/tsan exitcode=66 halt_on_error=0 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
export SAFERRING_TIMEOUT_SCALE="${SAFERRING_TIMEOUT_SCALE:-4}"

"$top/tests/run-tests.sh" "$@"
suite=$?

reports=0
for log in "$dir"/tsan.*; do
	[ -e "$log" ] || continue
	n=$(grep -c '^WARNING: ThreadSanitizer' "$log")
	reports=$((reports + n))
	echo "---- $log"
	head -n 80 "$log"
done
echo "tsan: $reports reports"
[ "$reports" -eq 0 ] && [ "$suite" -eq 0 ]
