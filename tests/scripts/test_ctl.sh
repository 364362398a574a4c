#!/bin/sh
# SPDX-License-Identifier: MIT
#
# test_ctl.sh - end-to-end: saferringctl against a real saferringd.
#
#  - `status` prints the daemon's version (the same as saferringd
#    --version), an uptime that advances, and session and operation
#    counts;
#  - while saferring-cp copies from a FIFO this test feeds slowly (so its
#    session stays open with reads in flight), `sessions` lists that
#    session with the copier's pid and uid, operations and bytes done and
#    operations in flight, and the figures grow between two looks;
#    `status` counts it; `stats --json` is valid JSON (python3 -m
#    json.tool) with the same session in it;
#  - `status` lists the operations the running kernel has and lacks:
#    together, once each, every operation but the two the daemon does
#    itself (close, provide), as `saferringd --check-config` names them;
#    each one lacking is in the daemon's log as "the running kernel
#    lacks IORING_OP_...", and with none lacking no such line is;
#  - the copier's row names its arena's NUMA node (libsaferring sends its
#    CPU in the Hello): a node of this machine's
#    /sys/devices/system/node with memory, the same in stats --json;
#  - when the copy ends its session disappears from the list;
#  - as root: an unprivileged uid (65534, through setpriv or runuser) is
#    refused with a "not permitted" message and exit status 1 by all
#    three commands, and the refusal is logged with its uid; after a
#    SIGHUP reload that gives that uid `control = 1` it is answered.
#    The copier then runs as that uid too, so the uid column is checked
#    against a uid other than saferringctl's.
#
# Exit 77 when the daemon cannot create rings here; the parts that need
# root or python3 are skipped, and said so, without them.
set -eu

B=${B:-build}
DAEMON=${SAFERRINGD:-$B/sbin/saferringd}
CP=$B/bin/saferring-cp
CTL=$B/bin/saferringctl

tmp=
pids=
fail() {
	echo "FAIL: $*" >&2
	if [ -n "$tmp" ]; then
		for l in "$tmp"/*.log "$tmp"/*.err; do
			[ -f "$l" ] || continue
			echo "---- $l (last 15 lines) ----" >&2
			tail -n 15 "$l" >&2
		done
	fi
	exit 1
}

for f in "$DAEMON" "$CP" "$CTL"; do
	[ -x "$f" ] || fail "$f is missing (build it first: make all)"
done
have_py=0
command -v python3 >/dev/null 2>&1 && have_py=1

tmp=$(mktemp -d /tmp/saferring-ctl-test.XXXXXX) || fail "mktemp"
cleanup() {
	[ -z "$tmp" ] || : >"$tmp/stop-feeding" 2>/dev/null || :
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
# Other uids must reach the socket and the FIFO.
chmod 0755 "$tmp"

# Who is not root: setpriv, else runuser.  Empty when we cannot switch.
runas=
other_uid=
# It must be in the socket's group (saferring; mode 0660) to connect.
sock_gid=$(getent group saferring | cut -d: -f3)
if [ "$(id -u)" = 0 ] && [ -n "$sock_gid" ]; then
	if command -v setpriv >/dev/null 2>&1; then
		other_uid=65534
		runas="setpriv --reuid 65534 --regid 65534 --groups $sock_gid"
	elif command -v runuser >/dev/null 2>&1 && id -u nobody >/dev/null 2>&1; then
		other_uid=$(id -u nobody)
		runas="runuser -u nobody -G saferring --"
	fi
fi

policy() {
	cat <<EOF
[default]
ops = all
slots = 1024
slot_size = 1M
arena = 256M
fds = 64
in_flight = 256
sessions = 64
max_errors = 64
control = 0
EOF
	for u in "$@"; do
		printf '\n[uid %s]\ncontrol = 1\n' "$u"
	done
}
# Root may always read statistics; anyone else needs control = 1.
me=
[ "$(id -u)" = 0 ] || me=$(id -u)
# shellcheck disable=SC2086
policy $me >"$tmp/saferringd.conf"

"$DAEMON" --foreground --socket "$tmp/sock" --config "$tmp/saferringd.conf" \
	>"$tmp/daemon.log" 2>&1 &
dpid=$!
pids="$pids $dpid"
i=0
while ! { [ -S "$tmp/sock" ] && grep -q "listening on" "$tmp/daemon.log"; }; do
	if ! kill -0 "$dpid" 2>/dev/null; then
		rc=0
		wait "$dpid" || rc=$?
		if grep -q "cannot create an io_uring" "$tmp/daemon.log"; then
			echo "SKIP: saferringd cannot run here: $(grep -m1 'cannot create an io_uring' "$tmp/daemon.log")"
			exit 77
		fi
		fail "saferringd exited with $rc during start-up"
	fi
	i=$((i + 1))
	[ $i -le 100 ] || fail "saferringd did not listen within 10 s"
	sleep 0.1
done

ctl() {
	timeout 10 "$CTL" --socket "$tmp/sock" "$@"
}

# field NAME TEXT: the first number after "NAME:" in status output.
field() {
	printf '%s\n' "$2" | sed -n "s/^$1: *\([0-9.]*\).*/\1/p"
}

# --- status --------------------------------------------------------------
want_version=$("$DAEMON" --version | awk '{ print $2 }')
out=$(ctl status) || fail "saferringctl status exited $?"
echo "$out" | sed 's/^/    /'
[ "$(echo "$out" | head -n1)" = "saferringd $want_version" ] ||
	fail "status does not start with 'saferringd $want_version'"
up1=$(field uptime "$out")
idle_sessions=$(field sessions "$out")
[ -n "$up1" ] && [ -n "$idle_sessions" ] || fail "status lacks uptime or sessions"
[ -n "$(field "in flight" "$out")" ] || fail "status lacks 'in flight'"
[ -n "$(field "operations done" "$out")" ] || fail "status lacks 'operations done'"
[ "$(field "in flight" "$out")" -eq 0 ] || fail "operations in flight with no client"
awk -v u="$up1" 'BEGIN { exit !(u >= 0 && u < 60) }' || fail "uptime $up1 s for a daemon just started"
# At most saferringctl's own connection.
[ "$idle_sessions" -le 1 ] || fail "status counts $idle_sessions sessions with no client"
sleep 1.1
up2=$(field uptime "$(ctl status)")
awk -v a="$up1" -v b="$up2" 'BEGIN { exit !(b >= a + 1.0 && b < a + 30) }' ||
	fail "uptime went from $up1 s to $up2 s in 1.1 s"
echo "ok: status: version $want_version, uptime $up1 s -> $up2 s, $idle_sessions session(s) when idle"

# --- what the running kernel has of saferring's operations ----------------
has=$(echo "$out" | sed -n 's/^kernel has: *//p')
lacks=$(echo "$out" | sed -n 's/^kernel lacks: *//p')
[ -n "$has" ] && [ -n "$lacks" ] || fail "status lacks 'kernel has:' or 'kernel lacks:'"
all_ops=$("$DAEMON" --check-config --config "$tmp/saferringd.conf" |
	sed -n 's/^default: ops=\(.*\) slots=.*/\1/p')
[ -n "$all_ops" ] || fail "saferringd --check-config names no operations"
# "lacks" names each as "shutdown (IORING_OP_SHUTDOWN)", or says none.
lacked=
[ "$lacks" = none ] || lacked=$(echo "$lacks" | sed 's/ *([A-Z_]*)//g')
listed=$(echo $has $lacked close provide | tr ' ' '\n' | sort)
[ "$listed" = "$(echo $all_ops | tr ' ' '\n' | sort)" ] ||
	fail "kernel has '$has' and lacks '$lacks': not every operation once (all: $all_ops)"
for k in $(echo "$lacks" | sed -n 's/[^(]*(\(IORING_OP_[A-Z_]*\))/\1 /gp'); do
	grep -q "the running kernel lacks $k:" "$tmp/daemon.log" ||
		fail "status says the kernel lacks $k; the daemon's log does not"
done
[ "$lacks" != none ] || ! grep -q "the running kernel lacks" "$tmp/daemon.log" ||
	fail "status says the kernel lacks nothing; the daemon's log: $(grep 'running kernel lacks' "$tmp/daemon.log")"
echo "ok: status: kernel has: $has; lacks: $lacks"

# --- live figures while saferring-cp runs ----------------------------------
mkfifo -m 0666 "$tmp/fifo"
mkdir -m 0777 "$tmp/out"
cp_uid=$(id -u)
cp_runas=
if [ -n "$runas" ]; then
	cp_uid=$other_uid
	cp_runas=$runas
fi
# setpriv execs in place, so $! is the copier's pid; runuser forks, so
# then its session is found by uid instead.
match=pid
[ "${cp_runas#runuser}" = "$cp_runas" ] || match=uid
# shellcheck disable=SC2086
$cp_runas "$CP" --socket "$tmp/sock" "$tmp/fifo" "$tmp/out/dst" 2>"$tmp/cp.err" &
cp_pid=$!
pids="$pids $cp_pid"
# 64 KiB every 0.2 s until told to stop (at most 60 s).
(
	n=0
	while [ ! -e "$tmp/stop-feeding" ] && [ $n -lt 300 ]; do
		head -c 65536 /dev/zero
		n=$((n + 1))
		echo $n >"$tmp/fed"
		sleep 0.2
	done
) >"$tmp/fifo" &
feed_pid=$!
pids="$pids $feed_pid"

# row: the copier's line of `sessions` (SESSION UID PID SLOTS INFLIGHT FDS
# OPS REFUSED BYTES_READ BYTES_WRITTEN WORKER NODE), matched by pid, else by uid when
# the copier runs under runuser.
row() {
	ctl sessions >"$tmp/sessions.out" || return 1
	if [ $match = uid ]; then
		awk -v u="$cp_uid" 'NR > 1 && $2 == u && $1 ~ /^[0-9]+$/' "$tmp/sessions.out" | head -n1
	else
		awk -v p="$cp_pid" 'NR > 1 && $3 == p' "$tmp/sessions.out" | head -n1
	fi
}

i=0
while :; do
	kill -0 "$cp_pid" 2>/dev/null || fail "saferring-cp ended early: $(cat "$tmp/cp.err")"
	r=$(row) || fail "saferringctl sessions exited non-zero"
	if [ -n "$r" ]; then
		# shellcheck disable=SC2086 # split the row into fields
		set -- $r
		[ "$7" -gt 0 ] && [ "$9" -gt 0 ] && [ "$5" -gt 0 ] && break
	fi
	i=$((i + 1))
	[ $i -le 50 ] || fail "within 10 s no session row with operations, bytes read and operations in flight for saferring-cp (last: ${r:-none}); sessions: $(cat "$tmp/sessions.out")"
	sleep 0.2
done
sed 's/^/    /' "$tmp/sessions.out"
row_sid=$1 row_uid=$2 row_pid=$3 row_fds=$6 ops1=$7 bytes1=$9 row_node=${12}
[ "$row_uid" = "$cp_uid" ] || fail "session $row_sid shows uid $row_uid, saferring-cp runs as $cp_uid"
[ "$row_fds" -ge 2 ] || fail "session $row_sid shows $row_fds registered files; saferring-cp registers 2"
# Its CPU is on some node with memory; which one depends on where it ran.
case $row_node in
''|*[!0-9]*) fail "session $row_sid shows NUMA node '$row_node'" ;;
esac
if [ $have_py = 1 ] && [ -d /sys/devices/system/node ]; then
	python3 -c 'import sys
def nodes(t):
    out = set()
    for part in t.strip().split(","):
        if part:
            lo, _, hi = part.partition("-")
            out.update(range(int(lo), int(hi or lo) + 1))
    return out
sys.exit(int(sys.argv[1]) not in nodes(open("/sys/devices/system/node/has_memory").read()))' "$row_node" ||
		fail "session $row_sid shows NUMA node $row_node, not one with memory here: $(cat /sys/devices/system/node/has_memory)"
fi
echo "ok: sessions: session $row_sid uid $row_uid pid $row_pid: $ops1 ops, $bytes1 bytes read, $5 in flight"

# Live, not a snapshot: the figures grow while the copy goes on.
i=0
while :; do
	r=$(row) || fail "saferringctl sessions exited non-zero"
	[ -n "$r" ] || fail "the copier's session vanished from the list"
	# shellcheck disable=SC2086 # split the row into fields
	set -- $r
	[ "$7" -gt "$ops1" ] && [ "$9" -gt "$bytes1" ] && break
	i=$((i + 1))
	[ $i -le 25 ] || fail "ops/bytes did not grow in 5 s (still $7 ops, $9 bytes)"
	sleep 0.2
done
echo "ok: figures grow: $ops1 -> $7 ops, $bytes1 -> $9 bytes read"

out=$(ctl status) || fail "saferringctl status exited $?"
n=$(field sessions "$out")
[ "$n" -ge $((idle_sessions + 1)) ] ||
	fail "status counts $n sessions during the copy (idle: $idle_sessions)"
[ "$(field "operations done" "$out")" -ge "$ops1" ] ||
	fail "status: operations done below the copier's own count"
echo "ok: status during the copy: $n sessions, $(field "in flight" "$out") in flight, $(field "operations done" "$out") ops done"

if [ $have_py = 1 ]; then
	ctl stats --json >"$tmp/stats.json" || fail "saferringctl stats --json exited $?"
	python3 -m json.tool "$tmp/stats.json" >/dev/null ||
		fail "stats --json is not JSON: $(cat "$tmp/stats.json")"
	python3 - "$tmp/stats.json" "$row_sid" "$cp_uid" "$want_version" "$row_node" <<'EOF' || fail "stats --json content"
import json, sys
st = json.load(open(sys.argv[1]))
sid, uid, version = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
node = int(sys.argv[5])
def check(cond, what):
    if not cond:
        sys.exit("stats --json: %s: %s" % (what, json.dumps(st)))
check(st["version"] == version, "version")
check(st["sessions"] >= 1, "sessions >= 1")
check(st["sessions"] == len(st["session_list"]) or st["truncated"],
      "sessions matches the list")
me = [s for s in st["session_list"] if s["session_id"] == sid]
check(len(me) == 1, "session %d listed once" % sid)
me = me[0]
check(me["uid"] == uid, "uid %d" % uid)
check(me.get("node") == node, "node %d" % node)
check(me["ops_done"] > 0 and me["bytes_read"] > 0, "ops and bytes done")
check(st["ops_done"] >= sum(s["ops_done"] for s in st["session_list"]),
      "total ops below the sum of the sessions'")
print("ok: stats --json parses; %d session(s), session %d: uid %d, %d ops, "
      "%d bytes read" % (st["sessions"], sid, me["uid"], me["ops_done"],
                         me["bytes_read"]))
EOF
else
	echo "SKIP (this check only): python3 not installed; stats --json not parsed"
fi

# --- refused for an unprivileged uid, answered once its policy allows -------
if [ -n "$runas" ]; then
	for cmd in status sessions "stats --json"; do
		rc=0
		# shellcheck disable=SC2086
		$runas timeout 10 "$CTL" --socket "$tmp/sock" $cmd \
			>"$tmp/nobody.out" 2>"$tmp/nobody.err" || rc=$?
		[ $rc -eq 1 ] || fail "uid $other_uid: saferringctl $cmd exited $rc, expected 1 ($(cat "$tmp/nobody.err"))"
		grep -qi "not permitted" "$tmp/nobody.err" ||
			fail "uid $other_uid: saferringctl $cmd: no 'not permitted' message: $(cat "$tmp/nobody.err")"
		[ ! -s "$tmp/nobody.out" ] || fail "uid $other_uid: saferringctl $cmd printed figures"
	done
	grep -q "uid $other_uid .*not permitted" "$tmp/daemon.log" ||
		fail "the daemon did not log the refusal with the uid"
	echo "ok: uid $other_uid refused: $(cat "$tmp/nobody.err")"

	policy "$other_uid" >"$tmp/saferringd.conf.new"
	mv "$tmp/saferringd.conf.new" "$tmp/saferringd.conf"
	kill -HUP "$dpid"
	i=0
	# shellcheck disable=SC2086
	until $runas timeout 10 "$CTL" --socket "$tmp/sock" status >"$tmp/nobody.out" 2>"$tmp/nobody.err"; do
		i=$((i + 1))
		[ $i -le 50 ] || fail "uid $other_uid still refused 5 s after a reload granting control: $(cat "$tmp/nobody.err")"
		sleep 0.1
	done
	grep -q "^saferringd $want_version" "$tmp/nobody.out" ||
		fail "uid $other_uid with control: unexpected output: $(cat "$tmp/nobody.out")"
	echo "ok: after SIGHUP with 'control = 1' for uid $other_uid it is answered"
else
	if [ "$(id -u)" != 0 ]; then
		echo "SKIP (this part only): not root; refusal of an unprivileged uid not checked"
	else
		echo "SKIP (this part only): neither setpriv nor runuser; refusal of an unprivileged uid not checked"
	fi
fi

# --- the copy ends, and so does its session ---------------------------------
: >"$tmp/stop-feeding"
i=0
while kill -0 "$cp_pid" 2>/dev/null; do
	i=$((i + 1))
	[ $i -le 100 ] || fail "saferring-cp still running 10 s after its input ended"
	sleep 0.1
done
rc=0
wait "$cp_pid" || rc=$?
[ $rc -eq 0 ] || fail "saferring-cp exited $rc: $(cat "$tmp/cp.err")"
fed=$(( $(cat "$tmp/fed") * 65536 ))
got=$(stat -c %s "$tmp/out/dst")
echo "ok: saferring-cp from the FIFO exited 0 ($fed bytes fed, $got bytes in the copy)"
i=0
while :; do
	ctl sessions >"$tmp/sessions.out" || fail "saferringctl sessions exited non-zero"
	awk -v s="$row_sid" 'NR > 1 && $1 == s { found = 1 } END { exit !found }' "$tmp/sessions.out" || break
	i=$((i + 1))
	[ $i -le 50 ] || fail "session $row_sid still listed 5 s after saferring-cp ended"
	sleep 0.1
done
out=$(ctl status) || fail "saferringctl status exited $?"
[ "$(field sessions "$out")" -eq "$idle_sessions" ] ||
	fail "status counts $(field sessions "$out") sessions after the copy (idle: $idle_sessions)"
echo "ok: the session is gone from the list once the copy ended"

kill -TERM "$dpid"
i=0
while kill -0 "$dpid" 2>/dev/null; do
	i=$((i + 1))
	[ $i -le 50 ] || fail "saferringd did not exit within 5 s of SIGTERM"
	sleep 0.1
done
rc=0
wait "$dpid" || rc=$?
[ $rc -eq 0 ] || fail "saferringd exited $rc on SIGTERM"
echo "ok: saferringd exited 0 on SIGTERM"
exit 0
