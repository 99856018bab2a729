package join

// Events produced by a command: an SDK exports a span when it ends, children
// first, so an append (or a repository save) often reaches the collector one
// export batch before the command span above it. Its event count then waits
// here, keyed by the span it climbs to next (its parent, then that span's
// parent as each arrives), until it reaches the command. 24-byte key, 8-byte
// count: no span is kept.

// AddProduced adds n events to those waiting for the span key. Counts that
// wait for one span are summed: several appends under one command.
func (tx *Tx) AddProduced(key Key, n int64) {
	e := tx.e
	if prev, ok := e.produced.Lookup(key, tx.now); ok {
		n += prev
	}
	e.produced.Set(key, n, tx.now) // an entry evicted to make room is counted by producedLeft
}

// TakeProduced returns and forgets the events waiting for the span key.
func (tx *Tx) TakeProduced(key Key) (int64, bool) {
	e := tx.e
	n, ok := e.produced.Lookup(key, tx.now)
	if ok {
		e.produced.Delete(key)
	}
	return n, ok
}

// HasProduced reports whether any event count waits, so a batch can skip the
// lookups when none does.
func (tx *Tx) HasProduced() bool { return tx.e.produced.Len() > 0 }

// producedLeft counts event counts that left without reaching a command: by
// age (the command never arrived within TTL, or it had arrived before them) or
// to make room.
func (e *Engine) producedLeft(_ *Key, n *int64, _ bool) {
	e.counts.EventsUnattributed += *n
}
