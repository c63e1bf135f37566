package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-chi/chi/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"instant/platform/identity"
	"instant/platform/logging"
	"instant/platform/metrics"
	"instant/platform/service"
	"instant/platform/session"
	"instant/platform/testenv"
	"instant/platform/web"
	"instant/services/gateway/internal/config"
)

const secret = "test-secret-test-secret-test-secret!"

// echo is an upstream that reports what it received.
type echoed struct {
	Path          string `json:"path"`
	UserHeader    string `json:"user_header"`
	VerifiedUser  string `json:"verified_user"`
	Authorization string `json:"authorization"`
	Cookie        string `json:"cookie"`
	RequestID     string `json:"request_id"`
	Traceparent   string `json:"traceparent"`
	ForwardedFor  string `json:"forwarded_for"`
	Body          string `json:"body"`
}

func echoUpstream(t testing.TB) *httptest.Server {
	signer, _ := identity.NewSigner(secret)
	srv := httptest.NewServer(signer.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(2 * time.Second)
		}
		body, _ := io.ReadAll(r.Body)
		user, _ := identity.UserID(r.Context())
		w.Header().Set("Access-Control-Allow-Origin", "*") // must never reach the client
		// As every service's middleware does: the gateway's own values must not double up.
		w.Header().Set("X-Request-ID", r.Header.Get("X-Request-ID"))
		w.Header().Set("traceparent", r.Header.Get("traceparent"))
		web.WriteJSON(w, 200, echoed{
			Path: r.URL.Path, UserHeader: r.Header.Get(identity.HeaderUserID), VerifiedUser: user,
			Authorization: r.Header.Get("Authorization"), Cookie: r.Header.Get("Cookie"),
			RequestID: r.Header.Get("X-Request-ID"), Traceparent: r.Header.Get("traceparent"),
			ForwardedFor: r.Header.Get("X-Forwarded-For"), Body: string(body),
		})
	})))
	t.Cleanup(srv.Close)
	return srv
}

func testRoutes() []Route {
	return []Route{
		{Pattern: "/open", Service: "echo"},
		{Pattern: "/slow", Service: "echo"},
		{Pattern: "/private", Service: "echo", Access: SignedIn},
		{Pattern: "/code", Methods: []string{"POST"}, Service: "echo", Limit: LimitAuthCode},
		{Pattern: "/with-session", Service: "echo", Session: true},
		{Pattern: "/down", Service: "down"},
	}
}

type fixture struct {
	g        *Gateway
	srv      *httptest.Server
	sessions *session.Store
	rdb      *redis.Client
}

func closedAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func newFixture(t testing.TB, redisURL string, mutate func(*config.Config)) *fixture {
	t.Helper()
	up := echoUpstream(t)
	upAddr := strings.TrimPrefix(up.URL, "http://")
	cfg := config.Config{
		Base:                     service.Base{IdentitySecret: secret},
		RedisURL:                 redisURL,
		SessionIdleTimeout:       time.Hour,
		Discovery:                service.Discovery{DiscoveryMode: "static", DiscoveryStatic: "echo=" + upAddr + ";down=" + closedAddr(t)},
		CORSAllowedOrigins:       []string{"https://app.example"},
		MaxBodyBytes:             1024,
		UpstreamTimeout:          time.Second,
		MaxIdleConns:             16,
		RateAuthPerIPPerMinute:   100,
		RateAuthPerEmailPerHour:  100,
		RateUserPerSecond:        1000,
		RateAnonymousIPPerSecond: 1000,
		RateLimitBurstMultiplier: 2,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	reg := metrics.NewRegistry()
	proc := &service.Process{Name: "gateway", Log: logging.Discard(), Registry: reg, HTTP: metrics.NewHTTP(reg), Health: web.NewHealth()}
	g, err := New(context.Background(), cfg, proc, testRoutes())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	opt, _ := redis.ParseURL(redisURL)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	return &fixture{g: g, srv: srv, sessions: session.NewStore(rdb, time.Hour, 24*time.Hour), rdb: rdb}
}

func (f *fixture) do(t *testing.T, method, path string, body string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func decodeEcho(t *testing.T, b []byte) echoed {
	t.Helper()
	var e echoed
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("not an echo: %s", b)
	}
	return e
}

func errorCode(t *testing.T, b []byte) string {
	t.Helper()
	var e web.Body
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("not a JSON error: %s", b)
	}
	return e.Error.Code
}

func TestRouting(t *testing.T) {
	f := newFixture(t, testenv.Redis(t), nil)
	sid, _, err := f.sessions.Create(context.Background(), "user-1")
	if err != nil {
		t.Fatal(err)
	}
	cookie := session.CookieName + "=" + sid + "; theme=dark"

	tests := []struct {
		name       string
		method     string
		path       string
		hdr        map[string]string
		wantStatus int
		wantCode   string
		check      func(t *testing.T, e echoed)
	}{
		{name: "health_200", method: "GET", path: "/health", wantStatus: 200},
		{name: "unknown_404", method: "GET", path: "/nope", wantStatus: 404, wantCode: "not_found"},
		{name: "open_200_anonymous_forgery_stripped", method: "GET", path: "/open",
			hdr:        map[string]string{"X-User-ID": "victim", "X-Instant-Identity": "v1.victim.9999999999.abc"},
			wantStatus: 200, check: func(t *testing.T, e echoed) {
				if e.UserHeader != "" || e.VerifiedUser != "" {
					t.Fatalf("forged identity reached upstream: %+v", e)
				}
			}},
		{name: "private_401_anonymous", method: "GET", path: "/private", wantStatus: 401, wantCode: "unauthorized"},
		{name: "private_401_unknown_session", method: "GET", path: "/private",
			hdr: map[string]string{"Authorization": "Bearer nope"}, wantStatus: 401, wantCode: "unauthorized"},
		{name: "private_200_bearer", method: "GET", path: "/private",
			hdr:        map[string]string{"Authorization": "Bearer " + sid, "X-User-ID": "victim"},
			wantStatus: 200, check: func(t *testing.T, e echoed) {
				if e.VerifiedUser != "user-1" || e.UserHeader != "user-1" {
					t.Fatalf("identity not injected: %+v", e)
				}
				if e.Authorization != "" {
					t.Fatalf("session token forwarded to a non-auth service: %q", e.Authorization)
				}
			}},
		{name: "private_200_cookie_session_cookie_dropped", method: "GET", path: "/private",
			hdr: map[string]string{"Cookie": cookie}, wantStatus: 200, check: func(t *testing.T, e echoed) {
				if e.VerifiedUser != "user-1" {
					t.Fatalf("cookie session not resolved: %+v", e)
				}
				if strings.Contains(e.Cookie, sid) || !strings.Contains(e.Cookie, "theme=dark") {
					t.Fatalf("cookie header upstream = %q", e.Cookie)
				}
			}},
		{name: "with_session_200_keeps_cookie", method: "POST", path: "/with-session",
			hdr: map[string]string{"Cookie": cookie}, wantStatus: 200, check: func(t *testing.T, e echoed) {
				if !strings.Contains(e.Cookie, sid) {
					t.Fatalf("auth route lost the session cookie: %q", e.Cookie)
				}
			}},
		{name: "csrf_403_cookie_write_from_foreign_origin", method: "POST", path: "/open",
			hdr: map[string]string{"Cookie": cookie, "Origin": "https://evil.example"}, wantStatus: 403, wantCode: "forbidden"},
		{name: "csrf_403_cross_site_fetch", method: "DELETE", path: "/open",
			hdr: map[string]string{"Cookie": cookie, "Sec-Fetch-Site": "cross-site"}, wantStatus: 403, wantCode: "forbidden"},
		{name: "csrf_200_allowed_origin", method: "POST", path: "/open",
			hdr: map[string]string{"Cookie": cookie, "Origin": "https://app.example"}, wantStatus: 200},
		{name: "csrf_200_bearer_any_origin", method: "POST", path: "/open",
			hdr: map[string]string{"Authorization": "Bearer " + sid, "Origin": "https://evil.example"}, wantStatus: 200},
		{name: "request_id_kept_and_trace_continued", method: "GET", path: "/open",
			hdr:        map[string]string{"X-Request-ID": "abc-123", "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
			wantStatus: 200, check: func(t *testing.T, e echoed) {
				if e.RequestID != "abc-123" {
					t.Fatalf("request id = %q", e.RequestID)
				}
				tr, ok := web.ParseTraceparent(e.Traceparent)
				if !ok || tr.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || tr.SpanID == "00f067aa0ba902b7" {
					t.Fatalf("traceparent upstream = %q", e.Traceparent)
				}
			}},
		{name: "request_id_replaced_when_insane", method: "GET", path: "/open",
			hdr: map[string]string{"X-Request-ID": "bad id\twith junk"}, wantStatus: 200, check: func(t *testing.T, e echoed) {
				if len(e.RequestID) != 32 {
					t.Fatalf("request id = %q", e.RequestID)
				}
			}},
		{name: "upstream_down_503", method: "GET", path: "/down", wantStatus: 503, wantCode: "upstream_unavailable"},
		{name: "upstream_slow_504", method: "GET", path: "/slow", wantStatus: 504, wantCode: "upstream_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, tt.method, tt.path, "", tt.hdr)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			if resp.Header.Get("X-Request-ID") == "" {
				t.Fatal("no X-Request-ID on the response")
			}
			for _, h := range []string{"X-Request-ID", "traceparent"} {
				if v := resp.Header.Values(h); len(v) > 1 {
					t.Fatalf("%s sent %d times: %q", h, len(v), v)
				}
			}
			if tt.wantCode != "" {
				if got := errorCode(t, body); got != tt.wantCode {
					t.Fatalf("error code = %q, want %q", got, tt.wantCode)
				}
			}
			if resp.Header.Get("Access-Control-Allow-Origin") == "*" {
				t.Fatal("an upstream CORS header reached the client")
			}
			if tt.check != nil {
				tt.check(t, decodeEcho(t, body))
			}
		})
	}
}

func TestCORS(t *testing.T) {
	f := newFixture(t, testenv.Redis(t), nil)
	tests := []struct {
		name   string
		origin string
		want   int
		allow  string
	}{
		{"preflight_204_allowed", "https://app.example", 204, "https://app.example"},
		{"preflight_403_foreign", "https://evil.example", 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := f.do(t, "OPTIONS", "/open", "", map[string]string{"Origin": tt.origin, "Access-Control-Request-Method": "POST"})
			if resp.StatusCode != tt.want || resp.Header.Get("Access-Control-Allow-Origin") != tt.allow {
				t.Fatalf("status %d allow-origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
			}
		})
	}
	resp, _ := f.do(t, "GET", "/open", "", map[string]string{"Origin": "https://app.example"})
	if got := resp.Header.Values("Access-Control-Allow-Origin"); !cmp.Equal(got, []string{"https://app.example"}) {
		t.Fatalf("simple request allow-origin = %q", got)
	}
}

func TestBodyLimit(t *testing.T) {
	f := newFixture(t, testenv.Redis(t), nil)
	big := strings.Repeat("x", 2048)
	resp, body := f.do(t, "POST", "/open", big, map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != 413 {
		t.Fatalf("declared oversize: status %d %s", resp.StatusCode, body)
	}
	// Chunked: no Content-Length, the limit must still hold while streaming.
	req, _ := http.NewRequest("POST", f.srv.URL+"/open", io.NopCloser(strings.NewReader(big)))
	req.ContentLength = -1
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 413 {
		t.Fatalf("streamed oversize: status %d", r2.StatusCode)
	}
	resp, body = f.do(t, "POST", "/open", `{"ok":true}`, map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != 200 || decodeEcho(t, body).Body != `{"ok":true}` {
		t.Fatalf("small body: %d %s", resp.StatusCode, body)
	}
}

func TestRateLimits(t *testing.T) {
	t.Run("auth_ip_429", func(t *testing.T) {
		f := newFixture(t, testenv.Redis(t), func(c *config.Config) { c.RateAuthPerIPPerMinute = 2 })
		for i := range 3 {
			resp, body := f.do(t, "POST", "/code", `{"email":"a`+string(rune('a'+i))+`@example.com"}`, nil)
			if i < 2 && resp.StatusCode != 200 {
				t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
			}
			if i == 2 {
				if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
					t.Fatalf("third request: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
				}
				if errorCode(t, body) != "rate_limited" {
					t.Fatalf("body %s", body)
				}
			}
		}
	})
	t.Run("auth_email_429_across_ips", func(t *testing.T) {
		f := newFixture(t, testenv.Redis(t), func(c *config.Config) {
			c.RateAuthPerEmailPerHour = 2
			c.TrustedProxies = []string{"127.0.0.1"}
		})
		for i := range 3 {
			ip := "203.0.113." + string(rune('1'+i))
			resp, _ := f.do(t, "POST", "/code", `{"email":" Bob@Example.com "}`, map[string]string{"X-Forwarded-For": ip})
			want := 200
			if i == 2 {
				want = 429
			}
			if resp.StatusCode != want {
				t.Fatalf("request %d from %s: %d, want %d", i, ip, resp.StatusCode, want)
			}
		}
	})
	t.Run("client_ip_from_trusted_proxy_only", func(t *testing.T) {
		f := newFixture(t, testenv.Redis(t), nil)
		_, body := f.do(t, "GET", "/open", "", map[string]string{"X-Forwarded-For": "198.51.100.7"})
		if got := decodeEcho(t, body).ForwardedFor; got != "127.0.0.1" {
			t.Fatalf("untrusted peer's X-Forwarded-For was believed: %q", got)
		}
	})
}

func TestRedisDown503(t *testing.T) {
	m := miniredis.RunT(t)
	f := newFixture(t, "redis://"+m.Addr()+"/0", nil)
	sid, _, err := f.sessions.Create(context.Background(), "user-1")
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := f.do(t, "GET", "/private", "", map[string]string{"Authorization": "Bearer " + sid}); resp.StatusCode != 200 {
		t.Fatalf("before outage: %d", resp.StatusCode)
	}
	m.Close()
	for _, path := range []string{"/private", "/open"} {
		resp, body := f.do(t, "GET", path, "", map[string]string{"Authorization": "Bearer " + sid})
		if resp.StatusCode != 503 {
			t.Fatalf("%s with Redis down: %d %s (want 503, never 401)", path, resp.StatusCode, body)
		}
		if errorCode(t, body) != "unavailable" {
			t.Fatalf("body %s", body)
		}
	}
}

func TestRetryOnAnotherInstance(t *testing.T) {
	up := echoUpstream(t)
	upAddr := strings.TrimPrefix(up.URL, "http://")
	dead := closedAddr(t)
	f := newFixture(t, testenv.Redis(t), func(c *config.Config) {
		c.DiscoveryStatic = "echo=" + dead + "," + upAddr + ";down=" + dead
	})
	// Round robin sends every other request to the dead instance first; every GET must
	// still succeed, and a POST that hit the dead one must not be replayed.
	for i := range 4 {
		resp, body := f.do(t, "GET", "/open", "", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %d: %d %s", i, resp.StatusCode, body)
		}
	}
	statuses := map[int]int{}
	for range 4 {
		resp, _ := f.do(t, "POST", "/open", `{}`, map[string]string{"Content-Type": "application/json"})
		statuses[resp.StatusCode]++
	}
	if statuses[200] == 0 || statuses[503] == 0 {
		t.Fatalf("POST statuses = %v, want some 200 and some 503 (no retry of non-idempotent requests)", statuses)
	}
}

func TestRealTableServices(t *testing.T) {
	got := Services(Table())
	if diff := cmp.Diff([]string{"auth", "files", "posts", "comments", "likes", "follow", "feed"}, got); diff != "" {
		t.Fatalf("services (-want +got):\n%s", diff)
	}
}

func TestSwaggerUI(t *testing.T) {
	f := newFixture(t, testenv.Redis(t), nil)
	tests := []struct {
		path, contains string
	}{
		{"/swagger/index.html", "swagger-ui"},
		{"/swagger/openapi.yaml", "openapi: 3"},
		{"/swagger/swagger-initializer.js", "/swagger/openapi.yaml"},
		{"/swagger/swagger-ui-bundle.js", "SwaggerUIBundle"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := f.do(t, "GET", tt.path, "", nil)
			if resp.StatusCode != 200 || !strings.Contains(string(body), tt.contains) {
				t.Fatalf("status %d, body lacks %q", resp.StatusCode, tt.contains)
			}
			if resp.Header.Get("Content-Security-Policy") == "" {
				t.Fatal("no Content-Security-Policy on the docs")
			}
		})
	}
}

// TestTableRoutesResolve checks the real route table in chi: each documented path goes
// to the service that owns it (chi prefers static segments, so /api/posts/users/{id}
// is not taken for a post id) and internal routes are never exposed.
func TestTableRoutesResolve(t *testing.T) {
	r := chi.NewRouter()
	for _, rt := range Table() {
		svc := rt.Service
		h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, svc) })
		for _, m := range rt.Methods {
			r.Method(m, rt.Pattern, h)
		}
	}
	tests := []struct{ method, path, want string }{
		{"GET", "/api/users/0190f5d6-3c4e-7d62-9b8e-1a2b3c4d5e6f", "auth"},
		{"GET", "/api/users/by-username/alice", "auth"},
		{"GET", "/api/users/0190f5d6-3c4e-7d62-9b8e-1a2b3c4d5e6f/posts", "posts"},
		{"GET", "/api/posts/users/0190f5d6-3c4e-7d62-9b8e-1a2b3c4d5e6f", "posts"},
		{"GET", "/api/posts/0190f5d6-3c4e-7d62-9b8e-1a2b3c4d5e6f", "posts"},
		{"POST", "/api/posts/0190f5d6-3c4e-7d62-9b8e-1a2b3c4d5e6f/comments", "comments"},
		{"PUT", "/api/posts/0190f5d6-3c4e-7d62-9b8e-1a2b3c4d5e6f/like", "likes"},
		{"DELETE", "/api/files/users/0190f5d6-3c4e-7d62-9b8e-1a2b3c4d5e6f/a.jpg", "files"},
		{"PUT", "/api/users/0190f5d6-3c4e-7d62-9b8e-1a2b3c4d5e6f/follow", "follow"},
		{"GET", "/api/profiles/alice", "feed"},
		{"GET", "/api/profiles/id/0190f5d6-3c4e-7d62-9b8e-1a2b3c4d5e6f", "feed"},
		{"GET", "/internal/posts/0190f5d6-3c4e-7d62-9b8e-1a2b3c4d5e6f", ""},
		{"GET", "/internal/files/users/x/a.jpg", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			got := rec.Body.String()
			if tt.want == "" {
				if rec.Code != 404 {
					t.Fatalf("internal route exposed: %d %q", rec.Code, got)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("routed to %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDefaultLimits exercises the one-round-trip admission script on the real Redis and
// on the embedded stand-in the one-machine stack uses.
func TestDefaultLimits(t *testing.T) {
	servers := map[string]func(t *testing.T) string{
		"redis":     func(t *testing.T) string { return testenv.Redis(t) },
		"miniredis": func(t *testing.T) string { return "redis://" + miniredis.RunT(t).Addr() + "/0" },
	}
	for name, url := range servers {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, url(t), func(c *config.Config) {
				c.RateUserPerSecond, c.RateAnonymousIPPerSecond, c.RateLimitBurstMultiplier = 1, 1, 2
			})
			sid, _, err := f.sessions.Create(context.Background(), "user-1")
			if err != nil {
				t.Fatal(err)
			}
			bearer := map[string]string{"Authorization": "Bearer " + sid}
			expect := func(t *testing.T, hdr map[string]string, want ...int) {
				t.Helper()
				path := "/open"
				if hdr != nil {
					path = "/private"
				}
				for i, w := range want {
					resp, body := f.do(t, "GET", path, "", hdr)
					if resp.StatusCode != w {
						t.Fatalf("request %d: %d, want %d: %s", i, resp.StatusCode, w, body)
					}
					if w == 429 && resp.Header.Get("Retry-After") == "" {
						t.Fatal("429 without Retry-After")
					}
				}
			}
			// A burst of two, then refused: the signed-in bucket.
			expect(t, bearer, 200, 200, 429)
			// The IP bucket is separate from the session's.
			expect(t, nil, 200, 200, 429)
			// Made-up session ids are charged to the IP, not to fresh buckets.
			resp, _ := f.do(t, "GET", "/open", "", map[string]string{"Authorization": "Bearer invented-" + sid[:8]})
			if resp.StatusCode != 429 {
				t.Fatalf("an invented session escaped the IP limit: %d", resp.StatusCode)
			}
		})
	}
}
