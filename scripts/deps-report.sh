#!/usr/bin/env bash
# make deps-report: every collector-core and collector-contrib module required by any go.mod of the
# repository (and every gomod line of the ocb manifests), its pinned version, and the newest version the
# module proxy lists for it (`go list -m -versions`). The proxy's lists can be incomplete, and a listed
# version can still be refused at download: try a move with `go mod download -json MOD@VER` first.
#
# Output: a Markdown table on stdout. Columns: module, where it is pinned (file and version), newest listed,
# and "behind" when the pin is older than the newest listed.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

pattern='^(go\.opentelemetry\.io/collector|github\.com/open-telemetry/opentelemetry-collector-contrib)(/|$)'

# "file module version [indirect]" for every require line, in every go.mod outside ocb's build folders.
for mod in $(git ls-files '*go.mod' | grep -v '/_build/'); do
  awk -v f="$mod" '
    /^require \(/ { inreq = 1; next }
    inreq && /^\)/ { inreq = 0; next }
    /^require [^(]/ { print f, $2, $3, ($0 ~ /\/\/ indirect/ ? "indirect" : "direct"); next }
    inreq && NF >= 2 && $1 !~ /^\/\// { print f, $1, $2, ($0 ~ /\/\/ indirect/ ? "indirect" : "direct") }
  ' "$mod"
done >"$tmp/pins"
for manifest in builder-config.yaml $(git ls-files 'bench/dists/*/builder-config.yaml'); do
  awk -v f="$manifest" '$1 == "-" && $2 == "gomod:" { print f, $3, $4, "direct" }' "$manifest"
done >>"$tmp/pins"
grep -E "^[^ ]+ [^ ]+ " "$tmp/pins" | awk '{print $2}' | grep -E "$pattern" | sort -u >"$tmp/modules"

# The newest listed release of each module (pre-releases left out), looked up in parallel from an empty
# folder so that no go.mod of ours is consulted.
export GOFLAGS=-mod=mod
xargs -P 8 -I{} sh -c 'v=$(cd "$1" && go list -m -versions "$2" 2>/dev/null | tr " " "\n" | tail -n +2 | grep -v -- "-" | sort -V | tail -1); echo "$2 ${v:-none-listed}"' _ "$tmp" {} \
  <"$tmp/modules" | sort >"$tmp/newest"
[ -s "$tmp/newest" ] || { echo "no versions could be listed" >&2; exit 1; }

echo "| module | pinned in | pinned | newest listed | |"
echo "|---|---|---|---|---|"
behind=0
while read -r file module version kind; do
  echo "$module" | grep -qE "$pattern" || continue
  newest=$(awk -v m="$module" '$1 == m {print $2}' "$tmp/newest")
  mark=""
  if [ "$newest" != "none-listed" ] && [ "$newest" != "$version" ] &&
     [ "$(printf '%s\n%s\n' "$version" "$newest" | sort -V | tail -1)" = "$newest" ]; then
    mark="behind"; behind=$((behind + 1))
  fi
  [ "$kind" = indirect ] && file="$file (indirect)"
  echo "| \`${module#github.com/open-telemetry/opentelemetry-collector-contrib/}\` | $file | $version | $newest | $mark |"
done < <(sort -k2,2 -k1,1 "$tmp/pins")
echo
echo "$behind pins are older than the newest listed version."
