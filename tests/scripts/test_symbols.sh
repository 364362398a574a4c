#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The symbol map (client/libsaferring.map) is the one list of what
# libsaferring exports: it names every function saferring.h declares, by
# name (no wildcard); the shared library's dynamic symbols and the static
# library's global symbols are exactly those names; and a program that
# defines names the library uses inside (wire_send, srl_fail, op_info,
# saferring__*) links against libsaferring.a without a clash.
set -eu
B=${B:-build}
map=client/libsaferring.map
so=$B/lib/libsaferring.so.1
a=$B/lib/libsaferring.a
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

# A glob in a global: line (sr_*, sr_prep_?...) would export helpers by
# accident; only `local: *;` may have one.
if grep -nE '^[[:space:]]+[A-Za-z_][A-Za-z0-9_]*[*?[]' "$map"; then
	echo "FAIL: $map has a wildcard: list every symbol by name"
	fail=1
fi
sed -n 's/^[[:space:]]*\(sr_[a-z0-9_]*\);.*/\1/p' "$map" | sort >"$work/map"
# The header's static inline helpers (sr_slot_index, sr_slot_view, ...)
# are not exported; of a declaration the name is the one before "(" (the
# return type may be sr_slot_t or sr_handle_t).
grep -vE '^static inline' include/saferring.h |
	grep -oE '^[a-z][a-z0-9_ ]*[ *]sr_[a-z0-9_]+\(' |
	grep -oE 'sr_[a-z0-9_]+\($' | tr -d '(' | sort >"$work/header"
if ! diff -u "$work/header" "$work/map" >"$work/diff"; then
	echo "FAIL: saferring.h (-) and $map (+) differ:"
	cat "$work/diff"
	fail=1
fi
echo "map: $(wc -l <"$work/map") symbols"

# compare WHAT FILE: FILE's defined global symbols, one a line, against
# the map: none more, none fewer.
compare() {
	if ! diff -u "$work/map" "$2" >"$work/diff"; then
		echo "FAIL: $1 exports other names than $map (+ extra, - missing):"
		cat "$work/diff"
		fail=1
	else
		echo "ok: $1 exports the $(wc -l <"$2") names of the map, nothing else"
	fi
}

# Dynamic symbols, without the version node's own (SAFERRING_1, "A").
nm -D --defined-only "$so" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' |
	sort -u >"$work/so"
compare "$so" "$work/so"
nm -g --defined-only "$a" | awk 'NF == 3 { print $3 }' | sort -u >"$work/a"
compare "$a" "$work/a"

# Names the library uses inside, defined again by a program.
san=
if nm "$a" 2>/dev/null | grep -q ' U __asan_'; then
	san="-fsanitize=address,undefined"
fi
cat >"$work/clash.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <saferring.h>
int wire_send(int sock, const void *buf, size_t len, int fd);
int wire_send(int sock, const void *buf, size_t len, int fd) { return -1; }
int srl_fail(void);
int srl_fail(void) { return -1; }
int op_info;
int spin_now_us;
const char saferring__request__descriptor[] = "mine";
int main(void)
{
	struct sr_client *c;

	/* Through the library's own wire code, not this file's. */
	int r = sr_connect("/nonexistent/saferring.sock", NULL, &c);
	printf("%d %s\n", r, sr_strstatus(SR_STATUS_QUOTA));
	return r == -2 ? 0 : 1;
}
C
# shellcheck disable=SC2086
if cc $san -Iinclude -o "$work/clash" "$work/clash.c" "$a" -lprotobuf-c \
	2>"$work/cc.log" && "$work/clash" >"$work/out"; then
	echo "ok: a program with its own wire_send, srl_fail, op_info, saferring__* links and runs"
else
	cat "$work/cc.log" "$work/out" 2>/dev/null
	echo "FAIL: libsaferring.a clashes with a program's own names"
	fail=1
fi
exit $fail
