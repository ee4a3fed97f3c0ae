#!/usr/bin/env bats
# The store on its own (kv.c): test/kv_test.c states the expectations.
# `make test` builds it with the project's flags (and with the sanitizers
# under `make test SANITIZE=1`).

setup_file() {
	cd "$BATS_TEST_DIRNAME/.." || return 1
	[[ -x test/kv_test ]] || {
		echo "# test/kv_test is missing: run make test" >&2
		return 1
	}
}

@test "the store sets, replaces, gets, deletes, grows, lists sorted, and keeps its digest" {
	run test/kv_test
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "kv: all expectations held" ]
}
