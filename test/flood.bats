#!/usr/bin/env bats
# A flood (SPEC sections 1 and 3): hundreds of thousands of datagrams, as
# fast as the kernel takes them - valid SETs, a datagram for every reject
# reason, 1400-, 1401- and 65000-byte ones, random bytes - must leave every
# node running, small, idle once it is over, and still replicating; every
# bad datagram is a logged reject; what the kernel itself drops for a full
# receive buffer is logged as event=kernel_drop; and a stop signal still
# stops a node at once while datagrams keep coming.
#
# A shell loop around test/rawsend sends a few hundred datagrams a second;
# these tests need a thousand times that, with a different id in every
# valid SET: test/flood's "mix" mode (see test/flood.c). Like rawsend it
# always leaves through 127.0.0.1 with TTL 0: nothing reaches a real
# network.
#
# The kernel's own count is the referee for kernel_drop: /proc/PID/net/udp
# shows, for the node's socket, the bytes waiting (rx_queue) and the
# datagrams dropped for want of room (drops), the very counter that
# SO_RXQ_OVFL hands to the node.

load helpers


setup() {
	kvmc_setup 36000
	# No heartbeats: every id a node processes is then one of this test's,
	# and counts in its local order.
	export HELLO_INTERVAL=0
	start_node n1
	start_replica r2
	start_replica r3
}

teardown() {
	# A node a test stopped with SIGSTOP would not act on SIGTERM.
	local pid
	for pid in "${NODE_PID[@]}"; do
		kill -CONT "$pid" 2>/dev/null
	done
	stop_all_nodes
}

NODES=(n1 r2 r3)
FLOOD_TOTAL=200000

# ------------------------------------------------------------ helpers


# flood COUNT [FIRST]: send COUNT datagrams of the mix (the C source above
# lists it), valid SETs with ids from uuid FIRST on (default 2^28, far
# from the small numbers wire_set uses); returns when all are sent. The
# timeout only guards against a hang: with little CPU to spare, 200,000
# sends (each a copy for three sockets) were seen to need over 60 s.
flood() {
	timeout 300 "$FLOOD" "$GROUP" "$PORT" mix "$1" "${2:-268435456}" 12345
}

# flood_forever: start an endless flood in the background (killed in
# teardown, and by `timeout` anyway after a minute).
flood_forever() {
	timeout 60 "$FLOOD" "$GROUP" "$PORT" mix 1000000000 268435456 12345 3>&- &
	EXTRA_PIDS+=($!)
}

# udp_stat NAME: print "RX_QUEUE DROPS" of the node's one socket, from the
# /proc/PID/net/udp of its own network namespace (rx_queue in bytes).
udp_stat() {
	local pid=${NODE_PID[$1]} fd link inode=
	for fd in /proc/"$pid"/fd/*; do
		link=$(readlink "$fd") || continue
		if [[ $link == socket:\[*\] ]]; then
			inode=${link//[^0-9]/}
		fi
	done
	[[ -n $inode ]] || {
		echo "# node $1 has no socket" >&2
		return 1
	}
	# sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref ptr drops
	awk -v inode="$inode" '$10 == inode {
		split($5, q, ":"); print q[2], $13; found = 1
	} END { exit !found }' "/proc/$pid/net/udp" | {
		read -r rx drops && echo "$((16#$rx)) $drops"
	}
}

# settle: wait until every node has read all its socket holds, then send
# one more valid SET (the kernel reports its drops with the next datagram
# it queues) and wait until every node has applied it: everything sent
# before it has then been processed.
MARKERS=0
settle() {
	local name end rx drops
	end=$(deadline 20)
	for name in "${NODES[@]}"; do
		while read -r rx drops < <(udp_stat "$name") && ((rx > 0)); do
			if (($(now_us) > end)); then
				echo "# node $name still has $rx bytes queued" >&2
				return 1
			fi
			sleep 0.02
		done
	done
	MARKERS=$((MARKERS + 1))
	wire_set marker "$MARKERS"
	for name in "${NODES[@]}"; do
		wait_log "$name" "event=apply .*from=peer type=SET key=marker value=$MARKERS$" 20
	done
}

# vm_hwm_kb NAME: the node's peak resident set size, in kB.
vm_hwm_kb() {
	awk '$1 == "VmHWM:" { print $2 }' "/proc/${NODE_PID[$1]}/status"
}

# expect_kernel_drops NAME: NAME's last event=kernel_drop says total=N,
# where N is what the kernel counts for its socket; no such line if 0.
expect_kernel_drops() {
	local rx drops line
	read -r rx drops < <(udp_stat "$1")
	if ((drops == 0)); then
		assert_no_log "$1" 'event=kernel_drop'
		return
	fi
	line=$(grep -a 'event=kernel_drop' "$(log_of "$1")" | tail -n 1)
	assert_match "$line" "^ts=[^ ]+ level=warn node=$1 event=kernel_drop dropped=[1-9][0-9]* total=$drops$" \
		"last kernel_drop line of $1 (the kernel dropped $drops)"
	# The dropped= of all its lines add up to the total.
	assert_eq "$(grep -a 'event=kernel_drop' "$(log_of "$1")" |
		sed 's/.* dropped=\([0-9]*\) .*/\1/' | paste -sd+ | bc)" "$drops" \
		"sum of dropped= for $1"
}

# ------------------------------------------------------------ surviving

@test "three nodes keep running through 200,000 mixed datagrams" {
	flood "$FLOOD_TOTAL"
	settle
	for name in "${NODES[@]}"; do
		is_running "$name"
		# The 1400-byte valid SET in the mix was applied too.
		assert_match "$(log_line "$name" 'from=flood type=SET key=big ')" \
			" value=x{1321}$" "the 1400-byte SET on $name"
	done
}

@test "every kind of bad datagram in a flood is logged as a reject with its reason, source and size" {
	flood "$FLOOD_TOTAL"
	settle
	local reason name
	for name in "${NODES[@]}"; do
		for reason in too_long no_newline bad_byte bad_field bad_version \
			unknown_field duplicate_field bad_escape bad_type bad_id \
			bad_from bad_key bad_value missing_field unexpected_field; do
			if (($(count_log "$name" "level=warn node=$name event=reject reason=$reason src=127\.0\.0\.1:[0-9]+ bytes=[0-9]+$") == 0)); then
				echo "# $name logged no reject with reason=$reason" >&2
				return 1
			fi
		done
		# Sizes are the datagrams' real ones, far over 1400 too.
		assert_match "$(log_line "$name" 'reason=too_long .* bytes=65000$')" . \
			"a too_long reject of 65000 bytes on $name"
		assert_match "$(log_line "$name" 'reason=too_long .* bytes=1401$')" . \
			"a too_long reject of 1401 bytes on $name"
	done
}

@test "an id repeated through a flood is applied again only after 4096 other messages" {
	flood "$FLOOD_TOTAL"
	settle
	local name orders=() i
	for name in "${NODES[@]}"; do
		assert_match "$(log_line "$name" 'event=duplicate .*from=flood type=SET')" . \
			"a duplicate line on $name"
		# The mix repeats one id every 32 datagrams; the node remembers at
		# least the last 4096 ids it processed, so between two applies of
		# it come at least 4096 others (SETs and GETs, each one order).
		mapfile -t orders < <(grep -a 'event=apply .*key=dup ' "$(log_of "$name")" |
			sed 's/.* order=\([0-9]*\) .*/\1/')
		if ((${#orders[@]} == 0)); then
			echo "# $name never applied the repeated id" >&2
			return 1
		fi
		for ((i = 1; i < ${#orders[@]}; i++)); do
			if ((orders[i] - orders[i - 1] <= 4096)); then
				echo "# $name applied the repeated id at order ${orders[i - 1]} and again at ${orders[i]}" >&2
				return 1
			fi
		done
	done
}

@test "peak memory of every node stays under 16 MB through a flood" {
	# AddressSanitizer's shadow memory and quarantine are not kvmc's: the
	# bound is the program's, so the sanitizer build gets ASan's margin.
	local limit=16384
	nm -D "$KVMC" 2>/dev/null | grep -q __asan_init && limit=$((16384 + 65536))
	flood "$FLOOD_TOTAL"
	settle
	local name kb
	for name in "${NODES[@]}"; do
		kb=$(vm_hwm_kb "$name")
		if ((kb >= limit)); then
			echo "# $name peaked at $kb kB" >&2
			return 1
		fi
	done
}

@test "after a flood every node goes back to using no CPU" {
	flood "$FLOOD_TOTAL"
	settle
	local name hz before=() after=()
	hz=$(getconf CLK_TCK)
	for name in "${NODES[@]}"; do
		before+=("$(cpu_ticks "${NODE_PID[$name]}")")
	done
	# A measurement window, not a wait for anything: how much CPU the
	# nodes use in half a second once the flood is over.
	sleep 0.5
	for name in "${NODES[@]}"; do
		after+=("$(cpu_ticks "${NODE_PID[$name]}")")
	done
	local i ms
	for i in "${!NODES[@]}"; do
		ms=$(((after[i] - before[i]) * 1000 / hz))
		# A node still spinning would use most of the 500 ms.
		if ((ms > 30)); then
			echo "# ${NODES[i]} used ${ms} ms of CPU in 500 ms after the flood" >&2
			return 1
		fi
	done
}

@test "after a flood a SET typed on one node is applied by every node" {
	flood "$FLOOD_TOTAL"
	settle
	send_line n1 "SET after flood"
	for name in "${NODES[@]}"; do
		wait_log "$name" 'event=apply .*from=n1 type=SET key=after value=flood$'
	done
}

@test "a command typed during a flood is answered at once" {
	wire_set k v
	wait_log n1 'event=apply .*from=peer type=SET key=k value=v$'
	flood_forever
	wait_count n1 'event=reject' 1000
	send_line n1 "GET k"
	wait_out n1 '^k = v$' 2
	# The flood was still going on when the answer came.
	kill -0 "${EXTRA_PIDS[0]}"
}

# ------------------------------------------------------------ kernel drops

@test "a replica stopped during a flood logs event=kernel_drop with the kernel's count once it runs again" {
	flood $((FLOOD_TOTAL / 2))
	kill -STOP "${NODE_PID[r3]}"
	# r3's receive buffer fills up, and the kernel drops the rest.
	flood $((FLOOD_TOTAL / 2)) $((268435456 + FLOOD_TOTAL / 2))
	kill -CONT "${NODE_PID[r3]}"
	read -r rx drops < <(udp_stat r3)
	if ((drops == 0)); then
		echo "# the kernel dropped nothing for the stopped r3" >&2
		return 1
	fi
	settle
	wait_log r3 'event=kernel_drop'
	expect_kernel_drops r3
	is_running r3
}

@test "event=kernel_drop is logged exactly when the kernel dropped datagrams" {
	flood "$FLOOD_TOTAL"
	settle
	# Usually the nodes keep up and nothing is dropped: then no node may
	# claim drops. On a slower machine the kernel drops some: then each
	# node must report exactly what the kernel counted.
	for name in "${NODES[@]}"; do
		expect_kernel_drops "$name"
	done
}

# ------------------------------------------------------------ stopping

@test "SIGTERM stops a node at once in the middle of a flood" {
	flood_forever
	wait_count r2 'event=reject' 1000
	kill -TERM "${NODE_PID[r2]}"
	wait_exit r2 2
	assert_eq "$EXIT_STATUS" 0 "exit status"
	assert_match "$(tail -n 1 "$(log_of r2)")" \
		'^ts=[^ ]+ level=info node=r2 event=stop reason=signal( |$)' "last log line"
	# The flood was still going on when the node stopped.
	kill -0 "${EXTRA_PIDS[0]}"
}

# stops_in_flood SIGNAL: a replica whose socket never drains (the flood
# outlasts the bound) stops within 0.5 s of SIGNAL, while the flood goes on.
# The clock starts when the signal is sent and stops at the node's own
# event=stop stamp: how long this script takes to notice the exit (its
# polls, its forks, on a loaded machine) is not the node's.
stops_in_flood() {
	local sig=$1 name=s$1 t0 stopped
	start_replica "$name"
	flood_forever
	# The node is behind: datagrams wait in its socket at every wakeup.
	wait_count "$name" 'event=reject' 2000 20
	kill -"$sig" "${NODE_PID[$name]}"
	# Read just after kill (a builtin), without a fork in between.
	t0=${EPOCHREALTIME/[.,]/}
	wait_exit "$name" 5
	assert_eq "$EXIT_STATUS" 0 "exit status"
	assert_match "$(tail -n 1 "$(log_of "$name")")" \
		"event=stop reason=signal signal=SIG$sig( |\$)" "last log line"
	kill -0 "${EXTRA_PIDS[-1]}" # the flood was still going on
	stopped=$(ts_ms "$(tail -n 1 "$(log_of "$name")")")
	# ts= has whole milliseconds: the bound gets 1 ms of rounding.
	((stopped - t0 / 1000 < 501)) || {
		echo "# SIG$sig: event=stop $((stopped - t0 / 1000)) ms after the signal" >&2
		return 1
	}
}

@test "SIGTERM stops a node within 0.5 s while a flood outlasts it" {
	stops_in_flood TERM
}

@test "SIGINT stops a node within 0.5 s while a flood outlasts it" {
	stops_in_flood INT
}

@test "SIGHUP stops a node within 0.5 s while a flood outlasts it" {
	stops_in_flood HUP
}
