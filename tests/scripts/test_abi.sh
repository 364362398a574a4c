#!/bin/sh
# SPDX-License-Identifier: MIT
#
# libsaferring.so.1's ABI against the committed baseline
# (abi/libsaferring.so.1.abi): a function removed or moved to another
# symbol version, a public struct that changed size or layout, a changed
# parameter or return type fails here.  Functions added since the
# baseline pass (that is compatible) and are named.
#
# A deliberate change: `make abi-baseline` and commit the new baseline
# with the change (and a new soname if it breaks callers).
set -u
B=${B:-build}
so=$B/lib/libsaferring.so.1
base=abi/libsaferring.so.1.abi

for tool in abidw abidiff; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "SKIP: $tool not installed (Debian: abigail-tools; make deps installs it)"
		exit 77
	fi
done
# Without DWARF abidw sees symbols only, and every type would look gone.
if ! readelf -SW "$so" | grep -q '\.debug_info'; then
	echo "SKIP: $so has no debug info (built without -g): nothing to compare types with"
	exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! abi/dump.sh "$so" "$work/now.abi" 2>"$work/abidw.err"; then
	cat "$work/abidw.err"
	echo "FAIL: abidw could not read $so"
	exit 1
fi
# The baseline describes one architecture (sizes of pointers, size_t).
arch() { sed -n "1s/.* architecture='\([^']*\)'.*/\1/p" "$1"; }
if [ "$(arch "$base")" != "$(arch "$work/now.abi")" ]; then
	echo "SKIP: the baseline is for $(arch "$base"), this library for $(arch "$work/now.abi")"
	exit 77
fi

# Exit status bits: 1 error, 2 usage, 4 ABI change, 8 incompatible
# change (removed symbols only: a changed struct is "4" alone, so any
# change but an addition fails).
abidiff --no-added-syms "$base" "$work/now.abi" >"$work/diff" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
	cat "$work/diff"
	if [ $((rc & 3)) -ne 0 ]; then
		echo "FAIL: abidiff could not compare (exit $rc)"
	else
		echo "FAIL: the ABI of $so differs from $base (exit $rc)."
		echo "      If that is meant: make abi-baseline, and commit it with the change."
	fi
	exit 1
fi
abidiff "$base" "$work/now.abi" >"$work/added" 2>&1
if [ $? -ne 0 ]; then
	sed -n "s/^  \[A\] /added since the baseline: /p" "$work/added"
fi
echo "ok: $so has the ABI of $base"
