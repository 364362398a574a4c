# SPDX-License-Identifier: MIT
#
# plot.gp - the chart for bench/results/latest.png, from the .dat file
# run-matrix.sh writes: per cell, each backend's throughput relative to
# raw (top) and its median latency (bottom, log scale).
#   gnuplot -e "datafile='x.dat'; outfile='x.png'" bench/plot.gp
# Must never need anything beyond Debian's gnuplot-nox.

if (!exists("datafile")) datafile = 'bench/results/latest.dat'
if (!exists("outfile")) outfile = 'bench/results/latest.png'

set terminal pngcairo size 1400,1000 font "sans,10" noenhanced
set output outfile
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top right
set xtics rotate by -20 left nomirror
set linetype 1 lc rgb "#4c72b0"
set linetype 2 lc rgb "#dd8452"
set linetype 3 lc rgb "#55a868"
set linetype 4 lc rgb "#c44e52"

set multiplot layout 2,1 title "saferring-bench: the same work through each backend"

set title "throughput relative to raw liburing (IOPS; GB/s for seqread)"
set ylabel "x raw"
set yrange [0:*]
plot datafile using 2:xtic(1) title "raw", \
     '' using 3 title "pread", \
     '' using 4 title "threads", \
     '' using 5 title "saferring"

set title "median latency per operation (submit to completion)"
set ylabel "p50, us (log)"
set logscale y
set yrange [0.1:*]
plot datafile using 6:xtic(1) title "raw", \
     '' using 7 title "pread", \
     '' using 8 title "threads", \
     '' using 9 title "saferring"

unset multiplot
