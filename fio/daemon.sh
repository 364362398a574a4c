# SPDX-License-Identifier: MIT
#
# daemon.sh - sourced by fio/smoke.sh and fio/run-bench.sh: start and
# stop a private saferringd for fio jobs, as saferring-bench's private
# daemons run (bench/daemon.c): --foreground on a socket in a fresh
# directory, --spin-us from SAFERRING_SPIN_US when set.
#
# Must never leave the daemon running (callers trap sr_daemon_stop on
# every exit) and never signal any process but the one it started.

SAFERRINGD=${SAFERRINGD:-build/sbin/saferringd}
SR_DIR=
SR_PID=
SR_SOCK=

# sr_daemon_start [OPTION...]: a fresh daemon on $SR_SOCK, given those
# options too (--config FILE); its log in $SR_DIR.
sr_daemon_start() {
	[ -x "$SAFERRINGD" ] || { echo "$0: no $SAFERRINGD (make)" >&2; return 1; }
	SR_DIR=$(mktemp -d /tmp/saferring-fio.XXXXXX)
	SR_SOCK=$SR_DIR/sock
	# Started as root it becomes user saferringd (make users); where
	# that user does not exist it can only stay root.
	if [ "$(id -u)" = 0 ] && ! getent passwd saferringd >/dev/null; then
		set -- "$@" --allow-root
	fi
	if [ -n "${SAFERRING_SPIN_US:-}" ]; then
		set -- "$@" --spin-us "$SAFERRING_SPIN_US"
	fi
	"$SAFERRINGD" --foreground --socket "$SR_SOCK" "$@" \
		> "$SR_DIR/saferringd.log" 2>&1 &
	SR_PID=$!
	n=0
	while [ ! -S "$SR_SOCK" ]; do
		if ! kill -0 "$SR_PID" 2>/dev/null || [ "$n" -ge 100 ]; then
			echo "$0: saferringd did not start:" >&2
			sed 's/^/  saferringd: /' "$SR_DIR/saferringd.log" >&2
			sr_daemon_stop
			return 1
		fi
		sleep 0.05
		n=$((n + 1))
	done
}

# utime + stime of the daemon, in clock ticks.
sr_daemon_ticks() {
	# Fields 14 and 15 of /proc/PID/stat, counted after the command
	# name, which may hold spaces.
	sed 's/^.*) //' "/proc/$SR_PID/stat" 2>/dev/null |
		awk '{ print $12 + $13 }'
}

sr_daemon_stop() {
	if [ -n "$SR_PID" ]; then
		kill "$SR_PID" 2>/dev/null || :
		wait "$SR_PID" 2>/dev/null || :
		SR_PID=
	fi
	if [ -n "$SR_DIR" ]; then
		rm -rf "$SR_DIR"
		SR_DIR=
	fi
}
