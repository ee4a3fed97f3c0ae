#!/usr/bin/env bats
# The store on its own (kv.c): test/kv_test.c states the expectations,
# built here with the project's warnings and, when the compiler has
# them, AddressSanitizer and UndefinedBehaviorSanitizer.

setup_file() {
	cd "$BATS_TEST_DIRNAME/.." || return 1
	local flags=(-std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Wpedantic -Werror -O1 -g)
	if echo 'int main(void){return 0;}' |
		cc -x c -fsanitize=address,undefined -o /dev/null - 2>/dev/null; then
		flags+=(-fsanitize=address,undefined -fno-sanitize-recover=all)
	fi
	cc "${flags[@]}" -o "$BATS_FILE_TMPDIR/kv_test" test/kv_test.c kv.c log.c
}

@test "the store sets, replaces, gets, deletes, grows, lists sorted, and keeps its digest" {
	run "$BATS_FILE_TMPDIR/kv_test"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "kv: all expectations held" ]
}
