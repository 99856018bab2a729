package release

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// traces returns resources resource spans of spansEach spans each, named by resource index.
func traces(resources, spansEach int) ptrace.Traces {
	td := ptrace.NewTraces()
	for i := range resources {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutInt("i", int64(i))
		ss := rs.ScopeSpans().AppendEmpty()
		for range spansEach {
			ss.Spans().AppendEmpty()
		}
	}
	return td
}

// refusing fails while err is set, then delivers to the sink.
type refusing struct {
	consumertest.TracesSink
	err error
}

func (r *refusing) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	if r.err != nil {
		return r.err
	}
	return r.TracesSink.ConsumeTraces(ctx, td)
}

var _ consumer.Traces = (*refusing)(nil)

func TestRetryableRefusalIsOfferedAgain(t *testing.T) {
	next := &refusing{err: errors.New("sending queue is full")}
	r := New(next, 100)
	dropped, err := r.Send(context.Background(), traces(2, 3))
	require.Error(t, err)
	assert.Zero(t, dropped)
	assert.Equal(t, 6, r.Pending())

	next.err = nil
	dropped, err = r.Send(context.Background(), traces(1, 4))
	require.NoError(t, err)
	assert.Zero(t, dropped)
	assert.Zero(t, r.Pending())
	assert.Equal(t, 10, next.SpanCount(), "the kept spans and the new ones, once each")
	assert.Equal(t, 1, len(next.AllTraces()))

	// Nothing kept and nothing new: the consumer is not called.
	dropped, err = r.Send(context.Background(), ptrace.NewTraces())
	require.NoError(t, err)
	assert.Zero(t, dropped)
	assert.Equal(t, 1, len(next.AllTraces()))
}

func TestPermanentRefusalDrops(t *testing.T) {
	next := &refusing{err: consumererror.NewPermanent(errors.New("bad data"))}
	r := New(next, 100)
	dropped, err := r.Send(context.Background(), traces(2, 3))
	require.Error(t, err)
	assert.Equal(t, 6, dropped)
	assert.Zero(t, r.Pending())
}

func TestLimitDropsOldestResources(t *testing.T) {
	next := &refusing{err: errors.New("sending queue is full")}
	r := New(next, 5)
	dropped, _ := r.Send(context.Background(), traces(3, 2)) // 6 spans, limit 5: the first resource goes
	assert.Equal(t, 2, dropped)
	assert.Equal(t, 4, r.Pending())

	next.err = nil
	_, err := r.Send(context.Background(), ptrace.NewTraces())
	require.NoError(t, err)
	got := next.AllTraces()[0].ResourceSpans()
	require.Equal(t, 2, got.Len())
	first, _ := got.At(0).Resource().Attributes().Get("i")
	assert.Equal(t, int64(1), first.Int(), "the newest resources were kept")
}
