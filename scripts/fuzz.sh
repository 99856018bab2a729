#!/usr/bin/env bash
# Runs every Go fuzz target of the repository, in every module and package (internal/ too), for the given time
# each (default 30s; `scripts/fuzz.sh 1x` just runs each target once, to list them).
# The committed corpora under testdata/fuzz/ are replayed by `go test` too.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-30s}"

# Candidate packages: every directory with a _test.go file declaring a Fuzz function (fuzz targets must live
# in _test.go files), tracked or new, outside what Go ignores (testdata, vendor, _ and . directories).
# Grepping first keeps `go test -list`, which compiles a package's tests, to the few packages that have one.
files=$( { git ls-files --cached --others --exclude-standard -- '*_test.go' 2>/dev/null || find . -name '*_test.go' -printf '%P\n'; } |
  grep -Ev '(^|/)(testdata|vendor|[._][^/]*)/' | sort -u)
declared=0
dirs=""
for f in $files; do
  n=$(grep -cE '^func Fuzz[A-Za-z0-9_]*\(' "$f" || true)
  if [ "$n" -gt 0 ]; then
    declared=$((declared + n))
    dirs="$dirs $(dirname "$f")"
  fi
done

found=0
for d in $(printf '%s\n' $dirs | sort -u); do
  # The module the package belongs to: the nearest go.mod at or above it.
  mod="$d"
  while [ ! -f "$mod/go.mod" ]; do
    [ "$mod" != "." ] || { echo "no go.mod above $d"; exit 1; }
    mod=$(dirname "$mod")
  done
  if [ "$d" = "$mod" ]; then pkg=.; elif [ "$mod" = . ]; then pkg="./$d"; else pkg="./${d#"$mod"/}"; fi
  for target in $(cd "$mod" && go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    found=$((found + 1))
    echo "== $mod: $pkg $target ($fuzztime)"
    (cd "$mod" && go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 100x "$pkg")
  done
done
# Every declared target ran: one go test does not list (a build tag, a typo'd signature) fails here.
[ "$found" -eq "$declared" ] || { echo "$declared fuzz targets declared, $found run"; exit 1; }
# cqrsside, projectionlag, spanmetrics_es, spanattr, the eventsource runtime and the Kafka bus's decoder.
[ "$found" -ge 6 ] || { echo "expected at least 6 fuzz targets, found $found"; exit 1; }
echo "$found fuzz targets"
