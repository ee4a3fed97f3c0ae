#!/usr/bin/env bats
# The simulated network (SPEC section 6). On one machine loopback multicast
# hands every datagram to every node at once and in the same order, so the
# divergence kvmc exists to show never happens by itself. SIM_DELAY holds
# what a node receives from a sender for a while, SIM_LOSS drops it, and
# SIM_SEED makes both reproducible: the draws are splitmix64's, as the SPEC
# spells out, so this file computes the expected delays and drops itself
# (sim_model) and compares them with what a node logs.
#
# No node here sends HELLO (SPEC section 8): a heartbeat is a received
# message too, so it would take draws from the random source and places
# in the delay queue, and these tests count both.

load helpers

setup() {
	kvmc_setup 30000
	export HELLO_INTERVAL=0
}

# ------------------------------------------------------------ helpers

# flood FIRST COUNT [FROM]: send COUNT distinct SETs from FROM (default
# peer): ids uuid FIRST .. FIRST+COUNT-1, keys k<i>, values <i>.
flood() {
	timeout 20 "$FLOOD" "$GROUP" "$PORT" valid "${3:-peer}" "$1" "$2"
}

# sim_model SEED LOSS RULE N: what a node with SIM_SEED=SEED, SIM_LOSS=LOSS
# and the delay rule RULE for the sender ("none", "MS" or "MIN-MAX") does
# with N received messages, one line each: "drop", "pass" (no rule) or the
# delay in ms. Straight from SPEC section 6: splitmix64 seeded with SEED;
# per message one draw r decides loss when LOSS > 0 (dropped when
# (r >> 11) * 2^-53 < LOSS), then, unless dropped, one draw picks the delay
# of a range rule (MIN + r mod (MAX - MIN + 1)). RULE "draws" prints the
# raw draws instead.
sim_model() {
	perl -MMath::BigInt -e '
		my ($seed, $loss, $rule, $n) = @ARGV;
		my $mask = Math::BigInt->new(2)**64 - 1;
		my $state = Math::BigInt->new($seed);
		sub draw {
			$state = ($state + Math::BigInt->from_hex("9e3779b97f4a7c15")) & $mask;
			my $z = $state->copy;
			$z = (($z ^ ($z >> 30)) * Math::BigInt->from_hex("bf58476d1ce4e5b9")) & $mask;
			$z = (($z ^ ($z >> 27)) * Math::BigInt->from_hex("94d049bb133111eb")) & $mask;
			return $z ^ ($z >> 31);
		}
		for (1 .. $n) {
			if ($rule eq "draws") { print draw(), "\n"; next; }
			if ($loss > 0 && ((draw() >> 11)->numify * 2**-53) < $loss) {
				print "drop\n";
				next;
			}
			if ($rule =~ /^(\d+)-(\d+)$/) { print $1 + (draw() % ($2 - $1 + 1)), "\n"; }
			elsif ($rule eq "none") { print "pass\n"; }
			else { print "$rule\n"; }
		}
	' -- "$@"
}

# logged_fates NAME: for each message NAME received, in arrival order, what
# the simulation did: "drop" or its delay_ms.
logged_fates() {
	grep -Ea 'event=(recv|sim_drop) ' "$(log_of "$1")" |
		sed -E 's/.*event=sim_drop .*/drop/; s/.*event=recv .* delay_ms=([0-9]+).*/\1/'
}

# applied_keys NAME: the keys of the SETs NAME applied, in its local order.
applied_keys() {
	grep -a 'event=apply order=' "$(log_of "$1")" | grep -a 'type=SET' |
		sed -E 's/.* key=([^ ]*).*/\1/'
}

# applied_values NAME: the values of NAME's SET applies, in its local order.
applied_values() {
	grep -a 'event=apply order=' "$(log_of "$1")" | grep -a 'type=SET' |
		sed -E 's/.* value=([^ ]*)$/\1/' | paste -sd' ' -
}

# fill_queue NAME: flood NAME, which holds every message for 60 s, with
# distinct SETs until it logs event=sim_overflow: over 65536 of them. The
# kernel may drop some of a flood before the node reads them, so fresh
# messages follow until the node reports the overflow (20 s at most).
fill_queue() {
	local next=70001 end
	flood 1 70000
	end=$(deadline 20)
	until grep -q 'event=sim_overflow' "$(log_of "$1")"; do
		(($(now_us) < end)) || {
			echo "# no sim_overflow after $((next - 1)) messages" >&2
			return 1
		}
		flood $next 5000
		next=$((next + 5000))
		sleep 0.1
	done
}

# final_x NAME: the value of x NAME holds now, as GET prints it.
final_x() {
	send_line "$1" "GET x"
	wait_out "$1" '^x '
	sed -n 's/^x = //p' "$(out_of "$1")" | tail -n 1
}

# ------------------------------------------------------------ divergence

@test "node3, hearing node1 late, applies x=2 then x=1 and keeps 1" {
	four_nodes
	assert_eq "$(applied_values node3)" "2 1" "node3's apply order"
	assert_eq "$(final_x node3)" 1 "node3's x"
}

@test "node1, node2 and node4 apply x=1 then x=2 and keep 2" {
	four_nodes
	for n in node1 node2 node4; do
		assert_eq "$(applied_values $n)" "1 2" "$n's apply order"
		assert_eq "$(final_x $n)" 2 "$n's x"
	done
}

@test "the divergence is no accident: three more runs end the same way" {
	for i in 1 2 3; do
		# A fresh cluster for each run, on a port of its own.
		PORT=$((PORT + 1))
		four_nodes
		x=""
		for n in node1 node2 node3 node4; do
			x+="$n=$(final_x $n) "
		done
		assert_eq "$x" "node1=2 node2=2 node3=1 node4=2 " "run $i"
		for n in node1 node2 node3 node4; do
			close_input $n
			wait_exit $n
		done
		rm -f "$BATS_TEST_TMPDIR"/node*
	done
}

# ------------------------------------------------------------ SIM_LOSS

@test "SIM_LOSS=1 drops every message, the node's own SET included" {
	SIM_LOSS=1 start_node n1
	send_line n1 "SET x 1"
	wait_log n1 'event=sim_drop id=[^ ]+ from=n1 type=SET$'
	wire_set x 2
	wait_log n1 'event=sim_drop id=[^ ]+ from=peer type=SET$'
	send_line n1 "GET x"
	wait_log n1 'event=sim_drop id=[^ ]+ from=n1 type=GET$'
	assert_eq "$(cat "$(out_of n1)")" "x (not set)" "GET x"
	assert_no_log n1 'event=apply'
	assert_match "$(log_line n1 'event=sim_drop')" '^ts=[^ ]+ level=info node=n1 event=sim_drop '
}

@test "SIM_LOSS=0 drops nothing" {
	start_node n1 --sim-loss 0 --sim-delay '*=0'
	flood 1 200
	wait_count n1 'event=apply .*type=SET' 200
	assert_eq "$(count_log n1 'event=recv .*delay_ms=0$')" 200 "recv lines"
	assert_no_log n1 'event=sim_drop'
}

@test "SIM_LOSS=0 takes no draw: the delays are those of no loss at all" {
	start_replica r --sim-loss 0 --sim-seed 42 --sim-delay '*=0-300'
	flood 1 10
	wait_count r 'event=recv ' 10
	assert_eq "$(logged_fates r)" "$(sim_model 42 0 0-300 10)" "delays"
}

@test "the test's model of splitmix64 gives the reference outputs for seed 0" {
	# splitmix64 seeded with 0: e220a8397b1dcdaf, 6e789e6aa1b965f4, ...
	assert_eq "$(sim_model 0 0 draws 2)" $'16294208416658607535\n7960286522194355700'
}

@test "the drops and delays are splitmix64's draws, as SPEC section 6 says" {
	# One draw for loss per message, then one for the delay of those kept.
	start_replica r --sim-seed 7 --sim-loss 0.5 --sim-delay '*=0-300'
	flood 1 20
	wait_count r 'event=(recv|sim_drop) ' 20
	expected=$(sim_model 7 0.5 0-300 20)
	# With P = 0.5 some of the twenty are dropped and some are kept.
	assert_match "$expected" 'drop' "the model"
	assert_match "$expected" '[0-9]' "the model"
	assert_eq "$(logged_fates r)" "$expected" "drops and delays"
}

@test "a message the simulation dropped is processed when it comes again" {
	# With seed 3 and P = 0.5 the first draw drops, the second keeps.
	assert_eq "$(sim_model 3 0.5 none 2 | paste -sd' ' -)" "drop pass" "the model"
	start_replica r --sim-seed 3 --sim-loss 0.5
	wire=$(printf 'v=1 type=SET id=%s from=peer key=k value=v\\n' "$(uuid 1)")
	datagram "$wire"
	wait_log r 'event=sim_drop '
	datagram "$wire"
	wait_log r "event=apply order=1 id=$(uuid 1) from=peer type=SET key=k value=v$"
	assert_no_log r 'event=duplicate'
}

# ------------------------------------------------------------ SIM_SEED

@test "two nodes with the same SIM_SEED draw the same delays and apply in the same order" {
	# Seed 42's six delays are at least 23 ms apart (checked here), so
	# scheduling jitter cannot swap two messages: the order is the seed's.
	expected=$(sim_model 42 0 0-300 6)
	assert_eq "$(sort -n <<<"$expected" | awk 'NR > 1 && $1 - p < 20 { print "close" } { p = $1 }')" "" \
		"gaps between seed 42's delays"
	start_replica r1 --sim-seed 42 --sim-delay '*=0-300'
	start_replica r2 --sim-seed 42 --sim-delay '*=0-300'
	start_node w
	send_bytes w 'SET a 1\nSET b 2\nSET c 3\nSET d 4\nSET e 5\nSET f 6\n'
	for n in r1 r2; do
		wait_count $n 'event=apply .*type=SET' 6
	done
	assert_eq "$(logged_fates r1)" "$expected" "r1's delays"
	assert_eq "$(logged_fates r2)" "$expected" "r2's delays"
	# The keys sorted by their delay: the order both must have applied.
	order=$(paste -d' ' <(echo "$expected") <(printf '%s\n' a b c d e f) |
		sort -n | cut -d' ' -f2 | paste -sd' ' -)
	assert_eq "$(applied_keys r1 | paste -sd' ' -)" "$order" "r1's apply order"
	assert_eq "$(applied_keys r2 | paste -sd' ' -)" "$order" "r2's apply order"
}

@test "different seeds give different delays" {
	start_replica r1 --sim-seed 1 --sim-delay '*=0-300'
	start_replica r2 --sim-seed 2 --sim-delay '*=0-300'
	flood 1 6
	wait_count r1 'event=recv ' 6
	wait_count r2 'event=recv ' 6
	assert_eq "$(logged_fates r1)" "$(sim_model 1 0 0-300 6)" "seed 1"
	assert_eq "$(logged_fates r2)" "$(sim_model 2 0 0-300 6)" "seed 2"
	[[ $(logged_fates r1) != "$(logged_fates r2)" ]]
}

@test "the seed is logged at start; without SIM_SEED each node draws its own" {
	started_with SIM_SEED=123
	assert_eq "$(field "$START" sim_seed)" 123 "sim_seed with SIM_SEED=123"
	started_with
	first=$(field "$START" sim_seed)
	started_with
	second=$(field "$START" sim_seed)
	assert_match "$first" '^[0-9]+$' "a random seed"
	[[ $first != "$second" ]]
}

# ------------------------------------------------------------ SIM_DELAY

@test "a delay rule holds a message for that many ms, then applies it" {
	start_replica r --sim-delay peer=300
	wire_set k v
	wait_log r 'event=recv id=[^ ]+ from=peer type=SET delay_ms=300$'
	wait_log r 'event=apply .*from=peer type=SET key=k value=v$'
	# A lower bound only: the apply can come late, never early.
	held=$(($(ts_ms "$(log_line r 'event=apply')") - $(ts_ms "$(log_line r 'event=recv')")))
	((held >= 299)) || {
		echo "# applied $held ms after it arrived, not 300" >&2
		return 1
	}
}

@test "a sender's own rule beats *, whatever the order of the rules" {
	start_replica r --sim-delay '*=60000,peer=0'
	wire_set k v
	wait_log r 'event=apply .*from=peer type=SET'
	datagram "v=1 type=SET id=$(uuid 99) from=other key=k value=w\n"
	wait_log r 'event=recv .*from=other'
	assert_match "$(log_line r 'event=recv .*from=peer')" ' delay_ms=0$' "peer's delay"
	assert_match "$(log_line r 'event=recv .*from=other')" ' delay_ms=60000$' "other's delay"
}

@test "a sender no rule names is not delayed and logs no recv line" {
	start_replica r --sim-delay slow=60000
	wire_set k v
	wait_log r 'event=apply .*from=peer type=SET key=k'
	assert_no_log r 'event=recv'
}

@test "* delays the node's own messages too" {
	start_node n1 --sim-delay '*=200'
	send_line n1 "SET x 1"
	wait_log n1 'event=recv id=[^ ]+ from=n1 type=SET delay_ms=200$'
	wait_log n1 'event=apply .*from=n1 type=SET key=x value=1$'
	held=$(($(ts_ms "$(log_line n1 'event=apply')") - $(ts_ms "$(log_line n1 'event=send')")))
	((held >= 199)) || {
		echo "# n1 applied its own SET $held ms after sending it" >&2
		return 1
	}
}

@test "held messages are processed in order of due time, not of arrival" {
	# The two datagrams come from two rawsend processes: fast's may arrive
	# up to 1.4 s after slow's (a loaded machine) and still be due first.
	start_replica r --sim-delay 'slow=1500,fast=100'
	datagram "v=1 type=SET id=$(uuid 1) from=slow key=a value=1\n"
	datagram "v=1 type=SET id=$(uuid 2) from=fast key=b value=2\n"
	wait_count r 'event=apply ' 2
	# Arrival: slow, then fast. Processing, and the local order: fast first.
	assert_match "$(log_line r 'event=recv' 1)" 'from=slow'
	assert_match "$(log_line r 'event=recv' 2)" 'from=fast'
	assert_match "$(log_line r 'event=apply' 1)" 'order=1 .*from=fast type=SET key=b'
	assert_match "$(log_line r 'event=apply' 2)" 'order=2 .*from=slow type=SET key=a'
}

@test "messages held equally long are processed in order of arrival" {
	# Fifty datagrams in one burst: many reach the node in the same
	# millisecond, so their due times tie.
	start_replica r --sim-delay '*=200'
	flood 1 50
	wait_count r 'event=apply ' 50
	assert_eq "$(applied_keys r | paste -sd' ' -)" "$(printf 'k%d\n' {1..50} | paste -sd' ' -)"
}

@test "a duplicate held with its original is caught when processed" {
	# Both copies are held at once; ids are checked after the delay, so
	# the second copy is a duplicate and is not applied again.
	start_replica r --sim-delay '*=200'
	wire="v=1 type=SET id=$(uuid 1) from=peer key=k value=v\n"
	datagram "$wire"
	datagram "$wire"
	wait_count r 'event=recv ' 2
	wait_log r "event=duplicate id=$(uuid 1) from=peer type=SET$"
	assert_eq "$(count_log r 'event=apply')" 1 "applies"
}

@test "EOF stops a node at once, discarding the messages it holds" {
	start_node n1 --sim-delay '*=60000'
	send_line n1 "SET x 1"
	wait_log n1 'event=recv .*from=n1 type=SET delay_ms=60000$'
	close_input n1
	wait_exit n1
	assert_eq "$EXIT_STATUS" 0 "exit status"
	assert_match "$(tail -n 1 "$(log_of n1)")" 'event=stop'
	assert_no_log n1 'event=apply'
}

# ------------------------------------------------------------ the bound

@test "the queue holds 65536 messages: the next is dropped as sim_overflow" {
	start_replica r --sim-delay '*=60000'
	fill_queue r
	assert_match "$(log_line r 'event=sim_overflow')" \
		'^ts=[^ ]+ level=warn node=r event=sim_overflow id=[^ ]+ from=peer type=SET held=65536$'
	# Every message the node read logged a recv line: the overflow came
	# with the 65537th.
	before=$(awk '/event=sim_overflow/ { print n; exit } /event=recv / { n++ }' "$(log_of r)")
	assert_eq "$before" 65537 "messages received up to the first overflow"
	assert_no_log r 'event=apply'
}

@test "a full queue keeps the node's peak memory under 64 MB" {
	# 65536 held datagrams of about 100 bytes need some 10 MB; a node that
	# kept each in a 1400-byte buffer would pass 90 MB.
	start_replica r --sim-delay '*=60000'
	fill_queue r
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/${NODE_PID[r]}/status")
	((hwm < 64 * 1024)) || {
		echo "# peak RSS ${hwm} kB with a full queue" >&2
		return 1
	}
}

@test "a node with a full queue still stops on SIGTERM, exit status 0" {
	start_replica r --sim-delay '*=60000'
	fill_queue r
	kill -TERM "${NODE_PID[r]}"
	wait_exit r
	assert_eq "$EXIT_STATUS" 0 "exit status after SIGTERM"
	assert_match "$(tail -n 1 "$(log_of r)")" 'event=stop .*signal=SIGTERM'
}

@test "a node holding a message for 60 s uses next to no CPU while it waits" {
	start_replica r --sim-delay '*=60000'
	wire_set k v
	wait_log r 'event=recv .*delay_ms=60000$'
	before=$(cpu_ticks "${NODE_PID[r]}")
	# The measurement window: 1.5 s with nothing to wait for, spent as a
	# wait, under a deadline, for the node to exit - which it must not.
	run -124 timeout 1.5 tail --pid="${NODE_PID[r]}" -f /dev/null
	after=$(cpu_ticks "${NODE_PID[r]}")
	hz=$(getconf CLK_TCK)
	# Busy-waiting for the due time would burn the whole 1.5 s; an idle
	# node sleeps in pselect() until then. Allow 1/10 s.
	((after - before <= hz / 10)) || {
		echo "# $((after - before)) ticks of CPU (at $hz/s) in 1.5 s idle" >&2
		return 1
	}
	assert_no_log r 'event=apply'
}

# ------------------------------------------------------------ settings

@test "SIM_DELAY accepts one or more rules, ranges, * and 0-60000" {
	for rules in '*=0-60000' 'x=0' 'x=60000' 'x=5-5' 'node.1_A-b=7' \
		'a=1,b=2-3,*=4'; do
		started_with SIM_DELAY="$rules"
		# Logged as on the wire: "=" inside a value is %3D.
		assert_eq "$(field "$START" sim_delay)" "${rules//=/%3D}" "sim_delay"
	done
}

@test "a SIM_DELAY that breaks the rule exits 2 naming it" {
	too_long_id=123456789012345678901234567890123
	for rules in 'a=1,' ',a=1' 'a=1,,b=2' '=5' 'x' 'x=' 'x=5-3' 'x=60001' \
		'x=0-60001' 'x=1,x=2' '*=1,*=2' 'x=-5' 'x=5-' 'x=1-2-3' 'x=+5' \
		'x=0x10' 'x=1.5' 'x= 5' 'a b=1' "$too_long_id=1"; do
		setting_error SIM_DELAY "$rules" SIM_DELAY="$rules"
	done
}

@test "a bad --sim-delay is reported under the option's name" {
	setting_error --sim-delay 'x=5-3' --sim-delay 'x=5-3'
	setting_error --sim-delay '' --sim-delay=
}

@test "SIM_LOSS accepts decimals from 0 to 1" {
	for p in 0 1 .5 0.5 0. 1.000 0.999 00.25; do
		started_with SIM_LOSS="$p"
	done
}

@test "a SIM_LOSS that is not a decimal from 0 to 1 exits 2 naming it" {
	for p in 1.5 1.0001 2 0.5.1 -1 +0.5 . 1e-1 0,5 abc ' 0.5' '0.5 '; do
		setting_error SIM_LOSS "$p" SIM_LOSS="$p"
	done
	setting_error --sim-loss 0.5.1 --sim-loss 0.5.1
}

@test "SIM_SEED accepts 0 to 2^64-1" {
	for seed in 0 1 18446744073709551615; do
		started_with SIM_SEED="$seed"
		assert_eq "$(field "$START" sim_seed)" "$seed" "sim_seed"
	done
}

@test "a SIM_SEED that is not an unsigned decimal below 2^64 exits 2 naming it" {
	for seed in 18446744073709551616 99999999999999999999 -1 +1 0x10 1e3 \
		1.0 ' 1' abc; do
		setting_error SIM_SEED "$seed" SIM_SEED="$seed"
	done
	setting_error --sim-seed -1 --sim-seed=-1
}

@test "the simulation settings come after CHECK_WINDOW, in the table's order" {
	setting_error CHECK_WINDOW 0 CHECK_WINDOW=0 SIM_DELAY=x SIM_LOSS=2 SIM_SEED=-1
	setting_error SIM_DELAY x SIM_DELAY=x SIM_LOSS=2 SIM_SEED=-1
	setting_error SIM_LOSS 2 SIM_LOSS=2 SIM_SEED=-1
}
