# SPDX-License-Identifier: MIT
#
# common.sh - sourced by tests/scripts/test_*.sh: start and stop a real
# saferringd on a temporary socket.  Never runs anything by itself.
#
# The caller sets $tmp (a private directory) before calling these, and
# defines nothing else they need.

B=${B:-build}
DAEMON=${SAFERRINGD:-$B/sbin/saferringd}

fail() {
	echo "FAIL: $*" >&2
	[ -n "${tmp:-}" ] || exit 1
	for f in "$tmp"/*.log "$tmp"/*.err; do
		[ -f "$f" ] || continue
		echo "---- ${f##*/} (last 20 lines) ----" >&2
		tail -n 20 "$f" >&2
	done
	exit 1
}

# stop PID: SIGTERM, up to 5 s, then SIGKILL.  Empty PID: nothing.
stop() {
	if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
		kill -TERM "$1" 2>/dev/null
		i=0
		while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1; i=$((i + 1))
		done
		kill -KILL "$1" 2>/dev/null
	fi
}

# start_daemon CONFIG_TEXT: saferringd on $tmp/sock with that policy, in
# the foreground, logging to $tmp/daemon.log; sets $pid and $sock.  Exits
# 77 when the daemon cannot create rings here, 1 when it fails otherwise.
start_daemon() {
	sock=$tmp/sock
	printf '%s\n' "$1" >"$tmp/saferringd.conf"
	"$DAEMON" --socket "$sock" --config "$tmp/saferringd.conf" \
		--foreground >"$tmp/daemon.log" 2>&1 &
	pid=$!
	i=0
	while ! { [ -S "$sock" ] && grep -q "listening on" "$tmp/daemon.log"; }; do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"; rc=$?
			pid=
			if [ $rc -eq 1 ] && grep -q "cannot create an io_uring" "$tmp/daemon.log"; then
				echo "SKIP: saferringd cannot run here: $(grep -m1 'cannot create an io_uring' "$tmp/daemon.log")"
				exit 77
			fi
			fail "saferringd exited with $rc during start-up"
		fi
		i=$((i + 1))
		[ $i -le 100 ] || fail "saferringd did not create $sock within 10 s"
		sleep 0.1
	done
}

# stop_daemon_clean: SIGTERM the daemon started by start_daemon; fail
# unless it exits 0 within 5 s.
stop_daemon_clean() {
	kill -TERM "$pid"
	i=0
	while kill -0 "$pid" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le 50 ] || fail "saferringd did not exit within 5 s of SIGTERM"
		sleep 0.1
	done
	wait "$pid"
	rc=$?
	pid=
	[ $rc -eq 0 ] || fail "saferringd exited $rc on SIGTERM"
	echo "ok: saferringd exited 0 on SIGTERM"
}
