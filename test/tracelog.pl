#!/usr/bin/env perl
# tracelog.pl N [NODES]: a made-up but well-formed kvmc log of N SET
# commands among NODES nodes (default 3), each applied by every node after
# a delay that varies, so that nodes apply some commands in different
# orders. Node by node on stdout, each in its own time order. For the
# trace tests and the bench.
use strict;
use warnings;

my ($n, $nodes) = (@ARGV, 3);
$n or die "usage: tracelog.pl N [NODES]\n";
my $t0 = 1795000000000;    # 2026-11-18, in ms
my %lines;                 # node -> [ [ts, kind, text] ... ]

sub stamp {
	my ($ms) = @_;
	my @t = gmtime(int($ms / 1000));
	sprintf "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", $t[5] + 1900, $t[4] + 1,
	    @t[3, 2, 1, 0], $ms % 1000;
}

for my $i (1 .. $n) {
	my $from = "node" . (1 + $i % $nodes);
	my $id = sprintf "%08x-0000-4000-8000-%012x", $i, $i;
	my $ts = $t0 + 2 * $i;
	my $kv = "key=k" . ($i % 97) . " value=v$i";
	push @{ $lines{$from} }, [ $ts, 0, "event=send id=$id from=$from type=SET $kv" ];
	for my $k (1 .. $nodes) {
		my $delay = ($i * 7 + $k * 13) % 23;
		push @{ $lines{"node$k"} },
		    [ $ts + $delay, 1, "id=$id from=$from type=SET $kv" ];
	}
}
for my $node (sort keys %lines) {
	my $order = 0;
	for my $l (sort { $a->[0] <=> $b->[0] || $a->[1] <=> $b->[1] } @{ $lines{$node} }) {
		my $what = $l->[1] ? "event=apply order=" . ++$order . " $l->[2]" : $l->[2];
		print "ts=", stamp($l->[0]), " level=info node=$node $what\n";
	}
}
