package deploy

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// promtool comes with Prometheus (Debian: apt-get install -y prometheus). Like the end-to-end tests, this
// test never skips: CI installs it.
func promtool(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("this test needs promtool: install Prometheus (`apt-get install -y prometheus` on Debian); .ci/run does")
	}
	return bin
}

// The rules parse and pass their unit tests (prometheus/rules_test.yaml: each alert fires on its bad input,
// stays quiet on the good input next to it, and not before its `for:`).
func TestPrometheusRules(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", "rules.yaml"},
		{"test", "rules", "rules_test.yaml"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = filepath.Join("prometheus")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %v: %v\n%s", args, err, out)
		}
		t.Logf("promtool %v:\n%s", args, out)
	}
}
