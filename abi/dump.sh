#!/bin/sh
# SPDX-License-Identifier: MIT
#
# dump.sh LIBRARY OUT - write the ABI of libsaferring's LIBRARY (built
# with debug info) to OUT, as abidw sees it through include/saferring.h:
# the exported functions and the public types they reach, nothing of
# the library's internals (struct sr_client stays opaque), no paths or
# line numbers, type ids by hash, so that the file changes only when
# the ABI does.  `make abi-baseline` writes abi/libsaferring.so.1.abi
# with it; tests/scripts/test_abi.sh compares a fresh dump against that.
set -eu
exec abidw --no-corpus-path --no-comp-dir-path --no-show-locs \
	--header-file include/saferring.h --drop-private-types \
	--exported-interfaces-only --type-id-style hash \
	--out-file "$2" "$1"
