#!/bin/sh
# SPDX-License-Identifier: MIT
#
# A man page for every function libsaferring exports (the names of
# client/libsaferring.map), as liburing has: each is a page with NAME,
# SYNOPSIS, DESCRIPTION, RETURN VALUE and ERRORS that names the
# function, or a `.so` link to such a page; every page renders without
# a warning.
set -eu
map=client/libsaferring.map
fail=0

# is_link PAGE: the page is one `.so man3/TARGET.3` line.
is_link() { head -n 1 "$1" | grep -q '^\.so man3/'; }

for name in $(sed -n 's/^[[:space:]]*\(sr_[a-z0-9_]*\);.*/\1/p' "$map"); do
	page=man/$name.3
	if [ ! -f "$page" ]; then
		echo "FAIL: no man page for $name ($page)"
		fail=1
		continue
	fi
	if is_link "$page"; then
		target=man/$(sed -n '1s|^\.so man3/||p' "$page")
		if [ ! -f "$target" ] || is_link "$target"; then
			echo "FAIL: $page links to $target, which is not a page"
			fail=1
			continue
		fi
		page=$target
	fi
	# The function is in the page's NAME line and in its synopsis.
	if ! sed -n '/^\.SH NAME/{n;p;}' "$page" | grep -qw "$name"; then
		echo "FAIL: $page does not name $name in NAME"
		fail=1
	fi
	if ! grep -q "\"[^\"]*[ *]$name(" "$page"; then
		echo "FAIL: $page has no synopsis of $name"
		fail=1
	fi
	for sect in SYNOPSIS DESCRIPTION "RETURN VALUE" ERRORS; do
		if ! grep -q "^\.SH $sect\$" "$page"; then
			echo "FAIL: $page has no $sect section"
			fail=1
		fi
	done
done
[ $fail = 0 ] && echo "ok: every exported function has its page, or a link to one"

if ! command -v man >/dev/null 2>&1; then
	echo "(man is not installed: pages not rendered)"
	exit $fail
fi
for page in man/*.[1-8]; do
	is_link "$page" && continue
	out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings=w -l "$page" 2>&1 >/dev/null) || true
	if [ -n "$out" ]; then
		echo "FAIL: $page renders with warnings:"
		echo "$out"
		fail=1
	fi
done
[ $fail = 0 ] && echo "ok: every page renders without a warning"
exit $fail
