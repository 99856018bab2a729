package kafkabus

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/otelcol-es/otelcol-es/eventsource/internal/buswire"
)

// Defaults, as eventsource-py 0.14's KafkaEventBusConfig sets them where it has the setting.
const (
	DefaultDLQSuffix      = ".dlq"
	DefaultMaxRetries     = buswire.DefaultMaxRetries
	DefaultRetryBaseDelay = buswire.DefaultRetryBaseDelay
	DefaultRetryMaxDelay  = buswire.DefaultRetryMaxDelay
	DefaultRetryJitter    = buswire.DefaultRetryJitter
	DefaultProduceTimeout = 10 * time.Second
	DefaultMaxPollRecords = 100
	DefaultClientID       = "otelcol-es-kafkabus"
)

// Config configures a Bus. Only Brokers and Topic are required; ConsumerGroup
// is required to Consume.
type Config struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string
	// Topic is the topic events are published to and consumed from. Required.
	// eventsource-py names it "<topic_prefix>.stream" (default "events.stream").
	Topic string
	// DLQTopic receives records whose handlers failed MaxRetries+1 times and
	// records that cannot be decoded. Default Topic + ".dlq", as eventsource-py
	// names it.
	DLQTopic string
	// ConsumerGroup is the Kafka consumer group id. Required by Consume.
	ConsumerGroup string
	// ClientID is the Kafka client id (default "otelcol-es-kafkabus").
	ClientID string
	// MaxRetries is how many times a failed handler is retried before the
	// record goes to the DLQ (default 3: at most 4 attempts). A negative value
	// means no retries. A retry_count header on the record (set by
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
	// ProduceTimeout bounds every publish, DLQ writes included: a broker that
	// does not acknowledge within it fails the publish (default 10s, at least 1s).
	ProduceTimeout time.Duration
	// MaxPollRecords bounds the records taken from the client per poll
	// (default 100); offsets are committed after each such batch.
	MaxPollRecords int
	// StartFromLatest makes a group without committed offsets start at the end
	// of the topic. The default, like eventsource-py's auto_offset_reset
	// "earliest", starts at the beginning.
	StartFromLatest bool
	// ClientOptions are added to every franz-go client the bus makes (the
	// producer and each Consume's group client), after the bus's own: TLS
	// (kgo.DialTLSConfig), SASL (kgo.SASL), kgo.WithLogger, and so on.
	ClientOptions []kgo.Opt
}

// ErrInvalidConfig is wrapped by every validation error from New.
var ErrInvalidConfig = errors.New("kafkabus: invalid config")

func (c Config) withDefaults() Config {
	if c.DLQTopic == "" && c.Topic != "" {
		c.DLQTopic = c.Topic + DefaultDLQSuffix
	}
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	buswire.FillRetry(&c.MaxRetries, &c.RetryBaseDelay, &c.RetryMaxDelay, &c.RetryJitter)
	if c.ProduceTimeout <= 0 {
		c.ProduceTimeout = DefaultProduceTimeout
	}
	if c.MaxPollRecords <= 0 {
		c.MaxPollRecords = DefaultMaxPollRecords
	}
	return c
}

// validate checks a config that already has its defaults.
func (c Config) validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("Brokers is empty: give at least one host:port"))
	}
	for _, b := range c.Brokers {
		if strings.TrimSpace(b) == "" {
			errs = append(errs, errors.New("Brokers has an empty entry"))
			break
		}
	}
	if c.Topic == "" {
		errs = append(errs, errors.New("Topic is empty"))
	}
	if c.Topic != "" && c.DLQTopic == c.Topic {
		errs = append(errs, fmt.Errorf("DLQTopic %q is the same as Topic", c.DLQTopic))
	}
	errs = append(errs, c.retry().Check()...)
	if c.ProduceTimeout < time.Second {
		errs = append(errs, fmt.Errorf("ProduceTimeout %v is less than 1s (franz-go's minimum record delivery timeout)", c.ProduceTimeout))
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

// brokerList names the brokers in errors.
func (c Config) brokerList() string { return strings.Join(c.Brokers, ",") }
