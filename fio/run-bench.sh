#!/bin/sh
# SPDX-License-Identifier: MIT
#
# run-bench.sh - make bench-fio: the same cells as saferring-bench's
# standard matrix (4k randread from the page cache and O_DIRECT at QD 1,
# 32 and 128; 128k seqread at QD16), each run by fio with its io_uring
# engine (plain, and --fixedbufs --registerfiles), libaio, psync and the
# saferring engine (libsaferring-fio.so through a private saferringd),
# and by saferring-bench's raw and sr-v2 backends in the same rounds, so
# that the ratio saferring reaches to io_uring under fio can be set
# beside the one it reaches under saferring-bench on the same machine at
# the same moment.  Writes bench/results/fio.md (the tables) and
# bench/results/fio.jsonl (every run) and prints fio.md.
#
# Run by `make bench-fio` (which builds first).  Knobs (environment, or
# make variables: make bench-fio FIO_RUNTIME=1 FIO_REPS=1):
#   FIO_RUNTIME     measured seconds per run (2)
#   FIO_RAMP        unmeasured seconds before (0.5)
#   FIO_REPS        runs per cell and engine, interleaved; the tables
#                   show medians and the spread (3)
#   FIO_BATCH       iodepth_batch_submit of the async engines: qd (the
#                   cell's depth: one submit per reap, as saferring-bench
#                   does) or a count (clamped to the depth)
#   FIO_FILE        test file (/var/tmp/saferring-bench.dat, as make
#                   bench; O_DIRECT cells are skipped, saying why, where
#                   its file system cannot do O_DIRECT on a disk)
#   FIO_SIZE        part of the file used (1g)
#   FIO_ENGINES     "io_uring io_uring-fixed libaio psync saferring"
#   FIO_SR_MODES    saferring engine modes: v2 (defaults), v2-noinline,
#                   v1 (socket); "v2" by default
#   FIO_WITH_BENCH  1: run saferring-bench's raw and sr-v2 in the same
#                   rounds (default); 0: take its ratios from
#                   bench/results/latest.jsonl, another run
#   SAFERRING_SPIN_US  passed to libsaferring and the private daemons
# About 8 minutes with the defaults.
#
# Must never leave a daemon behind (each saferring run has its own,
# stopped on every way out), never pass off one engine's figures as
# another's, and never fail silently: a run that fails is a row saying
# so.
set -eu

B=${B:-build}
SAFERRINGD=${SAFERRINGD:-$B/sbin/saferringd}
FIO_ENGINE=${FIO_ENGINE:-$B/lib/libsaferring-fio.so}
BENCH=${BENCH:-$B/bin/saferring-bench}
RT=${FIO_RUNTIME:-2}
RAMP=${FIO_RAMP:-0.5}
REPS=${FIO_REPS:-3}
BATCH=${FIO_BATCH:-qd}
FILE=${FIO_FILE:-/var/tmp/saferring-bench.dat}
SIZE=${FIO_SIZE:-1g}
ENGINES=${FIO_ENGINES:-io_uring io_uring-fixed libaio psync saferring}
MODES=${FIO_SR_MODES:-v2}
WITH_BENCH=${FIO_WITH_BENCH:-1}
OUT=bench/results
MD=$OUT/fio.md
J=$OUT/fio.jsonl
HERE=$(dirname "$0")

# shellcheck source=fio/daemon.sh
. "$HERE/daemon.sh"

die() {
	echo "run-bench: $*" >&2
	exit 1
}

command -v fio >/dev/null 2>&1 || die "fio is not installed (make bench-fio installs it)"
command -v jq >/dev/null 2>&1 || die "jq is not installed (make bench-fio installs it)"
[ -f "$FIO_ENGINE" ] || die "no $FIO_ENGINE (make fio-engine)"
case $FIO_ENGINE in /*) ;; *) FIO_ENGINE=$PWD/$FIO_ENGINE ;; esac
case $REPS in '' | *[!0-9]* | 0) die "FIO_REPS must be a count" ;; esac
case $BATCH in qd) ;; '' | *[!0-9]* | 0) die "FIO_BATCH must be qd or a count" ;; esac
if [ "$WITH_BENCH" = 1 ] && [ ! -x "$BENCH" ]; then
	die "no $BENCH (make $BENCH), or FIO_WITH_BENCH=0"
fi
RT_MS=$(awk -v s="$RT" 'BEGIN { printf "%d", s * 1000 }')
RAMP_MS=$(awk -v s="$RAMP" 'BEGIN { printf "%d", s * 1000 }')
[ "$RT_MS" -gt 0 ] || die "FIO_RUNTIME must be more than 0"
SIZE_BYTES=$(echo "$SIZE" | tr '[:lower:]' '[:upper:]' | numfmt --from=iec) ||
	die "FIO_SIZE: not a size: $SIZE"
HZ=$(getconf CLK_TCK)

# The environment that puts libsaferring in each mode, as run-matrix.sh
# says it: explicitly, so that a SAFERRING_INLINE=0 left in the caller's
# environment cannot turn the default mode into another.
mode_env() {
	case $1 in
	sr-v2 | bench-sr-v2) echo "SAFERRING_TRANSPORT=rings SAFERRING_INLINE=1" ;;
	sr-v2-noinline) echo "SAFERRING_TRANSPORT=rings SAFERRING_INLINE=0" ;;
	sr-v1) echo "SAFERRING_TRANSPORT=socket SAFERRING_INLINE=0" ;;
	sr-*) return 1 ;;
	*) echo "" ;;
	esac
}

KEYS=
for e in $ENGINES; do
	case $e in
	saferring)
		for m in $MODES; do
			mode_env "sr-$m" >/dev/null || die "unknown saferring mode $m"
			KEYS="$KEYS sr-$m"
		done ;;
	io_uring | io_uring-fixed | libaio | psync) KEYS="$KEYS $e" ;;
	*) die "unknown engine $e" ;;
	esac
done
[ "$WITH_BENCH" = 1 ] && KEYS="$KEYS bench-raw bench-sr-v2"

mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/run-bench-fio.XXXXXX)
cleanup() {
	sr_daemon_stop
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
: > "$TMP/jsonl"
nrun=0
start=$(date +%s)

# A line for a run that gave no figures.
skipped() {
	jq -nc --arg cell "$1" --arg key "$2" --argjson rep "$3" --arg why "$4" \
		'{cell: $cell, key: $key, rep: $rep, skipped: $why}' >> "$TMP/jsonl"
}

# fio's options for engine key $1 at depth $2.
engine_opts() {
	b=$2
	[ "$BATCH" = qd ] || b=$((BATCH < $2 ? BATCH : $2))
	# Batched submit and complete: queue up to the depth, one submit
	# per reap, reap whatever is there (at least one).
	async="--iodepth_batch_submit=$b --iodepth_batch_complete_min=1 --iodepth_batch_complete_max=$2"
	case $1 in
	io_uring) echo "--ioengine=io_uring $async" ;;
	io_uring-fixed) echo "--ioengine=io_uring --fixedbufs --registerfiles $async" ;;
	libaio) echo "--ioengine=libaio $async" ;;
	psync) echo "--ioengine=psync" ;;
	sr-*) echo "--ioengine=external:$FIO_ENGINE --sr_socket=$SR_SOCK $async" ;;
	esac
}

# run_fio LABEL KEY REP QD OPTION...: one fio job, its figures as a line.
run_fio() {
	label=$1 key=$2 rep=$3 qd=$4
	shift 4
	t0=
	if [ "${key#sr-}" != "$key" ]; then
		if ! sr_daemon_start; then
			skipped "$label" "$key" "$rep" "saferringd did not start"
			return
		fi
		t0=$(sr_daemon_ticks)
	fi
	# shellcheck disable=SC2046  # option and assignment lists
	if env $(mode_env "$key") fio --output-format=json --output="$TMP/out.json" \
		--name=bench --filename="$FILE" --size="$SIZE" \
		--runtime="${RT_MS}ms" --ramp_time="${RAMP_MS}ms" --time_based \
		--norandommap --randrepeat=0 --lat_percentiles=1 --iodepth="$qd" \
		$(engine_opts "$key" "$qd") "$@" 2> "$TMP/err" &&
		jq -e '.jobs[0].error == 0' "$TMP/out.json" >/dev/null 2>&1; then
		dcpu=null
		if [ -n "$t0" ]; then
			t1=$(sr_daemon_ticks)
			dcpu=$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" -v s="$RT" -v r="$RAMP" \
				'BEGIN { printf "%.3f", 100 * (b - a) / hz / (s + r) }')
		fi
		jq -c --arg cell "$label" --arg key "$key" --argjson rep "$rep" \
			--argjson dcpu "$dcpu" '.jobs[0] as $j
			| ($j.read.lat_ns.percentile // {}) as $p
			| {cell: $cell, key: $key, rep: $rep, engine: $j["job options"].ioengine,
			   iops: $j.read.iops, gbps: ($j.read.bw_bytes / 1e9),
			   p50_us: (($p["50.000000"] // null) | if . then . / 1000 else null end),
			   p99_us: (($p["99.000000"] // null) | if . then . / 1000 else null end),
			   client_cpu_pct: ($j.usr_cpu + $j.sys_cpu), daemon_cpu_pct: $dcpu}' \
			"$TMP/out.json" >> "$TMP/jsonl"
	else
		why=$(grep -m1 -i 'error\|fail\|saferring:' "$TMP/err" 2>/dev/null ||
			jq -r '"job error \(.jobs[0].error)"' "$TMP/out.json" 2>/dev/null ||
			echo "fio failed")
		echo "run-bench: failed: $label $key: $why" >&2
		skipped "$label" "$key" "$rep" "$why"
	fi
	[ -n "$t0" ] && sr_daemon_stop
	return 0
}

# run_bench LABEL KEY REP OPTION...: the same cell by saferring-bench
# (its own private daemon), as run-matrix.sh runs it.
run_bench() {
	label=$1 key=$2 rep=$3
	shift 3
	case $key in bench-raw) be=raw ;; *) be=saferring ;; esac
	# shellcheck disable=SC2046
	if env $(mode_env "$key") "$BENCH" --json --seconds "$RT" --warmup "$RAMP" \
		--file "$FILE" --size "$SIZE" --label "$label" --backend "$be" "$@" \
		> "$TMP/out.json" 2> "$TMP/err" && [ -s "$TMP/out.json" ]; then
		jq -c --arg key "$key" --argjson rep "$rep" \
			'{cell: .["label"], key: $key, rep: $rep, engine: .backend,
			  iops: .iops, gbps: .gbps, p50_us: .p50_us, p99_us: .p99_us,
			  client_cpu_pct: .client_cpu_pct,
			  daemon_cpu_pct: (.daemon_cpu_pct // null)}' \
			"$TMP/out.json" >> "$TMP/jsonl"
	else
		why=$(head -n 1 "$TMP/err" 2>/dev/null)
		echo "run-bench: failed: $label $key: ${why:-saferring-bench failed}" >&2
		skipped "$label" "$key" "$rep" "${why:-saferring-bench failed}"
	fi
}

# Why O_DIRECT cells cannot run here, or nothing (as run-matrix.sh).
direct_probe() {
	fs=$(stat -f -c %T "$FILE" 2>/dev/null || echo unknown)
	case $fs in
	tmpfs | ramfs) echo "$FILE is on $fs: no disk under O_DIRECT"; return ;;
	esac
	dd if="$FILE" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null ||
		echo "O_DIRECT reads of $FILE fail ($fs)"
}

# cell LABEL QD BENCH-OPTIONS FIO-OPTION...: REPS rounds of every key,
# every other round in reverse order, so that a slow patch of a noisy
# machine hits them alike and none always runs first.
CELLS=
cell() {
	label=$1 qd=$2 bopts=$3
	shift 3
	CELLS="$CELLS$label
"
	why=
	case " $* " in
	*" --direct=1 "*) why=$(direct_probe) ;;
	*) # The page cache holds the file: read it once, as
	   # saferring-bench does before its cache cells.
	   head -c "$SIZE_BYTES" "$FILE" > /dev/null ;;
	esac
	rkeys=
	for k in $KEYS; do rkeys="$k $rkeys"; done
	r=1
	while [ "$r" -le "$REPS" ]; do
		if [ $((r % 2)) = 1 ]; then order=$KEYS; else order=$rkeys; fi
		for k in $order; do
			nrun=$((nrun + 1))
			printf 'run-bench: %4ss  %-28s %-15s #%s\n' \
				"$(($(date +%s) - start))" "$label" "$k" "$r" >&2
			if [ -n "$why" ]; then
				skipped "$label" "$k" "$r" "$why"
			elif [ "${k#bench-}" != "$k" ]; then
				# shellcheck disable=SC2086  # an option list
				run_bench "$label" "$k" "$r" $bopts
			else
				run_fio "$label" "$k" "$r" "$qd" "$@"
			fi
		done
		r=$((r + 1))
	done
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "run-bench: ${RT}s per run after ${RAMP}s ramp, $REPS rounds;$KEYS" >&2

# The test file: fio lays it out when it is missing or short.
mkdir -p "$(dirname "$FILE")"
fio --name=layout --filename="$FILE" --size="$SIZE" --rw=read --bs=1m \
	--ioengine=psync --number_ios=1 --output=/dev/null ||
	die "cannot lay out $FILE"

CACHE="--invalidate=0"
cell "4k randread cache QD1" 1 "--workload randread --bs 4k --qd 1" \
	--rw=randread --bs=4k $CACHE
cell "4k randread cache QD32" 32 "--workload randread --bs 4k --qd 32" \
	--rw=randread --bs=4k $CACHE
cell "4k randread cache QD128" 128 "--workload randread --bs 4k --qd 128" \
	--rw=randread --bs=4k $CACHE
cell "128k seqread cache QD16" 16 "--workload seqread --bs 128k --qd 16" \
	--rw=read --bs=128k $CACHE
cell "4k randread O_DIRECT QD1" 1 "--workload randread --bs 4k --qd 1 --direct" \
	--rw=randread --bs=4k --direct=1
cell "4k randread O_DIRECT QD32" 32 "--workload randread --bs 4k --qd 32 --direct" \
	--rw=randread --bs=4k --direct=1
cell "4k randread O_DIRECT QD128" 128 "--workload randread --bs 4k --qd 128 --direct" \
	--rw=randread --bs=4k --direct=1

elapsed=$(($(date +%s) - start))
load1=$(cut -d' ' -f1-3 /proc/loadavg)
mv "$TMP/jsonl" "$J"

REF=$OUT/latest.jsonl
[ -f "$REF" ] || REF=/dev/null
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
{
	echo "# fio: the saferring engine against fio's own"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(fio --version), kernel $(uname -r),"
	echo "$(nproc) vCPUs ($cpu), file $FILE ($(stat -f -c %T "$FILE")),"
	echo "${RT} s per run after a ${RAMP} s ramp; each cell ran every engine $REPS"
	echo "time(s), interleaved, and figures are medians; $nrun runs in ${elapsed} s."
	echo "Load average before: $load0; after: $load1."
	echo "Reproduce: \`make bench-fio\` (every run: fio.jsonl)."
	echo
	echo "Engines: fio's \`io_uring\`, \`io_uring-fixed\` (the same with"
	echo "\`--fixedbufs --registerfiles\`), \`libaio\`, \`psync\` (synchronous:"
	echo "one read at a time whatever the cell's QD), and \`sr-v2\` the saferring"
	echo "engine (\`--ioengine=external:libsaferring-fio.so\`, shared-memory"
	echo "rings and the inline attempt: the defaults) through a private"
	# shellcheck disable=SC2016  # Markdown backquotes
	echo "saferringd per run$(for m in $MODES; do [ "$m" = v2 ] || printf ', `sr-%s`' "$m"; done)."
	echo "The async engines batch: \`--iodepth_batch_submit=$([ "$BATCH" = qd ] && echo QD || echo "$BATCH")"
	echo "--iodepth_batch_complete_min=1 --iodepth_batch_complete_max=QD\`."
	if [ "$WITH_BENCH" = 1 ]; then
		echo "\`bench-raw\` and \`bench-sr-v2\` are saferring-bench's \`raw\`"
		echo "(in-process io_uring, fixed files and buffers) and \`sr-v2\` backends"
		echo "on the same cells in the same rounds."
	fi
	echo "Page-cache cells run with \`--invalidate=0\` after reading the file;"
	echo "every cell with \`--norandommap --randrepeat=0\`."
	echo "SAFERRING_SPIN_US: ${SAFERRING_SPIN_US:-unset (50)}."
	echo
	jq -rs --arg cells "$CELLS" --arg keys "$KEYS" --slurpfile ref "$REF" \
		-f "$HERE/report.jq" "$J"
} > "$TMP/md"
mv "$TMP/md" "$MD"
cat "$MD"
echo "run-bench: wrote $MD and $J in ${elapsed}s" >&2
