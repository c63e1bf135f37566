// Package config is the comments service's configuration: the shared service.Base,
// service.Discovery (it calls posts) and service.Kafka plus its database, Kafka topics
// and post lookups. Every default lives in a tag here.
package config

import (
	"errors"
	"slices"
	"time"

	"instant/platform/service"
)

// maxPostCacheTTL caps POST_CACHE_TTL: a deleted post must not stay commentable for
// more than a few seconds.
const maxPostCacheTTL = 10 * time.Second

// Config is read from the environment once, at start.
type Config struct {
	service.Base
	service.Discovery
	service.Kafka

	// DatabaseURL is PostgreSQL in the cluster; an SQLite file is the one-machine default.
	DatabaseURL string `env:"DATABASE_URL,required"`
	EventsTopic string `env:"COMMENT_EVENTS_TOPIC" envDefault:"comment.events"`

	// PostEventsTopic and UserEventsTopic are consumed (group "comments") to purge the
	// comments of deleted posts and accounts. Records comments cannot apply go to
	// DLQTopic.
	PostEventsTopic string `env:"POST_EVENTS_TOPIC" envDefault:"post.events"`
	UserEventsTopic string `env:"USER_EVENTS_TOPIC" envDefault:"user.events"`
	DLQTopic        string `env:"COMMENTS_DLQ_TOPIC" envDefault:"comments.dlq"`

	// PostsTimeout bounds one call to posts' internal route, well inside the gateway's
	// own deadline, so a slow posts costs a quick 503 rather than a hang.
	PostsTimeout time.Duration `env:"POSTS_TIMEOUT" envDefault:"2s"`
	// PostCacheTTL is how long a post posts confirmed is believed to exist, and so how
	// long a deleted post can still take comments; 0 turns the cache off (see
	// comment.PostCache for the choice of default).
	PostCacheTTL time.Duration `env:"POST_CACHE_TTL" envDefault:"2s"`
}

// Validate checks what tags cannot express.
func (c *Config) Validate() error {
	if err := c.ValidateBase(); err != nil {
		return err
	}
	errs := []error{c.ValidateDiscovery(c.Base), c.ValidateKafka()}
	if c.EventsTopic == "" || c.DLQTopic == "" || slices.Contains(c.ConsumedTopics(), "") {
		errs = append(errs, errors.New("COMMENT_EVENTS_TOPIC, POST_EVENTS_TOPIC, USER_EVENTS_TOPIC and COMMENTS_DLQ_TOPIC must not be empty"))
	}
	if slices.Contains(c.ConsumedTopics(), c.DLQTopic) {
		errs = append(errs, errors.New("COMMENTS_DLQ_TOPIC must differ from the topics comments consumes"))
	}
	if c.PostsTimeout <= 0 {
		errs = append(errs, errors.New("POSTS_TIMEOUT must be positive"))
	}
	if c.PostCacheTTL < 0 || c.PostCacheTTL > maxPostCacheTTL {
		errs = append(errs, errors.New("POST_CACHE_TTL must be from 0 (off) to 10s"))
	}
	return errors.Join(errs...)
}

// ConsumedTopics are the topics of comments' consumer group.
func (c *Config) ConsumedTopics() []string {
	return []string{c.PostEventsTopic, c.UserEventsTopic}
}
