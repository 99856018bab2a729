package eventsource

import (
	"encoding/json"
	"fmt"
	"time"
)

// Aggregate is what the Repository loads and saves. Embed *Root (or Root)
// in a domain type to get every method but Apply-wiring for free.
type Aggregate interface {
	AggregateID() string
	AggregateType() string
	// Version is the version including pending (not yet saved) events.
	Version() int64
	PendingEvents() []Event
	// MarkCommitted clears pending events after a successful save.
	MarkCommitted()
	// LoadFromHistory applies stored events without making them pending.
	LoadFromHistory(events []Event) error
}

// Snapshotter is implemented by aggregates whose state can be snapshotted.
type Snapshotter interface {
	SnapshotState() ([]byte, error)
	// RestoreSnapshot sets the state and the version it was taken at.
	RestoreSnapshot(state []byte, version int64) error
}

// Root is the aggregate-root helper: it numbers versions, stamps events and
// keeps pending ones. The domain type supplies the state transition.
type Root struct {
	id      string
	typ     string
	version int64
	pending []Event
	apply   func(Event) error
	now     func() time.Time
}

// Init must be called by the domain type's constructor. apply mutates the
// domain state for one event; it must not fail for events already stored.
func (r *Root) Init(id, aggregateType string, apply func(Event) error) {
	r.id, r.typ, r.apply = id, aggregateType, apply
	r.now = time.Now
}

// AggregateID implements Aggregate.
func (r *Root) AggregateID() string { return r.id }

// AggregateType implements Aggregate.
func (r *Root) AggregateType() string { return r.typ }

// Version implements Aggregate.
func (r *Root) Version() int64 { return r.version }

// PendingEvents implements Aggregate.
func (r *Root) PendingEvents() []Event { return r.pending }

// MarkCommitted implements Aggregate.
func (r *Root) MarkCommitted() { r.pending = nil }

// SetVersion is for RestoreSnapshot implementations.
func (r *Root) SetVersion(v int64) { r.version = v }

// Raise creates an event with the next version, applies it to the state and
// keeps it pending until the repository saves it.
func (r *Root) Raise(eventType string, data any) error {
	if r.apply == nil {
		return fmt.Errorf("eventsource: aggregate %q used before Root.Init", r.id)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("eventsource: encoding %s: %w", eventType, err)
	}
	e := Event{
		ID:            NewEventID(),
		Type:          eventType,
		AggregateID:   r.id,
		AggregateType: r.typ,
		Version:       r.version + 1,
		Timestamp:     r.now(),
		Data:          raw,
	}
	if err := r.apply(e); err != nil {
		return err
	}
	r.version = e.Version
	r.pending = append(r.pending, e)
	return nil
}

// LoadFromHistory implements Aggregate.
func (r *Root) LoadFromHistory(events []Event) error {
	for _, e := range events {
		if e.Version != r.version+1 {
			return fmt.Errorf("eventsource: aggregate %s: event version %d after %d", r.id, e.Version, r.version)
		}
		if err := r.apply(e); err != nil {
			return err
		}
		r.version = e.Version
	}
	return nil
}
