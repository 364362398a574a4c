#!/bin/sh
# SPDX-License-Identifier: MIT
#
# What linking libsaferring costs a program: no libseccomp (it is loaded
# only by sr_sandbox_deny_io_uring(), which then says -ELIBACC when there
# is none), no thread-local storage, and a static link that needs
# nothing but the line saferring.pc documents (-lsaferring -lprotobuf-c).
set -eu
B=${B:-build}
so=$B/lib/libsaferring.so.1
a=$B/lib/libsaferring.a
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

if objdump -p "$so" | grep -q 'NEEDED.*libseccomp'; then
	echo "FAIL: $so needs libseccomp"
	fail=1
else
	echo "ok: $so does not need libseccomp"
fi
if grep -v '^#' client/saferring.pc.in | grep -q seccomp; then
	echo "FAIL: saferring.pc still asks for libseccomp"
	fail=1
fi

# A TLS segment in the shared library, or TLS sections in the archive.
if readelf -lW "$so" | grep -q ' TLS '; then
	echo "FAIL: $so has a TLS segment"
	fail=1
elif readelf -SW "$a" | grep -Eq '\.t(bss|data)'; then
	echo "FAIL: $a has thread-local data"
	fail=1
else
	echo "ok: no thread-local storage in either library"
fi

# A sanitizer build's archive (make check-asan) needs its runtime.
san=
if nm "$a" 2>/dev/null | grep -q ' U __asan_'; then
	san="-fsanitize=address,undefined"
fi
cat >"$work/deny.c" <<'C'
#include <errno.h>
#include <stdio.h>
#include <saferring.h>
int main(void)
{
	int r = sr_sandbox_deny_io_uring();

	if (r == -ELIBACC)
		printf("-ELIBACC\n");
	else
		printf("%d\n", r);
	return 0;
}
C
# shellcheck disable=SC2086
cc $san -Iinclude -o "$work/deny" "$work/deny.c" "$a" -lprotobuf-c ||
	{ echo "FAIL: static link with -lsaferring -lprotobuf-c alone"; exit 1; }
if objdump -p "$work/deny" | grep -q 'NEEDED.*libseccomp'; then
	echo "FAIL: a program calling sr_sandbox_deny_io_uring needs libseccomp at link time"
	fail=1
fi
echo "ok: a static link needs only -lprotobuf-c besides the archive"

# libseccomp.so.2 that cannot be loaded (an empty file found first).
mkdir "$work/lib"
: >"$work/lib/libseccomp.so.2"
r=$(LD_LIBRARY_PATH="$work/lib" "$work/deny")
if [ "$r" != -ELIBACC ]; then
	echo "FAIL: without libseccomp sr_sandbox_deny_io_uring returned $r, not -ELIBACC"
	fail=1
else
	echo "ok: without libseccomp, -ELIBACC"
fi
# With it: the filter goes in (this process alone, which then exits).
r=$("$work/deny")
if [ "$r" != 0 ]; then
	echo "FAIL: with libseccomp sr_sandbox_deny_io_uring returned $r"
	fail=1
else
	echo "ok: with libseccomp, loaded at the call, the filter is in"
fi
exit $fail
