#!/bin/sh
# SPDX-License-Identifier: MIT
#
# test_systemd.sh - saferringd under a real systemd (PID 1 in a container),
# installed as the README's Deployment section says.
#
# How: an overlayfs whose lower layer is the host's own / and whose upper
# layer is a tmpfs (so the host's systemd and libraries are used and the
# host is never written), `make install DESTDIR=<overlay> PREFIX=/usr`
# into it, then `systemd-nspawn --boot` on it (systemd as PID 1, target
# basic.target: no getty, no postgres, ~1 s).  Commands reach the
# container with `nsenter -t <container PID 1> -a`; the checks themselves,
# tests/scripts/systemd-inside.sh (the deployment steps and what an
# operator would check, see there), run as a transient unit of the
# container's systemd (`systemd-run --wait --pipe`).  Then this script
# prints the service's journal and powers the container off.
#
# Exit 77, with one line saying why, when: not root; no /lib/systemd/systemd;
# systemd-nspawn missing and not installable; no overlayfs of /; the
# container does not boot within $SR_BOOT_TIMEOUT s (60); the kernel lets
# saferringd create no io_uring.
#
# The container keeps CAP_SYS_RESOURCE (nspawn drops it by default) so
# that its systemd can apply the unit's LimitMEMLOCK=/LimitNOFILE= as on
# a host; without it systemd silently clamps them to the container's hard
# limits (8 MiB of locked memory here).  SR_NSPAWN_EXTRA adds nspawn
# options (e.g. --drop-capability=CAP_SYS_RESOURCE to see that).
#
# SAFERRING_UNIT_PATCH='sed script' edits the installed saferringd.service
# (in the overlay only) before boot, to try a unit fix without touching
# the repository, e.g.
#   SAFERRING_UNIT_PATCH='s/^SystemCallFilter=@system-service /&seccomp /'
#
# Everything is torn down on any exit: the container (poweroff, then
# SIGKILL of its PID 1), the mounts (made in a private mount namespace, so
# they are never in the host's table), the cgroups nspawn made, the temp
# directory.  A watchdog kills the container should this script itself be
# killed.  Typical run: about 5 s; at most about 3 minutes if all hangs.
set -eu

B=${B:-build}
BOOT_TIMEOUT=${SR_BOOT_TIMEOUT:-60}
INSIDE_TIMEOUT=60
WATCHDOG=200
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
case $B in /*) ;; *) B=$(pwd)/$B ;; esac

skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root (mounts an overlay of / and boots systemd in a container)"
[ -x /lib/systemd/systemd ] || skip "no /lib/systemd/systemd (Debian: package systemd)"
for f in "$B/sbin/saferringd" "$B/bin/saferring-cp"; do
	[ -x "$f" ] || { echo "FAIL: $f is missing (build it first: make all)"; exit 1; }
done
if nm -D "$B/sbin/saferringd" 2>/dev/null | grep -q __asan_init ||
   nm "$B/sbin/saferringd" 2>/dev/null | grep -q __asan_init; then
	skip "$B is a sanitizer build: ASan's runtime does not run under the unit's sandbox"
fi

if ! command -v systemd-nspawn >/dev/null 2>&1; then
	# As `make deps` does: install what is missing, quietly.
	if ! dpkg-query -W -f='${Status}' systemd-container 2>/dev/null | grep -q "ok installed"; then
		echo "installing systemd-container (for systemd-nspawn)"
		{ apt-get update -qq &&
		  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends systemd-container; } >/dev/null 2>&1 || :
	fi
	command -v systemd-nspawn >/dev/null 2>&1 ||
		skip "systemd-nspawn missing and systemd-container could not be installed"
fi
for c in nsenter unshare setpriv timeout pgrep mountpoint; do
	command -v $c >/dev/null 2>&1 || skip "$c not installed (util-linux/procps)"
done

# Everything below runs in a private mount namespace: the overlay and the
# tmpfs are never visible on the host and vanish with the last process.
if [ -z "${SR_SYSTEMD_TEST_NS:-}" ]; then
	SR_SYSTEMD_TEST_NS=1 B=$B exec unshare --mount --propagation private -- /bin/sh "$0" "$@"
fi

t_start=$(date +%s%3N)
tmp=$(mktemp -d /tmp/saferring-systemd-test.XXXXXX)
fs=$tmp/fs
root=$fs/root
name=saferring-test-$$
nspawn=
leader=
watchdog=
inside=
cgdirs=
created_run=

ns_run() { # CMD...: run in the container, clean environment
	nsenter -t "$leader" -a -- env -i \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		LANG=C.UTF-8 TERM=dumb SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

cleanup() {
	rc=$?
	trap - EXIT INT TERM HUP
	# A reader that went away (| head) must not stop the teardown.
	trap '' PIPE
	set +e
	if [ -n "$watchdog" ]; then
		[ -s "$tmp/watchdog.pid" ] && kill "$(cat "$tmp/watchdog.pid")" 2>/dev/null
		kill "$watchdog" 2>/dev/null
		wait "$watchdog" 2>/dev/null
	fi
	# Interrupted checks: stop their unit from inside, so that the
	# systemd-run client ends and nsenter reaps it.  Killing nsenter
	# first would orphan the client to the host's init, which need not
	# reap it, and the container's shutdown waits 10 s for the zombie.
	if alive "$inside"; then
		timeout 10 nsenter -t "$leader" -a -- env -i PATH=/usr/bin:/bin \
			systemctl stop saferring-test-inside.service >/dev/null 2>&1
		i=0
		while alive "$inside" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
		alive "$inside" && kill -TERM "$inside"
		wait "$inside" 2>/dev/null
	fi
	if alive "$nspawn"; then
		# nspawn turns SIGTERM into a clean poweroff of the container.
		kill -TERM "$nspawn"
		i=0
		while alive "$nspawn" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
		if alive "$nspawn"; then
			echo "teardown: container did not power off in 10 s; killing it"
			# PID 1 of a pid namespace takes every process in it along.
			alive "$leader" && kill -KILL "$leader"
			sleep 0.5
			kill -KILL "$nspawn" 2>/dev/null
		fi
		wait "$nspawn" 2>/dev/null
	elif alive "$leader"; then
		kill -KILL "$leader"
	fi
	for m in "$root" "$fs"; do
		mountpoint -q "$m" 2>/dev/null && { umount "$m" 2>/dev/null || umount -l "$m"; }
	done
	# Never descend into a mount that is still there (the overlay of /).
	if ! mountpoint -q "$fs" 2>/dev/null && ! mountpoint -q "$root" 2>/dev/null; then
		rm -rf --one-file-system "$tmp"
	else
		echo "teardown: $fs still mounted; left $tmp"
	fi
	for d in $cgdirs; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	rmdir "/run/systemd/nspawn/propagate/$name" 2>/dev/null
	for d in $created_run; do
		rmdir "$d/propagate" "$d/locks" "$d" 2>/dev/null
	done
	echo "total: $(( ($(date +%s%3N) - t_start) / 1000 )) s"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE

fail() { echo "FAIL: $*"; exit 1; }

# ---- the root: host / below, tmpfs above ----------------------------------------
mkdir "$fs"
mount -t tmpfs -o mode=0755,size=2G saferring-test "$fs" ||
	skip "cannot mount a tmpfs at $fs"
mkdir "$fs/upper" "$fs/work" "$root"
mount -t overlay saferring-test \
	-o "lowerdir=/,upperdir=$fs/upper,workdir=$fs/work" "$root" 2>"$tmp/mount.err" ||
	skip "cannot mount an overlay with / as its lower layer: $(cat "$tmp/mount.err")"
[ -x "$root/lib/systemd/systemd" ] ||
	skip "the overlay of / has no /lib/systemd/systemd (/usr on its own file system?)"

# Whatever saferring the host may have installed must not shadow ours.
rm -rf "$root/etc/saferring" "$root/usr/local/lib/systemd/system/saferringd."* \
	"$root/etc/systemd/system/saferringd."* \
	"$root/etc/systemd/system/sockets.target.wants/saferringd.socket" \
	"$root/usr/local/sbin/saferringd" "$root/usr/local/bin/saferring-cp"

# ---- install, as the README says, into the overlay ------------------------------
rc=0
(cd "$top" && make -s --no-print-directory B="$B" install DESTDIR="$root" PREFIX=/usr) \
	>"$tmp/install.log" 2>&1 || rc=$?
[ $rc -eq 0 ] || { cat "$tmp/install.log"; fail "make install DESTDIR=$root PREFIX=/usr"; }
[ -x "$root/usr/sbin/saferringd" ] && [ -x "$root/usr/bin/saferring-cp" ] ||
	fail "make install did not install saferringd and saferring-cp under /usr"
unit=$root/usr/lib/systemd/system/saferringd.service
pc=$root/usr/lib/pkgconfig/saferring.pc
grep -q '^ExecStart=/usr/sbin/saferringd ' "$unit" ||
	fail "installed unit: $(grep '^ExecStart=' "$unit") (expected /usr/sbin)"
grep -qx 'prefix=/usr' "$pc" || fail "installed saferring.pc: $(grep '^prefix=' "$pc")"
echo "ok: make install DESTDIR=<overlay> PREFIX=/usr"
if [ -n "${SAFERRING_UNIT_PATCH:-}" ]; then
	cp "$unit" "$tmp/unit.orig"
	sed -i -e "$SAFERRING_UNIT_PATCH" "$unit" || fail "SAFERRING_UNIT_PATCH: sed failed"
	echo "note: SAFERRING_UNIT_PATCH applied to the installed unit (overlay only):"
	diff -u "$tmp/unit.orig" "$unit" | sed -e '1,2d' -e 's/^/  /' || :
fi
install -D -m 0755 "$here/systemd-inside.sh" "$root/usr/local/lib/saferring-test/inside.sh"

# ---- boot --------------------------------------------------------------------
keep=
cgprocs=
if [ ! -d /run/systemd/system ]; then
	# No systemd on the host: nspawn cannot ask it for a scope, so it
	# uses its own cgroup (--keep-unit) and makes payload/ and
	# supervisor/ below it.  Give it one of its own, removed afterwards.
	keep=--keep-unit
	for h in unified systemd; do
		mnt=
		case $h in
		unified) mnt=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
			 own=$(sed -n 's/^0:://p' /proc/self/cgroup) ;;
		systemd) mnt=$(awk '$9 == "cgroup" && $NF ~ /name=systemd/ { print $5; exit }' /proc/self/mountinfo)
			 own=$(sed -n 's/^[0-9]*:name=systemd://p' /proc/self/cgroup) ;;
		esac
		[ -n "$mnt" ] && [ -n "$own" ] || continue
		d=$mnt${own%/}/$name
		mkdir "$d" 2>/dev/null || continue
		cgdirs="$cgdirs $d"
		cgprocs="$cgprocs $d/cgroup.procs"
	done
fi
# nspawn leaves /run/systemd/nspawn/{locks,propagate} behind on a host
# whose /run is not a tmpfs: remove them if they were not there before.
for d in /run/systemd/nspawn /run/systemd; do
	[ -d "$d" ] || created_run="$created_run $d"
done

t_boot=$(date +%s%3N)
# shellcheck disable=SC2086 # $keep and $SR_NSPAWN_EXTRA are lists of options
CGPROCS=$cgprocs sh -c 'for p in $CGPROCS; do echo $$ >"$p" || exit 1; done; exec "$@"' sh \
	systemd-nspawn --quiet --directory="$root" --machine="$name" --boot \
	--register=no $keep --private-network --console=pipe \
	--capability=CAP_SYS_RESOURCE ${SR_NSPAWN_EXTRA:-} \
	systemd.unit=basic.target </dev/null >"$tmp/console.log" 2>&1 &
nspawn=$!
i=0
while [ -z "$leader" ]; do
	leader=$(pgrep -P "$nspawn" -x systemd 2>/dev/null | head -n 1) || :
	[ -n "$leader" ] && break
	alive "$nspawn" || { cat "$tmp/console.log"; skip "systemd-nspawn exited before the container started"; }
	i=$((i + 1))
	[ $i -le 100 ] || skip "no container PID 1 within 10 s"
	sleep 0.1
done
# Should this script die without its trap (SIGKILL), the watchdog ends
# the container (if it is still ours) and tears down the rest.
(
	sleep $WATCHDOG &
	echo $! >"$tmp/watchdog.pid"
	wait $! || exit 0
	[ "$(ps -o ppid= -p "$leader" | tr -d ' ')" = "$nspawn" ] &&
		kill -KILL "$leader"
	cleanup
) >/dev/null 2>&1 &
watchdog=$!

deadline=$(( $(date +%s) + BOOT_TIMEOUT ))
booted=
while [ "$(date +%s)" -lt "$deadline" ]; do
	alive "$nspawn" || break
	s=$(timeout 5 nsenter -t "$leader" -a -- env -i PATH=/usr/bin:/bin \
		systemctl is-system-running 2>/dev/null) || :
	case $s in
	running|degraded) booted=$s; break ;;
	esac
	sleep 0.2
done
if [ -z "$booted" ]; then
	echo "---- container console (last 20 lines) ----"
	tail -n 20 "$tmp/console.log"
	skip "the container did not boot within $BOOT_TIMEOUT s (systemd says '${s:-nothing}')"
fi
echo "ok: systemd $(ns_run systemctl --version | head -n 1 | cut -d' ' -f2-) booted as PID 1 in the container in $(( $(date +%s%3N) - t_boot )) ms ($booted)"
if [ "$booted" = degraded ]; then
	echo "note: failed units in the container: $(ns_run systemctl --failed --plain --no-legend | awk '{ print $1 }' | tr '\n' ' ')"
fi

# ---- the deployment and the checks, inside --------------------------------------
# As a transient service of the container's systemd, not as a child of
# nsenter: then every process of the checks lives in the container (its
# cgroup, its PID 1 as the reaper) and poweroff ends them like any
# service's.  nsenter runs only the systemd-run client, which passes
# our stdout through (--pipe) and returns the script's exit status.
# In the background so that a signal to this script is handled at once.
rc=0
timeout -k 5 $((INSIDE_TIMEOUT + 5)) nsenter -t "$leader" -a -- env -i \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	systemd-run --quiet --wait --pipe --collect --unit=saferring-test-inside \
	--service-type=exec -p RuntimeMaxSec=$INSIDE_TIMEOUT -p TimeoutStopSec=5 \
	--setenv=LANG=C.UTF-8 --setenv=TERM=dumb --setenv=SYSTEMD_PAGER= \
	--setenv=SYSTEMD_COLORS=0 \
	/bin/sh /usr/local/lib/saferring-test/inside.sh </dev/null &
inside=$!
wait $inside || rc=$?
inside=
case $rc in
0|1|77) ;;
*) echo "FAIL: the checks inside the container ended with status $rc (time limit $INSIDE_TIMEOUT s)" ;;
esac

echo "---- journalctl -u saferringd -u saferringd.socket --no-pager (in the container) ----"
ns_run journalctl --sync 2>/dev/null || :
timeout 10 nsenter -t "$leader" -a -- env -i PATH=/usr/bin:/bin SYSTEMD_COLORS=0 \
	journalctl -u saferringd -u saferringd.socket --no-pager -o short-precise 2>&1 |
	sed 's/^/  /' || :
echo "----"

case $rc in
0)  echo "ok: saferringd starts, serves and stops under systemd as PID 1" ;;
77) exit 77 ;;
*)  exit 1 ;;
esac
exit 0
