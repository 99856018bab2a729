#!/usr/bin/env bash
# Runs every Go fuzz target of the collector components for the given time each (default 30s).
# The committed corpora under testdata/fuzz/ are replayed by `go test` too.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-30s}"
found=0
for pkg in $(go list ./processor/... ./connector/...); do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    found=1
    echo "== $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 100x "$pkg"
  done
done
[ "$found" = 1 ] || { echo "no fuzz targets found"; exit 1; }
