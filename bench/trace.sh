#!/usr/bin/env bash
# How long `kvmc trace` takes to draw a 10,000-command run of three nodes
# (40,000 log lines, made by test/tracelog.pl): median of 5, wall clock
# and CPU, SVG and ShiViz. Run by make bench, or alone: make bench-trace.
# Not a test: it asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${BENCH_TRACE_N:-10000}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
perl test/tracelog.pl "$N" >"$dir/run.log"

# median_ms [--shiviz]: "wall cpu" in ms, the medians of 5 runs.
median_ms() {
	perl -MTime::HiRes=time -e '
		my $out = pop @ARGV;
		my (@wall, @cpu);
		for (1 .. 5) {
			my ($t, @c) = (time, times);
			system("@ARGV > $out") == 0 or die "kvmc trace failed\n";
			my @d = times;
			push @wall, (time - $t) * 1000;
			push @cpu, ($d[2] + $d[3] - $c[2] - $c[3]) * 1000;
		}
		@wall = sort { $a <=> $b } @wall;
		@cpu = sort { $a <=> $b } @cpu;
		printf "%d %d\n", $wall[2], $cpu[2];
	' ./kvmc trace "$@" "$dir/run.log" "$dir/out"
}

read -r sw sc < <(median_ms)
svg_kb=$(($(wc -c <"$dir/out") / 1024))
read -r zw zc < <(median_ms --shiviz)
echo "kvmc trace, $N commands, 3 nodes ($(wc -l <"$dir/run.log") lines), median of 5:"
echo "  SVG     ${sw} ms wall, ${sc} ms CPU (${svg_kb} kB)"
echo "  ShiViz  ${zw} ms wall, ${zc} ms CPU"
