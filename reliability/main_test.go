package reliability

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/otelcol-es/otelcol-es/internal/testbed"
)

var (
	// collectorBin is $OTELCOL_ES_BIN (set by the Makefile), else built once here.
	collectorBin string
	// demoBin is $OTELCOL_ES_DEMO_BIN, else eventsource/cmd/esdemo built once here.
	demoBin string

	soakDuration = flag.Duration("soak.duration", envDuration("OTELCOL_ES_SOAK_DURATION", time.Minute),
		"R1 soak load duration (env OTELCOL_ES_SOAK_DURATION); CI 1m, make soak 10m")
	soakRate = flag.Float64("soak.rate", envFloat("OTELCOL_ES_SOAK_RATE", 100),
		"R1 soak command rate per second (env OTELCOL_ES_SOAK_RATE); about 21 spans per command")
)

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "otelcol-es-reliability")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if collectorBin, err = testbed.CollectorBinary(dir); err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
	} else if demoBin, err = demoBinary(dir); err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func demoBinary(dir string) (string, error) {
	if bin := os.Getenv("OTELCOL_ES_DEMO_BIN"); bin != "" {
		if _, err := os.Stat(bin); err == nil {
			return bin, nil
		}
	}
	bin := filepath.Join(dir, "esdemo")
	build := exec.Command("go", "build", "-o", bin, "./cmd/esdemo")
	build.Dir = filepath.Join(testbed.RepoRoot(), "eventsource")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("building esdemo (or set OTELCOL_ES_DEMO_BIN): %w", err)
	}
	return bin, nil
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envFloat(name string, def float64) float64 {
	var f float64
	if _, err := fmt.Sscan(os.Getenv(name), &f); err == nil && f > 0 {
		return f
	}
	return def
}

func configPath(name string) string { return filepath.Join(testbed.RepoRoot(), "config", name) }
