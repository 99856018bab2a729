package sqlitestore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/storetest"
)

type counting struct{ n int }

func (*counting) Name() string                                     { return "counting" }
func (c *counting) Apply(context.Context, eventsource.Event) error { c.n++; return nil }
func (c *counting) Reset(context.Context) error                    { c.n = 0; return nil }

// TestCatchUpResumesFromDurableCheckpoint: a projection checkpointed in the
// same SQLite file resumes after a restart with only the events it missed.
func TestCatchUpResumesFromDurableCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	ctx := context.Background()
	appendN := func(s *Store, agg string, from, n int) {
		for i := range n {
			_, err := s.AppendEvents(ctx, agg, "Order", int64(from+i), []eventsource.Event{storetest.NewEvent("X")})
			require.NoError(t, err)
		}
	}
	s := open(t, path)
	appendN(s, "a", 0, 5)
	p := &counting{}
	r, err := eventsource.NewProjectionRunner(eventsource.ProjectionConfig{Projection: p, Store: s, Checkpoints: s, BatchSize: 2})
	require.NoError(t, err)
	n, err := r.CatchUp(ctx)
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	require.NoError(t, s.Close())

	s = open(t, path)
	defer s.Close()
	appendN(s, "b", 0, 3)
	p2 := &counting{}
	r2, err := eventsource.NewProjectionRunner(eventsource.ProjectionConfig{Projection: p2, Store: s, Checkpoints: s, BatchSize: 2})
	require.NoError(t, err)
	n, err = r2.CatchUp(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, n, "only the events appended after the checkpoint")
	assert.Equal(t, int64(8), r2.Checkpoint())
	cp, err := s.GetCheckpoint(ctx, "counting")
	require.NoError(t, err)
	assert.Equal(t, int64(8), cp)
}
