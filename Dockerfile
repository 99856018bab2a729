# otelcol-es container image, in the style of the opentelemetry-collector-releases images: FROM scratch, the
# static binary, CA certificates, a non-root user. `make image` builds it with buildah from a context holding
# only otelcol-es (from `make build`: CGO_ENABLED=0) and ca-certificates.crt (the build host's bundle).
#
# `make image-sidecar` builds the lean sidecar build (builder-sidecar.yaml) into the same layout: it has no
# embedded config, so it runs with --config (config/sidecar.yaml, as deploy/kubernetes/sidecar.yaml mounts it).
#
# Without arguments it runs the embedded default config (config/default.yaml). The environment below moves
# its listeners from loopback to all interfaces: inside a container, loopback is reachable from nowhere else.
# Outside a container the default stays on 127.0.0.1. Run another config with --config=/path/in/a/volume.
FROM scratch

ARG VERSION=unknown
ARG COMMIT=unknown
ARG TITLE=otelcol-es
ARG DESCRIPTION="OpenTelemetry Collector distribution for event-sourced and CQRS applications"
LABEL org.opencontainers.image.title="${TITLE}" \
      org.opencontainers.image.description="${DESCRIPTION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --chmod=644 ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --chmod=755 otelcol-es /otelcol-es

ENV OTELCOL_ES_OTLP_GRPC=0.0.0.0:4317 \
    OTELCOL_ES_OTLP_HTTP=0.0.0.0:4318 \
    OTELCOL_ES_PROMETHEUS=0.0.0.0:8889 \
    OTELCOL_ES_HEALTH=0.0.0.0:13133 \
    OTELCOL_ES_TELEMETRY_HOST=0.0.0.0

# OTLP gRPC, OTLP HTTP, CQRS metrics (Prometheus), the collector's own metrics, health_check.
EXPOSE 4317 4318 8889 8888 13133

USER 10001:10001
ENTRYPOINT ["/otelcol-es"]
