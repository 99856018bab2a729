#!/usr/bin/env bash
# `make run`: otelcol-es on its embedded default config, the eventsource demo workload feeding it, and a live
# table of what the collector derives (bin/esview reads its /metrics every 5 s). The collector's and the
# demo's output go to bin/run/otelcol-es.log and bin/run/esdemo.log.
#
# `make run DEBUG=1` (or scripts/run.sh --debug) shows the collector's own output instead of the table: its
# debug exporter logs a line per batch. DEBUG=detailed prints every span and data point.
set -euo pipefail
cd "$(dirname "$0")/.."

debug="${DEBUG:-}"
if [ "${1:-}" = "--debug" ]; then debug="${2:-1}"; fi
case "$debug" in ""|0) debug="" ;; detailed) ;; *) debug=basic ;; esac

prom="${OTELCOL_ES_PROMETHEUS:-127.0.0.1:8889}"
telemetry="${OTELCOL_ES_TELEMETRY_HOST:-127.0.0.1}:${OTELCOL_ES_TELEMETRY_PORT:-8888}"
mkdir -p bin/run

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

if [ -n "$debug" ]; then
  ./bin/otelcol-es --set=exporters.debug.verbosity="$debug" &
else
  ./bin/otelcol-es >bin/run/otelcol-es.log 2>&1 &
fi
pids+=($!)

if [ -x bin/esdemo ]; then
  # Give the collector a moment to open its listeners; the demo's exporter retries anyway.
  sleep 2
  ./bin/esdemo -endpoint "${OTELCOL_ES_OTLP_GRPC:-127.0.0.1:4317}" -duration 1h >bin/run/esdemo.log 2>&1 &
  pids+=($!)
fi

echo "otelcol-es is running with the demo workload. CQRS metrics: http://$prom/metrics (OpenMetrics with exemplars"
echo "when asked for), its own: http://$telemetry/metrics. Ctrl-C stops everything."
if [ -z "$debug" ]; then
  echo "Logs: bin/run/otelcol-es.log, bin/run/esdemo.log. The collector's debug output: make run DEBUG=1."
  ./bin/esview -metrics "http://$prom/metrics" -telemetry "http://$telemetry/metrics" -interval 5s &
  pids+=($!)
fi
wait -n "${pids[@]}"
