#!/bin/sh
# SPDX-License-Identifier: MIT
#
# test_activation.sh - end-to-end: saferringd as systemd runs it.
#
#  - Socket activation: under `systemd-socket-activate --seqpacket` the
#    daemon is started by the first connection, serves on the socket it
#    was passed ("listening on (socket activation)"), and saferring-cp
#    copies a file byte-identical through it; two more copies at once
#    afterwards work too.
#  - Readiness: with NOTIFY_SOCKET pointing at a datagram socket this test
#    owns, READY=1 arrives from the daemon's pid once it serves (not
#    before it was activated), and STOPPING=1 after SIGTERM, after which
#    it exits 0.  The same without activation (the daemon binds its own
#    socket and, under NOTIFY_SOCKET, does not detach).
#  - A passed socket of the wrong type (SOCK_STREAM) is refused: exit 1
#    with a message, no serving.
#
# Exit 77 when systemd-socket-activate is missing or the daemon cannot
# create rings here; the readiness checks are skipped (and said so)
# without python3.
set -eu

B=${B:-build}
DAEMON=${SAFERRINGD:-$B/sbin/saferringd}
CP=$B/bin/saferring-cp

tmp=
pids=
fail() {
	echo "FAIL: $*" >&2
	if [ -n "$tmp" ]; then
		for l in "$tmp"/*.log "$tmp"/*.out; do
			[ -f "$l" ] || continue
			echo "---- $l (last 15 lines) ----" >&2
			tail -n 15 "$l" >&2
		done
	fi
	exit 1
}

if ! command -v systemd-socket-activate >/dev/null 2>&1; then
	echo "SKIP: systemd-socket-activate not installed (Debian: package systemd)"
	exit 77
fi
for f in "$DAEMON" "$CP"; do
	[ -x "$f" ] || fail "$f is missing (build it first: make all)"
done
have_py=0
command -v python3 >/dev/null 2>&1 && have_py=1

tmp=$(mktemp -d /tmp/saferring-activation-test.XXXXXX) || fail "mktemp"
# Started as root, the daemon drops to its own user, which must still
# reach its notify socket and policy file here (as under systemd).
chmod 0711 "$tmp"
cleanup() {
	for p in $pids; do
		kill -TERM "$p" 2>/dev/null || :
	done
	i=0
	for p in $pids; do
		while kill -0 "$p" 2>/dev/null && [ $i -lt 30 ]; do
			sleep 0.1; i=$((i + 1))
		done
		kill -KILL "$p" 2>/dev/null || :
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# The built-in policy, spelled out: no /etc/saferring file affects the test.
cat >"$tmp/saferringd.conf" <<EOF
[default]
ops = all
slots = 1024
slot_size = 1M
arena = 256M
fds = 64
in_flight = 256
sessions = 64
max_errors = 64
EOF

# Environment systemd-socket-activate passes on (it passes little).
san_env=
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
	eval "val=\${$v:-}"
	[ -z "$val" ] || san_env="$san_env -E $v=$val"
done

now_ms() { date +%s%3N; }

# wait_grep PATTERN FILE TENTHS: until FILE has a line matching PATTERN.
wait_grep() {
	i=0
	while ! grep -q -- "$1" "$2" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le "$3" ] || return 1
		sleep 0.1
	done
}

# wait_gone PID TENTHS: until PID has exited (polled every 10 ms).
wait_gone() {
	i=0
	while kill -0 "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le $(($2 * 10)) ] || return 1
		sleep 0.01
	done
}

# The daemon could not create a ring: skip, as the other tests do.
skip_if_no_uring() {
	if grep -q "cannot create an io_uring" "$1" 2>/dev/null; then
		echo "SKIP: saferringd cannot run here: $(grep -m1 'cannot create an io_uring' "$1")"
		exit 77
	fi
}

# notify_listen NAME: a datagram socket $tmp/NAME.sock that writes each
# message, with the sender's pid (SCM_CREDENTIALS), as one line of
# $tmp/NAME.out.  Ends after STOPPING=1 or 60 s.  Sets $npid.
notify_listen() {
	python3 - "$tmp/$1.sock" "$tmp/$1.out" <<'EOF' &
import os, socket, struct, sys
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(path)
os.chmod(path, 0o777)  # as /run/systemd/notify: the daemon is not root
s.settimeout(60)
with open(out, "w") as f:
    while True:
        try:
            msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            break
        pid = 0
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", data[:12])[0]
        lines = msg.decode(errors="replace").split("\n")
        f.write("pid=%d %s\n" % (pid, " ".join(lines)))
        f.flush()
        if "STOPPING=1" in lines:
            break
EOF
	npid=$!
	pids="$pids $npid"
	i=0
	while ! [ -S "$tmp/$1.sock" ]; do
		i=$((i + 1))
		[ $i -le 50 ] || fail "notify listener $1 did not start"
		sleep 0.1
	done
}

# check_notify NAME PID: READY=1 from PID arrived (bounded).
check_ready() {
	wait_grep "READY=1" "$tmp/$1.out" 50 ||
		fail "$1: no READY=1 within 5 s (got: $(cat "$tmp/$1.out"))"
	grep -q "^pid=$2 .*READY=1" "$tmp/$1.out" ||
		fail "$1: READY=1 not sent by the daemon's pid $2: $(grep READY=1 "$tmp/$1.out")"
}

# check_stopping NAME PID: STOPPING=1 from PID, after READY=1.
check_stopping() {
	wait_grep "STOPPING=1" "$tmp/$1.out" 50 ||
		fail "$1: no STOPPING=1 within 5 s of SIGTERM (got: $(cat "$tmp/$1.out"))"
	grep -q "^pid=$2 .*STOPPING=1" "$tmp/$1.out" ||
		fail "$1: STOPPING=1 not sent by the daemon's pid $2"
	ready=$(grep -n "READY=1" "$tmp/$1.out" | head -n1 | cut -d: -f1)
	stopping=$(grep -n "STOPPING=1" "$tmp/$1.out" | head -n1 | cut -d: -f1)
	[ "$ready" -lt "$stopping" ] || fail "$1: STOPPING=1 came before READY=1"
}

# stop PID LOG: SIGTERM, exit 0 within 5 s; prints the time taken.
stop() {
	t0=$(now_ms)
	kill -TERM "$1"
	wait_gone "$1" 50 || fail "saferringd did not exit within 5 s of SIGTERM"
	rc=0
	wait "$1" || rc=$?
	took=$(( $(now_ms) - t0 ))
	[ $rc -eq 0 ] || fail "saferringd exited $rc on SIGTERM (expected 0)"
	grep -q "stopped" "$2" || fail "no 'stopped' line in $2"
}

head -c 8000001 /dev/urandom >"$tmp/src" || fail "cannot create the source"

# --- socket activation, with readiness -----------------------------------
notify_env=
if [ $have_py = 1 ]; then
	notify_listen act
	notify_env="-E NOTIFY_SOCKET=$tmp/act.sock"
fi
# shellcheck disable=SC2086 # word splitting of the -E options is wanted
systemd-socket-activate --seqpacket -l "$tmp/sock" $notify_env $san_env \
	"$DAEMON" --foreground --config "$tmp/saferringd.conf" \
	>"$tmp/activate.log" 2>&1 &
apid=$!
pids="$pids $apid"
wait_grep "Listening on" "$tmp/activate.log" 100 ||
	fail "systemd-socket-activate did not listen within 10 s"
[ -S "$tmp/sock" ] || fail "$tmp/sock is not a socket"
# Nothing runs until a client comes.
sleep 0.2
if grep -q "policy from" "$tmp/activate.log"; then
	fail "saferringd started before any connection"
fi
if [ $have_py = 1 ] && [ -s "$tmp/act.out" ]; then
	fail "a notification before activation: $(cat "$tmp/act.out")"
fi

t0=$(now_ms)
rc=0
timeout 20 "$CP" --socket "$tmp/sock" "$tmp/src" "$tmp/dst" 2>"$tmp/cp.out" || rc=$?
took=$(( $(now_ms) - t0 ))
if [ $rc -ne 0 ]; then
	skip_if_no_uring "$tmp/activate.log"
	if [ $rc -eq 124 ]; then
		# Say where it is stuck: a blocking passed socket makes accept4
		# wait with the event loop (and SIGTERM) behind it.
		why=
		if [ -r "/proc/$apid/fdinfo/3" ]; then
			fl=$(awk '/^flags:/ { print $2 }' "/proc/$apid/fdinfo/3")
			[ $(( 0$fl & 04000 )) -ne 0 ] ||
				why="; the passed listening socket (fd 3) is still blocking (flags $fl), daemon waits in $(cat "/proc/$apid/wchan" 2>/dev/null)"
		fi
		fail "saferring-cp through the activated daemon hung (20 s)$why"
	fi
	fail "saferring-cp through the activated daemon exited $rc: $(cat "$tmp/cp.out")"
fi
cmp "$tmp/src" "$tmp/dst" || fail "the copy differs from the source"
grep -q "listening on (socket activation)" "$tmp/activate.log" ||
	fail "the daemon does not say it uses the passed socket"
kill -0 "$apid" 2>/dev/null || fail "the activated daemon is gone after the copy"
[ "$(cat "/proc/$apid/comm")" = saferringd ] ||
	fail "pid $apid is $(cat "/proc/$apid/comm"), not saferringd"
echo "ok: activated by the first connection; 8000001 bytes copied byte-identical in $took ms (start-up included)"

# More clients on the same passed socket, two at once.
rc1=0 rc2=0
timeout 30 "$CP" --socket "$tmp/sock" "$tmp/src" "$tmp/dst1" 2>"$tmp/cp1.out" & c1=$!
timeout 30 "$CP" --socket "$tmp/sock" "$tmp/src" "$tmp/dst2" 2>"$tmp/cp2.out" & c2=$!
wait $c1 || rc1=$?
wait $c2 || rc2=$?
[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] ||
	fail "concurrent copies exited $rc1 and $rc2: $(cat "$tmp/cp1.out" "$tmp/cp2.out")"
cmp "$tmp/src" "$tmp/dst1" && cmp "$tmp/src" "$tmp/dst2" ||
	fail "a concurrent copy differs"
echo "ok: two concurrent copies through the activated daemon are identical"

if [ $have_py = 1 ]; then
	check_ready act "$apid"
	echo "ok: READY=1 from pid $apid: $(grep -m1 READY=1 "$tmp/act.out")"
fi
stop "$apid" "$tmp/activate.log"
echo "ok: activated daemon exited 0 $took ms after SIGTERM"
if [ $have_py = 1 ]; then
	check_stopping act "$apid"
	echo "ok: STOPPING=1 after SIGTERM"
fi

# --- a stream socket is not for us -----------------------------------------
if [ $have_py = 1 ]; then
	# shellcheck disable=SC2086
	systemd-socket-activate -l "$tmp/stream" $san_env \
		"$DAEMON" --foreground --config "$tmp/saferringd.conf" \
		>"$tmp/stream.log" 2>&1 &
	spid=$!
	pids="$pids $spid"
	wait_grep "Listening on" "$tmp/stream.log" 100 ||
		fail "systemd-socket-activate (stream) did not listen within 10 s"
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
try:
    s.recv(1)
except OSError:
    pass
' "$tmp/stream" || fail "cannot connect to the stream socket"
	wait_gone "$spid" 50 || fail "saferringd on a stream socket still runs after 5 s"
	rc=0
	wait "$spid" || rc=$?
	skip_if_no_uring "$tmp/stream.log"
	[ $rc -eq 1 ] || fail "saferringd on a stream socket exited $rc, expected 1"
	grep -q "not a listening SOCK_SEQPACKET" "$tmp/stream.log" ||
		fail "no message about the wrong socket type"
	echo "ok: a SOCK_STREAM socket is refused: $(grep -m1 'SOCK_SEQPACKET' "$tmp/stream.log" | sed 's/^<[0-9]>//')"
else
	echo "SKIP (this check only): python3 not installed; wrong socket type not checked"
fi

# --- readiness without activation ------------------------------------------
if [ $have_py = 1 ]; then
	notify_listen own
	# No --foreground: under NOTIFY_SOCKET it must not detach either.
	NOTIFY_SOCKET=$tmp/own.sock "$DAEMON" --socket "$tmp/own" \
		--config "$tmp/saferringd.conf" >"$tmp/own.log" 2>&1 &
	opid=$!
	pids="$pids $opid"
	wait_grep "READY=1" "$tmp/own.out" 100 || {
		kill -0 "$opid" 2>/dev/null || { wait "$opid" || :; skip_if_no_uring "$tmp/own.log"; }
		fail "no READY=1 within 10 s from a daemon binding its own socket"
	}
	check_ready own "$opid"
	[ -S "$tmp/own" ] || fail "READY=1 came but $tmp/own does not exist"
	timeout 30 "$CP" --socket "$tmp/own" "$tmp/src" "$tmp/dst3" ||
		fail "copy through the self-bound daemon failed"
	cmp "$tmp/src" "$tmp/dst3" || fail "copy through the self-bound daemon differs"
	stop "$opid" "$tmp/own.log"
	check_stopping own "$opid"
	echo "ok: without activation: READY=1 and STOPPING=1 from pid $opid (not detached), exit 0 $took ms after SIGTERM"
else
	echo "SKIP (this check only): python3 not installed; NOTIFY_SOCKET not checked"
fi
exit 0
