#!/usr/bin/env bats
# kvmc trace: node logs in, a space-time diagram (SVG) or a ShiViz log out.
# Most tests feed it hand-made logs, so every arrow and every vector clock
# is known in advance; the last ones trace a real run on loopback.

load helpers

setup() {
	kvmc_setup 38000
	T=$BATS_TEST_TMPDIR
}

A=aaaaaaaa-0000-4000-8000-000000000001
B=bbbbbbbb-0000-4000-8000-000000000002
C=cccccccc-0000-4000-8000-000000000003
K=dddddddd-0000-4000-8000-000000000004
WARN='#d62728' # the warning colour of crossed arrows

# at MS NODE EVENT...: one log line of NODE at 21:49:57.MS.
at() {
	echo "ts=2026-11-26T21:49:57.$1Z level=info node=$2 event=${*:3}"
}

# three_nodes: node1 sets x=1 while node2 sets x=2; node1 and node3 apply
# x=1 first, node2 x=2 first: two crossing SETs. Then node3 sets y=3,
# which every node applies last. node1 asks a CHECK. One file per node.
three_nodes() {
	{
		at 000 node1 start version=0.1.0
		at 100 node1 send id=$A from=node1 type=SET key=x value=1
		at 100 node1 apply order=1 id=$A from=node1 type=SET key=x value=1
		at 400 node1 apply order=2 id=$B from=node2 type=SET key=x value=2
		at 501 node1 apply order=3 id=$C from=node3 type=SET key=y value=3
		at 700 node1 send id=$K from=node1 type=CHECK
		at 800 node1 check_result id=$K verdict=DIVERGED nodes=3
	} >"$T/node1.log"
	{
		at 150 node2 send id=$B from=node2 type=SET key=x value=2
		at 150 node2 apply order=1 id=$B from=node2 type=SET key=x value=2
		at 400 node2 apply order=2 id=$A from=node1 type=SET key=x value=1
		at 501 node2 apply order=3 id=$C from=node3 type=SET key=y value=3
		at 700 node2 apply id=$K from=node1 type=CHECK
	} >"$T/node2.log"
	{
		at 101 node3 apply order=1 id=$A from=node1 type=SET key=x value=1
		at 151 node3 apply order=2 id=$B from=node2 type=SET key=x value=2
		at 500 node3 send id=$C from=node3 type=SET key=y value=3
		at 501 node3 apply order=3 id=$C from=node3 type=SET key=y value=3
	} >"$T/node3.log"
	LOGS=("$T/node1.log" "$T/node2.log" "$T/node3.log")
}

# count TEXT FILE: how many times TEXT occurs in FILE.
count() {
	grep -o -- "$1" "$2" | wc -l
}

# png_colours FILE: the number of distinct pixel values in an 8-bit PNG
# (RGB or RGBA, any filter), decoded here with core Perl alone.
png_colours() {
	perl -MCompress::Zlib -e '
		local $/;
		open my $fh, "<:raw", $ARGV[0] or die "$ARGV[0]: $!\n";
		my $d = <$fh>;
		substr($d, 0, 8) eq "\x89PNG\r\n\x1a\n" or die "not a PNG\n";
		my ($pos, $w, $h, $depth, $type, $idat) = (8, 0, 0, 0, 0, "");
		while ($pos < length $d) {
			my ($len, $tag) = unpack "N a4", substr($d, $pos, 8);
			my $body = substr($d, $pos + 8, $len);
			$pos += 12 + $len;
			($w, $h, $depth, $type) = unpack "N N C C", $body if $tag eq "IHDR";
			$idat .= $body if $tag eq "IDAT";
		}
		$depth == 8 && ($type == 2 || $type == 6) or die "type $type/$depth\n";
		my $bpp = $type == 6 ? 4 : 3;
		my $raw = uncompress($idat) // die "bad IDAT\n";
		my ($stride, @prev, %seen) = ($w * $bpp);
		@prev = (0) x $stride;
		for my $y (0 .. $h - 1) {
			my $f = ord substr($raw, $y * ($stride + 1), 1);
			my @cur = unpack "C*", substr($raw, $y * ($stride + 1) + 1, $stride);
			for my $i (0 .. $stride - 1) {
				my $a = $i >= $bpp ? $cur[$i - $bpp] : 0;
				my ($b, $c) = ($prev[$i], $i >= $bpp ? $prev[$i - $bpp] : 0);
				my $p = $a + $b - $c;
				my ($pa, $pb, $pc) = (abs($p - $a), abs($p - $b), abs($p - $c));
				my $pred = $f == 1 ? $a : $f == 2 ? $b
				    : $f == 3 ? int(($a + $b) / 2)
				    : $f == 4 ? ($pa <= $pb && $pa <= $pc ? $a : $pb <= $pc ? $b : $c)
				    : 0;
				$cur[$i] = ($cur[$i] + $pred) & 255;
			}
			$seen{ pack "C*", @cur[$_ * $bpp .. $_ * $bpp + $bpp - 1] } = 1
			    for 0 .. $w - 1;
			@prev = @cur;
		}
		print scalar(keys %seen), "\n";
	' "$1"
}

@test "three nodes and two crossing SETs: three lanes, an arrow per apply, the crossing pair in red" {
	three_nodes
	run --separate-stderr -0 "$KVMC" trace "${LOGS[@]}"
	assert_eq "$stderr" "" "stderr"
	echo "$output" >"$T/out.svg"
	assert_eq "$(count 'class="lane"' "$T/out.svg")" 3 "lanes"
	# 3 commands, each applied by 3 nodes; the CHECK is not a command.
	assert_eq "$(count 'class="arrow cmd' "$T/out.svg")" 9 "command arrows"
	# x=1 and x=2 cross (node2 against node1 and node3), on every lane;
	# y=3 comes last everywhere.
	assert_eq "$(count 'class="arrow cmd crossed" fill="none" stroke="'$WARN'"' \
		"$T/out.svg")" 6 "crossed arrows in the warning colour"
	assert_eq "$(grep 'class="arrow cmd"' "$T/out.svg" | grep -c "$WARN")" 0 \
		"plain arrows in the warning colour"
	# The CHECK is not a command: its one apply logged (node2's) is light.
	assert_eq "$(count 'class="arrow ctl"' "$T/out.svg")" 1 "CHECK arrows"
	assert_eq "$(count 'class="label"[^>]*>SET x=1<' "$T/out.svg")" 1 "label of x=1"
	assert_eq "$(count 'class="order"[^>]*>3<' "$T/out.svg")" 3 "apply numbers 3"
	# node2 ends with x=1: its digest is the minority one.
	grep -q 'class="digest minority"[^>]*>digest [0-9a-f]* differs' "$T/out.svg"
	assert_eq "$(count 'class="digest minority"' "$T/out.svg")" 1 "minority digests"
	grep -q 'class="caption"[^>]*>CHECK asked by node1: DIVERGED (3 nodes)<' "$T/out.svg"
	xmllint --noout "$T/out.svg"
}

@test "--shiviz: the parser regex first, then vector clocks from send -> apply edges" {
	three_nodes
	run --separate-stderr -0 "$KVMC" trace --shiviz "${LOGS[@]}"
	echo "$output" >"$T/out.shiviz"
	# Parse it back with the regex it printed; print host, event, clock
	# (entries sorted) for every line, in each host's order.
	run -0 perl -e '
		my $first = <STDIN>;
		$first =~ /^# ShiViz parser regex: (.*)$/ or die "first line: $first";
		my $re = qr/^$1$/;
		while (<STDIN>) {
			chomp;
			/$re/ or die "no match: $_\n";
			my ($host, $clock, $event) = ($+{host}, $+{clock}, $+{event});
			my %vc = $clock =~ /"([^"]+)":(\d+)/g;
			$event =~ s/ \([0-9a-f]{8}\)$//;
			push @{ $by{$host} }, "$host $event " .
			    join(",", map { "$_=$vc{$_}" } sort keys %vc);
		}
		print "$_\n" for map { @{ $by{$_} } } sort keys %by;
	' <"$T/out.shiviz"
	expected=(
		"node1 send SET x=1 node1=1"
		"node1 apply #1 SET x=1 node1=2"
		"node1 apply #2 SET x=2 node1=3,node2=1"
		"node1 apply #3 SET y=3 node1=4,node2=1,node3=3"
		"node1 send CHECK node1=5,node2=1,node3=3"
		"node1 check_result CHECK asked by node1: DIVERGED (3 nodes) node1=6,node2=1,node3=3"
		"node2 send SET x=2 node2=1"
		"node2 apply #1 SET x=2 node2=2"
		"node2 apply #2 SET x=1 node1=1,node2=3"
		"node2 apply #3 SET y=3 node1=1,node2=4,node3=3"
		"node2 apply CHECK node1=5,node2=5,node3=3"
		"node3 apply #1 SET x=1 node1=1,node3=1"
		"node3 apply #2 SET x=2 node1=1,node2=1,node3=2"
		"node3 send SET y=3 node1=1,node2=1,node3=3"
		"node3 apply #3 SET y=3 node1=1,node2=1,node3=4"
	)
	assert_eq "$output" "$(printf '%s\n' "${expected[@]}")" "clocks"
}

@test "lines that are not kvmc log lines are skipped and counted on stderr" {
	three_nodes
	"$KVMC" trace "${LOGS[@]}" >"$T/clean.svg"
	{
		echo "hello"
		cat "$T/node2.log"
		echo "ts=yesterday level=info node=node2 event=send"
		at 900 node2 apply order=4 id=not-a-uuid from=node1 type=SET key=x value=1
		echo
	} >"$T/messy.log"
	run --separate-stderr -0 "$KVMC" trace "$T/node1.log" "$T/messy.log" "$T/node3.log"
	assert_eq "$stderr" "kvmc trace: skipped 3 lines that are not kvmc log lines"
	assert_eq "$output" "$(cat "$T/clean.svg")" "the diagram"
	# A line too long to be one is skipped too, with bounded memory.
	{
		head -c 100000 /dev/zero | tr '\0' 'x'
		echo
		cat "$T/node1.log"
	} >"$T/long.log"
	run --separate-stderr -0 "$KVMC" trace "$T/long.log" "$T/node2.log" "$T/node3.log"
	assert_eq "$stderr" "kvmc trace: skipped 1 line that is not a kvmc log line"
	assert_eq "$output" "$(cat "$T/clean.svg")" "the diagram"
}

@test "no file, no events, an unreadable file or an unknown option: exit 2 with one line" {
	run --separate-stderr -2 "$KVMC" trace
	assert_eq "${#stderr_lines[@]}" 1 "lines for no file"
	assert_match "$stderr" '^kvmc trace: no log file given'
	echo "just some text" >"$T/junk.log"
	run --separate-stderr -2 "$KVMC" trace "$T/junk.log"
	assert_eq "$stderr" "kvmc trace: no kvmc events in the input (skipped 1 line that is not a kvmc log line)"
	run --separate-stderr -2 "$KVMC" trace - </dev/null
	assert_eq "$stderr" "kvmc trace: no kvmc events in the input"
	three_nodes
	run --separate-stderr -2 "$KVMC" trace "$T/node1.log" "$T/missing.log"
	assert_eq "$stderr" "kvmc trace: $T/missing.log: No such file or directory"
	assert_eq "$output" "" "stdout"
	run --separate-stderr -2 "$KVMC" trace "$T"
	assert_eq "$stderr" "kvmc trace: $T: Is a directory"
	run --separate-stderr -2 "$KVMC" trace --bogus "$T/node1.log"
	assert_eq "${#stderr_lines[@]}" 1 "lines for an unknown option"
	assert_match "$stderr" "^kvmc trace: unknown option '--bogus'"
}

@test "docker compose logs: name prefixes, colours, prompts and stdin give the same diagram" {
	three_nodes
	cat "${LOGS[@]}" | "$KVMC" trace - >"$T/plain.svg"
	# docker compose logs: a coloured "name  | " prefix; with a tty, the
	# prompt and the line redraw (CR, erase line) mixed in.
	perl -ne '
		($n) = /node=(\S+)/;
		$p = "\e[36mkv_$n  |\e[0m ";
		print $. % 2 ? "$p> \r\e[K$_" : "$p$_";
		print "$p> \n" if $. == 3;
	' "${LOGS[@]}" >"$T/compose.log"
	grep -q $'\r' "$T/compose.log"
	run --separate-stderr -0 "$KVMC" trace - <"$T/compose.log"
	assert_eq "$stderr" "" "stderr"
	assert_eq "$output" "$(cat "$T/plain.svg")" "the diagram"
}

@test "the same logs give the same bytes, in any file order" {
	three_nodes
	"$KVMC" trace "${LOGS[@]}" >"$T/1.svg"
	"$KVMC" trace "${LOGS[@]}" >"$T/2.svg"
	"$KVMC" trace "$T/node3.log" "$T/node1.log" "$T/node2.log" >"$T/3.svg"
	cmp "$T/1.svg" "$T/2.svg"
	cmp "$T/1.svg" "$T/3.svg"
	"$KVMC" trace --shiviz "${LOGS[@]}" >"$T/1.shiviz"
	"$KVMC" trace --shiviz "$T/node2.log" "$T/node3.log" "$T/node1.log" >"$T/2.shiviz"
	cmp "$T/1.shiviz" "$T/2.shiviz"
}

@test "hostile values are decoded for display and the SVG stays well-formed" {
	local v='%3C%26%3E%22%01%1B%7F%FF%EF%BF%BF%C2%85%20x'
	{
		at 100 n1 send id=$A from=n1 type=SET key=k%3Cey value=$v
		at 100 n1 apply order=1 id=$A from=n1 type=SET key=k%3Cey value=$v
		at 110 n1 send id=$B from=n1 type=GET key=%1B%5B2J
		at 111 n1 apply order=2 id=$B from=n1 type=GET key=%1B%5B2J found=no
	} >"$T/n1.log"
	run -0 "$KVMC" trace "$T/n1.log"
	echo "$output" >"$T/out.svg"
	xmllint --noout "$T/out.svg"
	# No control byte, not even in text.
	run perl -ne 'print if /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]/' "$T/out.svg"
	assert_eq "$output" "" "control bytes"
	grep -qF '>SET k&lt;ey=&lt;&amp;&gt;&quot;%01%1B%7F%FF%EF%BF%BF%C2%85 x<' "$T/out.svg"
	grep -qF '>GET %1B[2J<' "$T/out.svg"
	grep -qF '>k&lt;ey = &lt;&amp;&gt;' "$T/out.svg"
}

@test "ordered modes: holds as bars, drops as crosses, ORDER and NACK light" {
	local O=0d000000-0000-4000-8000-000000000001 N=0e000000-0000-4000-8000-000000000001
	{
		at 100 node1 send id=$A from=node1 type=SET key=x value=1 inc=1 seq=1
		at 100 node1 apply order=1 id=$A from=node1 type=SET key=x value=1 seq=1 gseq=1
		at 101 node1 sequence re=$A from=node1 seq=1 gseq=1
		echo "ts=2026-11-26T21:49:57.101Z level=debug node=node1 event=send id=$O from=node1 type=ORDER inc=1 re=$A gseq=1"
		at 300 node1 resend to=node2 of=gseq first=1 last=1 count=2
		at 350 node1 send id=$B from=node1 type=SET key=x value=2 inc=1 seq=2
	} >"$T/node1.log"
	{
		at 150 node2 sim_drop id=$O from=node1 type=ORDER
		at 250 node2 nack to=node1 of=gseq first=1 last=1
		at 260 node2 hold id=$A from=node1 type=SET seq=1 reason=total
		at 310 node2 apply order=1 id=$A from=node1 type=SET key=x value=1 seq=1 gseq=1
		at 360 node2 sim_drop id=$B from=node1 type=SET
		at 400 node2 gap_lost from=node1 first=2 last=2
	} >"$T/node2.log"
	run --separate-stderr -0 "$KVMC" trace "$T/node1.log" "$T/node2.log"
	echo "$output" >"$T/out.svg"
	xmllint --noout "$T/out.svg"
	assert_eq "$(count 'class="hold"' "$T/out.svg")" 1 "hold bars"
	# A dropped command, and a dropped ORDER (light).
	assert_eq "$(count 'class="drop"' "$T/out.svg")" 2 "crosses"
	assert_eq "$(count 'class="arrow cmd dropped"' "$T/out.svg")" 1 "dropped commands"
	assert_eq "$(count 'class="arrow ctl dropped"' "$T/out.svg")" 1 "dropped ORDERs"
	# The NACK and its resend: one light arrow between them.
	assert_eq "$(count 'class="arrow ctl" fill="none" stroke="#a8a8a8"' "$T/out.svg")" 1 "light arrows"
	grep -q '>NACK to node1 gseq 1-1<' "$T/out.svg"
	grep -q '>lost from node1 seq 2-2<' "$T/out.svg"
}

@test "a rendered diagram is not blank" {
	command -v rsvg-convert >/dev/null || skip "rsvg-convert is not installed"
	three_nodes
	"$KVMC" trace "${LOGS[@]}" >"$T/out.svg"
	rsvg-convert "$T/out.svg" >"$T/out.png"
	n=$(png_colours "$T/out.png")
	# White, ink, blue, red, grey, antialiasing: many; a blank page has 1.
	((n > 4)) || {
		echo "# only $n colours in the PNG" >&2
		return 1
	}
}

@test "a 10,000-command log of three nodes is drawn (time: see make bench)" {
	perl "$REPO/test/tracelog.pl" 10000 >"$T/big.log"
	run --separate-stderr -0 timeout 10 "$KVMC" trace "$T/big.log"
	assert_eq "$stderr" "" "stderr"
	echo "$output" >"$T/big.svg"
	assert_eq "$(count 'class="arrow cmd' "$T/big.svg")" 30000 "arrows"
	assert_eq "$(count 'class="lane"' "$T/big.svg")" 3 "lanes"
}

@test "a real run: two nodes on loopback, traced from their logs" {
	start_node node1 --hello-interval 0
	start_node node2 --hello-interval 0
	send_line node1 "SET x 1"
	wait_log node1 'event=send .*type=SET'
	send_line node2 "SET x 2"
	wait_count node1 'event=apply .*type=SET' 2
	wait_count node2 'event=apply .*type=SET' 2
	close_input node1
	close_input node2
	wait_exit node1
	wait_exit node2
	run --separate-stderr -0 "$KVMC" trace "$(log_of node1)" "$(log_of node2)"
	assert_eq "$stderr" "" "stderr"
	echo "$output" >"$T/run.svg"
	xmllint --noout "$T/run.svg"
	assert_eq "$(count 'class="lane"' "$T/run.svg")" 2 "lanes"
	assert_eq "$(count 'class="arrow cmd' "$T/run.svg")" 4 "arrows"
	assert_eq "$(count 'class="label"[^>]*>SET x=2<' "$T/run.svg")" 1 "label"
	# Each node's last event has heard of both sends.
	run -0 "$KVMC" trace --shiviz "$(log_of node1)" "$(log_of node2)"
	assert_match "$(grep '^node1 ' <<<"$output" | tail -n 1)" '"node2":[1-9]'
	assert_match "$(grep '^node2 ' <<<"$output" | tail -n 1)" '"node1":[1-9]'
}

@test "a node on a terminal: its stream, prompts and redraws included, is traced" {
	command -v script >/dev/null || skip "script (util-linux) is not installed"
	start_replica node2 --hello-interval 0
	# node1 on a pseudo-terminal, as `docker run -t` gives it: log lines
	# and the prompt on one stream, CR LF line ends, the prompt redrawn.
	# trace reads logfmt: on a terminal that takes LOG_FORMAT=logfmt.
	mkfifo "$T/tty.in"
	local fd
	exec {fd}<>"$T/tty.in"
	script -qfec "env MULTICAST_IF=127.0.0.1 LOG_FORMAT=logfmt $KVMC --node-id node1 \
		--port $PORT --hello-interval 0" "$T/tty.out" \
		<"$T/tty.in" >/dev/null 3>&- &
	EXTRA_PIDS+=($!)
	wait_file "$T/tty.out" 'event=ready' 1 "$WAIT"
	printf 'SET x 1\r' >&"$fd"
	wait_file "$T/tty.out" 'event=apply' 1 "$WAIT"
	wait_log node2 'event=apply'
	printf 'EXIT\r' >&"$fd"
	wait_file "$T/tty.out" 'event=stop' 1 "$WAIT"
	exec {fd}>&-
	grep -q $'\e\\[K' "$T/tty.out"
	sed 's/^/kv_node1  | /' "$T/tty.out" >"$T/compose.log"
	run --separate-stderr -0 "$KVMC" trace "$T/compose.log" "$(log_of node2)"
	echo "$output" >"$T/tty.svg"
	xmllint --noout "$T/tty.svg"
	assert_eq "$(count 'class="lane"' "$T/tty.svg")" 2 "lanes"
	assert_eq "$(count 'class="arrow cmd' "$T/tty.svg")" 2 "arrows"
	# Only script's own first and last lines (where it writes them) are
	# not the node's.
	assert_match "$stderr" '^(|kvmc trace: skipped (1 line|2 lines) that .*)$' "stderr"
}
