#!/usr/bin/env bats
# total mode (SPEC section 10): the SEQUENCER multicasts ORDER re=<id>
# gseq=<n> for each command (event=sequence), and every node, the
# sequencer too, applies commands in gseq order once it holds both the
# ORDER and the command. Missing ORDERs or commands are asked of the
# sequencer (NACK of=gseq), which resends the command, then its ORDER.

load helpers

setup() {
	kvmc_setup 43000
	N=0
}

total_node() {
	local name=$1
	shift
	start_node "$name" --ordering total --sequencer "${SEQ_ID:-n1}" --hello-interval 0 "$@"
}

# cmd SEQ KEY: a SET KEY=v<SEQ> of a sender "peer" (inc 5), id uuid SEQ.
cmd() {
	datagram "v=1 type=SET id=$(uuid "$1") from=peer key=$2 value=v$1 inc=5 seq=$1\n"
}

# order GSEQ SEQ [INC]: sequencer sq's ORDER n GSEQ for the command cmd SEQ sent.
order() {
	N=$((N + 1))
	datagram "v=1 type=ORDER id=$(uuid $((5000 + N))) from=sq inc=${3:-7} re=$(uuid "$2") gseq=$1\n"
}

applied() {
	grep -a 'event=apply order=' "$(log_of "$1")" | grep -o ' key=[^ ]*' |
		cut -d= -f2 | paste -sd' ' -
}

@test "the sequencer sends one ORDER per command; all apply it with its gseq" {
	total_node n1
	total_node n2
	total_node n3 --log-level debug
	send_line n2 "SET a 1"
	wait_log n1 'level=info node=n1 event=sequence re=[^ ]+ from=n2 seq=1 gseq=1$'
	id=$(field "$(log_line n2 'event=send .*key=a')" id)
	assert_match "$(log_line n1 'event=sequence')" "re=$id "
	for n in n1 n2 n3; do
		wait_log $n "event=apply order=1 id=$id from=n2 type=SET key=a value=1 inc=[0-9]+ seq=1 gseq=1$"
	done
	assert_match "$(log_line n3 'event=apply .*type=ORDER')" "from=n1 type=ORDER re=$id inc=[0-9]+ gseq=1$"
	send_line n1 "SET b 2"
	for n in n1 n2 n3; do
		wait_log $n 'event=apply order=2 .*key=b value=2 .*gseq=2$'
	done
	assert_eq "$(count_log n1 'event=sequence')" 2 "sequence lines"
	assert_no_log n2 'event=sequence'
}

@test "commands are applied in gseq order, whatever order the ORDERs come in" {
	SEQ_ID=sq total_node n1
	cmd 1 a
	cmd 2 b
	cmd 3 c
	order 3 3
	wait_log n1 "level=info node=n1 event=hold id=$(uuid 3) from=peer type=SET seq=3 reason=total$"
	order 2 2
	wait_log n1 "event=hold id=$(uuid 2) .*reason=total$"
	assert_no_log n1 'event=apply'
	order 1 1
	wait_count n1 'event=apply order=' 3
	assert_eq "$(applied n1)" "a b c"
	assert_match "$(log_line n1 'event=apply order=3')" 'key=c value=v3 inc=5 seq=3 gseq=3$'
}

@test "waiting for its ORDER is normal: no hold line; an ORDER first waits too" {
	SEQ_ID=sq total_node n1
	cmd 1 a
	order 2 2
	order 1 1
	wait_log n1 'event=apply order=1 .*gseq=1$'
	cmd 2 b
	wait_log n1 'event=apply order=2 .*key=b .*gseq=2$'
	assert_no_log n1 'event=hold'
}

@test "nothing is applied while the sequencer is absent, then all in one order" {
	total_node n2 --hello-interval 200
	total_node n3 --hello-interval 200
	send_line n2 "SET a 1"
	send_line n3 "SET b 2"
	wait_log n2 'event=send .*key=a'
	wait_log n3 'event=send .*key=b'
	send_line n2 CHECK
	wait_out n2 'CONSISTENT|DIVERGED'
	assert_no_log n2 'event=apply order='
	assert_no_log n3 'event=apply order='
	# The sequencer comes: HELLOs tell it what it missed, it asks, orders.
	total_node n1 --hello-interval 200
	for n in n1 n2 n3; do
		wait_count $n 'event=apply order=' 2 10
	done
	assert_eq "$(applied n2)" "$(applied n1)" "n2 like n1"
	assert_eq "$(applied n3)" "$(applied n1)" "n3 like n1"
}

@test "a writer keeps at most 256 commands waiting for their ORDER, then one a second" {
	total_node n2
	seq -f 'SET k%g v' 300 >&"${NODE_FD[n2]}"
	wait_count n2 'event=send .*type=SET' 256
	# The rest waits in its stdin, but for one a second: without HELLOs
	# only a next command tells a sequencer that comes of those before.
	wait_count n2 'event=send .*type=SET' 257
	first=$(ts_ms "$(log_line n2 'event=send .*type=SET' 256)")
	probe=$(ts_ms "$(log_line n2 'event=send .*type=SET' 257)")
	((probe - first >= 900)) || {
		echo "# the 257th command went $((probe - first)) ms after the 256th" >&2
		return 1
	}
	# A line typed now waits its turn behind them.
	send_line n2 "SET last 1"
	total_node n1
	wait_count n2 'event=apply order=' 301 60
	assert_eq "$(applied n2 | tr ' ' '\n' | tail -n 1)" last "the last one applied"
	assert_eq "$(applied n1)" "$(applied n2)" "n1 like n2"
}

@test "a writer stopped by its window, with nothing more to send, sleeps" {
	total_node n2
	seq -f 'SET k%g v' 257 >&"${NODE_FD[n2]}"
	# The 257th goes out a second later, as the probe; then nothing waits.
	wait_count n2 'event=send .*type=SET' 257
	local ticks switches hz
	hz=$(getconf CLK_TCK)
	ticks=$(cpu_ticks "${NODE_PID[n2]}")
	switches=$(wakeups "${NODE_PID[n2]}")
	# The measurement window, spent as a wait under a deadline for the
	# node to exit - which it must not.
	run -124 timeout 2.5 tail --pid="${NODE_PID[n2]}" -f /dev/null
	ticks=$(($(cpu_ticks "${NODE_PID[n2]}") - ticks))
	switches=$(($(wakeups "${NODE_PID[n2]}") - switches))
	# Asleep in one wait: no CPU, and no wakeup a second either.
	((ticks <= hz / 10 && switches <= 1)) || {
		echo "# in 2.5 s: $ticks ticks (at $hz/s), $switches wakeups" >&2
		return 1
	}
}

@test "writers wait while a node asks for a gseq 1024 or more below the newest" {
	total_node n1
	total_node n2 --log-level debug
	seq -f 'SET k%g v' 1100 >&"${NODE_FD[n1]}"
	wait_count n2 'event=apply order=' 1100 60
	# A far-behind node's NACK, multicast: n2 holds its next command back.
	datagram "v=1 type=NACK id=$(uuid 9) from=slow inc=5 to=n1 of=gseq first=50 last=60\n"
	wait_log n2 'event=apply .*from=slow type=NACK'
	send_line n2 "SET after 1"
	wait_log n2 'event=send .*key=after'
	asked=$(ts_ms "$(log_line n2 'event=apply .*from=slow type=NACK')")
	sent=$(ts_ms "$(log_line n2 'event=send .*key=after')")
	((sent - asked >= 290)) || {
		echo "# the command went $((sent - asked)) ms after the NACK" >&2
		return 1
	}
}

@test "a missing gseq is asked of the sequencer: NACK of=gseq" {
	SEQ_ID=sq total_node n1
	cmd 2 b
	order 2 2
	wait_log n1 'level=info node=n1 event=nack to=sq of=gseq first=1 last=1$'
	# The ORDER is there but not its command: asked for too.
	order 3 3
	wait_log n1 'event=nack to=sq of=gseq first=3 last=3$'
}

@test "the sequencer's HELLO reveals lost ORDERs" {
	SEQ_ID=sq total_node n1
	datagram "v=1 type=HELLO id=$(uuid 77) from=sq inc=7 seq=0 gseq=3\n"
	wait_log n1 'event=nack to=sq of=gseq first=1 last=3$'
}

@test "the sequencer resends the command, then its ORDER" {
	"$REPO/test/rawrecv" "$GROUP" "$PORT" >"$BATS_TEST_TMPDIR/wire" 3>&- &
	EXTRA_PIDS+=($!)
	total_node n1
	send_line n1 "SET a 1"
	wait_log n1 'event=apply order=1'
	datagram "v=1 type=NACK id=$(uuid 9) from=peer inc=5 to=n1 of=gseq first=1 last=9\n"
	wait_log n1 'level=info node=n1 event=resend to=peer of=gseq first=1 last=9 count=2$'
	id=$(field "$(log_line n1 'event=send .*key=a')" id)
	wait_file "$BATS_TEST_TMPDIR/wire" "type=ORDER .*re=$id" 2 5
	grep -a -e "id=$id " -e "re=$id " "$BATS_TEST_TMPDIR/wire" >"$BATS_TEST_TMPDIR/ours"
	assert_eq "$(sed -n 3p "$BATS_TEST_TMPDIR/ours")" "$(sed -n 1p "$BATS_TEST_TMPDIR/ours")" "command resent"
	assert_eq "$(sed -n 4p "$BATS_TEST_TMPDIR/ours")" "$(sed -n 2p "$BATS_TEST_TMPDIR/ours")" "ORDER resent"
}

@test "a restarted sequencer: old ORDERs dropped, nothing applied twice" {
	SEQ_ID=sq total_node n1
	cmd 1 a
	cmd 2 b
	order 1 1
	order 3 2
	wait_log n1 'event=apply order=1 .*key=a'
	# sq restarts (inc 8): its gseq starts at 1 again, ordering a again.
	order 1 1 8
	wait_log n1 'event=peer_restart peer=sq'
	order 2 2 8
	wait_log n1 'event=apply order=2 .*key=b .*gseq=2$'
	assert_eq "$(applied n1)" "a b" "applied once each"
}

@test "a command named by an applied ORDER is a duplicate" {
	SEQ_ID=sq total_node n1
	cmd 1 a
	order 1 1
	wait_log n1 'event=apply order=1'
	# The same command again, under a new id it would be a new command;
	# under its own id, once the ids processed have moved on, it is
	# still known as applied: ask with a fresh copy of the datagram.
	datagram "v=1 type=ORDER id=$(uuid 6001) from=sq inc=7 re=$(uuid 1) gseq=1\n"
	wait_log n1 "event=apply order=1 "
	assert_eq "$(count_log n1 'event=apply order=')" 1
}
