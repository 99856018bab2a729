package semconv

import "strings"

// AttrProjectionClockSkew is set (true) by projectionlag when a lag or a
// consistency delay came out negative and the negative_lag policy is "flag":
// the value is kept, but the span says its clocks disagree.
const AttrProjectionClockSkew = "cqrs.projection.clock_skew"

// Values runtimes use for a projection or subscription phase, beyond the
// canonical PhaseLive / PhaseReplay and eventsource-py's TransitionPhase
// values (PhaseValue*). Its SubscriptionState said "catching_up" / "live".
const (
	phaseInCatchup    = "catchup"
	phaseInCatchUp    = "catch_up"
	phaseInCatchingUp = "catching_up"
	phaseInRebuild    = "rebuild"
	phaseInRebuilding = "rebuilding"
	phaseInReplaying  = "replaying"
	phaseInHistorical = "historical"
	phaseInTail       = "tail"
	phaseInTailing    = "tailing"
	phaseInRealtime   = "realtime"
	phaseInCaughtUp   = "caught_up"
)

// NormalizeProjectionPhase maps a runtime's phase value (case-insensitive)
// to PhaseLive or PhaseReplay. ok is false for values it does not know.
func NormalizeProjectionPhase(v string) (phase string, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case PhaseReplay, phaseInCatchup, phaseInCatchUp, phaseInCatchingUp, phaseInRebuild,
		phaseInRebuilding, phaseInReplaying, phaseInHistorical,
		// eventsource-py: until the buffer gathered while catching up is drained, the
		// subscription still delivers history.
		PhaseValueInitialCatchup, PhaseValueLiveSubscribed, PhaseValueFinalCatchup, PhaseValueProcessingBuffer:
		return PhaseReplay, true
	case PhaseLive, phaseInTail, phaseInTailing, phaseInRealtime, phaseInCaughtUp:
		return PhaseLive, true
	}
	return "", false
}

// SubscriptionPhase is the eventsource-py phase value the runtime module writes for a phase
// (PhaseLive or PhaseReplay): a replay is a catch-up from the start.
func SubscriptionPhase(phase string) string {
	if phase == PhaseReplay {
		return PhaseValueInitialCatchup
	}
	return PhaseValueLive
}

// RunnerPhase is the phase an eventsource-py subscription runner's apply span
// implies by its name alone (0.14 puts no phase on per-event spans):
// catch-up delivers history, the live runner tails.
func RunnerPhase(spanName string) (phase string, ok bool) {
	switch spanName {
	case SpanCatchupRunnerDeliverEvent:
		return PhaseReplay, true
	case SpanLiveRunnerProcessEvent:
		return PhaseLive, true
	}
	return "", false
}
