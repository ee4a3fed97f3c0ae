#!/usr/bin/env bats
# The ordering layer on its own (order.c): test/order_test.c states the
# expectations, with a fake node.

load helpers

@test "order.c holds, asks, gives up, orders by gseq and keeps its budgets" {
	unit_program order
}
