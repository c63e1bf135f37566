// Package config is the gateway's configuration, read from the environment.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"instant/platform/service"
)

// Config is everything the gateway reads at start.
type Config struct {
	service.Base
	service.Discovery

	RedisURL string `env:"REDIS_URL,required"`

	// Must match auth's setting: resolving a session renews its idle timeout.
	SessionIdleTimeout time.Duration `env:"SESSION_IDLE_TIMEOUT" envDefault:"336h"`

	// Origins a browser may call the API from (CORS and the Origin check on
	// cookie-authenticated writes). Exact scheme://host[:port] values.
	CORSAllowedOrigins []string `env:"CORS_ALLOWED_ORIGINS" envSeparator:","`
	// Proxies whose X-Forwarded-For is believed (the cluster's API gateway). Without
	// them the client address is the TCP peer, which a client cannot forge.
	TrustedProxies []string `env:"TRUSTED_PROXIES" envSeparator:","`

	MaxBodyBytes    int64         `env:"MAX_BODY_BYTES" envDefault:"1048576"`
	UpstreamTimeout time.Duration `env:"UPSTREAM_TIMEOUT" envDefault:"15s"`
	MaxIdleConns    int           `env:"UPSTREAM_MAX_IDLE_CONNS" envDefault:"512"`

	// Rate limits (requests per period). Auth limits guard the code flow against
	// guessing and mail bombing; the others against a single client hogging the API.
	RateAuthPerIPPerMinute   int `env:"RATE_LIMIT_AUTH_IP_PER_MINUTE" envDefault:"20"`
	RateAuthPerEmailPerHour  int `env:"RATE_LIMIT_AUTH_EMAIL_PER_HOUR" envDefault:"10"`
	RateUserPerSecond        int `env:"RATE_LIMIT_USER_PER_SECOND" envDefault:"50"`
	RateAnonymousIPPerSecond int `env:"RATE_LIMIT_IP_PER_SECOND" envDefault:"50"`
	RateLimitBurstMultiplier int `env:"RATE_LIMIT_BURST_MULTIPLIER" envDefault:"2"`
}

// Validate checks what tags cannot.
func (c *Config) Validate() error {
	if err := c.ValidateBase(); err != nil {
		return err
	}
	if err := c.ValidateDiscovery(c.Base); err != nil {
		return err
	}
	for _, o := range c.CORSAllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("CORS_ALLOWED_ORIGINS: %q is not scheme://host[:port]", o)
		}
	}
	for _, p := range c.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			return fmt.Errorf("TRUSTED_PROXIES: %q is not an IP or CIDR", p)
		}
	}
	if c.MaxBodyBytes <= 0 {
		return errors.New("MAX_BODY_BYTES must be positive")
	}
	for name, v := range map[string]int{
		"RATE_LIMIT_AUTH_IP_PER_MINUTE": c.RateAuthPerIPPerMinute, "RATE_LIMIT_AUTH_EMAIL_PER_HOUR": c.RateAuthPerEmailPerHour,
		"RATE_LIMIT_USER_PER_SECOND": c.RateUserPerSecond, "RATE_LIMIT_IP_PER_SECOND": c.RateAnonymousIPPerSecond,
		"RATE_LIMIT_BURST_MULTIPLIER": c.RateLimitBurstMultiplier,
	} {
		if v <= 0 {
			return fmt.Errorf("%s must be positive", name)
		}
	}
	return nil
}

// NormalizedOrigins returns the allowlist without trailing slashes.
func (c *Config) NormalizedOrigins() []string {
	out := make([]string, 0, len(c.CORSAllowedOrigins))
	for _, o := range c.CORSAllowedOrigins {
		out = append(out, strings.TrimSuffix(strings.TrimSpace(o), "/"))
	}
	return out
}
