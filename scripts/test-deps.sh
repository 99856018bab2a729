#!/usr/bin/env bash
# What `make test` needs besides Go, from Debian's packages: prometheus (the server and promtool: e2e,
# reliability, the rules' tests), postgresql (the server binaries: pgstore's tests start a throw-away cluster),
# rabbitmq-server (rabbitbus's tests and the RabbitMQ demo start a throw-away node) and buildah (the image test; only when it runs, i.e. as root without OTELCOL_ES_SKIP_IMAGE_TEST=1).
# Installs whatever is missing with one apt-get run (sudo when not root), or stops at once with the command
# that installs it. Nothing to do when everything is there.
set -euo pipefail

missing=()
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || missing+=(prometheus)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
if [ "${OTELCOL_ES_SKIP_IMAGE_TEST:-}" != 1 ]; then
  command -v buildah >/dev/null 2>&1 || missing+=(buildah)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo "
install="${sudo}apt-get update -qq && ${sudo}apt-get install -y -qq ${missing[*]}"
# sudo -n: never stop to ask for a password; without one, say what to run instead.
if ! command -v apt-get >/dev/null 2>&1 || { [ -n "$sudo" ] && ! sudo -n true 2>/dev/null; }; then
  echo "make test needs ${missing[*]}; install with:" >&2
  echo "  $install" >&2
  exit 1
fi
echo "installing what make test needs: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! { ${sudo}apt-get update -qq && ${sudo}apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
  echo "installing ${missing[*]} failed; run:" >&2
  echo "  $install" >&2
  exit 1
fi
