#!/bin/sh
# SPDX-License-Identifier: MIT
#
# test_fuzz_replay.sh - part of make check: every libFuzzer harness
# (fuzz_request, fuzz_session, fuzz_batch, fuzz_rings) run over its
# committed corpus in tests/fuzz/corpus/<harness>/, built without
# libFuzzer by the ordinary compiler with the build's flags
# ($B/replay/<harness>, tests/fuzz/replay_main.c): make check replays
# them with gcc, make check-asan under ASan and UBSan.  make fuzz still
# explores; this keeps every committed input passing between its runs.
#
# Fails when a harness is not built, its corpus is missing or empty, or
# any input trips a harness's checks; prints how many inputs each
# replayed.  Must never pass having replayed nothing.
set -u
B=${B:-build}
corpus=$(dirname "$0")/../fuzz/corpus
pass=0 fail=0 inputs=0
for name in fuzz_request fuzz_session fuzz_batch fuzz_rings; do
	bin=$B/replay/$name
	dir=$corpus/$name
	if [ ! -x "$bin" ]; then
		echo "FAIL: $bin is not built"
		fail=$((fail + 1))
		continue
	fi
	n=$(find "$dir" -maxdepth 1 -type f 2>/dev/null | wc -l)
	if [ "$n" -eq 0 ]; then
		echo "FAIL: $dir is missing or empty (make fuzz-corpus writes it)"
		fail=$((fail + 1))
		continue
	fi
	if out=$("$bin" "$dir" 2>&1); then
		# What the harness itself says it ran, not what find saw.
		got=$(printf '%s\n' "$out" |
		      sed -n 's/.*: \([0-9]*\) inputs replayed$/\1/p' | tail -n 1)
		if [ "${got:-0}" -ne "$n" ]; then
			echo "FAIL: $name replayed ${got:-no} inputs of $n"
			fail=$((fail + 1))
			continue
		fi
		echo "ok: $name: $got inputs replayed"
		pass=$((pass + 1))
		inputs=$((inputs + got))
	else
		echo "FAIL: $name on its corpus:"
		printf '%s\n' "$out" | tail -n 20
		fail=$((fail + 1))
	fi
done
echo "fuzz replay: $inputs inputs of $pass harnesses replayed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -eq 4 ]
