module github.com/otelcol-es/otelcol-es/eventsource/rabbitbus

go 1.26.0

replace github.com/otelcol-es/otelcol-es/eventsource => ../

replace github.com/otelcol-es/otelcol-es/eventsource/semconv => ../semconv

replace github.com/otelcol-es/otelcol-es/eventsource/sqlitestore => ../sqlitestore

require (
	github.com/otelcol-es/otelcol-es/eventsource v0.1.0
	github.com/otelcol-es/otelcol-es/eventsource/semconv v0.1.0
	github.com/otelcol-es/otelcol-es/eventsource/sqlitestore v0.1.0
	github.com/rabbitmq/amqp091-go v1.17.0
	github.com/stretchr/testify v1.12.1
	go.opentelemetry.io/otel v1.47.0
	go.opentelemetry.io/otel/sdk v1.47.0
	go.opentelemetry.io/otel/trace v1.47.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/go-logr/logr v1.4.4 // indirect
	github.com/go-logr/stdr v1.2.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/ncruces/go-strftime v1.1.0 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	go.opentelemetry.io/auto/sdk v1.2.1 // indirect
	go.opentelemetry.io/otel/log v1.47.0 // indirect
	go.opentelemetry.io/otel/metric v1.47.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sys v0.49.0 // indirect
	modernc.org/libc v1.79.0 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
	modernc.org/sqlite v1.61.1 // indirect
)
