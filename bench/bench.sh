#!/usr/bin/env bash
# make bench: how close kvmc comes to what the kernel alone delivers here.
#
# Every kvmc figure is put next to a baseline measured in the same run on
# the same machine: bench/mcast, a receiver that does nothing but count
# the same datagrams. Speeds are reported as ratios to it. Nothing here is
# a test: it asserts nothing, it prints a table.
set -euo pipefail
cd "$(dirname "$0")/.."

K=${BENCH_K:-100000}		# SETs per throughput run
STEPS=${BENCH_STEPS:-"10000 20000 40000 60000 80000 120000 160000"}
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
# the CPU a replica spent per message in CPU (us, the mean).
stop_replicas() {
	local i h order d cpu=0
	PROCESSED=-1 LOST=0 DROPS=0 RSS=0
	for ((i = 1; i <= ${#rpids[@]}; i++)); do
		h=$(awk '/VmHWM/ {print $2}' "/proc/${rpids[i - 1]}/status")
		((h > RSS)) && RSS=$h
		cpu=$((cpu + $(cpu_us "${rpids[i - 1]}")))
		kill "${rpids[i - 1]}"
		wait "${rpids[i - 1]}" || true
		order=$(grep 'event=stop' "$dir/r$i.log" | field order)
		d=$(grep 'event=stop' "$dir/r$i.log" | field kernel_drops)
		((PROCESSED < 0 || order < PROCESSED)) && PROCESSED=$order
		LOST=$((LOST + SENT - order))
		DROPS=$((DROPS + d))
	done
	CPU=$(awk -v c="$cpu" -v n="${#rpids[@]}" -v s="$SENT" 'BEGIN { printf "%.2f", c / n / s }')
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
		$mcast send "$port" "$SENT" "$rate"
	fi
	for ((i = 1; i <= n; i++)); do
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
	$mcast send "$port" "$SENT" "$rate"
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

mkdir -p build/bench
make -s kvmc
cc -std=c11 -D_DEFAULT_SOURCE -O2 -o $mcast bench/mcast.c msg.c siphash.c log.c out.c
cc -std=c11 -D_DEFAULT_SOURCE -O2 -o $kvbench bench/kvbench.c kv.c siphash.c msg.c log.c out.c
for ((i = 0; i < K; i++)); do echo "SET k$((i % 1000)) $i"; done >"$dir/sets.txt"

echo "kvmc bench — $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m), K=$K SETs per run"
echo
echo "Throughput, sender flat out, median of 3 runs (per replica; ratio = kvmc / baseline, same N)."
echo "cpu = CPU time a receiver spends per message, the cost beyond the kernel's own delivery:"
row() { printf '  %-26s %3s %10s %6s %9s %9s %7s %9s %7s\n' "$@"; }
row who N msgs/s ratio lost k.drops cpu_us cpu_ratio rss_kb
median3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
# measure KIND N [LEVEL]: three runs; the medians in RATE, CPU, LOST, ...
measure() {
	local r=() c=() l=0 d=0 x
	for x in 1 2 3; do
		if [ "$1" = baseline ]; then baseline_run "$2" 0; else kvmc_run "$2" "$3" 0; fi
		r+=("$RATE") c+=("$CPU")
		l=$((l + LOST)) d=$((d + DROPS))
	done
	RATE=$(median3 "${r[@]}") CPU=$(median3 "${c[@]}") LOST=$l DROPS=$d
}
SENT=$K
for n in 1 3 8; do
	measure baseline "$n"
	base=$RATE base_cpu=$CPU
	row "baseline receiver" "$n" "$RATE" 1.00 "$LOST" "$DROPS" "$CPU" 1.00 -
	for level in info warn; do
		measure kvmc "$n" "$level"
		row "kvmc, LOG_LEVEL=$level" "$n" "$RATE" "$(ratio "$RATE" "$base")" "$LOST" "$DROPS" "$CPU" "$(ratio "$CPU" "$base_cpu")" "$RSS"
	done
done
kvmc_run 3 info 0 writer
row "kvmc writer -> kvmc, info" 3 "$RATE" - "$LOST" "$DROPS" "$CPU" - "$RSS"

echo
echo "Group key, N=3, LOG_LEVEL=warn, sender flat out (median of 3, runs interleaved):"
plain=() keyed=() plain_cpu=() keyed_cpu=()
for x in 1 2 3; do
	kvmc_run 3 warn 0
	plain+=("$RATE") plain_cpu+=("$CPU")
	GROUP_KEY=$(head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n')
	export GROUP_KEY
	kvmc_run 3 warn 0
	keyed+=("$RATE") keyed_cpu+=("$CPU")
	unset GROUP_KEY
done
p=$(median3 "${plain[@]}") k=$(median3 "${keyed[@]}")
pc=$(median3 "${plain_cpu[@]}") kc=$(median3 "${keyed_cpu[@]}")
echo "  unkeyed $p msgs/s ($pc cpu_us), keyed $k msgs/s ($kc cpu_us):" \
	"rate keyed/unkeyed $(ratio "$k" "$p") (target >= 0.9), cpu $(ratio "$kc" "$pc")"

echo
echo "Loss-free rate, N=3, sender paced (1 s of traffic per step):"
printf '  %9s  %-24s  %-24s\n' msgs/s "baseline: lost/drops" "kvmc info: lost/drops"
best_b=0 best_k=0
for rate in $STEPS; do
	SENT=$rate
	baseline_run 3 "$rate"
	blost=$LOST bdrops=$DROPS
	kvmc_run 3 info "$rate"
	printf '  %9d  %-24s  %-24s\n' "$rate" "$blost/$bdrops" "$LOST/$DROPS"
	((blost == 0 && rate > best_b)) && best_b=$rate
	((LOST == 0 && rate > best_k)) && best_k=$rate
done
echo "  highest loss-free step: baseline $best_b, kvmc $best_k (ratio $(ratio "$best_k" "$best_b"))"

echo
SENT=10000
baseline_run 1 10000
read -r bp50 bp99 <"$dir/latency"
kvmc_run 1 info 10000
read -r kp50 kp99 <"$dir/latency"
echo "Send-to-apply latency at 10000 msgs/s, N=1:"
echo "  baseline receiver  p50 ${bp50} us  p99 ${bp99} us"
echo "  kvmc (info log)    p50 ${kp50} ms  p99 ${kp99} ms  (whole ms, the log's resolution: 0 is under 1 ms)"

echo
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
median() { printf '%s\n' "$@" | sort -n | sed -n 3p; }
echo "  start to ready: $(median "${ready[@]}") ms (exec included); idle peak RSS: $(median "${rss[@]}") kB"

echo
echo "The store alone (bench/kvbench):"
$kvbench | sed 's/^/  /'

echo
bash bench/trace.sh
