#!/usr/bin/env bats
# The container packaging (SPEC sections 1 and 9): the Dockerfile makes a
# FROM scratch image that holds the static binary and nothing else, and
# docker-compose.yml starts three nodes, kv_node1..3, that hear each other
# on a bridge network of their own and stop at once on `docker stop`.
#
# setup_file builds the image and brings the compose project up once for
# the whole file (see docker_helpers.bash for the names, and for
# KVMC_BUILDER where no registry is reachable); teardown_file removes both,
# also after a failure. Without a reachable Docker engine every test
# is skipped with the reason. (The static binary alone in an empty root,
# without Docker, is test/static.bats.)

load helpers
load docker_helpers

setup_file() {
	docker_setup_file
}

teardown_file() {
	docker_teardown_file
}

setup() {
	kvmc_setup 33500
}

teardown() {
	stop_all_nodes
	[[ -n $IMAGE_SKIP ]] || remove_test_containers
}

# ---------------------------------------------------------------- the image

# What `docker create` itself adds to every container's root, whatever the
# image (Docker's "init layer"): mount points, empty files it bind-mounts
# over at run time, and one symlink. Each is listed as TYPE NAME, with TYPE
# as in `tar -tv`: d directory, - empty regular file, l symlink.
DOCKER_ADDS='d dev/
d dev/pts/
d dev/shm/
d etc/
d proc/
d sys/
- .dockerenv
- dev/console
- etc/hostname
- etc/hosts
- etc/resolv.conf
l etc/mtab'

@test "the image holds one file, /kvmc, besides what Docker adds to every container" {
	need_image
	cid=$(docker create --label "kvmctest=$PROJECT" "$IMAGE")
	docker export "$cid" | tar -tvf - >"$BATS_TEST_TMPDIR/listing"
	unexpected=()
	kvmc=
	while read -r perms _owner size _date _time name _arrow target; do
		type=${perms:0:1}
		if [[ $name == kvmc && $type == - ]]; then
			kvmc="$perms $size"
		elif grep -qxF -- "$type $name" <<<"$DOCKER_ADDS" &&
			{ [[ $type != - ]] || ((size == 0)); } &&
			{ [[ $type != l ]] || [[ $target == /proc/mounts ]]; }; then
			:
		else
			unexpected+=("$perms $size $name${target:+ -> $target}")
		fi
	done <"$BATS_TEST_TMPDIR/listing"
	if ((${#unexpected[@]})); then
		echo "# the image holds more than /kvmc:" >&2
		printf '#   %s\n' "${unexpected[@]}" >&2
		return 1
	fi
	assert_match "$kvmc" '^-..x..x..x [1-9][0-9]*$' "/kvmc (mode and size)"
}

@test "the image is under 2 MB" {
	need_image
	size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
	((size < 2000000)) || {
		echo "# the image is $size bytes" >&2
		return 1
	}
}

# ---------------------------------------------------------------- the cluster

@test "a SET from a fourth container is applied by kv_node2 and kv_node3" {
	need_cluster
	start_probe probe
	send_line probe "SET greeting hello from the probe"
	wait_log probe 'event=send .*type=SET'
	id=$(field "$(log_line probe 'event=send .*type=SET')" id)
	for c in kv_node2 kv_node3; do
		wait_container_log $c \
			"event=apply order=[0-9]+ id=$id from=probe type=SET key=greeting value=hello%20from%20the%20probe$"
	done
}

@test "PEERS in a fourth container lists node1, node2 and node3 alive" {
	need_cluster
	start_probe probe
	# The compose nodes use the default interval, 2000 ms.
	for n in node1 node2 node3; do
		wait_log probe "event=peer_up peer=$n$" 5
	done
	send_line probe PEERS
	wait_file "$(out_of probe)" . 3 "$WAIT"
	mapfile -t lines <"$(out_of probe)"
	assert_eq "${#lines[@]}" 3 "number of PEERS lines"
	for i in 0 1 2; do
		assert_match "${lines[i]}" "^node$((i + 1)) [0-9]+\.[0-9]s alive$" \
			"PEERS line $((i + 1))"
	done
}

@test "docker stop kv_node2 takes under 2 s and logs a SIGTERM stop" {
	need_cluster
	wait_container_log kv_node2 'event=ready'
	start=$(now_us)
	timeout 30 docker stop kv_node2 >/dev/null
	elapsed_ms=$((($(now_us) - start) / 1000))
	# docker stop waits 10 s for the process to exit before it kills it.
	((elapsed_ms < 2000)) || {
		echo "# docker stop took $elapsed_ms ms" >&2
		return 1
	}
	last=$(container_log kv_node2 | grep -a . | tail -n 1)
	assert_match "$last" ' event=stop reason=signal signal=SIGTERM( |$)' \
		"the last line of kv_node2's log"
	assert_eq "$(docker inspect -f '{{.State.ExitCode}}' kv_node2)" 0 \
		"kv_node2's exit status"
}

# Last: it brings the cluster up again in another mode.
@test "ORDERING=total passes through compose: node1 orders, all apply in its order" {
	need_cluster
	ORDERING=total compose up -d --force-recreate >"$BATS_TEST_TMPDIR/up.log" 2>&1 || {
		tail -n 30 "$BATS_TEST_TMPDIR/up.log" >&2
		return 1
	}
	for c in "${DOCKER_NODES[@]}"; do
		wait_container_log $c ' event=start .* ordering=total sequencer=node1( |$)'
		wait_container_log $c ' event=ready( |$)'
	done
	start_probe probe ORDERING=total SEQUENCER=node1
	send_line probe "SET x 1"
	wait_log probe 'event=send .*type=SET'
	id=$(field "$(log_line probe 'event=send .*type=SET')" id)
	wait_container_log kv_node1 " event=sequence re=$id from=probe seq=1 gseq=1$"
	for c in "${DOCKER_NODES[@]}"; do
		wait_container_log $c \
			" event=apply order=1 id=$id from=probe type=SET key=x value=1 inc=[0-9]+ seq=1 gseq=1$"
	done
	wait_log probe "event=apply order=1 id=$id .* gseq=1$"
}
