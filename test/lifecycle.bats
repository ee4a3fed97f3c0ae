#!/usr/bin/env bats
# How a node stops and what it does with stdin and stdout (SPEC section 1):
# EOF, EXIT and the signals stop it with event=stop and exit 0; --no-input
# (or a stdin that is /dev/null) makes a replica that never reads stdin;
# SIGPIPE is ignored and stdout replies are flushed at once.

load helpers

setup() {
	kvmc_setup 24000
}

# expect_stop NAME REASON: NAME exits 0 within the deadline, and the last
# line of its log is event=stop with that reason, logged at info.
expect_stop() {
	wait_exit "$1"
	assert_eq "$EXIT_STATUS" 0 "exit status"
	assert_match "$(tail -n 1 "$(log_of "$1")")" \
		"^ts=[^ ]+ level=info node=$1 event=stop reason=$2( |$)" "last log line"
}

# ------------------------------------------------------------ stopping

@test "EOF on stdin stops the node with exit 0" {
	start_node n1
	close_input n1
	expect_stop n1 eof
}

@test "EXIT stops the node with exit 0" {
	start_node n1
	send_line n1 "EXIT"
	expect_stop n1 exit
	assert_no_log n1 'event=send'
}

@test "exit in lower case, with blanks and a CR around it, stops the node" {
	start_node n1
	send_bytes n1 ' \texit \r\n'
	expect_stop n1 exit
}

@test "SIGTERM stops the node with exit 0" {
	start_node n1
	kill -TERM "${NODE_PID[n1]}"
	expect_stop n1 signal
}

@test "SIGINT stops the node with exit 0" {
	start_node n1
	kill -INT "${NODE_PID[n1]}"
	expect_stop n1 signal
}

@test "SIGHUP stops the node with exit 0" {
	start_node n1
	kill -HUP "${NODE_PID[n1]}"
	expect_stop n1 signal
}

@test "SIGTERM stops the node in the middle of a flood" {
	start_node n1
	# A datagram n1 rejects (bad_field), sent as fast as rawsend can.
	printf 'x\n' >"$BATS_TEST_TMPDIR/flood"
	timeout 60 "$RAWSEND" -n 1000000000 "$GROUP" "$PORT" \
		<"$BATS_TEST_TMPDIR/flood" 3>&- &
	EXTRA_PIDS+=($!)
	wait_count n1 'event=reject' 1000
	kill -TERM "${NODE_PID[n1]}"
	expect_stop n1 signal
	# The flood was still going on when the node stopped.
	kill -0 "${EXTRA_PIDS[0]}"
}

@test "stdin read from a regular file is run to its end, then the node stops" {
	start_node n2
	printf 'SET a 1\nSET b 2\n' >"$BATS_TEST_TMPDIR/commands"
	launch n1 "$BATS_TEST_TMPDIR/commands" || true # may stop before ready
	wait_log n2 'event=apply .*from=n1 type=SET key=b value=2$'
	expect_stop n1 eof
}

# ------------------------------------------------------------ replicas

@test "the start line says input=yes when stdin is read" {
	start_node n1
	assert_match "$(log_line n1 'event=start')" ' input=yes( |$)'
}

@test "with --no-input stdin is never read" {
	start_node n1 --no-input
	assert_match "$(log_line n1 'event=start')" ' input=no( |$)'
	send_line n1 "SET x 1"
	send_line n1 "EXIT"
	# Once n1 has processed a datagram sent after those lines, it has been
	# through its loop with them waiting on stdin.
	datagram "v=1 type=SET id=$(uuid 1) from=peer key=k value=v\n"
	wait_log n1 'event=apply .*from=peer'
	is_running n1
	assert_no_log n1 'event=send'
	# Both lines are still in the FIFO: nobody read them.
	read -r -t 1 -u "${NODE_FD[n1]}" line
	assert_eq "$line" "SET x 1" "first unread line"
}

@test "with --no-input EOF on stdin does not stop the node" {
	start_node n1 --no-input
	close_input n1
	datagram "v=1 type=SET id=$(uuid 1) from=peer key=k value=v\n"
	wait_log n1 'event=apply .*from=peer'
	is_running n1
}

@test "a stdin that is /dev/null counts as --no-input" {
	start_devnull n1
	assert_match "$(log_line n1 'event=start')" ' input=no( |$)'
	# /dev/null is at EOF at once, yet the node keeps running as a replica.
	datagram "v=1 type=SET id=$(uuid 1) from=peer key=k value=v\n"
	wait_log n1 'event=apply .*from=peer'
	is_running n1
	assert_no_log n1 'event=stop'
}

# ------------------------------------------------------------ stdout

@test "GET and HELP replies are flushed at once when stdout is a pipe" {
	mkfifo "$BATS_TEST_TMPDIR/pipe"
	cat "$BATS_TEST_TMPDIR/pipe" >"$BATS_TEST_TMPDIR/piped.out" 3>&- &
	EXTRA_PIDS+=($!)
	NODE_OUT=$BATS_TEST_TMPDIR/pipe start_node n1
	send_line n1 "GET x"
	wait_file "$BATS_TEST_TMPDIR/piped.out" '^x \(not set\)$' 1 5
	send_line n1 "HELP"
	wait_file "$BATS_TEST_TMPDIR/piped.out" 'PRINT' 1 5
}

@test "a reply that cannot be written is dropped and the node goes on" {
	mkfifo "$BATS_TEST_TMPDIR/pipe"
	# Hold the pipe's read end only until the node has opened the write
	# end. (Listed in NODE_FD so that the node does not inherit it.)
	exec {reader}<>"$BATS_TEST_TMPDIR/pipe"
	NODE_FD[reader]=$reader
	NODE_OUT=$BATS_TEST_TMPDIR/pipe start_node n1
	close_input reader
	# Nobody reads n1's stdout now: writing there raises SIGPIPE / EPIPE.
	send_line n1 "GET x"
	send_line n1 "HELP"
	send_line n1 "SET y 1"
	wait_log n1 'event=apply .*type=SET key=y value=1$'
	is_running n1
}
