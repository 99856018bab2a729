package spancorpus

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// A span that cites no known source, or has no kind the conventions name, does not load: the corpus
// stays a record of what real instrumentations emit.
func TestLoadRefusesUncitedSpans(t *testing.T) {
	for want, doc := range map[string]string{
		`src "blog" is not in sources`: "sources: {semconv-http: x}\ntraces: [{name: t, spans: [{service: a, id: s, name: GET, kind: SERVER, src: blog}]}]",
		`kind "RPC"`:                   "sources: {semconv-http: x}\ntraces: [{name: t, spans: [{service: a, id: s, name: GET, kind: RPC, src: semconv-http}]}]",
		`used twice`:                   "sources: {s: x}\ntraces: [{name: t, spans: [{service: a, id: s, name: A, kind: SERVER, src: s}, {service: a, id: s, name: B, kind: CLIENT, src: s}]}]",
	} {
		path := filepath.Join(t.TempDir(), "spans.yaml")
		require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
		_, err := Load(path)
		assert.ErrorContains(t, err, want)
	}
}

// Batches keeps each service's spans under its own resource, remote parents flagged as the SDKs flag them.
func TestBatches(t *testing.T) {
	c, err := Load(corpusPath)
	require.NoError(t, err)
	n, remote := 0, 0
	for _, td := range c.Batches() {
		require.Equal(t, 1, td.ResourceSpans().Len(), "one service per batch")
		n += td.SpanCount()
		forEachSpan(td, func(s ptrace.Span) {
			if s.Flags()&flagIsRemote != 0 {
				remote++
				assert.False(t, s.ParentSpanID().IsEmpty(), s.Name())
			}
		})
	}
	assert.Equal(t, c.Len(), n)
	assert.Positive(t, remote)
}
