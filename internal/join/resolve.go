package join

// MaxLinks bounds the links followed per apply span.
const MaxLinks = 2

// Target is what a join follows from an apply span.
type Target struct {
	// Trace and Parent are the apply span's trace and parent span ids.
	Trace  [16]byte
	Parent [8]byte
	// Links are followed first, in order (the CQRS conventions link the
	// producing span's context; batch handlers a few).
	Links  [MaxLinks]Key
	NLinks uint8
	// EventKey is the key of the event id the apply span names (Tx.EventKey);
	// HasEvent tells whether it names one.
	EventKey Key
	HasEvent bool
}

// Resolution is how far a join got.
type Resolution struct {
	Producer, Command           Fact
	ProducerFound, CommandFound bool
	// SameTrace: the producer is in the apply span's trace.
	SameTrace bool
	// Candidates counts what the span could be joined through (link, event
	// id, parent).
	Candidates int
	// what to wait for, when the join can go further
	await      Key
	awaitStage stage
	// chainAt is where the walk up the parent chain stopped at a span not
	// arrived: a pending join goes on from there, since the relays it walked
	// are kept for their batch only.
	chainAt [8]byte
}

// CanAwait reports whether the join waits for a span that has not arrived:
// the producer (ProducerFound is false) or the command above it.
func (r *Resolution) CanAwait() bool { return r.awaitStage != 0 }

// AwaitsCommand reports whether the join found its producer and waits for the
// command above it.
func (r *Resolution) AwaitsCommand() bool { return r.awaitStage == awaitCommand }

type stage uint8

const (
	awaitProducer stage = iota + 1
	awaitCommand
)

type walkStatus uint8

const (
	walkDead walkStatus = iota
	walkMissing
	walkFound
)

// Resolve joins an apply span to its producer: through its link first (the
// CQRS conventions), then the event id it names (eventsource-py and the
// runtime name the event on the apply and on its outbox/publish spans; only
// this joins a feed-driven runner's apply to its own event, not the one whose
// message woke it), then its parent chain (apply ← handle ← dispatch ← consume
// ← remote publish or save), which is left as soon as a span on it names
// another event. From the producer it climbs to the command span.
func (tx *Tx) Resolve(t *Target) Resolution {
	var r Resolution
	var await Key
	awaiting := false
	miss := func(k Key) {
		if !awaiting {
			await, awaiting = k, true
		}
	}
	var event uint64
	if t.HasEvent {
		event = EventHash(t.EventKey)
	}
	// try walks from one candidate: found, or where the walk stopped at a span not arrived.
	try := func(k Key) (found bool, missingAt Key, missing bool) {
		r.Candidates++
		f, at, st := tx.walk(k, event)
		switch st {
		case walkFound:
			tx.found(&r, at, f, t.Trace)
			return true, at, false
		case walkMissing:
			miss(at)
			return false, at, true
		}
		return false, at, false
	}
	for _, l := range t.Links[:t.NLinks] {
		if found, _, _ := try(l); found {
			return r
		}
	}
	if t.HasEvent {
		r.Candidates++
		if pk, ok := tx.e.events.Lookup(t.EventKey, tx.now); ok {
			if f, ok := tx.e.facts.Lookup(pk, tx.now); ok && f.Kind == Producer {
				tx.found(&r, pk, f, t.Trace)
				return r
			}
		}
	}
	var zeroSpan [8]byte
	if t.Parent != zeroSpan && t.Trace != [16]byte{} {
		found, at, missing := try(NewKey(t.Trace, t.Parent))
		if found {
			return r
		}
		if missing {
			r.chainAt = at.SpanID()
		}
	}
	if t.HasEvent {
		// Waited for after the chain: when both are missing, the chain's next span
		// (same process, exported together) usually comes first and leads to the
		// same event's producer; the event key covers buses whose consumer spans
		// are roots or that woke the runner for another event.
		miss(t.EventKey)
	}
	if awaiting {
		r.await, r.awaitStage = await, awaitProducer
	}
	return r
}

func (tx *Tx) found(r *Resolution, at Key, f Fact, trace [16]byte) {
	r.Producer, r.ProducerFound = f, true
	r.SameTrace = at.TraceID() == trace
	cmd, missing, st := tx.walkToCommand(at, f)
	switch st {
	case walkFound:
		r.Command, r.CommandFound = cmd, true
	case walkMissing:
		r.await, r.awaitStage = missing, awaitCommand
	}
}

// walk follows relays from k to the first producer. A span that names an
// event other than event (when both are known) ends it: that chain belongs to
// another event's delivery.
func (tx *Tx) walk(k Key, event uint64) (Fact, Key, walkStatus) {
	for range tx.e.cfg.MaxDepth {
		f, ok := tx.fact(k)
		if !ok {
			return f, k, walkMissing
		}
		if event != 0 && f.Event != 0 && f.Event != event {
			return f, k, walkDead
		}
		switch f.Kind {
		case Producer:
			return f, k, walkFound
		case Relay:
			if f.Parent == [8]byte{} {
				return f, k, walkDead
			}
			k = k.WithSpan(f.Parent)
		default:
			return f, k, walkDead
		}
	}
	return Fact{}, k, walkDead
}

// walkToCommand climbs from a producer (an append, a save, a publish) to the
// command span above it.
func (tx *Tx) walkToCommand(k Key, f Fact) (Fact, Key, walkStatus) {
	for range tx.e.cfg.MaxDepth {
		if f.Command != 0 {
			return f, k, walkFound
		}
		if f.Parent == [8]byte{} {
			return f, k, walkDead
		}
		k = k.WithSpan(f.Parent)
		next, ok := tx.fact(k)
		if !ok {
			return f, k, walkMissing
		}
		if next.Kind != Producer {
			return f, k, walkDead
		}
		f = next
	}
	return f, k, walkDead
}

// Apply is what a pending join keeps of an apply span: ids, times and the
// names its metrics are keyed by.
type Apply struct {
	Span       Key
	Start, End int64
	// Projection, EventType and Service (the apply's service.name) key the
	// observation; Replay says it was a replay's apply.
	Projection, EventType, Service string
	Replay                         bool
	// LagKnown: the span's own attributes gave its lag (reported or event
	// timestamp); the join only looks for the command, for the delay.
	LagKnown bool
	// Threshold is the apply trace's sampling threshold plus one (0: none),
	// handed back with the completion so its observation weighs the same.
	Threshold uint64
}

// pendingJoin is an Apply with its names interned: no pointer in the slot, so
// the garbage collector never scans the pending table.
type pendingJoin struct {
	span                           Key
	start, end                     int64
	projection, eventType, service uint32
	replay, lagKnown               bool
	threshold                      uint64
	target                         Target
	// waits is the key waited for; prev the join that waited for it before
	// this one (0: none).
	waits Key
	prev  uint64
	stage stage
}

// Await keeps a pending join for an apply span whose resolution can go
// further (r.CanAwait): it completes when the awaited span arrives, through
// Resume. Its names are interned; when the name table is full, the join is
// not kept (counted as PendingEvicted).
func (tx *Tx) Await(a Apply, t *Target, r *Resolution) {
	if !r.CanAwait() {
		return
	}
	names := tx.e.names
	pn, ok1 := names.id(a.Projection)
	et, ok2 := names.id(a.EventType)
	svc, ok3 := names.id(a.Service)
	if !ok1 || !ok2 || !ok3 {
		tx.e.counts.PendingEvicted++
		return
	}
	p := pendingJoin{span: a.Span, start: a.Start, end: a.End, projection: pn, eventType: et, service: svc,
		replay: a.Replay, lagKnown: a.LagKnown, threshold: a.Threshold, target: *t, stage: r.awaitStage}
	p.target.resumeChain(r)
	tx.register(p, r.await)
}

// resumeChain makes the target's parent chain start where r's walk stopped.
func (t *Target) resumeChain(r *Resolution) {
	if r.chainAt != [8]byte{} {
		t.Parent = r.chainAt
	}
}

// apply is what a completion reports of the pending join's apply span.
func (tx *Tx) apply(p *pendingJoin) Apply {
	names := tx.e.names
	return Apply{Span: p.span, Start: p.start, End: p.end, Projection: names.name(p.projection),
		EventType: names.name(p.eventType), Service: names.name(p.service), Replay: p.replay, LagKnown: p.lagKnown,
		Threshold: p.threshold}
}

func (tx *Tx) register(p pendingJoin, waits Key) {
	e := tx.e
	e.seq++
	p.waits = waits
	p.prev, _ = e.waiting.get(waits)
	e.pending.Put(e.seq, p, tx.now)
	e.waiting.set(waits, e.seq)
}

// Completion is a join finished by a span that arrived after the apply span:
// what to observe, to be written onto that span.
type Completion struct {
	Apply
	// Lag (ms) from the producer's end to the apply's start, when HasLag.
	LagMs  float64
	HasLag bool
	// Delay (ms) from the command's end to the apply's end, when HasDelay;
	// Command is the command's interned type (Tx.CommandName).
	DelayMs  float64
	HasDelay bool
	Command  uint32
}

// Resume takes the pending joins woken by the spans Remember stored in this
// batch one step further and appends the completions to dst. A join whose
// producer or command is still missing waits for the next span; one that can
// go no further is counted.
func (tx *Tx) Resume(dst []Completion, carrier []Key) ([]Completion, []Key) {
	e := tx.e
	for len(e.woken) > 0 {
		seq := e.woken[len(e.woken)-1]
		e.woken = e.woken[:len(e.woken)-1]
		for seq != 0 {
			p, ok := e.pending.Get(seq)
			if !ok {
				break // the rest of the chain is older: gone too
			}
			e.pending.Delete(seq)
			seq = p.prev
			var c Completion
			var at Key
			if p.stage == awaitProducer {
				r := tx.Resolve(&p.target)
				if !r.ProducerFound {
					if r.CanAwait() {
						p.target.resumeChain(&r)
						tx.register(p, r.await)
					} else {
						e.counts.Unmatched++
					}
					continue
				}
				e.counts.Pairs++
				e.counts.LatePairs++
				c.Apply = tx.apply(&p)
				if !p.lagKnown {
					c.LagMs, c.HasLag = float64(p.start-r.Producer.End)/1e6, true
				}
				at = tx.carrier(p.waits)
				switch {
				case r.CommandFound:
					c.DelayMs, c.HasDelay, c.Command = float64(p.end-r.Command.End)/1e6, true, r.Command.Command
				case r.AwaitsCommand():
					p.stage = awaitCommand
					tx.register(p, r.await)
				}
			} else {
				// The span that arrived is the next step up from the producer: a write
				// span leads on; anything else (an entry point) means there is no command.
				f, ok := tx.fact(p.waits)
				if !ok || f.Kind != Producer {
					continue
				}
				cmd, missing, st := tx.walkToCommand(p.waits, f)
				switch st {
				case walkFound:
					c.Apply = tx.apply(&p)
					c.DelayMs, c.HasDelay, c.Command = float64(p.end-cmd.End)/1e6, true, cmd.Command
					at = p.waits
				case walkMissing:
					tx.register(p, missing)
				}
			}
			if c.HasLag || c.HasDelay {
				dst = append(dst, c)
				carrier = append(carrier, at)
			}
		}
	}
	return dst, carrier
}

// carrier is the span whose arrival woke a join waiting for key: the span
// itself, or for an event key the write span stored for the event.
func (tx *Tx) carrier(key Key) Key {
	if [8]byte(key[16:]) == eventKeyMarker {
		if k, ok := tx.e.events.Lookup(key, tx.now); ok {
			return k
		}
	}
	return key
}
