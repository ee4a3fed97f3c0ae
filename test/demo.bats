#!/usr/bin/env bats
# make demo (SPEC section 9): four nodes on loopback, first with slow links
# (they diverge, and CHECK says DIVERGED), then without (CHECK says
# CONSISTENT). It must finish on its own, quickly, and clean up after
# itself. DEMO_PORT puts its two rounds on this test's ports (PORT and
# PORT+1), so that what it leaves behind can be found by port.

load helpers

setup() {
	kvmc_setup 32000
}

# demo: run the demo as `make demo` does, on this test's ports, 10 s at most.
demo() {
	DEMO_PORT=$PORT KVMC=$KVMC timeout 10 bash "$REPO/demo/demo.sh"
}

# nodes_on_my_ports: the PIDs of kvmc processes started with --port PORT
# or PORT+1.
nodes_on_my_ports() {
	local f pid
	for f in /proc/[0-9]*/cmdline; do
		pid=${f#/proc/}
		pid=${pid%/cmdline}
		# A process may be gone by the time it is read: no message then.
		tr '\0' ' ' 2>/dev/null <"$f" |
			grep -Eq "^[^ ]*kvmc .*--port ($PORT|$((PORT + 1))) " && echo "$pid"
	done
	return 0
}

@test "the demo shows DIVERGED, then CONSISTENT, and exits 0 within 10 s" {
	run -0 demo
	diverged=$(grep -n 'DIVERGED (4 nodes)' <<<"$output" | cut -d: -f1)
	consistent=$(grep -n 'CONSISTENT (4 nodes)' <<<"$output" | cut -d: -f1)
	assert_match "$diverged" '^[0-9]+$' "one DIVERGED line in: $output"
	assert_match "$consistent" '^[0-9]+$' "one CONSISTENT line in: $output"
	((diverged < consistent))
	# The first round's node3 applied the writes the other way round.
	assert_match "$output" 'node3 +x=2 \(from node2\), x=1 \(from node1\) +1'
}

@test "the demo leaves no node of its own running" {
	run -0 demo
	assert_eq "$(nodes_on_my_ports)" "" "kvmc processes on ports $PORT and $((PORT + 1))"
}
