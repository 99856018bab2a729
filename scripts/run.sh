#!/usr/bin/env bash
# `make run`: otelcol-es on its embedded default config, plus the eventsource demo workload feeding it.
set -euo pipefail
cd "$(dirname "$0")/.."
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

./bin/otelcol-es &
pids+=($!)

if [ -x bin/esdemo ]; then
  # Give the collector a moment to open its listeners; the demo's exporter retries anyway.
  sleep 2
  ./bin/esdemo -endpoint "${OTELCOL_ES_OTLP_GRPC:-127.0.0.1:4317}" -duration 1h &
  pids+=($!)
  echo "otelcol-es is running with the demo workload. CQRS metrics: http://${OTELCOL_ES_PROMETHEUS:-127.0.0.1:8889}/metrics"
fi
wait -n "${pids[@]}"
