// Package config is the auth service's configuration: the shared service.Base and
// service.Kafka (the brokers and how to sign in to them) plus the stores, topics,
// session and cookie settings auth alone needs. Every default lives in a tag here.
package config

import (
	"errors"
	"time"

	"instant/platform/service"
)

// Config is read from the environment once, at start.
type Config struct {
	service.Base
	service.Kafka

	// DatabaseURL is PostgreSQL in the cluster; an SQLite file is the one-machine default.
	DatabaseURL string `env:"DATABASE_URL,required"`
	RedisURL    string `env:"REDIS_URL,required"`

	EmailTopic      string `env:"EMAIL_TOPIC" envDefault:"email.requests"`
	UserEventsTopic string `env:"USER_EVENTS_TOPIC" envDefault:"user.events"`
	// EmailPublishTimeout bounds how long a request waits for Kafka to take an email: a
	// client is better served by a quick 503 than by a spinner.
	EmailPublishTimeout time.Duration `env:"EMAIL_PUBLISH_TIMEOUT" envDefault:"5s"`

	// CodeSecret keys the HMAC under which sign-in codes are stored. Empty means
	// IDENTITY_SECRET, so a deployment needs one secret less; set it to rotate the two
	// independently.
	CodeSecret string `env:"CODE_SECRET" secret:"true"`

	SessionIdleTimeout time.Duration `env:"SESSION_IDLE_TIMEOUT" envDefault:"336h"`
	SessionLifetime    time.Duration `env:"SESSION_LIFETIME" envDefault:"1440h"`
	// CookieSecure marks the session cookie Secure. Only a stack served over plain HTTP on
	// one machine turns it off; browsers drop Secure cookies there.
	CookieSecure bool `env:"COOKIE_SECURE" envDefault:"true"`
}

// Validate checks what tags cannot express.
func (c *Config) Validate() error {
	if err := c.ValidateBase(); err != nil {
		return err
	}
	errs := []error{c.ValidateKafka()}
	if c.CodeSecret != "" && len(c.CodeSecret) < 32 {
		errs = append(errs, errors.New("CODE_SECRET must be at least 32 bytes"))
	}
	if c.EmailTopic == "" || c.UserEventsTopic == "" {
		errs = append(errs, errors.New("EMAIL_TOPIC and USER_EVENTS_TOPIC must not be empty"))
	}
	if c.EmailPublishTimeout <= 0 {
		errs = append(errs, errors.New("EMAIL_PUBLISH_TIMEOUT must be positive"))
	}
	if c.SessionIdleTimeout <= 0 || c.SessionLifetime <= 0 {
		errs = append(errs, errors.New("SESSION_IDLE_TIMEOUT and SESSION_LIFETIME must be positive"))
	}
	return errors.Join(errs...)
}

// CodeKey is the HMAC key for stored codes.
func (c *Config) CodeKey() []byte {
	if c.CodeSecret != "" {
		return []byte(c.CodeSecret)
	}
	return []byte(c.IdentitySecret)
}
