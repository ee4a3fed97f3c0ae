#!/usr/bin/env bats
# The ordering layer on its own (order.c): test/order_test.c states the
# expectations. `make test` builds it with the project's flags (and with
# the sanitizers under `make test SANITIZE=1`).

setup_file() {
	cd "$BATS_TEST_DIRNAME/.." || return 1
	[[ -x test/order_test ]] || {
		echo "# test/order_test is missing: run make test" >&2
		return 1
	}
}

@test "order.c holds, asks, gives up, orders by gseq and keeps its budgets" {
	run test/order_test
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "order: all expectations held" ]
}
