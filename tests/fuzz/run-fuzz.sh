#!/bin/sh
# SPDX-License-Identifier: MIT
#
# run-fuzz.sh - runs each libFuzzer harness given for $FUZZ_SECONDS
# (default 60) seconds, one after the other, one worker each, from the
# committed seeds in tests/fuzz/corpus/<harness>/ plus a working corpus
# in $B/corpus/<harness>/ (the committed seeds are never written).
# Prints each harness's execution count and one summary line; exits
# non-zero if any harness crashed, leaked or tripped a sanitizer (the
# input is kept as $B/artifacts/<harness>-crash-*, and the harness binary
# replays it: `$B/fuzz/<harness> FILE`).
#
# Must never hide a failure: libFuzzer's exit status is the verdict.
set -u
B=${B:-build-fuzz}
seconds=${FUZZ_SECONDS:-60}
here=$(dirname "$0")
pass=0 fail=0 failed=""
for bin in "$@"; do
	name=$(basename "$bin")
	work="$B/corpus/$name"
	seeds="$here/corpus/$name"
	mkdir -p "$work" "$B/artifacts" "$B/logs"
	log="$B/logs/$name.log"
	echo "=== $name: ${seconds}s"
	# Committed seeds are part of the run: without them it proves less.
	if [ -z "$(ls -A "$seeds" 2>/dev/null)" ]; then
		fail=$((fail + 1))
		failed="$failed $name"
		echo "--- FAIL $name: no seeds in $seeds (make fuzz-corpus)"
		continue
	fi
	"$bin" -max_total_time="$seconds" -print_final_stats=1 \
		-rss_limit_mb=4096 -timeout=20 -detect_leaks=1 \
		-artifact_prefix="$B/artifacts/$name-" \
		"$work" "$seeds" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	if [ "$rc" -eq 0 ]; then
		pass=$((pass + 1))
		echo "--- PASS $name: ${runs:-?} executions, coverage ${cov:-?}, no crash"
	else
		fail=$((fail + 1))
		failed="$failed $name"
		echo "--- FAIL $name (exit $rc) after ${runs:-?} executions; log $log:"
		# Each harness says what broke as "NAME: ..." (fuzz_batch:,
		# fuzz_rings:, ...), the fake kernel as "fake_ring:".
		grep -E "ERROR|SUMMARY|$name:|fake_ring:|Test unit written" \
			"$log" | head -n 20
	fi
done
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
