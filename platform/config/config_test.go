package config

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type Inner struct {
	Secret string `env:"SECRET,required" secret:"true"`
}

type sample struct {
	Inner
	Addr    string        `env:"ADDR" envDefault:":8080"`
	Timeout time.Duration `env:"TIMEOUT" envDefault:"5s"`
	DSN     string        `env:"DSN"`
	List    []string      `env:"LIST" envSeparator:","`
}

func (s *sample) Validate() error {
	if s.Addr == "bad" {
		return errors.New("ADDR is bad")
	}
	return nil
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    sample
		wantErr string
	}{
		{"defaults", map[string]string{"SECRET": "s"}, sample{Inner: Inner{"s"}, Addr: ":8080", Timeout: 5 * time.Second}, ""},
		{"values", map[string]string{"SECRET": "s", "ADDR": ":1", "TIMEOUT": "1m", "LIST": "a,b"},
			sample{Inner: Inner{"s"}, Addr: ":1", Timeout: time.Minute, List: []string{"a", "b"}}, ""},
		{"missing_required", map[string]string{}, sample{}, "SECRET"},
		{"unparsable", map[string]string{"SECRET": "s", "TIMEOUT": "soon"}, sample{}, "Timeout"},
		{"validate", map[string]string{"SECRET": "s", "ADDR": "bad"}, sample{}, "ADDR is bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load[sample](func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestMasked(t *testing.T) {
	cfg := sample{Inner: Inner{"hunter2"}, DSN: "postgres://app:pw@db:5432/app?sslmode=disable"}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("config", Masked(cfg)...)
	out := b.String()
	if strings.Contains(out, "hunter2") || strings.Contains(out, ":pw@") {
		t.Fatalf("secret in log: %s", out)
	}
	if !strings.Contains(out, "SECRET=***") || !strings.Contains(out, "app:%2A%2A%2A@db") && !strings.Contains(out, "app:***@db") {
		t.Fatalf("masked output unexpected: %s", out)
	}
}
