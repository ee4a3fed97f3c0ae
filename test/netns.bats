#!/usr/bin/env bats
# A real network between hosts, built from network namespaces (SPEC
# section 1): three "hosts" A, B and C, each with one veth link to a bridge
# in a fourth namespace, addresses in 10.231.0.0/24 and a default route via
# that link - and nothing else, no uplink: every datagram stays inside the
# namespaces this test creates.
#
# Here, and only here, nodes run WITHOUT MULTICAST_IF, as they would in a
# container: the kernel picks the interface for the group from the route
# table, i.e. the default route's veth. Taking a link down deletes that
# route, so a node's sends fail (event=send_error) - and the node must keep
# running, and receive again once the link and the route are back.
#
# Needs root and a working `ip netns`; otherwise every test skips, saying
# why.

load helpers

setup() {
	kvmc_setup 35000
	# Unique per test process; interface names stay inside namespaces.
	NS_A=kvmcA$$ NS_B=kvmcB$$ NS_C=kvmcC$$ NS_BR=kvmcBR$$
	[[ $EUID -eq 0 ]] || skip "network namespaces need root"
	command -v ip >/dev/null || skip "no ip command (iproute2)"
	make_network
}

teardown() {
	stop_all_nodes
	# Deleting a namespace deletes the links and the bridge inside it.
	local ns
	for ns in "$NS_A" "$NS_B" "$NS_C" "$NS_BR"; do
		[[ -n $ns ]] && ip netns del "$ns" 2>/dev/null
	done
	return 0
}

# ------------------------------------------------------------ the network

# or_skip WHAT COMMAND...: run COMMAND; if it fails, skip the test: this
# system cannot build the network (no namespaces, no veth, no bridge).
or_skip() {
	local what=$1 err
	shift
	err=$("$@" 2>&1) || skip "$what does not work here: $err"
}

# make_network: the bridge namespace with br0, then per host X (A, B, C):
# its namespace, a veth pair pX (on the bridge) / veth0 (in the host),
# address 10.231.0.N/24, lo and veth0 up, and a default route via veth0.
make_network() {
	local x n=0
	or_skip "ip netns add" ip netns add "$NS_BR"
	# No IGMP snooping: the bridge floods the group to every port, so no
	# membership report has to be seen (again) after a link comes back.
	or_skip "a bridge" ip -n "$NS_BR" link add br0 type bridge mcast_snooping 0
	ip -n "$NS_BR" link set br0 up
	for x in A B C; do
		n=$((n + 1))
		local ns=NS_$x
		ip netns add "${!ns}"
		or_skip "a veth pair" ip -n "$NS_BR" link add "p$x" type veth \
			peer name veth0 netns "${!ns}"
		ip -n "$NS_BR" link set "p$x" master br0 up
		ip -n "${!ns}" link set lo up
		ip -n "${!ns}" addr add "10.231.0.$n/24" dev veth0
		ip -n "${!ns}" link set veth0 up
		ip -n "${!ns}" route add default dev veth0
		wait_link_up "$x"
	done
}

# wait_link_up X: wait until host X's veth0 is up with a carrier and its
# bridge port forwards.
wait_link_up() {
	local ns=NS_$1 end
	end=$(deadline "$WAIT")
	until [[ $(ip -n "${!ns}" -o link show veth0) == *"state UP"* &&
		$(ip -n "$NS_BR" -d -o link show "p$1") == *"bridge_slave state forwarding"* ]]; do
		if (($(now_us) > end)); then
			echo "# link of host $1 not up after ${WAIT}s:" >&2
			ip -n "${!ns}" link show veth0 >&2
			ip -n "$NS_BR" -d link show "p$1" >&2
			return 1
		fi
		sleep 0.02
	done
}

# link_down X: take host X's veth0 down. The kernel deletes every route
# through it, the default route included: check that it did.
link_down() {
	local ns=NS_$1
	ip -n "${!ns}" link set veth0 down
	assert_eq "$(ip -n "${!ns}" route show default)" "" \
		"default route of host $1 with its link down"
}

# link_up X: bring host X's veth0 back up and add its default route again
# (the kernel restores only the route of the subnet).
link_up() {
	local ns=NS_$1
	ip -n "${!ns}" link set veth0 up
	ip -n "${!ns}" route replace default dev veth0
	wait_link_up "$1"
}

# start_host X NAME: start node NAME on host X, stdin a FIFO as in
# start_node, and without MULTICAST_IF (this file's one exception: the
# traffic cannot leave the namespaces).
start_host() {
	local ns=NS_$1
	KVMC_CMD=(ip netns exec "${!ns}" env -u MULTICAST_IF "$KVMC")
	start_node "$2"
	KVMC_CMD=("$KVMC")
}

start_three() {
	start_host A nA
	start_host B nB
	start_host C nC
}

# wait_applied NAME FROM KEY VALUE: wait until NAME applied FROM's SET.
wait_applied() {
	wait_log "$1" "event=apply .*from=$2 type=SET key=$3 value=$4$"
}

# send_fails NAME KEY VALUE: type SET KEY VALUE on NAME and wait until NAME
# logged the send_error of that very message (a heartbeat may fail too);
# print its id.
send_fails() {
	local id
	send_line "$1" "SET $2 $3"
	wait_log "$1" "event=send .*type=SET key=$2 value=$3$"
	id=$(field "$(log_line "$1" "event=send .*type=SET key=$2 ")" id)
	wait_log "$1" "level=warn node=$1 event=send_error id=$id err=[^ ]+$"
	echo "$id"
}

# ------------------------------------------------------------ tests

@test "nodes in three namespaces replicate a SET over a bridge, on the interface of the default route" {
	start_three
	# No interface was given: the kernel chose the default route's veth0,
	# in the node's own namespace.
	assert_match "$(log_line nA 'event=start')" ' interface=default( |$)'
	assert_eq "$(ip netns identify "${NODE_PID[nA]}")" "$NS_A" "namespace of nA"
	assert_match "$(ip -n "$NS_A" maddr show dev veth0)" 'inet +239\.0\.0\.1($|[^0-9])' \
		"groups joined on A's veth0"
	send_line nA "SET x 1"
	wait_applied nA nA x 1
	wait_applied nB nA x 1
	wait_applied nC nA x 1
}

@test "a node whose link is down logs send_error for its SET and keeps running" {
	start_three
	link_down A
	send_fails nA lost 1
	# Still running and reading stdin; and it did not apply its own SET,
	# which never went out.
	send_line nA "GET lost"
	wait_out nA '^lost \(not set\)$'
	is_running nA
}

@test "while one node's link is down the other nodes still replicate, and it hears nothing" {
	start_three
	link_down A
	send_line nB "SET y 2"
	wait_applied nB nB y 2
	wait_applied nC nB y 2
	# The datagram that reached C through the bridge would have reached A
	# at the same moment.
	assert_no_log nA 'key=y'
	is_running nA
}

@test "a node whose link and default route come back receives again" {
	start_three
	link_down A
	id=$(send_fails nA lost 1)
	send_line nB "SET missed 2"
	wait_applied nC nB missed 2
	link_up A
	send_line nC "SET back 3"
	wait_applied nA nC back 3
	is_running nA
	# What was sent while A was away stays lost to A: no retransmission.
	assert_no_log nA 'key=missed'
}

@test "a node whose link and default route come back sends again, and what failed stays unsent" {
	start_three
	link_down A
	id=$(send_fails nA lost 1)
	link_up A
	send_line nA "SET again 4"
	wait_applied nA nA again 4
	wait_applied nB nA again 4
	wait_applied nC nA again 4
	# The failed SET went out neither then nor later.
	for name in nA nB nC; do
		assert_no_log "$name" 'event=apply .*key=lost'
	done
	assert_eq "$(count_log nA "event=send_error id=$id ")" 1 "send_error lines of the failed SET"
}
