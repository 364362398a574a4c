# SPDX-License-Identifier: MIT
#
# report.jq - the tables of bench/results/fio.md from fio/run-bench.sh's
# runs (one JSON object per run, slurped), in the order of $cells and
# $keys.  $ref is saferring-bench's latest.jsonl (slurped; empty when
# absent), used for the saferring-bench ratios when this run did not
# measure them itself.
#
# Must never invent a figure: a ratio with a missing side is "n/a".

def median:
	sort | if length == 0 then null
	elif length % 2 == 1 then .[(length - 1) / 2]
	else (.[length / 2 - 1] + .[length / 2]) / 2 end;

def fmt(d): if . == null then "-" else (. * pow(10; d) | round) / pow(10; d) | tostring end;
def fmtk: if . == null then "-" else round | tostring end;

# Runs of one cell and key that produced figures.
def good($cell; $key): [.[] | select(.cell == $cell and .key == $key and .iops != null)];

# Medians of a cell and key, or its skip reason.
def cellstats($cell; $key):
	good($cell; $key) as $r
	| if ($r | length) == 0 then
		{ skipped: ([.[] | select(.cell == $cell and .key == $key) | .skipped // "no run"] | first // "not run") }
	else {
		n: ($r | length),
		iops: ($r | map(.iops) | median),
		gbps: ($r | map(.gbps) | median),
		p50: ($r | map(.p50_us) | median),
		p99: ($r | map(.p99_us) | median),
		ccpu: ($r | map(.client_cpu_pct) | median),
		dcpu: ($r | map(.daemon_cpu_pct // empty) | median),
		spread: (($r | map(.iops)) as $v | ($v | median) as $m
			| if $m > 0 and ($v | length) > 1 then (($v | max) - ($v | min)) / $m else null end)
	} end;

def ratio($a; $b): if $a == null or $b == null or $b == 0 then null else $a / $b end;

($cells | split("\n") | map(select(length > 0))) as $cl
| ($keys | split(" ") | map(select(length > 0))) as $kl
| . as $runs
# saferring-bench's ratio, sr-v2 over raw: from this run when it ran
# saferring-bench, else from latest.jsonl.
| def benchratio($cell):
	($runs | cellstats($cell; "bench-sr-v2").iops) as $s
	| ($runs | cellstats($cell; "bench-raw").iops) as $r
	| if $s != null and $r != null then { r: ($s / $r), from: "this run" }
	else
		([$ref[] | select(.["label"] == $cell and .key == "sr-v2" and .iops != null) | .iops] | median) as $s2
		| ([$ref[] | select(.["label"] == $cell and .key == "raw" and .iops != null) | .iops] | median) as $r2
		| if $s2 != null and $r2 != null and $r2 > 0 then { r: ($s2 / $r2), from: "latest.md" }
		else { r: null, from: "-" } end
	end;
"## The target: saferring's ratio to io_uring, fio against saferring-bench",
"",
"fio: IOPS of the `saferring` engine (v2, the defaults) over fio's `io_uring`",
"engine with `--fixedbufs --registerfiles` (what saferring-bench's `raw`",
"backend does: fixed files and buffers) and over plain `io_uring`.",
"saferring-bench: its `sr-v2` over its `raw`.  Met when the fio ratio is",
"within 15% of saferring-bench's (0.85 to 1.15 times it).",
"",
"Where it is not, the last two columns say which side moved, when",
"saferring-bench ran in the same rounds: the quotient of the two ratios",
"is saferring's IOPS under fio over its IOPS under saferring-bench (what",
"fio and the engine cost saferring), divided by io_uring's under fio over",
"raw's under saferring-bench (what fio costs io_uring).",
"",
"| cell | fio: saferring / io_uring fixed | fio: saferring / io_uring | saferring-bench: sr-v2 / raw | fio ratio / bench ratio | within 15% | saferring: fio / bench | io_uring: fio fixed / bench raw |",
"| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
($cl[] as $c
	| ($runs | cellstats($c; "sr-v2").iops) as $sr
	| ($runs | cellstats($c; "io_uring-fixed").iops) as $uf
	| ratio($sr; $uf) as $rf
	| ratio($sr; $runs | cellstats($c; "io_uring").iops) as $rp
	| benchratio($c) as $b
	| ratio($rf; $b.r) as $q
	| (if $b.from == "this run" then
		[ratio($sr; $runs | cellstats($c; "bench-sr-v2").iops),
		 ratio($uf; $runs | cellstats($c; "bench-raw").iops)]
	   else [null, null] end) as $d
	| "| \($c) | \($rf | fmt(2)) | \($rp | fmt(2)) | \($b.r | fmt(2))\(if $b.from == "latest.md" then " (latest.md)" else "" end) | \($q | fmt(2)) | \(if $q == null then "n/a" elif $q >= 0.85 and $q <= 1.15 then "yes" else "**no**" end) | \($d[0] | fmt(2)) | \($d[1] | fmt(2)) |"),
"",
"## Every cell",
"",
"Medians of the runs; spread is (max - min) / median of the runs' IOPS.",
"p50 and p99 are fio's total latency (lat: from the io_u's preparation",
"to its completion, the submit call included; fio's clat starts after",
"it, and a page-cache read that io_uring or the inline attempt completes",
"inside the submit shows there as 0.2 us) and saferring-bench's submit",
"to completion.  CPU is % of one CPU: the client",
"(fio's usr + sys, or saferring-bench's getrusage) and the daemon",
"(utime + stime from /proc over the measured time and the ramp).",
"",
"| cell | engine | IOPS | GB/s | p50 us | p99 us | x io_uring fixed | x io_uring | x psync | client CPU % | daemon CPU % | spread | runs |",
"| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
($cl[] as $c
	| ($runs | cellstats($c; "io_uring-fixed").iops) as $f
	| ($runs | cellstats($c; "io_uring").iops) as $u
	| ($runs | cellstats($c; "psync").iops) as $p
	| $kl[] as $k
	| ($runs | cellstats($c; $k)) as $s
	| if $s.skipped then
		"| \($c) | \($k) | skipped: \($s.skipped) |||||||||||"
	else
		"| \($c) | \($k) | \($s.iops | fmtk) | \($s.gbps | fmt(3)) | \($s.p50 | fmt(1)) | \($s.p99 | fmt(1)) | "
		+ (if ($k | startswith("bench-")) then "- | - | - | "
		   else "\(ratio($s.iops; $f) | fmt(2)) | \(ratio($s.iops; $u) | fmt(2)) | \(ratio($s.iops; $p) | fmt(2)) | " end)
		+ "\($s.ccpu | fmt(0)) | \($s.dcpu | fmt(0)) | \($s.spread | fmt(2)) | \($s.n) |"
	end)
