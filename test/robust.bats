#!/usr/bin/env bats
# Bounds that strangers on the segment cannot break (SPEC sections 3, 4
# and 8): the peer list holds 1024 peers and makes room for a newly heard
# one by forgetting the one heard least recently; a node remembers the ids
# of its last 65536 sends, so its own messages coming back late are never
# an id_conflict; and the store holds at most STORE_LIMIT bytes of keys
# and values, refusing (but counting) a SET past it as store_full.
#
# Floods come from test/flood, one process sending a whole batch (its
# `hello` mode: made-up peers; its `valid` mode: distinct SETs, here with
# 1000-byte values); bursts of commands come from one perl process
# writing into a node's stdin.

load helpers

setup() {
	kvmc_setup 45000
	# No heartbeats unless a test asks for them: they are not the subject.
	export HELLO_INTERVAL=0
}

# peers_of NAME N: send PEERS to node NAME and wait for the N lines of its
# reply; set REPLY_LINES to the lines it printed this time.
peers_of() {
	local out before
	out=$(out_of "$1")
	before=$(wc -l <"$out")
	send_line "$1" PEERS
	wait_file "$out" '.' $((before + $2)) "$WAIT"
	mapfile -t REPLY_LINES < <(tail -n +$((before + 1)) "$out")
}

# hello_flood COUNT: HELLOs from COUNT made-up peers f0, f1, ... (ids
# uuid 0, 1, ...), sent by one process; then wait until node n1 has heard
# every one of them (one peer_up each: each is new when heard).
hello_flood() {
	timeout 60 "$FLOOD" "$GROUP" "$PORT" hello f 0 "$1"
	wait_count n1 'event=peer_up peer=f[0-9]+$' "$1" 30
}

# rss_kb NAME: the node's resident set size now, in kB.
rss_kb() {
	awk '$1 == "VmRSS:" { print $2 }' "/proc/${NODE_PID[$1]}/status"
}

# ------------------------------------------------------------ peers

@test "after a HELLO flood of 2,000 made-up ids, a node that joins is listed from its first HELLO" {
	# n1's own interval is an hour: none of its peers turns silent here.
	start_node n1 --hello-interval 3600000
	hello_flood 2000
	# n2 sends its first HELLO as soon as it is ready, and no other for an
	# hour: only that one can make it a peer (counted, not timed).
	start_replica n2 --hello-interval 3600000 --log-level debug
	wait_log n1 'event=peer_up peer=n2$'
	assert_eq "$(count_log n2 'event=send .*type=HELLO$')" 1 "HELLOs n2 sent"
	peers_of n1 1024
	assert_eq "${#REPLY_LINES[@]}" 1024 "number of PEERS lines (the bound)"
	assert_match "$(printf '%s\n' "${REPLY_LINES[@]}" | grep '^n2 ')" \
		'^n2 [0-9]+\.[0-9]s alive$' "n2's PEERS line"
}

@test "a peer pushed out by a flood is new again when heard next: peer_up, and listed" {
	start_node n1 --hello-interval 3600000
	start_node n2
	send_line n2 "SET a 1"
	wait_log n1 'event=peer_up peer=n2$'
	# 2,000 newer peers: n2, heard least recently, is forgotten.
	hello_flood 2000
	peers_of n1 1024
	assert_eq "${#REPLY_LINES[@]}" 1024 "number of PEERS lines after the flood"
	if printf '%s\n' "${REPLY_LINES[@]}" | grep -q '^n2 '; then
		echo "# n2 is still listed after 2,000 newer peers" >&2
		return 1
	fi
	# Only the 1,024 heard last are left, sorted by id.
	assert_eq "$(printf '%s\n' "${REPLY_LINES[@]}" | cut -d' ' -f1 | sort -c && echo sorted)" \
		sorted "order of the PEERS lines"
	assert_eq "$(printf '%s\n' "${REPLY_LINES[@]}" | grep -c '^f\(9[7-9][0-9]\|1[0-9]\{3\}\) ')" \
		1024 "PEERS lines of the last 1,024 made-up peers (f976-f1999)"
	send_line n2 "SET b 2"
	wait_count n1 'event=peer_up peer=n2$' 2
	peers_of n1 1024
	assert_match "$(printf '%s\n' "${REPLY_LINES[@]}" | grep '^n2 ')" \
		'^n2 [0-9]+\.[0-9]s alive$' "n2's PEERS line once heard again"
}

@test "made-up peers go silent on time, and the list still serves real ones" {
	# With HELLO off, a peer is silent after 2000 ms: the flood's 2,000
	# peers go silent, each logged once (the 1,024 still remembered) and
	# a node heard afterwards is alive.
	start_node n1
	hello_flood 2000
	wait_count n1 'event=peer_silent peer=f' 1024 10
	start_node n2
	send_line n2 "SET a 1"
	wait_log n1 'event=peer_up peer=n2$'
	peers_of n1 1024
	assert_eq "$(printf '%s\n' "${REPLY_LINES[@]}" | grep -c ' alive$')" 1 \
		"alive peers in PEERS"
	assert_eq "$(count_log n1 'event=peer_silent peer=f')" 1024 \
		"peer_silent lines of made-up peers"
}

@test "the peer list agrees with a plain model of SPEC section 8 through 30,000 random steps" {
	unit_program peers	# test/peers_test.c
}

# ------------------------------------------------------------ own ids

@test "10,000 SETs in one burst, own copies held 300 ms: all applied, no id_conflict" {
	start_node n1 --sim-delay n1=300
	# One process writes the whole burst; 24-byte lines, so one read of
	# stdin (4096 bytes) sends fewer datagrams than one batch reads back.
	timeout 60 perl -e 'printf "SET key%05d value%05d\n", $_, $_ for 1 .. 10000' \
		>&"${NODE_FD[n1]}"
	wait_count n1 'event=apply .*from=n1 type=SET' 10000 60
	assert_no_log n1 'event=id_conflict'
	assert_no_log n1 'event=(kernel_drop|sim_overflow|duplicate)'
	# Every one of them was held, then applied, in order.
	assert_eq "$(count_log n1 'event=recv .*from=n1 type=SET delay_ms=300$')" \
		10000 "SETs held 300 ms"
	assert_match "$(log_line n1 'event=apply .*type=SET' 10000)" \
		'event=apply order=10000 .*key=key10000 value=value10000$' \
		"the 10,000th apply"
}

@test "a message with this node's id that it never sent is still an id_conflict" {
	start_node n1
	send_line n1 "SET a 1"
	wait_log n1 'event=apply .*from=n1 type=SET'
	datagram "v=1 type=SET id=$(uuid 7) from=n1 key=b value=2\n"
	wait_log n1 "event=id_conflict id=$(uuid 7) from=n1 type=SET$"
	assert_eq "$(count_log n1 'event=id_conflict')" 1 "id_conflict lines"
}

# ------------------------------------------------------------ the store

# feed_store FIRST COUNT: COUNT SETs from "peer", keys k<FIRST>... (seven
# digits here: 1008 bytes each with the 1000-byte values); wait until the
# replica r has processed them all.
feed_store() {
	timeout 60 "$FLOOD" "$GROUP" "$PORT" valid peer "$1" "$2" 1000
	wait_count r 'event=(apply|store_full) ' "$2" 30
}

@test "a node with --store-limit 1048576 fed 2,000 distinct 1 KB values stays under its limit plus 512 KiB" {
	start_replica r --store-limit 1048576
	before=$(rss_kb r)
	feed_store 1000000 2000
	after=$(rss_kb r)
	# Each SET holds 1008 bytes (key k1000xxx, 1000-byte value): 1040
	# fit in 1048576 bytes (1048320), the 1041st would not.
	assert_eq "$(count_log r 'event=apply .*type=SET')" 1040 "SETs stored"
	assert_eq "$(count_log r 'event=store_full ')" 960 "SETs refused"
	assert_match "$(log_line r 'event=store_full ')" \
		"^ts=[^ ]+ level=warn node=r event=store_full order=1041 id=$(uuid 1001040) from=peer key=k1001040 bytes=1008$" \
		"the first store_full line"
	# Refused SETs still count in the local order.
	assert_match "$(log_line r 'event=store_full ' 960)" ' order=2000 ' \
		"the last store_full line"
	# The store's bytes, then what the table and the allocator add per
	# entry (some 40 bytes: 42 kB here), the window of processed ids and
	# the log buffer: under 512 KiB. Without a limit the node keeps all
	# 2,000 values and grows by over 2 MB.
	local limit=$((1024 + 512))
	nm -D "$KVMC" 2>/dev/null | grep -q __asan_init && limit=$((limit + 2048))
	(((after - before) <= limit)) || {
		echo "# resident memory grew by $((after - before)) kB (from $before kB), bound $limit kB" >&2
		return 1
	}
}

@test "a full store still replaces a value by a shorter one, and refuses a longer one" {
	start_replica r --store-limit 1048576
	# 1040 SETs of 1008 bytes fit (1048320 bytes), the next 60 do not.
	feed_store 2000000 1100
	assert_eq "$(count_log r 'event=store_full ')" 60 "SETs refused"
	# k2000000 holds 1000 bytes: a shorter value always fits.
	wire_set k2000000 short
	wait_log r 'event=apply .*from=peer type=SET key=k2000000 value=short$'
	# Back to 1000 bytes: the 995 bytes it freed make room again.
	wire_set k2000000 "$(repeat 1000 x)"
	wait_log r "event=apply .*from=peer type=SET key=k2000000 value=x{1000}$"
	# 1257 bytes would make the store 1048577 bytes: one too many...
	wire_set k2000000 "$(repeat 1257 y)"
	wait_log r 'event=store_full .* key=k2000000 bytes=1265$'
	# ...while 256 new bytes fill it exactly (1048320 + 256 = 1048576),
	wire_set "$(repeat 255 z)" z
	wait_log r "event=apply .*from=peer type=SET key=z{255} value=z$"
	# after which even one byte is refused.
	wire_set n ""
	wait_log r 'event=store_full .* key=n bytes=1$'
	# GET answers from what is stored: the refused value never was.
	datagram "v=1 type=GET id=$(uuid 999) from=peer key=k2000000\n"
	wait_log r 'event=apply .*type=GET key=k2000000 found=yes value=x{1000}$'
}

@test "a node with the default limit stores them all" {
	start_replica r
	feed_store 3000000 2000
	assert_eq "$(count_log r 'event=apply .*type=SET')" 2000 "SETs stored"
	assert_no_log r 'event=store_full'
}

# ------------------------------------------------------------ the setting

@test "STORE_LIMIT defaults to 268435456 and is logged at start" {
	started_with
	assert_eq "$(start_field store_limit)" 268435456 "default store_limit"
	started_with STORE_LIMIT=1024
	assert_eq "$(start_field store_limit)" 1024 "STORE_LIMIT=1024"
	started_with --store-limit 1099511627776
	assert_eq "$(start_field store_limit)" 1099511627776 "--store-limit 2^40"
	started_with --store-limit=0000004096
	assert_eq "$(start_field store_limit)" 4096 "leading zeros"
}

@test "a STORE_LIMIT outside 1024 to 2^40, or not plain digits, exits 2 naming it" {
	local v
	for v in 0 1023 1099511627777 18446744073709551616 -1 +2048 0x1000 \
		1e6 2048.0 ' 2048' abc; do
		setting_error STORE_LIMIT "$v" STORE_LIMIT="$v"
		setting_error --store-limit "$v" --store-limit="$v"
	done
	assert_match "$stderr" 'expected 1024-1099511627776' "what is accepted"
}

@test "--store-limit wins over STORE_LIMIT, which is then not checked; empty is unset" {
	started_with STORE_LIMIT=abc --store-limit 2048
	assert_eq "$(start_field store_limit)" 2048 "store_limit"
	started_with STORE_LIMIT=
	assert_eq "$(start_field store_limit)" 268435456 "store_limit"
}

@test "STORE_LIMIT is validated after CHECK_WINDOW and before the simulation settings" {
	setting_error CHECK_WINDOW 0 CHECK_WINDOW=0 STORE_LIMIT=1 SIM_DELAY=x
	setting_error STORE_LIMIT 1 STORE_LIMIT=1 SIM_DELAY=x SIM_LOSS=2
	setting_error --store-limit 1 SIM_SEED=-1 --store-limit 1
}
