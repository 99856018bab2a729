// Package hold keeps spans back until something they wait for arrives, or
// until a deadline, for the processors that join a span to another one
// (cqrsside: a span waits for its parent's side; projectionlag: a projection
// span waits for its producer or command span).
//
// It has three parts, kept apart on purpose:
//
//   - Waits: the bookkeeping of "value T waits for keys K until a deadline".
//     It knows nothing of pdata. A waiter is released early when a key it
//     waits for arrives (Wake), at its deadline (Due), to make room
//     (Overflow) or at shutdown. It counts what happened (Counts).
//   - Origin, Take and Out: the pdata of a held span. A span is moved out of
//     its batch into a standalone ptrace.Span; its Resource and Scope are
//     copied once per incoming ScopeSpans into an Origin that all spans held
//     from it share; Out gathers released spans into one ResourceSpans per
//     Origin, so a burst of releases costs one resource copy per origin.
//   - Loop: the one goroutine and timer that releases what is due. It sleeps
//     until the next deadline (no polling tick), is woken when the first
//     waiter arrives, and offers spans the next consumer refused again
//     (internal/release) after a retry interval.
//
// Why separate Waits from the pdata: the next step is to stop holding spans
// for late producers. A projection span will be released at once and a
// pending join remembered instead; when the producer arrives, the lag is
// emitted from the remembered join. That is a Waits whose T is the join's
// few ids and times, not a span — same keys, same deadlines, same Wake, no
// Origin, no Out. The hot path can likewise keep T small (an index or a
// pointer) and build pdata only for what is actually held.
//
// Ordering: every wait of one Waits has the same length and callers pass a
// clock that does not go back, so arrival order is deadline order and the
// queue is a FIFO: the oldest waiter is both the next to time out and the
// first to go when the hold is full. A clock stepping back delays releases;
// it never reorders them.
//
// Nothing here is safe for concurrent use except Loop; callers serialise
// access to Waits and Out with their own lock (the same one that guards
// their join tables, since Wake is called while a batch is examined).
package hold // import "github.com/otelcol-es/otelcol-es/internal/hold"
