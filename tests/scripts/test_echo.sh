#!/bin/sh
# SPDX-License-Identifier: MIT
#
# test_echo.sh - end-to-end: saferring-echo against a real saferringd.
# 200 concurrent loopback connections, each sending 256 KiB of random
# bytes, get them back byte-identical (accept, receive and send all done
# by the daemon); then 256 connections at once; the server survives
# clients that vanish mid-stream.  Bounded in time.  Exit 77 (skip) only
# when the daemon cannot run here or python3 is missing.
set -u

. "$(dirname "$0")/common.sh"
ECHO=$B/bin/saferring-echo

for f in "$DAEMON" "$ECHO"; do
	[ -x "$f" ] || fail "$f is missing (build it first: make all)"
done
if ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: python3 is needed for the echo clients"
	exit 77
fi

tmp=$(mktemp -d /tmp/saferring-echo-test.XXXXXX) || fail "mktemp"
pid=
epid=
cleanup() {
	stop "$epid"
	stop "$pid"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# Room for a few hundred connections, each with a receive and a send.
start_daemon "[default]
ops = all
slots = 1024
slot_size = 1M
arena = 256M
fds = 512
in_flight = 1024
sessions = 64
max_errors = 64"

"$ECHO" --socket "$sock" --port 0 >"$tmp/echo.out" 2>"$tmp/echo.err" &
epid=$!
i=0
while ! grep -q "listening on" "$tmp/echo.out" 2>/dev/null; do
	kill -0 "$epid" 2>/dev/null || fail "saferring-echo exited during start-up"
	i=$((i + 1))
	[ $i -le 100 ] || fail "saferring-echo did not start within 10 s"
	sleep 0.1
done
port=$(awk '/listening on/ { print $NF; exit }' "$tmp/echo.out")

# The clients: N connections open at once, each sends SIZE random bytes
# and must read exactly them back; or, with "vanish", half of them close
# after sending part of their data, without reading.
cat >"$tmp/client.py" <<'EOF'
import os, selectors, socket, sys, time
port, nconn, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
vanish = len(sys.argv) > 4
deadline = time.monotonic() + 60
sel = selectors.DefaultSelector()
conns = []
for i in range(nconn):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setblocking(False)
    c = {"s": s, "data": os.urandom(size), "sent": 0, "got": bytearray(),
         "i": i, "quit": vanish and i % 2 == 1}
    conns.append(c)
# Every connection is open before any byte moves: they are concurrent.
for c in conns:
    sel.register(c["s"], selectors.EVENT_READ | selectors.EVENT_WRITE, c)
done = 0
while done < nconn:
    if time.monotonic() > deadline:
        left = [c["i"] for c in conns if len(c["got"]) < size]
        sys.exit(f"timeout: {len(left)} connections incomplete")
    for key, ev in sel.select(timeout=1):
        c, s = key.data, key.data["s"]
        if ev & selectors.EVENT_WRITE and c["sent"] < size:
            try:
                c["sent"] += s.send(c["data"][c["sent"]:c["sent"] + 65536])
            except BlockingIOError:
                pass
            if c["quit"] and c["sent"] >= size // 3:
                sel.unregister(s)
                s.close()
                done += 1
                continue
            if c["sent"] == size:
                sel.modify(s, selectors.EVENT_READ, c)
        if ev & selectors.EVENT_READ:
            try:
                b = s.recv(262144)
            except BlockingIOError:
                continue
            if not b:
                sys.exit(f"connection {c['i']}: closed after {len(c['got'])} bytes")
            c["got"] += b
            if len(c["got"]) > size or c["data"][:len(c["got"])] != c["got"]:
                sys.exit(f"connection {c['i']}: echo differs")
            if len(c["got"]) == size:
                sel.unregister(s)
                s.close()
                done += 1
print(f"{nconn} connections x {size} bytes", "(half vanished)" if vanish else "echoed byte-identical")
EOF

run() {
	start=$(date +%s.%N)
	out=$(timeout 90 python3 "$tmp/client.py" "$port" "$@" 2>&1) ||
		fail "echo client ($*): $out"
	end=$(date +%s.%N)
	echo "ok: $out in $(awk "BEGIN { printf \"%.2f\", $end - $start }") s"
}
run 200 262144
run 256 65536
run 200 1048576 vanish
run 200 262144

kill -0 "$epid" 2>/dev/null || fail "saferring-echo died"
kill -0 "$pid" 2>/dev/null || fail "saferringd died"
stop "$epid"
epid=
stop_daemon_clean
exit 0
