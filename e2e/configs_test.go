package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	tb "github.com/otelcol-es/otelcol-es/internal/testbed"
)

func shippedConfigs(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "config", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

func TestComponentsListsOwnComponents(t *testing.T) {
	out, err := exec.Command(collectorBin, "components").CombinedOutput()
	require.NoError(t, err, string(out))
	for _, name := range []string{"cqrsside", "projectionlag", "cqrsmetricsdrop", "spanmetrics_es"} {
		assert.Contains(t, string(out), "name: "+name)
	}
}

// The lean sidecar build has the components and what config/sidecar.yaml needs, and none of the heavy ones
// (Kafka, the Prometheus receiver, load balancing, tail sampling, the filter processor's OTTL) whose start-up
// cost and resident pages it avoids.
func TestSidecarBuildIsLean(t *testing.T) {
	out, err := exec.Command(sidecarBin, "components").CombinedOutput()
	require.NoError(t, err, string(out))
	for _, name := range []string{"cqrsside", "projectionlag", "cqrsmetricsdrop", "spanmetrics_es", "otlp", "memory_limiter", "batch", "health_check"} {
		assert.Contains(t, string(out), "name: "+name)
	}
	for _, name := range []string{"kafka", "prometheus", "loadbalancing", "tail_sampling", "filter", "transform"} {
		assert.NotContains(t, string(out), "name: "+name)
	}
	out, err = runWithEnv([]string{"OTELCOL_ES_BACKEND=127.0.0.1:4317"}, sidecarBin, "validate", "--config", filepath.Join("..", "config", "sidecar.yaml"))
	require.NoError(t, err, string(out))
}

func TestValidateRejectsBadConfigNamingTheField(t *testing.T) {
	bad := `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
processors:
  cqrsside:
    rules:
      - side: sideways
        name_prefix: "Order"
exporters:
  nop: {}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [cqrsside]
      exporters: [nop]
`
	path := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(path, []byte(bad), 0o600))
	out, err := exec.Command(collectorBin, "validate", "--config", path).CombinedOutput()
	require.Error(t, err, "validate accepted a rule with side 'sideways':\n%s", out)
	assert.Contains(t, string(out), "cqrsside")
	assert.Contains(t, string(out), "side")
	assert.Contains(t, string(out), "sideways")
}

// Every shipped config validates and starts. The environment gives each one what it requires.
func TestEveryShippedConfigStarts(t *testing.T) {
	pki := tb.NewPKI(t)
	for _, file := range shippedConfigs(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			env := append(pki.Env(t), "OTELCOL_ES_STORAGE_DIR="+t.TempDir())
			out, err := runWithEnv(env, collectorBin, "validate", "--config", file)
			require.NoError(t, err, string(out))
			c := tb.StartCollector(t, collectorBin, env, "--config", file)
			c.WaitReady(t)
		})
	}
}

// Listeners in shipped configs bind to loopback, except the OTLP receivers of configs that say they are
// a gateway (gateway*.yaml). No config holds a secret literal.
func TestShippedConfigsBindLoopbackAndHoldNoSecrets(t *testing.T) {
	for _, file := range shippedConfigs(t) {
		raw, err := os.ReadFile(file)
		require.NoError(t, err)
		var doc map[string]any
		require.NoError(t, yaml.Unmarshal(raw, &doc))
		gateway := strings.HasPrefix(filepath.Base(file), "gateway")
		walk(doc, "", func(path string, v string) {
			key := path[strings.LastIndex(path, ".")+1:]
			switch key {
			case "endpoint", "host":
				// exporters.<type>[/<name>]...: only the prometheus exporter listens; the others are clients.
				if id, ok := strings.CutPrefix(path, "exporters."); ok && !strings.HasPrefix(id, "prometheus.") && !strings.HasPrefix(id, "prometheus/") {
					return // a client address, not a listener
				}
				if gateway && strings.HasPrefix(path, "receivers.") {
					return
				}
				addr := defaultOf(v)
				assert.Truef(t, strings.HasPrefix(addr, "127.0.0.1") || strings.HasPrefix(addr, "localhost"),
					"%s: %s listens on %q, not loopback", filepath.Base(file), path, addr)
			case "token", "password", "bearer_token", "api_key", "secret":
				assert.Truef(t, strings.HasPrefix(v, "${"), "%s: %s holds a literal secret", filepath.Base(file), path)
			}
		})
	}
}

var envDefault = regexp.MustCompile(`^\$\{env:[A-Z0-9_]+:-(.*)\}$`)

func defaultOf(v string) string {
	if m := envDefault.FindStringSubmatch(v); m != nil {
		return m[1]
	}
	return v
}

func walk(node any, path string, f func(path, v string)) {
	switch n := node.(type) {
	case map[string]any:
		for k, v := range n {
			p := k
			if path != "" {
				p = path + "." + k
			}
			walk(v, p, f)
		}
	case []any:
		for _, v := range n {
			walk(v, path, f)
		}
	case string:
		f(path, n)
	}
}

// The gateway config's OTLP receiver demands TLS and the bearer token from its token file.
func TestGatewayRefusesWrongTokenAcceptsRightOne(t *testing.T) {
	pki := tb.NewPKI(t)
	env := append(pki.Env(t), "OTELCOL_ES_STORAGE_DIR="+t.TempDir())
	c := tb.StartCollector(t, collectorBin, env, "--config", filepath.Join("..", "config", "gateway.yaml"))
	c.WaitReady(t)
	grpcAddr := c.Addr(t, "OTELCOL_ES_GATEWAY_GRPC")

	pool := x509.NewCertPool()
	pool.AddCert(pki.CA)
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"})))
	require.NoError(t, err)
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	req := ptraceotlp.NewExportRequestFromTraces(tb.WithFreshIDs(tb.LoadTraces(t, "cqrs-conventions-traces.json")))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, err = client.Export(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer wrong-token"), req)
	require.Error(t, err)
	assert.Equal(t, codes.Unauthenticated, status.Code(err), err.Error())

	_, err = client.Export(ctx, req)
	require.Error(t, err, "a request without a token was accepted")

	_, err = client.Export(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+pki.Token), req)
	require.NoError(t, err)
}

func runWithEnv(env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	return cmd.CombinedOutput()
}
