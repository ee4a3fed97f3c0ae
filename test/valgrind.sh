#!/usr/bin/env bash
# make valgrind: three nodes under valgrind memcheck through SET, GET,
# PRINT, CHECK, PEERS, rejects, a duplicate, messages still held by the
# simulated network at exit, and the three ways to stop (EXIT, EOF,
# SIGTERM). Passes when every node exits 0 with no memcheck error and no
# byte definitely or indirectly lost.
set -euo pipefail
cd "$(dirname "$0")/.."

port=${VALGRIND_PORT:-34999}
dir=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$dir"' EXIT
export MULTICAST_IF=127.0.0.1

die() { echo "valgrind: $*" >&2; exit 1; }

# wait_for FILE PATTERN: 30 s at most (valgrind starts slowly).
wait_for() {
	local i
	for ((i = 0; i < 1500; i++)); do
		grep -qE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.02
	done
	die "timed out waiting for '$2' in $1"
}

declare -A fd pid
start() {
	local name=$1 f
	shift
	mkfifo "$dir/$name.in"
	valgrind --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
		--log-file="$dir/$name.vg" \
		./kvmc --node-id "$name" --port "$port" --hello-interval 200 "$@" \
		<"$dir/$name.in" >"$dir/$name.out" 2>"$dir/$name.log" &
	pid[$name]=$!
	pids+=($!)
	exec {f}>"$dir/$name.in"
	fd[$name]=$f
	wait_for "$dir/$name.log" 'event=ready'
}
say() { printf '%s\n' "$2" >&"${fd[$1]}"; }
raw() { printf '%b' "$1" | test/rawsend 239.0.0.1 "$port"; }

start node1
start node2
start node3 --sim-delay 'node1=100,*=60000'

say node1 "SET a 1"
say node1 "SET b two words"
say node1 "GET a"
say node1 "PRINT"
wait_for "$dir/node2.log" 'event=entry key=b'
say node2 "CHECK"
say node2 "PEERS"
id=0f8e2c1a-5b7d-4e3f-9a21-6c4d2b1e0f37
raw "v=1 type=SET id=$id from=ghost key=g value=%1B\n"
raw "v=1 type=SET id=$id from=ghost key=g value=%1B\n"
raw "v=1 type=SET id=$id from=ghost key=g value=%0\n"
raw "v=1  type=PRINT\n"
raw "junk"
head -c 3000 /dev/zero | test/rawsend 239.0.0.1 "$port"
wait_for "$dir/node2.log" 'event=duplicate'
wait_for "$dir/node2.out" 'CONSISTENT|DIVERGED'

say node1 "EXIT"
exec {fd[node2]}>&-
kill -TERM "${pid[node3]}"
status=0
for n in node1 node2 node3; do
	rc=0
	wait "${pid[$n]}" || rc=$?
	summary=$(grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|All heap blocks' "$dir/$n.vg" |
		sed 's/^==[0-9]*== *//' | tr '\n' ';')
	echo "$n: exit $rc; $summary"
	if [ "$rc" -ne 0 ] || ! grep -q 'ERROR SUMMARY: 0 errors' "$dir/$n.vg"; then
		cat "$dir/$n.vg"
		status=1
	fi
	grep -q 'event=stop' "$dir/$n.log" || { echo "$n: no event=stop"; status=1; }
done
exit "$status"
