package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"instant/platform/testenv"
	"instant/services/gateway/internal/config"
)

// BenchmarkHop compares one signed-in GET straight to a service with the same GET through
// a bare reverse proxy (httputil.ReverseProxy, one shared keep-alive transport: the
// design budget's yardstick) and through the gateway (session resolution and rate limit
// in Redis, identity signing, routing, logging, the proxy hop), all over loopback TCP
// with keep-alive. Client, proxy and upstream share the process, so besides ns/op each
// reports cpu-µs/op, the process's CPU time per request: the proxy's own cost is its
// figure minus direct's. Redis's CPU is not in it (another process). Run: make bench-go, or
//
//	go test -run '^$' -bench Hop -benchmem ./internal/gateway/
func BenchmarkHop(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"0190f5d6-3c4e-7d62-9b8e-1a2b3c4d5e6f","caption":"hello"}`)
	}))
	defer up.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	get := func(b *testing.B, url, bearer string) {
		before := cpuTime(b)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, _ := http.NewRequest("GET", url, nil)
				if bearer != "" {
					req.Header.Set("Authorization", "Bearer "+bearer)
				}
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
		b.ReportMetric(float64((cpuTime(b)-before).Microseconds())/float64(b.N), "cpu-µs/op")
	}
	b.Run("direct", func(b *testing.B) { get(b, up.URL+"/private", "") })
	b.Run("bare-proxy", func(b *testing.B) {
		target, err := url.Parse(up.URL)
		if err != nil {
			b.Fatal(err)
		}
		rp := httputil.NewSingleHostReverseProxy(target)
		rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256}
		proxy := httptest.NewServer(rp)
		defer proxy.Close()
		get(b, proxy.URL+"/private", "")
	})
	b.Run("gateway", func(b *testing.B) {
		f := newBenchFixture(b, strings.TrimPrefix(up.URL, "http://"))
		sid, _, err := f.sessions.Create(context.Background(), "0190f5d6-3c4e-7d62-9b8e-1a2b3c4d5e6f")
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		get(b, f.srv.URL+"/private", sid)
	})
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func newBenchFixture(b *testing.B, upstreamAddr string) *fixture {
	return newFixture(b, testenv.Redis(b), func(c *config.Config) {
		c.DiscoveryStatic = "echo=" + upstreamAddr + ";down=127.0.0.1:1"
		c.RateUserPerSecond = 1_000_000
	})
}

// BenchmarkAdmit measures the admission script alone: one Redis round trip that resolves
// the session and charges the rate limit (admit.go), signed in and anonymous, from
// parallel goroutines as the gateway's requests call it. Run:
//
//	go test -run '^$' -bench Admit -benchmem ./internal/gateway/
func BenchmarkAdmit(b *testing.B) {
	f := newFixture(b, testenv.Redis(b), func(c *config.Config) {
		c.RateUserPerSecond = 1_000_000
		c.RateAnonymousIPPerSecond = 1_000_000
	})
	sid, _, err := f.sessions.Create(context.Background(), "0190f5d6-3c4e-7d62-9b8e-1a2b3c4d5e6f")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, sid string }{{"signed-in", sid}, {"anonymous", ""}} {
		b.Run(bc.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					a, err := f.g.admit(ctx, bc.sid, "192.0.2.1")
					if err != nil {
						b.Fatal(err)
					}
					if !a.allowed || a.signedIn != (bc.sid != "") {
						b.Fatalf("admission %+v", a)
					}
				}
			})
		})
	}
}
