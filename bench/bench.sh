#!/usr/bin/env bash
# make bench: how close kvmc comes to what the kernel alone delivers here.
#
# Every kvmc figure is put next to a baseline measured in the same run on
# the same machine: bench/mcast, a receiver that does nothing but count
# the same datagrams. Speeds are reported as ratios to it. Nothing here is
# a test: it asserts nothing, it prints a table.
set -euo pipefail
cd "$(dirname "$0")/.."

# BENCH_QUICK=1: one run per figure instead of the median of 3, N=3
# only, fewer steps, smaller runs: about a minute instead of several.
QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	K=${BENCH_K:-20000} RUNS=1 NS="3" MODE_NS="3"
	STEPS=${BENCH_STEPS:-"10000 40000 80000 160000"}
else
	K=${BENCH_K:-100000} RUNS=3 NS="1 3 8" MODE_NS="3 8"
	STEPS=${BENCH_STEPS:-"10000 20000 40000 60000 80000 120000 160000"}
fi
DEADLINE=${BENCH_DEADLINE:-$([ "$QUICK" = 1 ] && echo 10 || echo 20)}	# s a replica may take to apply a mode run
# BENCH_ONLY="modes key steps ...": only those parts (throughput modes key
# steps latency idle store trace); the throughput table's baseline is
# what the modes' writer is compared with, so modes runs it at N=3.
ONLY=${BENCH_ONLY:-}
want() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }
MODE_NS=${BENCH_MODE_NS:-$MODE_NS}	# the N of the ordering modes' table
LAT_N=${BENCH_LAT_N:-2000}	# commands per latency run, paced
LAT_RATE=${BENCH_LAT_RATE:-2000}	# ... at this rate (per second)
mcast=build/bench/mcast
kvbench=build/bench/kvbench
port=$((38000 + $$ % 500 * 2))
dir=$(mktemp -d)
export MULTICAST_IF=127.0.0.1	# nothing leaves loopback

cleanup() {
	kill $(jobs -p) 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }

# wait_for FILE PATTERN [COUNT]: 30 s at most.
wait_for() {
	local i
	for ((i = 0; i < 1500; i++)); do
		[ "$(grep -cE -- "$2" "$1" 2>/dev/null)" -ge "${3:-1}" ] && return 0
		sleep 0.02
	done
	echo "bench: timed out waiting for '$2' in $1" >&2
	exit 1
}

# The epoch milliseconds of a log line's ts= field.
ts_ms() {
	perl -MTime::Local -ne 'if (/ts=(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z/) {
		print timegm($6, $5, $4, $3, $2 - 1, $1) * 1000 + $7, "\n"; exit }'
}

# wait_tail FILE PATTERN SECONDS: 0 once FILE shows PATTERN, 1 after
# SECONDS. Each poll reads only what was written since the last one (and
# 4 kB before it, for a line cut in two): a poll must not cost the run it
# watches the reading of a 100,000-line log, and the line looked for may
# be followed by many others (a writer's resends logged as duplicates).
wait_tail() {
	local i from=0 size
	for ((i = 0; i < $3 * 20; i++)); do
		size=$(stat -c %s "$1" 2>/dev/null || echo 0)
		# (grep's own status: under pipefail, a reader it leaves early
		# would make a match look like a miss)
		grep -qE -- "$2" < <(tail -c +$((from + 1)) "$1" 2>/dev/null |
			head -c $((size - from))) && return 0
		((size > 4096)) && from=$((size - 4096))
		sleep 0.05
	done
	return 1
}

field() { sed -nE "s/(^|.* )$1=([^ ]*).*/\2/p" | head -n 1; }

# Send-to-apply latency of a log's apply lines, from the send time in
# the value: "p50 p99" in whole ms, the resolution of the log's stamps
# (both times cut to the ms, so 0 means under a millisecond).
apply_latency() {
	perl -MTime::Local -ne 'if (/ts=(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z.*event=apply .* value=(\d+)/) {
		push @l, (timegm($6, $5, $4, $3, $2 - 1, $1) * 1000 + $7) - int($8 / 1000) }
		END { @l = sort { $a <=> $b } @l; printf "%d %d\n", $l[$#l / 2], $l[$#l * 99 / 100] }' "$@"
}

# The helpers below run in this shell, not in $( ): the processes they
# start stay its children, so `wait` works, and results come back in
# globals: RATE (per replica, msgs/s), LOST, DROPS, RSS (kB).

# start_replicas N LEVEL: N kvmc replicas on a fresh port.
start_replicas() {
	local i
	port=$((port + 1))
	rpids=()
	for ((i = 1; i <= $1; i++)); do
		./kvmc --no-input --node-id "r$i" --port "$port" --hello-interval 0 \
			--log-level "$2" >/dev/null 2>"$dir/r$i.log" &
		rpids+=($!)
	done
	for ((i = 1; i <= $1; i++)); do wait_for "$dir/r$i.log" 'event=ready'; done
}

# CPU time of a process so far, in microseconds (utime + stime).
cpu_us() {
	awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000000 / hz) }' "/proc/$1/stat"
}

# stop_replicas: the slowest replica's processed count in PROCESSED, and
# the CPU a replica spent per message in CPU (us, the mean); all of them
# together in SUMCPU, the busiest one's in TOPCPU.
stop_replicas() {
	local i h order d c cpu=0 top=0
	PROCESSED=-1 LOST=0 DROPS=0 RSS=0
	for ((i = 1; i <= ${#rpids[@]}; i++)); do
		h=$(awk '/VmHWM/ {print $2}' "/proc/${rpids[i - 1]}/status")
		((h > RSS)) && RSS=$h
		c=$(cpu_us "${rpids[i - 1]}")
		cpu=$((cpu + c))
		((c > top)) && top=$c
		kill "${rpids[i - 1]}"
		wait "${rpids[i - 1]}" || true
		order=$(grep 'event=stop' "$dir/r$i.log" | field order)
		d=$(grep 'event=stop' "$dir/r$i.log" | field kernel_drops)
		((PROCESSED < 0 || order < PROCESSED)) && PROCESSED=$order
		LOST=$((LOST + SENT - order))
		DROPS=$((DROPS + d))
	done
	CPU=$(awk -v c="$cpu" -v n="${#rpids[@]}" -v s="$SENT" 'BEGIN { printf "%.2f", c / n / s }')
	SUMCPU=$(awk -v c="$cpu" -v s="$SENT" 'BEGIN { printf "%.2f", c / s }')
	TOPCPU=$(awk -v c="$top" -v s="$SENT" 'BEGIN { printf "%.2f", c / s }')
}

# kvmc_run N LEVEL RATE [writer]: SENT SETs at N replicas.
kvmc_run() {
	local n=$1 level=$2 rate=$3 t0 end i slowest=1
	start_replicas "$n" "$level"
	t0=$(now_ms)
	if [ "${4:-}" = writer ]; then
		# A kvmc node fed from a file is the writer; END once it is done.
		./kvmc --node-id writer --port "$port" --hello-interval 0 \
			--log-level warn <"$dir/sets.txt" >/dev/null 2>&1
		$mcast end "$port"
	else
		$mcast send "$port" "$SENT" "$rate" >"$dir/send.out"
		SENT_RATE=$(field rate <"$dir/send.out")
	fi
	for ((i = 1; i <= n; i++)); do
		wait_tail "$dir/r$i.log" 'event=reject' 30 ||
			wait_for "$dir/r$i.log" 'event=reject'
		end=$(grep -m1 'event=reject' "$dir/r$i.log" | ts_ms)
		((end - t0 > slowest)) && slowest=$((end - t0))
	done
	[ "$level" = info ] && apply_latency "$dir/r1.log" >"$dir/latency"
	stop_replicas
	RATE=$((PROCESSED * 1000 / slowest))
}

# baseline_run N RATE: the same, for N bench/mcast receivers.
baseline_run() {
	local n=$1 rate=$2 t0 i slowest=1 least=-1 got end d cpu=0
	port=$((port + 1))
	LOST=0 DROPS=0
	for ((i = 1; i <= n; i++)); do
		$mcast recv "$port" >"$dir/b$i.out" &
	done
	for ((i = 1; i <= n; i++)); do wait_for "$dir/b$i.out" ready; done
	t0=$(now_ms)
	$mcast send "$port" "$SENT" "$rate" >"$dir/send.out"
	SENT_RATE=$(field rate <"$dir/send.out")
	wait
	for ((i = 1; i <= n; i++)); do
		got=$(field received <"$dir/b$i.out")
		end=$(field end_ms <"$dir/b$i.out")
		d=$(field kernel_drops <"$dir/b$i.out")
		cpu=$((cpu + $(field cpu_us <"$dir/b$i.out")))
		((end - t0 > slowest)) && slowest=$((end - t0))
		((least < 0 || got < least)) && least=$got
		LOST=$((LOST + SENT - got))
		DROPS=$((DROPS + d))
	done
	echo "$(field p50_us <"$dir/b1.out") $(field p99_us <"$dir/b1.out")" >"$dir/latency"
	RATE=$((least * 1000 / slowest))
	CPU=$(awk -v c="$cpu" -v n="$n" -v s="$SENT" 'BEGIN { printf "%.2f", c / n / s }')
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

# Send-to-apply latency of a kvmc writer's commands: the writer's send
# line and each replica's apply line of the same id, "mean p50 p99" in
# ms. Both stamps are cut to the ms, so p50 and p99 are whole ms (0: under
# one); the mean of many such differences is good to about 0.1 ms.
writer_latency() {
	perl -MTime::Local -e '
		sub ms { my @t = $_[0] =~ /ts=(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z/;
			return timegm($t[5], $t[4], $t[3], $t[2], $t[1] - 1, $t[0]) * 1000 + $t[6] }
		my $w = shift; my (%sent, @l);
		open my $f, "<", $w or die; while (<$f>) { $sent{$1} = ms($_) if /event=send id=(\S+)/ }
		for my $r (@ARGV) { open my $g, "<", $r or die;
			while (<$g>) { push @l, ms($_) - $sent{$1} if /event=apply .*?id=(\S+)/ && exists $sent{$1} } }
		@l = sort { $a <=> $b } @l; my $s = 0; $s += $_ for @l;
		printf "%.2f %d %d\n", @l ? ($s / @l, $l[$#l / 2], $l[$#l * 99 / 100]) : (0, 0, 0)' "$@"
}

# A paced stdin for the writer: COUNT SETs at RATE per second.
pace() {
	perl -MTime::HiRes=time,sleep -e '$| = 1; my ($n, $r) = @ARGV; my $t0 = time;
		for my $i (0 .. $n - 1) { my $w = $t0 + $i / $r - time; sleep($w) if $w > 0;
			print "SET k", $i % 1000, " $i\n" }' "$1" "$2"
}

# mode_run N MODE [paced]: a kvmc writer in MODE, stdin piped in, and N
# replicas in MODE (r1 the sequencer in total). Flat out: K SETs from a
# file, RATE per replica, WCPU the writer's CPU per command (us), ALLCPU
# that of every process of the run together, TOP the busiest one's, WIRE the
# datagrams a replica heard per command (every one on the wire: a node
# hears its own too). Paced: LAT_N SETs at LAT_RATE, writer at info, the
# latency in LAT ("mean p50 p99", ms).
mode_run() {
	local n=$1 mode=$2 t0 end i slowest=1 got wire=0
	export ORDERING=$mode SEQUENCER=r1
	[ "$mode" = total ] || unset SEQUENCER
	start_replicas "$n" info
	t0=$(now_ms)
	if [ "${3:-}" = paced ]; then
		SENT=$LAT_N
		pace "$LAT_N" "$LAT_RATE" | ./kvmc --node-id writer --port "$port" \
			--hello-interval 0 --log-level info >/dev/null 2>"$dir/w.log"
	else
		# Its stdin stays open until the replicas are done: a writer
		# that stopped at EOF could not resend what a replica missed.
		SENT=$K
		rm -f "$dir/done"
		{ cat "$dir/sets.txt"; until [ -e "$dir/done" ]; do sleep 0.1; done; } |
			./kvmc --node-id writer --port "$port" --hello-interval 0 \
			--log-level warn >/dev/null 2>"$dir/w.log" &
		wpid=$!
	fi
	for ((i = 1; i <= n; i++)); do
		# A replica that never gets there counts what it lacks as lost.
		if wait_tail "$dir/r$i.log" "event=apply order=$SENT " "$DEADLINE"; then
			end=$(grep -m1 "event=apply order=$SENT " "$dir/r$i.log" | ts_ms)
		else
			end=$(now_ms)
		fi
		((end - t0 > slowest)) && slowest=$((end - t0))
	done
	if [ "${3:-}" = paced ]; then
		LAT=$(writer_latency "$dir/w.log" "$dir"/r*.log)
	else
		WCPU=$(awk -v c="$(cpu_us "$wpid")" -v k="$K" 'BEGIN { printf "%.2f", c / k }')
		touch "$dir/done"
		wait "$wpid" || true
	fi
	stop_replicas
	if [ "${3:-}" != paced ]; then
		ALLCPU=$(awk -v a="$SUMCPU" -v w="$WCPU" 'BEGIN { printf "%.1f", a + w }')
		TOP=$(awk -v a="$TOPCPU" -v w="$WCPU" 'BEGIN { printf "%.1f", (a + 0 > w + 0 ? a : w) }')
	fi
	for ((i = 1; i <= n; i++)); do
		got=$(grep 'event=stop' "$dir/r$i.log" | field received)
		((got > wire)) && wire=$got
	done
	WIRE=$(awk -v w="$wire" -v k="$SENT" 'BEGIN { printf "%.2f", w / k }')
	RATE=$((PROCESSED * 1000 / slowest))
	unset ORDERING SEQUENCER
	rm -f "$dir"/r*.log "$dir/w.log"
}

mkdir -p build/bench
make -s kvmc
cc -std=c11 -D_DEFAULT_SOURCE -O2 -o $mcast bench/mcast.c msg.c siphash.c log.c out.c
cc -std=c11 -D_DEFAULT_SOURCE -O2 -o $kvbench bench/kvbench.c kv.c siphash.c msg.c log.c out.c
for ((i = 0; i < K; i++)); do echo "SET k$((i % 1000)) $i"; done >"$dir/sets.txt"

echo "kvmc bench — $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m), K=$K SETs per run," \
	"load $(cut -d' ' -f1-3 /proc/loadavg)$([ "$QUICK" = 1 ] && echo ", quick")"
row() { printf '  %-26s %3s %10s %6s %9s %9s %7s %9s %7s\n' "$@"; }
median() { printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"; }
# measure KIND N [LEVEL]: RUNS runs; the medians in RATE, CPU, LOST, ...
measure() {
	local r=() c=() l=0 d=0 x
	for ((x = 0; x < RUNS; x++)); do
		if [ "$1" = baseline ]; then baseline_run "$2" 0; else kvmc_run "$2" "$3" 0; fi
		r+=("$RATE") c+=("$CPU")
		l=$((l + LOST)) d=$((d + DROPS))
	done
	RATE=$(median "${r[@]}") CPU=$(median "${c[@]}") LOST=$l DROPS=$d
}
echo
if want throughput; then
echo "Throughput, sender flat out, median of $RUNS run(s) (per replica; ratio = kvmc / baseline, same N)."
echo "cpu = CPU time a receiver spends per message, the cost beyond the kernel's own delivery:"
row who N msgs/s ratio lost k.drops cpu_us cpu_ratio rss_kb
SENT=$K
for n in $NS; do
	measure baseline "$n"
	base=$RATE base_cpu=$CPU
	[ "$n" = 3 ] && base3=$RATE
	row "baseline receiver" "$n" "$RATE" 1.00 "$LOST" "$DROPS" "$CPU" 1.00 -
	for level in info warn; do
		measure kvmc "$n" "$level"
		row "kvmc, LOG_LEVEL=$level" "$n" "$RATE" "$(ratio "$RATE" "$base")" "$LOST" "$DROPS" "$CPU" "$(ratio "$CPU" "$base_cpu")" "$RSS"
	done
done
fi

echo
if want modes; then
if [ -z "${base3:-}" ]; then
	SENT=$K
	measure baseline 3
	base3=$RATE
fi
echo "Ordering modes: a kvmc node is the writer (K SETs piped into its stdin, LOG_LEVEL=warn),"
echo "replicas at info, same mode (total: r1 the sequencer); median of $RUNS run(s), modes interleaved."
echo "msgs/s = applied per second per replica (slowest); ratio = mode / none, same N; dg/cmd ="
echo "datagrams on the wire per command (a replica's received count / K); cpu_us = a replica's"
echo "CPU per command; w_cpu_us = the writer's; all_us = every process of the run together; top_us ="
echo "the busiest process's. Latency: $LAT_N SETs paced at $LAT_RATE/s, writer at info, send line to"
echo "every replica's apply line (ms; the mean is good to ~0.1 ms):"
mrow() { printf '  %-7s %2s %9s %6s %6s %6s %7s %8s %6s %6s  %7s %4s %4s %6s\n' "$@"; }
mrow mode N msgs/s ratio lost/dr dg/cmd cpu_us w_cpu_us all_us top_us lat_mean p50 p99 ratio
MODES="none fifo causal total"
for n in $MODE_NS; do
	declare -A mr=() mc=() mw=() ma=() mt=() mwire=() ml=() md=()
	runs=$RUNS
	[ "$n" = 3 ] || runs=1
	for ((x = 0; x < runs; x++)); do
		for mode in $MODES; do
			mode_run "$n" "$mode"
			mr[$mode]+="$RATE " mc[$mode]+="$CPU " mw[$mode]+="$WCPU "
			ma[$mode]+="$ALLCPU " mt[$mode]+="$TOP "
			mwire[$mode]+="$WIRE " ml[$mode]=$((${ml[$mode]:-0} + LOST)) md[$mode]=$((${md[$mode]:-0} + DROPS))
		done
	done
	for mode in $MODES; do
		mode_run "$n" "$mode" paced
		read -r lmean lp50 lp99 <<<"$LAT"
		# shellcheck disable=SC2086
		rate=$(median ${mr[$mode]}) cpu=$(median ${mc[$mode]}) wcpu=$(median ${mw[$mode]}) wire=$(median ${mwire[$mode]})
		# shellcheck disable=SC2086
		all=$(median ${ma[$mode]}) top=$(median ${mt[$mode]})
		[ "$mode" = none ] && none_rate=$rate none_lat=$lmean
		[ "$mode" = none ] && [ "$n" = 3 ] && none3=$rate none3_wcpu=$wcpu none3_all=$all none3_top=$top
		[ "$mode" = total ] && [ "$n" = 3 ] && total3_all=$all total3_top=$top
		mrow "$mode" "$n" "$rate" "$(ratio "$rate" "$none_rate")" "${ml[$mode]}/${md[$mode]}" "$wire" "$cpu" "$wcpu" \
			"$all" "$top" "$lmean" "$lp50" "$lp99" "$(ratio "$lmean" "$none_lat")"
	done
	unset mr mc mw ma mt mwire ml md
done
echo "  targets at N=3: rate fifo >= 0.90, causal >= 0.80, total >= 0.60 of none's;"
echo "  dg/cmd without loss: none, fifo, causal 1.00, total 2.00 (the command and its ORDER)"
echo "  total's CPU at N=3: when the processes share the cores (here: $(nproc) cores, $((3 + 1)) processes) the"
echo "  rate follows all_us, none/total $(ratio "$none3_all" "$total3_all"); with a core each, the busiest process" \
	"sets it, top_us none/total $(ratio "$none3_top" "$total3_top")"
echo "  the writer path: kvmc writer -> kvmc (none) $none3 msgs/s vs C blaster -> baseline receiver" \
	"$base3 msgs/s: $(ratio "$none3" "$base3") (target >= 0.70); writer CPU $none3_wcpu us/command"
fi

echo
if want key; then
echo "Group key, N=3, LOG_LEVEL=warn, sender flat out (median of 3, runs interleaved):"
plain=() keyed=() plain_cpu=() keyed_cpu=()
SENT=$K
for ((x = 0; x < 3; x++)); do
	kvmc_run 3 warn 0
	plain+=("$RATE") plain_cpu+=("$CPU")
	GROUP_KEY=$(head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n')
	export GROUP_KEY
	kvmc_run 3 warn 0
	keyed+=("$RATE") keyed_cpu+=("$CPU")
	unset GROUP_KEY
done
p=$(median "${plain[@]}") k=$(median "${keyed[@]}")
pc=$(median "${plain_cpu[@]}") kc=$(median "${keyed_cpu[@]}")
echo "  unkeyed $p msgs/s ($pc cpu_us), keyed $k msgs/s ($kc cpu_us):" \
	"rate keyed/unkeyed $(ratio "$k" "$p") (target >= 0.9), cpu $(ratio "$kc" "$pc")"
fi

echo
if want steps; then
echo "Loss-free rate, N=3, sender paced (1 s of traffic per step); sent at = the rate the sender reached:"
printf '  %9s  %9s  %-20s  %9s  %-20s\n' asked "sent at" "baseline: lost/drops" "sent at" "kvmc info: lost/drops"
# The highest step that, and every step below it, lost nothing.
best_b=0 best_k=0 clean_b=1 clean_k=1
for rate in $STEPS; do
	SENT=$rate
	baseline_run 3 "$rate"
	blost=$LOST bdrops=$DROPS bsent=$SENT_RATE
	kvmc_run 3 info "$rate"
	printf '  %9d  %9s  %-20s  %9s  %-20s\n' "$rate" "$bsent" "$blost/$bdrops" "$SENT_RATE" "$LOST/$DROPS"
	((blost == 0 && clean_b)) && best_b=$rate || clean_b=0
	((LOST == 0 && clean_k)) && best_k=$rate || clean_k=0
done
echo "  highest step with no loss at it or below: baseline $best_b, kvmc $best_k (ratio $(ratio "$best_k" "$best_b"))"
fi

echo
if want latency; then
SENT=10000
baseline_run 1 10000
read -r bp50 bp99 <"$dir/latency"
kvmc_run 1 info 10000
read -r kp50 kp99 <"$dir/latency"
echo "Send-to-apply latency at 10000 msgs/s, N=1:"
echo "  baseline receiver  p50 ${bp50} us  p99 ${bp99} us"
echo "  kvmc (info log)    p50 ${kp50} ms  p99 ${kp99} ms  (whole ms, the log's resolution: 0 is under 1 ms)"
fi

echo
if want idle; then
echo "Idle replica and start-up (median of 5):"
ready=() rss=()
for i in 1 2 3 4 5; do
	port=$((port + 1))
	t0=$(now_ms)
	./kvmc --no-input --node-id idle --port "$port" >/dev/null 2>"$dir/idle.log" &
	pid=$!
	wait_for "$dir/idle.log" 'event=ready'
	ready+=($(($(ts_ms <<<"$(grep event=ready "$dir/idle.log")") - t0)))
	rss+=("$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")")
	kill "$pid"
	wait "$pid" || true
done
echo "  start to ready: $(median "${ready[@]}") ms (exec included); idle peak RSS: $(median "${rss[@]}") kB"
fi

echo
if want store; then
echo "The store alone (bench/kvbench):"
$kvbench | sed 's/^/  /'
fi

echo
if want trace && [ "$QUICK" != 1 ]; then bash bench/trace.sh; fi
