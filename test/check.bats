#!/usr/bin/env bats
# CHECK (SPEC section 7): a node asks every node for the digest of its
# store. Each node that processes the CHECK multicasts a DIGEST reply with
# re=<the CHECK's id>, its digest, entry count and local order; the asking
# node collects the replies for a window (CHECK_WINDOW, 1000 ms by
# default), then prints one row per reply, sorted by node id, and the
# verdict - CONSISTENT, DIVERGED or NO_REPLY - and logs event=check_result.
# CHECK and DIGEST do not count in the local order.
#
# The rows and the verdict are on the asking node's stdout:
#
#     n1 digest=be5fec197ececd55 entries=1 order=2
#     n2 digest=be5fec197ececd55 entries=1 order=2
#     CONSISTENT (2 nodes)

load helpers

setup() {
	kvmc_setup 31000
}

# ------------------------------------------------------------ helpers

VERDICT='^(CONSISTENT \([0-9]+ nodes?\)|DIVERGED \([0-9]+ nodes?\)|NO_REPLY)$'

# check NAME: send CHECK from NAME and wait for its verdict on stdout.
check() {
	send_line "$1" CHECK
	wait_out "$1" "$VERDICT"
}

# rows NAME: the rows NAME printed for its CHECKs.
rows() {
	grep -a ' digest=' "$(out_of "$1")"
}

# verdict NAME: the last verdict line NAME printed.
verdict() {
	grep -Ea "$VERDICT" "$(out_of "$1")" | tail -n 1
}

# check_id NAME: the id of the (first) CHECK NAME sent.
check_id() {
	field "$(log_line "$1" 'event=send .*type=CHECK')" id
}

# digest_datagram FROM RE DIGEST [N]: a DIGEST from node FROM answering
# the CHECK with id RE, with a fresh id (uuid 100+N), entries=1 order=1.
digest_datagram() {
	datagram "v=1 type=DIGEST id=$(uuid $((100 + ${4:-0}))) from=$1 re=$2 digest=$3 entries=1 order=1\n"
}

# expect_reject REASON BYTES: send BYTES (printf %b escapes) as one
# datagram; n1 must log it at warn with that reason, as wire.bats expects.
expect_reject() {
	local reason=$1 before
	before=$(count_log n1 'event=reject')
	datagram "$2"
	wait_count n1 'event=reject' $((before + 1))
	assert_match "$(log_line n1 'event=reject' $((before + 1)))" \
		"level=warn node=n1 event=reject reason=$reason src=127\.0\.0\.1:[0-9]+ bytes=[0-9]+$" \
		"the reject of '$2'"
}

# ------------------------------------------------------------ verdicts

# assert_verdict_then_stop NAME VERDICT: the node printed VERDICT and
# logged check_result before its stop line: stopping waited for it.
assert_verdict_then_stop() {
	local result stop
	assert_eq "$(verdict "$1")" "$2" verdict
	result=$(grep -an 'event=check_result' "$(log_of "$1")" | cut -d: -f1)
	stop=$(grep -an 'event=stop' "$(log_of "$1")" | cut -d: -f1)
	((result < stop))
}

@test "CHECK says CONSISTENT (3 nodes) when every node applied the same writes" {
	start_node n1
	start_node n2
	start_node n3
	send_line n1 "SET x 1"
	send_line n2 "SET y 2"
	for n in n1 n2 n3; do
		wait_count $n 'event=apply .*type=SET' 2
	done
	check n1
	run -0 rows n1
	assert_eq "${#lines[@]}" 3 "rows"
	for i in 0 1 2; do
		assert_match "${lines[i]}" "^n$((i + 1)) digest=[0-9a-f]{16} entries=2 order=2$" "row $i"
		assert_eq "$(field "${lines[i]}" digest)" "$(field "${lines[0]}" digest)" "digest of row $i"
	done
	assert_eq "$(verdict n1)" "CONSISTENT (3 nodes)" verdict
	assert_match "$(log_line n1 'event=check_result')" \
		"level=info node=n1 event=check_result id=$(check_id n1) verdict=CONSISTENT nodes=3$"
}

@test "CHECK says DIVERGED (4 nodes) after the four-node delay experiment" {
	# node3 hears node1 late, node4 hears node2 late; node1 writes x=1,
	# then node2 x=2: node3 keeps 1, the others 2. node3 hears node1's
	# CHECK as late as its SET, 2 s: node1's window is longer than that.
	export CHECK_WINDOW=5000
	four_nodes
	check node1
	run -0 rows node1
	assert_eq "${#lines[@]}" 4 "rows"
	for i in 0 1 2 3; do
		assert_match "${lines[i]}" "^node$((i + 1)) digest=[0-9a-f]{16} entries=1 order=2$" "row $i"
	done
	d1=$(field "${lines[0]}" digest)
	assert_eq "$(field "${lines[1]}" digest)" "$d1" "node2's digest"
	assert_eq "$(field "${lines[3]}" digest)" "$d1" "node4's digest"
	[[ $(field "${lines[2]}" digest) != "$d1" ]]
	assert_eq "$(verdict node1)" "DIVERGED (4 nodes)" verdict
	assert_match "$(log_line node1 'event=check_result')" 'verdict=DIVERGED nodes=4$'
}

@test "one digest that differs is enough for DIVERGED" {
	# A long window: on a loaded machine the reply this script sends must
	# still be in it.
	start_node n1 --check-window 5000
	send_line n1 CHECK
	wait_log n1 'event=send .*type=CHECK'
	# A forged reply from a node "odd" whose store is not empty.
	digest_datagram odd "$(check_id n1)" 0123456789abcdef
	wait_out n1 "$VERDICT" 15
	assert_eq "$(rows n1)" $'n1 digest=0000000000000000 entries=0 order=0\nodd digest=0123456789abcdef entries=1 order=1'
	assert_eq "$(verdict n1)" "DIVERGED (2 nodes)" verdict
}

@test "a CHECK no other node answers gives one row and CONSISTENT (1 node)" {
	start_node n1
	check n1
	assert_eq "$(cat "$(out_of n1)")" $'n1 digest=0000000000000000 entries=0 order=0\nCONSISTENT (1 node)'
	assert_match "$(log_line n1 'event=check_result')" 'verdict=CONSISTENT nodes=1$'
}

@test "NO_REPLY when no DIGEST comes back, not even the asker's own" {
	# n1 loses everything it receives: its own CHECK, so it never answers
	# it, and n2's DIGEST.
	start_node n1 --sim-loss 1
	start_node n2
	send_line n1 CHECK
	wait_log n2 "event=send .*type=DIGEST re=$(check_id n1) "
	wait_log n1 'event=sim_drop .*from=n1 type=CHECK$'
	wait_log n1 'event=sim_drop .*from=n2 type=DIGEST$'
	wait_out n1 "$VERDICT"
	assert_eq "$(cat "$(out_of n1)")" "NO_REPLY" "n1's stdout"
	assert_match "$(log_line n1 'event=check_result')" \
		"event=check_result id=$(check_id n1) verdict=NO_REPLY nodes=0$"
}

# ------------------------------------------------------------ replies

@test "every node answers a CHECK with a DIGEST whose re= is the CHECK's id" {
	start_node n1
	start_node n2
	start_node n3
	check n1
	id=$(check_id n1)
	assert_match "$id" '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' "CHECK id"
	for n in n1 n2 n3; do
		assert_match "$(log_line $n "event=apply id=$id ")" "from=n1 type=CHECK$" "$n applies the CHECK"
		assert_eq "$(count_log $n 'event=send .*type=DIGEST')" 1 "$n's DIGESTs"
		sent=$(log_line $n 'event=send .*type=DIGEST')
		assert_eq "$(field "$sent" re)" "$id" "re= of $n's DIGEST"
		# ... and n1 processed that very DIGEST.
		wait_log n1 "event=apply id=$(field "$sent" id) from=$n type=DIGEST re=$id "
	done
}

@test "each row gives that node's digest, entries and order, as PRINT logs them" {
	start_node n1
	start_node n2
	send_line n1 "SET a 1"
	send_line n2 "SET b 2"
	# Both writes everywhere before PRINT: two stdins race otherwise.
	for n in n1 n2; do
		wait_count $n 'event=apply .*type=SET' 2
	done
	send_line n1 "PRINT"
	for n in n1 n2; do
		wait_log $n 'event=apply .*type=PRINT'
	done
	check n1
	for n in n1 n2; do
		printed=$(log_line $n 'event=apply .*type=PRINT')
		assert_eq "$(grep -a "^$n " "$(out_of n1)")" \
			"$n digest=$(field "$printed" digest) entries=2 order=3" "$n's row"
	done
}

@test "rows are sorted by node id, not by order of arrival" {
	start_node zed
	start_node alpha
	start_node mid
	check zed
	assert_eq "$(rows zed | cut -d' ' -f1 | paste -sd' ' -)" "alpha mid zed"
}

@test "a DIGEST counts only when its re= is the open CHECK's id" {
	# A long window: on a loaded machine both replies this script sends
	# must still be in it.
	start_node n1 --check-window 5000
	send_line n1 CHECK
	wait_log n1 'event=send .*type=CHECK'
	digest_datagram stranger "$(uuid 42)" 0000000000000000 1
	digest_datagram friend "$(check_id n1)" 0000000000000000 2
	wait_out n1 "$VERDICT" 15
	# n1 processed both, but only friend's answers this CHECK.
	assert_match "$(log_line n1 'event=apply .*from=stranger')" "type=DIGEST re=$(uuid 42) "
	assert_eq "$(rows n1 | cut -d' ' -f1 | paste -sd' ' -)" "friend n1" "rows"
	assert_eq "$(verdict n1)" "CONSISTENT (2 nodes)" verdict
}

@test "a DIGEST from a second node with the same id is a second row" {
	# A long window: on a loaded machine both replies must still be in it.
	start_node n1 --check-window 5000
	send_line n1 CHECK
	wait_log n1 'event=send .*type=CHECK'
	digest_datagram twin "$(check_id n1)" 0000000000000000 1
	digest_datagram twin "$(check_id n1)" 0000000000000000 2
	wait_out n1 "$VERDICT" 15
	assert_eq "$(rows n1 | cut -d' ' -f1 | paste -sd' ' -)" "n1 twin twin" "rows"
	assert_eq "$(verdict n1)" "CONSISTENT (3 nodes)" verdict
}

# ------------------------------------------------------------ the local order

@test "CHECK and DIGEST do not count in the local order" {
	start_node n1
	start_node n2
	send_line n1 "SET a 1"
	wait_log n2 'event=apply order=1 .*key=a'
	check n1
	wait_log n2 'event=apply .*from=n1 type=DIGEST'
	send_line n1 "SET b 2"
	for n in n1 n2; do
		wait_log $n 'event=apply .*key=b'
		assert_match "$(log_line $n 'event=apply .*key=b')" 'event=apply order=2 ' "$n's SET b"
		# Their apply lines carry no order= at all.
		assert_eq "$(count_log $n 'event=apply order=[0-9]+ .*type=(CHECK|DIGEST)')" 0 "$n"
		assert_match "$(log_line $n 'event=apply .*type=CHECK')" '^ts=[^ ]+ level=info node=n[12] event=apply id='
	done
	assert_eq "$(grep -a '^n2 ' "$(out_of n1)")" \
		"n2 digest=$(field "$(log_line n2 'event=send .*type=DIGEST')" digest) entries=1 order=1" "n2's row"
}

# ------------------------------------------------------------ the window

@test "EOF right after CHECK still prints the verdict, then stops" {
	start_node n1
	start_node n2
	send_line n1 CHECK
	close_input n1
	wait_exit n1
	assert_eq "$EXIT_STATUS" 0 "exit status"
	# Stopping waited for the window: n2's reply was counted.
	assert_verdict_then_stop n1 "CONSISTENT (2 nodes)"
}

@test "EXIT right after CHECK waits for the verdict too" {
	start_node n1
	start_node n2
	send_line n1 CHECK
	send_line n1 EXIT
	wait_exit n1
	assert_eq "$EXIT_STATUS" 0 "exit status"
	assert_verdict_then_stop n1 "CONSISTENT (2 nodes)"
}

@test "the window is CHECK_WINDOW ms long: a reply after it is not counted" {
	# n2 hears n1's CHECK 500 ms late, so its DIGEST comes too late for a
	# window of 200 ms.
	CHECK_WINDOW=200 start_node n1
	start_node n2 --sim-delay n1=500
	check n1
	assert_eq "$(cat "$(out_of n1)")" $'n1 digest=0000000000000000 entries=0 order=0\nCONSISTENT (1 node)'
	# n2's reply did come, after the verdict.
	wait_log n1 'event=apply .*from=n2 type=DIGEST'
	result=$(grep -an 'event=check_result' "$(log_of n1)" | cut -d: -f1)
	late=$(grep -an 'event=apply .*from=n2 type=DIGEST' "$(log_of n1)" | cut -d: -f1)
	((result < late))
	# A lower bound only: the verdict may come late, never early.
	waited=$(($(ts_ms "$(log_line n1 'event=check_result')") - $(ts_ms "$(log_line n1 'event=send .*type=CHECK')")))
	((waited >= 199)) || {
		echo "# the verdict came $waited ms after the CHECK" >&2
		return 1
	}
}

@test "the default window of 1000 ms counts a reply 500 ms late" {
	start_node n1
	start_node n2 --sim-delay n1=500
	check n1
	assert_eq "$(rows n1 | cut -d' ' -f1 | paste -sd' ' -)" "n1 n2" rows
	assert_eq "$(verdict n1)" "CONSISTENT (2 nodes)" verdict
}

@test "--check-window beats CHECK_WINDOW" {
	# With a window of 60 s there would be no verdict within the test's
	# deadline; with 200 ms, n2's reply, 500 ms late, is not counted.
	CHECK_WINDOW=60000 start_node n1 --check-window 200
	start_node n2 --sim-delay n1=500
	check n1
	assert_eq "$(cat "$(out_of n1)")" $'n1 digest=0000000000000000 entries=0 order=0\nCONSISTENT (1 node)'
}

# ------------------------------------------------------------ the command

@test "a second CHECK while one is open is refused with an error" {
	start_node n1
	send_line n1 CHECK
	send_line n1 CHECK
	wait_log n1 '^error: '
	wait_out n1 "$VERDICT"
	assert_eq "$(count_log n1 'event=send .*type=CHECK')" 1 "CHECKs sent"
	assert_eq "$(count_log n1 '^error: ')" 1 "error lines"
	assert_eq "$(grep -Eac "$VERDICT" "$(out_of n1)")" 1 "verdicts"
	# Once the verdict is out, CHECK works again.
	send_line n1 CHECK
	wait_count n1 'event=check_result' 2
}

@test "CHECK with an argument is an error and sends nothing" {
	start_node n1
	send_line n1 "CHECK extra"
	send_line n1 "GET marker"
	wait_out n1 '^marker '
	assert_eq "$(count_log n1 '^error: ')" 1 "error lines"
	assert_no_log n1 'type=CHECK'
	# Only the GET's line is on stdout: no rows, no verdict.
	assert_eq "$(cat "$(out_of n1)")" "marker (not set)" stdout
}

@test "check is a verb in any case" {
	start_node n1
	send_line n1 check
	wait_out n1 "$VERDICT"
	assert_eq "$(verdict n1)" "CONSISTENT (1 node)" verdict
}

# ------------------------------------------------------------ settings

@test "CHECK_WINDOW accepts 1 to 60000" {
	for ms in 1 60000; do
		run --separate-stderr -0 kvmc_once CHECK_WINDOW=$ms
		assert_match "$stderr" " event=start .* check_window=$ms "
	done
}

@test "a CHECK_WINDOW outside 1-60000 exits 2 naming it" {
	for ms in 0 60001 -1 1.5 ' 5' 1e3 abc; do
		run --separate-stderr -2 kvmc_once CHECK_WINDOW="$ms"
		assert_eq "$stderr" "kvmc: CHECK_WINDOW '$ms': expected 1-60000"
	done
	run --separate-stderr -2 kvmc_once --check-window 0
	assert_eq "$stderr" "kvmc: --check-window '0': expected 1-60000"
	run --separate-stderr -2 kvmc_once --check-window=
	assert_eq "$stderr" "kvmc: --check-window '': expected 1-60000"
}

# ------------------------------------------------------------ the wire

@test "a valid CHECK datagram from another node is answered with a DIGEST" {
	start_node n1
	datagram "v=1 type=CHECK id=$(uuid 1) from=peer\n"
	wait_log n1 "event=apply id=$(uuid 1) from=peer type=CHECK$"
	wait_log n1 "event=send .*from=n1 type=DIGEST re=$(uuid 1) digest=0000000000000000 entries=0 order=0$"
}

@test "a valid DIGEST datagram is processed, whatever the order of its fields" {
	start_node n1
	datagram "v=1 order=18446744073709551615 entries=0 digest=00000000000000ff re=$(uuid 2) from=peer id=$(uuid 1) type=DIGEST\n"
	wait_log n1 "event=apply id=$(uuid 1) from=peer type=DIGEST re=$(uuid 2) digest=00000000000000ff entries=0 order=18446744073709551615$"
}

@test "missing_field: a DIGEST without re, digest, entries or order" {
	start_node n1
	all="re=$(uuid 2) digest=0000000000000000 entries=0 order=0"
	i=0
	for name in re digest entries order; do
		i=$((i + 1))
		fields=$(sed -E "s/(^| )$name=[^ ]*//; s/^ //" <<<"$all")
		expect_reject missing_field "v=1 type=DIGEST id=$(uuid $i) from=peer $fields\n"
	done
	assert_no_log n1 'event=apply'
}

@test "unexpected_field: a CHECK with key, value, re, digest, entries or order" {
	start_node n1
	for extra in key=k value=v "re=$(uuid 2)" digest=0000000000000000 \
		entries=0 order=0; do
		expect_reject unexpected_field "v=1 type=CHECK id=$(uuid 1) from=peer $extra\n"
	done
	assert_no_log n1 'event=apply'
}

@test "unexpected_field: a DIGEST with a key, or a SET with a digest" {
	start_node n1
	expect_reject unexpected_field \
		"v=1 type=DIGEST id=$(uuid 1) from=peer re=$(uuid 2) digest=0000000000000000 entries=0 order=0 key=k\n"
	expect_reject unexpected_field \
		"v=1 type=SET id=$(uuid 3) from=peer key=k value=v digest=0000000000000000\n"
	assert_no_log n1 'event=apply'
}

@test "bad_value: a digest that is not 16 lower-case hex digits" {
	start_node n1
	for digest in 00000000000000FF 000000000000000 00000000000000000 \
		000000000000000g 000000000000%41a ''; do
		expect_reject bad_value \
			"v=1 type=DIGEST id=$(uuid 1) from=peer re=$(uuid 2) digest=$digest entries=0 order=0\n"
	done
	assert_no_log n1 'event=apply'
}

@test "bad_value: entries or order with a leading zero, a sign, or 2^64 and over" {
	start_node n1
	for n in 01 00 -1 +1 18446744073709551616 99999999999999999999 1e3 ''; do
		expect_reject bad_value \
			"v=1 type=DIGEST id=$(uuid 1) from=peer re=$(uuid 2) digest=0000000000000000 entries=$n order=0\n"
		expect_reject bad_value \
			"v=1 type=DIGEST id=$(uuid 1) from=peer re=$(uuid 2) digest=0000000000000000 entries=0 order=$n\n"
	done
	assert_no_log n1 'event=apply'
}

@test "bad_value: a re= that is not a lower-case UUID version 4" {
	start_node n1
	for re in 00000001-0000-1000-8000-000000000001 \
		00000001-0000-4000-c000-000000000001 \
		0000000A-0000-4000-8000-00000000000A \
		00000001-0000-4000-8000-00000000001 \
		000000010000-4000-8000-000000000001- \
		%30000001-0000-4000-8000-000000000001 x; do
		expect_reject bad_value \
			"v=1 type=DIGEST id=$(uuid 1) from=peer re=$re digest=0000000000000000 entries=0 order=0\n"
	done
	assert_no_log n1 'event=apply'
}

@test "bad_value comes before missing_field, which comes before unexpected_field" {
	start_node n1
	expect_reject bad_value "v=1 type=DIGEST id=$(uuid 1) from=peer re=$(uuid 2) digest=x entries=0\n"
	expect_reject missing_field "v=1 type=DIGEST id=$(uuid 1) from=peer re=$(uuid 2) digest=0000000000000000 entries=0 key=k\n"
}
