#!/usr/bin/env bash
# Runs the Bats suite (TAP, so that a pipe or a CI log reads the same as a
# terminal) and closes with one line: "N passed, N failed, N skipped".
# Exits non-zero when any test failed.
set -uo pipefail
cd "$(dirname "$0")/.."
tap=$(mktemp)
trap 'rm -f "$tap"' EXIT
bats --tap "${@:-test/}" | tee "$tap"
status=${PIPESTATUS[0]}
passed=$(grep -cE '^ok [0-9]+ ' "$tap" | tr -d ' ')
skipped=$(grep -cE '^ok [0-9]+ .*# skip' "$tap" | tr -d ' ')
failed=$(grep -cE '^not ok [0-9]+ ' "$tap" | tr -d ' ')
echo "$((passed - skipped)) passed, $failed failed, $skipped skipped"
exit "$status"
