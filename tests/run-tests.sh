#!/bin/sh
# Runs each test program or script given, one at a time, and prints one
# summary line.  Exit status 77 means "skipped" (the automake convention):
# the test printed why.  Any other non-zero status is a failure.
#
# An argument "v1:PROGRAM" runs PROGRAM with libsaferring on the socket
# transport (protocol v1, SAFERRING_TRANSPORT=socket) instead of the
# shared-memory rings every other run uses by default.  "direct:PROGRAM"
# and "threads:PROGRAM" run it on that in-process backend
# (SAFERRING_BACKEND) instead of the harness's daemon; the harness fails a
# session that runs on another.
pass=0 fail=0 skip=0 failed=""
for t in "$@"; do
	echo "=== $t"
	start=$(date +%s)
	case $t in
	v1:*) SAFERRING_TRANSPORT=socket "${t#v1:}" ;;
	direct:*) SAFERRING_BACKEND=direct SAFERRING_TRANSPORT=rings "${t#direct:}" ;;
	threads:*) SAFERRING_BACKEND=threads SAFERRING_TRANSPORT=rings "${t#threads:}" ;;
	*) SAFERRING_TRANSPORT=rings "$t" ;;
	esac
	rc=$?
	took=$(( $(date +%s) - start ))
	case $rc in
	0)  pass=$((pass + 1)); echo "--- PASS $t (${took}s)" ;;
	77) skip=$((skip + 1)); echo "--- SKIP $t (${took}s)" ;;
	*)  fail=$((fail + 1)); failed="$failed $t"; echo "--- FAIL $t (exit $rc, ${took}s)" ;;
	esac
done
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
