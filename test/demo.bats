#!/usr/bin/env bats
# make demo (SPEC sections 9 and 11): the four-node experiment, DIVERGED
# without ordering and CONSISTENT under total; then the matrix, a row per
# scenario and a column per mode, each cell the verdict of a real run.
# DEMO_PORT puts its runs on this test's block of ports (PORT to PORT+99),
# so that what it leaves behind can be found by port.

load helpers

setup() {
	kvmc_setup 32000
	# The demo needs 26 ports: a block of 100 per test (32100-32299).
	PORT=$((32000 + 100 * BATS_TEST_NUMBER))
	DEMO_OUT=$BATS_TEST_TMPDIR/out
}

# demo: run the demo as `make demo` does, on this test's ports; its
# output in DEMO.
demo() {
	DEMO=$(DEMO_PORT=$PORT DEMO_OUT=$DEMO_OUT KVMC=$KVMC \
		timeout 120 bash "$REPO/demo/demo.sh")
}

# row TITLE: the verdicts of the matrix row TITLE, one per mode.
row() {
	grep -E "^$1 {2,}" <<<"$DEMO" | sed "s/^$1 *//" | tr -s ' ' | sed 's/ $//'
}

# expect_row TITLE VERDICTS: the row is as SPEC section 11 says. A cell
# may say SLOW only where SPEC allows it (rows 1-2: a premise failed).
expect_row() {
	local got want=$2 i
	got=$(row "$1")
	read -ra g <<<"$got"
	read -ra w <<<"$want"
	assert_eq "${#g[@]}" 4 "cells of '$1' in: $DEMO"
	for i in 0 1 2 3; do
		[[ ${g[$i]} == "${w[$i]}" ]] && continue
		if [[ ${g[$i]} == SLOW && ${3:-} == may-be-slow ]]; then
			echo "# '$1' cell $i: premise failed on this machine" >&3
			continue
		fi
		assert_eq "$got" "$want" "row '$1'"
	done
}

# nodes_on_my_ports: PIDs of kvmc processes started on this test's ports.
nodes_on_my_ports() {
	local f pid
	for f in /proc/[0-9]*/cmdline; do
		pid=${f#/proc/}
		pid=${pid%/cmdline}
		# A process may be gone by the time it is read: no message then.
		tr '\0' ' ' 2>/dev/null <"$f" |
			grep -Eq "^[^ ]*kvmc .*--port $((PORT / 100))[0-9][0-9] " && echo "$pid"
	done
	return 0
}

@test "the demo opens with DIVERGED, then CONSISTENT under total, and prints the matrix of SPEC section 11" {
	demo
	diverged=$(grep -n 'DIVERGED (4 nodes)' <<<"$DEMO" | cut -d: -f1)
	consistent=$(grep -n 'CONSISTENT (4 nodes)' <<<"$DEMO" | cut -d: -f1)
	assert_match "$diverged" '^[0-9]+$' "one DIVERGED line in: $DEMO"
	assert_match "$consistent" '^[0-9]+$' "one CONSISTENT line in: $DEMO"
	((diverged < consistent))
	expect_row "concurrent writes" "DIVERGED DIVERGED DIVERGED CONSISTENT" may-be-slow
	expect_row "write after read" "DIVERGED DIVERGED CONSISTENT CONSISTENT" may-be-slow
	expect_row "one writer, jittery link" "DIVERGED CONSISTENT CONSISTENT CONSISTENT"
	expect_row "lossy link" "DIVERGED CONSISTENT CONSISTENT CONSISTENT"
	# Every cell's logs are kept, and nothing of the demo still runs.
	[ -s "$DEMO_OUT/lossy-total/node3.log" ]
	assert_eq "$(nodes_on_my_ports)" "" "kvmc processes on this test's ports"
}

@test "two runs of the demo print the same verdicts" {
	demo
	first=$(grep -E '^(concurrent|write|one|lossy)' <<<"$DEMO")
	demo
	second=$(grep -E '^(concurrent|write|one|lossy)' <<<"$DEMO")
	# A failed premise is the machine's, not the demo's: compare the rest.
	if [[ $first$second == *SLOW* ]]; then
		first=$(grep -Ev 'SLOW' <<<"$first")
		second=$(grep -Ev 'SLOW' <<<"$second")
	fi
	assert_eq "$second" "$first" "the second run's table"
}
