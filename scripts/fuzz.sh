#!/usr/bin/env bash
# Runs every Go fuzz target of the collector components and the eventsource runtime for the given time each
# (default 30s).
# The committed corpora under testdata/fuzz/ are replayed by `go test` too.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-30s}"
found=0
# module directory, then its packages to search for targets (the eventsource runtime is its own module).
for mod in ".:./processor/... ./connector/..." "eventsource:." "eventsource/kafkabus:."; do
  dir="${mod%%:*}"
  for pkg in $(cd "$dir" && go list ${mod#*:}); do
    for target in $(cd "$dir" && go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
      found=$((found + 1))
      echo "== $pkg $target ($fuzztime)"
      (cd "$dir" && go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 100x "$pkg")
    done
  done
done
# cqrsside, projectionlag, spanmetrics_es, the eventsource runtime and the Kafka bus's record decoder each have one.
[ "$found" -ge 5 ] || { echo "expected at least 5 fuzz targets, found $found"; exit 1; }
