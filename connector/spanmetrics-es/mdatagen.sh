#!/bin/sh
# Regenerates the mdatagen files. mdatagen names the Go package after the
# folder, and "spanmetrics-es" is not a valid Go identifier, so it runs in a
# temporary sibling folder "spanmetricses" holding only metadata.yaml, a doc
# file and the README; the results are copied back with the import path
# put right.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$here/../spanmetricses"
rm -rf "$tmp"
mkdir "$tmp"
trap 'rm -rf "$tmp"' EXIT
cp "$here/metadata.yaml" "$here/README.md" "$tmp/"
printf 'package spanmetricses\n' >"$tmp/doc.go"
(cd "$tmp" && go tool mdatagen metadata.yaml)
rm "$tmp/doc.go" "$tmp/metadata.yaml"
grep -rl 'connector/spanmetricses' "$tmp" | xargs -r sed -i 's#connector/spanmetricses#connector/spanmetrics-es#g'
cp -r "$tmp"/. "$here"/
