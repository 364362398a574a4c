#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Misuse of the typed API (sr_slot_t, sr_handle_t, sr_slot_view) must not
# compile: each tests/compile-fail/bad_*.c is compiled with -std=c11
# -Wall -Wextra -Werror and must fail with a diagnostic matching its
# "expect:" line (so a program that fails for a typo does not count);
# each good_*.c must compile, and link against libsaferring when it was
# built.  tests/compile-fail/README lists what is covered and what C
# cannot catch.
set -u
B=${B:-build}
CC=${CC:-cc}
dir=tests/compile-fail
flags="-std=c11 -Wall -Wextra -Werror -Iinclude"

if ! command -v "$CC" >/dev/null 2>&1; then
	echo "SKIP: no C compiler ($CC)"
	exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Plain ASCII quotes in the diagnostics, whatever the caller's locale.
LC_ALL=C
export LC_ALL
fail=0 n=0

for src in "$dir"/bad_*.c; do
	n=$((n + 1))
	want=$(sed -n 's/^.*expect: \(.*\)$/\1/p' "$src" | sed 's/ *\*\/ *$//' | head -n 1)
	if [ -z "$want" ]; then
		echo "FAIL: $src has no expect: line"
		fail=1
		continue
	fi
	if $CC $flags -c "$src" -o "$work/bad.o" >"$work/out" 2>&1; then
		echo "FAIL: $src compiled; it must not"
		fail=1
	elif ! grep -E -q -- "error: .*($want)" "$work/out"; then
		echo "FAIL: $src failed, but not for the reason meant ($want):"
		sed 's/^/    /' "$work/out"
		fail=1
	else
		echo "ok: $src refused: $(grep -E -m1 -- "error: .*($want)" "$work/out" | sed 's/^[^:]*:[0-9:]* //')"
	fi
	# The control: with the int API the same program builds, so the
	# types are what refused it.
	if grep -q 'control: builds with SR_UNTYPED_API' "$src" &&
	   ! $CC $flags -DSR_UNTYPED_API -c "$src" -o "$work/bad.o" >"$work/out" 2>&1; then
		echo "FAIL: $src does not build with SR_UNTYPED_API either:"
		sed 's/^/    /' "$work/out"
		fail=1
	fi
done

so=$B/lib/libsaferring.so
for src in "$dir"/good_*.c; do
	n=$((n + 1))
	if [ -e "$so" ]; then
		out=$work/good
		set -- "$src" -L"$B/lib" -lsaferring -o "$out"
	else
		set -- -c "$src" -o "$work/good.o"
	fi
	if ! $CC $flags "$@" >"$work/out" 2>&1; then
		echo "FAIL: $src does not build:"
		sed 's/^/    /' "$work/out"
		fail=1
	else
		echo "ok: $src builds"
	fi
done
[ $fail -eq 0 ] && echo "ok: $n programs as expected"
exit $fail
