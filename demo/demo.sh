#!/usr/bin/env bash
# make demo: the original experiment, on loopback, in a few seconds.
#
# Four nodes on one multicast group. node3 hears node1 300 ms late and
# node4 hears node2 300 ms late (SIM_DELAY). node1 writes x=1, node2
# writes x=2 right after. Nothing orders the two writes, so each node
# keeps whichever it applied last: the replicas diverge, and CHECK says
# so. Then the same two writes with no delay, where loopback hides it.
set -euo pipefail

kvmc=${KVMC:-./kvmc}
port=${DEMO_PORT:-$((41000 + $$ % 8000))}
dir=$(mktemp -d)
pids=()
declare -A fd

cleanup() {
	local pid
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup EXIT

die() { echo "demo: $*" >&2; exit 1; }

# wait_for FILE PATTERN [COUNT]: until COUNT lines match, 5 s at most.
wait_for() {
	local file=$1 pattern=$2 count=${3:-1} i
	for ((i = 0; i < 250; i++)); do
		[ "$(grep -cE -- "$pattern" "$file" 2>/dev/null)" -ge "$count" ] && return 0
		sleep 0.02
	done
	die "timed out waiting for '$pattern' in $file"
}

# start NAME PORT [VAR=VALUE...]: a node reading from a FIFO held open here.
start() {
	local name=$1 p=$2 f
	shift 2
	mkfifo "$dir/$name.in"
	env MULTICAST_IF=127.0.0.1 "$@" "$kvmc" --node-id "$name" --port "$p" \
		<"$dir/$name.in" >"$dir/$name.out" 2>"$dir/$name.log" &
	pids+=($!)
	exec {f}>"$dir/$name.in"
	fd[$name]=$f
	wait_for "$dir/$name.log" 'event=ready'
}

say() { printf '%s\n' "$2" >&"${fd[$1]}"; }

# The value of field $1 in the log line on stdin.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

# One row per node: the order it applied the writes, and its final x.
show_orders() {
	local n line order
	printf '  %-6s  %-34s  %s\n' node 'applied, in this order' 'final x'
	for n in node1 node2 node3 node4; do
		order=""
		while read -r line; do
			order+="x=$(field value <<<"$line") (from $(field from <<<"$line")), "
		done < <(grep 'event=apply' "$dir/$n.log" | grep 'type=SET')
		printf '  %-6s  %-34s  %s\n' "$n" "${order%, }" \
			"$(grep 'type=SET' "$dir/$n.log" | tail -n 1 | field value)"
	done
}

# round PORT TITLE [delays]: four fresh nodes, two writes, one CHECK.
round() {
	local p=$1 title=$2 delayed=$3 n
	rm -f "$dir"/*.in "$dir"/*.log "$dir"/*.out
	start node1 "$p"
	start node2 "$p"
	if [ "$delayed" = yes ]; then
		start node3 "$p" SIM_DELAY=node1=300
		start node4 "$p" SIM_DELAY=node2=300
	else
		start node3 "$p"
		start node4 "$p"
	fi
	say node1 "SET x 1"
	wait_for "$dir/node1.log" 'event=send .*type=SET'
	say node2 "SET x 2"
	for n in node1 node2 node3 node4; do
		wait_for "$dir/$n.log" 'event=apply .*type=SET' 2
	done
	say node1 "CHECK"
	wait_for "$dir/node1.out" '^(CONSISTENT|DIVERGED|NO_REPLY)'

	echo "== $title"
	show_orders
	echo
	echo "  CHECK from node1 (digest of each store):"
	sed 's/^/    /' "$dir/node1.out"
	echo
	for n in node1 node2 node3 node4; do exec {fd[$n]}>&-; done
	for n in "${pids[@]}"; do kill "$n" 2>/dev/null || true; wait "$n" 2>/dev/null || true; done
	pids=()
}

[ -x "$kvmc" ] || die "$kvmc not found: run make first"

echo "node1 sends SET x 1, then node2 sends SET x 2. No ordering protocol."
echo
round "$port" "With slow links: node3 hears node1 300 ms late, node4 hears node2 300 ms late" yes
round "$((port + 1))" "Without simulated delay: plain loopback" no
cat <<'TEXT'
Why the second round agrees: on one machine, loopback multicast hands each
datagram to every node at once and in the same order, so all nodes apply
x=1 then x=2. Real networks do not: with nothing to order the writes, a node
that hears them the other way round keeps the other value, for good.
TEXT
