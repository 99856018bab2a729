// Package e2e runs the built otelcol-es binary on loopback and talks to it the way users do: real OTLP in
// (gRPC, HTTP/protobuf, HTTP/JSON), Prometheus exposition out, and a real Prometheus server scraping it.
package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/otelcol-es/otelcol-es/internal/testbed"
)

// collectorBin is the binary under test: $OTELCOL_ES_BIN (set by `make test`), else built once here.
// sidecarBin is the lean sidecar build: $OTELCOL_ES_SIDECAR_BIN, else built once here.
var collectorBin, sidecarBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "otelcol-es-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	collectorBin, err = testbed.CollectorBinary(dir)
	if err == nil {
		sidecarBin, err = testbed.SidecarBinary(dir)
	}
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func withLabel(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for mk, mv := range m {
		out[mk] = mv
	}
	return out
}
