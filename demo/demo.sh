#!/usr/bin/env bash
# make demo: the divergence experiment, then which ordering fixes what.
#
# First the original experiment on loopback: four nodes, node3 hears node1
# 300 ms late and node4 hears node2 300 ms late (SIM_DELAY); node1 writes
# x=1, node2 x=2 right after. Nothing orders the two writes, so each node
# keeps whichever it applied last, and CHECK says DIVERGED. The same run
# under ORDERING=total (node1 the sequencer) ends CONSISTENT.
#
# Then the matrix of SPEC section 11: four scenarios, each run under the
# four modes side by side (one port each), every cell the CHECK verdict of
# a real run of three real nodes, and a few lines per row saying why.
# Every cell's logs are kept under demo/out/, with a space-time diagram
# of each (kvmc trace) where the binary has it.
set -euo pipefail

kvmc=${KVMC:-./kvmc}
port=${DEMO_PORT:-$((41000 + $$ % 8000))}
out=${DEMO_OUT:-demo/out}
dir=$(mktemp -d)
MODES=(none fifo causal total)
declare -A fd

# Every node's PID is in a file beside its log: none outlives the demo.
cleanup() {
	local f
	for f in $(jobs -p) $(cat "$dir"/*/*.pid 2>/dev/null); do
		kill "$f" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

die() { echo "demo: $*" >&2; exit 1; }

# count FILE PATTERN: how many lines of FILE (- for stdin) match.
count() {
	local n
	n=$(grep -cE -- "$2" "$1" 2>/dev/null)
	echo "${n:-0}"
}

# now_ms: the wall clock in ms, without forking.
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }

# wait_for FILE PATTERN [COUNT [SECONDS]]: until COUNT lines match;
# returns 1 after SECONDS (default 10) of the clock, however loaded.
wait_for() {
	local file=$1 pattern=$2 n=${3:-1} end
	end=$(($(now_ms) + ${4:-10} * 1000))
	until (($(count "$file" "$pattern") >= n)); do
		(($(now_ms) < end)) || return 1
		sleep 0.02
	done
}

# start CELL NAME PORT [VAR=VALUE...]: a node of CELL reading from a FIFO
# held open here; returns once it is ready.
start() {
	local cell=$1 name=$2 p=$3 f
	shift 3
	mkfifo "$cell/$name.in"
	env MULTICAST_IF=127.0.0.1 "$@" "$kvmc" --node-id "$name" --port "$p" \
		<"$cell/$name.in" >"$cell/$name.out" 2>"$cell/$name.log" &
	echo $! >"$cell/$name.pid"
	exec {f}>"$cell/$name.in"
	fd[$cell/$name]=$f
	wait_for "$cell/$name.log" 'event=ready' 1 || die "$name did not start"
}

# say CELL NAME LINE: type LINE on the node's stdin.
say() { printf '%s\n' "$3" >&"${fd[$1/$2]}"; }

# stop_cell CELL: close every node's stdin, stop and reap them.
stop_cell() {
	local cell=$1 key pid
	for key in "${!fd[@]}"; do
		[[ $key == "$cell"/* ]] || continue
		exec {fd[$key]}>&-
		unset "fd[$key]"
	done
	for pid in "$cell"/*.pid; do
		kill "$(cat "$pid")" 2>/dev/null || true
	done
	for pid in "$cell"/*.pid; do
		while kill -0 "$(cat "$pid")" 2>/dev/null; do sleep 0.02; done
	done
}

# The value of field $1 in the log line on stdin.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

# ts_ms LINE: the line's ts= in ms since midnight.
ts_ms() {
	local t
	t=$(field ts <<<" $1")
	t=${t#*T}
	t=${t%Z}
	echo $((10#${t:0:2} * 3600000 + 10#${t:3:2} * 60000 + 10#${t:6:2} * 1000 + 10#${t:9:3}))
}

# applied CELL NAME: the values of x the node applied, in its order.
applied() {
	grep 'event=apply ' "$1/$2.log" | grep ' type=SET ' | field value | tr '\n' ' '
}

# ---------------------------------------------------------------- the opening

# opening CELL PORT MODE: the four-node experiment of SPEC section 6.
opening() {
	local cell=$1 p=$2 n vars=(HELLO_INTERVAL=0)
	mkdir -p "$cell"
	[[ $3 == total ]] && vars+=(ORDERING=total SEQUENCER=node1)
	start "$cell" node1 "$p" "${vars[@]}"
	start "$cell" node2 "$p" "${vars[@]}"
	start "$cell" node3 "$p" "${vars[@]}" SIM_DELAY=node1=300
	start "$cell" node4 "$p" "${vars[@]}" SIM_DELAY=node2=300
	say "$cell" node1 "SET x 1"
	wait_for "$cell/node1.log" 'event=send .*type=SET' || die "no send"
	say "$cell" node2 "SET x 2"
	for n in node1 node2 node3 node4; do
		wait_for "$cell/$n.log" 'event=apply .*type=SET' 2 ||
			die "$n did not apply both writes"
	done
	say "$cell" node1 "CHECK"
	wait_for "$cell/node1.out" '^(CONSISTENT|DIVERGED|NO_REPLY)' || die "no verdict"
	printf '  %-6s  %s\n' node 'applied x, in this order'
	for n in node1 node2 node3 node4; do
		printf '  %-6s  %s\n' "$n" "$(applied "$cell" "$n")"
	done
	echo "  CHECK from node1 (digest of each store):"
	sed 's/^/    /' "$cell/node1.out"
	stop_cell "$cell"
}

# ---------------------------------------------------------------- the matrix

# Each scenario is three functions: its nodes' settings (setup_ROW NODE),
# what is typed (drive_ROW CELL), and how many SETs every node applies.
ROWS=(concurrent readwrite jitter lossy)
declare -A TITLE=(
	[concurrent]="concurrent writes"
	[readwrite]="write after read"
	[jitter]="one writer, jittery link"
	[lossy]="lossy link"
)
declare -A WRITES=([concurrent]=2 [readwrite]=2 [jitter]=5 [lossy]=50)

setup_concurrent() {
	case $1 in
	node1) echo SIM_DELAY=node2=300 ;;
	node2) echo SIM_DELAY=node1=300 ;;
	node3) echo SIM_DELAY=node1=300 ;;
	esac
}
setup_readwrite() { [[ $1 == node3 ]] && echo SIM_DELAY=node1=300 || true; }
setup_jitter() {
	echo HELLO_INTERVAL=0
	[[ $1 == node3 ]] && echo SIM_DELAY=node1=0-300 SIM_SEED=9 || true
}
setup_lossy() {
	echo HELLO_INTERVAL=300
	[[ $1 == node3 ]] && echo SIM_LOSS=0.3 SIM_SEED=6 || true
}

drive_concurrent() {
	say "$1" node1 "SET x 1"
	say "$1" node2 "SET x 2"
}
drive_readwrite() {
	say "$1" node1 "SET x 1"
	wait_for "$1/node2.log" 'event=apply .*from=node1 type=SET' || return 1
	say "$1" node2 "SET x 2"
}
drive_jitter() {
	local i
	for i in 1 2 3 4 5; do say "$1" node1 "SET x $i"; done
}
drive_lossy() {
	local i
	for ((i = 1; i <= 50; i++)); do say "$1" node1 "SET k$i $i"; done
}

# premise CELL ROW: rows 1-2 need the second write within 250 ms of the
# first; a slow machine can break that, and the cell then says so.
premise() {
	local a b
	[[ $2 == concurrent || $2 == readwrite ]] || return 0
	a=$(grep -m1 'event=send .*type=SET' "$1/node1.log")
	b=$(grep -m1 'event=send .*type=SET' "$1/node2.log")
	(($(ts_ms "$b") - $(ts_ms "$a") <= 250))
}

# settled CELL ROW MODE: every node applied every write - or, in the lossy
# none cell, node3's count has stood still for 600 ms.
settled() {
	local cell=$1 row=$2 n=${WRITES[$2]} node last=-1 now end
	for node in node1 node2; do
		wait_for "$cell/$node.log" 'event=apply .*type=SET' "$n" 20 || return 1
	done
	if [[ $row != lossy || $3 != none ]]; then
		wait_for "$cell/node3.log" 'event=apply .*type=SET' "$n" 20
		return
	fi
	end=$(($(now_ms) + 20000))
	while (($(now_ms) < end)); do
		now=$(count "$cell/node3.log" 'event=apply .*type=SET')
		[[ $now == "$last" ]] && return 0
		last=$now
		sleep 0.6
	done
	return 1
}

# check CELL: CHECK from node1 until all three nodes answer; prints the
# verdict. node3 loses 30% of what it hears in the lossy row, CHECKs and
# DIGESTs included, so a round misses it about four times in ten: 20
# rounds leave a run without an answer about once in ten million.
check() {
	local cell=$1 i verdicts
	for ((i = 1; i <= 20; i++)); do
		say "$cell" node1 "CHECK"
		wait_for "$cell/node1.out" '^(CONSISTENT|DIVERGED|NO_REPLY)' "$i" 10 || break
		verdicts=$(grep -E '^(CONSISTENT|DIVERGED|NO_REPLY)' "$cell/node1.out" | tail -n 1)
		if [[ $verdicts == *"(3 nodes)" ]]; then
			echo "${verdicts%% *}"
			return
		fi
	done
	echo "NO_ANSWER"
}

# cell ROW MODE PORT: one run of three nodes; writes the verdict to
# CELL/verdict ("SLOW" when the premise failed, "TIMEOUT" when a bounded
# wait ran out).
cell() {
	local row=$1 mode=$2 p=$3 c=$dir/$1-$2 node vars
	mkdir -p "$c"
	echo ERROR >"$c/verdict" # until the run says otherwise
	for node in node1 node2 node3; do
		read -ra vars <<<"$(setup_"$row" "$node" | tr '\n' ' ')"
		start "$c" "$node" "$p" ORDERING="$mode" SEQUENCER=node1 "${vars[@]}"
	done
	if ! "drive_$row" "$c" || ! settled "$c" "$row" "$mode"; then
		echo TIMEOUT >"$c/verdict"
	elif ! premise "$c" "$row"; then
		echo SLOW >"$c/verdict"
	else
		check "$c" >"$c/verdict"
	fi
	stop_cell "$c"
}

# why ROW: a line per mode: the order each node applied, what was held,
# what was asked again.
why() {
	local row=$1 mode c node line
	for mode in "${MODES[@]}"; do
		c=$dir/$row-$mode
		line=""
		for node in node1 node2 node3; do
			if [[ $row == lossy ]]; then
				line+="$node $(count "$c/$node.log" 'event=apply .*type=SET') applied; "
			else
				line+="$node x=$(applied "$c" "$node" | sed 's/ $//; s/ /,/g'); "
			fi
		done
		line+="held $(cat "$c"/node*.log | count - 'event=hold ')"
		line+=", nacks $(cat "$c"/node*.log | count - 'event=nack ')"
		line+=", resent $(cat "$c"/node*.log | count - 'event=resend ')"
		printf '    %-7s %s\n' "$mode" "$line"
	done
}

# keep_run RUN: the logs of one run under $out, with its diagram.
keep_run() {
	local dest=$out/$1
	mkdir -p "$dest"
	cp "$dir/$1"/*.log "$dest"/
	"$kvmc" trace "$dest"/*.log >"$dest/trace.svg" 2>/dev/null ||
		rm -f "$dest/trace.svg"
}

# keep ROW: the logs and diagrams of the row's cells.
keep() {
	local mode
	for mode in "${MODES[@]}"; do
		keep_run "$1-$mode"
	done
}

declare -A EXPLAIN=(
	[concurrent]="Two writers at once: every mode but total lets each node keep the write it applied last; only the sequencer's single order makes them agree. fifo and causal do not help: the writes are from different senders and neither saw the other."
	[readwrite]="node2 wrote x=2 after applying x=1; node3 got x=2 first. causal holds x=2 until x=1 is applied (vc names node1:1); total orders both. fifo orders each sender alone, so it does not see the dependency."
	[jitter]="One sender, its SETs overtake each other on node3's link. Any ordering restores the sender's order (seq); none applies them as they come."
	[lossy]="node3 drops 30% of what it receives. none just loses those writes; the ordered modes notice the gaps (a later seq, or a HELLO) and ask again (NACK), and the sender resends."
)

matrix() {
	local row mode i cells p=$((port + 10))
	printf '\n%-26s' scenario
	printf ' %-11s' "${MODES[@]}"
	echo
	for row in "${ROWS[@]}"; do
		for i in 0 1 2 3; do
			cell "$row" "${MODES[$i]}" $((p + i)) &
		done
		wait
		p=$((p + 4))
		cells=""
		for mode in "${MODES[@]}"; do
			cells+=$(printf ' %-11s' "$(cat "$dir/$row-$mode/verdict")")
		done
		printf '%-26s%s\n' "${TITLE[$row]}" "$cells"
		keep "$row"
	done
	echo
	for row in "${ROWS[@]}"; do
		echo "${TITLE[$row]}:"
		fold -s -w 74 <<<"${EXPLAIN[$row]}" | sed 's/^/  /'
		why "$row"
	done
	if grep -qx SLOW "$dir"/*/verdict; then
		echo
		echo "SLOW: this machine took more than 250 ms between the two writes,"
		echo "so that cell's premise failed; run make demo again on an idle machine."
	fi
}

[ -x "$kvmc" ] || die "$kvmc not found: run make first"
rm -rf "$out"
mkdir -p "$out"

echo "node1 sends SET x 1, then node2 sends SET x 2. node3 hears node1 300 ms"
echo "late, node4 hears node2 300 ms late."
echo
echo "== No ordering (ORDERING=none)"
opening "$dir/opening-none" "$port" none
echo
echo "== The same run under ORDERING=total, node1 the sequencer"
opening "$dir/opening-total" "$((port + 1))" total
keep_run opening-none
keep_run opening-total
echo
echo "== Which ordering fixes what: each cell is the CHECK verdict of a real run"
matrix
echo
echo "Logs and diagrams of every run: $out/"
