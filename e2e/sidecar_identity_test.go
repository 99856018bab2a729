package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tb "github.com/otelcol-es/otelcol-es/internal/testbed"
)

// backendConfig is an OTLP backend that exposes what it receives on a Prometheus endpoint, as a collector or
// a vendor's OTLP-to-Prometheus path would: service.name becomes job (and service_name), service.instance.id
// becomes instance. Series with the same labels from two senders are one series there.
const backendConfig = `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: ${env:OTELCOL_ES_OTLP_GRPC}
exporters:
  prometheus:
    endpoint: ${env:OTELCOL_ES_PROMETHEUS}
    translation_strategy: UnderscoreEscapingWithoutSuffixes
    resource_constant_labels:
      included: [service.name]
  nop: {}
service:
  pipelines:
    metrics: {receivers: [otlp], exporters: [prometheus]}
    traces: {receivers: [otlp], exporters: [nop]}
    logs: {receivers: [otlp], exporters: [nop]}
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus: {host: '${env:OTELCOL_ES_TELEMETRY_HOST}', port: '${env:OTELCOL_ES_TELEMETRY_PORT}'}
`

// Two replicas of one service, each with its own config/sidecar.yaml, push to one backend. Their cqrs.* series
// stay apart (one `instance` per replica: the pod name given as OTELCOL_ES_INSTANCE_ID, or the sidecar's own
// instance id), each equal to its replica's ground truth, and their sum equals the service's. An app that
// sends its own service.instance.id is labelled with it. Without the identity (the control), the replicas
// write the same series and the backend loses counts: what the issue reported.
func TestSidecarReplicasDoNotCollide(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	demo := demoBinary(t)
	sidecar := filepath.Join("..", "config", "sidecar.yaml")
	backendFile := filepath.Join(t.TempDir(), "backend.yaml")
	require.NoError(t, os.WriteFile(backendFile, []byte(backendConfig), 0o600))

	// replicas runs two sidecars (extra args for both) and one esdemo per sidecar, as replicas of one service.
	replicas := func(t *testing.T, service string, envA []string, args ...string) (*tb.Collector, []*groundTruth, []*tb.Collector) {
		backend := tb.StartCollector(t, collectorBin, nil, "--config", backendFile)
		backend.WaitReady(t)
		// The sidecars run the lean sidecar build, as deployed (TestEveryShippedConfigStarts runs
		// sidecar.yaml on the full distribution).
		a := tb.StartCollector(t, sidecarBin, append([]string{"OTELCOL_ES_BACKEND=" + backend.GRPC}, envA...), append([]string{"--config", sidecar}, args...)...)
		a.WaitReady(t)
		b := tb.StartCollector(t, sidecarBin, []string{"OTELCOL_ES_BACKEND=" + backend.GRPC}, append([]string{"--config", sidecar}, args...)...)
		b.WaitReady(t)
		sidecars := []*tb.Collector{a, b}
		truths := make([]*groundTruth, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, sc := range sidecars {
			wg.Go(func() {
				truths[i], errs[i] = runDemo(ctx, demo, filepath.Join(t.TempDir(), fmt.Sprintf("truth-%d.json", i)), sc.GRPC,
					"-service-name", service, "-commands", fmt.Sprint(60+40*i), "-rate", "40", "-query-rate", "10",
					"-error-ratio", "0.1", "-seed", fmt.Sprint(i+1))
			})
		}
		wg.Wait()
		require.NoError(t, errs[0])
		require.NoError(t, errs[1])
		return backend, truths, sidecars
	}
	// commandSeries is the backend's cqrs_command_total for service, by instance and type/status.
	commandSeries := func(f tb.Families, service string) map[string]map[string]float64 {
		out := map[string]map[string]float64{}
		for _, m := range f["cqrs_command_total"].GetMetric() {
			l := labelsOf(m)
			if l["service_name"] != service {
				continue
			}
			if out[l["instance"]] == nil {
				out[l["instance"]] = map[string]float64{}
			}
			out[l["instance"]][l["command_type"]+"/"+l["command_status"]] += m.GetCounter().GetValue()
		}
		return out
	}
	truthOf := func(truths ...*groundTruth) map[string]float64 {
		out := map[string]float64{}
		for _, tr := range truths {
			for typ, byStatus := range tr.Commands {
				for status, n := range byStatus {
					if n > 0 {
						out[typ+"/"+status] += float64(n)
					}
				}
			}
		}
		return out
	}
	sum := func(byInstance map[string]map[string]float64) map[string]float64 {
		out := map[string]float64{}
		for _, s := range byInstance {
			for k, v := range s {
				out[k] += v
			}
		}
		return out
	}

	t.Run("with identity", func(t *testing.T) {
		const service = "orders"
		backend, truths, sidecars := replicas(t, service, []string{"OTELCOL_ES_INSTANCE_ID=orders-7d9f-a"})
		want := truthOf(truths...)
		url := "http://" + backend.Prom + "/metrics"
		var got map[string]map[string]float64
		deadline := time.Now().Add(90 * time.Second)
		for {
			f, err := tb.Scrape(ctx, url)
			if err == nil {
				got = commandSeries(f, service)
				if assert.ObjectsAreEqual(want, sum(got)) {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the backend's cqrs_command_total never summed to the ground truth %v; by instance: %v", want, got)
			}
			time.Sleep(500 * time.Millisecond)
		}
		require.Len(t, got, 2, "one series set per replica: %v", got)
		assert.Equal(t, truthOf(truths[0]), got["orders-7d9f-a"], "replica a (OTELCOL_ES_INSTANCE_ID)")
		delete(got, "orders-7d9f-a")
		for id, s := range got {
			assert.Regexp(t, `^[0-9a-f-]{36}$`, id, "replica b is labelled with its sidecar's own service.instance.id")
			assert.Equal(t, truthOf(truths[1]), s, "replica b")
		}

		// An app that names its instance: its id wins over the sidecar's.
		seed := tb.WithFreshIDs(tb.LoadTraces(t, "cqrs-conventions-traces.json"))
		for i := 0; i < seed.ResourceSpans().Len(); i++ {
			seed.ResourceSpans().At(i).Resource().Attributes().PutStr("service.instance.id", "order-service-pod-1")
		}
		tb.Send(ctx, t, sidecars[0], tb.GRPC, seed)
		tb.WaitForValue(ctx, t, url, 90*time.Second, "cqrs_command_total", map[string]string{"service_name": "order-service",
			"instance": "order-service-pod-1", "command_type": "PlaceOrder", "command_status": "success"}, 2)
	})

	t.Run("control: without identity they collide", func(t *testing.T) {
		const service = "orders-shared"
		backend, truths, _ := replicas(t, service, nil,
			"--set=connectors.spanmetrics_es.collector_instance.enabled=false",
			"--set=connectors.spanmetrics_es.resource_dimensions=[]")
		want := truthOf(truths...)
		// Each sidecar re-sends its cumulative series every flush, each export replacing the other's: the
		// backend shows one replica's counts, then the other's, never their sum.
		var got map[string]map[string]float64
		deadline := time.Now().Add(90 * time.Second)
		for {
			f, err := tb.Scrape(ctx, "http://"+backend.Prom+"/metrics")
			if err == nil {
				got = commandSeries(f, service)
				s := sum(got)
				if assert.ObjectsAreEqual(truthOf(truths[0]), s) || assert.ObjectsAreEqual(truthOf(truths[1]), s) {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the backend never showed one replica's counts (%v or %v); got %v", truthOf(truths[0]), truthOf(truths[1]), got)
			}
			time.Sleep(250 * time.Millisecond)
		}
		assert.Len(t, got, 1, "without identity the replicas share one series set: %v", got)
		// The loss, against the demos' own flags (-commands 60 and 100), not the truths the loop compared
		// with: the service ran 160 commands, the backend shows 60 or 100 of them.
		total := func(m map[string]float64) (n float64) {
			for _, v := range m {
				n += v
			}
			return n
		}
		assert.InDelta(t, 160.0, total(want), 0, "the two demos' -commands")
		assert.Contains(t, []float64{60, 100}, total(sum(got)), "the backend keeps one replica's commands and loses the other's")
	})
}
