// Package join holds every walk up a span's parent chain and everything
// remembered about recent spans for one:
//   - the Engine, behind projectionlag (below);
//   - Climb, which carries write spans' event counts up to their command,
//     across batches on the Engine's produced counts, or within one batch for
//     the connector;
//   - Lineage and Ancestry, behind cqrsside: a span's nearest classified
//     ancestor in its process, through the batch and then a bounded table of
//     earlier batches' spans.
//
// The Engine remembers compact
// facts about the recent write-side spans a join can reach (ids, times, a
// command type: never a span) and, for one batch, its relay spans; it
// answers "which span produced the event this apply span applied, and which
// command was above it?", and keeps a pending join for an apply span whose
// producer or command has not arrived yet.
//
// Spans never wait here. An apply span goes on at once with what is known;
// when its producer or command arrives later (an SDK flushes every few
// seconds per process, so a consumer's spans routinely reach the collector
// first), the pending join completes and Remember returns a Completion: the
// lag or consistency delay measured then, to be written onto the span that
// completed it. That span travels through the pipeline with its own request's
// context, so nothing is re-sent on a goroutine of ours and processorhelper's
// counts stay right. Pending joins that never complete leave by age or to make
// room, and are counted by reason.
//
// The Engine owns its lock, its tables, its expiry goroutine and its counts:
// a caller opens a Tx for one batch (Begin), asks and tells through it, and
// closes it (End), which hands the batch's counts to the callback given to
// New. The expiry goroutine (Start/Shutdown) makes pending joins that expire
// while no batch arrives counted too.
//
// Memory is fixed by Config: facts and event ids are ringmap tables (88 and 72
// bytes an entry with their index cells; the event id table is a quarter of
// the facts'), pending joins a ringmap of 232 bytes an entry with no pointer
// (names are interned), each with its own limit.
package join // import "github.com/otelcol-es/otelcol-es/internal/join"
