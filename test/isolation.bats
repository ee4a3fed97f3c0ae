#!/usr/bin/env bats
# A node receives only datagrams sent to its own group and port (SPEC
# section 1): two clusters on one host stay apart, and a unicast datagram
# to the node's port is not received.

load helpers

setup() {
	kvmc_setup 25000
}

# Each test below ends the same way: once a node has applied a SET that
# was sent after the foreign one, the foreign one would have arrived too.

# assert_apart A B: each node writes; neither hears the other's write,
# though each hears its own (and a1 a second one, after b1's went out).
assert_apart() {
	send_line "$1" "SET from_a 1"
	wait_log "$1" 'event=apply .*key=from_a'
	send_line "$2" "SET from_b 2"
	wait_log "$2" 'event=apply .*key=from_b'
	send_line "$1" "SET from_a_again 3"
	wait_log "$1" 'event=apply .*key=from_a_again'
	assert_no_log "$1" 'key=from_b'
	assert_no_log "$2" 'key=from_a'
}

@test "two clusters on the same group but different ports stay apart" {
	start_node a1
	PORT=$((PORT + 1)) start_node b1
	assert_apart a1 b1
}

@test "two clusters on the same port but different groups stay apart" {
	start_node a1 --group 239.0.0.1
	start_node b1 --group 239.0.0.2
	assert_apart a1 b1
}

@test "a datagram to another group joined on this host is not received" {
	# b1 makes this host a member of 239.0.0.2; a1 must still not get it.
	start_node a1 --group 239.0.0.1
	start_node b1 --group 239.0.0.2
	datagram "v=1 type=SET id=$(uuid 1) from=peer key=other value=v\n" "$PORT" 239.0.0.2
	wait_log b1 'event=apply .*key=other'
	datagram "v=1 type=SET id=$(uuid 2) from=peer key=mine value=v\n"
	wait_log a1 'event=apply .*key=mine'
	assert_no_log a1 'key=other'
}

@test "a unicast datagram to the node's port is not received" {
	start_node n1
	datagram "v=1 type=SET id=$(uuid 1) from=peer key=unicast value=v\n" \
		"$PORT" 127.0.0.1
	datagram "v=1 type=SET id=$(uuid 2) from=peer key=multicast value=v\n"
	wait_log n1 'event=apply .*key=multicast'
	assert_no_log n1 'key=unicast'
	assert_eq "$(count_log n1 'event=(apply|reject)')" 1 "datagrams seen"
}
