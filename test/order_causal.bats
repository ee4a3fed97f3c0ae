#!/usr/bin/env bats
# causal mode (SPEC section 10): fifo per sender, and a command is never
# applied before one that its sender had applied before sending it. Every
# command carries vc, its sender's applied counts (its own seq for
# itself); a command whose vc names more than this node has applied of
# another sender waits (event=hold reason=causal).

load helpers

setup() {
	kvmc_setup 42000
}

causal_node() {
	local name=$1
	shift
	start_node "$name" --ordering causal --hello-interval 0 "$@"
}

# cmd FROM SEQ VC KEY: a SET KEY=FROM of sender FROM (inc 5), id from SEQ.
cmd() {
	local n
	n=$(printf '%d' "'${1: -1}")
	datagram "v=1 type=SET id=$(uuid $((n * 1000 + $2))) from=$1 key=$4 value=$1 inc=5 seq=$2 vc=$3\n"
}

applied() {
	grep -a 'event=apply order=' "$(log_of "$1")" | grep -o ' from=[^ ]*' |
		cut -d= -f2 | paste -sd' ' -
}

@test "a command waits for one its sender had applied: hold reason=causal" {
	causal_node n1
	cmd b 1 a:1,b:1 x
	wait_log n1 "level=info node=n1 event=hold id=[^ ]+ from=b type=SET seq=1 reason=causal$"
	assert_no_log n1 'event=apply'
	cmd a 1 a:1 x
	wait_count n1 'event=apply order=' 2
	assert_eq "$(applied n1)" "a b" "applied"
	assert_match "$(log_line n1 'event=apply order=2')" 'from=b type=SET key=x value=b inc=5 seq=1 vc=a:1,b:1$'
	send_line n1 "GET x"
	wait_out n1 '^x = b$'
}

@test "a missing earlier seq of the command's own stream is reason=fifo" {
	causal_node n1
	cmd a 2 a:2 y
	wait_log n1 'event=hold .*from=a type=SET seq=2 reason=fifo$'
	cmd a 1 a:1 x
	wait_count n1 'event=apply order=' 2
}

@test "a command whose dependencies are met is applied at once" {
	causal_node n1
	cmd a 1 a:1 x
	cmd a 2 a:2 x
	cmd b 1 a:2,b:1 x
	wait_count n1 'event=apply order=' 3
	assert_no_log n1 'event=hold'
}

@test "vc holds the applied count of every other sender and the own seq" {
	causal_node n1
	causal_node n2
	send_line n1 "SET a 1"
	wait_log n2 'event=apply order=1 .*from=n1'
	send_line n2 "SET b 2"
	wait_log n2 'event=send .*key=b'
	assert_match "$(log_line n2 'event=send .*key=b')" ' inc=[0-9]+ seq=1 vc=n1:1,n2:1$'
	wait_log n1 'event=apply order=2 .*from=n2'
	send_line n1 "SET c 3"
	wait_log n1 'event=send .*key=c'
	assert_match "$(log_line n1 'event=send .*key=c')" ' seq=2 vc=n1:2,n2:1$'
	# The first command of a node names only itself.
	assert_match "$(log_line n1 'event=send .*key=a')" ' seq=1 vc=n1:1$'
}

@test "write after read: the reply waits for what it answered (CONSISTENT)" {
	causal_node n1
	causal_node n2
	# n3 hears n1 late: long enough that n2's reply comes first even on
	# a loaded machine; if not, the premise failed and n3 only shows order.
	causal_node n3 --sim-delay n1=1500
	send_line n1 "SET x 1"
	wait_log n2 'event=apply .*from=n1 .*key=x'
	send_line n2 "SET x 2"
	wait_log n2 'event=send .*key=x'
	sent=$(ts_ms "$(log_line n1 'event=send')")
	reply=$(ts_ms "$(log_line n2 'event=send')")
	if ((reply - sent < 1400)); then
		wait_log n3 'event=hold .*from=n2 .*reason=causal$'
	fi
	for n in n1 n2 n3; do
		wait_count $n 'event=apply order=' 2
		assert_eq "$(applied $n)" "n1 n2" "$n applied"
	done
	send_line n3 "GET x"
	wait_out n3 '^x = 2$'
}

@test "numbers given up (gap_lost) count as applied for the vc check" {
	causal_node n1
	cmd b 1 a:3,b:1 x
	wait_log n1 'event=hold .*from=b .*reason=causal$'
	# a's seq 4100 makes 1-4 too old to wait for: given up, counted.
	cmd a 4100 a:4100 y
	wait_log n1 'level=warn node=n1 event=gap_lost from=a first=1 last=4$'
	wait_log n1 'event=apply order=1 .*from=b '
	assert_no_log n1 'event=apply .*from=a '
}
