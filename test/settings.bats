#!/usr/bin/env bats
# Settings (SPEC section 1): every setting comes from an option or from its
# environment variable, the option winning; a bad one is reported in one
# line naming the setting, the value and what is accepted, with exit 2.
#
# Most tests run kvmc in the foreground with an empty stdin: a node that
# accepts its settings starts, reads EOF and stops at once with exit 0.

load helpers

setup() {
	kvmc_setup 20000
}

# ------------------------------------------------------------ help, version

@test "--help prints the usage on stdout and exits 0" {
	run --separate-stderr -0 kvmc_once --help
	assert_match "$output" "--port"
	assert_match "$output" "--node-id"
	assert_eq "$stderr" "" "stderr"
}

@test "--version prints the version on stdout and exits 0" {
	run --separate-stderr -0 kvmc_once --version
	assert_match "$output" "[0-9]+\.[0-9]+\.[0-9]+"
	assert_eq "$stderr" "" "stderr"
}

@test "the start line logs the same version as --version" {
	run -0 kvmc_once --version
	version=$(grep -Eo '[0-9]+\.[0-9]+\.[0-9]+' <<<"$output" | head -1)
	started_with
	assert_eq "$(start_field version)" "$version" "start version"
}

@test "--help does not start a node" {
	run --separate-stderr -0 kvmc_once --help
	[[ $stderr != *event=start* ]]
}

# ------------------------------------------------------------ defaults

@test "the start line logs the effective settings" {
	started_with --node-id n1 --group 239.1.2.3 --ttl 0 \
		--interface 127.0.0.1 --log-level warn
	assert_eq "$(start_field node)" n1 node
	assert_eq "$(start_field group)" 239.1.2.3 group
	assert_eq "$(start_field port)" "$PORT" port
	assert_eq "$(start_field ttl)" 0 ttl
	assert_eq "$(start_field interface)" 127.0.0.1 interface
	assert_eq "$(start_field log_level)" warn log_level
	assert_match "$(start_field version)" '^[0-9]+\.[0-9]+\.[0-9]+'
}

@test "the defaults are group 239.0.0.1, port 5007, ttl 1, log level info" {
	# (MULTICAST_IF stays set: no test may send off the loopback interface.)
	started_with MULTICAST_PORT=
	assert_eq "$(start_field group)" 239.0.0.1 group
	assert_eq "$(start_field port)" 5007 port
	assert_eq "$(start_field ttl)" 1 ttl
	assert_eq "$(start_field log_level)" info log_level
}

@test "the default node id is 8 random lower-case hex digits" {
	started_with
	first=$(start_field node)
	started_with
	second=$(start_field node)
	assert_match "$first" '^[0-9a-f]{8}$' "node id"
	assert_match "$second" '^[0-9a-f]{8}$' "node id"
	[[ $first != "$second" ]]
}

# ------------------------------------------------------------ sources

@test "each environment variable sets its setting" {
	started_with NODE_ID=envnode MULTICAST_GROUP=239.4.5.6 \
		MULTICAST_PORT=$((PORT + 1)) MULTICAST_TTL=7 \
		MULTICAST_IF=127.0.0.1 LOG_LEVEL=warn
	assert_eq "$(start_field node)" envnode node
	assert_eq "$(start_field group)" 239.4.5.6 group
	assert_eq "$(start_field port)" $((PORT + 1)) port
	assert_eq "$(start_field ttl)" 7 ttl
	assert_eq "$(start_field interface)" 127.0.0.1 interface
	assert_eq "$(start_field log_level)" warn log_level
}

@test "an option beats its environment variable" {
	started_with NODE_ID=envnode MULTICAST_GROUP=239.4.5.6 \
		MULTICAST_TTL=7 LOG_LEVEL=warn \
		--node-id optnode --group 239.7.8.9 --ttl 3 --log-level error
	assert_eq "$(start_field node)" optnode node
	assert_eq "$(start_field group)" 239.7.8.9 group
	assert_eq "$(start_field ttl)" 3 ttl
	assert_eq "$(start_field log_level)" error log_level
}

@test "--port beats MULTICAST_PORT" {
	started_with MULTICAST_PORT=$((PORT + 1)) --port $((PORT + 2))
	assert_eq "$(start_field port)" $((PORT + 2)) port
}

@test "options may be written --name=VALUE" {
	started_with --node-id=eq --ttl=4 --group=239.9.9.9 --log-level=warn \
		--port=$((PORT + 1))
	assert_eq "$(start_field node)" eq node
	assert_eq "$(start_field ttl)" 4 ttl
	assert_eq "$(start_field group)" 239.9.9.9 group
	assert_eq "$(start_field log_level)" warn log_level
	assert_eq "$(start_field port)" $((PORT + 1)) port
}

@test "the last of a repeated option wins" {
	started_with --ttl 3 --ttl=4 --node-id first --node-id last
	assert_eq "$(start_field ttl)" 4 ttl
	assert_eq "$(start_field node)" last node
}

@test "an empty environment variable counts as unset" {
	started_with NODE_ID= MULTICAST_GROUP= MULTICAST_TTL= LOG_LEVEL=
	assert_match "$(start_field node)" '^[0-9a-f]{8}$' node
	assert_eq "$(start_field group)" 239.0.0.1 group
	assert_eq "$(start_field ttl)" 1 ttl
	assert_eq "$(start_field log_level)" info log_level
}

@test "a variable overridden by its option is not validated" {
	started_with NODE_ID='bad id!' MULTICAST_GROUP=10.0.0.1 \
		MULTICAST_PORT=70000 MULTICAST_TTL=-1 LOG_LEVEL=loud \
		MULTICAST_IF=no-such-if0 \
		--node-id ok --group 239.0.0.1 --port "$PORT" --ttl 1 \
		--log-level info --interface 127.0.0.1
	assert_eq "$(start_field node)" ok node
}

# ------------------------------------------------------------ NODE_ID

@test "a node id of 32 characters of A-Z a-z 0-9 . _ - is accepted" {
	id=Az09._-Az09._-Az09._-Az09._-Az09
	started_with --node-id "$id"
	assert_eq "$(start_field node)" "$id" node
}

@test "a node id of 33 characters is rejected" {
	setting_error --node-id 123456789012345678901234567890123 \
		--node-id 123456789012345678901234567890123
}

@test "a node id with a character outside A-Z a-z 0-9 . _ - is rejected" {
	for id in 'a/b' 'a b' 'a=b' 'a%b' 'né' 'a:b'; do
		setting_error --node-id "$id" --node-id "$id"
	done
}

@test "an empty --node-id is rejected" {
	setting_error --node-id '' --node-id=
}

@test "a bad NODE_ID is reported under the variable's name" {
	setting_error NODE_ID 'a/b' NODE_ID=a/b
}

# ------------------------------------------------------------ MULTICAST_GROUP

@test "any IPv4 multicast group in 224.0.0.0/4 is accepted" {
	for group in 224.1.2.3 239.255.255.255; do
		started_with --group "$group"
		assert_eq "$(start_field group)" "$group" group
	done
}

@test "a group outside 224.0.0.0/4 is rejected" {
	for group in 223.255.255.255 240.0.0.1 10.0.0.1 127.0.0.1; do
		setting_error --group "$group" --group "$group"
	done
}

@test "a group that is not an IPv4 address is rejected" {
	for group in 239.0.0 239.0.0.1.5 239.0.0.256 hello ff02::1 ''; do
		setting_error --group "$group" --group="$group"
	done
}

@test "a bad MULTICAST_GROUP is reported under the variable's name" {
	setting_error MULTICAST_GROUP 10.0.0.1 MULTICAST_GROUP=10.0.0.1
}

# ------------------------------------------------------------ MULTICAST_PORT

@test "ports 1 and 65535 are accepted" {
	started_with --port 65535
	assert_eq "$(start_field port)" 65535 port
	# Only root may bind a port below 1024.
	if ((EUID == 0)); then
		started_with --port 1
		assert_eq "$(start_field port)" 1 port
	fi
}

@test "a port outside 1-65535 is rejected" {
	for port in 0 65536 70000 99999999999999999999; do
		setting_error --port "$port" --port "$port"
	done
}

@test "a port that is not plain ASCII digits is rejected" {
	for port in +5 ' 5' '5 ' 0x10 1e3 -1 5.0 abc ''; do
		setting_error --port "$port" --port="$port"
	done
}

@test "a bad MULTICAST_PORT is reported under the variable's name" {
	setting_error MULTICAST_PORT 70000 MULTICAST_PORT=70000
}

# ------------------------------------------------------------ MULTICAST_TTL

@test "ttls 0 and 255 are accepted" {
	started_with --ttl 0
	assert_eq "$(start_field ttl)" 0 ttl
	started_with --ttl 255
	assert_eq "$(start_field ttl)" 255 ttl
}

@test "leading zeros are plain digits too" {
	started_with --ttl 007
	assert_eq "$(start_field ttl)" 7 ttl
}

@test "a ttl over 255 is rejected" {
	for ttl in 256 1000; do
		setting_error --ttl "$ttl" --ttl "$ttl"
	done
}

@test "a ttl that is not plain ASCII digits is rejected" {
	for ttl in +1 ' 1' 0x1 1e1 -1 one ''; do
		setting_error --ttl "$ttl" --ttl="$ttl"
	done
}

@test "a bad MULTICAST_TTL is reported under the variable's name" {
	setting_error MULTICAST_TTL 256 MULTICAST_TTL=256
}

# ------------------------------------------------------------ MULTICAST_IF

@test "an interface given by name is accepted" {
	started_with --interface lo
	assert_eq "$(start_field interface)" lo interface
}

@test "an interface name that does not exist exits 2 naming it" {
	run --separate-stderr -2 kvmc_once --interface no-such-if0
	assert_eq "${#stderr_lines[@]}" 1 "number of lines on stderr ($stderr)"
	assert_match "$stderr" "^kvmc: --interface 'no-such-if0'"
}

@test "a MULTICAST_IF name that does not exist exits 2 naming the variable" {
	run --separate-stderr -2 kvmc_once MULTICAST_IF=no-such-if0
	assert_eq "${#stderr_lines[@]}" 1 "number of lines on stderr ($stderr)"
	assert_match "$stderr" "^kvmc: MULTICAST_IF 'no-such-if0'"
}

@test "an interface that is neither an address nor a name exits 2" {
	run --separate-stderr -2 kvmc_once --interface 'not an interface'
	assert_match "$stderr" "^kvmc: --interface 'not an interface'"
}

@test "an interface address that is on no interface exits 1" {
	# 192.0.2.99 (TEST-NET-1) is a valid address that no interface of
	# this machine has: the settings are fine, joining the group fails.
	run --separate-stderr -1 kvmc_once --interface 192.0.2.99
	[[ -n $stderr ]]
	[[ $stderr != *"event=ready"* ]]
}

# ------------------------------------------------------------ LOG_LEVEL

@test "each log level is accepted" {
	for level in debug info warn error; do
		started_with --log-level "$level"
		assert_eq "$(start_field log_level)" "$level" log_level
	done
}

@test "a log level is accepted in any case" {
	started_with --log-level DEBUG
	started_with LOG_LEVEL=Warn
}

@test "an unknown log level is rejected" {
	for level in verbose warning 1 ''; do
		setting_error --log-level "$level" --log-level="$level"
	done
}

@test "a bad LOG_LEVEL is reported under the variable's name" {
	setting_error LOG_LEVEL verbose LOG_LEVEL=verbose
}

# ------------------------------------------------------------ several bad

@test "of several bad settings, the first in the table's order is reported" {
	setting_error --node-id 'a b' --log-level x --ttl 999 --port 0 \
		--group 1.2.3.4 --node-id 'a b'
	setting_error --group 1.2.3.4 --log-level x --ttl 999 --port 0 \
		--group 1.2.3.4
	setting_error --port 0 --log-level x --ttl 999 --port 0
	setting_error --ttl 999 --log-level x --ttl 999
}

@test "table order holds across options and variables" {
	setting_error NODE_ID 'a b' NODE_ID='a b' --port 0
	setting_error --port 0 MULTICAST_TTL=999 --port 0
	setting_error MULTICAST_TTL 999 MULTICAST_TTL=999 --log-level x
}

# ------------------------------------------------------------ bad options

@test "an unknown option exits 2 naming it" {
	run --separate-stderr -2 kvmc_once --bogus-option
	assert_match "$stderr" "--bogus-option"
	run --separate-stderr -2 kvmc_once -h
	assert_match "$stderr" "unknown option '-h'"
}

@test "an argument that is not an option exits 2 naming it" {
	run --separate-stderr -2 kvmc_once stray
	assert_match "$stderr" "unexpected argument 'stray'"
}

@test "an option without its argument exits 2 naming it" {
	for opt in --port --node-id --group --ttl --interface --log-level; do
		run --separate-stderr -2 kvmc_once "$opt"
		assert_match "$stderr" "$opt"
	done
}
