#!/usr/bin/env bats
# Hostile standard input (SPEC sections 2 and 5): whatever bytes arrive on
# a node's stdin - NUL bytes, escape sequences, invalid UTF-8, a megabyte
# without a newline, random binary - the node answers a bad line with one
# `error: ` line, never lets a raw control byte reach stdout or the log, and
# goes on. And a line that is only half written never keeps the node from
# receiving: stdin and the socket share one loop, and neither may block it.

load helpers

setup() {
	kvmc_setup 37000
}

# write_perl NAME PERL: write what the Perl expression PERL prints to NAME's
# stdin (binary-safe; under `timeout`, since a FIFO write blocks until the
# node reads).
write_perl() {
	timeout 10 perl -e "binmode STDOUT; print $2" >&"${NODE_FD[$1]}"
}

# assert_safe_text FILE: fail, showing the offending lines, if FILE holds a
# byte below 0x20 other than the newline, DEL (0x7F), or a UTF-8 C1
# control (U+0080-U+009F, bytes C2 80 .. C2 9F): what a terminal would act
# on instead of showing.
assert_safe_text() {
	if LC_ALL=C grep -naP '[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]' "$1" \
		>"$BATS_TEST_TMPDIR/unsafe"; then
		echo "# ${1##*/} holds raw control bytes:" >&2
		cat -v "$BATS_TEST_TMPDIR/unsafe" >&2
		return 1
	fi
}

# assert_log_ascii NAME: every log line of NAME (those starting `ts=`) is
# bytes 0x20-0x7E only: log lines carry every value encoded as on the wire.
# (An `error: ` line may show valid UTF-8 as it is, like GET does.)
assert_log_ascii() {
	if grep -a '^ts=' "$(log_of "$1")" | LC_ALL=C grep -naP '[^\x20-\x7e]' \
		>"$BATS_TEST_TMPDIR/unsafe"; then
		echo "# log lines of $1 hold bytes outside 0x20-0x7E:" >&2
		cat -v "$BATS_TEST_TMPDIR/unsafe" >&2
		return 1
	fi
}

# ------------------------------------------------------------ NUL bytes

@test "a NUL byte in a SET is one error, sends nothing, and the next line works" {
	start_node n1
	send_bytes n1 'SET a b\x00c\n'
	send_line n1 "SET after 1"
	wait_log n1 'event=apply .*from=n1 type=SET key=after value=1$'
	assert_eq "$(count_log n1 '^error: ')" 1 "error lines"
	assert_match "$(log_line n1 '^error: ')" 'NUL' "the error"
	assert_no_log n1 'event=send .*key=a( |$)'
	is_running n1
}

# ------------------------------------------------------------ what GET shows

@test "an escape sequence and invalid UTF-8 typed into SET reach another node and GET shows them as %HH" {
	start_node n1
	start_node n2
	# Clear the screen, turn text red, an invalid UTF-8 byte, and a bell.
	send_bytes n1 'SET v \x1b[2J\x1b[31mred\xff\x07 end\n'
	wait_log n2 'event=apply .*from=n1 type=SET key=v '
	send_line n2 "GET v"
	wait_out n2 '^v = '
	assert_eq "$(cat "$(out_of n2)")" 'v = %1B[2J%1B[31mred%FF%07 end' "GET on n2"
	# On the wire and in the log the value is encoded byte for byte.
	assert_match "$(log_line n2 'event=apply .*key=v ')" \
		' value=%1B\[2J%1B\[31mred%FF%07%20end$' "apply line on n2"
}

@test "GET shows every byte 0x01-0xFF typed into a value: controls, DEL and invalid UTF-8 as %HH" {
	start_node n1
	start_node n2
	# Every byte but NUL and the newline, in ascending order: no byte of
	# 0x80-0xFF is then followed by a continuation byte, so each is
	# invalid UTF-8 on its own.
	write_perl n1 '"SET all ", (map chr, 1 .. 9, 11 .. 255), "\n"'
	wait_log n2 'event=apply .*from=n1 type=SET key=all '
	send_line n2 "GET all"
	wait_out n2 '^all = '
	perl -e 'binmode STDOUT; print "all = ";
		for (1 .. 9, 11 .. 255) {
			print $_ < 0x20 || $_ >= 0x7f ? sprintf("%%%02X", $_) : chr;
		}
		print "\n"' >"$BATS_TEST_TMPDIR/expected"
	if ! cmp "$BATS_TEST_TMPDIR/expected" "$(out_of n2)"; then
		echo "# expected: $(cat -v "$BATS_TEST_TMPDIR/expected")" >&2
		echo "# got:      $(cat -v "$(out_of n2)")" >&2
		return 1
	fi
	assert_safe_text "$(out_of n2)"
}

@test "GET on another node shows C1 controls and malformed UTF-8 as %HH and valid UTF-8 as it is" {
	start_node n1
	start_node n2
	# é, €, 😀 valid; U+009B (CSI as a C1 control); an overlong '/'; a
	# UTF-16 surrogate; a code point above U+10FFFF; a cut-off sequence.
	send_bytes n1 'SET u \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\xc2\x9b|\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x82!\n'
	wait_log n2 'event=apply .*from=n1 type=SET key=u '
	send_line n2 "GET u"
	wait_out n2 '^u = '
	assert_eq "$(cat "$(out_of n2)")" \
		"u = é€😀|%C2%9B|%C0%AF|%ED%A0%80|%F4%90%80%80|%E2%82!" "GET on n2"
	assert_safe_text "$(out_of n2)"
}

@test "control bytes typed on stdin never reach a log line raw, on the sender or a receiver" {
	start_node n1
	start_node n2
	write_perl n1 '"SET \e[1mkey\r ", (map chr, 1 .. 9, 11 .. 255), "\n"'
	wait_log n2 'event=apply .*from=n1 type=SET '
	# The key and value as on the wire: bytes outside 0x21-0x7E, % and =
	# as %HH.
	expected=$(perl -e 'for (1 .. 9, 11 .. 255) {
			print $_ < 0x21 || $_ > 0x7e || $_ == 0x25 || $_ == 0x3d ?
			    sprintf("%%%02X", $_) : chr;
		}')
	assert_eq "$(field "$(log_line n2 'event=apply .*from=n1')" value)" \
		"$expected" "value on n2's apply line"
	assert_eq "$(field "$(log_line n2 'event=apply .*from=n1')" key)" \
		'%1B[1mkey%0D' "key on n2's apply line"
	assert_log_ascii n1
	assert_log_ascii n2
}

@test "an unknown verb made of control bytes is shown escaped in its error" {
	start_node n1
	send_bytes n1 '\x1b]0;owned\x07\x1b[2J now\n'
	send_line n1 "SET after 1"
	wait_log n1 'event=apply .*key=after value=1$'
	assert_eq "$(grep -a '^error: ' "$(log_of n1)")" \
		"error: unknown command '%1B]0;owned%07%1B[2J' (try HELP)" "the error"
}

# ------------------------------------------------------------ long lines

@test "a 1 MiB line gives exactly one error and the next line works" {
	start_node n1
	write_perl n1 '"SET big ", "x" x (1 << 20), "\n", "SET after 1\n"'
	wait_log n1 'event=apply .*from=n1 type=SET key=after value=1$'
	assert_eq "$(count_log n1 '^error: ')" 1 "error lines"
	assert_match "$(log_line n1 '^error: ')" 'longer than 4096' "the error"
	assert_no_log n1 'key=big'
	is_running n1
}

@test "a line of exactly 4096 bytes is read as a command" {
	start_node n1
	# SET, the key, then one run of blanks before the value: 4096 bytes
	# that make a datagram of a few dozen.
	write_perl n1 '"SET k", " " x 4090, "v\n"'
	wait_log n1 'event=apply .*from=n1 type=SET key=k value=v$'
	assert_no_log n1 '^error: '
}

@test "a line of 4097 bytes is discarded with one error, and the next line works" {
	start_node n1
	write_perl n1 '"SET k", " " x 4091, "v\n", "SET after 1\n"'
	wait_log n1 'event=apply .*from=n1 type=SET key=after value=1$'
	assert_eq "$(count_log n1 '^error: ')" 1 "error lines"
	assert_match "$(log_line n1 '^error: ')" 'longer than 4096' "the error"
	assert_no_log n1 'event=send .*key=k( |$)'
}

@test "a SET line of 4096 bytes is refused as too big for a datagram, not as too long" {
	start_node n1
	write_perl n1 '"SET k ", "x" x 4090, "\n", "SET after 1\n"'
	wait_log n1 'event=apply .*from=n1 type=SET key=after value=1$'
	assert_eq "$(count_log n1 '^error: ')" 1 "error lines"
	assert_match "$(log_line n1 '^error: ')" 'would not fit' "the error"
	assert_no_log n1 'event=send .*key=k( |$)'
}

# ------------------------------------------------------------ binary garbage

@test "64 KiB of random binary on stdin gives only errors, and the node still answers GET" {
	start_node n1
	# Seeded, so that a failure replays: 65536 random bytes, in which about
	# one in 256 is a newline. The last line is closed with one.
	perl -e 'srand(20261126); binmode STDOUT;
		print map(chr(int rand 256), 1 .. 65536), "\n"' \
		>"$BATS_TEST_TMPDIR/garbage"
	# What SPEC section 2 makes of it: one error per line that is over
	# 4096 bytes, or holds a NUL, or is not blank once blanks and a final
	# CR are trimmed (random bytes never spell a valid command).
	expected=$(perl -e 'local $/; $_ = <STDIN>; my $n = 0;
		for my $l (split /\n/, $_, -1) {
			if (length $l > 4096 || $l =~ /\0/) { $n++; next; }
			$l =~ s/\r$//; $l =~ s/^[ \t]+//; $l =~ s/[ \t]+$//;
			$n++ if length $l;
		}
		print $n' <"$BATS_TEST_TMPDIR/garbage")
	timeout 10 cat "$BATS_TEST_TMPDIR/garbage" >&"${NODE_FD[n1]}"
	send_line n1 "GET probe"
	wait_out n1 '^probe \(not set\)$'
	# Errors and log lines share stderr, in order: once the GET's send line
	# is there, every error before it is too.
	wait_log n1 'event=send .*type=GET key=probe$'
	assert_eq "$(count_log n1 '^error: ')" "$expected" "error lines"
	assert_eq "$(count_log n1 'event=send')" 1 "send lines (the GET only)"
	assert_eq "$(grep -avc -e '^error: ' -e '^ts=' "$(log_of n1)")" 0 \
		"stderr lines that are neither an error nor a log line"
	assert_log_ascii n1
	assert_safe_text "$(log_of n1)"
	assert_eq "$(cat "$(out_of n1)")" "probe (not set)" "stdout"
	is_running n1
}

# ------------------------------------------------------------ partial lines

@test "a half-written line never keeps the node from receiving" {
	start_node n1
	send_bytes n1 'SET half'
	wire_set a 1
	wire_set b 2
	wire_set c 3
	wait_count n1 'event=apply .*from=peer type=SET' 3
	assert_no_log n1 'event=send'
	# Once the line is finished, the node runs it.
	send_bytes n1 ' done\n'
	wait_log n1 'event=apply .*from=n1 type=SET key=half value=done$'
}

@test "a GET typed after a half-written line waits for the line, then both run in order" {
	start_node n1
	wire_set k before
	wait_log n1 'event=apply .*from=peer type=SET key=k value=before$'
	send_bytes n1 'GE'
	wire_set k after
	wait_log n1 'event=apply .*from=peer type=SET key=k value=after$'
	# Nothing was printed for the unfinished line...
	assert_eq "$(cat "$(out_of n1)")" "" "stdout before the newline"
	# ...and finished, it reads the store as it is now.
	send_bytes n1 'T k\nGET k\n'
	wait_file "$(out_of n1)" '^k = after$' 2 "$WAIT"
}
