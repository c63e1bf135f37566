// Package config loads a service's configuration struct from the environment.
//
// Fields are declared with caarlos0/env tags (`env:"NAME" envDefault:"..."`, `required`,
// `notEmpty`), so defaults live next to the field they belong to. Values come from the
// getenv function handed to the service's run function, never from os.Getenv directly,
// so tests can run a service with an environment of their own.
package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"strings"

	"github.com/caarlos0/env/v11"
)

// Validator is implemented by config structs with rules beyond what tags express.
type Validator interface{ Validate() error }

// Load fills a T from getenv. It fails on a missing required value, a value that does not
// parse, or a Validate error.
func Load[T any](getenv func(string) string) (T, error) {
	var cfg T
	params, err := env.GetFieldParams(&cfg)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	vars := make(map[string]string, len(params))
	for _, p := range params {
		if v := getenv(p.Key); v != "" {
			vars[p.Key] = v
		}
	}
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: vars}); err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	if v, ok := any(&cfg).(Validator); ok {
		if err := v.Validate(); err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
	}
	return cfg, nil
}

// Masked returns the configuration as log attributes keyed by env name. Fields tagged
// `secret:"true"` are replaced by "***"; passwords inside URL values (DSNs) are redacted.
func Masked(cfg any) []any {
	var out []any
	walk(reflect.ValueOf(cfg), "", func(key string, f reflect.StructField, v reflect.Value) {
		s := fmt.Sprint(v.Interface())
		switch {
		case f.Tag.Get("secret") == "true":
			if s != "" {
				s = "***"
			}
		case strings.Contains(s, "://"):
			s = redactURL(s)
		}
		out = append(out, slog.String(key, s))
	})
	return out
}

func walk(v reflect.Value, prefix string, fn func(string, reflect.StructField, reflect.Value)) {
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return
	}
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		key := f.Tag.Get("env")
		if i := strings.IndexByte(key, ','); i >= 0 {
			key = key[:i]
		}
		fv := v.Field(i)
		if key == "" {
			if fv.Kind() == reflect.Struct {
				walk(fv, prefix+f.Tag.Get("envPrefix"), fn)
			}
			continue
		}
		fn(prefix+key, f, fv)
	}
}

func redactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil || u.User == nil {
			continue
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "***")
			parts[i] = u.String()
		}
		if q := u.Query(); q.Has("password") {
			q.Set("password", "***")
			u.RawQuery = q.Encode()
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}
