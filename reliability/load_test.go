package reliability

import (
	"context"
	"encoding/json"
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
	out := filepath.Join(t.TempDir(), "load.json")
	logs := &testbed.SyncBuffer{}
	cmd := exec.CommandContext(ctx, loadBin, append([]string{"-endpoint", endpoint, "-out", out}, args...)...)
	cmd.Stdout, cmd.Stderr = logs, logs
	require.NoError(t, cmd.Run(), "esload: %s", logs)
	t.Logf("%s", logs)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	var res loadResult
	require.NoError(t, json.Unmarshal(b, &res))
	return &res
}
