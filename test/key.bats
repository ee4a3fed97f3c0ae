#!/usr/bin/env bats
# The group key (SPEC section 12): with GROUP_KEY or --key-file, every
# datagram a node sends ends with mac=<SipHash-2-4 of the bytes before
# it>, and a node hears only datagrams tagged with its own key; a keyless
# node refuses any mac= token. The reason is key_mismatch, checked right
# after too_long, no_newline and bad_byte.
#
# SipHash itself is checked twice: test/siphash_test against the 64
# published vectors, and test/siphash.pl, written apart, against both the
# vectors and the tags nodes really send (captured with test/sniff).

load helpers

K1=000102030405060708090a0b0c0d0e0f
K2=F0E1D2C3B4A5968778695A4B3C2D1E0F
SIPHASH_PL=$REPO/test/siphash.pl
SNIFF=$REPO/test/sniff

setup() {
	kvmc_setup 48000
	export HELLO_INTERVAL=0
}

# key_file NAME HEX [MODE]: a key file holding HEX and a newline, mode
# MODE (default 0600); prints its path.
key_file() {
	local f=$BATS_TEST_TMPDIR/$1
	printf '%s\n' "$2" >"$f"
	chmod "${3:-0600}" "$f"
	echo "$f"
}

# start_sniffer COUNT: capture the next COUNT datagrams on this test's
# group and port into $CAPTURE; returns once the sniffer has joined.
start_sniffer() {
	CAPTURE=$BATS_TEST_TMPDIR/capture
	timeout 20 "$SNIFF" "$GROUP" "$PORT" "$1" >"$CAPTURE" \
		2>"$BATS_TEST_TMPDIR/sniff.err" 3>&- &
	EXTRA_PIDS+=($!)
	wait_file "$BATS_TEST_TMPDIR/sniff.err" '^ready$' 1 "$WAIT"
}

# send_file FILE: FILE's bytes as one datagram to this test's group.
send_file() {
	timeout 5 "$RAWSEND" "$GROUP" "$PORT" <"$1"
}

# expect_key_mismatch NAME FILE: FILE, sent as one datagram, is rejected
# by node NAME with reason key_mismatch and its full length.
expect_key_mismatch() {
	local before len
	before=$(count_log "$1" 'event=reject')
	len=$(wc -c <"$2")
	send_file "$2"
	wait_count "$1" 'event=reject' $((before + 1))
	assert_match "$(log_line "$1" 'event=reject' $((before + 1)))" \
		"event=reject reason=key_mismatch src=127\.0\.0\.1:[0-9]+ bytes=$len$" \
		"the reject of '$(cut -c 1-200 "$2")'"
}

# ------------------------------------------------------------ SipHash

@test "SipHash-2-4 gives the 64 published vectors, and the tag codec keeps its rules" {
	run -0 "$REPO/test/siphash_test"
	assert_eq "$output" "siphash: 64 published vectors and the tag codec held"
}

@test "an independent SipHash in perl agrees on all 64 vectors and the paper's example" {
	run -0 perl "$SIPHASH_PL" --vectors
	# The paper's appendix: key 00..0f, message 00..0e.
	assert_eq "${lines[15]}" a129ca6149be45e5 "the paper's example"
	assert_eq "$output" "$("$REPO/test/siphash_test" -p)" "perl against kvmc"
}

# ------------------------------------------------------------ clusters

@test "two nodes with the same key replicate; start says key=yes, or key=no" {
	GROUP_KEY=$K1 start_node n1
	start_node n2 --key-file "$(key_file k "$K1")"
	start_node n3
	assert_match "$(log_line n1 'event=start')" ' key=yes$'
	assert_match "$(log_line n2 'event=start')" ' key=yes$'
	assert_match "$(log_line n3 'event=start')" ' key=no$'
	send_line n1 "SET x 1"
	wait_log n2 'event=apply order=1 .*from=n1 type=SET key=x value=1$'
	send_line n2 "SET y 2"
	wait_log n1 'event=apply order=2 .*from=n2 type=SET key=y value=2$'
	# The keyless n3 heard both, and refused both.
	wait_count n3 'event=reject reason=key_mismatch' 2
	assert_no_log n3 'event=apply'
	# Neither the key nor the tags reach a log line.
	assert_no_log n1 "$K1|mac="
	assert_no_log n2 "$K1|mac="
}

@test "nodes with another key or none are neither heard nor heard from" {
	GROUP_KEY=$K1 start_node n1
	GROUP_KEY=$K1 start_node n2
	GROUP_KEY=$K2 start_node n3
	start_node n4
	# Each node writes once. Every datagram is heard by the three others:
	# n1 and n2 apply each other's; every other pairing is refused.
	for n in n1 n2 n3 n4; do
		send_line $n "SET from_$n 1"
		wait_log $n "event=send .*key=from_$n "
	done
	wait_log n1 'event=apply .*from=n2 type=SET key=from_n2 '
	wait_log n2 'event=apply .*from=n1 type=SET key=from_n1 '
	for n in n1 n2; do wait_count $n 'event=reject reason=key_mismatch' 2; done
	for n in n3 n4; do wait_count $n 'event=reject reason=key_mismatch' 3; done
	for n in n1 n2 n3 n4; do
		assert_eq "$(count_log $n 'event=reject')" \
			"$(count_log $n 'event=reject reason=key_mismatch')" "$n's rejects"
	done
	assert_no_log n1 'event=apply .*from=n[34] '
	assert_no_log n2 'event=apply .*from=n[34] '
	assert_no_log n3 'event=apply .*from=n[124] '
	assert_no_log n4 'event=apply .*from=n[123] '
	for n in n1 n2 n3 n4; do send_line $n PEERS; done
	wait_out n1 '^n2 '
	wait_out n2 '^n1 '
	wait_out n3 '^\(no peers\)$'
	wait_out n4 '^\(no peers\)$'
	assert_eq "$(cat "$(out_of n1)")" "$(grep '^n2 ' "$(out_of n1)")" "n1's PEERS"
	assert_eq "$(cat "$(out_of n2)")" "$(grep '^n1 ' "$(out_of n2)")" "n2's PEERS"
}

@test "a keyed node works with the simulated network, CHECK and HELLO" {
	GROUP_KEY=$K1 start_node n1 --sim-delay '*=50' --hello-interval 100
	GROUP_KEY=$K1 start_node n2 --hello-interval 100
	wait_log n1 'event=peer_up peer=n2$'
	wait_log n2 'event=peer_up peer=n1$'
	send_line n2 "SET x 1"
	wait_log n1 'event=apply .*from=n2 type=SET key=x value=1$'
	send_line n1 CHECK
	wait_log n1 'event=check_result|event=check '
	assert_no_log n1 'event=reject'
	assert_no_log n2 'event=reject'
}

# ------------------------------------------------------------ captured

# keyed_lossy MODE: two keyed nodes in MODE, the second losing 30% of
# what it receives; every write arrives, asked for again and resent with
# its tag, byte for byte, and no datagram of the cluster is refused.
keyed_lossy() {
	local opts=(--ordering "$1" --sequencer a1) i
	GROUP_KEY=$K1 start_node a1 "${opts[@]}" --hello-interval 300
	GROUP_KEY=$K1 start_node a2 "${opts[@]}" --hello-interval 300 \
		--sim-loss 0.3 --sim-seed 6
	for ((i = 1; i <= 30; i++)); do echo "SET k$i $i"; done >&"${NODE_FD[a1]}"
	wait_count a2 'event=apply .*type=SET' 30 20
	wait_log a1 'event=resend '
	assert_no_log a1 'reason=key_mismatch'
	assert_no_log a2 'reason=key_mismatch'
}

@test "in fifo mode a keyed node's resends carry its tag and are heard" {
	keyed_lossy fifo
}

@test "in total mode a keyed sequencer's resends carry its tag and are heard" {
	keyed_lossy total
}

@test "a captured datagram is refused with any byte changed, its tag removed or moved" {
	GROUP_KEY=$K1 start_node n1
	GROUP_KEY=$K1 start_node n2
	start_sniffer 1
	send_line n1 "SET k v"
	wait_file "$CAPTURE" 'mac=[0-9a-f]{16}$' 1 "$WAIT"
	wait_log n2 'event=apply order=1 .*type=SET key=k value=v$'
	local dir=$BATS_TEST_TMPDIR/bad n len
	mkdir "$dir"
	len=$(wc -c <"$CAPTURE")
	# One datagram per byte but the final newline, that byte changed.
	perl -e 'local $/; my $d = <STDIN>; for my $i (0 .. length($d) - 2) {
		my $c = $d; substr($c, $i, 1) = substr($c, $i, 1) eq "a" ? "b" : "a";
		open my $f, ">", sprintf("%s/%04d", $ARGV[0], $i) or die; print $f $c }' \
		"$dir" <"$CAPTURE"
	n=$(ls "$dir" | wc -l)
	assert_eq "$n" $((len - 1)) "changed copies"
	for f in "$dir"/*; do send_file "$f"; done
	wait_count n2 'event=reject' "$n"
	assert_eq "$(count_log n2 "event=reject reason=key_mismatch src=[0-9.:]+ bytes=$len$")" \
		"$n" "key_mismatch rejects of the changed copies"
	# The tag removed, and the tag moved to just after v=1.
	sed -E 's/ mac=[0-9a-f]{16}$//' "$CAPTURE" >"$BATS_TEST_TMPDIR/untagged"
	expect_key_mismatch n2 "$BATS_TEST_TMPDIR/untagged"
	sed -E 's/^v=1 (.*) (mac=[0-9a-f]{16})$/v=1 \2 \1/' "$CAPTURE" \
		>"$BATS_TEST_TMPDIR/moved"
	assert_match "$(cat "$BATS_TEST_TMPDIR/moved")" '^v=1 mac=[0-9a-f]{16} type=SET '
	expect_key_mismatch n2 "$BATS_TEST_TMPDIR/moved"
	# Nothing of that was applied.
	assert_eq "$(count_log n2 'event=apply')" 1 "applies on n2"
}

@test "a captured datagram sent again is a duplicate, not a second apply" {
	GROUP_KEY=$K1 start_node n1
	GROUP_KEY=$K1 start_node n2
	start_sniffer 1
	send_line n1 "SET k v"
	wait_file "$CAPTURE" 'mac=[0-9a-f]{16}$' 1 "$WAIT"
	wait_log n2 'event=apply order=1 .*type=SET key=k value=v$'
	send_file "$CAPTURE"
	wait_log n2 'event=duplicate .*from=n1 type=SET$'
	assert_eq "$(count_log n2 'event=apply')" 1 "applies on n2"
	assert_no_log n2 'event=reject'
}

@test "the tag a node sends equals an independent SipHash, and a line sealed apart is applied" {
	GROUP_KEY=$K2 start_node n1
	start_sniffer 1
	send_line n1 "SET known line"
	wait_file "$CAPTURE" 'mac=[0-9a-f]{16}$' 1 "$WAIT"
	local line body tag
	line=$(cat "$CAPTURE")
	body=${line% mac=*}
	tag=${line##* mac=}
	assert_match "$body" "^v=1 type=SET id=[0-9a-f-]{36} from=n1 key=known value=line$"
	assert_eq "$tag" "$(printf '%s' "$body" | perl "$SIPHASH_PL" "$K2")" "the tag"
	# And the other way: perl seals, kvmc accepts.
	printf 'v=1 type=SET id=%s from=peer key=sealed value=apart\n' "$(uuid 7)" |
		perl "$SIPHASH_PL" --seal "$K2" >"$BATS_TEST_TMPDIR/sealed"
	send_file "$BATS_TEST_TMPDIR/sealed"
	wait_log n1 'event=apply .*from=peer type=SET key=sealed value=apart$'
}

@test "the framing reasons come before key_mismatch, and a keyless node refuses mac=" {
	GROUP_KEY=$K1 start_node n1
	start_node n2
	local id
	id=$(uuid 1)
	datagram "v=1 type=SET id=$id from=peer key=k value=v\r\n"
	wait_log n1 'event=reject reason=bad_byte '
	wait_log n2 'event=reject reason=bad_byte '
	datagram "v=1 type=SET id=$id from=peer key=k value=v"
	wait_log n1 'event=reject reason=no_newline '
	# A valid but unkeyed SET; then one with a well-formed tag.
	datagram "v=1 type=SET id=$id from=peer key=k value=v\n"
	wait_log n1 'event=reject reason=key_mismatch '
	wait_log n2 'event=apply .*from=peer type=SET key=k value=v$'
	datagram "v=1 type=SET id=$(uuid 2) from=peer key=k value=w mac=0123456789abcdef\n"
	wait_count n1 'event=reject reason=key_mismatch' 2
	wait_log n2 'event=reject reason=key_mismatch '
	datagram "v=1 type=SET mac=x id=$(uuid 3) from=peer key=k value=w\n"
	wait_count n2 'event=reject reason=key_mismatch' 2
	assert_no_log n1 'event=apply .*from=peer'
}

@test "with a key, a SET that fits unkeyed may not fit in a datagram" {
	GROUP_KEY=$K1 start_node n1
	start_node n2
	# 74 bytes besides the value, from=n1: 1326 fill 1400 bytes unkeyed.
	send_line n1 "SET k $(repeat 1326 v)"
	send_line n2 "SET k $(repeat 1326 v)"
	wait_log n1 'error: message would not fit in one datagram'
	wait_log n2 'event=send .*key=k '
	# 21 bytes fewer fit with the tag.
	send_line n1 "SET j $(repeat 1305 v)"
	wait_log n1 'event=apply .*key=j value=v{1305}$'
}

# ------------------------------------------------------------ settings

# key_error [VAR=VALUE...] [OPTION...]: kvmc exits 2 with exactly one line
# on stderr, which never holds the key's digits; sets LINE to it.
key_error() {
	run --separate-stderr -2 kvmc_once "$@"
	assert_eq "${#stderr_lines[@]}" 1 "lines on stderr ($stderr)"
	LINE=$stderr
	[[ $LINE != *0102030405060708* && $LINE != *deadbeef* ]] || {
		echo "# the error shows the key: $LINE" >&2
		return 1
	}
}

@test "GROUP_KEY that is short, long, not hex or ends with a newline exits 2, never shown" {
	key_error GROUP_KEY=${K1:0:31}
	assert_eq "$LINE" "kvmc: GROUP_KEY: expected 32 hex digits (a 128-bit key)"
	key_error GROUP_KEY=${K1}0
	key_error GROUP_KEY=${K1:0:31}g
	key_error GROUP_KEY="$K1
"
	key_error GROUP_KEY="deadbeef deadbeef deadbeef deadbe"
}

@test "a key file that is empty, malformed, readable by others or missing exits 2" {
	local f
	f=$(key_file empty "")
	: >"$f"
	key_error --key-file "$f"
	assert_eq "$LINE" "kvmc: --key-file '$f': expected 32 hex digits (a 128-bit key), then at most one newline"
	f=$(key_file short "${K1:0:30}")
	key_error --key-file "$f"
	printf '%s\n\n' "$K1" >"$BATS_TEST_TMPDIR/two_newlines"
	chmod 600 "$BATS_TEST_TMPDIR/two_newlines"
	key_error --key-file "$BATS_TEST_TMPDIR/two_newlines"
	f=$(key_file shared "$K1" 0644)
	key_error --key-file="$f"
	assert_match "$LINE" "^kvmc: --key-file '$f': mode 0644 "
	f=$(key_file group "$K1" 0640)
	key_error --key-file "$f"
	assert_match "$LINE" " mode 0640 "
	key_error --key-file "$BATS_TEST_TMPDIR/missing"
	assert_match "$LINE" "^kvmc: --key-file '$BATS_TEST_TMPDIR/missing': cannot read it: No such file or directory$"
}

@test "a key file may end with one newline or none, and wins over GROUP_KEY" {
	started_with GROUP_KEY=bad --key-file "$(key_file k "$K2" 0400)"
	assert_eq "$(start_field key)" yes
	printf '%s' "$K1" >"$BATS_TEST_TMPDIR/bare"
	chmod 600 "$BATS_TEST_TMPDIR/bare"
	started_with --key-file "$BATS_TEST_TMPDIR/bare"
	assert_eq "$(start_field key)" yes
	started_with GROUP_KEY=
	assert_eq "$(start_field key)" no
	[[ $stderr != *"$K1"* && $stderr != *"$K2"* ]]
}

@test "the key is validated after every other setting" {
	setting_error MULTICAST_PORT 70000 MULTICAST_PORT=70000 GROUP_KEY=short
	setting_error SIM_SEED x SIM_SEED=x --key-file "$BATS_TEST_TMPDIR/missing"
}

@test "the key is never an option, and an unknown option is not echoed with its value" {
	run --separate-stderr -2 kvmc_once --key="$K1"
	assert_eq "$stderr" "kvmc: unknown option '--key' (see kvmc --help)"
	run --separate-stderr -2 kvmc_once --group-key "$K1"
	[[ $stderr != *"$K1"* ]]
	run -0 "$KVMC" --help
	assert_match "$output" '--key-file PATH +GROUP_KEY'
}
