# SPDX-License-Identifier: MIT
#
# report.awk - bench/results/latest.jsonl to the tables of latest.md
# (issue 11's targets with the figures reached, every cell, the idle and
# QD1-latency tables) and to latest.dat for plot.gp.  Called by
# run-matrix.sh:
#   awk -v dat=F.dat -v keys="raw ... sr-v1" -v reps=N -v contended=LABEL \
#       -v idle=LABEL -v idle_secs=S -v hog_cpu=N -f bench/report.awk F.jsonl
#
# Each cell ran every backend key `reps` times, interleaved; a figure is
# the median of its runs, and a ratio is the ratio of two medians.  The
# spread beside it is the range of the same ratio taken run by run
# (run i of one backend against run i of the other, which ran moments
# apart): on a noisy VM that range says how far to trust the median.
# Targets are reported, never asserted: this never fails a build.
# Must never print a figure for a run that did not happen, nor call a
# session v2 that the daemon did not give rings.

# Flat one-line JSON objects (no nesting, no commas inside values).
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

function sorted_median(a, n,   i, j, x) {
	for (i = 2; i <= n; i++) {
		x = a[i]
		for (j = i - 1; j >= 1 && a[j] > x; j--)
			a[j + 1] = a[j]
		a[j + 1] = x
	}
	return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}

# Median of field @f over the runs of @lk, "" when none has it.
function med(lk, f,   i, m, a) {
	m = 0
	for (i = 1; i <= N[lk]; i++)
		if ((lk, f, i) in V && V[lk, f, i] != "null" && V[lk, f, i] != "")
			a[++m] = V[lk, f, i] + 0
	return m ? sorted_median(a, m) : ""
}

# (max - min) / median of the cell's metric, in %.
function spread(lk,   i, lo, hi, m, x) {
	if (N[lk] < 2)
		return "-"
	for (i = 1; i <= N[lk]; i++) {
		x = V[lk, "metric", i] + 0
		if (i == 1 || x < lo) lo = x
		if (i == 1 || x > hi) hi = x
	}
	m = med(lk, "metric")
	return m > 0 ? sprintf("%.0f%%", 100 * (hi - lo) / m) : "-"
}

# Range of a / b run by run (same repetition), or "-".
function ratio_range(la, lb, f, invert,   r, lo, hi, n, x) {
	n = 0
	for (r = 1; r <= reps; r++) {
		if (!((la, r, f) in RUN) || !((lb, r, f) in RUN) || RUN[lb, r, f] + 0 == 0)
			continue
		x = RUN[la, r, f] / RUN[lb, r, f]
		if (!n || x < lo) lo = x
		if (!n || x > hi) hi = x
		n++
	}
	if (n < 2)
		return "-"
	return sprintf("%.2f-%.2f", lo, hi)
}

function fmt(x, d) { return (x == "") ? "-" : sprintf("%." d "f", x) }

# Throughput for people: 1.23M / 456.7k IOPS, or GB/s.
function thr(x, unit) {
	if (x == "") return "-"
	if (unit == "GB/s") return sprintf("%.2f GB/s", x)
	if (x >= 1e6) return sprintf("%.2fM", x / 1e6)
	if (x >= 1e3) return sprintf("%.1fk", x / 1e3)
	return sprintf("%.0f", x)
}

function yes(ok) { return ok ? "yes" : "**no**" }

# What a saferring key must have got: transport and inline attempt.
function want(key) {
	if (key == "sr-v2") return "rings/true"
	if (key == "sr-v2-noinline") return "rings/false"
	if (key == "sr-v1") return "socket/false"
	if (key == "sr-v1-inline") return "socket/true"
	return ""
}

{
	parse($0)
	key = R["key"]; l = R["label"]; rep = R["rep"] + 0
	if (key == "codec") {
		nc++
		CF[nc] = R["form"]; CL[nc] = R["load"]
		CP[nc] = R["pack_ns"]; CD[nc] = R["decode_ns"]
		next
	}
	lk = l SUBSEP key
	if (!(l in seen)) { seen[l] = 1; order[++ncell] = l }
	if ("skipped" in R) { SKIP[lk] = R["skipped"]; NSKIP[lk]++; next }
	if (want(key) != "" && R["transport"] "/" R["inline"] != want(key))
		WRONG[lk] = R["transport"] ", inline " R["inline"]
	n = ++N[lk]
	metric = (R["workload"] == "seqread") ? R["gbps"] : R["iops"]
	UNIT[l] = (R["workload"] == "seqread") ? "GB/s" : "IOPS"
	V[lk, "metric", n] = metric
	V[lk, "iops", n] = R["iops"]; V[lk, "gbps", n] = R["gbps"]
	V[lk, "p50", n] = R["p50_us"]; V[lk, "p99", n] = R["p99_us"]
	V[lk, "p999", n] = R["p999_us"]
	V[lk, "ccpu", n] = R["client_cpu_s_per_mop"]
	V[lk, "dcpu", n] = R["daemon_cpu_s_per_mop"]
	V[lk, "dpct", n] = R["daemon_cpu_pct"]; V[lk, "dsec", n] = R["daemon_cpu_s"]
	V[lk, "cpct", n] = R["client_cpu_pct"]; V[lk, "secs", n] = R["seconds"]
	RUN[lk, rep, "metric"] = metric
	RUN[lk, rep, "p50"] = R["p50_us"]
}

# One target: @a over @b, of cell @cl, keys @ka and @kb, field "metric"
# (higher is better, met when >= want) or "p50" (met when <= want).
function target(what, cl, ka, kb, f, want_r,   a, b, r, u, ok) {
	a = med(cl SUBSEP ka, f); b = med(cl SUBSEP kb, f)
	if (a == "" || b == "" || b + 0 == 0) {
		printf "| %s | n/a (%s) | - | - |\n", what, why_missing(cl, ka, kb)
		return
	}
	r = a / b
	ok = (f == "p50") ? (r <= want_r) : (r >= want_r)
	if (f == "p50")
		printf "| %s | %.2f x: %.1f vs %.1f us | %s | %s |\n", what, r, a, b,
			ratio_range(cl SUBSEP ka, cl SUBSEP kb, f), yes(ok)
	else {
		u = UNIT[cl]
		printf "| %s | %.2f x: %s vs %s%s | %s | %s |\n", what, r, thr(a, u),
			thr(b, u), (u == "IOPS") ? " IOPS" : "",
			ratio_range(cl SUBSEP ka, cl SUBSEP kb, f), yes(ok)
	}
	if (WRONG[cl SUBSEP ka] != "")
		printf "| (the %s sessions got %s: not the mode asked for) | | | |\n", ka, WRONG[cl SUBSEP ka]
}

function why_missing(cl, ka, kb) {
	if (SKIP[cl SUBSEP ka] != "") return ka ": " SKIP[cl SUBSEP ka]
	if (SKIP[cl SUBSEP kb] != "") return kb ": " SKIP[cl SUBSEP kb]
	if (!(cl in seen)) return "not run"
	if (!N[cl SUBSEP ka]) return ka " not run"
	if (!N[cl SUBSEP kb]) return kb " not run"
	return "no figure"
}

# A p50 against a fixed bound in microseconds.
function target_p50(what, cl, k, bound,   a) {
	a = med(cl SUBSEP k, "p50")
	if (a == "") { printf "| %s | n/a (%s) | - | - |\n", what, why_missing(cl, k, k); return }
	printf "| %s | %.1f us | %s | %s |\n", what, a, p50_range(cl SUBSEP k), yes(a <= bound)
}

function p50_range(lk,   i, lo, hi, x) {
	if (N[lk] < 2) return "-"
	for (i = 1; i <= N[lk]; i++) {
		x = V[lk, "p50", i] + 0
		if (i == 1 || x < lo) lo = x
		if (i == 1 || x > hi) hi = x
	}
	return sprintf("%.1f-%.1f us", lo, hi)
}

function target_idle(what, k, is_target,   lk, p, s) {
	lk = idle SUBSEP k
	p = med(lk, "dpct")
	if (p == "") { printf "| %s | n/a (%s) | - | - |\n", what, why_missing(idle, k, k); return }
	s = med(lk, "dsec")
	printf "| %s | %.2f%% of one CPU (%.2f s in %.1f s; client %.2f%%) | - | %s |\n",
		what, p, s, med(lk, "secs"), med(lk, "cpct"), is_target ? yes(p < 1) : "info"
}

# The worst of the columnar forms (what v2 puts on the wire) for @which.
function target_codec(what, which, bound,   i, worst, list, x) {
	worst = -1; list = ""
	for (i = 1; i <= nc; i++) {
		if (CF[i] != "OpBatch" && CF[i] != "CompletionBatch") continue
		x = (which == "decode") ? CD[i] : CP[i]
		list = list (list == "" ? "" : ", ") CF[i] " " CL[i] " " x
		if (x + 0 > worst) worst = x + 0
	}
	if (worst < 0) { printf "| %s | n/a (codec-bench did not run) | - | - |\n", what; return }
	printf "| %s | %.1f ns (worst of %s) | - | %s |\n", what, worst, list, yes(worst < bound)
}

function info_row(what, cl, ka, kb,   a, b, u) {
	a = med(cl SUBSEP ka, "metric"); b = med(kb, "metric")
	if (a == "" || b == "") return
	u = UNIT[cl]
	printf "| %s | %.2f x: %s vs %s%s | - | info |\n", what, a / b, thr(a, u),
		thr(b, u), (u == "IOPS") ? " IOPS" : ""
}

function lat_row(what, key, kb, ks,   b50, b99, s50, s99) {
	b50 = med(kb, "p50"); s50 = med(ks, "p50")
	if (b50 == "" || s50 == "") { printf "| %s | %s | - | - | - |\n", what, key; return }
	b99 = med(kb, "p99"); s99 = med(ks, "p99")
	printf "| %s | %s | %.1f / %.1f | %.1f / %.1f | %.2f x |\n", what, key,
		b50, b99, s50, s99, s50 / b50
}

END {
	nk = split(keys, K, " ")
	c1 = "4k randread cache QD1"; c32 = "4k randread cache QD32"
	c128 = "4k randread cache QD128"; cseq = "128k seqread cache QD16"
	cd1 = "4k randread O_DIRECT QD1"; cd128 = "4k randread O_DIRECT QD128"
	cecho = "echo 4k 64 conns"

	print "## Targets (issue 11)"
	print ""
	print "Reported, not asserted.  \"reached\" is the ratio of the two medians,"
	print "then both medians; \"run by run\" is the range of the same ratio over"
	print "the interleaved repetitions."
	print ""
	print "| target | reached | run by run | met |"
	print "| --- | --- | --- | --- |"
	target("cache 4k QD1: v2 >= 0.95 x pread IOPS", c1, "sr-v2", "pread", "metric", 0.95)
	target("cache 4k QD32: v2 >= 0.85 x raw IOPS", c32, "sr-v2", "raw", "metric", 0.85)
	target("cache 4k QD32: v2 >= 1.5 x pread IOPS", c32, "sr-v2", "pread", "metric", 1.5)
	target("cache 4k QD128: v2 >= 0.85 x raw IOPS", c128, "sr-v2", "raw", "metric", 0.85)
	target_p50("inline off, cache 4k QD1: p50 <= 5 us", c1, "sr-v2-noinline", 5)
	target("inline off, cache 4k QD128: >= 0.85 x raw IOPS", c128, "sr-v2-noinline", "raw", "metric", 0.85)
	target("cache 128k seqread QD16: v2 >= 0.8 x raw GB/s", cseq, "sr-v2", "raw", "metric", 0.8)
	target("O_DIRECT 4k QD128: v2 >= 0.95 x raw IOPS", cd128, "sr-v2", "raw", "metric", 0.95)
	target("O_DIRECT 4k QD1: v2 p50 <= 1.15 x raw p50", cd1, "sr-v2", "raw", "p50", 1.15)
	target("echo 4k 64 conns: v2 >= 0.9 x raw", cecho, "sr-v2", "raw", "metric", 0.9)
	target("echo 4k 64 conns: v2 >= 0.9 x pread (poll loop)", cecho, "sr-v2", "pread", "metric", 0.9)
	target("contended (hog on vCPU " hog_cpu "), cache 4k QD128: v2 >= v1", contended, "sr-v2", "sr-v1", "metric", 1)
	info_row("contended v2 against uncontended v2 (a collapse shows here)", contended, "sr-v2", c128 SUBSEP "sr-v2")
	target_idle(idle " for " idle_secs " s: daemon < 1% of one CPU (v2)", "sr-v2", 1)
	target_idle("the same with v1 sessions", "sr-v1", 0)
	target_codec("codec: decode < 50 ns per operation", "decode", 50)
	target_codec("codec: encode < 20 ns per operation", "pack", 20)
	print ""
	print "Daemon CPU for the idle cell is utime+stime from /proc/PID/stat, in"
	print "10 ms ticks: 0.1% of one CPU over 10 s.  Codec figures are ns per"
	print "operation, best of codec-bench's runs, for OpBatch (what the daemon"
	print "decodes) and CompletionBatch (what it encodes), read-only and mixed loads."
	print ""

	print "## Every cell"
	print ""
	print "Medians of the runs; spread is (max - min) / median of the runs'"
	print "IOPS (GB/s for seqread); ratios compare medians within the cell."
	print "CPU is seconds per million operations (client: getrusage; daemon:"
	print "/proc/PID/stat)."
	print ""
	print "| cell | backend | IOPS | GB/s | p50 us | p99 us | p99.9 us | x raw | x pread | spread | client CPU s/Mop | daemon CPU s/Mop |"
	print "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for (c = 1; c <= ncell; c++) {
		l = order[c]
		if (l ~ /pingpong|pinned/ || l == idle) continue
		mr = med(l SUBSEP "raw", "metric"); mp = med(l SUBSEP "pread", "metric")
		for (i = 1; i <= nk; i++) {
			lk = l SUBSEP K[i]
			if (!N[lk]) {
				if (SKIP[lk] != "")
					printf "| %s | %s | skipped: %s ||||||||||\n", l, K[i], SKIP[lk]
				continue
			}
			m = med(lk, "metric")
			printf "| %s | %s%s | %.0f | %.3f | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				l, K[i], (WRONG[lk] != "") ? " (**got " WRONG[lk] "**)" : "",
				med(lk, "iops"), med(lk, "gbps"), fmt(med(lk, "p50"), 1),
				fmt(med(lk, "p99"), 1), fmt(med(lk, "p999"), 1),
				(mr > 0) ? sprintf("%.2f", m / mr) : "-",
				(mp > 0) ? sprintf("%.2f", m / mp) : "-",
				spread(lk) (NSKIP[lk] ? sprintf(" (%d failed)", NSKIP[lk]) : ""),
				fmt(med(lk, "ccpu"), 2), fmt(med(lk, "dcpu"), 2)
		}
	}
	print ""

	print "## QD1 latency and the bare Unix-socket round trip"
	print ""
	print "Bare round trip: 64 B SOCK_SEQPACKET ping-pong between two processes,"
	print "blocking send/recv.  saferring QD1: 4k randread from page cache, every"
	print "operation through the daemon (no inline attempt).  One run each."
	print ""
	print "| placement | backend | bare round trip p50 / p99 us | saferring QD1 p50 / p99 us | p50 ratio |"
	print "| --- | --- | ---: | ---: | ---: |"
	pp = "unix pingpong 64B" SUBSEP "unix"
	for (i = 1; i <= nk; i++) {
		if (K[i] != "sr-v2-noinline" && K[i] != "sr-v1") continue
		lat_row("unpinned (bimodal)", K[i], pp, c1 SUBSEP K[i])
		lat_row("pinned, different vCPUs", K[i], "pingpong pinned cross" SUBSEP "unix",
			"QD1 pinned cross" SUBSEP K[i])
		lat_row("pinned, same vCPU", K[i], "pingpong pinned same" SUBSEP "unix",
			"QD1 pinned same" SUBSEP K[i])
	}

	# Chart data: per cell, each key's throughput relative to raw, then
	# each key's p50 latency.
	printf "# cell" > dat
	for (i = 1; i <= nk; i++) printf " rel_%s", K[i] > dat
	for (i = 1; i <= nk; i++) printf " p50_%s", K[i] > dat
	printf "\n" > dat
	for (c = 1; c <= ncell; c++) {
		l = order[c]
		if (l ~ /pingpong|pinned/ || l == idle) continue
		mr = med(l SUBSEP "raw", "metric")
		printf "\"%s\"", l > dat
		for (i = 1; i <= nk; i++) {
			m = med(l SUBSEP K[i], "metric")
			printf " %s", (m != "" && mr > 0) ? sprintf("%.3f", m / mr) : "-" > dat
		}
		for (i = 1; i <= nk; i++) {
			m = med(l SUBSEP K[i], "p50")
			printf " %s", (m != "") ? m : "-" > dat
		}
		printf "\n" > dat
	}
}
