#!/usr/bin/env bats
# make valgrind: three nodes under valgrind memcheck through SET, GET,
# PRINT, CHECK, PEERS, rejects, a duplicate, messages still held by the
# simulated network at exit, and the three ways to stop (EXIT, EOF,
# SIGTERM); and kvmc trace on such logs. Passes when every node exits 0
# with no memcheck error and no byte definitely or indirectly lost.
# Skipped in `make test` (it is slow); `make valgrind` sets KVMC_VALGRIND=1.

load helpers

setup() {
	[[ ${KVMC_VALGRIND:-} == 1 ]] || skip "run by make valgrind"
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	kvmc_setup 34000
	WAIT=30 # valgrind starts slowly
	export HELLO_INTERVAL=200
}

# memcheck NAME: the node NAME's memcheck log.
memcheck() { echo "$BATS_TEST_TMPDIR/$1.vg"; }

# start_checked NAME [OPTION...]: start_node, under memcheck.
start_checked() {
	local name=$1
	shift
	KVMC_CMD=(valgrind --leak-check=full --show-leak-kinds=definite,indirect
		--errors-for-leak-kinds=definite,indirect --error-exitcode=99
		--log-file="$(memcheck "$name")" "$KVMC")
	start_node "$name" "$@"
}

# clean_exit NAME: the node exited 0, memcheck found nothing, it logged stop.
clean_exit() {
	wait_exit "$1" 30
	grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|All heap blocks' \
		"$(memcheck "$1")" | sed "s/^==[0-9]*== */# $1: /" >&3
	assert_eq "$EXIT_STATUS" 0 "$1's exit status"
	grep -q 'ERROR SUMMARY: 0 errors' "$(memcheck "$1")" || {
		cat "$(memcheck "$1")" >&2
		return 1
	}
	wait_log "$1" 'event=stop'
}

@test "three nodes under memcheck: no error, no leak, every way to stop" {
	start_checked node1
	start_checked node2
	start_checked node3 --sim-delay 'node1=100,*=60000'
	send_line node1 "SET a 1"
	send_line node1 "SET b two words"
	send_line node1 "GET a"
	send_line node1 "PRINT"
	wait_log node2 'event=entry key=b'
	send_line node2 "CHECK"
	send_line node2 "PEERS"
	id=$(uuid 7)
	datagram "v=1 type=SET id=$id from=ghost key=g value=%1B\n"
	datagram "v=1 type=SET id=$id from=ghost key=g value=%1B\n"
	datagram "v=1 type=SET id=$id from=ghost key=g value=%0\n"
	datagram "v=1  type=PRINT\n"
	datagram "junk"
	head -c 3000 /dev/zero | timeout 5 "$RAWSEND" "$GROUP" "$PORT"
	wait_log node2 'event=duplicate'
	wait_out node2 'CONSISTENT|DIVERGED'
	send_line node1 "EXIT"
	close_input node2
	kill -TERM "${NODE_PID[node3]}"
	clean_exit node1
	clean_exit node2
	clean_exit node3
}

@test "kvmc trace under memcheck: the logs of that run, as SVG and ShiViz" {
	start_node node1
	start_node node2 --sim-delay node1=50
	send_line node1 "SET a 1"
	send_line node2 "SET a 2"
	wait_count node1 'event=apply .*type=SET' 2
	wait_count node2 'event=apply .*type=SET' 2
	printf 'junk\n' >"$BATS_TEST_TMPDIR/junk.log"
	local mode
	for mode in "" --shiviz; do
		run --separate-stderr -0 valgrind -q --leak-check=full \
			--errors-for-leak-kinds=all --error-exitcode=99 "$KVMC" trace \
			$mode "$(log_of node1)" "$(log_of node2)" "$BATS_TEST_TMPDIR/junk.log"
		assert_eq "$stderr" "kvmc trace: skipped 1 line that is not a kvmc log line"
	done
	run --separate-stderr -2 valgrind -q --leak-check=full \
		--errors-for-leak-kinds=all --error-exitcode=99 "$KVMC" trace \
		"$BATS_TEST_TMPDIR/junk.log" "$BATS_TEST_TMPDIR/missing.log"
}

@test "total mode with loss under memcheck: held, resent, sequenced, no leak" {
	local opts=(--ordering total --sequencer node1)
	start_checked node1 "${opts[@]}"
	start_checked node2 "${opts[@]}" --sim-loss 0.3 --sim-seed 6
	start_checked node3 "${opts[@]}" --sim-loss 0.3 --sim-seed 9 --sim-delay '*=0-50'
	for i in $(seq 1 40); do echo "SET k$i $i"; done >&"${NODE_FD[node2]}"
	for i in $(seq 1 40); do echo "SET j$i $i"; done >&"${NODE_FD[node3]}"
	for n in node1 node2 node3; do
		wait_count $n 'event=apply order=' 80 60
	done
	wait_log node2 'event=nack '
	# A command that waits for an ORDER that never comes, held at exit.
	datagram "v=1 type=SET id=$(uuid 7) from=ghost key=g value=1 inc=1 seq=1\n"
	datagram "v=1 type=SET id=$(uuid 8) from=ghost key=g value=1 inc=1 seq=3\n"
	wait_log node1 'event=hold .*from=ghost'
	send_line node1 "EXIT"
	close_input node2
	kill -TERM "${NODE_PID[node3]}"
	clean_exit node1
	clean_exit node2
	clean_exit node3
}

@test "two keyed nodes under memcheck: tags made, checked and refused" {
	local key=000102030405060708090a0b0c0d0e0f
	umask 077
	printf '%s\n' "$key" >"$BATS_TEST_TMPDIR/key"
	GROUP_KEY=$key start_checked node1
	start_checked node2 --key-file "$BATS_TEST_TMPDIR/key" --sim-delay '*=50'
	send_line node1 "SET a 1"
	wait_log node2 'event=apply .*key=a value=1$'
	send_line node2 "CHECK"
	wait_out node2 'CONSISTENT|DIVERGED'
	datagram "v=1 type=SET id=$(uuid 1) from=ghost key=g value=v\n"
	datagram "v=1 type=SET id=$(uuid 2) from=ghost key=g value=v mac=0123456789abcdef\n"
	wait_count node1 'event=reject reason=key_mismatch' 2
	wait_count node2 'event=reject reason=key_mismatch' 2
	send_line node1 "EXIT"
	close_input node2
	clean_exit node1
	clean_exit node2
}
