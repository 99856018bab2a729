// Package reliability holds the end-to-end reliability and scale-out tests of otelcol-es: soak (R1),
// load-balanced gateways, Kafka as the transport, crash (R2) and overload (R3). They run the built
// binary and real peers (Prometheus, an in-process Kafka broker) on loopback.
package reliability
