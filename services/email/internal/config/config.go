// Package config is the email service's configuration, read from the environment: the
// shared service.Base and service.Kafka plus its database, topics, retries and SMTP
// server.
package config

import (
	"errors"
	"fmt"
	"net/mail"
	"time"

	"instant/platform/service"
)

// SMTP_TLS values.
const (
	TLSStartTLS = "starttls" // plain connect, then mandatory STARTTLS (submission, port 587)
	TLSImplicit = "tls"      // TLS from the first byte (submissions, port 465)
	TLSNone     = "none"     // no encryption: only for the local SMTP sink
)

// Config is everything the email service reads at start.
type Config struct {
	service.Base
	service.Kafka

	DatabaseURL string `env:"DATABASE_URL,required"`
	Topic       string `env:"EMAIL_TOPIC" envDefault:"email.requests"`
	DLQTopic    string `env:"EMAIL_DLQ_TOPIC" envDefault:"email.requests.dlq"`
	// MaxAttempts and the backoff bound how long one request may hold its partition
	// while the SMTP server is down before it is parked on the DLQ: with the defaults,
	// about a minute of jittered, exponentially spaced retries — well inside a login
	// code's lifetime, short enough not to hold up the codes queued behind it for long.
	MaxAttempts     int           `env:"EMAIL_MAX_ATTEMPTS" envDefault:"8"`
	RetryBackoff    time.Duration `env:"EMAIL_RETRY_BACKOFF" envDefault:"500ms"`
	RetryMaxBackoff time.Duration `env:"EMAIL_RETRY_MAX_BACKOFF" envDefault:"30s"`
	// DedupRetention is how long sent message ids are remembered. Keep it above the
	// request topic's retention: a redelivery can come at most that late.
	DedupRetention time.Duration `env:"EMAIL_DEDUP_RETENTION" envDefault:"720h"`

	SMTPHost     string        `env:"SMTP_HOST,required"`
	SMTPPort     int           `env:"SMTP_PORT" envDefault:"587"`
	SMTPUsername string        `env:"SMTP_USERNAME"`
	SMTPPassword string        `env:"SMTP_PASSWORD" secret:"true"`
	SMTPFrom     string        `env:"SMTP_FROM,required"`
	SMTPTLS      string        `env:"SMTP_TLS" envDefault:"starttls"`
	SMTPTimeout  time.Duration `env:"SMTP_TIMEOUT" envDefault:"10s"`
}

// Validate checks what the tags cannot express.
func (c *Config) Validate() error {
	if err := c.ValidateBase(); err != nil {
		return err
	}
	errs := []error{c.ValidateKafka()}
	if c.Topic == "" || c.DLQTopic == "" || c.Topic == c.DLQTopic {
		errs = append(errs, errors.New("EMAIL_TOPIC and EMAIL_DLQ_TOPIC must be set and differ"))
	}
	if c.MaxAttempts < 1 {
		errs = append(errs, errors.New("EMAIL_MAX_ATTEMPTS must be at least 1"))
	}
	if c.RetryBackoff <= 0 || c.RetryMaxBackoff < c.RetryBackoff {
		errs = append(errs, errors.New("EMAIL_RETRY_BACKOFF must be positive and at most EMAIL_RETRY_MAX_BACKOFF"))
	}
	if c.DedupRetention < 24*time.Hour {
		errs = append(errs, errors.New("EMAIL_DEDUP_RETENTION must be at least 24h"))
	}
	if c.SMTPPort < 1 || c.SMTPPort > 65535 {
		errs = append(errs, fmt.Errorf("SMTP_PORT %d is not a port", c.SMTPPort))
	}
	switch c.SMTPTLS {
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		errs = append(errs, fmt.Errorf("SMTP_TLS %q: want %s, %s or %s", c.SMTPTLS, TLSStartTLS, TLSImplicit, TLSNone))
	}
	if c.SMTPTimeout <= 0 {
		errs = append(errs, errors.New("SMTP_TIMEOUT must be positive"))
	}
	if _, err := mail.ParseAddress(c.SMTPFrom); err != nil {
		errs = append(errs, fmt.Errorf("SMTP_FROM %q is not an address: %w", c.SMTPFrom, err))
	}
	if c.SMTPPassword != "" && c.SMTPUsername == "" {
		errs = append(errs, errors.New("SMTP_PASSWORD is set but SMTP_USERNAME is not"))
	}
	return errors.Join(errs...)
}
