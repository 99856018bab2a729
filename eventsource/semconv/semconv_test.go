package semconv

import "testing"

func TestIsStoreRead(t *testing.T) {
	for name, want := range map[string]bool{
		SpanRepositoryLoad: true, SpanRepositoryExists: true, SpanSnapshotGet: true, SpanSnapshotExists: true,
		EventStorePostgreSQL + SpanSuffixGetEvents: true, "sqlite" + SpanSuffixGetEvents: true,
		SpanRepositorySave: false, EventStorePostgreSQL + SpanSuffixAppendEvents: false, SpanSnapshotSave: false,
		SpanBusPublish: false, "SELECT": false,
	} {
		if got := IsStoreRead(name); got != want {
			t.Errorf("IsStoreRead(%q) = %v, want %v", name, got, want)
		}
	}
}
