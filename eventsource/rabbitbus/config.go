package rabbitbus

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/otelcol-es/otelcol-es/eventsource/internal/buswire"
)

// Defaults, as eventsource-py 0.14's RabbitMQEventBusConfig sets them where it has the setting.
const (
	DefaultURL               = "amqp://guest:guest@localhost:5672/"
	DefaultExchange          = "events"
	DefaultExchangeType      = ExchangeTopic
	DefaultDLQExchangeSuffix = "_dlq"
	DefaultPrefetch          = 10
	DefaultMaxRetries        = buswire.DefaultMaxRetries
	DefaultRetryBaseDelay    = buswire.DefaultRetryBaseDelay
	DefaultRetryMaxDelay     = buswire.DefaultRetryMaxDelay
	DefaultRetryJitter       = buswire.DefaultRetryJitter
	DefaultPublishTimeout    = 10 * time.Second
	DefaultReconnectDelay    = time.Second
	DefaultHeartbeat         = 60 * time.Second
)

// Exchange types.
const (
	ExchangeTopic   = "topic"
	ExchangeDirect  = "direct"
	ExchangeFanout  = "fanout"
	ExchangeHeaders = "headers"
)

// Config configures a Bus. Every field has a default; ConsumerGroup is
// required to Consume.
type Config struct {
	// URL is the broker's amqp:// or amqps:// URL, with user, password and
	// virtual host (default "amqp://guest:guest@localhost:5672/").
	URL string
	// TLS configures amqps:// connections (nil: the system's roots).
	TLS *tls.Config
	// Exchange receives every published event (default "events").
	Exchange string
	// ExchangeType is topic (default), direct, fanout or headers.
	ExchangeType string
	// ConsumerGroup names this consumer's queue, "<Exchange>.<ConsumerGroup>":
	// the instances of one group share its messages, each group gets every
	// message. Required by Consume; a bus that only publishes leaves it empty.
	ConsumerGroup string
	// BindingKey binds the queue to the exchange. Default per exchange type,
	// as eventsource-py: "#" for topic, the queue name for direct, "" for
	// fanout and headers.
	BindingKey string
	// Prefetch is how many unacknowledged messages the broker hands this
	// consumer at once (default 10).
	Prefetch int
	// MaxRetries is how many times a failed handler is retried before the
	// message goes to the dead-letter queue (default 3: at most 4 attempts).
	// A negative value means no retries. An x-retry-count header (set by
	// eventsource-py's retry republish) counts as retries already made.
	MaxRetries int
	// RetryBaseDelay is the backoff before the first retry, doubled for each
	// further retry (default 1s).
	RetryBaseDelay time.Duration
	// RetryMaxDelay caps the backoff (default 60s).
	RetryMaxDelay time.Duration
	// RetryJitter is the fraction of each delay randomised, in [0, 1]
	// (default 0.1; a negative value means none).
	RetryJitter float64
	// DisableDLQ drops what would go to the dead-letter queue. By default the
	// bus declares a direct exchange "<Exchange>_dlq" and a queue
	// "<queue>.dlq" bound to it, and makes that exchange the queue's
	// dead-letter exchange, as eventsource-py does.
	DisableDLQ bool
	// DLQMessageTTL expires dead letters after this long (0: never).
	DLQMessageTTL time.Duration
	// DLQMaxLength bounds the dead-letter queue; the broker drops the oldest
	// beyond it (0: unbounded).
	DLQMaxLength int
	// Transient declares exchanges and queues that do not survive a broker
	// restart, and publishes messages that are not written to disk. The
	// default (eventsource-py's durable=True) survives both.
	Transient bool
	// PublishTimeout bounds every publish until the broker confirms it, dead
	// letters included (default 10s).
	PublishTimeout time.Duration
	// ReconnectDelay is the wait before Consume connects again after losing
	// its connection (default 1s, eventsource-py's reconnect_delay).
	ReconnectDelay time.Duration
	// Heartbeat is the AMQP heartbeat interval (default 60s).
	Heartbeat time.Duration
	// ConnectionName is shown by the broker's management tools
	// (default "otelcol-es-rabbitbus").
	ConnectionName string
}

// ErrInvalidConfig is wrapped by every validation error from New.
var ErrInvalidConfig = errors.New("rabbitbus: invalid config")

func (c Config) withDefaults() Config {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.Exchange == "" {
		c.Exchange = DefaultExchange
	}
	c.ExchangeType = strings.ToLower(c.ExchangeType)
	if c.ExchangeType == "" {
		c.ExchangeType = DefaultExchangeType
	}
	if c.BindingKey == "" {
		switch c.ExchangeType {
		case ExchangeTopic:
			c.BindingKey = "#"
		case ExchangeDirect:
			c.BindingKey = c.QueueName()
		}
	}
	if c.Prefetch <= 0 {
		c.Prefetch = DefaultPrefetch
	}
	buswire.FillRetry(&c.MaxRetries, &c.RetryBaseDelay, &c.RetryMaxDelay, &c.RetryJitter)
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.ReconnectDelay <= 0 {
		c.ReconnectDelay = DefaultReconnectDelay
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.ConnectionName == "" {
		c.ConnectionName = "otelcol-es-rabbitbus"
	}
	return c
}

// validate checks a config that already has its defaults.
func (c Config) validate() error {
	var errs []error
	if u, err := url.Parse(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("URL: %w", err))
	} else if u.Scheme != "amqp" && u.Scheme != "amqps" {
		errs = append(errs, fmt.Errorf("URL %q: the scheme must be amqp or amqps", c.redactedURL()))
	}
	switch c.ExchangeType {
	case ExchangeTopic, ExchangeDirect, ExchangeFanout, ExchangeHeaders:
	default:
		errs = append(errs, fmt.Errorf("ExchangeType %q is not topic, direct, fanout or headers", c.ExchangeType))
	}
	errs = append(errs, c.retry().Check()...)
	if c.DLQMessageTTL < 0 || c.DLQMaxLength < 0 {
		errs = append(errs, errors.New("DLQMessageTTL and DLQMaxLength cannot be negative"))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
}

// retry is the config's retry policy.
func (c Config) retry() buswire.Retry {
	return buswire.Retry{BaseDelay: c.RetryBaseDelay, MaxDelay: c.RetryMaxDelay, Jitter: c.RetryJitter}
}

// QueueName is the consumer group's queue, "<Exchange>.<ConsumerGroup>"
// (eventsource-py's queue_name), or "" without a group.
func (c Config) QueueName() string {
	if c.ConsumerGroup == "" {
		return ""
	}
	return c.Exchange + "." + c.ConsumerGroup
}

// DLQExchange is the dead-letter exchange, "<Exchange>_dlq".
func (c Config) DLQExchange() string { return c.Exchange + DefaultDLQExchangeSuffix }

// DLQQueue is the consumer group's dead-letter queue, "<queue>.dlq".
func (c Config) DLQQueue() string { return c.QueueName() + ".dlq" }

// redactedURL is the URL without its password, for errors.
func (c Config) redactedURL() string {
	u, err := url.Parse(c.URL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
