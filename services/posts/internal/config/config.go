// Package config is the posts service's configuration: the shared service.Base,
// service.Discovery (posts calls files) and service.Kafka plus the store, topics and
// limits posts alone needs. Every default lives in a tag here.
package config

import (
	"errors"
	"fmt"
	"slices"
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

	PostEventsTopic string `env:"POST_EVENTS_TOPIC" envDefault:"post.events"`
	// UserEventsTopic is read for authors' usernames and account deletions,
	// LikeEventsTopic and CommentEventsTopic for the counts on posts. Records posts
	// cannot apply go to DLQTopic, the one dead-letter topic of everything posts consumes.
	UserEventsTopic    string `env:"USER_EVENTS_TOPIC" envDefault:"user.events"`
	LikeEventsTopic    string `env:"LIKE_EVENTS_TOPIC" envDefault:"like.events"`
	CommentEventsTopic string `env:"COMMENT_EVENTS_TOPIC" envDefault:"comment.events"`
	DLQTopic           string `env:"POSTS_DLQ_TOPIC" envDefault:"posts.dlq"`

	// MaxImageBytes bounds a post's image (10 MiB by default).
	MaxImageBytes int64 `env:"MAX_IMAGE_BYTES" envDefault:"10485760"`
	// FilesTimeout bounds the call that checks a post's image with the files service: a
	// client is better served by a quick 503 than by a spinner.
	FilesTimeout time.Duration `env:"FILES_TIMEOUT" envDefault:"2s"`

	// ImageMaxAge is how long after its upload an image may still become a post; an
	// older one is refused (upload it again). Uploads twice as old that no post uses are
	// removed by the sweep, every ImageSweepInterval (0 turns the sweep off).
	ImageMaxAge        time.Duration `env:"IMAGE_MAX_AGE" envDefault:"12h"`
	ImageSweepInterval time.Duration `env:"IMAGE_SWEEP_INTERVAL" envDefault:"6h"`
}

// minImageMaxAge keeps the sweep well clear of uploads in use: an upload URL lives
// minutes, a post follows its upload within them.
const minImageMaxAge = time.Hour

// Validate checks what tags cannot express.
func (c *Config) Validate() error {
	if err := c.ValidateBase(); err != nil {
		return err
	}
	errs := []error{c.ValidateDiscovery(c.Base), c.ValidateKafka()}
	if c.PostEventsTopic == "" || c.DLQTopic == "" || slices.Contains(c.ConsumedTopics(), "") {
		errs = append(errs, errors.New("POST_EVENTS_TOPIC, USER_EVENTS_TOPIC, LIKE_EVENTS_TOPIC, COMMENT_EVENTS_TOPIC and POSTS_DLQ_TOPIC must not be empty"))
	}
	if slices.Contains(c.ConsumedTopics(), c.DLQTopic) {
		errs = append(errs, errors.New("POSTS_DLQ_TOPIC must differ from the topics posts consumes"))
	}
	if c.MaxImageBytes <= 0 {
		errs = append(errs, errors.New("MAX_IMAGE_BYTES must be positive"))
	}
	if c.FilesTimeout <= 0 {
		errs = append(errs, errors.New("FILES_TIMEOUT must be positive"))
	}
	if c.ImageMaxAge < minImageMaxAge {
		errs = append(errs, fmt.Errorf("IMAGE_MAX_AGE must be at least %s", minImageMaxAge))
	}
	if c.ImageSweepInterval < 0 {
		errs = append(errs, errors.New("IMAGE_SWEEP_INTERVAL must not be negative (0 turns the sweep off)"))
	}
	return errors.Join(errs...)
}

// ConsumedTopics are the topics of posts' consumer group: user.* for authors, like.*
// and comment.* for the counts.
func (c *Config) ConsumedTopics() []string {
	return []string{c.UserEventsTopic, c.LikeEventsTopic, c.CommentEventsTopic}
}
