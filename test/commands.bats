#!/usr/bin/env bats
# Commands on standard input (SPEC section 2): the parsing of a line, the
# replies on stdout, and the `error: ` line for every bad command, after
# which the node sends nothing for that line and goes on.

load helpers

setup() {
	kvmc_setup 22000
	start_node n1
}

MARKS=0

# barrier NODE: send a GET of a fresh marker key and wait until NODE has
# sent it. Stdin is read in order, so every line written before has then
# been handled.
barrier() {
	MARKS=$((MARKS + 1))
	send_line "$1" "GET marker$MARKS"
	wait_log "$1" "event=send .*key=marker$MARKS( |$)"
}

# expect_error NODE LINE: NODE answers the stdin line LINE (printf %b
# escapes allowed; a newline is added) with exactly one `error: ` line on
# stderr, sends nothing for it and still reads the next command.
expect_error() {
	local node=$1 errors sends
	errors=$(count_log "$node" '^error: ')
	sends=$(count_log "$node" 'event=send')
	send_bytes "$node" "$2\n"
	barrier "$node"
	assert_eq "$(count_log "$node" '^error: .')" $((errors + 1)) \
		"error lines after '$2'"
	assert_eq "$(count_log "$node" 'event=send')" $((sends + 1)) \
		"send lines after '$2' and the barrier"
}

# expect_no_error NODE LINE: NODE takes LINE without an `error: ` line.
expect_no_error() {
	local node=$1
	send_bytes "$node" "$2\n"
	barrier "$node"
	assert_no_log "$node" '^error: '
}

# ------------------------------------------------------------ errors

@test "an unknown verb is an error" {
	expect_error n1 "FOO x"
	expect_error n1 "SETX k v"
	expect_error n1 "G"
}

@test "an error is one line on stderr, not on stdout, and not a log event" {
	expect_error n1 "FOO x"
	assert_match "$(grep -a '^error: ' "$(log_of n1)")" '^error: [^ ]'
	assert_no_log n1 'event=.*FOO'
	[[ $(cat "$(out_of n1)") != *error* ]]
}

@test "SET or GET without a key is an error" {
	expect_error n1 "SET"
	expect_error n1 "GET"
	expect_error n1 "SET   \t "
}

@test "SET without a value is an error" {
	expect_error n1 "SET x"
	expect_error n1 "SET x   "
	expect_error n1 "SET x\t"
}

@test "an extra word after GET, PRINT, HELP or EXIT is an error" {
	expect_error n1 "GET x y"
	expect_error n1 "PRINT all"
	expect_error n1 "HELP me"
	expect_error n1 "EXIT now"
	# EXIT with an extra word did not stop the node (the barrier above
	# was still answered).
	is_running n1
	# HELP me printed no help: stdout holds only the barriers' replies.
	run -1 grep -v '^marker[0-9]* (not set)$' "$(out_of n1)"
}

@test "a NUL byte in a line is an error" {
	expect_error n1 'SET a\x00b 1'
	expect_error n1 'SET a b\x00c'
	expect_error n1 'GET a\x00'
	expect_error n1 '\x00'
}

@test "a key of 255 bytes is accepted" {
	key=$(repeat 255 k)
	send_line n1 "SET $key v"
	wait_log n1 "event=send .*key=$key value=v$"
}

@test "a key over 255 bytes is an error" {
	expect_error n1 "SET $(repeat 256 k) v"
	expect_error n1 "GET $(repeat 256 k)"
}

@test "a SET whose datagram would be exactly 1400 bytes is sent" {
	# "v=1 type=SET id=<36> from=n1 key=k value=" and "\n" take 74 bytes.
	send_line n1 "SET k $(repeat 1326 v)"
	wait_log n1 "event=apply .*key=k value=v{1326}$"
}

@test "a SET whose datagram would be over 1400 bytes is an error" {
	expect_error n1 "SET k $(repeat 1327 v)"
}

@test "the datagram size counts the value as encoded on the wire" {
	# Every '%' is sent as the three bytes %25: 442 of them fit, 443 not.
	send_line n1 "SET k $(repeat 442 %)"
	wait_log n1 "event=send .*key=k value=(%25){442}$"
	expect_error n1 "SET k $(repeat 443 %)"
}

@test "a line of 4096 bytes is read; one of 4097 bytes is an error" {
	# Blank lines are ignored, so 4096 blanks are no error at all.
	expect_no_error n1 "$(repeat 4096 ' ')"
	expect_error n1 "$(repeat 4097 ' ')"
	# A GET padded to 4096 bytes works; padded to 4097 it does not.
	send_line n1 "GET k$(repeat 4091 ' ')"
	wait_log n1 'event=send .*type=GET key=k$'
	expect_error n1 "GET k$(repeat 4092 ' ')"
}

@test "a very long line gives one error and the next line works" {
	expect_error n1 "SET k $(repeat 20000 v)"
	send_line n1 "SET after 1"
	wait_log n1 'event=apply .*key=after value=1$'
	assert_no_log n1 'key=k '
}

# ------------------------------------------------------------ accepted forms

@test "verbs are case-insensitive" {
	send_line n1 "set a 1"
	send_line n1 "Set b 2"
	wait_log n1 'event=apply .*type=SET key=b value=2$'
	send_line n1 "gEt a"
	wait_out n1 '^a = 1$'
	send_line n1 "print"
	wait_log n1 'event=apply .*type=PRINT entries=2 '
}

@test "keys and values are case-sensitive" {
	send_line n1 "SET K Upper"
	send_line n1 "SET k lower"
	wait_count n1 'event=apply .*type=SET' 2
	send_line n1 "GET K"
	wait_out n1 '^K = Upper$'
}

@test "blank lines are ignored" {
	expect_no_error n1 ""
	expect_no_error n1 "   "
	expect_no_error n1 "\t \t"
	expect_no_error n1 "\r"
	# Nothing but the barriers was sent.
	assert_eq "$(count_log n1 'event=send')" 4 "send lines"
}

@test "blanks around a line and a final CR are ignored" {
	send_bytes n1 ' \t SET k v \t\r\n'
	wait_log n1 'event=send .*type=SET key=k value=v$'
	send_bytes n1 '\tGET k  \r\n'
	wait_out n1 '^k = v$'
	assert_no_log n1 '^error: '
}

@test "the value is the rest of the line, inner blanks kept" {
	send_bytes n1 'SET k   a  b\tc\n'
	wait_log n1 'event=apply .*key=k value=a%20%20b%09c$'
}

@test "blanks between verb and key may be several" {
	send_bytes n1 'SET \t  k v\n'
	wait_log n1 'event=apply .*type=SET key=k value=v$'
}

# ------------------------------------------------------------ stdout

@test "HELP prints the commands on stdout and sends nothing" {
	send_line n1 "HELP"
	wait_out n1 'SET'
	barrier n1
	for verb in SET GET PRINT HELP EXIT; do
		grep -q "$verb" "$(out_of n1)"
	done
	assert_eq "$(count_log n1 'event=send')" 1 "send lines (the barrier)"
}

@test "help is case-insensitive too" {
	send_line n1 "help"
	wait_out n1 'GET'
}

@test "SET and PRINT print nothing on stdout when stdin is not a terminal" {
	send_line n1 "SET x 1"
	send_line n1 "PRINT"
	wait_log n1 'event=apply .*type=PRINT'
	send_line n1 "GET x"
	wait_log n1 'event=apply .*type=GET'
	wait_out n1 '^x = '
	assert_eq "$(cat "$(out_of n1)")" "x = 1" stdout
}

@test "GET shows a typed control byte in the key as %HH" {
	send_bytes n1 'SET e\x1b[1m bold\n'
	wait_log n1 'event=apply .*type=SET'
	send_bytes n1 'GET e\x1b[1m\n'
	wait_out n1 '^e%1B\[1m '
	assert_eq "$(cat "$(out_of n1)")" "e%1B[1m = bold" stdout
}

@test "GET shows bytes below 0x20 and 0x7F in a value as %HH" {
	wire_set k 'a%01b%7Fc%1B[0m%0Ad%09'
	wait_log n1 'event=apply .*from=peer'
	send_line n1 "GET k"
	wait_out n1 '^k = '
	assert_eq "$(cat "$(out_of n1)")" "k = a%01b%7Fc%1B[0m%0Ad%09" stdout
}

@test "GET shows valid UTF-8 as it is" {
	# é, ✓, 😀 and U+10FFFF, the highest code point; U+00A0 is no C1 control.
	wire_set k '%C3%A9%E2%9C%93%F0%9F%98%80%F4%8F%BF%BF%C2%A0'
	wait_log n1 'event=apply .*from=peer'
	send_line n1 "GET k"
	wait_out n1 '^k = '
	assert_eq "$(cat "$(out_of n1)")" \
		"k = $(printf 'é✓😀\xf4\x8f\xbf\xbf\xc2\xa0')" stdout
}

@test "GET shows every byte of invalid UTF-8 as %HH" {
	local -A shown=(
		[lone]='%80'                 # a continuation byte alone
		[ff]='%FF'                   # never valid in UTF-8
		[overlong2]='%C0%AF'         # '/' in two bytes
		[overlong3]='%E0%80%AF'      # '/' in three bytes
		[surrogate]='%ED%A0%80'      # U+D800
		[toobig]='%F4%90%80%80'      # U+110000
		[cut]='%E2%82'               # first two bytes of a three-byte €
		[mixed]='ok%FFok'
	)
	for key in "${!shown[@]}"; do
		wire_set "$key" "${shown[$key]}"
	done
	wait_count n1 'event=apply .*from=peer' ${#shown[@]}
	for key in "${!shown[@]}"; do
		send_line n1 "GET $key"
		wait_out n1 "^$key = "
		assert_eq "$(grep -a "^$key = " "$(out_of n1)")" \
			"$key = ${shown[$key]}" "GET $key"
	done
}

@test "GET shows a UTF-8 C1 control (U+0080-U+009F) as %HH" {
	wire_set k 'a%C2%80b%C2%85c%C2%9F'
	wait_log n1 'event=apply .*from=peer'
	send_line n1 "GET k"
	wait_out n1 '^k = '
	assert_eq "$(cat "$(out_of n1)")" "k = a%C2%80b%C2%85c%C2%9F" stdout
}

@test "GET of an empty value prints the key, ' = ' and nothing" {
	wire_set k ''
	wait_log n1 'event=apply .*from=peer'
	send_line n1 "GET k"
	wait_out n1 '^k = $'
}
