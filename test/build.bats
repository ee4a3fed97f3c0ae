#!/usr/bin/env bats
# The hardening the normal build promises: a position-independent
# executable, full RELRO (read-only relocations, bound at start),
# stack protector and _FORTIFY_SOURCE's checked libc calls. Read from
# the binary itself, so a Makefile change that drops a flag fails here.
# The sanitizer build (make test SANITIZE=1) trades these for ASan and
# UBSan, so these tests skip against it.

setup() {
	cd "$BATS_TEST_DIRNAME/.." || return 1
	command -v readelf >/dev/null || skip "readelf is not installed"
}

# The hardening flags are the normal build's; not the sanitizer build's.
skip_if_sanitized() {
	if nm -D ./kvmc 2>/dev/null | grep -q __asan_init; then
		skip "./kvmc is the sanitizer build"
	fi
}

@test "kvmc is a position-independent executable" {
	skip_if_sanitized
	run readelf -h ./kvmc
	[[ $output == *"DYN (Position-Independent Executable"* ]]
}

@test "kvmc has full RELRO: a read-only segment and every symbol bound at start" {
	skip_if_sanitized
	run readelf -l ./kvmc
	[[ $output == *GNU_RELRO* ]]
	run readelf -d ./kvmc
	[[ $output == *BIND_NOW* ]]
}

@test "kvmc is built with the stack protector" {
	skip_if_sanitized
	run nm -D ./kvmc
	[[ $output == *__stack_chk_fail* ]]
}

@test "kvmc uses _FORTIFY_SOURCE's checked calls" {
	skip_if_sanitized
	run nm -D ./kvmc
	# The formatted writes are checked wherever the compiler cannot
	# prove the buffer large enough.
	[[ $output == *__snprintf_chk* ]]
	[[ $output == *__vsnprintf_chk* ]]
}

@test "the static binary needs no shared library and no interpreter" {
	[ -x ./kvmc-static ] || skip "make static has not been run"
	run readelf -l ./kvmc-static
	[[ $output != *INTERP* ]]
	run readelf -d ./kvmc-static
	[[ $output != *NEEDED* ]]
}

@test "with musl-gcc, the static binary is under 200 kB" {
	command -v musl-gcc >/dev/null || skip "musl-gcc is not installed"
	[ -x ./kvmc-static ] || skip "make static has not been run"
	# make static picks musl by itself when it is installed.
	run make -s -n -B static
	[[ $output == musl-gcc\ * ]]
	if grep -q GLIBC ./kvmc-static; then
		skip "kvmc-static was built with glibc before musl-gcc was here: make clean"
	fi
	size=$(stat -c %s ./kvmc-static)
	echo "# kvmc-static is $size bytes" >&2
	((size < 200000))
}
