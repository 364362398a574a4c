#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench-cp.sh - liburing's io_uring-cp built unmodified against
# libsaferring-uring, against saferring-cp, on one file (1 GiB by
# default), through one private saferringd.
#
#   B=build tests/compat/bench-cp.sh [SIZE_MIB [ROUNDS [DIR]]]
#
# Needs make check-compat to have built $B/compat/facade/bin/ex-io_uring-cp.
# The two copies alternate, ROUNDS times each (5), and the best time of
# each is compared: the machine is shared, and the best is the one least
# disturbed.  DIR (default /dev/shm) holds the files; on tmpfs the copy
# is CPU work only, which is what the facade adds to.  Prints the
# figures and the ratio; never fails on speed (a measurement, not a test).
set -u
B=$(cd "${B:-build}" && pwd)
SIZE=${1:-1024}
ROUNDS=${2:-5}
DIR=${3:-/dev/shm}
CP_FACADE=$B/compat/facade/bin/ex-io_uring-cp
CP_SR=$B/bin/saferring-cp
[ -x "$CP_FACADE" ] || { echo "no $CP_FACADE: run make check-compat first" >&2; exit 1; }
tmp=$(mktemp -d "$DIR/saferring-bench.XXXXXX") || exit 1
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
printf '[default]\nops = all\nslots = 1024\nslot_size = 1M\narena = 64M\nfds = 64\nin_flight = 1024\nsessions = 16\n' \
	>"$tmp/conf"
args=(--socket "$tmp/sock" --config "$tmp/conf" --foreground)
[ "$(id -u)" = 0 ] && args+=(--allow-root)
"$B/sbin/saferringd" "${args[@]}" >"$tmp/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$tmp/sock" ] && break; sleep 0.1; done
export SAFERRING_SOCKET=$tmp/sock
head -c $((SIZE * 1024 * 1024)) /dev/urandom >"$tmp/src"

best_f=999999 best_s=999999
for r in $(seq "$ROUNDS"); do
	for which in facade sr; do
		rm -f "$tmp/dst"
		start=$(date +%s.%N)
		if [ $which = facade ]; then
			"$CP_FACADE" "$tmp/src" "$tmp/dst" || exit 1
		else
			"$CP_SR" "$tmp/src" "$tmp/dst" || exit 1
		fi
		t=$(echo "$(date +%s.%N) - $start" | bc)
		cmp -s "$tmp/src" "$tmp/dst" || { echo "$which: copy differs" >&2; exit 1; }
		echo "round $r $which: $t s"
		if [ $which = facade ]; then
			best_f=$(echo "if ($t < $best_f) $t else $best_f" | bc)
		else
			best_s=$(echo "if ($t < $best_s) $t else $best_s" | bc)
		fi
	done
done
echo "io_uring-cp via libsaferring-uring: best $best_f s ($(echo "scale=2; $SIZE / $best_f" | bc) MiB/s)"
echo "saferring-cp:                       best $best_s s ($(echo "scale=2; $SIZE / $best_s" | bc) MiB/s)"
echo "speed ratio (saferring-cp time / io_uring-cp time): $(echo "scale=3; $best_s / $best_f" | bc)"
