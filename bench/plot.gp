# SPDX-License-Identifier: MIT
#
# plot.gp - the chart for bench/results/latest.png, from the .dat file
# run-matrix.sh writes: per cell, each backend's throughput relative to
# raw (top) and its median latency (bottom, log scale), saferring once
# per mode.
#   gnuplot -e "datafile='x.dat'; outfile='x.png'; keys='raw ...'" bench/plot.gp
# Must never need anything beyond Debian's gnuplot-nox.

if (!exists("datafile")) datafile = 'bench/results/latest.dat'
if (!exists("outfile")) outfile = 'bench/results/latest.png'
# The backend keys, in the .dat file's column order (run-matrix.sh
# passes what it ran).
if (!exists("keys")) keys = 'raw pread threads sr-v2 sr-v2-noinline sr-v1'
if (!exists("nkeys")) nkeys = words(keys)

set terminal pngcairo size 1600,1100 font "sans,10" noenhanced
set output outfile
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key outside right top
set xtics rotate by -20 left nomirror
set linetype 1 lc rgb "#4c72b0"
set linetype 2 lc rgb "#dd8452"
set linetype 3 lc rgb "#55a868"
set linetype 4 lc rgb "#c44e52"
set linetype 5 lc rgb "#8172b3"
set linetype 6 lc rgb "#937860"
set linetype 7 lc rgb "#da8bc3"
set linetype 8 lc rgb "#8c8c8c"

set multiplot layout 2,1 title "saferring-bench: the same work through each backend (medians)"

set title "throughput relative to raw liburing (IOPS; GB/s for seqread)"
set ylabel "x raw"
set yrange [0:*]
plot for [i=2:nkeys+1] datafile using i:xtic(1) title word(keys, i-1)

set title "median latency per operation (submit to completion)"
set ylabel "p50, us (log)"
set logscale y
set yrange [0.1:*]
plot for [i=nkeys+2:2*nkeys+1] datafile using i:xtic(1) title word(keys, i-nkeys-1)

unset multiplot
