#!/bin/sh
# SPDX-License-Identifier: MIT
#
# valgrind-daemon.sh TEST... - runs the given end-to-end test programs
# against a saferringd that runs under valgrind memcheck, then fails
# unless every daemon run reported zero errors and zero bytes definitely
# lost.  `make check-valgrind` runs it over every tests/e2e program.
#
# How: SAFERRINGD (which the harness starts) points at a wrapper that
# execs valgrind on $B/sbin/saferringd with --no-seccomp, because
# valgrind cannot run a seccomp-confined program (its own system calls
# would be refused).  Waits scale by SAFERRING_TIMEOUT_SCALE (default 20
# here).  One log per daemon run lands in $VG_DIR (default
# $B/valgrind/), kept for reading.
#
# Skipped, with the reason printed: test_confine, which asserts the
# seccomp filter this run must leave out, and test_workers, which asserts
# that workers do not wait for each other: valgrind runs one thread at a
# time.  (check-asan and check-tsan run both.)  Set VG_ALL=1 to run them
# anyway.
#
# Must never report success when a daemon run's log is missing or
# unreadable: no log counts as a failure.
set -u
B=${B:-build}
top=$(pwd)
case "$B" in
/*) build=$B ;;
*) build=$top/$B ;;
esac
bin="$build/sbin/saferringd"
dir=${VG_DIR:-$build/valgrind}
if ! command -v valgrind >/dev/null 2>&1; then
	echo "SKIP: valgrind is not installed (make check-valgrind installs it)"
	exit 77
fi
[ -x "$bin" ] || { echo "FAIL: $bin not built"; exit 1; }
if objdump -p "$bin" 2>/dev/null | grep -q 'NEEDED.*lib[at]san'; then
	echo "SKIP: $bin is a sanitizer build; valgrind cannot run it"
	exit 77
fi
rm -rf "$dir"
mkdir -p "$dir"
wrapper="$dir/saferringd-valgrind"
cat > "$wrapper" <<EOF
#!/bin/sh
exec valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \\
	--errors-for-leak-kinds=definite --show-leak-kinds=definite \\
	--track-origins=yes --num-callers=30 \\
	--log-file="$dir/daemon.%p.log" "$bin" --no-seccomp "\$@"
EOF
chmod +x "$wrapper"
export SAFERRINGD="$wrapper"
# Tests that time one thread against another skip what valgrind's
# one-thread-at-a-time makes meaningless.
export SAFERRING_DAEMON_UNDER_VALGRIND=1
export SAFERRING_TIMEOUT_SCALE="${SAFERRING_TIMEOUT_SCALE:-20}"

tests=""
for t in "$@"; do
	case "$(basename "$t")" in
	test_confine|test_workers)
		if [ -z "${VG_ALL:-}" ]; then
			echo "valgrind: skipping $(basename "$t") (see tests/scripts/valgrind-daemon.sh)"
			continue
		fi ;;
	esac
	tests="$tests $t"
done
# shellcheck disable=SC2086
"$top/tests/run-tests.sh" $tests
suite=$?

runs=0 errors=0 lost=0 bad=""
for log in "$dir"/daemon.*.log; do
	[ -e "$log" ] || continue
	runs=$((runs + 1))
	e=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$log" | tr -d , | tail -n 1)
	d=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tr -d , | tail -n 1)
	if [ -z "$e" ]; then
		# No summary: the daemon was killed (SIGKILL by a test's
		# watchdog) or valgrind died; either way it is not clean.
		bad="$bad $log"
		continue
	fi
	errors=$((errors + e))
	lost=$((lost + ${d:-0}))
	if [ "$e" -ne 0 ] || [ "${d:-0}" -ne 0 ]; then
		bad="$bad $log"
	fi
done
echo "valgrind: $runs daemon runs, $errors errors, $lost bytes definitely lost"
for log in $bad; do
	echo "---- $log"
	grep -v '^==[0-9]*== *$' "$log" | head -n 60
done
[ "$runs" -gt 0 ] || { echo "FAIL: no daemon ran under valgrind"; exit 1; }
[ -z "$bad" ] && [ "$suite" -eq 0 ]
