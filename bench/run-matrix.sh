#!/bin/sh
# SPDX-License-Identifier: MIT
#
# run-matrix.sh - run saferring-bench's standard matrix with every backend
# in one go, then write bench/results/latest.jsonl (raw results),
# latest.md (the table, with ratios to raw and to pread, and the issue's
# targets), latest.dat + latest.png (gnuplot chart), and print the table.
#
# Run by `make bench` (which builds first); by hand:
#   B=build bench/run-matrix.sh
# Knobs: BENCH_SECONDS (per cell, default 4), BENCH_WARMUP (0.5),
# BENCH_FILE (/var/tmp/saferring-bench.dat, must be on a real disk for
# O_DIRECT), BENCH_SIZE (1g), BENCH_BACKENDS ("raw pread threads
# saferring"), SAFERRING_SOCKET (use that daemon instead of private ones).
# Must never leave a daemon behind (saferring-bench stops its own) and
# never fail silently: a run that fails is reported in the table.
set -eu

B=${B:-build}
BENCH=${BENCH:-$B/bin/saferring-bench}
SECS=${BENCH_SECONDS:-4}
WARM=${BENCH_WARMUP:-0.5}
FILE=${BENCH_FILE:-/var/tmp/saferring-bench.dat}
SIZE=${BENCH_SIZE:-1g}
BACKENDS=${BENCH_BACKENDS:-raw pread threads saferring}
OUT=bench/results
J=$OUT/latest.jsonl
MD=$OUT/latest.md
DAT=$OUT/latest.dat

[ -x "$BENCH" ] || { echo "run-matrix: $BENCH not built (make bench)" >&2; exit 1; }
mkdir -p "$OUT"
: > "$J.tmp"

# cell label | workload arguments
CELLS='4k randread cache QD1|--workload randread --bs 4k --qd 1
4k randread cache QD32|--workload randread --bs 4k --qd 32
4k randread cache QD128|--workload randread --bs 4k --qd 128
4k randread O_DIRECT QD32|--workload randread --bs 4k --qd 32 --direct
4k randread O_DIRECT QD128|--workload randread --bs 4k --qd 128 --direct
128k seqread cache QD16|--workload seqread --bs 128k --qd 16
4k randwrite+fdatasync/32 QD32|--workload randwrite --bs 4k --qd 32
echo 4k 64 conns|--workload echo --bs 4k --connections 64'

run() {
	label=$1
	shift
	if ! "$BENCH" --json --seconds "$SECS" --warmup "$WARM" --file "$FILE" \
		--size "$SIZE" --label "$label" "$@" >> "$J.tmp"; then
		echo "run-matrix: failed: $*" >&2
		printf '{"label":"%s","backend":"%s","skipped":"run failed"}\n' \
			"$label" "$2" >> "$J.tmp"
	fi
}

start=$(date +%s)
echo "run-matrix: ${SECS}s per cell; results in $OUT/" >&2
run "unix pingpong 64B" --workload pingpong --bs 64
# QD1 latency against the bare round trip, with both processes pinned:
# unpinned figures jump between same-vCPU and cross-vCPU wake-ups.
for pin in cross same; do
	run "pingpong pinned $pin" --workload pingpong --bs 64 --pin $pin
	case " $BACKENDS " in *" saferring "*)
		run "QD1 pinned $pin" --backend saferring --workload randread \
			--bs 4k --qd 1 --pin $pin ;;
	esac
done
echo "$CELLS" | while IFS='|' read -r label args; do
	for be in $BACKENDS; do
		printf 'run-matrix: %-32s %s\n' "$label" "$be" >&2
		# shellcheck disable=SC2086  # args is a list of options
		run "$label" --backend "$be" $args
	done
done
mv "$J.tmp" "$J"
elapsed=$(( $(date +%s) - start ))

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
{
	echo "# saferring-bench: latest results"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), kernel $(uname -r), $(nproc) vCPUs ($cpu),"
	echo "file $FILE ($(df -T "$(dirname "$FILE")" | awk 'NR==2 {print $2 " on " $1}')),"
	echo "${SECS} s per cell after ${WARM} s warm-up; whole run ${elapsed} s."
	echo "Reproduce: \`make bench\` (raw numbers: latest.jsonl)."
	echo
} > "$MD"

# Flat one-line JSON objects -> the tables.  Ratios compare IOPS (GB/s
# for seqread) within a cell; CPU is seconds per million operations.
awk -v dat="$DAT" -v backends="$BACKENDS" '
function parse(line,   n, i, f, k, v, p) {
	delete R
	gsub(/^\{|\}$/, "", line)
	n = split(line, f, ",")
	for (i = 1; i <= n; i++) {
		p = index(f[i], ":")
		k = substr(f[i], 1, p - 1); v = substr(f[i], p + 1)
		gsub(/"/, "", k); gsub(/"/, "", v)
		R[k] = v
	}
}
function num(x) { return (x == "" || x == "null") ? "-" : x }
function fmt(x, d) { return (x == "-" || x == "") ? "-" : sprintf("%." d "f", x) }
function ratio(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "-" : sprintf("%.2f", a / b) }
{
	parse($0)
	l = R["label"]; be = R["backend"]
	if (!(l in seen)) { seen[l] = 1; order[++ncell] = l }
	key = l SUBSEP be
	if ("skipped" in R) { skip[key] = R["skipped"]; next }
	metric = (R["workload"] == "seqread") ? R["gbps"] : R["iops"]
	M[key] = metric; IOPS[key] = R["iops"]; GB[key] = R["gbps"]
	P50[key] = R["p50_us"]; P99[key] = R["p99_us"]; P999[key] = R["p999_us"]
	CCPU[key] = R["client_cpu_s_per_mop"]; DCPU[key] = num(R["daemon_cpu_s_per_mop"])
	QD[key] = R["eff_qd"]
}
END {
	nb = split(backends, B, " ")
	print "| cell | backend | IOPS | GB/s | p50 us | p99 us | p99.9 us | x raw | x pread | client CPU s/Mop | daemon CPU s/Mop |"
	print "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	pp = "unix pingpong 64B" SUBSEP "unix"
	for (c = 1; c <= ncell; c++) {
		l = order[c]
		if (l ~ /pingpong|pinned/) continue
		for (i = 1; i <= nb; i++) {
			key = l SUBSEP B[i]
			if (key in skip) { printf "| %s | %s | skipped: %s |||||||||\n", l, B[i], skip[key]; continue }
			if (!(key in M)) continue
			printf "| %s | %s | %.0f | %.3f | %s | %s | %s | %s | %s | %s | %s |\n", l, B[i],
				IOPS[key], GB[key], fmt(P50[key], 1), fmt(P99[key], 1), fmt(P999[key], 1),
				ratio(M[key], M[l SUBSEP "raw"]), ratio(M[key], M[l SUBSEP "pread"]),
				fmt(CCPU[key], 2), fmt(DCPU[key], 2)
		}
	}
	print ""
	print "## QD1 latency and the bare Unix-socket round trip"
	print ""
	print "Bare round trip: 64 B SOCK_SEQPACKET ping-pong between two processes, blocking"
	print "send/recv.  saferring QD1: 4k randread from page cache through the daemon."
	print ""
	print "| placement | bare round trip p50 / p99 us | saferring QD1 p50 / p99 us | p50 ratio |"
	print "| --- | ---: | ---: | ---: |"
	lat_row("unpinned", pp, "4k randread cache QD1" SUBSEP "saferring")
	lat_row("pinned, different vCPUs", "pingpong pinned cross" SUBSEP "unix", "QD1 pinned cross" SUBSEP "saferring")
	lat_row("pinned, same vCPU", "pingpong pinned same" SUBSEP "unix", "QD1 pinned same" SUBSEP "saferring")
	print ""

	print "## Targets (issue 6)"
	print ""
	print "| target | reached | met |"
	print "| --- | ---: | --- |"
	s = "4k randread O_DIRECT QD128"
	t(s, "O_DIRECT 4k QD128: saferring >= 0.95 x raw IOPS", M[s SUBSEP "saferring"], M[s SUBSEP "raw"], 0.95)
	t(s, "O_DIRECT 4k QD128: saferring >= 4 x pread IOPS", M[s SUBSEP "saferring"], M[s SUBSEP "pread"], 4)
	s = "128k seqread cache QD16"
	t(s, "128k seqread: saferring >= 0.9 x raw GB/s", M[s SUBSEP "saferring"], M[s SUBSEP "raw"], 0.9)
	s = "4k randread cache QD128"
	t(s, "page cache 4k QD128: saferring >= 0.8 x raw IOPS", M[s SUBSEP "saferring"], M[s SUBSEP "raw"], 0.8)
	k = "QD1 pinned cross" SUBSEP "saferring"; kp = "pingpong pinned cross" SUBSEP "unix"
	if ((k in P50) && (kp in P50))
		printf "| QD1 p50 <= 1.3 x bare round trip p50 (pinned, different vCPUs) | %.1f us vs %.1f us = %.2f x | %s |\n",
			P50[k], P50[kp], P50[k] / P50[kp], (P50[k] / P50[kp] <= 1.3) ? "yes" : "**no**"
	k = "4k randread cache QD1" SUBSEP "saferring"
	if ((k in P50) && (pp in P50))
		printf "| the same, unpinned (bimodal: same or different vCPU) | %.1f us vs %.1f us = %.2f x | %s |\n",
			P50[k], P50[pp], P50[k] / P50[pp], (P50[k] / P50[pp] <= 1.3) ? "yes" : "**no**"
	print ""

	# Chart data: per cell, throughput relative to raw and p50 latency.
	printf "# cell" > dat
	for (i = 1; i <= nb; i++) printf " rel_%s", B[i] > dat
	for (i = 1; i <= nb; i++) printf " p50_%s", B[i] > dat
	printf "\n" > dat
	for (c = 1; c <= ncell; c++) {
		l = order[c]
		if (l ~ /pingpong|pinned/) continue
		printf "\"%s\"", l > dat
		for (i = 1; i <= nb; i++) {
			key = l SUBSEP B[i]
			printf " %s", ((key in M) && M[l SUBSEP "raw"] > 0) ? sprintf("%.3f", M[key] / M[l SUBSEP "raw"]) : "-" > dat
		}
		for (i = 1; i <= nb; i++) {
			key = l SUBSEP B[i]
			printf " %s", (key in P50) ? P50[key] : "-" > dat
		}
		printf "\n" > dat
	}
}
function lat_row(what, kb, ks) {
	if (!(kb in P50) || !(ks in P50)) { printf "| %s | - | - | - |\n", what; return }
	printf "| %s | %.1f / %.1f | %.1f / %.1f | %.2f x |\n", what, P50[kb], P99[kb], P50[ks], P99[ks], P50[ks] / P50[kb]
}
function t(cell, what, a, b, want,   r) {
	if (a == "" || b == "" || b + 0 == 0) { printf "| %s | n/a | - |\n", what; return }
	r = a / b
	printf "| %s | %.2f x | %s |\n", what, r, (r >= want) ? "yes" : "**no**"
}
' "$J" >> "$MD"

if command -v gnuplot >/dev/null 2>&1; then
	gnuplot -e "datafile='$DAT'; outfile='$OUT/latest.png'" bench/plot.gp ||
		echo "run-matrix: gnuplot failed; no chart" >&2
else
	echo "run-matrix: gnuplot not installed; no chart (make bench installs it)" >&2
fi
cat "$MD"
echo "run-matrix: wrote $MD, $J, $OUT/latest.png in ${elapsed}s" >&2
