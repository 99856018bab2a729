package buswire

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/otelcol-es/otelcol-es/eventsource"
)

// MaxErrorMessage truncates the error message a dead letter keeps, as eventsource-py does.
const MaxErrorMessage = 1000

// Retry is eventsource-py's RetryPolicy, shared by its Kafka and RabbitMQ buses.
type Retry struct {
	BaseDelay time.Duration // before the first retry, doubled for each further one
	MaxDelay  time.Duration // caps every delay
	Jitter    float64       // fraction of each delay randomised, in [0, 1]
}

// eventsource-py's RetryPolicy defaults, shared by its Kafka and RabbitMQ bus configs.
const (
	DefaultMaxRetries     = 3
	DefaultRetryBaseDelay = time.Second
	DefaultRetryMaxDelay  = 60 * time.Second
	DefaultRetryJitter    = 0.1
)

// FillRetry fills in a bus config's retry fields: 0 takes the default, a
// negative MaxRetries or jitter means none.
func FillRetry(maxRetries *int, base, maxDelay *time.Duration, jitter *float64) {
	switch {
	case *maxRetries == 0:
		*maxRetries = DefaultMaxRetries
	case *maxRetries < 0:
		*maxRetries = 0
	}
	if *base <= 0 {
		*base = DefaultRetryBaseDelay
	}
	if *maxDelay <= 0 {
		*maxDelay = DefaultRetryMaxDelay
	}
	switch {
	case *jitter == 0:
		*jitter = DefaultRetryJitter
	case *jitter < 0:
		*jitter = 0
	}
}

// Check reports what is wrong with a filled-in policy, named as the configs name it.
func (r Retry) Check() []error {
	var errs []error
	if r.MaxDelay < r.BaseDelay {
		errs = append(errs, fmt.Errorf("RetryMaxDelay %v is less than RetryBaseDelay %v", r.MaxDelay, r.BaseDelay))
	}
	if r.Jitter > 1 {
		errs = append(errs, fmt.Errorf("RetryJitter %v is not in [0, 1]", r.Jitter))
	}
	return errs
}

// Delay is the wait before retry number retries+1.
func (r Retry) Delay(retries int) time.Duration {
	d := r.BaseDelay
	for i := 0; i < retries && d < r.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, r.MaxDelay)
	if r.Jitter > 0 {
		d = time.Duration(float64(d) * (1 + r.Jitter*(2*rand.Float64()-1)))
	}
	return min(d, r.MaxDelay)
}

// Sleep waits d, or returns false when ctx ends first.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// SafeHandle calls h, turning a panic into an error.
func SafeHandle(ctx context.Context, h eventsource.EventHandler, e eventsource.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", eventsource.ErrHandlerPanic, h.HandlerName(), r)
		}
	}()
	return h.HandleEvent(ctx, e)
}

// Failure is a handler's failed call.
type Failure struct {
	Handler eventsource.EventHandler
	Err     error
}

// HandlerDispatchError is the error of a message whose handlers failed, when
// more than one did (one failing handler's error is used as it is, as
// eventsource-py does). Its type names the dead letter's error type.
type HandlerDispatchError struct {
	// Failures maps each failed handler's name to its last error.
	Failures map[string]error
}

func (e *HandlerDispatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d handlers failed:", len(e.Failures))
	for name, err := range e.Failures {
		b.WriteString(" " + name + ": " + err.Error() + ";")
	}
	return b.String()
}

// ErrorType implements eventsource.ErrorTyper.
func (*HandlerDispatchError) ErrorType() string { return "HandlerDispatchError" }

// Unwrap returns the handlers' errors.
func (e *HandlerDispatchError) Unwrap() []error {
	out := make([]error, 0, len(e.Failures))
	for _, err := range e.Failures {
		out = append(out, err)
	}
	return out
}

// HandlerError is the error a message's failed handlers leave: the one
// handler's own, or a HandlerDispatchError naming each.
func HandlerError(failures []Failure) error {
	if len(failures) == 1 {
		return failures[0].Err
	}
	m := make(map[string]error, len(failures))
	for _, f := range failures {
		m[f.Handler.HandlerName()] = f.Err
	}
	return &HandlerDispatchError{Failures: m}
}

// ErrorType names an error for error.type and a dead letter's error type: an
// event that could not be decoded is a DeserializationError (eventsource-py's
// name); anything else is named as the runtime names it (eventsource.ErrorType).
func ErrorType(err error) string {
	var named eventsource.ErrorTyper
	if errors.Is(err, ErrDecode) && !errors.As(err, &named) {
		return "DeserializationError"
	}
	return eventsource.ErrorType(err)
}

// Truncate cuts an error message to MaxErrorMessage bytes.
func Truncate(msg string) string {
	if len(msg) > MaxErrorMessage {
		return msg[:MaxErrorMessage]
	}
	return msg
}
