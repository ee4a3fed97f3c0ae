# helpers.bash - shared helpers for kvmc's Bats suite.
#
# Every test starts real nodes on the loopback interface, talks to them
# through a FIFO on their stdin, and reads what they did from their log
# (stderr) and their replies (stdout), all kept in $BATS_TEST_TMPDIR:
#
#     NAME.in   the FIFO that is the node's stdin
#     NAME.out  the node's stdout (GET and HELP replies)
#     NAME.log  the node's stderr (one log line per event, and `error:` lines)
#
# Each .bats file loads this file and calls `kvmc_setup BASE` from its
# setup(): BASE is the file's own block of ports, so no two tests of the
# suite ever share a port and no test hears another's traffic.
#
# Nothing here sleeps for a fixed time: helpers poll a file every 20 ms
# until what they wait for shows up or a deadline passes, and everything
# that could block forever runs under `timeout`.

bats_require_minimum_version 1.5.0

REPO=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
KVMC=${KVMC:-$REPO/kvmc} # KVMC=path/to/build bats test/ tests another build
RAWSEND=$REPO/test/rawsend
FLOOD=$REPO/test/flood # many datagrams, fast: see test/flood.c

# The command that starts a node; a test may replace it (the static binary
# in a chroot, for example).
KVMC_CMD=("$KVMC")

GROUP=239.0.0.1
# Default deadline, in seconds, of every wait_* helper: what a wait gives
# up after, never what it takes, so it is long enough for a machine whose
# two cores are shared by many busy processes.
WAIT=15

declare -gA NODE_PID=() # node name -> PID of its kvmc process
declare -gA NODE_FD=()  # node name -> fd this test holds on its stdin FIFO
EXTRA_PIDS=()           # other background processes to kill in teardown
EXIT_STATUS=            # set by wait_exit

# kvmc_setup BASE: give this test its own ports and a clean environment.
# PORT is BASE + 10 * test number; PORT+1 .. PORT+9 are the test's too,
# for tests that need a second cluster.
kvmc_setup() {
	PORT=$(($1 + 10 * BATS_TEST_NUMBER))
	cd "$REPO" || return 1
	# No setting from the caller's environment may leak into a test.
	unset NODE_ID MULTICAST_GROUP MULTICAST_PORT MULTICAST_TTL \
		LOG_LEVEL HELLO_INTERVAL CHECK_WINDOW SIM_DELAY SIM_LOSS SIM_SEED \
		ORDERING SEQUENCER
	unset STORE_LIMIT GROUP_KEY
	unset LOG_FORMAT NO_COLOR
	# No test traffic may leave the loopback interface; and a node that a
	# test runs without --port still uses this test's port.
	export MULTICAST_IF=127.0.0.1 MULTICAST_PORT=$PORT
	[[ -x $KVMC ]] || {
		echo "# $KVMC is missing: run make first" >&2
		return 1
	}
}

teardown() {
	stop_all_nodes
	# On failure, show the end of every node's log next to the assertion.
	if [[ -z ${BATS_TEST_COMPLETED:-} ]]; then
		local log
		for log in "$BATS_TEST_TMPDIR"/*.log; do
			[[ -e $log ]] || continue
			echo "# --- end of ${log##*/}:"
			tail -n 15 "$log" | cut -c 1-300 | cat -v
		done
	fi
}

# now_us: the wall clock in microseconds, without forking.
now_us() {
	local t=${EPOCHREALTIME/[.,]/}
	echo "$t"
}

# deadline SECONDS: the time, in microseconds, SECONDS from now.
deadline() {
	echo $(($(now_us) + ${1%.*} * 1000000))
}

# ---------------------------------------------------------------- nodes

# start_node NAME [OPTION...]: start a node whose stdin is a FIFO this test
# holds open; wait until it has logged event=ready.
start_node() {
	local name=$1
	shift
	mkfifo "$BATS_TEST_TMPDIR/$name.in"
	# Opened read-write so that this open does not block; the node opens
	# its own read-only end below, so closing this fd gives it EOF.
	local fd
	exec {fd}<>"$BATS_TEST_TMPDIR/$name.in"
	NODE_FD[$name]=$fd
	launch "$name" "$BATS_TEST_TMPDIR/$name.in" "$@"
}

# start_replica NAME [OPTION...]: start a node with --no-input and stdin
# from /dev/null; wait until it is ready.
start_replica() {
	local name=$1
	shift
	launch "$name" /dev/null --no-input "$@"
}

# start_devnull NAME [OPTION...]: start a node whose stdin is /dev/null and
# no --no-input option; wait until it is ready.
start_devnull() {
	local name=$1
	shift
	launch "$name" /dev/null "$@"
}

# launch NAME STDIN [OPTION...]: the common part of the start_* helpers.
# The node gets --node-id NAME --port $PORT first, so a test's own options
# come later and win. It is started with fd 3 closed (Bats waits for every
# process holding fd 3) and without the fds this test holds on other nodes'
# FIFOs (else those nodes would never see EOF).
launch() {
	local name=$1 input=$2
	shift 2
	(
		for f in "${NODE_FD[@]}"; do
			exec {f}>&-
		done
		exec env MULTICAST_IF=127.0.0.1 "${KVMC_CMD[@]}" \
			--node-id "$name" --port "$PORT" "$@" <"$input"
	) >"${NODE_OUT:-$BATS_TEST_TMPDIR/$name.out}" \
		2>"$BATS_TEST_TMPDIR/$name.log" 3>&- &
	NODE_PID[$name]=$!
	wait_ready "$name"
}

# wait_ready NAME: wait for event=ready; fail at once if the node exits.
wait_ready() {
	local name=$1 end
	end=$(deadline "$WAIT")
	# event=ready, or the short form's " ready" (LOG_FORMAT=text).
	until grep -Eq '(event=| )ready( |$)' "$BATS_TEST_TMPDIR/$name.log"; do
		if ! kill -0 "${NODE_PID[$name]}" 2>/dev/null; then
			echo "# node $name exited before it was ready; its log:" >&2
			cat "$BATS_TEST_TMPDIR/$name.log" >&2
			return 1
		fi
		if (($(now_us) > end)); then
			echo "# node $name not ready after ${WAIT}s; its log:" >&2
			cat "$BATS_TEST_TMPDIR/$name.log" >&2
			return 1
		fi
		sleep 0.02
	done
}

# send_line NAME TEXT: write TEXT and a newline to the node's stdin.
send_line() {
	printf '%s\n' "$2" >&"${NODE_FD[$1]}"
}

# send_bytes NAME BYTES: write BYTES to the node's stdin, with printf's %b
# escapes (\n, \r, \t, \x00 ...) turned into bytes and no newline added.
send_bytes() {
	printf '%b' "$2" >&"${NODE_FD[$1]}"
}

# close_input NAME: close this test's end of the node's stdin FIFO (EOF).
close_input() {
	local fd=${NODE_FD[$1]}
	exec {fd}>&-
	unset "NODE_FD[$1]"
}

# wait_exit NAME [TIMEOUT]: wait until the node's process has exited and
# set EXIT_STATUS to its exit status; fail after TIMEOUT seconds.
wait_exit() {
	local name=$1 pid=${NODE_PID[$1]} end
	end=$(deadline "${2:-$WAIT}")
	while kill -0 "$pid" 2>/dev/null; do
		if (($(now_us) > end)); then
			echo "# node $name still running after ${2:-$WAIT}s" >&2
			return 1
		fi
		sleep 0.02
	done
	EXIT_STATUS=0
	wait "$pid" || EXIT_STATUS=$?
	unset "NODE_PID[$name]"
}

# is_running NAME: true while the node's process has not exited.
is_running() {
	kill -0 "${NODE_PID[$1]}" 2>/dev/null
}

# stop_all_nodes: kill, by PID, every process this test started: TERM,
# then KILL whatever is still there after a deadline. Close held fds.
stop_all_nodes() {
	local pid pids=("${NODE_PID[@]}" "${EXTRA_PIDS[@]}") end
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	end=$(deadline 3)
	for pid in "${pids[@]}"; do
		while kill -0 "$pid" 2>/dev/null && (($(now_us) < end)); do
			sleep 0.02
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	local name fd
	for name in "${!NODE_FD[@]}"; do
		fd=${NODE_FD[$name]}
		exec {fd}>&-
	done
	NODE_PID=()
	NODE_FD=()
	EXTRA_PIDS=()
}

# ---------------------------------------------------------------- waiting

# wait_file FILE PATTERN N TIMEOUT: wait until FILE has N lines matching
# the extended regular expression PATTERN; on timeout print FILE and fail.
wait_file() {
	local file=$1 pattern=$2 n=$3 timeout=$4 end got
	end=$(deadline "$timeout")
	# A file not there yet counts none (grep then prints nothing).
	while got=$(grep -Eac -- "$pattern" "$file" 2>/dev/null); ((${got:-0} < n)); do
		if (($(now_us) > end)); then
			echo "# timed out after ${timeout}s waiting for $n line(s)" \
				"matching /$pattern/ in ${file##*/}; its end:" >&2
			tail -n 30 "$file" | cut -c 1-300 | cat -v >&2
			return 1
		fi
		sleep 0.02
	done
}

# wait_log NAME PATTERN [TIMEOUT]: wait for a log line matching PATTERN.
wait_log() {
	wait_file "$BATS_TEST_TMPDIR/$1.log" "$2" 1 "${3:-$WAIT}"
}

# wait_count NAME PATTERN N [TIMEOUT]: wait for N log lines matching PATTERN.
wait_count() {
	wait_file "$BATS_TEST_TMPDIR/$1.log" "$2" "$3" "${4:-$WAIT}"
}

# wait_out NAME PATTERN [TIMEOUT]: wait for a stdout line matching PATTERN.
wait_out() {
	wait_file "$BATS_TEST_TMPDIR/$1.out" "$2" 1 "${3:-$WAIT}"
}

# ---------------------------------------------------------------- reading

# log_of NAME / out_of NAME: the node's log / stdout file.
log_of() { echo "$BATS_TEST_TMPDIR/$1.log"; }
out_of() { echo "$BATS_TEST_TMPDIR/$1.out"; }

# log_line NAME PATTERN [N]: print the Nth (default first) log line
# matching PATTERN.
log_line() {
	grep -Ea -- "$2" "$BATS_TEST_TMPDIR/$1.log" | sed -n "${3:-1}p"
}

# count_log NAME PATTERN: how many log lines match PATTERN.
count_log() {
	grep -Eac -- "$2" "$BATS_TEST_TMPDIR/$1.log" || true
}

# field LINE NAME: print the value of field NAME in a `name=value ...` line.
field() {
	local tok toks
	read -ra toks <<<"$1"
	for tok in "${toks[@]}"; do
		if [[ $tok == "$2="* ]]; then
			printf '%s\n' "${tok#*=}"
			return 0
		fi
	done
	echo "# no field $2 in: $1" >&2
	return 1
}

# ---------------------------------------------------------------- the wire

# datagram BYTES [PORT] [GROUP]: send BYTES (printf %b escapes allowed:
# \n, \r, \x00 ...) as one datagram to GROUP:PORT, by default this test's.
datagram() {
	printf '%b' "$1" | timeout 5 "$RAWSEND" "${3:-$GROUP}" "${2:-$PORT}"
}

# wire_set KEY VALUE: send a valid SET from a node "peer" that does not
# exist, with a fresh id; KEY and VALUE are written as on the wire (%HH).
wire_set() {
	MSG_SEQ=$((MSG_SEQ + 1))
	datagram "v=1 type=SET id=$(uuid $MSG_SEQ) from=peer key=$1 value=$2\n"
}
MSG_SEQ=0

# repeat N TEXT: TEXT N times.
repeat() {
	perl -e 'print $ARGV[1] x $ARGV[0]' "$1" "$2"
}

# uuid N: a valid message id (UUID version 4, lower case), distinct per N.
uuid() {
	printf '%08x-0000-4000-8000-%012x\n' "$1" "$1"
}

# ---------------------------------------------------------------- one-shot runs

# kvmc_once [VAR=VALUE...] [OPTION...]: run kvmc in the foreground with
# those environment variables and options, and an empty stdin, so that a
# node that starts stops again at once (EOF); under `timeout` in case it
# does not.
kvmc_once() {
	local vars=()
	while [[ $# -gt 0 && $1 == [A-Z]*=* ]]; do
		vars+=("$1")
		shift
	done
	: | timeout 5 env "${vars[@]}" "$KVMC" "$@"
}

# ---------------------------------------------------------------- unit programs

# unit_program NAME: run test/NAME_test, a C program that `make test`
# builds with the project's flags (and the sanitizers under SANITIZE=1);
# it must exit 0 saying "NAME: all expectations held".
unit_program() {
	local prog=$REPO/test/$1_test
	[[ -x $prog ]] || {
		echo "# $prog is missing: run make test" >&2
		return 1
	}
	run "$prog"
	echo "$output"
	assert_eq "$status" 0 "exit status of $1_test"
	assert_eq "$output" "$1: all expectations held" "output of $1_test"
}

# ---------------------------------------------------------------- checks

# assert_eq ACTUAL EXPECTED [WHAT]: fail, showing both, when they differ.
assert_eq() {
	if [[ $1 != "$2" ]]; then
		echo "# ${3:-value}: expected '$2'" >&2
		echo "#   but got '$1'" >&2
		return 1
	fi
}

# assert_match TEXT REGEX [WHAT]: fail unless TEXT matches the ERE REGEX.
assert_match() {
	if ! [[ $1 =~ $2 ]]; then
		echo "# ${3:-text} does not match /$2/:" >&2
		echo "#   '$1'" >&2
		return 1
	fi
}

# assert_no_log NAME PATTERN: fail, showing the lines, if any log line
# matches PATTERN.
assert_no_log() {
	if grep -Eaq -- "$2" "$BATS_TEST_TMPDIR/$1.log"; then
		echo "# unexpected log line(s) of $1 matching /$2/:" >&2
		grep -Ea -- "$2" "$BATS_TEST_TMPDIR/$1.log" >&2
		return 1
	fi
}

# ------------------------------------------------------------ scenarios

# four_nodes: the experiment of the demo, on this test's PORT. node3 hears
# node1 late, node4 hears node2 late; node1 writes x=1, then (once it has
# sent it) node2 writes x=2. Returns when every node has applied both
# writes.
#
# "Late" is 2000 ms here, not the demo's 300: node2's write must reach
# node3 before node1's is due there, and in between this script sees
# node1's send line and types into node2 - about 250 ms of polls and forks
# on a loaded machine, which left 300 ms a margin of some 50 ms.
four_nodes() {
	local n
	start_node node1
	start_node node2
	start_node node3 --sim-delay node1=2000
	start_node node4 --sim-delay node2=2000
	send_line node1 "SET x 1"
	wait_log node1 'event=send .*type=SET'
	send_line node2 "SET x 2"
	for n in node1 node2 node3 node4; do
		wait_count $n 'event=apply .*type=SET' 2
	done
}

# ------------------------------------------------------------ settings and clocks

# setting_error NAME VALUE [VAR=VALUE...] [OPTION...]: kvmc run with those
# variables and options exits 2 with exactly one line on stderr naming
# the setting NAME and the bad VALUE, then saying what is accepted.
setting_error() {
	local name=$1 value=$2
	shift 2
	run --separate-stderr -2 kvmc_once "$@"
	assert_eq "${#stderr_lines[@]}" 1 "lines on stderr for $name '$value' ($stderr)"
	assert_eq "${stderr%%: expected *}" "kvmc: $name '$value'" "the error line"
}

# started_with [VAR=VALUE...] [OPTION...]: kvmc accepts those settings:
# it starts, stops at EOF and exits 0. Sets START to its event=start line.
started_with() {
	run --separate-stderr -0 kvmc_once "$@"
	START=$(grep -a -m1 ' event=start ' <<<"$stderr") || {
		echo "# no event=start line for '$*' in: $stderr" >&2
		return 1
	}
}

# start_field FIELD: the value of FIELD in START.
start_field() {
	field "$START" "$1"
}

# ts_ms LINE: the ts= of a log line, in ms since the epoch.
ts_ms() {
	local ts
	ts=$(field "$1" ts)
	date -u -d "${ts%Z}" +%s%3N
}

# wakeups PID: how often the process has gone to sleep and woken so far
# (voluntary context switches).
wakeups() {
	awk '/^voluntary_ctxt_switches/ { print $2 }' "/proc/$1/status"
}

# cpu_ticks PID: user + system CPU time of the process, in clock ticks.
cpu_ticks() {
	local stat rest f
	read -r stat <"/proc/$1/stat"
	rest=${stat##*) } # fields from the 3rd on: the name may hold spaces
	read -ra f <<<"$rest"
	echo $((f[11] + f[12])) # utime and stime, fields 14 and 15
}
