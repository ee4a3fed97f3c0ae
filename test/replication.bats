#!/usr/bin/env bats
# Replication (SPEC sections 2 and 4): every node applies every SET, GET
# and PRINT it receives, in the order it receives them, with its own local
# order counter; the sender applies its own command only when its datagram
# comes back through multicast loopback. PRINT logs the whole store and its
# digest.

load helpers

setup() {
	kvmc_setup 21000
}

# digest [KEY VALUE]...: the state digest of a store holding these
# entries, computed here, independently of kvmc: the sum modulo 2^64 of
# FNV-1a-64 over the bytes KEY, 0x00, VALUE; 16 lower-case hex digits.
# With one argument, the plain FNV-1a-64 of that string (to check this
# helper against the reference test vectors).
digest() {
	perl -MMath::BigInt -e '
		my $mask = Math::BigInt->new(2)**64 - 1;
		my $prime = Math::BigInt->new("1099511628211");
		sub fnv1a64 {
			my $h = Math::BigInt->from_hex("cbf29ce484222325");
			$h = (($h ^ $_) * $prime) & $mask for unpack "C*", shift;
			return $h;
		}
		my $sum = Math::BigInt->new(0);
		if (@ARGV == 1) {
			$sum = fnv1a64($ARGV[0]);
		}
		while (@ARGV >= 2) {
			my ($k, $v) = splice @ARGV, 0, 2;
			$sum = ($sum + fnv1a64("$k\0$v")) & $mask;
		}
		my $hex = substr($sum->as_hex, 2);
		print "0" x (16 - length $hex), $hex, "\n";
	' -- "$@"
}

# print_digest NODE [N]: the digest on NODE's Nth PRINT apply line.
print_digest() {
	field "$(log_line "$1" 'event=apply .*type=PRINT' "${2:-1}")" digest
}

@test "three nodes apply a SET with the same id, from, key and value" {
	start_node n1
	start_node n2
	start_node n3
	send_line n1 "SET x 1"
	for n in n1 n2 n3; do
		wait_log $n 'event=apply .*type=SET'
	done
	sent=$(log_line n1 'event=send')
	for n in n1 n2 n3; do
		line=$(log_line $n 'event=apply .*type=SET')
		assert_eq "$(field "$line" id)" "$(field "$sent" id)" "$n id"
		assert_eq "$(field "$line" from)" n1 "$n from"
		assert_eq "$(field "$line" key)" x "$n key"
		assert_eq "$(field "$line" value)" 1 "$n value"
		assert_eq "$(field "$line" order)" 1 "$n order"
	done
}

@test "each node counts its own local order" {
	start_node n1
	send_line n1 "SET a 1"
	wait_log n1 'event=apply order=1 .*key=a'
	# n2 joins late: the next SET is n1's second message but n2's first.
	start_node n2
	send_line n1 "SET b 2"
	wait_log n1 'event=apply .*key=b'
	wait_log n2 'event=apply .*key=b'
	assert_eq "$(field "$(log_line n1 'event=apply .*key=b')" order)" 2 "n1 order"
	assert_eq "$(field "$(log_line n2 'event=apply .*key=b')" order)" 1 "n2 order"
}

@test "GET and PRINT count in the local order too" {
	start_node n1
	send_line n1 "SET a 1"
	send_line n1 "GET a"
	send_line n1 "PRINT"
	send_line n1 "SET b 2"
	wait_log n1 'event=apply .*key=b'
	assert_match "$(log_line n1 'event=apply .*type=SET key=a')" 'order=1 '
	assert_match "$(log_line n1 'event=apply .*type=GET')" 'order=2 '
	assert_match "$(log_line n1 'event=apply .*type=PRINT')" 'order=3 '
	assert_match "$(log_line n1 'event=apply .*type=SET key=b')" 'order=4 '
}

@test "the sender applies its own SET only when its datagram comes back" {
	start_node n1
	send_line n1 "SET x 1"
	wait_log n1 'event=apply'
	# The send line comes first; the apply line carries the same id, and
	# from=n1, as for any message received from the network.
	sent=$(grep -n -m1 'event=send' "$(log_of n1)")
	applied=$(grep -n -m1 'event=apply' "$(log_of n1)")
	((${sent%%:*} < ${applied%%:*}))
	assert_eq "$(field "${applied#*:}" id)" "$(field "${sent#*:}" id)" id
	assert_eq "$(field "${applied#*:}" from)" n1 from
}

@test "SET replaces the old value" {
	start_node n1
	send_line n1 "SET x 1"
	send_line n1 "SET x 2"
	wait_count n1 'event=apply .*key=x' 2
	send_line n1 "GET x"
	wait_out n1 '^x = 2$'
}

@test "a SET from one node is seen by GET on another" {
	start_node n1
	start_node n2
	send_line n1 "SET color blue"
	wait_log n2 'event=apply .*key=color'
	send_line n2 "GET color"
	wait_out n2 '^color = blue$'
}

@test "GET of a key never set prints '(not set)'" {
	start_node n1
	send_line n1 "GET nothing"
	wait_out n1 '^nothing \(not set\)$'
}

@test "a GET is applied on every node with the value each one holds" {
	start_node n1
	start_node n2
	send_line n1 "SET x 1"
	wait_log n2 'event=apply .*type=SET key=x'
	send_line n2 "GET x"
	send_line n2 "GET y"
	for n in n1 n2; do
		wait_log $n 'event=apply .*type=GET key=y'
		assert_match "$(log_line $n 'event=apply .*type=GET key=x')" \
			"from=n2 type=GET key=x found=yes value=1$" "$n GET x"
		assert_match "$(log_line $n 'event=apply .*type=GET key=y')" \
			"from=n2 type=GET key=y found=no$" "$n GET y"
	done
}

@test "values with spaces, =, % and UTF-8 round-trip to another node" {
	start_node n1
	start_node n2
	value='héllo  wörld = 100% sûr ✓'
	send_line n1 "SET greeting $value"
	wait_log n2 'event=apply .*key=greeting'
	send_line n2 "GET greeting"
	wait_out n2 '^greeting = '
	assert_eq "$(cat "$(out_of n2)")" "greeting = $value" stdout
}

@test "a node joined by interface name replicates with one joined by address" {
	start_node byname --interface lo
	start_node byaddr --interface 127.0.0.1
	send_line byname "SET x 1"
	wait_log byaddr 'event=apply .*from=byname type=SET key=x value=1$'
	send_line byaddr "SET y 2"
	wait_log byname 'event=apply .*from=byaddr type=SET key=y value=2$'
}

@test "a replica with --no-input applies what others send" {
	start_node n1
	start_replica r1
	send_line n1 "SET x 1"
	wait_log r1 'event=apply .*from=n1 type=SET key=x value=1$'
}

# ------------------------------------------------------------ PRINT

@test "PRINT logs entries and digest, then one entry line per key" {
	start_node n1
	send_line n1 "SET b 2"
	send_line n1 "SET a 1"
	send_line n1 "PRINT"
	wait_log n1 'event=apply .*type=PRINT'
	wait_count n1 'event=entry' 2
	assert_match "$(log_line n1 'event=apply .*type=PRINT')" \
		'from=n1 type=PRINT entries=2 digest=[0-9a-f]{16}$'
	assert_match "$(log_line n1 'event=entry' 1)" 'event=entry key=a value=1$'
	assert_match "$(log_line n1 'event=entry' 2)" 'event=entry key=b value=2$'
}

@test "PRINT lists keys sorted bytewise" {
	start_node n1
	# Bytewise: % B Z _ a aa b ~ é (0xC3 0xA9 sorts after every ASCII byte).
	for key in b é aa '~' Z a _ B %; do
		send_line n1 "SET $key v"
	done
	send_line n1 "PRINT"
	wait_count n1 'event=entry' 9
	keys=$(grep -a 'event=entry' "$(log_of n1)" | sed 's/.* key=\([^ ]*\) .*/\1/' | tr '\n' ' ')
	assert_eq "$keys" "%25 B Z _ a aa b ~ %C3%A9 " "keys in PRINT order"
}

@test "PRINT of an empty store logs digest 0000000000000000 and no entries" {
	start_node n1
	send_line n1 "PRINT"
	send_line n1 "GET marker"
	wait_log n1 'event=apply .*type=GET'
	assert_match "$(log_line n1 'event=apply .*type=PRINT')" 'entries=0 digest=0000000000000000$'
	assert_eq "$(count_log n1 'event=entry')" 0 "entry lines"
}

@test "PRINT is logged by every node, with identical digests" {
	start_node n1
	start_node n2
	start_node n3
	send_line n2 "SET a 1"
	send_line n3 "SET b 2"
	send_line n1 "SET c 3"
	for n in n1 n2 n3; do
		wait_count $n 'event=apply .*type=SET' 3
	done
	send_line n1 "PRINT"
	for n in n1 n2 n3; do
		wait_log $n 'event=apply .*type=PRINT entries=3 '
		wait_count $n 'event=entry' 3
	done
	assert_eq "$(print_digest n2)" "$(print_digest n1)" "n2 digest"
	assert_eq "$(print_digest n3)" "$(print_digest n1)" "n3 digest"
}

@test "the digest helper of this test matches FNV-1a-64's reference vectors" {
	# Published test vectors of FNV-1a 64 (Fowler, Noll, Vo).
	assert_eq "$(digest "")" cbf29ce484222325 'FNV-1a-64("")'
	assert_eq "$(digest a)" af63dc4c8601ec8c 'FNV-1a-64("a")'
	assert_eq "$(digest foobar)" 85944171f73967e8 'FNV-1a-64("foobar")'
}

@test "the digest is the sum of FNV-1a-64 of key, NUL, value over all entries" {
	start_node n1
	send_line n1 "SET x old"
	send_line n1 "SET x 1"
	send_line n1 "SET greeting hello world"
	send_line n1 "SET clé välue ✓"
	send_line n1 "SET per%cent a=b"
	send_line n1 "PRINT"
	wait_log n1 'event=apply .*type=PRINT'
	expected=$(digest x 1 greeting "hello world" clé "välue ✓" per%cent a=b)
	assert_eq "$(print_digest n1)" "$expected" digest
	assert_match "$(log_line n1 'event=apply .*type=PRINT')" ' entries=4 '
}

@test "equal stores have equal digests whatever the order of writes" {
	# Two separate clusters, on two ports, written in opposite orders.
	start_node n1
	PORT=$((PORT + 1)) start_node n2
	send_line n1 "SET a 1"
	send_line n1 "SET b 2"
	send_line n1 "SET c 3"
	send_line n2 "SET c 3"
	send_line n2 "SET b 2"
	send_line n2 "SET a 1"
	send_line n1 "PRINT"
	send_line n2 "PRINT"
	wait_log n1 'event=apply .*type=PRINT'
	wait_log n2 'event=apply .*type=PRINT'
	assert_eq "$(print_digest n2)" "$(print_digest n1)" digest
	assert_eq "$(print_digest n1)" "$(digest a 1 b 2 c 3)" digest
}

@test "the digest follows every SET that replaces a value" {
	start_node n1
	send_line n1 "SET k v1"
	send_line n1 "PRINT"
	send_line n1 "SET k v2"
	send_line n1 "PRINT"
	wait_count n1 'event=apply .*type=PRINT' 2
	assert_eq "$(print_digest n1 1)" "$(digest k v1)" "first digest"
	assert_eq "$(print_digest n1 2)" "$(digest k v2)" "second digest"
}
