#!/bin/sh
# SPDX-License-Identifier: MIT
#
# run-matrix.sh - run saferring-bench's standard matrix with every backend
# side by side, saferring in each of its modes (v2 rings with the inline
# attempt, v2 without it, v1 over the socket), plus a contended cell (a
# CPU hog on one vCPU), an idle cell (the daemon's CPU with 16 sessions
# doing nothing) and the codec micro-benchmark; then write
# bench/results/latest.jsonl (every run), latest.md (issue 11's targets
# with the figures reached, then every cell), latest.dat + latest.png
# (gnuplot chart), and print latest.md.
#
# Run by `make bench` (which builds first); by hand:
#   B=build bench/run-matrix.sh
# Knobs (environment, or make variables: make bench BENCH_SECONDS=1):
#   BENCH_SECONDS        measured seconds per run (3)
#   BENCH_REPS           runs per cell and backend, interleaved; the
#                        tables show the median and the spread (3)
#   BENCH_WARMUP         unmeasured seconds before each run (0.5)
#   BENCH_FILE           test file (/var/tmp/saferring-bench.dat; O_DIRECT
#                        cells are skipped, saying why, when its file
#                        system cannot do O_DIRECT on a real disk)
#   BENCH_SIZE           part of the file used (1g)
#   BENCH_BACKENDS       "raw pread threads saferring"
#   BENCH_SR_MODES       saferring modes, "v2 v2-noinline v1"; also
#                        v1-inline (socket with the inline attempt)
#   BENCH_IDLE_SECONDS   the idle cell's window (10)
#   BENCH_IDLE_SESSIONS  its sessions (16)
#   BENCH_HOG_CPU        the vCPU the contended cell's hog holds (the last)
#   BENCH_CODEC_SECONDS  codec-bench --seconds, per figure (0.5)
#   SAFERRING_SOCKET     use that daemon instead of private ones
#   SAFERRING_SPIN_US    passed to libsaferring and the private daemons
# Must never leave a daemon or the hog behind (saferring-bench stops its
# own daemons; the hog is killed on every exit path and also stops by
# itself once this script is gone) and never fail silently: a run that
# fails is reported in the table.
set -eu

B=${B:-build}
BENCH=${BENCH:-$B/bin/saferring-bench}
CODEC_BENCH=${CODEC_BENCH:-$B/bin/codec-bench}
SECS=${BENCH_SECONDS:-3}
REPS=${BENCH_REPS:-3}
WARM=${BENCH_WARMUP:-0.5}
FILE=${BENCH_FILE:-/var/tmp/saferring-bench.dat}
SIZE=${BENCH_SIZE:-1g}
BACKENDS=${BENCH_BACKENDS:-raw pread threads saferring}
MODES=${BENCH_SR_MODES:-v2 v2-noinline v1}
IDLE_SECS=${BENCH_IDLE_SECONDS:-10}
IDLE_SESSIONS=${BENCH_IDLE_SESSIONS:-16}
HOG_CPU=${BENCH_HOG_CPU:-$(($(nproc) - 1))}
CODEC_SECS=${BENCH_CODEC_SECONDS:-0.5}
OUT=bench/results
J=$OUT/latest.jsonl
MD=$OUT/latest.md
DAT=$OUT/latest.dat

[ -x "$BENCH" ] || { echo "run-matrix: $BENCH not built (make bench)" >&2; exit 1; }
case $REPS in
'' | *[!0-9]* | 0) echo "run-matrix: BENCH_REPS must be a count" >&2; exit 2 ;;
esac

# The environment that puts libsaferring (and so the private daemon,
# which takes SAFERRING_SPIN_US too) in each mode.  Said explicitly, so
# that a SAFERRING_INLINE=0 left in the caller's environment cannot turn
# the default mode into another.
mode_env() {
	case $1 in
	sr-v2) echo "SAFERRING_TRANSPORT=rings SAFERRING_INLINE=1" ;;
	sr-v2-noinline) echo "SAFERRING_TRANSPORT=rings SAFERRING_INLINE=0" ;;
	sr-v1) echo "SAFERRING_TRANSPORT=socket SAFERRING_INLINE=0" ;;
	sr-v1-inline) echo "SAFERRING_TRANSPORT=socket SAFERRING_INLINE=1" ;;
	sr-*) return 1 ;;
	*) echo "" ;;
	esac
}

# Backend keys: each backend, saferring once per mode.
KEYS=
SR_KEYS=
for be in $BACKENDS; do
	if [ "$be" = saferring ]; then
		for m in $MODES; do
			mode_env "sr-$m" >/dev/null ||
				{ echo "run-matrix: unknown saferring mode $m" >&2; exit 2; }
			SR_KEYS="$SR_KEYS sr-$m"
		done
		KEYS="$KEYS$SR_KEYS"
	else
		KEYS="$KEYS $be"
	fi
done

mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/run-matrix.XXXXXX)
HOG=

# The hog: a shell loop pinned to one vCPU.  It checks every so often
# that this script is still there, so even a SIGKILL of the script
# cannot leave it spinning.
hog_start() {
	# shellcheck disable=SC2016  # expanded by the hog's shell
	taskset -c "$HOG_CPU" sh -c 'n=0
		while :; do
			n=$((n + 1))
			[ "$n" -lt 100000 ] && continue
			kill -0 "$1" 2>/dev/null || exit 0
			n=0
		done' hog $$ &
	HOG=$!
	sleep 0.2
	kill -0 "$HOG" 2>/dev/null
}

hog_stop() {
	if [ -n "$HOG" ]; then
		kill "$HOG" 2>/dev/null || :
		wait "$HOG" 2>/dev/null || :
		HOG=
	fi
}

cleanup() {
	hog_stop
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'cleanup; trap - EXIT; exit 129' HUP
trap 'cleanup; trap - EXIT; exit 130' INT
trap 'cleanup; trap - EXIT; exit 143' TERM

: > "$TMP/jsonl"
nrun=0

# A line for a run that did not happen; reasons must hold no " or ,
skipped() {
	printf '{"key":"%s","rep":%s,"label":"%s","skipped":"%s"}\n' \
		"$2" "$3" "$1" "$(printf '%s' "$4" | tr -d '",')" >> "$TMP/jsonl"
}

# run LABEL KEY REP OPTION...: one saferring-bench run, its JSON line
# tagged with the backend key and the repetition.
run() {
	label=$1 key=$2 rep=$3
	shift 3
	case $key in
	sr-*) be=saferring ;;
	*) be=$key ;;
	esac
	nrun=$((nrun + 1))
	printf 'run-matrix: %4ss  %-36s %-15s #%s\n' \
		"$(($(date +%s) - start))" "$label" "$key" "$rep" >&2
	# shellcheck disable=SC2046  # mode_env is a list of assignments
	if env $(mode_env "$key") "$BENCH" --json --seconds "$SECS" \
		--warmup "$WARM" --file "$FILE" --size "$SIZE" \
		--label "$label" --backend "$be" "$@" > "$TMP/out" &&
		[ -s "$TMP/out" ]; then
		sed "s/^{/{\"key\":\"$key\",\"rep\":$rep,/" "$TMP/out" >> "$TMP/jsonl"
	else
		echo "run-matrix: failed: $label $key: $*" >&2
		skipped "$label" "$key" "$rep" "run failed"
	fi
}

# Why O_DIRECT cells cannot run here, or nothing.  saferring-bench
# refuses tmpfs and ramfs itself (O_DIRECT there measures no disk); this
# says so in the table rather than as failed runs, and also catches a
# file system that refuses O_DIRECT.
direct_probe() {
	[ -f "$FILE" ] || { echo "no test file $FILE"; return; }
	fs=$(stat -f -c %T "$FILE" 2>/dev/null || echo unknown)
	case $fs in
	tmpfs | ramfs) echo "$FILE is on $fs: no disk under O_DIRECT"; return ;;
	esac
	dd if="$FILE" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null ||
		echo "O_DIRECT reads of $FILE fail ($fs)"
}

# cell LABEL KEYS OPTION...: REPS rounds, each backend once per round,
# so that a slow patch of a noisy machine hits every backend alike; every
# other round in reverse order, so that none always runs first.
cell() {
	label=$1 keys=$2
	shift 2
	why=
	case " $* " in *" --direct "*) why=$(direct_probe) ;; esac
	rkeys=
	for k in $keys; do rkeys="$k $rkeys"; done
	r=1
	while [ "$r" -le "$REPS" ]; do
		if [ $((r % 2)) = 1 ]; then order=$keys; else order=$rkeys; fi
		for k in $order; do
			if [ -n "$why" ]; then
				skipped "$label" "$k" "$r" "$why"
			else
				run "$label" "$k" "$r" "$@"
			fi
		done
		r=$((r + 1))
	done
}

# Keys whose operations all reach the daemon (no inline attempt).
daemon_keys=
for k in $SR_KEYS; do
	case $k in *-noinline | sr-v1) daemon_keys="$daemon_keys $k" ;; esac
done

start=$(date +%s)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "run-matrix: ${SECS}s per run, $REPS runs per cell; backends:$KEYS" >&2

# The bare round trip under any daemon round trip, and QD1 through the
# daemon against it, both processes pinned (unpinned, wake-ups jump
# between same-vCPU and cross-vCPU).  Context, not a target: one run.
run "unix pingpong 64B" unix 1 --workload pingpong --bs 64
for pin in cross same; do
	run "pingpong pinned $pin" unix 1 --workload pingpong --bs 64 --pin $pin
	for k in $daemon_keys; do
		run "QD1 pinned $pin" "$k" 1 --workload randread --bs 4k --qd 1 \
			--pin $pin
	done
done

cell "4k randread cache QD1" "$KEYS" --workload randread --bs 4k --qd 1
cell "4k randread cache QD32" "$KEYS" --workload randread --bs 4k --qd 32
cell "4k randread cache QD128" "$KEYS" --workload randread --bs 4k --qd 128
cell "128k seqread cache QD16" "$KEYS" --workload seqread --bs 128k --qd 16
cell "4k randread O_DIRECT QD1" "$KEYS" --workload randread --bs 4k --qd 1 --direct
cell "4k randread O_DIRECT QD32" "$KEYS" --workload randread --bs 4k --qd 32 --direct
cell "4k randread O_DIRECT QD128" "$KEYS" --workload randread --bs 4k --qd 128 --direct
cell "4k randwrite+fdatasync/32 QD32" "$KEYS" --workload randwrite --bs 4k --qd 32
cell "echo 4k 64 conns" "$KEYS" --workload echo --bs 4k --connections 64

# Contended: the QD128 cell again while a hog holds one vCPU.
CONTENDED="4k randread cache QD128 + CPU hog"
ckeys=
for k in $KEYS; do
	case $k in raw | sr-*) ckeys="$ckeys $k" ;; esac
done
if ! command -v taskset >/dev/null 2>&1; then
	for k in $ckeys; do skipped "$CONTENDED" "$k" 1 "no taskset to pin the hog"; done
elif hog_start; then
	echo "run-matrix: CPU hog $HOG on vCPU $HOG_CPU" >&2
	cell "$CONTENDED" "$ckeys" --workload randread --bs 4k --qd 128
	hog_stop
else
	HOG=
	for k in $ckeys; do skipped "$CONTENDED" "$k" 1 "the hog did not start"; done
fi

# Idle: sessions that did one NOP each, then nothing; the daemon's
# utime+stime over the window.  Inline or not makes no difference to a
# session that does nothing, so one v2 and one v1 run.
IDLE="idle $IDLE_SESSIONS sessions"
for k in $SR_KEYS; do
	case $k in
	sr-v2 | sr-v1)
		run "$IDLE" "$k" 1 --workload idle --connections "$IDLE_SESSIONS" \
			--seconds "$IDLE_SECS" --warmup 1 ;;
	esac
done

# The codec micro-benchmark, its table kept and turned into JSON lines.
if [ -x "$CODEC_BENCH" ]; then
	echo "run-matrix: codec-bench --seconds $CODEC_SECS" >&2
	if "$CODEC_BENCH" --seconds "$CODEC_SECS" > "$TMP/codec.txt"; then
		awk 'NR > 2 && NF == 6 && $3 ~ /^[0-9.]+$/ {
			printf "{\"key\":\"codec\",\"form\":\"%s\",\"load\":\"%s\",\"bytes_per_op\":%s,\"pack_ns\":%s,\"unpack_ns\":%s,\"decode_ns\":%s}\n", $1, $2, $3, $4, $5, $6
		}' "$TMP/codec.txt" >> "$TMP/jsonl"
	else
		echo "run-matrix: codec-bench failed" >&2
		echo "codec-bench failed" >> "$TMP/codec.txt"
	fi
else
	echo "codec-bench not built ($CODEC_BENCH)" > "$TMP/codec.txt"
fi

mv "$TMP/jsonl" "$J"
elapsed=$(($(date +%s) - start))
load1=$(cut -d' ' -f1-3 /proc/loadavg)

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
{
	echo "# saferring-bench: latest results"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), kernel $(uname -r), $(nproc) vCPUs ($cpu),"
	echo "file $FILE ($(df -T "$(dirname "$FILE")" | awk 'NR==2 {print $2 " on " $1}')),"
	echo "${SECS} s per run after ${WARM} s warm-up; each cell ran every backend"
	echo "$REPS time(s), interleaved, and figures are medians; $nrun runs in ${elapsed} s."
	echo "Load average before: $load0; after: $load1 (the matrix itself adds about 2)."
	echo "Reproduce: \`make bench\` (every run: latest.jsonl)."
	echo
	echo "Backends: \`raw\` io_uring in the benchmark process (fixed files and"
	echo "buffers), \`pread\` one thread of pread (echo: a poll loop), \`threads\` a"
	echo "pool of pread threads; saferring through a private saferringd per run:"
	echo "\`sr-v2\` default (shared-memory rings, inline attempt on), \`sr-v2-noinline\`"
	echo "(SAFERRING_INLINE=0: every operation through the daemon), \`sr-v1\` (the"
	echo "socket, protocol v1: SAFERRING_TRANSPORT=socket SAFERRING_INLINE=0)."
	echo "SAFERRING_SPIN_US: ${SAFERRING_SPIN_US:-unset (50)}."
	echo
} > "$MD"

awk -v dat="$DAT" -v keys="$KEYS" -v reps="$REPS" -v contended="$CONTENDED" \
	-v idle="$IDLE" -v idle_secs="$IDLE_SECS" -v hog_cpu="$HOG_CPU" \
	-f bench/report.awk "$J" >> "$MD"

{
	echo
	echo "## codec-bench"
	echo
	echo '```'
	cat "$TMP/codec.txt"
	echo '```'
} >> "$MD"

if command -v gnuplot >/dev/null 2>&1; then
	# shellcheck disable=SC2086  # KEYS is a list
	set -- $KEYS
	gnuplot -e "datafile='$DAT'; outfile='$OUT/latest.png'; nkeys=$#; keys='$KEYS'" \
		bench/plot.gp || echo "run-matrix: gnuplot failed; no chart" >&2
else
	echo "run-matrix: gnuplot not installed; no chart (make bench installs it)" >&2
fi
cat "$MD"
echo "run-matrix: wrote $MD, $J, $OUT/latest.png in ${elapsed}s" >&2
