// Package config is the follow service's configuration: the shared service.Base,
// service.Discovery (follow calls auth) and service.Kafka plus its database, Kafka
// topics and the settings of its calls to auth. Every default lives in a tag here.
package config

import (
	"errors"
	"strings"
	"time"

	"instant/platform/service"
)

// Config is read from the environment once, at start.
type Config struct {
	service.Base
	service.Discovery
	service.Kafka

	// DatabaseURL is PostgreSQL in the cluster; an SQLite file is the one-machine default.
	DatabaseURL string `env:"DATABASE_URL,required"`
	EventsTopic string `env:"FOLLOW_EVENTS_TOPIC" envDefault:"follow.events"`
	// UserEventsTopic is consumed (group "follow") to remove deleted accounts from the
	// graph. Records follow cannot apply go to DLQTopic.
	UserEventsTopic string `env:"USER_EVENTS_TOPIC" envDefault:"user.events"`
	DLQTopic        string `env:"FOLLOW_DLQ_TOPIC" envDefault:"follow.dlq"`

	// AuthTimeout bounds one call to auth (does this user exist?); a follow waits on it,
	// so it stays well below the gateway's upstream timeout.
	AuthTimeout time.Duration `env:"AUTH_TIMEOUT" envDefault:"2s"`
	// UserCacheTTL is how long "this user exists" is remembered, and so how long a just
	// deleted account can still be followed; 0 asks auth every time.
	UserCacheTTL time.Duration `env:"USER_CACHE_TTL" envDefault:"30s"`
}

// UserCacheSize bounds the remembered user ids (about 100 bytes each).
const UserCacheSize = 10000

// Validate checks what tags cannot express.
func (c *Config) Validate() error {
	if err := c.ValidateBase(); err != nil {
		return err
	}
	errs := []error{c.ValidateDiscovery(c.Base), c.ValidateKafka()}
	if strings.TrimSpace(c.EventsTopic) == "" || strings.TrimSpace(c.UserEventsTopic) == "" || strings.TrimSpace(c.DLQTopic) == "" {
		errs = append(errs, errors.New("FOLLOW_EVENTS_TOPIC, USER_EVENTS_TOPIC and FOLLOW_DLQ_TOPIC must not be empty"))
	}
	if c.DLQTopic == c.UserEventsTopic {
		errs = append(errs, errors.New("FOLLOW_DLQ_TOPIC must differ from the topic follow consumes"))
	}
	if c.AuthTimeout <= 0 {
		errs = append(errs, errors.New("AUTH_TIMEOUT must be positive"))
	}
	if c.UserCacheTTL < 0 {
		errs = append(errs, errors.New("USER_CACHE_TTL must not be negative"))
	}
	return errors.Join(errs...)
}
