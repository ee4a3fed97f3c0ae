#!/usr/bin/env bats
# The store on its own (kv.c): test/kv_test.c states the expectations.

load helpers

@test "the store sets, replaces, gets, deletes, grows, lists sorted, and keeps its digest" {
	unit_program kv
}
