#!/bin/sh
# SPDX-License-Identifier: MIT
#
# test_daemon_config.sh - end-to-end: saferringd's start-up options for
# policy and confinement.
#
#  - an explicit --config that does not exist, a malformed file (naming
#    file:line and the reason), a world-writable file: refused at start-up;
#  - --check-config prints what each section resolves to;
#  - without --config and without the default file: the built-in policy;
#  - the seccomp filter is on by default (Seccomp: 2), off with
#    --no-seccomp (Seccomp: 0, with a warning);
#  - confined, the daemon also works detached (syslog) and under
#    NOTIFY_SOCKET (sd_notify READY=1 and STOPPING=1 sent through the
#    filter);
#  - out of descriptors it neither spins on accept nor dies, and serves
#    again once descriptors come free.
#
# Exit 77 (skip) only when the daemon cannot create rings here.
set -u

B=${B:-build}
DAEMON=${SAFERRINGD:-$B/sbin/saferringd}
CP=$B/bin/saferring-cp
DEFAULT_CONF=/etc/saferring/saferringd.conf

tmp=
pids=
fail() {
	echo "FAIL: $*" >&2
	for l in "$tmp"/*.log; do
		[ -f "$l" ] || continue
		echo "---- $l (last 15 lines) ----" >&2
		tail -n 15 "$l" >&2
	done
	exit 1
}

for f in "$DAEMON" "$CP"; do
	[ -x "$f" ] || fail "$f is missing (build it first: make all)"
done

tmp=$(mktemp -d /tmp/saferring-config-test.XXXXXX) || fail "mktemp"
# Started as root, the daemon drops to its own user, which must still
# reach its notify socket and policy file here (as under systemd).
chmod 0711 "$tmp"
cleanup() {
	for p in $pids; do
		kill -TERM "$p" 2>/dev/null
	done
	sleep 0.2
	for p in $pids; do
		kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# Wait until $1 (a socket) accepts, or the daemon $2 has exited.
wait_ready() {
	i=0
	while ! [ -S "$1" ]; do
		if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then
			return 1
		fi
		i=$((i + 1))
		[ $i -le 100 ] || return 1
		sleep 0.1
	done
	return 0
}

seccomp_of() {
	awk '/^Seccomp:/ { print $2 }' "/proc/$1/status"
}

# The socket exists before the daemon has started its threads and put
# on its filter: give it up to 10 s to reach mode $2.
seccomp_settles() {
	i=0
	while [ "$(seccomp_of "$1")" != "$2" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ "$(seccomp_of "$1")" = "$2" ]
}

stop() {
	kill -TERM "$1" 2>/dev/null
	i=0
	while kill -0 "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le 50 ] || fail "saferringd $1 did not stop on SIGTERM"
		sleep 0.1
	done
}

# --- start-up refusals ----------------------------------------------------
out=$("$DAEMON" --foreground --socket "$tmp/s0" --config "$tmp/missing.conf" 2>&1)
rc=$?
[ $rc -eq 1 ] || fail "missing --config: exit $rc, expected 1"
echo "$out" | grep -q "$tmp/missing.conf: No such file" ||
	fail "missing --config: message does not name the file: $out"
[ ! -e "$tmp/s0" ] || fail "missing --config: socket was created"
echo "ok: missing --config -> exit 1: $out"

cat >"$tmp/bad.conf" <<EOF
[default]
fds = 8
bogus = 1
EOF
out=$("$DAEMON" --foreground --socket "$tmp/s0" --config "$tmp/bad.conf" 2>&1)
rc=$?
[ $rc -eq 1 ] || fail "malformed config: exit $rc, expected 1"
echo "$out" | grep -q "$tmp/bad.conf:3: unknown key 'bogus'" ||
	fail "malformed config: message lacks file:line and reason: $out"
echo "ok: malformed config -> exit 1: $out"

printf '[default]\nops = read teleport\n' >"$tmp/badop.conf"
out=$("$DAEMON" --check-config --config "$tmp/badop.conf" 2>&1)
[ $? -eq 1 ] || fail "unknown op: --check-config did not fail"
echo "$out" | grep -q "badop.conf:2: ops: unknown operation 'teleport'" ||
	fail "unknown op: message: $out"
echo "ok: unknown operation -> $out"

printf '[default]\n' >"$tmp/open.conf"
chmod 0666 "$tmp/open.conf"
out=$("$DAEMON" --check-config --config "$tmp/open.conf" 2>&1)
[ $? -eq 1 ] || fail "world-writable config accepted"
echo "$out" | grep -q "writable by anyone" || fail "world-writable: message: $out"
echo "ok: world-writable config refused"

# --- --check-config -------------------------------------------------------
cat >"$tmp/good.conf" <<EOF
[default]
ops = nop read write fsync
fds = 16
[uid 1000]
ops = read
slot_size = 64K
EOF
out=$("$DAEMON" --check-config --config "$tmp/good.conf" 2>&1) ||
	fail "--check-config of a good file failed: $out"
echo "$out" | grep -q "^default: ops=nop read write fsync .*fds=16 " ||
	fail "--check-config: default line: $out"
echo "$out" | grep -q "^uid 1000 (line 4): ops=read slots=[0-9]* slot_size=65536 .*fds=16 " ||
	fail "--check-config: uid line (inherits fds): $out"
echo "ok: --check-config resolves sections"

if [ -e "$DEFAULT_CONF" ]; then
	echo "SKIP (this check only): $DEFAULT_CONF exists; built-in fallback not checked"
else
	out=$("$DAEMON" --check-config 2>&1) || fail "no default file: $out"
	echo "$out" | grep -q "does not exist; using the built-in policy" ||
		fail "no default file: no word of the built-in policy: $out"
	echo "$out" | grep -q "^(built-in)" || fail "no default file: $out"
	echo "ok: no $DEFAULT_CONF -> built-in policy"
fi

# --- seccomp on by default, off on request --------------------------------
"$DAEMON" --foreground --socket "$tmp/s1" --config "$tmp/good.conf" >"$tmp/d1.log" 2>&1 &
p1=$!
pids="$pids $p1"
if ! wait_ready "$tmp/s1" "$p1"; then
	if grep -q "cannot create an io_uring" "$tmp/d1.log"; then
		echo "SKIP: saferringd cannot run here: $(grep -m1 'cannot create an io_uring' "$tmp/d1.log")"
		exit 77
	fi
	fail "saferringd did not start"
fi
seccomp_settles $p1 2 || fail "default: Seccomp is $(seccomp_of $p1), expected 2"
grep -q "confined: seccomp allows [0-9]* system calls" "$tmp/d1.log" ||
	fail "default: the log does not say the daemon is confined"
head -c 300000 /dev/urandom >"$tmp/src"
timeout 30 "$CP" --socket "$tmp/s1" "$tmp/src" "$tmp/dst1" || fail "copy through the confined daemon"
cmp -s "$tmp/src" "$tmp/dst1" || fail "copy differs"
stop $p1
wait $p1 || fail "confined daemon exited $? on SIGTERM"
echo "ok: seccomp on by default ($(grep -o 'seccomp allows [0-9]* system calls' "$tmp/d1.log")), clean stop"

"$DAEMON" --foreground --no-seccomp --socket "$tmp/s2" --config "$tmp/good.conf" >"$tmp/d2.log" 2>&1 &
p2=$!
pids="$pids $p2"
wait_ready "$tmp/s2" "$p2" || fail "--no-seccomp daemon did not start"
[ "$(seccomp_of $p2)" = 0 ] || fail "--no-seccomp: Seccomp is $(seccomp_of $p2)"
grep -q "without the seccomp filter" "$tmp/d2.log" || fail "--no-seccomp: no warning"
stop $p2
wait $p2 || fail "--no-seccomp daemon exited $?"
echo "ok: --no-seccomp -> Seccomp 0, with a warning"

# --- detached: syslog, under the filter -----------------------------------
"$DAEMON" --socket "$tmp/s3" --config "$tmp/good.conf" >"$tmp/d3.log" 2>&1 ||
	fail "detaching daemon exited $?"
wait_ready "$tmp/s3" || fail "detached daemon did not create its socket"
p3=
for d in /proc/[0-9]*; do
	if tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -q -- "--socket $tmp/s3 "; then
		p3=${d#/proc/}
	fi
done
[ -n "$p3" ] || fail "cannot find the detached daemon"
pids="$pids $p3"
seccomp_settles "$p3" 2 || fail "detached: Seccomp is $(seccomp_of $p3)"
timeout 30 "$CP" --socket "$tmp/s3" "$tmp/src" "$tmp/dst3" || fail "copy through the detached daemon"
cmp -s "$tmp/src" "$tmp/dst3" || fail "detached: copy differs"
kill -0 "$p3" 2>/dev/null || fail "detached daemon died while serving"
stop "$p3"
echo "ok: detached daemon (logging to syslog) serves confined and stops"

# --- NOTIFY_SOCKET: sd_notify through the filter --------------------------
if command -v python3 >/dev/null 2>&1; then
	python3 - "$tmp/notify" >"$tmp/notify.out" 2>&1 <<'EOF' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)  # as /run/systemd/notify
s.settimeout(20)
got = []
try:
    while not any(m.startswith("STOPPING=1") for m in got):
        got.append(s.recv(4096).decode())
except socket.timeout:
    pass
for m in got:
    print(m.replace("\n", " "))
EOF
	py=$!
	i=0
	while ! [ -S "$tmp/notify" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	NOTIFY_SOCKET=$tmp/notify "$DAEMON" --socket "$tmp/s4" --config "$tmp/good.conf" >"$tmp/d4.log" 2>&1 &
	p4=$!
	pids="$pids $p4"
	wait_ready "$tmp/s4" "$p4" || fail "daemon under NOTIFY_SOCKET did not start"
	seccomp_settles $p4 2 || fail "NOTIFY_SOCKET: Seccomp is $(seccomp_of $p4)"
	timeout 30 "$CP" --socket "$tmp/s4" "$tmp/src" "$tmp/dst4" || fail "copy under NOTIFY_SOCKET"
	stop $p4
	wait $p4 || fail "daemon under NOTIFY_SOCKET exited $? (killed by the filter?)"
	wait $py
	grep -q "READY=1" "$tmp/notify.out" || fail "no READY=1: $(cat "$tmp/notify.out")"
	grep -q "STOPPING=1" "$tmp/notify.out" || fail "no STOPPING=1: $(cat "$tmp/notify.out")"
	echo "ok: sd_notify READY=1 and STOPPING=1 sent from the confined daemon"
else
	echo "SKIP (this check only): python3 not installed; NOTIFY_SOCKET not checked"
fi

# --- out of descriptors: no busy loop, recovery -----------------------------
if command -v python3 >/dev/null 2>&1 && command -v prlimit >/dev/null 2>&1; then
	# A session's fixed-file table (2 * fds entries) must fit the limit.
	# One worker: each holds descriptors of its own (epoll, eventfds).
	printf '[default]\nfds = 4\n' >"$tmp/fds4.conf"
	"$DAEMON" --foreground --workers 1 --socket "$tmp/s5" --config "$tmp/fds4.conf" >"$tmp/d5.log" 2>&1 &
	p5=$!
	pids="$pids $p5"
	wait_ready "$tmp/s5" "$p5" || fail "daemon for the descriptor check did not start"
	# Started as root, the daemon runs as saferringd: only that user (or
	# CAP_SYS_RESOURCE) may change its limits.
	asdaemon=
	duid=$(awk '/^Uid:/ { print $2 }' "/proc/$p5/status")
	[ "$duid" = "$(id -u)" ] || asdaemon="setpriv --reuid $duid --regid $(awk '/^Gid:/ { print $2 }' "/proc/$p5/status") --clear-groups"
	# Room for one session (7 descriptors while it is set up) besides
	# what the daemon holds idle, not for 40 connections.
	nofile=$(( $(ls "/proc/$p5/fd" | awk '$1 < 1024' | wc -l) + 7 ))
	$asdaemon prlimit --pid "$p5" --nofile=$nofile:$nofile || fail "prlimit"
	ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
	python3 -c '
import socket, sys, time
held = []
for i in range(40):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(sys.argv[1])
    held.append(s)
time.sleep(2)
' "$tmp/s5" &
	py=$!
	sleep 0.5
	t0=$(ticks "$p5")
	sleep 1
	t1=$(ticks "$p5")
	wait $py
	kill -0 "$p5" 2>/dev/null || fail "daemon died when out of descriptors"
	# A daemon spinning on accept would use ~100 ticks in that second.
	[ $((t1 - t0)) -le 20 ] ||
		fail "daemon used $((t1 - t0)) ticks in 1 s while out of descriptors (busy loop?)"
	grep -q "accept: Too many open files; retrying every" "$tmp/d5.log" ||
		fail "no log line about running out of descriptors"
	i=0
	until timeout 30 "$CP" --socket "$tmp/s5" "$tmp/src" "$tmp/dst5" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le 20 ] || fail "daemon did not recover after descriptors came free"
		sleep 0.1
	done
	cmp -s "$tmp/src" "$tmp/dst5" || fail "copy after recovery differs"
	stop "$p5"
	echo "ok: out of descriptors -> $((t1 - t0)) ticks in 1 s, no busy loop; serving again after"
else
	echo "SKIP (this check only): python3 or prlimit missing; descriptor exhaustion not checked"
fi

echo "all daemon configuration checks passed"
