#!/usr/bin/env bats
# Log lines for people (SPEC section 5): on a terminal the default
# (LOG_FORMAT auto) is a short form, coloured by level unless NO_COLOR is
# set; LOG_FORMAT=text gives it uncoloured wherever stderr goes; logfmt,
# or a stderr that is not a terminal, gives the exact lines. script(1)
# gives the node a pseudo-terminal; what it prints lands in NAME.tty.

load helpers

setup() {
	kvmc_setup 50000
	export HELLO_INTERVAL=0
}

ESC=$'\e'

# escapes FILE: how many lines of FILE hold an escape byte other than the
# console's own erase-line (ESC [ K): a colour, or one from the network.
escapes() {
	sed "s/$ESC\[K//g" "$1" | grep -c "$ESC"
}
SHORT_TS='[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}'

# start_tty NAME [OPTION...]: a node on a pseudo-terminal (stdin, stdout
# and stderr), fed from a FIFO held open; returns once it has logged
# ready, in whatever form.
start_tty() {
	local name=$1 fd
	shift
	command -v script >/dev/null || skip "script(1) is not installed"
	mkfifo "$BATS_TEST_TMPDIR/$name.in"
	exec {fd}<>"$BATS_TEST_TMPDIR/$name.in"
	NODE_FD[$name]=$fd
	script -qfec "$KVMC --node-id $name --port $PORT $*" /dev/null \
		<"$BATS_TEST_TMPDIR/$name.in" >"$BATS_TEST_TMPDIR/$name.tty" 2>&1 3>&- &
	EXTRA_PIDS+=($!)
	wait_file "$BATS_TEST_TMPDIR/$name.tty" "ready" 1 "$WAIT"
}

# plain FILE: FILE as a person sees it: without colours or the console's
# erase-line, and of a line what follows its last carriage return (a
# prompt written over).
plain() {
	sed -e "s/$ESC\[[0-9;]*[mK]//g" -e 's/\r$//' -e 's/.*\r//' "$1"
}

# tty_line NAME PATTERN: the first line of NAME's terminal, made plain,
# that matches PATTERN.
tty_line() {
	plain "$BATS_TEST_TMPDIR/$1.tty" | grep -Ea -m1 -- "$2"
}

# set_from_n2 NAME KEY VALUE: n2 (started here) sets KEY; NAME, on a
# terminal, shows its apply line.
set_from_n2() {
	start_node n2
	send_line n2 "SET $2 $3"
	wait_file "$BATS_TEST_TMPDIR/$1.tty" "apply.*$2" 1 "$WAIT"
}

@test "on a terminal the log is in the short form: time of day, node, event, short ids" {
	start_tty t1
	set_from_n2 t1 x 1
	id=$(field "$(log_line n2 'event=send ')" id)
	line=$(tty_line t1 ' apply ')
	assert_match "$line" "^$SHORT_TS t1 apply #1 SET x=1 from n2 \(${id:0:8}\)$" "apply line"
	assert_match "$(tty_line t1 ' start ')" "^$SHORT_TS t1 start kvmc [0-9.]+ $GROUP:$PORT( |$)" "start line"
	assert_match "$(tty_line t1 ' ready')" "^$SHORT_TS t1 ready$" "ready line"
	# Nothing of the exact form on the terminal.
	run grep -c 'ts=' "$BATS_TEST_TMPDIR/t1.tty"
	assert_eq "$output" 0 "logfmt lines on the terminal"
}

@test "the short form of GET, PRINT, entry, CHECK and stop fits 80 columns" {
	start_tty t1
	set_from_n2 t1 x 1
	send_line n2 "GET x"
	send_line n2 "GET nope"
	send_line n2 "PRINT"
	wait_file "$BATS_TEST_TMPDIR/t1.tty" 'entry.* x=1' 1 "$WAIT"
	send_line t1 "CHECK"
	wait_file "$BATS_TEST_TMPDIR/t1.tty" 'check_result' 1 "$WAIT"
	assert_match "$(tty_line t1 'GET x ')" "^$SHORT_TS t1 apply #2 GET x = 1 from n2 \([0-9a-f]{8}\)$"
	assert_match "$(tty_line t1 'GET nope')" "^$SHORT_TS t1 apply #3 GET nope \(not set\) from n2 \([0-9a-f]{8}\)$"
	assert_match "$(tty_line t1 'PRINT')" "^$SHORT_TS t1 apply #4 PRINT entries=1 [0-9a-f]{16} from n2 \([0-9a-f]{8}\)$"
	assert_match "$(tty_line t1 'entry')" "^$SHORT_TS t1 entry x=1$"
	assert_match "$(tty_line t1 'DIGEST from n2')" "^$SHORT_TS t1 apply DIGEST from n2 [0-9a-f]{16} entries=1 order=4$"
	assert_match "$(tty_line t1 'check_result')" "^$SHORT_TS t1 check_result CONSISTENT nodes=2 \([0-9a-f]{8}\)$"
	send_line t1 "EXIT"
	wait_file "$BATS_TEST_TMPDIR/t1.tty" 'stop.* exit' 1 "$WAIT"
	assert_match "$(tty_line t1 ' stop ')" "^$SHORT_TS t1 stop exit received=[0-9]+ order=[0-9]+$"
	# Every log line fits in 80 columns (the prompt and its echo aside).
	long=$(plain "$BATS_TEST_TMPDIR/t1.tty" | sed 's/^> //' | awk 'length > 80')
	assert_eq "$long" "" "lines over 80 columns"
}

@test "on a terminal the short form is coloured by level" {
	start_tty t1
	set_from_n2 t1 x 1
	datagram 'x\n' # a reject, at warn
	wait_file "$BATS_TEST_TMPDIR/t1.tty" 'reject' 1 "$WAIT"
	grep -aq "t1 $ESC\[[0-9;]*mapply$ESC\[0m #1 SET x=1" "$BATS_TEST_TMPDIR/t1.tty"
	assert_match "$(grep -a reject "$BATS_TEST_TMPDIR/t1.tty")" "$ESC\[33mwarn reject bad_field from 127\.0\.0\.1:[0-9]+ \(2 bytes\)$ESC\[0m"
}

@test "NO_COLOR removes the colours, and keeps the short form" {
	NO_COLOR=1 start_tty t1
	set_from_n2 t1 x 1
	datagram 'x\n'
	wait_file "$BATS_TEST_TMPDIR/t1.tty" 'reject' 1 "$WAIT"
	run escapes "$BATS_TEST_TMPDIR/t1.tty"
	assert_eq "$output" 0 "lines with an escape byte"
	assert_match "$(tty_line t1 reject)" "^$SHORT_TS t1 warn reject bad_field from 127\.0\.0\.1:[0-9]+ \(2 bytes\)$"
}

@test "LOG_FORMAT=text writes the short form, uncoloured, into a file" {
	LOG_FORMAT=text start_node n1
	send_line n1 "SET x 1"
	wait_log n1 ' apply #1 SET x=1 from n1 '
	assert_match "$(log_line n1 ' ready')" "^$SHORT_TS n1 ready$"
	run escapes "$(log_of n1)"
	assert_eq "$output" 0 "lines with an escape byte"
	run grep -c 'ts=' "$(log_of n1)"
	assert_eq "$output" 0 "logfmt lines"
}

@test "--log-format text also gives the short form, without colours on a terminal" {
	start_tty t1 --log-format text
	set_from_n2 t1 x 1
	run escapes "$BATS_TEST_TMPDIR/t1.tty"
	assert_eq "$output" 0 "lines with an escape byte"
	assert_match "$(tty_line t1 ' apply ')" "^$SHORT_TS t1 apply #1 SET x=1 from n2 "
}

@test "LOG_FORMAT=logfmt on a terminal gives the exact lines" {
	LOG_FORMAT=logfmt start_tty t1
	set_from_n2 t1 x 1
	id=$(field "$(log_line n2 'event=send ')" id)
	assert_eq "$(tty_line t1 'event=apply')" \
		"$(grep -a 'event=apply' "$BATS_TEST_TMPDIR/t1.tty" | tr -d '\r' | head -1)" "no colour"
	assert_match "$(tty_line t1 'event=apply')" \
		"^ts=[0-9-]{10}T[0-9:]{8}\.[0-9]{3}Z level=info node=t1 event=apply order=1 id=$id from=n2 type=SET key=x value=1$"
}

@test "a stderr that is not a terminal gets the exact lines, also with LOG_FORMAT=auto" {
	LOG_FORMAT=auto start_node n1
	assert_match "$(log_line n1 'event=ready')" '^ts=[^ ]+ level=info node=n1 event=ready rcvbuf=[0-9]+$'
}

@test "values stay escaped in the short form: no control byte from the network" {
	NO_COLOR=1 start_tty t1
	wire_set 'k%1B' '%1B[2J%07%0D%C2%9B'
	wait_file "$BATS_TEST_TMPDIR/t1.tty" 'apply' 1 "$WAIT"
	assert_match "$(tty_line t1 apply)" "^$SHORT_TS t1 apply #1 SET k%1B=%1B\[2J%07%0D%C2%9B from peer \(00000001\)$"
	run escapes "$BATS_TEST_TMPDIR/t1.tty"
	assert_eq "$output" 0 "lines with an escape byte"
}

@test "start logs log_format" {
	started_with
	assert_eq "$(start_field log_format)" auto
	started_with LOG_FORMAT=logfmt
	assert_eq "$(start_field log_format)" logfmt
	started_with LOG_FORMAT=text --log-format=logfmt
	assert_eq "$(start_field log_format)" logfmt
}

@test "a bad LOG_FORMAT or --log-format is an error naming it" {
	setting_error LOG_FORMAT json LOG_FORMAT=json
	assert_eq "$stderr" "kvmc: LOG_FORMAT 'json': expected auto, logfmt or text"
	setting_error --log-format '' --log-format=
	setting_error --log-format 'logfmt ' --log-format 'logfmt '
	# Reported after CHECK_WINDOW and before the simulation's settings.
	setting_error CHECK_WINDOW 0 CHECK_WINDOW=0 LOG_FORMAT=json
	setting_error LOG_FORMAT json LOG_FORMAT=json SIM_LOSS=2
	# An empty variable is unset; one overridden by its option is not read.
	started_with LOG_FORMAT=
	started_with LOG_FORMAT=json --log-format logfmt
}
