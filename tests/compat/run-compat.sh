#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run-compat.sh - make check-compat: libsaferring-uring against liburing.
#
#   B=build tests/compat/run-compat.sh [FACADE_TEST...]
#
# 1. Runs the facade's own tests (tests/compat/test_*, given as arguments)
#    against a private saferringd.
# 2. Fetches the source of the installed liburing-dev (Debian's package,
#    with a private apt configuration under $B/compat/apt: the system's
#    sources and package lists are never touched) and configures it.
# 3. Builds liburing's examples and every program of its test/ directory
#    twice, unmodified: against the facade (pkg-config saferring-uring)
#    and against the real liburing, and runs each both ways (each in a
#    scratch directory of its own, with a timeout): exit 0 pass, 77 skip,
#    anything else fail.
# 4. Prints one line per program: liburing's result, the facade's, and
#    for every program whose result differs the reason: what the facade
#    said it does not support (SAFERRING_URING_WARN=1), liburing's own
#    failure, or tests/compat/expected.txt.  It fails when a facade test
#    fails or a program's result differs from liburing's for no such
#    reason (step 5 says exactly how each case is counted).
#
# Never runs a program against the real liburing with the facade's
# daemon socket in its environment, and never leaves a daemon behind.
set -u
B=${B:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=$(cd "$B" && pwd)
DAEMON=$B/sbin/saferringd
EXPECTED=$ROOT/tests/compat/expected.txt
WORK=$B/compat
TIMEOUT=${COMPAT_TIMEOUT:-60}
JOBS=${COMPAT_JOBS:-2}
export PKG_CONFIG_PATH=$B/uring/pkgconfig

mkdir -p "$WORK"
tmp=$(mktemp -d /tmp/saferring-compat.XXXXXX) || exit 1
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

die() { echo "check-compat: $*" >&2; exit 1; }

# ---- a private daemon -------------------------------------------------
# Room for liburing's tests: many files, many operations, big slots
# (poll-many keeps 5000 polls on 5000 pipes).
cat >"$tmp/saferringd.conf" <<'EOF'
[default]
ops = all
slots = 1024
slot_size = 1M
arena = 64M
fds = 8192
in_flight = 8192
sessions = 64
max_errors = 64
EOF
start_daemon() {
	local args=(--socket "$tmp/sock" --config "$tmp/saferringd.conf" --foreground)
	# As root the daemon would become user saferringd, which must then
	# reach the socket's directory: a private one under /tmp is not.
	[ "$(id -u)" = 0 ] && args+=(--allow-root)
	"$DAEMON" "${args[@]}" >"$tmp/daemon.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		[ -S "$tmp/sock" ] && grep -q "listening on" "$tmp/daemon.log" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$tmp/daemon.log" >&2
	if grep -q "cannot create an io_uring" "$tmp/daemon.log"; then
		echo "SKIP: saferringd cannot run here"
		exit 77
	fi
	die "saferringd did not start"
}
start_daemon
export SAFERRING_SOCKET=$tmp/sock

# ---- 1. the facade's own tests --------------------------------------
own_fail=0 own_pass=0 own_skip=0
for t in "$@"; do
	t=$(cd "$(dirname "$t")" && pwd)/$(basename "$t")
	echo "=== $t"
	(cd "$tmp" && timeout "$TIMEOUT" "$t")
	rc=$?
	case $rc in
	0) own_pass=$((own_pass + 1)); echo "--- PASS $t" ;;
	77) own_skip=$((own_skip + 1)); echo "--- SKIP $t" ;;
	*) own_fail=$((own_fail + 1)); echo "--- FAIL $t (exit $rc)" ;;
	esac
done

# ---- 2. liburing's source ---------------------------------------------
# The native package's version: with another architecture's copy
# installed (make cross), a bare name would print both.
version=$(dpkg-query -W -f='${Version}' "liburing-dev:$(dpkg --print-architecture)" 2>/dev/null) ||
	die "liburing-dev is not installed (make deps installs it)"
upstream=${version%-*}
src=$WORK/liburing-$upstream
if [ ! -f "$src/.configured" ]; then
	apt=$WORK/apt
	rm -rf "$apt" "$src"
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/parts"
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
	echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $codename main" \
		>"$apt/sources.list"
	aptopts=(-o "Dir::Etc::SourceList=$apt/sources.list"
		-o "Dir::Etc::SourceParts=$apt/parts"
		-o "Dir::State::Lists=$apt/lists"
		-o "Dir::Cache=$apt/cache"
		-o "APT::Sandbox::User=root")
	echo "check-compat: fetching liburing $version source (private apt lists in $apt)"
	apt-get "${aptopts[@]}" -qq update >"$WORK/apt.log" 2>&1 ||
		{ cat "$WORK/apt.log"; die "apt-get update (deb-src) failed"; }
	(cd "$WORK" && apt-get "${aptopts[@]}" -qq source "liburing=$version") \
		>>"$WORK/apt.log" 2>&1 ||
		{ cat "$WORK/apt.log"; die "apt-get source liburing=$version failed"; }
	[ -d "$src" ] || die "no $src after apt-get source"
	(cd "$src" && ./configure >"$WORK/configure.log" 2>&1) ||
		{ cat "$WORK/configure.log"; die "liburing's configure failed"; }
	touch "$src/.configured"
fi

# ---- 3. build both ways ----------------------------------------------
tests=()
for f in "$src"/test/*.c "$src"/test/*.cc; do
	n=$(basename "$f"); n=${n%.*}
	case $n in
	helpers) continue ;;
	esac
	# The programs liburing's own Makefile builds, and only those.
	grep -q "^	$(basename "$f") \\\\\$\|+= $(basename "$f")\$" "$src/test/Makefile" || continue
	tests+=("$n")
done
examples=(io_uring-cp io_uring-test link-cp io_uring-udp ucontext-cp)

fac_cflags=$(pkg-config --cflags saferring-uring) || die "pkg-config saferring-uring"
fac_libs=$(pkg-config --libs saferring-uring)
# What liburing's test/ Makefile passes, less its -I../src/include.
test_cppflags=(-D_GNU_SOURCE -D__SANE_USERSPACE_TYPES__ -include "$src/config-host.h"
	-DLIBURING_BUILD_TEST)
build_one() { # KIND SRC OUT [EXTRA...]
	local kind=$1 in=$2 out=$3; shift 3
	local cc=cc
	case $in in *.cc) cc=c++ ;; esac
	if [ "$kind" = facade ]; then
		# shellcheck disable=SC2086
		$cc -g -O2 -w "$@" $fac_cflags -o "$out" "$in" $fac_libs -lpthread
	else
		$cc -g -O2 -w "$@" -o "$out" "$in" -luring -lpthread
	fi
}
# Build jobs by pid: a bare wait would wait for the daemon too.
builds=()
throttle() {
	builds+=("$1")
	while [ "${#builds[@]}" -ge "$JOBS" ]; do
		wait "${builds[0]}"
		builds=("${builds[@]:1}")
	done
}
for kind in liburing facade; do
	rm -f "$WORK/$kind/bin/"*.build
	mkdir -p "$WORK/$kind/bin"
	echo "check-compat: building ${#tests[@]} tests and ${#examples[@]} examples against $kind"
	build_one "$kind" "$src/test/helpers.c" "$WORK/$kind/helpers.o" -c "${test_cppflags[@]}" \
		2>"$WORK/$kind/helpers.err" || die "helpers.c does not build against $kind"
	for n in "${tests[@]}"; do
		f=$src/test/$n.c; [ -f "$f" ] || f=$src/test/$n.cc
		[ -x "$WORK/$kind/bin/$n" ] && [ "$WORK/$kind/bin/$n" -nt "$f" ] &&
			{ [ "$kind" = liburing ] ||
			  [ "$WORK/$kind/bin/$n" -nt "$B/lib/libsaferring-uring.a" ]; } && continue
		build_one "$kind" "$f" "$WORK/$kind/bin/$n" "${test_cppflags[@]}" \
			"$WORK/$kind/helpers.o" 2>"$WORK/$kind/bin/$n.build" &
		throttle $!
	done
	for n in "${examples[@]}"; do
		build_one "$kind" "$src/examples/$n.c" "$WORK/$kind/bin/ex-$n" -D_GNU_SOURCE \
			2>"$WORK/$kind/bin/ex-$n.build" &
		throttle $!
	done
	for p in "${builds[@]}"; do wait "$p"; done
	builds=()
done

# ---- 4. run ------------------------------------------------------------
# run_prog KIND NAME: result word on stdout; output in $WORK/KIND/NAME.out
head -c $((16 * 1024 * 1024)) /dev/urandom >"$tmp/example-src"
run_prog() {
	local kind=$1 n=$2 bin=$WORK/$1/bin/$2 rc d
	local out=$WORK/$kind/$n.out
	if [ ! -x "$bin" ]; then
		echo "does not build" >"$out"
		cat "$bin.build" >>"$out" 2>/dev/null
		echo nobuild; return
	fi
	d=$tmp/run-$kind-$n
	mkdir -p "$d"
	local env=(env -u SAFERRING_SOCKET -u SAFERRING_URING_WARN)
	# The facade names on stderr what it refused as not supported.
	[ "$kind" = facade ] &&
		env=(env "SAFERRING_SOCKET=$SAFERRING_SOCKET" SAFERRING_URING_WARN=1)
	case $n in
	ex-io_uring-cp|ex-link-cp|ex-ucontext-cp)
		(cd "$d" && "${env[@]}" timeout "$TIMEOUT" "$bin" "$tmp/example-src" dst \
			&& cmp "$tmp/example-src" dst) >"$out" 2>&1 ;;
	ex-io_uring-test)
		(cd "$d" && "${env[@]}" timeout "$TIMEOUT" "$bin" "$tmp/example-src") >"$out" 2>&1 ;;
	ex-io_uring-udp)
		# An echo server: it must answer one datagram.
		port=$((20000 + RANDOM % 20000))
		(cd "$d" && exec "${env[@]}" timeout 10 "$bin" -p "$port") >"$out" 2>&1 &
		local spid=$!
		sleep 1
		if kill -0 "$spid" 2>/dev/null &&
		   python3 -c "
import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(b'ping',('127.0.0.1',$port)); d,_=s.recvfrom(64); sys.exit(d!=b'ping')" >>"$out" 2>&1; then
			rc=0
		else
			rc=1
		fi
		kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
		(exit $rc) ;;
	*)
		(cd "$d" && "${env[@]}" timeout "$TIMEOUT" "$bin") >"$out" 2>&1 ;;
	esac
	rc=$?
	rm -rf "$d"
	case $rc in
	0) echo pass ;;
	77) echo skip ;;
	124) echo timeout ;;
	*) echo fail ;;
	esac
}

all=("${tests[@]}")
for n in "${examples[@]}"; do all+=("ex-$n"); done
# COMPAT_ONLY="name ...": just those (while working on the facade).
if [ -n "${COMPAT_ONLY:-}" ]; then
	# shellcheck disable=SC2206
	all=($COMPAT_ONLY)
fi
# One program at a time: liburing's tests use fixed ports and paths.
declare -A lib fac
for kind in liburing facade; do
	echo "check-compat: running ${#all[@]} programs against $kind"
	for n in "${all[@]}"; do
		run_prog "$kind" "$n" >"$WORK/$kind/$n.result"
	done
done
for n in "${all[@]}"; do
	lib[$n]=$(cat "$WORK/liburing/$n.result")
	fac[$n]=$(cat "$WORK/facade/$n.result")
done

# ---- 5. the table ------------------------------------------------------
# A program whose facade result differs from liburing's is one of:
#  unsupported  the facade said it refused something it leaves out
#               (SAFERRING_URING_WARN: an opcode, a flag, a registration,
#               a kind of descriptor, ...), or the program makes io_uring
#               system calls itself, around the library: it does not use
#               only supported operations, and the reason is printed;
#               A program that skips itself on the facade (exit 77: a
#               feature flag or probe said no) counts here too, with the
#               last line it printed;
#  n/a          it does not build against Debian's liburing, or fails
#               there, so there is no result to match;
#  listed       tests/compat/expected.txt gives the facade's result and
#               why it differs;
#  FAIL         anything else: a bug in the facade or the daemon.
declare -A want why
if [ -f "$EXPECTED" ]; then
	while read -r n w r; do
		case $n in ''|\#*) continue ;; esac
		want[$n]=$w; why[$n]=$r
	done <"$EXPECTED"
fi
# The facade names opcodes by number: "IORING_OP 21" -> IORING_OP_STATX.
opnames=$WORK/opnames.sed
sed -n '/^enum io_uring_op {/,/^};/p' "$src/src/include/liburing/io_uring.h" |
	grep -o 'IORING_OP_[A-Z0-9_]*' | grep -v IORING_OP_LAST |
	awk '{ printf "s/IORING_OP %d\\b/%s/g\n", NR - 1, $1 }' >"$opnames"
unsupported_reason() { # NAME: why, or nothing
	local n=$1 f
	f=$(grep -o 'saferring-uring: not supported: .*' "$WORK/facade/$n.out" 2>/dev/null |
		sed 's/^saferring-uring: not supported: //; s/descriptor [0-9]* (/descriptor (/; s/ ([A-Z][a-z][^()]*)$//' |
		sed -f "$opnames" |
		sort | uniq -c | sort -rn | head -n 3 | sed 's/^ *[0-9]* //' |
		paste -sd ';' | sed 's/;/; /g')
	if [ -n "$f" ]; then
		echo "uses what saferring leaves out: $f"
		return
	fi
	f=$src/test/$n.c; [ -f "$f" ] || f=$src/test/$n.cc
	if [ -f "$f" ] && grep -q '__sys_io_uring_\(setup\|enter\|register\)\|__NR_io_uring_\|sys_io_uring_setup' "$f"; then
		echo "makes io_uring system calls itself, around the library"
	fi
}
printf '\n%-28s %-9s %-12s %s\n' PROGRAM LIBURING FACADE "WHY THEY DIFFER"
np=0 ns=0 nl=0 nu=0 nn=0 bad=0
bad_list=""
for n in "${all[@]}"; do
	l=${lib[$n]} f=${fac[$n]}
	reason="" shown=$f
	if [ -n "${want[$n]:-}" ]; then
		reason=${why[$n]}
		if [ "$f" = "${want[$n]}" ]; then
			nl=$((nl + 1)); shown="$f (listed)"
		else
			reason="$reason <-- expected ${want[$n]}"
			bad=$((bad + 1)); bad_list="$bad_list $n"
		fi
	elif [ "$f" = "$l" ]; then
		case $f in
		pass) np=$((np + 1)) ;;
		skip) ns=$((ns + 1)); reason="skips on liburing too" ;;
		*) nn=$((nn + 1)); shown="n/a"
		   reason="$l on this kernel with liburing itself: nothing to match" ;;
		esac
	elif [ "$l" = fail ] || [ "$l" = timeout ]; then
		nn=$((nn + 1)); shown="n/a"
		reason="$l on this kernel with liburing itself ($f on the facade): nothing to match"
	elif [ "$l" = nobuild ]; then
		nn=$((nn + 1)); shown="n/a"
		reason="does not build against Debian's liburing ($(grep -o "undefined reference to .[a-z_]*" \
			"$WORK/liburing/bin/$n.build" | sort -u | sed 's/undefined reference to .//' | paste -sd ' '))"
	else
		reason=$(unsupported_reason "$n")
		if [ -z "$reason" ] && [ "$f" = skip ]; then
			# The program's own verdict: a feature it looked for
			# (a setup feature flag, a probe) is not there.
			reason="the program skips itself on the facade: \"$(grep -v '^saferring-uring:' \
				"$WORK/facade/$n.out" | tail -n 1)\""
		fi
		if [ -n "$reason" ]; then
			nu=$((nu + 1)); shown="unsupported"
		else
			reason="<-- a facade bug: liburing says $l"
			bad=$((bad + 1)); bad_list="$bad_list $n"
		fi
	fi
	printf '%-28s %-9s %-12s %s\n' "$n" "$l" "$shown" "$reason"
done
echo
echo "liburing programs on the facade: ${#all[@]} run: $np pass as on liburing, $ns skip as on liburing,"
echo "  $nl differ as tests/compat/expected.txt says, $nu use operations saferring leaves out (each"
echo "  reason above), $nn have no liburing result to match, $bad FAIL"
for n in $bad_list; do
	echo "---- $n: facade output (liburing: ${lib[$n]}, facade: ${fac[$n]})"
	tail -n 15 "$WORK/facade/$n.out"
done
# The closing line counts the facade's own tests and the comparisons.
echo "compat: $((own_pass + np)) passed, $((own_fail + bad)) failed, $((own_skip + ns + nl + nu + nn)) skipped"
[ $own_fail -eq 0 ] && [ $bad -eq 0 ]
