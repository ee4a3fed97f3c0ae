#!/usr/bin/env perl
# siphash.pl - SipHash-2-4 written apart from kvmc's, from the paper, for
# test/key.bats to check kvmc's against: 64-bit words are kept as two
# 32-bit halves, so no perl integer ever overflows.
#
#   perl test/siphash.pl KEYHEX < message    the tag of stdin (all of it)
#                                            under the key, %016x
#   perl test/siphash.pl --vectors           the 64 values of the reference
#                                            key 00..0f and messages
#                                            00..(n-1), n = 0..63
#   perl test/siphash.pl --seal KEYHEX < line  the line (its final newline
#                                            removed) with " mac=<tag>\n"
use strict;
use warnings;

my $M = 0xffffffff;

sub add64 {
	my ($x, $y) = @_;
	my $lo = $x->[1] + $y->[1];
	return [($x->[0] + $y->[0] + ($lo >> 32)) & $M, $lo & $M];
}

sub xor64 { return [$_[0][0] ^ $_[1][0], $_[0][1] ^ $_[1][1]] }

sub rotl64 {
	my ($x, $n) = @_;
	my ($hi, $lo) = @$x;
	($hi, $lo, $n) = ($lo, $hi, $n - 32) if $n >= 32;
	return [$hi, $lo] if $n == 0;
	return [(($hi << $n) | ($lo >> (32 - $n))) & $M,
		(($lo << $n) | ($hi >> (32 - $n))) & $M];
}

sub sipround {
	my $v = shift;
	$v->[0] = add64($v->[0], $v->[1]); $v->[1] = rotl64($v->[1], 13);
	$v->[1] = xor64($v->[1], $v->[0]); $v->[0] = rotl64($v->[0], 32);
	$v->[2] = add64($v->[2], $v->[3]); $v->[3] = rotl64($v->[3], 16);
	$v->[3] = xor64($v->[3], $v->[2]);
	$v->[0] = add64($v->[0], $v->[3]); $v->[3] = rotl64($v->[3], 21);
	$v->[3] = xor64($v->[3], $v->[0]);
	$v->[2] = add64($v->[2], $v->[1]); $v->[1] = rotl64($v->[1], 17);
	$v->[1] = xor64($v->[1], $v->[2]); $v->[2] = rotl64($v->[2], 32);
}

# Eight bytes, little-endian, as [high half, low half].
sub le64 {
	my @b = unpack 'C8', shift;
	return [$b[4] | $b[5] << 8 | $b[6] << 16 | $b[7] << 24,
		$b[0] | $b[1] << 8 | $b[2] << 16 | $b[3] << 24];
}

# SipHash-2-4 of $msg under the 16-byte $key; 16 lower-case hex digits.
sub siphash {
	my ($key, $msg) = @_;
	my ($k0, $k1) = (le64(substr $key, 0, 8), le64(substr $key, 8, 8));
	my @v = (xor64($k0, [0x736f6d65, 0x70736575]),
		xor64($k1, [0x646f7261, 0x6e646f6d]),
		xor64($k0, [0x6c796765, 0x6e657261]),
		xor64($k1, [0x74656462, 0x79746573]));
	my $len = length $msg;
	# Zeros up to a multiple of 8 minus one byte, then the length mod 256.
	my $padded = $msg . ("\0" x (7 - $len % 8)) . chr($len & 255);
	for (my $i = 0; $i < length $padded; $i += 8) {
		my $m = le64(substr $padded, $i, 8);
		$v[3] = xor64($v[3], $m);
		sipround(\@v) for 1 .. 2;
		$v[0] = xor64($v[0], $m);
	}
	$v[2] = xor64($v[2], [0, 0xff]);
	sipround(\@v) for 1 .. 4;
	my $r = xor64(xor64($v[0], $v[1]), xor64($v[2], $v[3]));
	return sprintf '%08x%08x', @$r;
}

sub key_of {
	my $hex = shift // '';
	die "siphash.pl: a key is 32 hex digits\n" unless $hex =~ /^[0-9a-fA-F]{32}$/;
	return pack 'H32', $hex;
}

binmode STDIN;
if (@ARGV == 1 && $ARGV[0] eq '--vectors') {
	my $key = pack 'C16', 0 .. 15;
	print siphash($key, pack('C*', 0 .. $_ - 1)), "\n" for 0 .. 63;
} elsif (@ARGV == 2 && $ARGV[0] eq '--seal') {
	my $key = key_of($ARGV[1]);
	my $line = do { local $/; <STDIN> } // '';
	$line =~ s/\n\z//;
	print "$line mac=", siphash($key, $line), "\n";
} elsif (@ARGV == 1) {
	my $key = key_of($ARGV[0]);
	my $msg = do { local $/; <STDIN> } // '';
	print siphash($key, $msg), "\n";
} else {
	die "usage: siphash.pl KEYHEX < msg | --vectors | --seal KEYHEX < line\n";
}
