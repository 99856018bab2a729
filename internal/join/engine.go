package join

import (
	"context"
	"encoding/binary"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/otelcol-es/otelcol-es/internal/ringmap"
)

// Key identifies a span: its trace id, then its span id. Event keys (see
// Tx.EventKey) share the type and live in their own table.
type Key [24]byte

// NewKey builds the key of a span.
func NewKey(trace [16]byte, span [8]byte) Key {
	var k Key
	copy(k[:16], trace[:])
	copy(k[16:], span[:])
	return k
}

// WithSpan returns the key of another span in the same trace.
func (k Key) WithSpan(span [8]byte) Key {
	copy(k[16:], span[:])
	return k
}

// TraceID is the key's trace id.
func (k Key) TraceID() [16]byte { return [16]byte(k[:16]) }

// SpanID is the key's span id.
func (k Key) SpanID() [8]byte { return [8]byte(k[16:]) }

// Kind tells what a remembered span is to a join.
type Kind uint8

const (
	// Producer is a write-side span: lag is measured from its end.
	Producer Kind = iota + 1
	// Relay is a projection-side span (consume, dispatch, handle) between a
	// publish and an apply span: a walk goes on at its parent.
	Relay
	// DeadEnd is a span that arrived and leads nowhere: walks stop there.
	DeadEnd
)

// Fact is what the engine remembers of a span: ids and times, 40 bytes.
type Fact struct {
	Parent [8]byte
	// Start and End are unix nanoseconds.
	Start, End int64
	// Event is the hash of the event id the span names (Tx.EventHash; 0:
	// none): a walk from an apply span of another event stops there.
	Event uint64
	// Command is the interned command type of a command span (Tx.CommandID;
	// 0: not a command span).
	Command uint32
	Kind    Kind
}

// CommandUnnamed marks a command span whose type did not fit the command
// table: the walk to the command stops there and the delay is measured,
// without a command type.
const CommandUnnamed = ^uint32(0)

// Config bounds the engine.
type Config struct {
	// MaxFacts bounds the facts table (and a quarter of it the event id
	// table); when full, the oldest entry is evicted.
	MaxFacts int
	// MaxPending bounds the pending joins, and the event counts waiting for
	// their command (AddProduced); when full, the oldest is dropped.
	MaxPending int
	// TTL is how long a fact is remembered and a pending join waits.
	TTL time.Duration
	// MaxCommandTypes bounds the table of distinct command types.
	MaxCommandTypes int
	// MaxDepth bounds each walk up a parent chain.
	MaxDepth int
}

// Counts are what the engine did: per batch (Tx.End) or per expiry tick.
type Counts struct {
	// Pairs: apply spans joined to their producer; LatePairs of them when the
	// producer arrived after the apply.
	Pairs, LatePairs int64
	// Unmatched: apply spans whose producer never arrived within TTL, or that
	// had nothing left to wait for; PendingEvicted: pending joins dropped to
	// make room (MaxPending).
	Unmatched, PendingEvicted int64
	// CommandUnresolved: joined apply spans whose walk to a command stopped at
	// a span not stored, or whose command never arrived within TTL.
	CommandUnresolved int64
	// FactsExpired and FactsEvicted: facts dropped by age and to make room;
	// Duplicates: facts seen again under a key already stored.
	FactsExpired, FactsEvicted, Duplicates int64
	// CommandTypesDropped: command types not remembered (table full).
	CommandTypesDropped int64
	// EventsUnattributed: events of writes (AddProduced) that reached no
	// command: it did not arrive within TTL, or the count was dropped to make
	// room.
	EventsUnattributed int64
}

// Engine is safe for concurrent use: every method takes its lock, and a Tx
// holds it from Begin to End.
type Engine struct {
	cfg    Config
	clock  clockwork.Clock
	record func(context.Context, Counts)

	mu       sync.Mutex
	facts    *ringmap.Map[Key, Fact]
	relays   batchFacts // the batch in flight's relays (Remember)
	events   *ringmap.Map[Key, Key]
	pending  *ringmap.Map[uint64, pendingJoin]
	produced *ringmap.Map[Key, int64]
	waiting  waits // newest pending join waiting for a key
	seq      uint64
	commands *interner
	names    *interner // projection names, event types, services of pending joins
	seeds    [2]maphash.Seed
	counts   Counts
	woken    []uint64

	pendingLen atomic.Int64
	stop, done chan struct{}
}

// New returns a stopped engine. record receives the counts of every Tx and of
// every expiry tick of the goroutine Start starts.
func New(cfg Config, clock clockwork.Clock, record func(context.Context, Counts)) *Engine {
	e := &Engine{
		cfg:    cfg,
		clock:  clock,
		record: record,
		facts:  ringmap.New[Key, Fact](cfg.MaxFacts, cfg.TTL, nil),
		relays: newBatchFacts(),
		// Few write spans name an event (an outbox add, a publish): a quarter of the facts.
		events:   ringmap.New[Key, Key](max(cfg.MaxFacts/4, 1), cfg.TTL, nil),
		pending:  ringmap.New[uint64, pendingJoin](cfg.MaxPending, cfg.TTL, hashSeq),
		produced: ringmap.New[Key, int64](cfg.MaxPending, cfg.TTL, nil),
		waiting:  newWaits(),
		commands: newInterner(cfg.MaxCommandTypes),
		names:    newInterner(maxNames),
		seeds:    [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
	}
	e.pending.OnRemove(e.pendingLeft)
	e.produced.OnRemove(e.producedLeft)
	return e
}

// maxNames bounds the names pending joins share; past it a new name's join is
// not kept (counted).
const maxNames = 10_000

// hashSeq spreads sequential ids over the top bits ringmap indexes with.
func hashSeq(s uint64) uint64 { return s * 0x9E3779B97F4A7C15 }

// Start starts the expiry goroutine: every quarter TTL it drops what is older
// than TTL and reports the counts, so pending joins that expire while no
// batch arrives are counted too.
func (e *Engine) Start() {
	if e.stop != nil {
		return
	}
	e.stop, e.done = make(chan struct{}), make(chan struct{})
	go e.expireLoop(max(e.cfg.TTL/4, time.Millisecond))
}

// Shutdown stops the expiry goroutine. Pending joins are dropped uncounted:
// their apply spans went on long ago.
func (e *Engine) Shutdown() {
	if e.stop == nil {
		return
	}
	close(e.stop)
	<-e.done
	e.stop = nil
}

func (e *Engine) expireLoop(every time.Duration) {
	defer close(e.done)
	t := e.clock.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.Chan():
			e.Begin().End(context.Background())
		}
	}
}

// Sizes reports how many facts and pending joins are stored.
func (e *Engine) Sizes() (facts, pending int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.facts.Len(), e.pending.Len()
}

// PendingLen is the number of pending joins (for a gauge; no lock taken).
func (e *Engine) PendingLen() int64 { return e.pendingLen.Load() }

// Begin locks the engine for one batch, expires what is older than TTL and
// returns the transaction the batch asks and tells through.
func (e *Engine) Begin() *Tx {
	e.mu.Lock()
	now := e.clock.Now()
	e.counts.FactsExpired += int64(e.facts.Expire(now))
	e.events.Expire(now)
	e.pending.Expire(now)
	e.produced.Expire(now)
	return &Tx{e: e, now: now}
}

// pendingLeft counts a pending join that left by age or to make room, and
// forgets the key it waited for when it was the newest waiting for it (joins
// leave oldest first, so the newest is the last of its key to go).
func (e *Engine) pendingLeft(seq *uint64, p *pendingJoin, expired bool) {
	if w, ok := e.waiting.get(p.waits); ok && w == *seq {
		e.waiting.del(p.waits)
	}
	switch {
	case !expired:
		e.counts.PendingEvicted++
	case p.stage == awaitCommand:
		e.counts.CommandUnresolved++
	default:
		e.counts.Unmatched++
	}
}

// Tx is one batch's access to the engine, from Begin to End. It is not safe
// for concurrent use; the engine's lock is held throughout.
type Tx struct {
	e   *Engine
	now time.Time
}

// End reports the batch's counts to the engine's callback and unlocks.
func (tx *Tx) End(ctx context.Context) {
	e := tx.e
	c := e.counts
	e.counts = Counts{}
	e.relays.reset()
	e.pendingLen.Store(int64(e.pending.Len()))
	e.mu.Unlock()
	if e.record != nil && c != (Counts{}) {
		e.record(ctx, c)
	}
}

// Now is the time the transaction began.
func (tx *Tx) Now() time.Time { return tx.now }

// CommandID interns a command type for Fact.Command (CommandUnnamed when the
// table is full: counted).
func (tx *Tx) CommandID(name string) uint32 {
	id, ok := tx.e.commands.id(name)
	if !ok {
		tx.e.counts.CommandTypesDropped++
		return CommandUnnamed
	}
	return id
}

// CommandName is the command type interned as id ("" for CommandUnnamed).
func (tx *Tx) CommandName(id uint32) string { return tx.e.commands.name(id) }

// EventKey keys an event id: two independent 64-bit hashes of it, and a span
// part no span id is likely to have. The first hash is the event's Fact.Event.
func (tx *Tx) EventKey(id string) Key {
	var k Key
	binary.LittleEndian.PutUint64(k[0:8], maphash.String(tx.e.seeds[0], id)|1)
	binary.LittleEndian.PutUint64(k[8:16], maphash.String(tx.e.seeds[1], id))
	copy(k[16:], eventKeyMarker[:])
	return k
}

var eventKeyMarker = [8]byte{0xe7, 'e', 'v', 'e', 'n', 't', 0xe7, 0}

// EventHash is the Fact.Event of an event key (never 0).
func EventHash(eventKey Key) uint64 { return binary.LittleEndian.Uint64(eventKey[0:8]) }

// Stored reports whether a fact is stored under key (for this batch or longer).
func (tx *Tx) Stored(key Key) bool {
	_, ok := tx.fact(key)
	return ok
}

// fact is what is known of the span key: a relay of this batch, or stored. The batch's relays come first:
// a walk mostly steps through them, and their small table is in cache where a miss in the facts table is
// not.
func (tx *Tx) fact(key Key) (Fact, bool) {
	if f, ok := tx.e.relays.get(key); ok {
		return f, true
	}
	return tx.e.facts.Lookup(key, tx.now)
}

// Waited reports whether a pending join waits for key.
func (tx *Tx) Waited(key Key) bool {
	_, ok := tx.e.waiting.get(key)
	return ok
}

// Remember stores f under key (f.Kind 0 stores nothing, unless a pending join
// waits for key: then the span is a dead end for it) and, for a producer that
// names an event, under the event key too. Pending joins waiting for either
// key are resumed by Resume, once the whole batch is remembered. It reports
// whether a fact was already stored under key: the span came again (a
// client's retry).
//
// A relay is kept only for the batch it came in, unless a pending join waits
// for it: an SDK exports a span after its children, so the apply spans below a
// relay arrive in the same batch or an earlier one, never a later one. A join
// that leaves the batch unfinished goes on from where its walk stopped
// (Resolve), not through the relays again.
func (tx *Tx) Remember(key Key, f Fact, eventKey *Key) (duplicate bool) {
	e := tx.e
	switch {
	case f.Kind == Relay && !tx.Waited(key):
		e.relays.put(key, f)
		return false
	case f.Kind == 0:
		if !tx.Waited(key) {
			return false
		}
		f = Fact{Kind: DeadEnd}
	}
	switch e.facts.Put(key, f, tx.now) {
	case ringmap.Duplicate:
		e.counts.Duplicates++
		duplicate = true
	case ringmap.AddedEvicting:
		e.counts.FactsEvicted++
	}
	tx.wake(key)
	if eventKey != nil && f.Kind == Producer {
		// Several write spans name one event (an outbox add, a publish): the one
		// that ended first stands for it, whatever order they arrive in.
		if prev, ok := e.events.Lookup(*eventKey, tx.now); ok {
			if pf, ok := e.facts.Lookup(prev, tx.now); ok && pf.End <= f.End {
				return duplicate
			}
		}
		if e.events.Set(*eventKey, key, tx.now) == ringmap.AddedEvicting {
			e.counts.FactsEvicted++
		}
		tx.wake(*eventKey)
	}
	return duplicate
}

func (tx *Tx) wake(key Key) {
	e := tx.e
	seq, ok := e.waiting.get(key)
	if !ok {
		return
	}
	e.waiting.del(key)
	e.woken = append(e.woken, seq)
}
