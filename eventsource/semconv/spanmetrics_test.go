package semconv

import "testing"

func TestIsUnboundedKey(t *testing.T) {
	for k, want := range map[string]bool{
		AttrAggregateID: true, AttrESAggregateID: true, AttrESEventID: true, AttrEventAggregateID: true,
		AttrTraceIDUnderscore: true, AttrSpanIDDot: true, "order.aggregate_id": true, "kafka.event.id": true,
		AttrServiceInstanceID: false, AttrCommandType: false, AttrAggregateType: false, AttrESEventType: false,
		"deployment.environment": false,
	} {
		if got := IsUnboundedKey(k); got != want {
			t.Errorf("IsUnboundedKey(%q) = %v, want %v", k, got, want)
		}
	}
}
