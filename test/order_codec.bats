#!/usr/bin/env bats
# The ordered modes' settings and wire additions (SPEC section 10): the
# settings ORDERING and SEQUENCER and their errors, the new fields and
# types as the codec checks them (bad_value in the order inc seq vc gseq
# to of first last, missing_field and unexpected_field per type), and the
# reject ordering_mismatch, decided after decoding and before the
# simulated network, for a datagram that does not suit the node's mode.
#
# Datagrams come from test/rawsend, from a node "peer" that does not exist.

load helpers

setup() {
	kvmc_setup 40000
	ID=$(uuid 1)
	RE=$(uuid 99)
}

# expect_reject NODE REASON BYTES: send BYTES as one datagram; NODE must
# log exactly one more reject, at warn, with REASON and the real length.
expect_reject() {
	local node=$1 reason=$2 file=$BATS_TEST_TMPDIR/datagram before len line
	printf '%b' "$3" >"$file"
	len=$(wc -c <"$file")
	before=$(count_log "$node" 'event=reject')
	timeout 5 "$RAWSEND" "$GROUP" "$PORT" <"$file"
	wait_count "$node" 'event=reject' $((before + 1))
	line=$(log_line "$node" 'event=reject' $((before + 1)))
	assert_match "$line" \
		"level=warn node=$node event=reject reason=$reason src=127\.0\.0\.1:[0-9]+ bytes=$len$" \
		"the reject of '$(head -c 200 "$file")'"
}

# fifo_node: n1 in fifo mode, without HELLO.
fifo_node() {
	start_node n1 --ordering fifo --hello-interval 0 "$@"
}

# set_with FIELDS: a SET of peer's stream, with FIELDS added.
set_with() {
	echo "v=1 type=SET id=$ID from=peer key=k value=v${1:+ $1}\n"
}

# ------------------------------------------------------------ settings

@test "ORDERING accepts none fifo causal total; start logs ordering= always" {
	for mode in none fifo causal; do
		started_with ORDERING=$mode
		assert_eq "$(start_field ordering)" $mode "ordering"
		[[ $START != *sequencer=* ]]
	done
	started_with
	assert_eq "$(start_field ordering)" none "the default"
	started_with ORDERING=total SEQUENCER=n1
	assert_eq "$(start_field ordering)" total "ordering"
	assert_eq "$(start_field sequencer)" n1 "sequencer in total"
	started_with --ordering total --sequencer node.2
	assert_eq "$(start_field sequencer)" node.2 "from the option"
}

@test "a bad ORDERING names the setting and what is accepted" {
	for v in Total FIFO causal2 ' fifo' x; do
		setting_error ORDERING "$v" ORDERING="$v"
	done
	setting_error --ordering none2 --ordering none2
	run --separate-stderr -2 kvmc_once ORDERING=Fifo
	assert_eq "$stderr" "kvmc: ORDERING 'Fifo': expected none, fifo, causal or total"
}

@test "total without SEQUENCER says so, in the SPEC's words" {
	run --separate-stderr -2 kvmc_once ORDERING=total
	assert_eq "$stderr" "kvmc: SEQUENCER: ORDERING=total needs the sequencer's node id"
	run --separate-stderr -2 kvmc_once ORDERING=total SEQUENCER=
	assert_eq "$stderr" "kvmc: SEQUENCER: ORDERING=total needs the sequencer's node id"
}

@test "SEQUENCER follows the NODE_ID rule in total, and is ignored elsewhere" {
	setting_error SEQUENCER 'a/b' ORDERING=total SEQUENCER=a/b
	setting_error SEQUENCER "$(repeat 33 a)" ORDERING=total SEQUENCER="$(repeat 33 a)"
	setting_error --sequencer '' ORDERING=total --sequencer ''
	started_with ORDERING=fifo SEQUENCER=a/b
	[[ $START != *sequencer=* ]]
	started_with SEQUENCER='%%%'
}

@test "ORDERING and SEQUENCER are validated after section 6's settings, in order" {
	setting_error SIM_SEED x SIM_SEED=x ORDERING=bad
	setting_error SIM_LOSS 2 SIM_LOSS=2 ORDERING=total
	setting_error ORDERING bad ORDERING=bad SEQUENCER=a/b
	run --separate-stderr -2 kvmc_once SIM_SEED=x ORDERING=total
	assert_match "$stderr" "^kvmc: SIM_SEED 'x'"
}

# ------------------------------------------------------------ accepted

@test "fifo: a SET with inc and seq is applied, with seq on its apply line" {
	fifo_node
	datagram "$(set_with 'inc=5 seq=1')"
	wait_log n1 "event=apply order=1 id=$ID from=peer type=SET key=k value=v inc=5 seq=1$"
}

@test "the fields may come in any order; the largest numbers are valid" {
	fifo_node
	datagram "v=1 seq=1 inc=18446744073709551615 value=v type=SET key=k from=peer id=$ID\n"
	wait_log n1 "event=apply order=1 .* inc=18446744073709551615 seq=1$"
}

@test "causal: a vc naming from with count seq is accepted" {
	start_node n1 --ordering causal --hello-interval 0
	datagram "$(set_with 'inc=5 seq=1 vc=peer:1')"
	wait_log n1 "event=apply order=1 .* inc=5 seq=1 vc=peer:1$"
}

# ------------------------------------------------------------ bad_value

@test "bad_value: inc that is 0, signed, padded or 2^64" {
	fifo_node
	for inc in 0 -1 +1 01 18446744073709551616 1x ''; do
		expect_reject n1 bad_value "$(set_with "inc=$inc seq=1")"
	done
}

@test "bad_value: a command's seq of 0, with a leading zero, or 2^64" {
	fifo_node
	for seq in 0 007 18446744073709551616 1.0; do
		expect_reject n1 bad_value "$(set_with "inc=5 seq=$seq")"
	done
}

@test "a HELLO's seq and gseq may be 0; an ORDER's gseq may not" {
	start_node n1 --ordering total --sequencer peer --hello-interval 0 --log-level debug
	datagram "v=1 type=HELLO id=$ID from=peer inc=5 seq=0 gseq=0\n"
	wait_log n1 "event=apply id=$ID from=peer type=HELLO inc=5 seq=0 gseq=0$"
	expect_reject n1 bad_value "v=1 type=ORDER id=$(uuid 2) from=peer inc=5 re=$RE gseq=0\n"
	expect_reject n1 bad_value "v=1 type=HELLO id=$(uuid 3) from=peer inc=5 seq=01\n"
}

@test "bad_value: vc unsorted, repeated, without from, with another count" {
	start_node n1 --ordering causal --hello-interval 0
	for vc in b:1,a:1,peer:1 a:1,a:1,peer:1 a:1 peer:2 peer:1, ,peer:1 \
		peer:0 peer:01 peer: peer a/b:1,peer:1 peer:1,peer:1 \
		"$(repeat 33 a):1,peer:1"; do
		expect_reject n1 bad_value "$(set_with "inc=5 seq=1 vc=$vc")"
	done
}

@test "bad_value: re that is not a UUID, on an ORDER" {
	start_node n1 --ordering total --sequencer peer --hello-interval 0
	expect_reject n1 bad_value "v=1 type=ORDER id=$ID from=peer inc=5 re=${RE}0 gseq=1\n"
	expect_reject n1 bad_value "v=1 type=ORDER id=$ID from=peer inc=5 re=${RE/4000/5000} gseq=1\n"
}

@test "bad_value: NACK to, of, first and last" {
	fifo_node
	nack="v=1 type=NACK id=$ID from=peer inc=5"
	expect_reject n1 bad_value "$nack to=a/b of=seq first=1 last=1\n"
	expect_reject n1 bad_value "$nack to=n1 of=SEQ first=1 last=1\n"
	expect_reject n1 bad_value "$nack to=n1 of=seqs first=1 last=1\n"
	expect_reject n1 bad_value "$nack to=n1 of=seq first=0 last=1\n"
	expect_reject n1 bad_value "$nack to=n1 of=seq first=1 last=0\n"
	expect_reject n1 bad_value "$nack to=n1 of=seq first=3 last=2\n"
	expect_reject n1 bad_value "$nack to=n1 of=seq first=1 last=18446744073709551616\n"
}

@test "bad_value comes after bad_key and before missing_field" {
	fifo_node
	expect_reject n1 bad_key "v=1 type=SET id=$ID from=peer key= value=v inc=0 seq=1\n"
	expect_reject n1 bad_value "v=1 type=SET id=$ID from=peer key=k inc=0 seq=1\n"
	expect_reject n1 bad_value "v=1 type=ORDER id=$ID from=peer gseq=x\n"
}

# ------------------------------------------------------------ missing, unexpected

@test "missing_field: ORDER and NACK need every field they list" {
	start_node n1 --ordering total --sequencer peer --hello-interval 0
	expect_reject n1 missing_field "v=1 type=ORDER id=$ID from=peer re=$RE gseq=1\n"
	expect_reject n1 missing_field "v=1 type=ORDER id=$ID from=peer inc=5 gseq=1\n"
	expect_reject n1 missing_field "v=1 type=ORDER id=$ID from=peer inc=5 re=$RE\n"
	nack="v=1 type=NACK id=$ID from=peer inc=5"
	expect_reject n1 missing_field "$nack of=seq first=1 last=1\n"
	expect_reject n1 missing_field "$nack to=n1 first=1 last=1\n"
	expect_reject n1 missing_field "$nack to=n1 of=seq last=1\n"
	expect_reject n1 missing_field "$nack to=n1 of=seq first=1\n"
	expect_reject n1 missing_field "v=1 type=NACK id=$ID from=peer to=n1 of=seq first=1 last=1\n"
}

@test "unexpected_field: a field its type does not list" {
	fifo_node
	expect_reject n1 unexpected_field "$(set_with 'inc=5 seq=1 gseq=1')"
	expect_reject n1 unexpected_field "$(set_with 'inc=5 seq=1 to=n1')"
	expect_reject n1 unexpected_field "v=1 type=HELLO id=$ID from=peer inc=5 vc=peer:1\n"
	expect_reject n1 unexpected_field "v=1 type=CHECK id=$ID from=peer inc=5\n"
	expect_reject n1 unexpected_field "v=1 type=NACK id=$ID from=peer inc=5 to=n1 of=seq first=1 last=1 seq=1\n"
	expect_reject n1 unexpected_field "v=1 type=ORDER id=$ID from=peer inc=5 re=$RE gseq=1 key=k\n"
}

@test "bad_type still covers a lower-case order or nack" {
	fifo_node
	expect_reject n1 bad_type "v=1 type=order id=$ID from=peer inc=5 re=$RE gseq=1\n"
	expect_reject n1 bad_type "v=1 type=Nack id=$ID from=peer inc=5 to=n1 of=seq first=1 last=1\n"
}

# ------------------------------------------------------------ ordering_mismatch

@test "none: stream fields, ORDER and NACK are ordering_mismatch" {
	start_node n1 --hello-interval 0
	expect_reject n1 ordering_mismatch "$(set_with 'inc=5 seq=1')"
	expect_reject n1 ordering_mismatch "v=1 type=HELLO id=$ID from=peer inc=5\n"
	expect_reject n1 ordering_mismatch "v=1 type=HELLO id=$ID from=peer seq=0\n"
	expect_reject n1 ordering_mismatch "v=1 type=ORDER id=$ID from=peer inc=5 re=$RE gseq=1\n"
	expect_reject n1 ordering_mismatch "v=1 type=NACK id=$ID from=peer inc=5 to=n1 of=seq first=1 last=1\n"
	expect_reject n1 ordering_mismatch "v=1 type=SET id=$ID from=peer key=k value=v vc=peer:1\n"
	# And the node is untouched: the next message is its first.
	datagram "v=1 type=SET id=$ID from=peer key=k value=v\n"
	wait_log n1 "event=apply order=1 id=$ID from=peer type=SET key=k value=v$"
}

@test "fifo: a command or HELLO without inc or seq, a vc, ORDER, gseq, of=gseq" {
	fifo_node
	expect_reject n1 ordering_mismatch "$(set_with '')"
	expect_reject n1 ordering_mismatch "$(set_with 'inc=5')"
	expect_reject n1 ordering_mismatch "$(set_with 'seq=1')"
	expect_reject n1 ordering_mismatch "$(set_with 'inc=5 seq=1 vc=peer:1')"
	expect_reject n1 ordering_mismatch "v=1 type=HELLO id=$ID from=peer\n"
	expect_reject n1 ordering_mismatch "v=1 type=HELLO id=$ID from=peer inc=5\n"
	expect_reject n1 ordering_mismatch "v=1 type=HELLO id=$ID from=peer inc=5 seq=0 gseq=0\n"
	expect_reject n1 ordering_mismatch "v=1 type=ORDER id=$ID from=peer inc=5 re=$RE gseq=1\n"
	expect_reject n1 ordering_mismatch "v=1 type=NACK id=$ID from=peer inc=5 to=n1 of=gseq first=1 last=1\n"
}

@test "causal: a command without vc is ordering_mismatch" {
	start_node n1 --ordering causal --hello-interval 0
	expect_reject n1 ordering_mismatch "$(set_with 'inc=5 seq=1')"
	expect_reject n1 ordering_mismatch "v=1 type=ORDER id=$ID from=peer inc=5 re=$RE gseq=1\n"
}

@test "total: ORDER or HELLO with gseq from another node than the sequencer" {
	start_node n1 --ordering total --sequencer seq --hello-interval 0
	expect_reject n1 ordering_mismatch "v=1 type=ORDER id=$ID from=peer inc=5 re=$RE gseq=1\n"
	expect_reject n1 ordering_mismatch "v=1 type=HELLO id=$ID from=peer inc=5 seq=0 gseq=0\n"
	expect_reject n1 ordering_mismatch "$(set_with 'inc=5 seq=1 vc=peer:1')"
	expect_reject n1 ordering_mismatch "$(set_with 'seq=1')"
}

@test "ordering_mismatch is decided before the simulation, and the sender is not heard" {
	start_node n1 --hello-interval 0 --sim-loss 1 --sim-delay '*=100'
	expect_reject n1 ordering_mismatch "$(set_with 'inc=5 seq=1')"
	assert_no_log n1 'event=(sim_drop|recv|peer_up)'
	send_line n1 PEERS
	wait_out n1 'no peers'
}

@test "every codec reason comes before ordering_mismatch" {
	start_node n1 --hello-interval 0
	expect_reject n1 bad_value "$(set_with 'inc=0 seq=1')"
	expect_reject n1 missing_field "v=1 type=ORDER id=$ID from=peer inc=5 gseq=1\n"
	expect_reject n1 unexpected_field "v=1 type=CHECK id=$ID from=peer seq=1\n"
}

@test "two nodes in different modes reject each other's commands" {
	start_node n1 --hello-interval 0
	start_node n2 --ordering fifo --hello-interval 0
	start_node n3 --ordering causal --hello-interval 0
	send_line n2 "SET a 1"
	wait_log n1 'event=reject reason=ordering_mismatch'
	wait_log n3 'event=reject reason=ordering_mismatch'
	send_line n1 "SET b 1"
	wait_log n2 'event=reject reason=ordering_mismatch'
	wait_count n3 'event=reject reason=ordering_mismatch' 2
	send_line n3 "SET c 1"
	wait_count n1 'event=reject reason=ordering_mismatch' 2
	wait_count n2 'event=reject reason=ordering_mismatch' 2
	assert_eq "$(count_log n1 'event=apply order=')" 1 "n1 applied its own only"
}
