#!/bin/sh
# SPDX-License-Identifier: MIT
#
# smoke.sh - make check-fio: libsaferring-fio.so loads into the installed
# fio and completes short jobs through a private saferringd: buffered
# and O_DIRECT reads, writes checked by fio's verify with fsyncs among
# them, fio's buffers both lent from the arena and pointed at slots
# afterwards, and the refusals (trim, no daemon, a policy smaller than
# the job) failing cleanly.
#
# Exit 0 when every job did what it should, 1 otherwise, 77 (skipped)
# when fio is not installed.  Must never leave its daemon or its test
# file behind.
set -u

FIO_ENGINE=${FIO_ENGINE:-build/lib/libsaferring-fio.so}
# shellcheck source=fio/daemon.sh
. "$(dirname "$0")/daemon.sh"

if ! command -v fio >/dev/null 2>&1; then
	echo "check-fio: skipped: fio is not installed (make check-fio installs it)"
	exit 77
fi
command -v jq >/dev/null 2>&1 || { echo "check-fio: jq is missing" >&2; exit 1; }
[ -f "$FIO_ENGINE" ] || { echo "check-fio: no $FIO_ENGINE (make fio-engine)" >&2; exit 1; }
# fio takes a relative external: path from its working directory.
case $FIO_ENGINE in /*) ;; *) FIO_ENGINE=$PWD/$FIO_ENGINE ;; esac

# A real file system, for O_DIRECT.
FILE=$(mktemp /var/tmp/saferring-fio-smoke.XXXXXX)
OUT=$(mktemp -d /tmp/saferring-fio-out.XXXXXX)
cleanup() {
	sr_daemon_stop
	rm -rf "$FILE" "$OUT"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

sr_daemon_start || exit 1
pass=0
fail=0

# job NAME OPTION...: one fio job through the engine, its JSON in
# $OUT/NAME.json and its messages in $OUT/NAME.err.
job() {
	name=$1
	shift
	fio --output-format=json --output="$OUT/$name.json" --name="$name" \
		--ioengine="external:$FIO_ENGINE" --sr_socket="$SR_SOCK" \
		--filename="$FILE" --size=32m --verify_state_save=0 "$@" \
		2> "$OUT/$name.err"
}

ok() {
	echo "check-fio: ok: $1"
	pass=$((pass + 1))
}

bad() {
	echo "check-fio: FAILED: $1" >&2
	[ -s "$OUT/$2.err" ] && sed 's/^/  fio: /' "$OUT/$2.err" >&2
	fail=$((fail + 1))
}

# expect_ok NAME WHAT OPTION...: the job ends without error and moved
# data in the directions WHAT says (read, write or both).
expect_ok() {
	name=$1 what=$2
	shift 2
	if ! job "$name" "$@"; then
		bad "$name: fio failed" "$name"
		return
	fi
	q='.jobs[0] | [.error, .read.io_bytes, .write.io_bytes] | @tsv'
	# shellcheck disable=SC2046  # three numbers, split on purpose
	set -- $(jq -r "$q" "$OUT/$name.json" 2>/dev/null)
	if [ "${1:-x}" != 0 ]; then
		bad "$name: job error ${1:-unknown}" "$name"
	elif { [ "$what" != write ] && [ "${2:-0}" -le 0 ]; } ||
		{ [ "$what" != read ] && [ "${3:-0}" -le 0 ]; }; then
		bad "$name: no data moved (read ${2:-?}, write ${3:-?} bytes)" "$name"
	else
		ok "$name (read $2, write $3 bytes)"
	fi
}

# expect_fail NAME ERRNO|- MESSAGE|- OPTION...: fio reports the job
# failed, with that errno in its JSON (- when it never got that far),
# and says MESSAGE on stderr (- for none: fio prints the errno's text
# only to a terminal).
expect_fail() {
	name=$1 errno=$2 msg=$3
	shift 3
	job "$name" "$@"
	err=$(jq -r '.jobs[0].error' "$OUT/$name.json" 2>/dev/null)
	if [ "$errno" != - ] && [ "$err" != "$errno" ]; then
		bad "$name: expected error $errno, got ${err:-none}" "$name"
	elif [ "$msg" != - ] && ! grep -q "$msg" "$OUT/$name.err"; then
		bad "$name: no \"$msg\" from fio" "$name"
	else
		[ "$errno" = - ] && what=$msg || what="error $err"
		ok "$name fails as it should ($what)"
	fi
}

expect_ok randread read --rw=randread --bs=4k --iodepth=32 --runtime=1 --time_based
expect_ok verify both --rw=randwrite --bs=4k --iodepth=16 --verify=crc32c \
	--do_verify=1 --fsync=8 --number_ios=2000
expect_ok verify-bsrange both --rw=randwrite --bsrange=4k-64k --iodepth=8 \
	--verify=md5 --do_verify=1 --fdatasync=4 --end_fsync=1 --number_ios=1000
# mem_align moves fio's buffers off the slots: post_init points every
# io_u at its slot instead.
expect_ok verify-mem-align both --rw=randwrite --bs=4k --iodepth=16 \
	--mem_align=512 --verify=crc32c --do_verify=1 --number_ios=2000
expect_ok seqread-128k read --rw=read --bs=128k --iodepth=16 --runtime=1 --time_based
expect_ok socket-noinline read --rw=randread --bs=4k --iodepth=8 --runtime=1 \
	--time_based --sr_socket_transport --sr_noinline --sr_spin_us=0
fs=$(stat -f -c %T "$FILE")
if dd if="$FILE" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null &&
	[ "$fs" != tmpfs ]; then
	expect_ok direct read --rw=randread --bs=4k --iodepth=32 --direct=1 \
		--runtime=1 --time_based
	expect_ok direct-write both --rw=randwrite --bs=4k --iodepth=32 \
		--direct=1 --verify=crc32c --do_verify=1 --number_ios=2000
else
	echo "check-fio: skipped O_DIRECT jobs: $FILE ($fs) refuses O_DIRECT"
fi
# 95: EOPNOTSUPP, the daemon has no trim.
expect_fail trim 95 - --rw=randtrim --bs=4k \
	--iodepth=8 --number_ios=16
expect_fail no-daemon - "cannot connect to saferringd" --rw=randread --bs=4k \
	--iodepth=8 --runtime=1 --time_based --sr_socket="$SR_DIR/none"

# A policy smaller than the job: init says what it needs, before any I/O.
sr_daemon_stop
printf '[default]\nops = nop read\nslots = 16\nslot_size = 64K\narena = 16M\nin_flight = 16\n' \
	> "$OUT/small.conf"
sr_daemon_start --config "$OUT/small.conf" || exit 1
expect_fail too-deep - "this job needs iodepth=32 slots" --rw=randread \
	--bs=4k --iodepth=32 --runtime=1 --time_based
expect_fail too-large - "slots of 131072 bytes" --rw=randread --bs=128k \
	--iodepth=8 --runtime=1 --time_based
expect_fail no-write - "does not allow write" --rw=randwrite --bs=4k \
	--iodepth=8 --number_ios=16
expect_ok small-policy read --rw=randread --bs=4k --iodepth=16 --runtime=1 \
	--time_based

echo "check-fio: $pass passed, $fail failed"
[ "$fail" = 0 ]
