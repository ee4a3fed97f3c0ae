#!/usr/bin/env bats
# On a terminal (SPEC section 2): a prompt is shown only when stdin is a
# terminal, and nothing written to stdout or stderr ever shares a line with
# it. The console edits the line itself, so a log line or a reply that
# arrives while the person types goes above the prompt, and the prompt and
# the half-typed line are drawn again below it.
#
# script(1) gives the node a pseudo-terminal; what the node prints (both
# stdout and stderr, as on a real terminal) lands in NAME.tty. `screen NAME`
# turns it into the lines a person would see: every "erase this line"
# becomes a line break, carriage returns go.

load helpers

setup() {
	kvmc_setup 29000
	command -v script >/dev/null || skip "script(1) is not installed"
	export HELLO_INTERVAL=0 LOG_FORMAT=logfmt
}

# start_tty NAME [COMMAND]: a node on a pseudo-terminal, fed from a FIFO
# held open; COMMAND runs after the node in the same terminal.
start_tty() {
	local name=$1 after=${2:-true} fd
	mkfifo "$BATS_TEST_TMPDIR/$name.in"
	exec {fd}<>"$BATS_TEST_TMPDIR/$name.in"
	NODE_FD[$name]=$fd
	script -qfec "$KVMC --node-id $name --port $PORT; $after" /dev/null \
		<"$BATS_TEST_TMPDIR/$name.in" >"$BATS_TEST_TMPDIR/$name.tty" 2>&1 3>&- &
	EXTRA_PIDS+=($!)
	wait_file "$BATS_TEST_TMPDIR/$name.tty" 'event=ready' 1 "$WAIT"
}

tty_of() { echo "$BATS_TEST_TMPDIR/$1.tty"; }

# screen NAME: the terminal's output as lines.
screen() {
	perl -pe 's/\r\e\[K/\n/g; s/\r//g' "$(tty_of "$1")"
}

# until_screen NAME WHAT COMMAND...: poll until COMMAND succeeds; on
# timeout say WHAT and show the end of NAME's screen.
until_screen() {
	local name=$1 what=$2 end
	shift 2
	end=$(deadline "$WAIT")
	until "$@"; do
		if (($(now_us) > end)); then
			echo "# $what on $name's screen; its end:" >&2
			screen "$name" | tail -n 20 | cat -v >&2
			return 1
		fi
		sleep 0.02
	done
}

screen_has() { (($(screen "$1" | grep -Eac -- "$2") >= $3)); }
assert_no_log_screen() {
	! screen_has "$1" "$2" 1 || {
		echo "# unexpected /$2/ on $1's screen" >&2
		return 1
	}
}
last_line_is() { [[ $(screen "$1" | tail -n 1) == "$2" ]]; }

# wait_screen NAME PATTERN [N]: wait until N lines of the screen match.
wait_screen() {
	until_screen "$1" "no line /$2/" screen_has "$1" "$2" "${3:-1}"
}

# wait_last NAME TEXT: wait until the screen's last line is TEXT, as it
# is once the node is waiting for the person again.
wait_last() {
	until_screen "$1" "the last line is not '$2'" last_line_is "$1" "$2"
}

@test "on a terminal the node shows a prompt, and again after each command" {
	start_tty t1
	wait_screen t1 '^> $'
	send_line t1 "GET x"
	wait_screen t1 '^x \(not set\)$'
	wait_screen t1 '^> $' 2
}

@test "a log line that arrives at the prompt goes above a fresh prompt" {
	start_tty t1
	wait_screen t1 '^> $'
	start_node n2
	send_line n2 "SET y 1"
	wait_screen t1 '^ts=.* event=apply .*key=y value=1$'
	# The prompt was erased first (never a log line after "> "), and a
	# fresh one follows the log line.
	run grep -c '> ts=' "$(tty_of t1)"
	[ "$output" = 0 ]
	wait_last t1 "> "
}

@test "the rows and verdict of CHECK are each on a line of their own, then a prompt" {
	start_tty t1
	start_node n2
	wait_screen t1 '^> $'
	send_line t1 "CHECK"
	wait_screen t1 '^CONSISTENT \(2 nodes\)$'
	wait_screen t1 '^n2 digest=0{16} entries=0 order=0$'
	wait_screen t1 '^t1 digest=0{16} entries=0 order=0$'
	run grep -Ec '> (n2|t1|CONSISTENT)' "$(tty_of t1)"
	[ "$output" = 0 ]
	wait_screen t1 'event=check_result'
	wait_last t1 "> "
}

@test "PEERS prints each peer on a line of its own, then a prompt" {
	start_tty t1
	start_node n2
	send_line n2 "SET a 1"
	wait_screen t1 'event=peer_up peer=n2'
	send_line t1 "PEERS"
	wait_screen t1 '^n2 [0-9]+\.[0-9]s alive$'
	wait_last t1 "> "
}

@test "a log line that arrives mid-typing goes above, and the half-typed line is drawn again" {
	start_tty t1
	start_node n2
	wait_screen t1 '^> $'
	send_bytes t1 'SET half'
	wait_screen t1 '^> SET half$'
	send_line n2 "SET y 1"
	wait_screen t1 'event=apply .*key=y value=1$'
	wait_last t1 "> SET half"
	# What was typed before the interruption is still the line being typed.
	send_line t1 " way"
	wait_log n2 'event=apply .*key=half value=way'
}

@test "backspace, Ctrl-U and Ctrl-W edit the line before it is sent" {
	start_tty t1
	start_node n2
	wait_screen t1 '^> $'
	send_bytes t1 'SET k abc\x7f\x7fz\n'
	wait_log n2 'event=apply .*key=k value=az$'
	send_bytes t1 'SET gone 1\x15SET w one two\x17three\n'
	wait_log n2 'event=apply .*key=w value=one%20three$'
	assert_no_log n2 'key=gone'
}

@test "Ctrl-D ends the input on an empty line only" {
	start_tty t1
	wait_screen t1 '^> $'
	# On a typed line it is ignored: the line is still there to finish.
	send_bytes t1 'SET d\x04'
	send_line t1 ' 1'
	wait_screen t1 'event=apply .*key=d value=1$'
	assert_no_log_screen t1 'event=stop'
	send_bytes t1 '\x04'
	wait_screen t1 'event=stop reason=eof'
}

@test "Ctrl-Z and Ctrl-\\ neither stop nor kill the node, and are not typed" {
	start_tty t1
	wait_screen t1 '^> $'
	# With the terminal's defaults these would be SIGTSTP and SIGQUIT.
	send_bytes t1 'SET z\x1a\x1c 1\n'
	wait_screen t1 'event=apply .*key=z value=1$'
	send_line t1 "GET z"
	wait_screen t1 '^z = 1$'
}

@test "in total mode, a line entered while the writer's window is full waits its turn" {
	export ORDERING=total SEQUENCER=n1
	start_tty t1
	wait_screen t1 '^> $'
	send_bytes t1 "$(seq -f 'SET k%g v' 257)\n"
	wait_screen t1 'event=send .*key=k256 '
	# The 257th waits for the probe, a second later.
	wait_screen t1 'event=send .*key=k257 '
	local first probe
	first=$(ts_ms "$(screen t1 | grep -Ea 'event=send .*key=k256 ')")
	probe=$(ts_ms "$(screen t1 | grep -Ea 'event=send .*key=k257 ')")
	((probe - first >= 900)) || {
		echo "# the 257th went $((probe - first)) ms after the 256th" >&2
		return 1
	}
	# The sequencer comes; a line entered now tells it of those before.
	start_node n1
	send_line t1 "SET last 1"
	wait_screen t1 'event=apply order=258 .*key=last value=1 '
	wait_log n1 'event=apply order=258 .*key=last value=1 '
}

@test "the terminal's modes are given back when the node stops" {
	start_tty t1 'stty -a > "$BATS_TEST_TMPDIR/modes"'
	wait_screen t1 '^> $'
	send_line t1 "EXIT"
	wait_file "$BATS_TEST_TMPDIR/modes" 'icanon' 1 "$WAIT"
	run grep -Ec '(^| )-icanon|(^| )-echo( |$)' "$BATS_TEST_TMPDIR/modes"
	[ "$output" = 0 ]
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
