package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"golang.org/x/mod/modfile"

	"github.com/otelcol-es/otelcol-es/internal/modproxy"
	tb "github.com/otelcol-es/otelcol-es/internal/testbed"
)

const projectModule = "github.com/otelcol-es/otelcol-es"

// The modules someone outside this repository requires to use the components
// (the components module, the conventions, the runtime, its stores and its Kafka and RabbitMQ buses).
var publishedModules = []string{".", "eventsource/semconv", "eventsource", "eventsource/sqlitestore",
	"eventsource/pgstore", "eventsource/kafkabus", "eventsource/rabbitbus"}

// TestComponentsBuildOutsideTheRepo builds a distribution the way a platform
// team does: its own ocb manifest names cqrsside, projectionlag and
// spanmetrics_es by module path and version, and the go command resolves them
// from a module proxy (a file-based one, made from this checkout at the
// release version) with no replace directive. It then checks the binary
// lists the components and accepts a pipeline using all three.
func TestComponentsBuildOutsideTheRepo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a distribution")
	}
	root := tb.RepoRoot()
	manifest := readManifest(t, filepath.Join(root, "builder-config.yaml"))
	release := "v" + manifest.Dist.Version
	// The checkout is published at a version of its own, a prerelease of the release: the go command keeps
	// what it downloads by path and version in a module cache that other test runs share (a second
	// `make test` beside this one), so each run needs versions no other run writes or removes.
	version := fmt.Sprintf("%s-checkout.%d", release, time.Now().UnixNano())

	proxy := t.TempDir()
	for _, dir := range publishedModules {
		m, err := modproxy.Publish(proxy, root, dir, version, projectModule)
		require.NoError(t, err)
		requireOwnModulesAt(t, m, release)
	}
	t.Cleanup(func() { purgeProjectModules(t, version) })

	work := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(work, "manifest.yaml"), []byte(consumerManifest(t, manifest, version)), 0o644))
	builder := filepath.Join(work, "ocb")
	run(t, root, nil, "go", "build", "-o", builder, "go.opentelemetry.io/collector/cmd/builder")

	goproxy := strings.TrimSpace(string(runOut(t, root, nil, "go", "env", "GOPROXY")))
	env := []string{
		"GOPROXY=file://" + filepath.ToSlash(proxy) + "," + goproxy,
		"GONOSUMDB=" + projectModule, // not in the public checksum database: it is this checkout
		"GOWORK=off",
	}
	run(t, work, env, builder, "--config", "manifest.yaml", "--skip-compilation")
	dist := filepath.Join(work, "dist")
	goMod, err := os.ReadFile(filepath.Join(dist, "go.mod"))
	require.NoError(t, err)
	require.NotContains(t, string(goMod), "replace", "the consumer's build must need no replace")
	require.Contains(t, string(goMod), projectModule+" "+version)

	// CGO_ENABLED=0 like `make build`, so the collector's packages come from the build cache.
	bin := filepath.Join(work, "otelcol-consumer")
	run(t, dist, append(env, "CGO_ENABLED=0"), "go", "build", "-o", bin, ".")

	components := string(runOut(t, work, nil, bin, "components"))
	for _, c := range []string{"cqrsside", "projectionlag", "cqrsmetricsdrop", "spanmetrics_es"} {
		require.Contains(t, components, "name: "+c, "the consumer's distribution lists %s", c)
	}
	require.Contains(t, components, "module: "+projectModule+" "+version)

	config := filepath.Join(work, "config.yaml")
	require.NoError(t, os.WriteFile(config, []byte(consumerConfig), 0o644))
	run(t, work, nil, bin, "validate", "--config", config)

	// An application module: the runtime and its SQLite store, by version too.
	app := filepath.Join(work, "app")
	require.NoError(t, os.MkdirAll(app, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(app, "go.mod"), []byte("module example.com/app\n\ngo 1.26.0\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(app, "main.go"), []byte(appMain), 0o644))
	run(t, app, env, "go", "get", projectModule+"/eventsource@"+version, projectModule+"/eventsource/sqlitestore@"+version,
		projectModule+"/eventsource/pgstore@"+version, projectModule+"/eventsource/kafkabus@"+version,
		projectModule+"/eventsource/rabbitbus@"+version)
	run(t, app, env, "go", "mod", "tidy")
	appMod, err := os.ReadFile(filepath.Join(app, "go.mod"))
	require.NoError(t, err)
	require.NotContains(t, string(appMod), "replace")
	run(t, app, append(env, "CGO_ENABLED=0"), "go", "build", "-o", filepath.Join(work, "app-bin"), ".")
	run(t, app, nil, filepath.Join(work, "app-bin"), filepath.Join(work, "events.db"))
}

// appMain appends one event to a SQLite store and reads it back; it links
// the PostgreSQL store and the Kafka and RabbitMQ buses too.
const appMain = `package main

import (
	"context"
	"log"
	"os"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/kafkabus"
	"github.com/otelcol-es/otelcol-es/eventsource/pgstore"
	"github.com/otelcol-es/otelcol-es/eventsource/rabbitbus"
	"github.com/otelcol-es/otelcol-es/eventsource/sqlitestore"
)

var _, _, _ = kafkabus.New, pgstore.Open, rabbitbus.New

func main() {
	store, err := sqlitestore.Open(os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	if _, err := store.AppendEvents(ctx, "order-1", "Order", 0, []eventsource.Event{{Type: "OrderPlaced"}}); err != nil {
		log.Fatal(err)
	}
	events, err := store.GetEvents(ctx, "order-1", 0)
	if err != nil || len(events) != 1 {
		log.Fatalf("read back %d events: %v", len(events), err)
	}
}
`

type ocbManifest struct {
	Dist struct {
		Version string `yaml:"version"`
	} `yaml:"dist"`
	Receivers []struct {
		GoMod string `yaml:"gomod"`
	} `yaml:"receivers"`
	Exporters []struct {
		GoMod string `yaml:"gomod"`
	} `yaml:"exporters"`
}

func readManifest(t *testing.T, path string) ocbManifest {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var m ocbManifest
	require.NoError(t, yaml.Unmarshal(data, &m))
	require.NotEmpty(t, m.Dist.Version, "dist.version of %s", path)
	return m
}

// requireOwnModulesAt fails when a published module requires another of this
// project's modules at a version that is not the one being published: a
// consumer would then ask the proxy for a version that does not exist.
func requireOwnModulesAt(t *testing.T, m modproxy.Module, version string) {
	f, err := modfile.ParseLax(m.Dir+"/go.mod", m.GoMod, nil)
	require.NoError(t, err)
	for _, r := range f.Require {
		if strings.HasPrefix(r.Mod.Path, projectModule) {
			require.Equal(t, version, r.Mod.Version,
				"%s/go.mod requires %s at %s, but the release is %s (dist.version of builder-config.yaml)",
				m.Dir, r.Mod.Path, r.Mod.Version, version)
		}
	}
}

// consumerManifest is a platform team's ocb manifest: the OTLP receiver and
// debug exporter at the versions this project builds with, and the three
// components by module path and version. No replaces.
func consumerManifest(t *testing.T, ours ocbManifest, version string) string {
	find := func(entries []struct {
		GoMod string `yaml:"gomod"`
	}, path string) string {
		for _, e := range entries {
			if strings.HasPrefix(e.GoMod, path+" ") {
				return e.GoMod
			}
		}
		t.Fatalf("builder-config.yaml has no %s", path)
		return ""
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `dist:
  name: otelcol-consumer
  module: example.com/platform/otelcol-consumer
  output_path: ./dist
receivers:
  - gomod: %s
exporters:
  - gomod: %s
processors:
  - gomod: %[3]s %[4]s
    import: %[3]s/processor/cqrsside
  - gomod: %[3]s %[4]s
    import: %[3]s/processor/projectionlag
  - gomod: %[3]s %[4]s
    import: %[3]s/processor/cqrsmetricsdrop
connectors:
  - gomod: %[3]s %[4]s
    import: %[3]s/connector/spanmetrics-es
    name: spanmetricses # the folder name is not a Go identifier
`, find(ours.Receivers, "go.opentelemetry.io/collector/receiver/otlpreceiver"),
		find(ours.Exporters, "go.opentelemetry.io/collector/exporter/debugexporter"), projectModule, version)
	return b.String()
}

const consumerConfig = `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
processors:
  cqrsside:
  projectionlag:
  cqrsmetricsdrop:
connectors:
  spanmetrics_es:
exporters:
  debug:
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [cqrsside, projectionlag]
      exporters: [spanmetrics_es]
    metrics:
      receivers: [spanmetrics_es]
      exporters: [debug]
    metrics/app:
      receivers: [otlp]
      processors: [cqrsmetricsdrop]
      exporters: [debug]
`

// purgeProjectModules removes this run's versions of the project's modules from the module cache.
func purgeProjectModules(t *testing.T, version string) {
	modCache := strings.TrimSpace(string(runOut(t, "", nil, "go", "env", "GOMODCACHE")))
	download := filepath.Join(modCache, "cache", "download", filepath.FromSlash(projectModule))
	for _, pattern := range []string{
		filepath.Join(modCache, filepath.FromSlash(projectModule)) + "*@" + version,
		filepath.Join(modCache, filepath.FromSlash(projectModule)) + "/*/*@" + version, // the nested modules
		filepath.Join(modCache, filepath.FromSlash(projectModule)) + "/*@" + version,
		filepath.Join(download, "@v", version+".*"),
		filepath.Join(download, "*", "@v", version+".*"),
		filepath.Join(download, "*", "*", "@v", version+".*"),
	} {
		matches, _ := filepath.Glob(pattern)
		for _, m := range matches {
			// The module cache is read-only; make it writable to remove it.
			_ = filepath.Walk(m, func(p string, info os.FileInfo, err error) error {
				if err == nil && info.IsDir() {
					_ = os.Chmod(p, 0o755)
				}
				return nil
			})
			_ = os.Chmod(filepath.Dir(m), 0o755)
			require.NoError(t, os.RemoveAll(m))
		}
	}
}

func run(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	runOut(t, dir, env, name, args...)
}

func runOut(t *testing.T, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s %s in %s:\n%s%s", name, strings.Join(args, " "), dir, out, stderr.String())
	return out
}
