package spangen

import (
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Request is one OTLP export request and its ground truth.
type Request struct {
	Req    ptraceotlp.ExportRequest
	Counts Counts
}

// Source hands out requests; it is safe for concurrent use.
type Source interface{ Next() Request }

// Pool cycles requests generated up front: the cheapest source to send from.
// The first cycle sends them as generated; every later cycle sends a copy
// with new trace ids (RenewTraceIDs), because a collector that counts each
// span once (spanmetrics_es) would otherwise count a repeated cycle as
// duplicates.
type Pool struct {
	reqs []Request
	i    atomic.Uint64
}

// NewPool generates n requests from cfg.
func NewPool(cfg Config, n int) *Pool {
	g := New(cfg)
	p := &Pool{reqs: make([]Request, max(n, 1))}
	for i := range p.reqs {
		td, c := g.BatchCounts()
		p.reqs[i] = Request{ptraceotlp.NewExportRequestFromTraces(td), c}
	}
	return p
}

// Next returns the next request of the cycle.
func (p *Pool) Next() Request {
	i := p.i.Add(1) - 1
	r := p.reqs[i%uint64(len(p.reqs))]
	cycle := i / uint64(len(p.reqs))
	if cycle == 0 {
		return r
	}
	td := ptrace.NewTraces()
	r.Req.Traces().CopyTo(td)
	RenewTraceIDs(td, cycle)
	return Request{ptraceotlp.NewExportRequestFromTraces(td), r.Counts}
}

// RenewTraceIDs mixes n into every trace id of td, spans' and links' alike,
// so batches renewed with the same n still join each other and batches
// renewed with another n share no (trace id, span id) with them.
func RenewTraceIDs(td ptrace.Traces, n uint64) {
	if n == 0 {
		return
	}
	renew := func(id pcommon.TraceID) pcommon.TraceID {
		binary.BigEndian.PutUint64(id[8:], binary.BigEndian.Uint64(id[8:])^(n*0x9e3779b97f4a7c15))
		return id
	}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				span.SetTraceID(renew(span.TraceID()))
				for _, l := range span.Links().All() {
					l.SetTraceID(renew(l.TraceID()))
				}
			}
		}
	}
}

// Fresh generates every request as it is needed, stamped with the wall clock,
// so ids never repeat and aggregate ids keep coming (cardinality runs).
type Fresh struct{ ch chan Request }

// NewFresh starts generating from cfg until ctx ends.
func NewFresh(ctx context.Context, cfg Config) *Fresh {
	cfg.Now = time.Now
	g := New(cfg)
	s := &Fresh{ch: make(chan Request, 64)}
	go func() {
		for {
			td, c := g.BatchCounts()
			select {
			case s.ch <- Request{ptraceotlp.NewExportRequestFromTraces(td), c}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return s
}

// Next waits for the next generated request.
func (s *Fresh) Next() Request { return <-s.ch }

// DriveOptions set how Drive sends.
type DriveOptions struct {
	// Workers is the number of exports in flight.
	Workers int
	// Rate is the offered load in spans per second.
	Rate float64
	// Duration is how long load is offered.
	Duration time.Duration
	// Retry resends a request refused with a retryable code (Unavailable,
	// ResourceExhausted) with backoff, the way an OpenTelemetry SDK's OTLP
	// exporter does, until it is accepted or Drain ends. Without it a refused
	// request is counted as failed.
	Retry bool
	// Drain is how long requests already offered may still be sent once the
	// load stops (default 5 s); what is left then is backlog.
	Drain time.Duration
	// Clock paces the load, the drain and the retry backoff (default: the
	// wall clock); tests drive it.
	Clock clockwork.Clock
}

// Stats is what Drive offered and what became of it.
type Stats struct {
	// Offered is every request the rate called for.
	Offered Counts `json:"offered"`
	// Sent were accepted by the receiver (answered OK).
	Sent Counts `json:"sent"`
	// Failed were answered with an error and not retried (or not retryable).
	Failed Counts `json:"failed"`
	// Backlog never got an answer: the senders fell behind, or a retried
	// request was still refused when the drain ended.
	Backlog Counts `json:"backlog"`
	// Unanswered is the part of Backlog that was in flight when the drain
	// ended: the receiver may have accepted it.
	Unanswered Counts `json:"unanswered"`
	// Refusals counts the retryable refusals (each attempt).
	Refusals int64 `json:"refusals"`
	// Elapsed is the load phase's length.
	Elapsed time.Duration `json:"elapsed_ns"`
	// LastError is the last export error seen.
	LastError string `json:"last_error,omitempty"`
}

type driveState struct {
	mu                                sync.Mutex
	sent, failed, backlog, unanswered Counts
	refusals                          int64
	lastErr                           string
}

func (st *driveState) record(to *Counts, c Counts, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	to.Add(c)
	if err != nil {
		st.lastErr = err.Error()
	}
}

// Drive offers src's requests to client at o.Rate spans/s for o.Duration from
// o.Workers concurrent exports. A request whose turn comes while every worker
// is busy waits in a queue; the queue is bounded, and what overflows it or is
// still queued after the drain is backlog: the receiver did not keep up.
func Drive(ctx context.Context, client ptraceotlp.GRPCClient, src Source, o DriveOptions) Stats {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Drain <= 0 {
		o.Drain = 5 * time.Second
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	clock := o.Clock
	var st driveState
	queue := make(chan Request, 1<<12)
	// Workers stop taking new requests at drainEnd; an export in flight ends by then too.
	sendCtx, stopSending := context.WithCancel(ctx)
	defer stopSending()
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Go(func() {
			for sendCtx.Err() == nil {
				r, ok := <-queue
				if !ok {
					return
				}
				st.export(sendCtx, clock, client, r, o.Retry)
			}
		})
	}

	var offered Counts
	start := clock.Now()
	for {
		elapsed := clock.Since(start)
		done := elapsed >= o.Duration || ctx.Err() != nil
		// Offer what the rate allows by now, one request at a time; at the end, what it allows for the whole
		// Duration, however far past it the clock is when this loop notices (a busy machine, a test's clock).
		elapsed = min(elapsed, o.Duration)
		for float64(offered.Spans) < elapsed.Seconds()*o.Rate {
			r := src.Next()
			offered.Add(r.Counts)
			select {
			case queue <- r:
			default:
				st.record(&st.backlog, r.Counts, nil)
			}
		}
		if done {
			break
		}
		clock.Sleep(time.Millisecond)
	}
	elapsed := min(clock.Since(start), o.Duration)
	close(queue)

	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-clock.After(o.Drain):
		stopSending()
		<-drained
	}
	for r := range queue {
		st.record(&st.backlog, r.Counts, nil)
	}
	return Stats{Offered: offered, Sent: st.sent, Failed: st.failed, Backlog: st.backlog, Unanswered: st.unanswered,
		Refusals: st.refusals, Elapsed: elapsed, LastError: st.lastErr}
}

func (st *driveState) export(ctx context.Context, clock clockwork.Clock, client ptraceotlp.GRPCClient, r Request, retry bool) {
	backoff := 50 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := client.Export(cctx, r.Req)
		cancel()
		switch {
		case err == nil:
			st.record(&st.sent, r.Counts, nil)
			return
		case ctx.Err() != nil:
			// Stopped with no answer: the receiver may or may not have it.
			st.record(&st.backlog, r.Counts, err)
			st.record(&st.unanswered, r.Counts, nil)
			return
		}
		code := status.Code(err)
		if !retry || (code != codes.Unavailable && code != codes.ResourceExhausted) {
			st.record(&st.failed, r.Counts, err)
			return
		}
		st.mu.Lock()
		st.refusals++
		st.lastErr = err.Error()
		st.mu.Unlock()
		select {
		case <-ctx.Done():
			st.record(&st.backlog, r.Counts, nil)
			return
		case <-clock.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}
