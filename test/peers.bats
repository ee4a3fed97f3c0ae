#!/usr/bin/env bats
# Peers (SPEC section 8): every node multicasts a HELLO each HELLO_INTERVAL
# ms, so that each node knows whom it hears. A peer is heard when any of its
# messages is processed; it is `alive` until it has been silent for three of
# this node's intervals, then `silent`. PEERS lists them, sorted by id,
# without the node itself. HELLO is background chatter: logged at debug
# only, never counted in the local order, never touching the store.
#
# Most tests use a short interval (100-200 ms) so that heartbeats and
# silences happen within a second; the timings asserted come from the
# nodes' own log stamps and fields, not from this script's clock.

load helpers

setup() {
	kvmc_setup 33000
}

# peers_of NAME N: send PEERS to node NAME and wait for the N lines of its
# reply; set REPLY_LINES to the lines it printed this time.
peers_of() {
	local out before
	out=$(out_of "$1")
	before=$(wc -l <"$out")
	send_line "$1" PEERS
	wait_file "$out" '.' $((before + $2)) "$WAIT"
	REPLY_US=${EPOCHREALTIME/[.,]/}
	mapfile -t REPLY_LINES < <(tail -n +$((before + 1)) "$out")
}

# assert_heard_since LINE PEER STATE SINCE_US: LINE, a PEERS line, lists
# PEER in STATE, heard no longer ago than SINCE_US (this script's clock, in
# microseconds, taken before that hearing) is before the reply came. How
# long ago depends on the machine's load; that bound does not, and a node
# that never updated the time it last heard a peer still breaks it.
assert_heard_since() {
	local line=$1 peer=$2 state=$3 since=$4 ago limit
	assert_match "$line" "^$peer [0-9]+\.[0-9]s $state\$" "$peer's PEERS line"
	ago=${line#"$peer "}
	ago=${ago%%s *}
	ago=$((10#${ago/./})) # tenths of seconds, rounded down by the node
	limit=$(((REPLY_US - since + 99999) / 100000))
	((ago <= limit)) || {
		echo "# $peer heard ${line#"$peer "} ago, but it was heard" \
			"at most $limit tenths of a second before the reply" >&2
		return 1
	}
}

# ---------------------------------------------------------------- alive

# n2_heard_then_silent [MS]: n1 hears n2 (both at MS, default 100), n2
# stops, and n1 logs it silent.
n2_heard_then_silent() {
	start_node n1 --hello-interval "${1:-100}"
	start_replica n2 --hello-interval "${1:-100}"
	wait_log n1 'event=peer_up peer=n2$'
	kill -TERM "${NODE_PID[n2]}"
	wait_exit n2
	wait_log n1 'event=peer_silent peer=n2 ' 3
}

@test "three nodes with a 200 ms interval hear each other within an interval" {
	start_node n1 --hello-interval 200
	start_node n2 --hello-interval 200
	start_node n3 --hello-interval 200
	ready=$(ts_ms "$(log_line n3 'event=ready')")
	for n in n1 n2 n3; do
		for p in n1 n2 n3; do
			[[ $n == "$p" ]] && continue
			wait_log $n "event=peer_up peer=$p$" 2
		done
	done
	# n3 started last: it hears n1 and n2 at their next HELLO, at most one
	# interval later (two, to leave room for a busy machine), where the
	# default 2000 ms would take up to ten times as long.
	for p in n1 n2; do
		up=$(ts_ms "$(log_line n3 "event=peer_up peer=$p$")")
		((up - ready <= 400)) || {
			echo "# n3 heard $p $((up - ready)) ms after it was ready" >&2
			return 1
		}
	done
}

@test "PEERS lists the other nodes alive, sorted by id, without itself" {
	t0=${EPOCHREALTIME/[.,]/}
	start_node n1 --hello-interval 200
	start_node n2 --hello-interval 200
	start_node n3 --hello-interval 200
	wait_log n2 'event=peer_up peer=n1$' 2
	wait_log n2 'event=peer_up peer=n3$' 2
	peers_of n2 2
	assert_eq "${#REPLY_LINES[@]}" 2 "number of PEERS lines"
	assert_heard_since "${REPLY_LINES[0]}" n1 alive "$t0"
	assert_heard_since "${REPLY_LINES[1]}" n3 alive "$t0"
}

@test "PEERS sorts by id, not by the order peers were first heard" {
	# papa hears zulu first, then alpha, then mike; its own id sorts
	# between mike and zulu and must not appear.
	start_node papa --hello-interval 100
	start_replica zulu --hello-interval 100
	wait_log papa 'event=peer_up peer=zulu$'
	start_replica alpha --hello-interval 100
	wait_log papa 'event=peer_up peer=alpha$'
	start_replica mike --hello-interval 100
	wait_log papa 'event=peer_up peer=mike$'
	peers_of papa 3
	assert_eq "${#REPLY_LINES[@]}" 3 "number of PEERS lines"
	assert_match "${REPLY_LINES[0]}" '^alpha [0-9]+\.[0-9]s alive$' "line 1"
	assert_match "${REPLY_LINES[1]}" '^mike [0-9]+\.[0-9]s alive$' "line 2"
	assert_match "${REPLY_LINES[2]}" '^zulu [0-9]+\.[0-9]s alive$' "line 3"
}

@test "PEERS prints (no peers) when the node has heard only itself" {
	start_node n1 --hello-interval 100 --log-level debug
	# Its own HELLOs come back through multicast loopback; they do not
	# make it a peer of itself.
	wait_count n1 'event=apply .*from=n1 type=HELLO' 2
	peers_of n1 1
	assert_eq "${REPLY_LINES[*]}" "(no peers)" "PEERS reply"
	assert_no_log n1 'event=peer_up'
}

@test "the PEERS verb is case-insensitive" {
	start_node n1
	send_line n1 "peers"
	wait_out n1 .
	assert_eq "$(cat "$(out_of n1)")" "(no peers)" "peers reply"
}

@test "PEERS with an argument is an error and prints nothing on stdout" {
	start_node n1
	send_line n1 "PEERS extra"
	send_line n1 "PEERS"
	# The plain PEERS after it proves the node went on, and that the bad
	# one printed nothing before it.
	wait_out n1 .
	assert_eq "$(cat "$(out_of n1)")" "(no peers)" "stdout"
	assert_eq "$(grep -ac '^error: ' "$(log_of n1)")" 1 \
		"number of error lines on stderr"
}

# ---------------------------------------------------------------- silent

@test "a peer that keeps sending HELLO never turns silent" {
	start_node n1 --hello-interval 100 --log-level debug
	start_replica n2 --hello-interval 100
	wait_log n1 'event=peer_up peer=n2$'
	# Ten more HELLOs from n2: over three intervals since n2 was first
	# heard, so a silence counted from the first HELLO would have shown.
	wait_count n1 'event=apply .*from=n2 type=HELLO' 11
	assert_no_log n1 'event=peer_silent'
	peers_of n1 1
	# Last heard after the 10th HELLO was logged (the 11th came later),
	# not when it was first heard, some nine intervals before that.
	tenth=$(ts_ms "$(log_line n1 'event=apply .*from=n2 type=HELLO' 10)")
	assert_heard_since "${REPLY_LINES[*]}" n2 alive $((tenth * 1000))
}

@test "a stopped node turns silent after three intervals, not before" {
	n2_heard_then_silent 200
	line=$(log_line n1 'event=peer_silent')
	silent=$(field "$line" silent_ms)
	# Three intervals of 200 ms, and not much more: the node wakes up for
	# the deadline instead of noticing at some later event.
	((silent >= 600)) || {
		echo "# n2 declared silent after only $silent ms: $line" >&2
		return 1
	}
	((silent < 1000)) || {
		echo "# n2 declared silent only after $silent ms: $line" >&2
		return 1
	}
}

@test "PEERS shows a stopped node as silent, with the time since it was heard" {
	n2_heard_then_silent
	peers_of n1 1
	assert_match "${REPLY_LINES[*]}" '^n2 [0-9]+\.[0-9]s silent$' "PEERS reply"
	# Silent after three 100 ms intervals: at least 0.3 s ago.
	secs=${REPLY_LINES[0]#n2 }
	secs=${secs%%s *}
	((10#${secs/./} >= 3)) || {
		echo "# n2 listed as heard ${secs}s ago, under three intervals" >&2
		return 1
	}
}

@test "a peer that comes back after a silence logs peer_up again" {
	n2_heard_then_silent
	# The same id again, as after a restart.
	t0=${EPOCHREALTIME/[.,]/}
	start_replica n2 --hello-interval 100
	wait_count n1 'event=peer_up peer=n2$' 2
	peers_of n1 1
	# Heard since the restart, not when it was last heard before it.
	assert_heard_since "${REPLY_LINES[*]}" n2 alive "$t0"
}

# ---------------------------------------------------------------- HELLO itself

@test "the first HELLO goes out at once, the next after the default 2000 ms" {
	start_node n1 --log-level debug
	ready=$(ts_ms "$(log_line n1 'event=ready')")
	wait_count n1 'event=send .*type=HELLO$' 1 1
	first=$(ts_ms "$(log_line n1 'event=send .*type=HELLO$')")
	((first - ready < 200)) || {
		echo "# the first HELLO went out $((first - ready)) ms after ready" >&2
		return 1
	}
	wait_count n1 'event=send .*type=HELLO$' 2 4
	second=$(ts_ms "$(log_line n1 'event=send .*type=HELLO$' 2)")
	gap=$((second - first))
	((gap >= 1950 && gap <= 2300)) || {
		echo "# HELLOs $gap ms apart, expected 2000" >&2
		return 1
	}
}

@test "HELLO carries only v, type, id and from" {
	# What n1 sends, n2 decodes strictly (a key, a value or any other
	# field would be rejected) and logs, at debug, with every field.
	start_node n1 --hello-interval 100
	start_replica n2 --hello-interval 100 --log-level debug
	wait_log n2 'event=apply .*from=n1 type=HELLO'
	assert_match "$(log_line n2 'event=apply .*from=n1 type=HELLO')" \
		' level=debug node=n2 event=apply id=[0-9a-f-]{36} from=n1 type=HELLO$' \
		"n2's apply line of n1's HELLO"
	assert_no_log n2 'event=reject'
}

@test "HELLO is logged only at debug level" {
	start_node n1 --hello-interval 100
	start_replica n2 --hello-interval 100 --log-level debug
	# n2 sees n1's HELLOs: n1 has sent (and applied) several of its own.
	wait_count n2 'event=apply .*from=n1 type=HELLO' 3
	assert_no_log n1 'type=HELLO'
	wait_log n2 'level=debug node=n2 event=send .*type=HELLO$'
	assert_no_log n2 'level=(info|warn|error) .*type=HELLO'
}

@test "HELLOs do not count in the local order nor touch the store" {
	start_node n1 --hello-interval 100 --log-level debug
	start_replica n2 --hello-interval 100
	wait_count n1 'event=apply .*from=n1 type=HELLO' 3
	wait_count n1 'event=apply .*from=n2 type=HELLO' 3
	assert_no_log n1 'event=apply .*type=HELLO.* order='
	send_line n1 "SET x 1"
	wait_log n1 'event=apply .*type=SET'
	assert_match "$(log_line n1 'event=apply .*type=SET')" \
		'event=apply order=1 .*key=x value=1$' "n1's first SET"
	send_line n1 "PRINT"
	wait_log n1 'event=apply .*type=PRINT'
	assert_match "$(log_line n1 'event=apply .*type=PRINT')" \
		'event=apply order=2 .* entries=1 ' "n1's PRINT"
	wait_log n1 'event=entry'
	assert_eq "$(count_log n1 'event=entry')" 1 "number of PRINT entries"
	assert_match "$(log_line n1 'event=entry')" 'event=entry key=x value=1$' \
		"the one entry"
}

@test "HELLO_INTERVAL=0 sends no HELLO, so peers hear the node only from a command" {
	start_replica n2 --hello-interval 100
	HELLO_INTERVAL=0 start_node n1 --log-level debug
	# While n1 hears three of n2's HELLOs, n2 hears nothing from n1; with
	# HELLO on, n1's first one would have gone out when it was ready.
	wait_count n1 'event=apply .*from=n2 type=HELLO' 3
	assert_no_log n1 'event=send'
	assert_no_log n2 'event=peer_up peer=n1$'
	send_line n1 "SET a 1"
	wait_log n2 'event=apply .*from=n1 type=SET'
	wait_log n2 'event=peer_up peer=n1$'
}

@test "a peer heard only through a SET is listed" {
	start_node n1 --hello-interval 0
	start_node n2 --hello-interval 0
	send_line n1 "SET a 1"
	wait_log n2 'event=apply .*from=n1 type=SET'
	wait_log n2 'event=peer_up peer=n1$'
	peers_of n2 1
	# How long ago depends on the machine's load; alive it must be.
	assert_match "${REPLY_LINES[*]}" '^n1 [0-9]+\.[0-9]s alive$' "PEERS reply"
}

@test "messages the simulation dropped do not make a peer" {
	# Dropped HELLOs are logged at debug, like every HELLO.
	start_node n1 --sim-loss 1 --hello-interval 100 --log-level debug
	start_node n2 --hello-interval 100
	wait_count n1 'event=sim_drop .*from=n2 type=HELLO$' 3
	send_line n2 "SET a 1"
	wait_log n1 'event=sim_drop .*from=n2 type=SET'
	peers_of n1 1
	assert_eq "${REPLY_LINES[*]}" "(no peers)" "PEERS reply"
	assert_no_log n1 'event=peer_up'
}

# ---------------------------------------------------------------- the wire

@test "a crafted valid HELLO makes its sender a peer" {
	start_node n1 --log-level debug
	t0=${EPOCHREALTIME/[.,]/}
	datagram "v=1 type=HELLO id=$(uuid 1) from=ghost\n"
	wait_log n1 'event=peer_up peer=ghost$'
	# Processed, but not in the local order.
	assert_match "$(log_line n1 'event=apply .*from=ghost')" \
		"event=apply id=$(uuid 1) from=ghost type=HELLO$" "the apply line"
	peers_of n1 1
	assert_heard_since "${REPLY_LINES[*]}" ghost alive "$t0"
}

@test "a HELLO with a key is rejected as unexpected_field and not heard" {
	start_node n1
	datagram "v=1 type=HELLO id=$(uuid 1) from=ghost key=k\n"
	wait_log n1 'event=reject reason=unexpected_field '
	peers_of n1 1
	assert_eq "${REPLY_LINES[*]}" "(no peers)" "PEERS reply"
	assert_no_log n1 'event=peer_up'
}

@test "a HELLO with a value is rejected as unexpected_field" {
	start_node n1
	datagram "v=1 type=HELLO id=$(uuid 1) from=ghost value=v\n"
	wait_log n1 'event=reject reason=unexpected_field '
	assert_no_log n1 'event=peer_up'
}

# ---------------------------------------------------------------- the setting

@test "HELLO_INTERVAL rejects a sign, a number over 3600000, an exponent, a word" {
	for v in -1 3600001 1e3 abc; do
		run --separate-stderr -2 kvmc_once HELLO_INTERVAL=$v
		assert_match "$stderr" "^kvmc: HELLO_INTERVAL '$v': expected " \
			"the error for HELLO_INTERVAL=$v"
	done
}

@test "--hello-interval rejects a sign, a number over 3600000, an exponent, a word" {
	for v in -1 3600001 1e3 abc; do
		run --separate-stderr -2 kvmc_once --hello-interval "$v"
		assert_match "$stderr" "^kvmc: --hello-interval '$v': expected " \
			"the error for --hello-interval $v"
	done
}

@test "HELLO_INTERVAL accepts 0 and 3600000" {
	for v in 0 3600000; do
		run --separate-stderr -0 kvmc_once HELLO_INTERVAL=$v
		assert_match "$stderr" " event=start .* hello_interval=$v " \
			"the start line for HELLO_INTERVAL=$v"
		run --separate-stderr -0 kvmc_once --hello-interval $v
		assert_match "$stderr" " event=start .* hello_interval=$v " \
			"the start line for --hello-interval $v"
	done
}

@test "--hello-interval wins over HELLO_INTERVAL, which is then not checked" {
	run --separate-stderr -0 kvmc_once HELLO_INTERVAL=abc --hello-interval 150
	assert_match "$stderr" " event=start .* hello_interval=150 " "start line"
}
