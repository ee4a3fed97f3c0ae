#!/usr/bin/env bats
# fifo mode (SPEC section 10) as a receiver sees it: each sender's
# commands applied in its seq order, none missing. A command behind a
# missing number is held (event=hold reason=fifo) and applied once the gap
# fills; the gap is asked for with NACKs (after 20 ms, then every 200 ms,
# in pieces of 256) and the sender resends, byte for byte, what it keeps;
# numbers 4096 below the newest known are given up (gap_lost); a HELLO
# tells the last seq sent; a higher inc is a new run (peer_restart), a
# lower one is stale.
#
# Most datagrams come from test/rawsend as a sender "peer" (inc=5) that
# does not exist; node n1 runs fifo without HELLO.

load helpers

setup() {
	kvmc_setup 41000
	N=0
}

# fifo_node NAME [OPTION...]: a fifo node without HELLO.
fifo_node() {
	local name=$1
	shift
	start_node "$name" --ordering fifo --hello-interval 0 "$@"
}

# peer_set SEQ [INC]: peer's SET k<SEQ>=v<SEQ> with that seq, id uuid SEQ+INC*10000.
peer_set() {
	local seq=$1 inc=${2:-5}
	datagram "v=1 type=SET id=$(uuid $((seq + inc * 10000))) from=peer key=k$seq value=v$seq inc=$inc seq=$seq\n"
}

# nack_from_peer TO OF FIRST LAST: a NACK that peer sends.
nack_from_peer() {
	N=$((N + 1))
	datagram "v=1 type=NACK id=$(uuid $((900000 + N))) from=peer inc=5 to=$1 of=$2 first=$3 last=$4\n"
}

# applied NAME: the keys NAME applied, in its order, on one line.
applied() {
	grep -a 'event=apply order=' "$(log_of "$1")" | grep -o ' key=[^ ]*' |
		cut -d= -f2 | paste -sd' ' -
}

# ------------------------------------------------------------ holding back

@test "a command behind a missing seq is held, then applied after the gap fills" {
	fifo_node n1
	peer_set 2
	wait_log n1 "level=info node=n1 event=hold id=$(uuid 50002) from=peer type=SET seq=2 reason=fifo$"
	assert_no_log n1 'event=apply'
	peer_set 1
	wait_count n1 'event=apply order=' 2
	assert_eq "$(applied n1)" "k1 k2" "applied in seq order"
	assert_match "$(log_line n1 'event=apply order=2')" "from=peer type=SET key=k2 value=v2 inc=5 seq=2$"
	assert_eq "$(count_log n1 'event=hold')" 1 "one hold line"
}

@test "a seq already applied or held is a duplicate, whatever its id" {
	fifo_node n1
	peer_set 1
	peer_set 3
	wait_log n1 'event=hold .*seq=3'
	datagram "v=1 type=SET id=$(uuid 7) from=peer key=x value=1 inc=5 seq=1\n"
	datagram "v=1 type=SET id=$(uuid 8) from=peer key=x value=1 inc=5 seq=3\n"
	wait_log n1 "level=info node=n1 event=duplicate id=$(uuid 7) from=peer type=SET"
	wait_log n1 "event=duplicate id=$(uuid 8) "
	peer_set 2
	wait_count n1 'event=apply order=' 3
	assert_eq "$(applied n1)" "k1 k2 k3"
}

@test "own commands are applied when they come back, with inc and seq on the wire" {
	fifo_node n1
	send_line n1 "SET a 1"
	send_line n1 "SET b 2"
	wait_count n1 'event=apply order=' 2
	assert_match "$(log_line n1 'event=send')" "type=SET key=a value=1 inc=[1-9][0-9]* seq=1$"
	assert_match "$(log_line n1 'event=apply order=2')" "type=SET key=b value=2 inc=[1-9][0-9]* seq=2$"
	assert_no_log n1 ' vc='
}

# ------------------------------------------------------------ NACK

@test "a gap is asked for with a NACK naming the sender and the missing numbers" {
	fifo_node n1
	start_replica w --ordering fifo --hello-interval 0 --log-level debug
	peer_set 4
	wait_log n1 'level=info node=n1 event=nack to=peer of=seq first=1 last=3$'
	# The NACK on the wire carries n1's run and the same numbers.
	wait_log w "event=apply id=[^ ]+ from=n1 type=NACK inc=[0-9]+ to=peer of=seq first=1 last=3$"
}

@test "NACKs come no sooner than 20 ms after the gap, then every 200 ms or more" {
	fifo_node n1
	peer_set 2
	wait_count n1 'event=nack to=peer' 3
	hold=$(ts_ms "$(log_line n1 'event=hold')")
	first=$(ts_ms "$(log_line n1 'event=nack' 1)")
	second=$(ts_ms "$(log_line n1 'event=nack' 2)")
	third=$(ts_ms "$(log_line n1 'event=nack' 3)")
	(( first - hold >= 19 )) || { echo "# first NACK $((first - hold)) ms after the hold"; false; }
	(( second - first >= 199 )) || { echo "# second NACK $((second - first)) ms after"; false; }
	(( third - second >= 199 )) || { echo "# third NACK $((third - second)) ms after"; false; }
}

@test "a long run is asked for in pieces of 256, lowest first, in one round" {
	fifo_node n1
	peer_set 600
	wait_count n1 'event=nack ' 3
	assert_match "$(log_line n1 'event=nack' 1)" 'to=peer of=seq first=1 last=256$'
	assert_match "$(log_line n1 'event=nack' 2)" 'to=peer of=seq first=257 last=512$'
	assert_match "$(log_line n1 'event=nack' 3)" 'to=peer of=seq first=513 last=599$'
}

@test "one NACK per run of missing numbers" {
	fifo_node n1
	peer_set 3
	peer_set 6
	wait_log n1 'event=hold .*seq=6'
	# (A first round may come before seq 6 does: look at a later one.)
	wait_log n1 'event=nack .*first=4 last=5$'
	before=$(grep -a 'event=nack' "$(log_of n1)" | grep -B1 'first=4 last=5$' | head -1)
	assert_match "$before" 'event=nack to=peer of=seq first=1 last=2$' "the NACK before"
}

# ------------------------------------------------------------ resend

@test "a NACK is answered by resending the datagrams byte for byte" {
	"$REPO/test/rawrecv" "$GROUP" "$PORT" >"$BATS_TEST_TMPDIR/wire" 3>&- &
	EXTRA_PIDS+=($!)
	fifo_node n1
	send_line n1 "SET a 1"
	send_line n1 "SET b two words"
	wait_count n1 'event=apply order=' 2
	nack_from_peer n1 seq 1 2
	wait_log n1 'level=info node=n1 event=resend to=peer of=seq first=1 last=2 count=2$'
	id_a=$(field "$(log_line n1 'event=send .*key=a')" id)
	id_b=$(field "$(log_line n1 'event=send .*key=b')" id)
	wait_file "$BATS_TEST_TMPDIR/wire" "id=$id_b " 2 5
	for id in $id_a $id_b; do
		assert_eq "$(grep -c "id=$id " "$BATS_TEST_TMPDIR/wire")" 2 "copies of $id"
		assert_eq "$(grep "id=$id " "$BATS_TEST_TMPDIR/wire" | sort -u | wc -l)" 1 \
			"distinct copies of $id"
	done
	# n1 itself takes the copies for duplicates.
	wait_count n1 'event=duplicate' 2
	assert_eq "$(count_log n1 'event=apply order=')" 2
}

@test "a NACK for 1..2^64-1 resends only what is kept; others' NACKs are ignored" {
	fifo_node n1 --log-level debug
	for i in 1 2 3; do send_line n1 "SET k$i $i"; done
	wait_count n1 'event=apply order=' 3
	nack_from_peer n1 seq 1 18446744073709551615
	wait_log n1 'event=resend to=peer of=seq first=1 last=18446744073709551615 count=3$'
	nack_from_peer other seq 1 3
	wait_log n1 'level=debug node=n1 event=apply .*type=NACK .*to=other '
	nack_from_peer n1 seq 4 18446744073709551615
	wait_log n1 'type=NACK .*to=n1 of=seq first=4 '
	assert_eq "$(count_log n1 'event=resend')" 1 "resends"
}

@test "the same number is resent at most once per 50 ms" {
	fifo_node n1 --log-level debug
	send_line n1 "SET a 1"
	wait_log n1 'event=apply order=1'
	# Two NACKs, one right after the other, then one to another node:
	# once n1 has taken that one, it is done with the first two.
	for i in 1 2; do
		printf 'v=1 type=NACK id=%s from=peer inc=5 to=n1 of=seq first=1 last=1\n' "$(uuid $i)"
	done >"$BATS_TEST_TMPDIR/nacks"
	printf 'v=1 type=NACK id=%s from=peer inc=5 to=other of=seq first=1 last=1\n' "$(uuid 3)" \
		>>"$BATS_TEST_TMPDIR/nacks"
	timeout 5 "$RAWSEND" -l "$GROUP" "$PORT" <"$BATS_TEST_TMPDIR/nacks"
	wait_log n1 'type=NACK .*to=other '
	first=$(ts_ms "$(log_line n1 "event=apply id=$(uuid 1) ")")
	second=$(ts_ms "$(log_line n1 "event=apply id=$(uuid 2) ")")
	if ((second - first >= 50)); then
		skip "n1 took the two NACKs $((second - first)) ms apart: too slow to tell"
	fi
	assert_eq "$(count_log n1 'event=resend')" 1 "resends"
}

# ------------------------------------------------------------ gap_lost

@test "numbers 4096 below the newest are given up; held ones among them are applied" {
	fifo_node n1
	peer_set 1
	peer_set 3
	wait_log n1 'event=hold .*seq=3'
	peer_set 5000
	wait_log n1 'level=warn node=n1 event=gap_lost from=peer first=2 last=2$'
	wait_log n1 'level=warn node=n1 event=gap_lost from=peer first=4 last=904$'
	assert_eq "$(applied n1)" "k1 k3" "applied"
	wait_log n1 'event=nack to=peer of=seq first=905 last=1160$'
	peer_set 4999
	peer_set 905
	wait_count n1 'event=apply order=' 3
	assert_eq "$(applied n1)" "k1 k3 k905"
}

@test "a forged seq 2^64-1 costs a bounded round of NACKs, not a stall of other streams" {
	fifo_node n1
	datagram "v=1 type=SET id=$(uuid 1) from=forger key=f value=1 inc=5 seq=18446744073709551615\n"
	wait_log n1 'event=gap_lost from=forger first=1 last=18446744073709547519$'
	peer_set 1
	wait_log n1 'event=apply order=1 .*from=peer'
	# A round is at most 16 NACKs, lowest first: the 17th is a round later.
	wait_count n1 'event=nack to=forger' 17
	first=$(ts_ms "$(log_line n1 'event=nack to=forger' 1)")
	next=$(ts_ms "$(log_line n1 'event=nack to=forger' 17)")
	(( next - first >= 199 )) || { echo "# 17 NACKs in $((next - first)) ms"; false; }
	assert_match "$(log_line n1 'event=nack to=forger')" 'first=18446744073709547520 last=18446744073709547775$'
}

# ------------------------------------------------------------ HELLO

@test "a HELLO's seq reveals a lost tail" {
	fifo_node n1
	peer_set 1
	wait_log n1 'event=apply order=1'
	datagram "v=1 type=HELLO id=$(uuid 77) from=peer inc=5 seq=3\n"
	wait_log n1 'event=nack to=peer of=seq first=2 last=3$'
}

@test "a lost tail of a real node is found through its HELLO and resent" {
	start_node n1 --ordering fifo --hello-interval 200
	# r loses half of what it receives; n1 writes twice and falls silent.
	start_replica r --ordering fifo --hello-interval 200 \
		--sim-loss 0.5 --sim-seed 1
	send_line n1 "SET a 1"
	send_line n1 "SET b 2"
	wait_count n1 'event=apply order=' 2
	# Whatever r lost, n1's HELLOs, r's NACKs and n1's resends bring back.
	wait_count r 'event=apply order=' 2 10
	assert_eq "$(applied r)" "a b"
}

# ------------------------------------------------------------ inc

@test "a higher inc is a new run: peer_restart, held commands dropped, seq 1 again" {
	fifo_node n1 --log-level debug
	peer_set 1
	peer_set 3
	wait_log n1 'event=hold .*seq=3'
	peer_set 1 6
	wait_log n1 'level=info node=n1 event=peer_restart peer=peer'
	wait_count n1 'event=apply order=' 2
	assert_match "$(log_line n1 'event=apply order=2')" 'key=k1 value=v1 inc=6 seq=1$'
	# seq 2 of the old run is stale now, and so is its seq 3.
	peer_set 2
	wait_log n1 "level=debug node=n1 event=stale id=$(uuid 50002) from=peer type=SET"
	peer_set 2 6
	wait_count n1 'event=apply order=' 3
	assert_eq "$(applied n1)" "k1 k1 k2"
}

@test "a node restarted with the same id is a new stream" {
	fifo_node n1
	fifo_node n2
	send_line n2 "SET a 1"
	wait_log n1 'event=apply order=1 .*from=n2'
	close_input n2
	wait_exit n2
	fifo_node n2again --node-id n2
	send_line n2again "SET b 2"
	wait_log n1 'event=peer_restart peer=n2'
	wait_log n1 'event=apply order=2 .*from=n2 type=SET key=b value=2 inc=[0-9]+ seq=1$'
}

# ------------------------------------------------------------ bounds

@test "hold_overflow: the 65537th command that must wait is discarded, and not remembered" {
	fifo_node n1 --log-level warn
	# 18 senders, 4090 commands each, all behind a missing seq: at most
	# 4096 numbers of one stream wait, so it takes many streams.
	for s in $(seq 1 18); do
		timeout 60 "$FLOOD" "$GROUP" "$PORT" fifo "s$s" $((s * 100000 + 2)) 4090
	done
	wait_log n1 'level=warn node=n1 event=hold_overflow id=[^ ]+ from=s[0-9]+ type=SET seq=[0-9]+ held=65536$' 60
	# A command that can be applied at once is still applied.
	datagram "v=1 type=SET id=$(uuid 1) from=fresh key=a value=1 inc=1 seq=1\n"
	close_input n1
	wait_exit n1 30
	assert_match "$(log_line n1 'event=stop')" ' order=1 '
}

@test "at most 1024 datagrams are resent in a second, lowest numbers first" {
	fifo_node n1 --log-level debug
	for i in $(seq 1 1100); do echo "SET k$i $i"; done >&"${NODE_FD[n1]}"
	wait_count n1 'event=apply order=' 1100 30
	nack_from_peer n1 seq 1 1100
	nack_from_peer n1 seq 1025 1100
	wait_log n1 'event=resend to=peer of=seq first=1 last=1100 count=1024$'
	# The second NACK found the budget spent: nothing went, nothing was
	# logged. (Once n1 has taken a third NACK, it is done with it.)
	nack_from_peer other seq 1 1
	wait_log n1 'type=NACK .*to=other '
	assert_eq "$(count_log n1 'event=resend')" 1 "resend lines"
}
