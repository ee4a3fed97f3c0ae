#!/usr/bin/env bash
# Runs the Bats suite (TAP, so that a pipe or a CI log reads the same as a
# terminal) and closes with one line: "N passed, N failed, N skipped".
# Exits non-zero when any test failed, or at once when bats or perl is
# missing.
set -uo pipefail
cd "$(dirname "$0")/.."

# What the suite cannot run without, said in one line before anything else
# (Debian's package of each tool has the tool's name). --deps: only that.
missing=()
for tool in bats perl; do
	command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]} > 0)); then
	list=${missing[*]}
	echo "make test: ${list// /, } not found; on Debian: apt-get install -y $list" >&2
	exit 1
fi
[[ ${1:-} == --deps ]] && exit 0

tap=$(mktemp)
trap 'rm -f "$tap"' EXIT
bats --tap "${@:-test/}" | tee "$tap"
status=${PIPESTATUS[0]}
passed=$(grep -cE '^ok [0-9]+ ' "$tap" | tr -d ' ')
skipped=$(grep -cE '^ok [0-9]+ .*# skip' "$tap" | tr -d ' ')
failed=$(grep -cE '^not ok [0-9]+ ' "$tap" | tr -d ' ')
echo "$((passed - skipped)) passed, $failed failed, $skipped skipped"
exit "$status"
