#!/bin/sh
# SPDX-License-Identifier: MIT
#
# run-backends.sh - libsaferring's three backends side by side (issue 13
# section 1): saferring-bench --backend saferring --sr-backend
# daemon|direct|threads against the benchmark's own raw io_uring and
# threads baselines, on the page-cache cells and the echo cell; every
# cell run BENCH_REPS times, interleaved; writes
# bench/results/backends.jsonl (every run) and backends.md (medians, and
# the two targets: direct >= 0.95 x raw, threads >= 0.9 x threads), and
# prints backends.md.
#
# Run by `make bench-backends` (which builds first).  Knobs as
# run-matrix.sh: BENCH_SECONDS (2), BENCH_REPS (3), BENCH_WARMUP (0.5),
# BENCH_FILE, BENCH_SIZE (256m).  Reported, never asserted; a run that
# fails is listed as such, never left out silently.
set -eu

B=${B:-build}
BENCH=${BENCH:-$B/bin/saferring-bench}
SECS=${BENCH_SECONDS:-2}
REPS=${BENCH_REPS:-3}
WARM=${BENCH_WARMUP:-0.5}
FILE=${BENCH_FILE:-/var/tmp/saferring-bench.dat}
SIZE=${BENCH_SIZE:-256m}
OUT=bench/results
J=$OUT/backends.jsonl
MD=$OUT/backends.md
KEYS="raw threads sr-daemon sr-direct sr-threads"

[ -x "$BENCH" ] || { echo "run-backends: $BENCH not built" >&2; exit 1; }
case $REPS in
'' | *[!0-9]* | 0) echo "run-backends: BENCH_REPS must be a count" >&2; exit 2 ;;
esac
mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/run-backends.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
: > "$TMP/jsonl"
start=$(date +%s)
load0=$(cut -d' ' -f1-3 /proc/loadavg)

# run LABEL KEY REP OPTION...
run() {
	label=$1 key=$2 rep=$3
	shift 3
	case $key in
	sr-*) set -- --backend saferring --sr-backend "${key#sr-}" "$@" ;;
	*) set -- --backend "$key" "$@" ;;
	esac
	printf 'run-backends: %4ss  %-26s %-11s #%s\n' \
		"$(($(date +%s) - start))" "$label" "$key" "$rep" >&2
	if SAFERRING_TRANSPORT=rings SAFERRING_INLINE=1 "$BENCH" --json \
		--seconds "$SECS" --warmup "$WARM" --file "$FILE" --size "$SIZE" \
		--label "$label" "$@" > "$TMP/out" && [ -s "$TMP/out" ]; then
		sed "s/^{/{\"key\":\"$key\",\"rep\":$rep,/" "$TMP/out" >> "$TMP/jsonl"
	else
		echo "run-backends: failed: $label $key" >&2
		printf '{"key":"%s","rep":%s,"label":"%s","skipped":"run failed"}\n' \
			"$key" "$rep" "$label" >> "$TMP/jsonl"
	fi
}

cell() {
	label=$1
	shift
	r=1
	while [ "$r" -le "$REPS" ]; do
		for k in $KEYS; do
			run "$label" "$k" "$r" "$@"
		done
		r=$((r + 1))
	done
}

cell "4k randread cache QD1" --workload randread --bs 4k --qd 1
cell "4k randread cache QD32" --workload randread --bs 4k --qd 32
cell "4k randread cache QD128" --workload randread --bs 4k --qd 128
cell "128k seqread cache QD16" --workload seqread --bs 128k --qd 16
cell "echo 4k 64 conns" --workload echo --bs 4k --connections 64
cp "$TMP/jsonl" "$J"

{
	echo "# libsaferring's backends side by side"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), kernel $(uname -r), $(nproc) vCPUs;"
	echo "${SECS} s per run after ${WARM} s warm-up, every cell $REPS times"
	echo "interleaved, medians; $(($(date +%s) - start)) s in all.  Load average"
	echo "before: $load0.  Reproduce: \`make bench-backends\` (every run:"
	echo "backends.jsonl).  \`raw\`: io_uring in the benchmark process (fixed"
	echo "files and buffers); \`threads\`: the benchmark's pool of pread threads;"
	echo "\`sr-*\`: libsaferring on that backend (rings, inline attempt on)."
	echo
	awk -v keys="$KEYS" '
	function field(line, name,   m) {
		if (match(line, "\"" name "\":\"[^\"]*\"")) {
			m = substr(line, RSTART, RLENGTH); sub(/^"[^"]*":"/, "", m)
			sub(/"$/, "", m); return m
		}
		if (match(line, "\"" name "\":[-0-9.e+]+")) {
			m = substr(line, RSTART, RLENGTH); sub(/^"[^"]*":/, "", m)
			return m
		}
		return ""
	}
	function med(k,   n, i, j, t, a) {
		n = N[k]; if (!n) return ""
		for (i = 1; i <= n; i++) a[i] = V[k, i] + 0
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{
		l = field($0, "label"); k = field($0, "key")
		if (!(l in seen)) { seen[l] = 1; order[++nc] = l }
		if (field($0, "skipped") != "") { FAILED[l, k]++; next }
		m = (field($0, "workload") == "seqread") ? field($0, "gbps") : field($0, "iops")
		lk = l SUBSEP k
		n = ++N[lk]; V[lk, n] = m
		N[lk SUBSEP "p50"] = n; V[lk SUBSEP "p50", n] = field($0, "p50_us")
		N[lk SUBSEP "cpu"] = n; V[lk SUBSEP "cpu", n] = field($0, "client_cpu_s_per_mop")
		U[l] = (field($0, "workload") == "seqread") ? "GB/s" : "IOPS"
		G[l SUBSEP k] = field($0, "sr_backend")
	}
	END {
		nk = split(keys, K, " ")
		print "## Targets (issue 13, section 1)"
		print ""
		print "| cell | direct / raw (>= 0.95) | threads backend / threads (>= 0.9) |"
		print "| --- | ---: | ---: |"
		for (c = 1; c <= nc; c++) {
			l = order[c]
			r = med(l SUBSEP "raw"); d = med(l SUBSEP "sr-direct")
			t = med(l SUBSEP "threads"); s = med(l SUBSEP "sr-threads")
			printf "| %s | %s | %s |\n", l,
				(r > 0 && d != "") ? sprintf("%.2f %s", d / r, (d / r >= 0.95) ? "yes" : "**no**") : "n/a",
				(t > 0 && s != "") ? sprintf("%.2f %s", s / t, (s / t >= 0.9) ? "yes" : "**no**") : "n/a"
		}
		print ""
		print "## Every cell"
		print ""
		print "| cell | backend | IOPS or GB/s | x raw | p50 us | client CPU s/Mop |"
		print "| --- | --- | ---: | ---: | ---: | ---: |"
		for (c = 1; c <= nc; c++) {
			l = order[c]; r = med(l SUBSEP "raw")
			for (i = 1; i <= nk; i++) {
				lk = l SUBSEP K[i]
				if (!N[lk]) { printf "| %s | %s | failed (%d runs) | | | |\n", l, K[i], FAILED[l, K[i]]; continue }
				m = med(lk)
				printf "| %s | %s | %s | %s | %.1f | %.2f |\n", l, K[i],
					(U[l] == "GB/s") ? sprintf("%.2f GB/s", m) : sprintf("%.0f", m),
					(r > 0) ? sprintf("%.2f", m / r) : "-", med(lk SUBSEP "p50"),
					med(lk SUBSEP "cpu")
			}
		}
		print ""
		print "(Every figure is the median of the runs; CPU is the benchmark"
		print "process'"'"'s, which for the in-process backends includes all their work.)"
	}' "$J"
} > "$MD"
cat "$MD"
echo "run-backends: wrote $MD and $J" >&2
