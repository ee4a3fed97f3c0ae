#!/usr/bin/env bats
# The log (SPEC section 5): one line per event on stderr with a fixed
# prefix, values encoded as on the wire, start/ready/stop always shown,
# and no byte from the network or from the user able to break a line or
# reach the terminal as a control character.

load helpers

setup() {
	kvmc_setup 26000
}

PREFIX='^ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z level=(debug|info|warn|error) node=[A-Za-z0-9._-]+ event=[a-z_]+( |$)'

# assert_clean_log NAME: every line of NAME's stderr is a log line with the
# fixed prefix, made of printable ASCII only, or an `error: ` line with no
# control character (C0, DEL, C1, raw or UTF-8 encoded).
assert_clean_log() {
	local file
	file=$(log_of "$1")
	if grep -Eav -- "$PREFIX|^error: " "$file" | grep -q .; then
		echo "# lines that are neither log lines nor error lines:" >&2
		grep -Eav -- "$PREFIX|^error: " "$file" | cat -v >&2
		return 1
	fi
	LC_ALL=C perl -ne '
		if (/^ts=/ ? /[^\x20-\x7e\n]/ : /[\x00-\x09\x0b-\x1f\x7f-\x9f]|\xc2[\x80-\x9f]/) {
			print STDERR "# control byte in line $.: $_"; $bad = 1;
		}
		END { exit $bad }
	' "$file"
}

@test "every log line starts with ts, level, node and event" {
	start_node n1
	send_line n1 "SET x 1"
	send_line n1 "GET x"
	send_line n1 "PRINT"
	datagram "x\n"
	send_line n1 "EXIT"
	wait_exit n1
	for event in start ready send apply entry reject stop; do
		grep -Eq -- "$PREFIX" <(log_line n1 " event=$event( |$)")
	done
	assert_clean_log n1
}

@test "ts is the UTC time with milliseconds, whatever TZ says" {
	TZ=IST-5:30 start_node n1
	ts=$(field "$(log_line n1 'event=start')" ts)
	assert_match "$ts" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$' ts
	logged=$(TZ=UTC0 date -d "${ts:0:10} ${ts:11:8}" +%s)
	now=$(date +%s)
	((now - logged >= 0 && now - logged <= 10))
}

@test "start, ready and stop are logged at info even with LOG_LEVEL=error" {
	LOG_LEVEL=error start_node n1
	send_line n1 "SET x 1"
	datagram "x\n"
	send_line n1 "EXIT"
	wait_exit n1
	assert_match "$(log_line n1 'event=start')" '^ts=[^ ]+ level=info node=n1 event=start '
	assert_match "$(log_line n1 'event=ready')" '^ts=[^ ]+ level=info node=n1 event=ready'
	assert_match "$(log_line n1 'event=stop')" '^ts=[^ ]+ level=info node=n1 event=stop'
	# ... and nothing else: info and warn events are below the level.
	assert_eq "$(wc -l <"$(log_of n1)")" 3 "log lines"
}

@test "--log-level warn hides info events and shows warnings" {
	start_node n1 --log-level warn
	datagram "v=1 type=SET id=$(uuid 1) from=peer key=k value=v\n"
	datagram "x\n"
	wait_log n1 'level=warn node=n1 event=reject'
	send_line n1 "GET k"
	wait_out n1 '^k = v$'
	assert_no_log n1 'event=(send|apply)'
}

@test "--log-level debug shows info events too" {
	start_node n1 --log-level debug
	send_line n1 "SET x 1"
	wait_log n1 'level=info node=n1 event=apply .*key=x value=1$'
}

@test "a send line holds a fresh lower-case version 4 UUID and the command" {
	start_node n1
	send_line n1 "SET x 1"
	send_line n1 "GET x"
	send_line n1 "PRINT"
	wait_count n1 'event=send' 3
	uuid_re='[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}'
	set_line=$(log_line n1 'event=send' 1)
	get_line=$(log_line n1 'event=send' 2)
	print_line=$(log_line n1 'event=send' 3)
	assert_match "$set_line" "event=send id=$uuid_re .*type=SET key=x value=1$"
	assert_match "$get_line" "event=send id=$uuid_re .*type=GET key=x$"
	assert_match "$print_line" "event=send id=$uuid_re .*type=PRINT$"
	ids=$(grep -a 'event=send' "$(log_of n1)" | grep -Eo "id=$uuid_re" | sort -u | wc -l)
	assert_eq "$ids" 3 "distinct ids"
}

@test "values in log lines are encoded as on the wire" {
	start_node n1
	send_line n1 "SET k a b=c%d é"
	wait_log n1 'event=apply .*type=SET key=k value=a%20b%3Dc%25d%20%C3%A9$'
	send_line n1 "PRINT"
	wait_log n1 'event=entry key=k value=a%20b%3Dc%25d%20%C3%A9$'
}

@test "a newline, CR or ESC from the wire never breaks a log line" {
	start_node n1
	datagram "v=1 type=SET id=$(uuid 1) from=peer key=a%0Db value=x%0Ay%1B[31mz%07%C2%9B\n"
	wait_log n1 'event=apply .*key=a%0Db value=x%0Ay%1B\[31mz%07%C2%9B$'
	datagram "v=1 type=GET id=$(uuid 2) from=peer key=a%0Db\n"
	datagram "v=1 type=PRINT id=$(uuid 3) from=peer\n"
	datagram "v=1 type=SET id=$(uuid 4) from=peer key=k value=\x1b[2J\n" # rejected
	wait_log n1 'event=entry key=a%0Db '
	wait_log n1 'event=reject reason=bad_byte'
	assert_clean_log n1
}

@test "control bytes typed on stdin never reach the log raw" {
	start_node n1
	send_bytes n1 'SET k\x1b]0;title\x07 v\x1b[2J\x7f\n'
	send_bytes n1 'FOO\x1b[2J\x9b\xc2\x9b bar\n' # an error line
	send_bytes n1 'GET k\x1b]0;title\x07\n'
	wait_log n1 'event=send .*type=GET'
	wait_log n1 'event=apply .*type=SET key=k%1B\]0;title%07 value=v%1B\[2J%7F$'
	assert_clean_log n1
}

@test "a GET reply never prints a control byte" {
	start_node n1
	datagram "v=1 type=SET id=$(uuid 1) from=peer key=k value=%1B[2J%07%0D%C2%9B\n"
	wait_log n1 'event=apply .*from=peer'
	send_line n1 "GET k"
	wait_out n1 '^k = '
	assert_eq "$(cat "$(out_of n1)")" "k = %1B[2J%07%0D%C2%9B" stdout
}
