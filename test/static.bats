#!/usr/bin/env bats
# The static binary (SPEC section 9) runs with no file of the host: alone
# in an empty directory used as its root, it replicates with a normal node.

load helpers

setup() {
	kvmc_setup 27000
}

@test "the static binary in an empty chroot replicates with a normal node" {
	((EUID == 0)) || skip "chroot needs root"
	timeout 300 make -s -C "$REPO" static >&2 ||
		skip "make static cannot build kvmc-static here"

	root=$BATS_TEST_TMPDIR/root
	mkdir "$root"
	cp "$REPO/kvmc-static" "$root/"

	start_node n1
	KVMC_CMD=(chroot "$root" /kvmc-static)
	start_node s1
	KVMC_CMD=("$KVMC")

	send_line s1 "SET x 1"
	wait_log n1 'event=apply .*from=s1 type=SET key=x value=1$'
	send_line n1 "SET y 2"
	wait_log s1 'event=apply .*from=n1 type=SET key=y value=2$'
	send_line s1 "GET y"
	wait_out s1 '^y = 2$'
}
