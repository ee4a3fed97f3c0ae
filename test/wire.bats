#!/usr/bin/env bats
# The wire format (SPEC section 3) as a receiver sees it: test/rawsend puts
# crafted datagrams on the group, and node n1 must apply the good ones and
# reject each bad one with the right reason - the first broken rule in the
# SPEC's list - its source and its real length, changing nothing.
#
# Every datagram here comes from a node "peer" that does not exist and
# would set key k; after a reject, `GET k` must still say "(not set)".

load helpers

setup() {
	kvmc_setup 23000
	# No heartbeat: only a test's own datagrams reach the node.
	export HELLO_INTERVAL=0
	start_node n1
	ID=$(uuid 1)
	ID2=$(uuid 2)
}

# expect_reject REASON BYTES: send BYTES (printf %b escapes: \n, \x00 ...)
# as one datagram; n1 must log it at warn as
#   event=reject reason=REASON src=127.0.0.1:PORT bytes=<length of BYTES>
expect_reject() {
	local reason=$1 file=$BATS_TEST_TMPDIR/datagram before len line
	printf '%b' "$2" >"$file"
	len=$(wc -c <"$file")
	before=$(count_log n1 'event=reject')
	timeout 5 "$RAWSEND" "$GROUP" "$PORT" <"$file"
	wait_count n1 'event=reject' $((before + 1))
	line=$(log_line n1 'event=reject' $((before + 1)))
	assert_match "$line" \
		"level=warn node=n1 event=reject reason=$reason src=127\.0\.0\.1:[0-9]+ bytes=$len$" \
		"the reject of '$(head -c 200 "$file" | cat -v)'"
}

# store_unchanged: nothing was applied - n1's store has no k and its next
# message (this GET) is the first in its local order - and n1 still works.
store_unchanged() {
	send_line n1 "GET k"
	wait_out n1 '^k '
	assert_eq "$(cat "$(out_of n1)")" "k (not set)" "GET k"
	wait_log n1 'event=apply'
	assert_match "$(log_line n1 'event=apply')" \
		'event=apply order=1 .*from=n1 type=GET key=k found=no$' "first apply"
}

# ------------------------------------------------------------ accepted

@test "a valid SET datagram is applied" {
	datagram "v=1 type=SET id=$ID from=peer key=k value=v\n"
	wait_log n1 "event=apply order=1 id=$ID from=peer type=SET key=k value=v$"
}

@test "fields after v=1 may come in any order" {
	datagram "v=1 value=v from=peer key=k id=$ID type=SET\n"
	wait_log n1 "event=apply .*id=$ID from=peer type=SET key=k value=v$"
}

@test "valid GET and PRINT datagrams are applied" {
	datagram "v=1 type=GET id=$ID from=peer key=k\n"
	datagram "v=1 type=PRINT id=$ID2 from=peer\n"
	wait_log n1 "event=apply order=1 id=$ID from=peer type=GET key=k found=no$"
	wait_log n1 "event=apply order=2 id=$ID2 from=peer type=PRINT entries=0 digest=0000000000000000$"
}

@test "a datagram of exactly 1400 bytes is applied" {
	# 76 bytes besides the value: "v=1 type=SET id=<36> from=peer key=k
	# value=" and the final "\n".
	datagram "v=1 type=SET id=$ID from=peer key=k value=$(repeat 1324 v)\n"
	wait_log n1 "event=apply .*key=k value=v{1324}$"
}

@test "an empty value is valid" {
	datagram "v=1 type=SET id=$ID from=peer key=k value=\n"
	wait_log n1 "event=apply .*type=SET key=k value=$"
}

@test "escapes are decoded in upper or lower case and logged in upper case" {
	datagram "v=1 type=SET id=$ID from=peer key=%6b value=%c3%a9%3d%25%20\n"
	wait_log n1 "event=apply .*type=SET key=k value=%C3%A9%3D%25%20$"
	send_line n1 "GET k"
	wait_out n1 '^k = é=% $'
}

@test "a key of 255 bytes after decoding is valid" {
	datagram "v=1 type=SET id=$ID from=peer key=$(repeat 255 %41) value=v\n"
	wait_log n1 "event=apply .*key=A{255} value=v$"
}

@test "a node id of 32 characters is a valid from" {
	from=Az09._-Az09._-Az09._-Az09._-Az09
	datagram "v=1 type=SET id=$ID from=$from key=k value=v\n"
	wait_log n1 "event=apply .*from=$from type=SET"
}

# ------------------------------------------------------------ too_long

@test "too_long: a datagram over 1400 bytes" {
	expect_reject too_long \
		"v=1 type=SET id=$ID from=peer key=k value=$(repeat 1325 v)\n"
	store_unchanged
}

@test "too_long reports the real length of a 65000-byte datagram" {
	# 76 bytes of fields and newline, and a value of 64924 bytes.
	expect_reject too_long \
		"v=1 type=SET id=$ID from=peer key=k value=$(repeat 64924 v)\n"
	assert_match "$(log_line n1 'reason=too_long')" ' bytes=65000$'
	store_unchanged
}

@test "too_long comes before every other reason" {
	# No newline, NUL bytes, no fields at all: still too_long first.
	expect_reject too_long "$(repeat 2000 '\x00')"
	store_unchanged
}

# ------------------------------------------------------------ no_newline

@test "no_newline: a datagram that does not end with a newline" {
	expect_reject no_newline "v=1 type=SET id=$ID from=peer key=k value=v"
	expect_reject no_newline "v=1 type=SET id=$ID from=peer key=k value=v\n\r"
	store_unchanged
}

@test "no_newline: an empty datagram" {
	expect_reject no_newline ""
	store_unchanged
}

@test "no_newline comes before bad_byte" {
	expect_reject no_newline "v=1 type=SET id=$ID from=peer key=k value=a\x01b"
	store_unchanged
}

# ------------------------------------------------------------ bad_byte

@test "bad_byte: CR, NUL, DEL, tab, non-ASCII or an inner newline" {
	expect_reject bad_byte "v=1 type=SET id=$ID from=peer key=k value=v\r\n"
	expect_reject bad_byte "v=1 type=SET id=$ID from=peer key=k value=a\x00b\n"
	expect_reject bad_byte "v=1 type=SET id=$ID from=peer key=k value=a\x7fb\n"
	expect_reject bad_byte "v=1 type=SET id=$ID from=peer key=k value=a\tb\n"
	expect_reject bad_byte "v=1 type=SET id=$ID from=peer key=k value=\xc3\xa9\n"
	expect_reject bad_byte "v=1 type=SET id=$ID from=peer key=k value=a\nb\n"
	expect_reject bad_byte "v=1 type=SET id=$ID from=peer key=k value=a\x1b[2Jb\n"
	store_unchanged
}

@test "bad_byte comes before bad_field" {
	expect_reject bad_byte "v=1  type=SET id=$ID from=peer key=k value=a\x01b\n"
	store_unchanged
}

# ------------------------------------------------------------ bad_field

@test "bad_field: an empty token from a leading, trailing or double space" {
	expect_reject bad_field " v=1 type=SET id=$ID from=peer key=k value=v\n"
	expect_reject bad_field "v=1 type=SET id=$ID from=peer key=k value=v \n"
	expect_reject bad_field "v=1 type=SET  id=$ID from=peer key=k value=v\n"
	store_unchanged
}

@test "bad_field: a datagram that is only a newline" {
	expect_reject bad_field "\n"
	store_unchanged
}

@test "bad_field: a token without =" {
	expect_reject bad_field "v=1 type=SET id=$ID from=peer key=k value=v extra\n"
	store_unchanged
}

@test "bad_field: a raw = inside a value" {
	expect_reject bad_field "v=1 type=SET id=$ID from=peer key=k value=a=b\n"
	store_unchanged
}

@test "bad_field: a name that is not one or more of a-z" {
	expect_reject bad_field "v=1 type=SET id=$ID from=peer Key=k value=v\n"
	expect_reject bad_field "v=1 type=SET id=$ID from=peer key2=k value=v\n"
	expect_reject bad_field "v=1 type=SET id=$ID from=peer =k value=v\n"
	expect_reject bad_field "v=1 type=SET id=$ID from=peer key_=k value=v\n"
	store_unchanged
}

@test "bad_field comes before bad_version" {
	expect_reject bad_field "v=2 type=SET id=$ID from=peer key=k value=v extra\n"
	store_unchanged
}

# ------------------------------------------------------------ bad_version

@test "bad_version: a version other than 1" {
	expect_reject bad_version "v=2 type=SET id=$ID from=peer key=k value=v\n"
	expect_reject bad_version "v=01 type=SET id=$ID from=peer key=k value=v\n"
	expect_reject bad_version "v=10 type=SET id=$ID from=peer key=k value=v\n"
	expect_reject bad_version "v= type=SET id=$ID from=peer key=k value=v\n"
	expect_reject bad_version "v=%31 type=SET id=$ID from=peer key=k value=v\n"
	store_unchanged
}

@test "bad_version: v=1 is not the first field, or is missing" {
	expect_reject bad_version "type=SET v=1 id=$ID from=peer key=k value=v\n"
	expect_reject bad_version "type=SET id=$ID from=peer key=k value=v\n"
	store_unchanged
}

@test "bad_version comes before unknown_field" {
	expect_reject bad_version "v=2 type=SET id=$ID from=peer key=k value=v color=red\n"
	store_unchanged
}

# ------------------------------------------------------------ unknown_field

@test "unknown_field: a field name not in the table" {
	expect_reject unknown_field "v=1 type=SET id=$ID from=peer key=k value=v color=red\n"
	store_unchanged
}

@test "unknown_field comes before duplicate_field" {
	expect_reject unknown_field \
		"v=1 type=SET id=$ID from=peer key=k key=k value=v color=red\n"
	store_unchanged
}

# ------------------------------------------------------------ duplicate_field

@test "duplicate_field: a field given twice" {
	expect_reject duplicate_field "v=1 type=SET id=$ID from=peer key=k key=j value=v\n"
	expect_reject duplicate_field "v=1 type=SET id=$ID from=peer key=k value=v v=1\n"
	expect_reject duplicate_field "v=1 type=SET id=$ID from=peer key=k value=v value=v\n"
	store_unchanged
}

@test "duplicate_field comes before bad_escape" {
	expect_reject duplicate_field "v=1 type=SET id=$ID from=peer key=%ZZ key=k value=v\n"
	store_unchanged
}

# ------------------------------------------------------------ bad_escape

@test "bad_escape: % not followed by two hex digits, in key or value" {
	expect_reject bad_escape "v=1 type=SET id=$ID from=peer key=k value=%4\n"
	expect_reject bad_escape "v=1 type=SET id=$ID from=peer key=k value=%G1\n"
	expect_reject bad_escape "v=1 type=SET id=$ID from=peer key=k value=a%zzb\n"
	expect_reject bad_escape "v=1 type=SET id=$ID from=peer key=% value=v\n"
	expect_reject bad_escape "v=1 type=SET id=$ID from=peer key=k% value=v\n"
	store_unchanged
}

@test "bad_escape: %00, since keys and values hold no NUL" {
	expect_reject bad_escape "v=1 type=SET id=$ID from=peer key=k value=a%00b\n"
	expect_reject bad_escape "v=1 type=SET id=$ID from=peer key=k%00 value=v\n"
	store_unchanged
}

@test "bad_escape comes before bad_type" {
	expect_reject bad_escape "v=1 type=FOO id=$ID from=peer key=k value=%ZZ\n"
	store_unchanged
}

# ------------------------------------------------------------ bad_type

@test "bad_type: a type that is not SET, GET or PRINT in upper case" {
	expect_reject bad_type "v=1 type=set id=$ID from=peer key=k value=v\n"
	expect_reject bad_type "v=1 type=FOO id=$ID from=peer key=k value=v\n"
	expect_reject bad_type "v=1 type= id=$ID from=peer key=k value=v\n"
	expect_reject bad_type "v=1 type=S%45T id=$ID from=peer key=k value=v\n"
	store_unchanged
}

@test "bad_type comes before bad_id" {
	expect_reject bad_type "v=1 type=FOO id=nope from=peer key=k value=v\n"
	store_unchanged
}

# ------------------------------------------------------------ bad_id

@test "bad_id: an id that is not a lower-case version 4 UUID" {
	for id in \
		00000001-0000-4000-8000-00000000000A \
		00000001-0000-1000-8000-000000000001 \
		00000001-0000-4000-c000-000000000001 \
		00000001-0000-4000-8000-00000000001 \
		00000001-0000-4000-8000-0000000000011 \
		00000001000040008000000000000001 \
		00000001-0000-4000-8000-00000000000g \
		00000001-0000-4000-8000-%30%30%30%30%30%30%30%30%30%30%30%31 \
		''; do
		expect_reject bad_id "v=1 type=SET id=$id from=peer key=k value=v\n"
	done
	store_unchanged
}

@test "bad_id comes before bad_from" {
	expect_reject bad_id "v=1 type=SET id=nope from=bad/id key=k value=v\n"
	store_unchanged
}

# ------------------------------------------------------------ bad_from

@test "bad_from: a sender id that breaks the NODE_ID rule" {
	for from in '' a/b 123456789012345678901234567890123 pe%65r 'a:b'; do
		expect_reject bad_from "v=1 type=SET id=$ID from=$from key=k value=v\n"
	done
	store_unchanged
}

@test "bad_from comes before bad_key" {
	expect_reject bad_from "v=1 type=SET id=$ID from=a/b key= value=v\n"
	store_unchanged
}

# ------------------------------------------------------------ bad_key

@test "bad_key: an empty key" {
	expect_reject bad_key "v=1 type=SET id=$ID from=peer key= value=v\n"
	expect_reject bad_key "v=1 type=GET id=$ID from=peer key=\n"
	store_unchanged
}

@test "bad_key: a key over 255 bytes after decoding" {
	expect_reject bad_key "v=1 type=SET id=$ID from=peer key=$(repeat 256 %41) value=v\n"
	store_unchanged
}

@test "bad_key comes before bad_value" {
	expect_reject bad_key "v=1 type=SET id=$ID from=peer key= value=v order=01\n"
	store_unchanged
}

# ------------------------------------------------------------ bad_value

@test "bad_value: a DIGEST field breaking its rule, even on a SET" {
	# re, digest, entries and order are known fields (of the later DIGEST
	# type); their values are checked before the type's field list.
	expect_reject bad_value "v=1 type=SET id=$ID from=peer key=k value=v re=nope\n"
	expect_reject bad_value "v=1 type=SET id=$ID from=peer key=k value=v digest=ABCDEF0123456789\n"
	expect_reject bad_value "v=1 type=SET id=$ID from=peer key=k value=v digest=abc\n"
	expect_reject bad_value "v=1 type=SET id=$ID from=peer key=k value=v entries=01\n"
	expect_reject bad_value "v=1 type=SET id=$ID from=peer key=k value=v order=18446744073709551616\n"
	expect_reject bad_value "v=1 type=SET id=$ID from=peer key=k value=v order=-1\n"
	store_unchanged
}

@test "bad_value comes before missing_field" {
	expect_reject bad_value "v=1 type=SET id=$ID from=peer key=k order=01\n"
	store_unchanged
}

# ------------------------------------------------------------ missing_field

@test "missing_field: a field its type requires is missing" {
	expect_reject missing_field "v=1 type=SET id=$ID from=peer key=k\n"
	expect_reject missing_field "v=1 type=SET id=$ID from=peer value=v\n"
	expect_reject missing_field "v=1 type=GET id=$ID from=peer\n"
	expect_reject missing_field "v=1 type=SET from=peer key=k value=v\n"
	expect_reject missing_field "v=1 type=SET id=$ID key=k value=v\n"
	expect_reject missing_field "v=1 id=$ID from=peer key=k value=v\n"
	store_unchanged
}

@test "missing_field comes before unexpected_field" {
	expect_reject missing_field "v=1 type=GET id=$ID from=peer value=v\n"
	store_unchanged
}

# ------------------------------------------------------------ unexpected_field

@test "unexpected_field: a field its type forbids" {
	expect_reject unexpected_field "v=1 type=GET id=$ID from=peer key=k value=v\n"
	expect_reject unexpected_field "v=1 type=PRINT id=$ID from=peer key=k\n"
	expect_reject unexpected_field "v=1 type=PRINT id=$ID from=peer value=v\n"
	store_unchanged
}

@test "unexpected_field: a valid DIGEST field on a SET" {
	expect_reject unexpected_field "v=1 type=SET id=$ID from=peer key=k value=v re=$ID2\n"
	expect_reject unexpected_field "v=1 type=SET id=$ID from=peer key=k value=v digest=0123456789abcdef\n"
	expect_reject unexpected_field "v=1 type=SET id=$ID from=peer key=k value=v entries=0\n"
	expect_reject unexpected_field "v=1 type=SET id=$ID from=peer key=k value=v order=18446744073709551615\n"
	store_unchanged
}

# ------------------------------------------------------------ duplicates

@test "a datagram received twice is applied once, then logged as duplicate" {
	printf 'v=1 type=SET id=%s from=peer key=k value=v\n' "$ID" |
		timeout 5 "$RAWSEND" -n 2 "$GROUP" "$PORT"
	wait_log n1 "level=info node=n1 event=duplicate id=$ID from=peer type=SET$"
	assert_eq "$(count_log n1 'event=apply')" 1 "apply lines"
}

@test "a duplicate with another value is not applied either" {
	datagram "v=1 type=SET id=$ID from=peer key=k value=first\n"
	datagram "v=1 type=SET id=$ID from=peer key=k value=second\n"
	wait_log n1 "event=duplicate id=$ID "
	send_line n1 "GET k"
	wait_out n1 '^k = first$'
}

@test "a node's own message coming back twice is a duplicate, not an id conflict" {
	send_line n1 "SET x 1"
	wait_log n1 'event=apply .*key=x'
	id=$(field "$(log_line n1 'event=send')" id)
	datagram "v=1 type=SET id=$id from=n1 key=x value=1\n"
	wait_log n1 "event=duplicate id=$id from=n1 type=SET$"
	assert_no_log n1 'event=id_conflict'
}

@test "the ids of at least the last 4096 messages are remembered" {
	# Only this test's messages enter the window (no heartbeat, see
	# setup), all sent by one process.
	timeout 20 "$FLOOD" "$GROUP" "$PORT" valid peer 1 4096
	wait_count n1 'event=apply .*from=peer' 4096 20
	# The oldest of the last 4096 ids is still known.
	datagram "v=1 type=SET id=$(uuid 1) from=peer key=k value=again\n"
	wait_log n1 "event=duplicate id=$(uuid 1) "
	assert_no_log n1 'value=again'
}

@test "the id of a rejected datagram is not remembered" {
	expect_reject bad_key "v=1 type=SET id=$ID from=peer key= value=v\n"
	datagram "v=1 type=SET id=$ID from=peer key=k value=v\n"
	wait_log n1 "event=apply .*id=$ID from=peer type=SET key=k value=v$"
	assert_no_log n1 'event=duplicate'
}

# ------------------------------------------------------------ id_conflict

@test "a message from this node's id that it did not send is an id conflict" {
	datagram "v=1 type=SET id=$ID from=n1 key=k value=v\n"
	wait_log n1 "level=warn node=n1 event=id_conflict id=$ID from=n1( |$)"
	# It is still processed as usual.
	wait_log n1 "event=apply order=1 id=$ID from=n1 type=SET key=k value=v$"
}

@test "two nodes started with the same id see each other's messages as conflicts" {
	start_node twin2 --node-id n1
	send_line n1 "SET x 1"
	wait_log n1 'event=apply .*from=n1 type=SET key=x value=1$'
	id=$(field "$(log_line n1 'event=send')" id)
	wait_log twin2 "level=warn node=n1 event=id_conflict id=$id from=n1( |$)"
	wait_log twin2 "event=apply .*id=$id from=n1 type=SET key=x value=1$"
	# The node that sent it knows it did: no conflict there.
	assert_no_log n1 "event=id_conflict id=$id "
}
