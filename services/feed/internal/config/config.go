// Package config is the feed service's configuration: the shared service.Base and
// service.Kafka plus its stores, the topics it reads, and the knobs of its timelines.
// Feed calls no other service, so it embeds no service.Discovery. Every default lives in
// a tag here.
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
	service.Kafka

	// DatabaseURL holds the read model (PostgreSQL in the cluster, an SQLite file on one
	// machine); RedisURL the home timelines.
	DatabaseURL string `env:"DATABASE_URL,required"`
	RedisURL    string `env:"REDIS_URL,required"`

	UserEventsTopic    string `env:"USER_EVENTS_TOPIC" envDefault:"user.events"`
	PostEventsTopic    string `env:"POST_EVENTS_TOPIC" envDefault:"post.events"`
	FollowEventsTopic  string `env:"FOLLOW_EVENTS_TOPIC" envDefault:"follow.events"`
	LikeEventsTopic    string `env:"LIKE_EVENTS_TOPIC" envDefault:"like.events"`
	CommentEventsTopic string `env:"COMMENT_EVENTS_TOPIC" envDefault:"comment.events"`
	// DLQTopic receives the records of any of those topics that feed cannot apply.
	DLQTopic string `env:"FEED_DLQ_TOPIC" envDefault:"feed.dlq"`

	// TimelineCap is how many posts a home timeline keeps in Redis; older pages come
	// from the read model.
	TimelineCap int `env:"FEED_TIMELINE_CAP" envDefault:"800"`
	// CelebrityThreshold: authors with more followers than this are not fanned out on
	// write; their posts are merged into their followers' feeds at read time.
	CelebrityThreshold int `env:"FEED_CELEBRITY_THRESHOLD" envDefault:"5000"`
	// Backfill is how many of an account's recent posts a new follow copies into the
	// follower's timeline.
	Backfill int `env:"FEED_BACKFILL" envDefault:"50"`
	// TimelineTTL is how long an unread timeline stays in Redis; each read renews it,
	// and a timeline that expired is rebuilt from the read model on its next read.
	TimelineTTL time.Duration `env:"FEED_TIMELINE_TTL" envDefault:"168h"`
	// RedisTimeout bounds connecting to Redis and each command, unless REDIS_URL sets
	// its own dial/read/write timeouts: a Redis that is gone must cost a read a quick
	// fallback to the read model, not a long wait.
	RedisTimeout time.Duration `env:"REDIS_TIMEOUT" envDefault:"500ms"`
}

// Validate checks what tags cannot express.
func (c *Config) Validate() error {
	if err := c.ValidateBase(); err != nil {
		return err
	}
	errs := []error{c.ValidateKafka()}
	topics := c.Topics()
	for _, t := range append(topics, c.DLQTopic) {
		if strings.TrimSpace(t) == "" {
			errs = append(errs, errors.New("USER_EVENTS_TOPIC, POST_EVENTS_TOPIC, FOLLOW_EVENTS_TOPIC, LIKE_EVENTS_TOPIC, COMMENT_EVENTS_TOPIC and FEED_DLQ_TOPIC must not be empty"))
			break
		}
	}
	for _, t := range topics {
		if t == c.DLQTopic {
			errs = append(errs, errors.New("FEED_DLQ_TOPIC must differ from the topics feed consumes"))
			break
		}
	}
	if c.TimelineCap < 1 {
		errs = append(errs, errors.New("FEED_TIMELINE_CAP must be positive"))
	}
	if c.CelebrityThreshold < 1 {
		errs = append(errs, errors.New("FEED_CELEBRITY_THRESHOLD must be positive"))
	}
	if c.Backfill < 0 {
		errs = append(errs, errors.New("FEED_BACKFILL must not be negative"))
	}
	if c.TimelineTTL <= 0 {
		errs = append(errs, errors.New("FEED_TIMELINE_TTL must be positive"))
	}
	if c.RedisTimeout <= 0 {
		errs = append(errs, errors.New("REDIS_TIMEOUT must be positive"))
	}
	return errors.Join(errs...)
}

// Topics are the topics feed consumes, in one consumer group.
func (c *Config) Topics() []string {
	return []string{c.UserEventsTopic, c.PostEventsTopic, c.FollowEventsTopic, c.LikeEventsTopic, c.CommentEventsTopic}
}
