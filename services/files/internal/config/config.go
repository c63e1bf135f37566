// Package config is the files service's configuration: the shared service.Base and
// service.Kafka plus the object store, the Kafka topics it consumes and the upload
// limits. Every default lives in a tag here.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"instant/platform/service"
	"instant/services/files/internal/files3"
)

// Config is read from the environment once, at start.
type Config struct {
	service.Base
	service.Kafka

	PostEventsTopic string `env:"POST_EVENTS_TOPIC" envDefault:"post.events"`
	UserEventsTopic string `env:"USER_EVENTS_TOPIC" envDefault:"user.events"`
	// DLQTopic receives the events the consumer could not handle.
	DLQTopic string `env:"FILES_DLQ_TOPIC" envDefault:"files.dlq"`

	// S3Endpoint is host:port the service calls; S3PublicEndpoint (scheme://host:port)
	// is what clients reach and what presigned URLs are signed for. They differ in a
	// cluster (an in-cluster service name against a public hostname); empty
	// S3PublicEndpoint means clients reach S3Endpoint.
	S3Endpoint       string        `env:"S3_ENDPOINT,required"`
	S3PublicEndpoint string        `env:"S3_PUBLIC_ENDPOINT"`
	S3Region         string        `env:"S3_REGION" envDefault:"us-east-1"`
	S3Bucket         string        `env:"S3_BUCKET" envDefault:"instant-media"`
	S3AccessKey      string        `env:"S3_ACCESS_KEY,required"`
	S3SecretKey      string        `env:"S3_SECRET_KEY,required" secret:"true"`
	S3UseTLS         bool          `env:"S3_USE_TLS" envDefault:"false"`
	S3Timeout        time.Duration `env:"S3_TIMEOUT" envDefault:"5s"`
	// S3CORSOrigins are the web origins (scheme://host[:port]) whose pages may PUT the
	// presigned uploads and GET the downloads from a browser: at start, files sets the
	// bucket's CORS to allow exactly them. Empty leaves the bucket's CORS as it is (an
	// operator may manage it, and native clients need none).
	S3CORSOrigins []string `env:"S3_CORS_ORIGINS" envSeparator:","`

	// UploadURLTTL is short: an upload URL is used at once, and a leaked one should
	// not stay useful.
	UploadURLTTL time.Duration `env:"UPLOAD_URL_TTL" envDefault:"5m"`
	// DownloadURLTTL bounds how long a download URL (and a cached redirect to one) works.
	DownloadURLTTL time.Duration `env:"DOWNLOAD_URL_TTL" envDefault:"15m"`
	MaxUploadBytes int64         `env:"MAX_UPLOAD_BYTES" envDefault:"10485760"`
}

// maxPresignTTL is the longest lifetime SigV4 allows a presigned URL.
const maxPresignTTL = 7 * 24 * time.Hour

// Validate checks what tags cannot express.
func (c *Config) Validate() error {
	if err := c.ValidateBase(); err != nil {
		return err
	}
	errs := []error{c.ValidateKafka()}
	if c.PostEventsTopic == "" || c.UserEventsTopic == "" || c.DLQTopic == "" {
		errs = append(errs, errors.New("POST_EVENTS_TOPIC, USER_EVENTS_TOPIC and FILES_DLQ_TOPIC must not be empty"))
	}
	if c.DLQTopic == c.PostEventsTopic || c.DLQTopic == c.UserEventsTopic {
		errs = append(errs, errors.New("FILES_DLQ_TOPIC must differ from the topics it consumes"))
	}
	if strings.Contains(c.S3Endpoint, "://") || strings.Contains(c.S3Endpoint, "/") {
		errs = append(errs, fmt.Errorf("S3_ENDPOINT %q: want host:port; S3_USE_TLS picks the scheme", c.S3Endpoint))
	}
	if c.S3PublicEndpoint != "" {
		if _, _, err := files3.ParsePublicEndpoint(c.S3PublicEndpoint); err != nil {
			errs = append(errs, err)
		}
	}
	if c.S3Region == "" || c.S3Bucket == "" {
		errs = append(errs, errors.New("S3_REGION and S3_BUCKET must not be empty"))
	}
	if c.S3Timeout <= 0 {
		errs = append(errs, errors.New("S3_TIMEOUT must be positive"))
	}
	origins := c.S3CORSOrigins[:0]
	for _, o := range c.S3CORSOrigins {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if u, err := url.Parse(o); o != "*" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil) {
			errs = append(errs, fmt.Errorf("S3_CORS_ORIGINS: %q is not an origin (scheme://host[:port]) or *", o))
		}
		origins = append(origins, strings.TrimSuffix(o, "/"))
	}
	c.S3CORSOrigins = origins
	for _, v := range []struct {
		name string
		ttl  time.Duration
	}{{"UPLOAD_URL_TTL", c.UploadURLTTL}, {"DOWNLOAD_URL_TTL", c.DownloadURLTTL}} {
		// Presigned URLs carry whole seconds.
		if v.ttl < time.Second || v.ttl > maxPresignTTL || v.ttl%time.Second != 0 {
			errs = append(errs, fmt.Errorf("%s must be whole seconds between 1s and 168h, not %s", v.name, v.ttl))
		}
	}
	if c.MaxUploadBytes < 1 {
		errs = append(errs, errors.New("MAX_UPLOAD_BYTES must be positive"))
	}
	return errors.Join(errs...)
}

// Store is the object store's configuration.
func (c *Config) Store() files3.Config {
	return files3.Config{
		Endpoint: c.S3Endpoint, PublicEndpoint: c.S3PublicEndpoint, Region: c.S3Region, Bucket: c.S3Bucket,
		AccessKey: c.S3AccessKey, SecretKey: c.S3SecretKey, UseTLS: c.S3UseTLS, Timeout: c.S3Timeout,
	}
}
