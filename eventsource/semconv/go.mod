module github.com/otelcol-es/otelcol-es/eventsource/semconv

go 1.26.0
