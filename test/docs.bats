#!/usr/bin/env bats
# One source of truth for the settings: the program's --help. Every
# setting it lists (option, variable, default, and the valid range or
# words when the line starts with them) must be in README.md's settings
# table and in kvmc.1 with the same variable and the same default. A
# setting documented there that --help does not list yet is not an error.
# And the manual page itself: mandoc finds nothing in it, and it reads in
# an 80-column terminal.

setup() {
	cd "$BATS_TEST_DIRNAME/.." || return 1
	[[ -x ./kvmc ]] || {
		echo "# ./kvmc is missing: run make first" >&2
		return 1
	}
	./kvmc --help >"$BATS_TEST_TMPDIR/help"
}

# check_docs HELP README MAN: one line per disagreement, exit 1 if any.
# The shapes it reads:
#   --help  "  --option ARG  VARIABLE  [range or a|b|c, ][note, ]default: D"
#           and "  --flag  description" for an option without a value;
#   README  "| `--option ARG` | `VARIABLE` | `D` | valid |", where D may
#           be followed by a note in parentheses;
#   kvmc.1  ".It Fl \-option Ar ARG , Ev VARIABLE", its text up to the next
#           .It Fl, .Ss or .Sh holding the line "Default: D."; and
#           ".Ev VARIABLE" in the ENVIRONMENT section.
check_docs() {
	perl -e '
	use strict; use warnings;
	my ($helpf, $readme, $man) = @ARGV;
	sub slurp { open(my $f, "<", $_[0]) or die "$_[0]: $!\n"; local $/; <$f> }
	sub trim { my $s = shift; $s =~ s/^\s+|\s+$//g; $s }
	my (@order, %help, @bad);
	for (split /\n/, slurp($helpf)) {
		next unless /^  --([a-z][a-z-]*)(.*)$/;
		my ($opt, $rest) = ($1, $2);
		next if $opt eq "help";
		my %s = (var => "", default => undef, valid => "");
		if ($rest =~ /^ [A-Z]+\s+([A-Z][A-Z0-9_]*)\s+(.*)$/) {
			($s{var}, my $text) = ($1, $2);
			if ($text =~ /default: (.*)$/) { $s{default} = trim($1) }
			else { push @bad, "--help: --$opt gives no default" }
			$s{valid} = $1
			    if $text =~ /^(\d+-\d+|[a-z]+(?:\|[a-z]+)+)(?:,|$)/;
		}
		push @order, $opt;
		$help{$opt} = \%s;
	}
	push @bad, "--help: fewer than 10 settings found (" .
	    scalar(@order) . "): its shape changed?" if @order < 10;

	# README: the rows of the settings table.
	my %rd;
	for (split /\n/, slurp($readme)) {
		next unless /^\|\s*`--([a-z][a-z-]*)/;
		my $opt = $1;
		my @c = map { my $x = $_; $x =~ s/`//g; trim($x) } split /\|/;
		$rd{$opt} = { var => $c[2] // "", default => $c[3] // "",
		    valid => $c[4] // "" };
	}

	# kvmc.1: each .It Fl \-option item and its text.
	my (%mn, $cur, $env, $sect);
	for (split /\n/, slurp($man)) {
		if (/^\.Sh\s+(.*)$/) { $sect = $1; $cur = undef; next }
		if (/^\.Ss\s/) { $cur = undef; next }
		if (/^\.It Fl \\-([a-z][a-z-]*)(.*)$/) {
			my ($opt, $rest) = ($1, $2);
			$cur = $mn{$opt} = { var => "", default => undef, text => "" };
			$cur->{var} = $1 if $rest =~ /\bEv ([A-Z][A-Z0-9_]*)/;
			next;
		}
		$env .= "$_\n" if defined $sect && $sect eq "ENVIRONMENT";
		next unless $cur;
		$cur->{default} = $1 if /^Default: (.*)\.$/;
		(my $t = $_) =~ s/\\-/-/g;
		$cur->{text} .= "$t\n";
	}
	$env //= "";

	for my $opt (@order) {
		my $h = $help{$opt};
		for my $doc (["README.md", \%rd], ["kvmc.1", \%mn]) {
			my ($name, $d) = @$doc;
			my $x = $d->{$opt};
			if (!$x) { push @bad, "$name: --$opt is missing"; next }
			push @bad, "$name: --$opt: variable \"$x->{var}\", " .
			    "--help says \"$h->{var}\"" if $x->{var} ne $h->{var};
			next unless defined $h->{default};
			my $dd = $x->{default} // "(none found)";
			# A note in parentheses may follow: "268435456 (256 MiB)".
			$dd =~ s/\s+\([^()]*\)$// unless $h->{default} =~ /\)$/;
			push @bad, "$name: --$opt: default \"$dd\", --help says " .
			    "\"$h->{default}\"" if $dd ne $h->{default};
			my $where = $name eq "kvmc.1" ? $x->{text} : $x->{valid};
			for my $w (split /\|/, $h->{valid}) {
				push @bad, "$name: --$opt: valid values lack " .
				    "\"$w\" (--help: $h->{valid})"
				    if index($where, $w) < 0;
			}
		}
		push @bad, "kvmc.1: ENVIRONMENT lacks $h->{var}"
		    if $h->{var} ne "" && $env !~ /^\.Ev \Q$h->{var}\E\b/m;
	}
	print "$_\n" for @bad;
	exit(@bad ? 1 : 0);
	' "$@"
}

@test "--help lists every setting in one shape, each with its default" {
	run check_docs "$BATS_TEST_TMPDIR/help" README.md kvmc.1
	# Only the --help complaints here; the documents have their own tests.
	[[ $output != *"--help:"* ]] || {
		echo "$output"
		false
	}
	grep -q '^  --port N  *MULTICAST_PORT  *1-65535, default: 5007$' \
		"$BATS_TEST_TMPDIR/help"
}

@test "README.md's settings table and kvmc.1 agree with --help" {
	run check_docs "$BATS_TEST_TMPDIR/help" README.md kvmc.1
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "the check fails on a missing setting, a wrong default or variable" {
	cp README.md kvmc.1 "$BATS_TEST_TMPDIR/"
	cd "$BATS_TEST_TMPDIR"
	sed -i '/^| `--ttl N`/d' README.md
	sed -i 's/^| `--port N` | `MULTICAST_PORT` | `5007`/| `--port N` | `MULTICAST_PORT` | `5008`/' README.md
	sed -i 's/^\.It Fl \\-group Ar ADDR , Ev MULTICAST_GROUP$/.It Fl \\-group Ar ADDR , Ev GROUP/' kvmc.1
	sed -i '/^\.It Fl \\-check-window/,/^Default/s/^Default: 1000\.$/Default: 100./' kvmc.1
	sed -i 's/^\.Ev SIM_SEED ,$/.Ev SIM_SEEDS ,/' kvmc.1
	run check_docs help README.md kvmc.1
	echo "$output"
	[ "$status" -eq 1 ]
	[[ $output == *"README.md: --ttl is missing"* ]]
	[[ $output == *'README.md: --port: default "5008", --help says "5007"'* ]]
	[[ $output == *'kvmc.1: --group: variable "GROUP"'* ]]
	[[ $output == *'kvmc.1: --check-window: default "100", --help says "1000"'* ]]
	[[ $output == *"kvmc.1: ENVIRONMENT lacks SIM_SEED"* ]]
	[ "$(wc -l <<<"$output")" -eq 5 ]
}

@test "a setting documented but not yet in --help is no error" {
	grep -v -- '--sim-seed' "$BATS_TEST_TMPDIR/help" >"$BATS_TEST_TMPDIR/fewer"
	run check_docs "$BATS_TEST_TMPDIR/fewer" README.md kvmc.1
	[ "$status" -eq 0 ]
}

@test "a range or a list of words in --help must be in the documents" {
	cp README.md kvmc.1 "$BATS_TEST_TMPDIR/"
	cd "$BATS_TEST_TMPDIR"
	sed -i 's/^| `--ttl N` \(.*\)| 0-255 |$/| `--ttl N` \1| 0-254 |/' README.md
	sed -i 's/^\.Cm debug , info , warn$/.Cm debug , info , warning/' kvmc.1
	run check_docs help README.md kvmc.1
	echo "$output"
	[[ $output == *'README.md: --ttl: valid values lack "0-255"'* ]]
	[ "$status" -eq 1 ]
}

@test "mandoc -T lint finds nothing in kvmc.1" {
	command -v mandoc >/dev/null || skip "mandoc is not installed"
	run mandoc -T lint kvmc.1
	# Cross-references are looked up in this machine's manual database;
	# what it lacks says nothing about the page.
	output=$(grep -vE 'mandoc\.db lacks|referenced manual not found' \
		<<<"$output" || true)
	echo "$output"
	[ -z "$output" ]
}

@test "kvmc.1 fits an 80-column terminal" {
	if command -v man >/dev/null; then
		page=$(MANWIDTH=80 man -l kvmc.1 2>/dev/null)
	elif command -v mandoc >/dev/null; then
		page=$(mandoc -T utf8 -O width=80 kvmc.1)
	else
		skip "neither man nor mandoc is installed"
	fi
	[[ $page == *"--sim-seed N, SIM_SEED"* ]]
	# Characters, not bytes (the page has quotes and dashes of UTF-8), and
	# without the backspaces of bold and underlined ones.
	page=$(perl -CSD -pe 's/.\x08//g' <<<"$page")
	long=$(perl -CSD -nle 'print if length > 80' <<<"$page")
	echo "$long"
	[ -z "$long" ]
}
