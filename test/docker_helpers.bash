# docker_helpers.bash - the Docker side of docker.bats.
#
# One run of docker.bats builds one image and brings up one compose
# project, both named after the run's PID so that nothing of anyone else's
# is touched:
#
#     IMAGE      kvmc-test-PID, built from the Dockerfile
#     PROJECT    kvmctestPID, docker-compose.yml with that image; its
#                containers keep the file's names kv_node1, kv_node2, kv_node3
#                and sit on the network PROJECT_kvnet
#
# KVMC_BUILDER, when set, is passed as the Dockerfile's BUILDER (the image
# with gcc, make and a static libc); unset, the Dockerfile's and the compose
# file's own default is used. Where no registry is reachable:
#
#     KVMC_BUILDER=kvmc-builder:local bats test/docker.bats
#
# Every container a test starts itself (a probe node, a created-only
# container) carries the label kvmctest=PROJECT and is removed by label.
#
# Tests of the image start with `need_image`, tests of the running cluster
# with `need_cluster`. Each skips, with the reason, when setup_file found
# what it needs missing (no engine, no builder image; for the cluster also
# no compose, or the fixed container names held by someone else), and
# fails, showing the log, when the image could not be built or the project
# not started.

DOCKER_NODES=(kv_node1 kv_node2 kv_node3)

# docker_setup_file: from setup_file. Builds the image, then brings up the
# project. Exports the names above, and for each stage a reason to skip
# (IMAGE_SKIP, CLUSTER_SKIP) or a log that shows why it failed
# (IMAGE_FAIL, CLUSTER_FAIL).
docker_setup_file() {
	export IMAGE_SKIP='' IMAGE_FAIL='' CLUSTER_SKIP='' CLUSTER_FAIL='' COMPOSE=''
	export PROJECT=kvmctest$$ IMAGE=kvmc-test-$$
	export OVERRIDE=$BATS_FILE_TMPDIR/compose.override.yml
	if ! timeout 20 docker info >/dev/null 2>&1; then
		IMAGE_SKIP="no Docker engine reachable (docker info failed)"
		CLUSTER_SKIP=$IMAGE_SKIP
		return 0
	fi
	if ! builder_available; then
		CLUSTER_SKIP=$IMAGE_SKIP
		return 0
	fi
	timeout 900 docker build \
		${KVMC_BUILDER:+--build-arg BUILDER="$KVMC_BUILDER"} \
		-t "$IMAGE" "$REPO" >"$BATS_FILE_TMPDIR/build.log" 2>&1 ||
		IMAGE_FAIL=$BATS_FILE_TMPDIR/build.log

	if timeout 20 docker compose version >/dev/null 2>&1; then
		COMPOSE="docker compose"
	elif command -v docker-compose >/dev/null; then
		COMPOSE=docker-compose
	else
		CLUSTER_SKIP="neither docker compose nor docker-compose is installed"
		return 0
	fi
	free_container_names || return 0
	# The project runs this run's image, not the file's kvmc:latest, which
	# may be someone else's; compose builds it again (from the cache), to
	# check that the compose file builds too.
	{
		echo "services:"
		for n in node1 node2 node3; do
			printf '  %s:\n    image: %s\n' "$n" "$IMAGE"
		done
	} >"$OVERRIDE"
	compose up -d --build >"$BATS_FILE_TMPDIR/compose.log" 2>&1 ||
		CLUSTER_FAIL=$BATS_FILE_TMPDIR/compose.log
}

# free_container_names: the compose file's container names are fixed. A
# container holding one is removed only when it is a leftover of an earlier
# run of this file (project kvmctestPID whose PID is gone); otherwise set
# CLUSTER_SKIP and fail.
free_container_names() {
	local c project pid
	for c in "${DOCKER_NODES[@]}"; do
		docker inspect "$c" >/dev/null 2>&1 || continue
		project=$(docker inspect -f \
			'{{index .Config.Labels "com.docker.compose.project"}}' "$c")
		pid=${project#kvmctest}
		if [[ $project == kvmctest* && $pid =~ ^[0-9]+$ ]] &&
			! kill -0 "$pid" 2>/dev/null; then
			docker rm -f "$c" >/dev/null
			docker network rm "${project}_kvnet" >/dev/null 2>&1
			docker image rm "kvmc-test-$pid" >/dev/null 2>&1
		else
			CLUSTER_SKIP="container $c exists and belongs to project"
			CLUSTER_SKIP+=" '${project:-none}', not to an old run of this file"
			return 1
		fi
	done
}

# builder_available: the build needs the builder image, local or pulled.
# Without a registry, point KVMC_BUILDER at a local one instead of failing.
builder_available() {
	local builder=${KVMC_BUILDER:-$(sed -n 's/^ARG BUILDER=//p' "$REPO/Dockerfile")}
	[[ -n $builder ]] || return 0
	docker image inspect "$builder" >/dev/null 2>&1 && return 0
	timeout 900 docker pull "$builder" >/dev/null 2>&1 && return 0
	IMAGE_SKIP="builder image $builder is not local and cannot be pulled;"
	IMAGE_SKIP+=" set KVMC_BUILDER to a local one (kvmc-builder:local)"
	return 1
}

# compose ARG...: this run's compose project, with BUILDER from KVMC_BUILDER
# (unset otherwise, so that the compose file's default applies). The nodes
# have a terminal, so they would log in the short form for people; the
# tests read the exact lines, as tools do: LOG_FORMAT=logfmt.
compose() {
	local builder=(-u BUILDER)
	[[ -z ${KVMC_BUILDER:-} ]] || builder=(BUILDER="$KVMC_BUILDER")
	timeout 900 env "${builder[@]}" LOG_FORMAT=logfmt $COMPOSE -p "$PROJECT" \
		-f "$REPO/docker-compose.yml" -f "$OVERRIDE" "$@"
}

# docker_teardown_file: from teardown_file. Removes everything this run
# made: its labelled containers, the project (containers, network,
# volumes) and the image tag. The builder image and the build cache stay.
docker_teardown_file() {
	[[ -z $IMAGE_SKIP ]] || return 0
	remove_test_containers
	[[ -z $COMPOSE || -n $CLUSTER_SKIP ]] ||
		compose down -v --remove-orphans >/dev/null 2>&1
	docker image rm "$IMAGE" >/dev/null 2>&1
	return 0
}

# remove_test_containers: every container a test started itself.
remove_test_containers() {
	local ids
	ids=$(docker ps -aq --filter "label=kvmctest=$PROJECT")
	[[ -z $ids ]] || docker rm -f $ids >/dev/null 2>&1
	return 0
}

# need_image: skip this test when there is no engine or builder; fail when
# the image could not be built.
need_image() {
	[[ -z $IMAGE_SKIP ]] || skip "$IMAGE_SKIP"
	if [[ -n $IMAGE_FAIL ]]; then
		echo "# docker build failed; the end of its output:" >&2
		tail -n 30 "$IMAGE_FAIL" >&2
		return 1
	fi
}

# need_cluster: need_image, and the project up with kv_node1..3 all
# running (a test may have stopped one).
need_cluster() {
	need_image || return 1
	[[ -z $CLUSTER_SKIP ]] || skip "$CLUSTER_SKIP"
	if [[ -n $CLUSTER_FAIL ]]; then
		echo "# $COMPOSE up failed; the end of its output:" >&2
		tail -n 30 "$CLUSTER_FAIL" >&2
		return 1
	fi
	local c
	for c in "${DOCKER_NODES[@]}"; do
		[[ $(docker inspect -f '{{.State.Running}}' "$c") == true ]] ||
			docker start "$c" >/dev/null || return 1
	done
}

# start_probe NAME [VAR=VALUE...]: a fourth node, NODE_ID=NAME and those
# variables, in a container of this run's image on the project's network,
# its stdin a FIFO this test holds (a tty container, like kv_node1, cannot
# be fed from a pipe); stdout and stderr in NAME.out and NAME.log like any
# other node's.
start_probe() {
	local name=$1 var env=()
	shift
	for var in NODE_ID="$name" "$@"; do
		env+=(-e "$var")
	done
	local KVMC_CMD=(docker run -i --rm --name "$PROJECT-$name"
		--label "kvmctest=$PROJECT" --network "${PROJECT}_kvnet"
		"${env[@]}" "$IMAGE")
	# launch adds --node-id NAME --port PORT; the cluster's port wins.
	start_node "$name" --port 5007
}

# container_log CONTAINER: its log, as one node's stderr, without the CRs
# of its terminal; also kept in $BATS_TEST_TMPDIR/CONTAINER.log.
container_log() {
	docker logs "$1" 2>&1 | tr -d '\r' >"$BATS_TEST_TMPDIR/$1.log"
	cat "$BATS_TEST_TMPDIR/$1.log"
}

# wait_container_log CONTAINER PATTERN [TIMEOUT]: wait until the
# container's log has a line matching the ERE PATTERN.
wait_container_log() {
	local end
	end=$(deadline "${3:-$WAIT}")
	until container_log "$1" | grep -Eaq -- "$2"; do
		if (($(now_us) > end)); then
			echo "# no line matching /$2/ in the log of $1; its end:" >&2
			tail -n 20 "$BATS_TEST_TMPDIR/$1.log" >&2
			return 1
		fi
		sleep 0.1
	done
}
