#!/usr/bin/env bats
# On a terminal (SPEC section 2): a prompt is shown only when stdin is a
# terminal, and log lines that arrive while the prompt waits are written
# over it, from the start of its line, with a fresh prompt after them.
# script(1) gives the node a pseudo-terminal; what the node prints (both
# stdout and stderr, as on a real terminal) lands in NAME.tty.

load helpers

setup() {
	kvmc_setup 29000
	command -v script >/dev/null || skip "script(1) is not installed"
	export HELLO_INTERVAL=0
}

# start_tty NAME: a node on a pseudo-terminal, fed from a FIFO held open.
start_tty() {
	local name=$1 fd
	mkfifo "$BATS_TEST_TMPDIR/$name.in"
	exec {fd}<>"$BATS_TEST_TMPDIR/$name.in"
	NODE_FD[$name]=$fd
	script -qfec "$KVMC --node-id $name --port $PORT" /dev/null \
		<"$BATS_TEST_TMPDIR/$name.in" >"$BATS_TEST_TMPDIR/$name.tty" 2>&1 3>&- &
	EXTRA_PIDS+=($!)
	wait_file "$BATS_TEST_TMPDIR/$name.tty" 'event=ready' 1 "$WAIT"
}

# prompts NAME: how many lines of the terminal begin with the prompt.
prompts() {
	grep -c '^> ' "$BATS_TEST_TMPDIR/$1.tty"
}

@test "on a terminal the node shows a prompt, and again after each command" {
	start_tty t1
	wait_file "$BATS_TEST_TMPDIR/t1.tty" '^> ' 1 "$WAIT"
	send_line t1 "GET x"
	wait_file "$BATS_TEST_TMPDIR/t1.tty" 'x \(not set\)' 1 "$WAIT"
	wait_file "$BATS_TEST_TMPDIR/t1.tty" '^> ' 2 "$WAIT"
}

@test "a log line that arrives at the prompt is written over it, and a new prompt follows" {
	start_tty t1
	wait_file "$BATS_TEST_TMPDIR/t1.tty" '^> ' 1 "$WAIT"
	start_node n2
	send_line n2 "SET y 1"
	wait_file "$BATS_TEST_TMPDIR/t1.tty" 'event=apply .*key=y value=1' 1 "$WAIT"
	# The burst of log lines starts where the prompt was ("> ", CR, ts=),
	# never after it on the same line, and a fresh prompt follows it.
	wait_file "$BATS_TEST_TMPDIR/t1.tty" $'^> \rts=' 1 "$WAIT"
	run grep -c '^> ts=' "$BATS_TEST_TMPDIR/t1.tty"
	[ "$output" = 0 ]
	wait_file "$BATS_TEST_TMPDIR/t1.tty" '^> $' 1 "$WAIT"
	(($(prompts t1) >= 2))
}

@test "when stdin is not a terminal no prompt is shown" {
	start_node n1
	send_line n1 "GET x"
	wait_out n1 'x \(not set\)'
	send_line n1 "HELP"
	wait_out n1 'EXIT'
	run grep -c '^> ' "$(out_of n1)"
	[ "$output" = 0 ]
}
