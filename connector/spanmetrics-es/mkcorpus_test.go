package spanmetricses

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TestWriteFuzzCorpus regenerates the committed fuzz corpus from the golden
// inputs: UPDATE_GOLDEN=1 go test -run TestWriteFuzzCorpus
func TestWriteFuzzCorpus(t *testing.T) {
	if !updateGolden {
		t.Skip("set UPDATE_GOLDEN=1 to regenerate")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzConsumeTraces")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, in := range []string{"cqrs-conventions", "eventsource-conventions"} {
		td, err := golden.ReadTraces(filepath.Join("testdata", in+"-trace.yaml"))
		require.NoError(t, err)
		js, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
		require.NoError(t, err)
		variants := map[string]string{
			in: string(js),
			// wrong attribute types everywhere
			in + "-types": strings.NewReplacer(`"intValue":"2"`, `"stringValue":"two"`, `"doubleValue":28.5`, `"boolValue":true`, `"doubleValue":81`, `"stringValue":"x"`).Replace(string(js)),
			// absurd timestamps and values
			in + "-absurd": strings.NewReplacer(`"endTimeUnixNano":"17637768000`, `"endTimeUnixNano":"1`, `"intValue":"1"`, `"intValue":"-9223372036854775808"`, `ot=th:e6666666666668`, `ot=th:`).Replace(string(js)),
		}
		for name, v := range variants {
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", v)
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
		}
	}
}
