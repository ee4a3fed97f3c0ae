#!/usr/bin/env bats
# make install and make uninstall (PREFIX, DESTDIR): the binary and its
# manual page go where a Unix user looks for them, work from there, and
# go away again. And make test on a machine without the suite's tools
# says so in one line, before anything else.

bats_require_minimum_version 1.5.0

# path_without TOOL...: a directory holding every tool of this machine's
# PATH but those, to stand for a machine that lacks them.
path_without() {
	local bin=$BATS_TEST_TMPDIR/bin f name
	mkdir -p "$bin"
	for f in /usr/local/bin/* /usr/bin/* /bin/*; do
		name=${f##*/}
		[[ " $* " == *" $name "* || -e $bin/$name || -L $bin/$name ]] ||
			ln -s "$f" "$bin/$name"
	done
	echo "$bin"
}

setup() {
	cd "$BATS_TEST_DIRNAME/.." || return 1
	unset MAKEFLAGS MAKELEVEL
	DEST=$BATS_TEST_TMPDIR/dest
	# make install builds ./kvmc first: of the flavour already there, so
	# that a run of the suite against the sanitizer build keeps it.
	FLAVOR=()
	if nm -D ./kvmc 2>/dev/null | grep -q __asan_init; then
		FLAVOR=(SANITIZE=1)
	fi
}

@test "make install puts kvmc and kvmc.1 under DESTDIR and PREFIX" {
	run -0 make -s "${FLAVOR[@]}" install DESTDIR="$DEST" PREFIX=/opt/kv
	[ -x "$DEST/opt/kv/bin/kvmc" ]
	[ -f "$DEST/opt/kv/share/man/man1/kvmc.1" ]
	run -0 "$DEST/opt/kv/bin/kvmc" --version
	[[ $output =~ ^kvmc\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
	cmp kvmc.1 "$DEST/opt/kv/share/man/man1/kvmc.1"
	[ "$(stat -c %a "$DEST/opt/kv/share/man/man1/kvmc.1")" = 644 ]
	[ "$(stat -c %a "$DEST/opt/kv/bin/kvmc")" = 755 ]
}

@test "the installed manual page reads with man -l" {
	command -v man >/dev/null || skip "man is not installed"
	run -0 make -s "${FLAVOR[@]}" install DESTDIR="$DEST"
	page=$(MANWIDTH=80 man -l "$DEST/usr/local/share/man/man1/kvmc.1" 2>/dev/null)
	[[ $page == *NAME* ]]
	[[ $page == *"kvmc trace"* ]]
	[[ $page == *"--port N, MULTICAST_PORT"* ]]
}

@test "PREFIX defaults to /usr/local" {
	run -0 make -s "${FLAVOR[@]}" install DESTDIR="$DEST"
	[ -x "$DEST/usr/local/bin/kvmc" ]
	[ -f "$DEST/usr/local/share/man/man1/kvmc.1" ]
}

@test "make uninstall leaves no file behind" {
	run -0 make -s "${FLAVOR[@]}" install DESTDIR="$DEST" PREFIX=/opt/kv
	# Something else installed beside kvmc stays.
	echo other >"$DEST/opt/kv/bin/other"
	run -0 make -s "${FLAVOR[@]}" uninstall DESTDIR="$DEST" PREFIX=/opt/kv
	run find "$DEST" -type f
	[ "$output" = "$DEST/opt/kv/bin/other" ]
	# Uninstalling twice is not an error.
	run -0 make -s "${FLAVOR[@]}" uninstall DESTDIR="$DEST" PREFIX=/opt/kv
}

@test "make test without bats or perl stops at once with one line naming them" {
	bin=$(path_without bats perl)
	run env PATH="$bin" make test
	echo "$output"
	[ "$status" -ne 0 ]
	[ "${lines[0]}" = "make test: bats, perl not found; on Debian: apt-get install -y bats perl" ]
	# Nothing else ran: make's own error line is all that follows.
	[ "${#lines[@]}" -le 2 ]
	[[ ${lines[1]:-make:} == make:* ]]
}

@test "test/run.sh names only what is missing" {
	bin=$(path_without perl)
	run env PATH="$bin" bash test/run.sh --deps
	[ "$status" -eq 1 ]
	[ "$output" = "make test: perl not found; on Debian: apt-get install -y perl" ]
	run -0 bash test/run.sh --deps
	[ -z "$output" ]
}
