package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-es/otelcol-es/internal/spangen"
	"github.com/otelcol-es/otelcol-es/internal/testbed"
)

// loadResult is esload's JSON output (cmd/esload).
type loadResult struct {
	Achieved float64       `json:"achieved_spans_per_s"`
	Services []string      `json:"services"`
	Stats    spangen.Stats `json:"stats"`
}

// runLoad runs esload against an OTLP/gRPC endpoint until it exits (load, then drain) and returns what it
// sent.
func runLoad(ctx context.Context, t *testing.T, endpoint string, args ...string) *loadResult {
	t.Helper()
	res, err := runLoadE(ctx, t, endpoint, args...)
	require.NoError(t, err)
	return res
}

// runLoadE is runLoad for any goroutine: it returns the error instead of failing the test.
func runLoadE(ctx context.Context, t *testing.T, endpoint string, args ...string) (*loadResult, error) {
	out := filepath.Join(t.TempDir(), "load.json")
	logs := &testbed.SyncBuffer{}
	cmd := exec.CommandContext(ctx, loadBin, append([]string{"-endpoint", endpoint, "-out", out}, args...)...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("esload: %w: %s", err, logs)
	}
	t.Logf("%s", logs)
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	var res loadResult
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
