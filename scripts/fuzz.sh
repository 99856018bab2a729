#!/usr/bin/env bash
# Runs every Go fuzz target of the repository, in every module and package (internal/ too), for the given time
# each (default 30s; `scripts/fuzz.sh 1x` just runs each target once, to list them).
# The committed corpora under testdata/fuzz/ are replayed by `go test` too.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-30s}"

# Candidate packages: every directory with a _test.go file declaring a Fuzz function (fuzz targets must live
# in _test.go files), tracked or new, outside what Go ignores (testdata, vendor, _ and . directories).
files=$( { git ls-files --cached --others --exclude-standard -- '*_test.go' 2>/dev/null || find . -name '*_test.go' -printf '%P\n'; } |
  grep -Ev '(^|/)(testdata|vendor|[._][^/]*)/' | sort -u)
# Targets are read from the source rather than listed by `go test -list`, which would compile every package's
# tests once more (plain, besides the fuzz-instrumented build) only to name them.
targets=""
for f in $files; do
  for name in $(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/p' "$f"); do
    targets="$targets $(dirname "$f"):$name"
  done
done

found=0
for dt in $(printf '%s\n' $targets | sort -u); do
  d="${dt%:*}" target="${dt##*:}"
  # The module the package belongs to: the nearest go.mod at or above it.
  mod="$d"
  while [ ! -f "$mod/go.mod" ]; do
    [ "$mod" != "." ] || { echo "no go.mod above $d"; exit 1; }
    mod=$(dirname "$mod")
  done
  if [ "$d" = "$mod" ]; then pkg=.; elif [ "$mod" = . ]; then pkg="./$d"; else pkg="./${d#"$mod"/}"; fi
  echo "== $mod: $pkg $target ($fuzztime)"
  out=$(cd "$mod" && go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 100x "$pkg" 2>&1) ||
    { echo "$out"; exit 1; }
  echo "$out"
  # A target go test does not see (a build tag, a typo'd signature) only warns: fail on it here.
  if grep -q 'no fuzz tests to fuzz' <<<"$out"; then echo "$target in $d: go test found no such fuzz target"; exit 1; fi
  found=$((found + 1))
done
# cqrsside, projectionlag, spanmetrics_es, spanattr, the eventsource runtime and the Kafka bus's decoder.
[ "$found" -ge 6 ] || { echo "expected at least 6 fuzz targets, found $found"; exit 1; }
echo "$found fuzz targets"
