package main

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"instant/platform/service"
	"instant/platform/session"
	"instant/platform/testenv"
	"instant/services/auth/internal/config"
)

// unavailable asserts a generic JSON 503 that names no dependency.
func unavailable(t *testing.T, h *harness, c call) {
	t.Helper()
	rec := h.do(t, c)
	mustStatus(t, rec, http.StatusServiceUnavailable)
	var eb errorBody
	decode(t, rec, &eb)
	if eb.Error.Code != "unavailable" {
		t.Fatalf("code = %q, want unavailable", eb.Error.Code)
	}
	low := strings.ToLower(rec.Body.String())
	for _, leak := range []string{"kafka", "redis", "sql", "dial", "127.0.0.1"} {
		if strings.Contains(low, leak) {
			t.Fatalf("503 body leaks %q: %s", leak, rec.Body)
		}
	}
}

func TestKafkaDown(t *testing.T) {
	vars := env(testenv.SQLite(t), miniRedis(t), []string{closedPort(t)})
	vars["EMAIL_PUBLISH_TIMEOUT"] = "1s"
	h := newHarness(t, vars)
	t.Run("request_code_503", func(t *testing.T) {
		unavailable(t, h, post("/auth/request-code", map[string]string{"email": newEmail()}))
	})
	t.Run("readyz_503", func(t *testing.T) {
		rec := h.do(t, call{method: "GET", path: "/readyz"})
		mustStatus(t, rec, http.StatusServiceUnavailable)
		if !strings.Contains(rec.Body.String(), `"kafka"`) {
			t.Fatalf("readyz = %s, want kafka listed as failed", rec.Body)
		}
	})
}

func TestRedisDown(t *testing.T) {
	m := miniredis.RunT(t)
	// Without retries each request fails at once; production keeps go-redis's retries.
	h := newHarness(t, env(testenv.SQLite(t), "redis://"+m.Addr()+"/0?max_retries=-1", testenv.Kafka(t, emailTopic, eventsTopic)))
	a := h.signup(t)
	m.Close()
	cases := []struct {
		name string
		c    call
	}{
		{"request_code_503", post("/auth/request-code", map[string]string{"email": newEmail()})},
		{"verify_503", post("/auth/verify-code", map[string]string{"email": a.Email, "code": "123456"})},
		{"logout_503", call{method: "POST", path: "/auth/logout", header: map[string]string{"Cookie": session.CookieName + "=" + a.SessionID}}},
		{"logout_all_503", call{method: "POST", path: "/auth/logout-all", as: a.ID}},
		{"request_delete_code_503", call{method: "GET", path: "/auth/users/" + a.ID + "/request-delete-code", as: a.ID}},
		{"delete_503", call{method: "POST", path: "/auth/users/" + a.ID + "/delete", as: a.ID, body: map[string]string{"code": "123456"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { unavailable(t, h, tc.c) })
	}
	t.Run("readyz_503", func(t *testing.T) {
		mustStatus(t, h.do(t, call{method: "GET", path: "/readyz"}), http.StatusServiceUnavailable)
	})
}

func TestDatabaseDown(t *testing.T) {
	u, err := url.Parse(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, u.Host)
	u.Host = p.addr()
	h := newHarness(t, env(u.String(), miniRedis(t), testenv.Kafka(t, emailTopic, eventsTopic)))
	a := h.signup(t)
	p.close()
	cases := []struct {
		name string
		c    call
	}{
		{"me_503", call{method: "GET", path: "/auth/me", as: a.ID}},
		{"profile_503", call{method: "GET", path: "/api/users/" + a.ID}},
		{"request_code_503", post("/auth/request-code", map[string]string{"email": a.Email})},
		{"patch_503", call{method: "PATCH", path: "/auth/users/" + a.ID, as: a.ID, body: map[string]string{"username": testenv.Name("r")}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { unavailable(t, h, tc.c) })
	}
}

// TestMetrics checks the domain counters in the process registry after a sign-up, a
// login and a wrong code.
func TestMetrics(t *testing.T) {
	h := newHarness(t, env(testenv.SQLite(t), miniRedis(t), testenv.Kafka(t, emailTopic, eventsTopic)))
	a := h.signup(t)
	verifyLogin(t, h, a.Email)
	code := h.loginCode(t, a.Email)
	mustStatus(t, h.do(t, post("/auth/verify-code", map[string]string{"email": a.Email, "code": otherCode(code)})), http.StatusBadRequest)
	want := map[string]float64{
		`codes_requested_total{purpose="login"}`:          3,
		`codes_requested_total{purpose="delete_account"}`: 0,
		`code_verifications_total{result="ok"}`:           2,
		`code_verifications_total{result="invalid"}`:      1,
		`signups_total`: 1,
		`logins_total`:  1,
	}
	got := gather(t, h.proc.Registry)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func gather(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			out[mf.GetName()+labels(m)] = m.GetCounter().GetValue()
		}
	}
	return out
}

func labels(m *dto.Metric) string {
	if len(m.GetLabel()) == 0 {
		return ""
	}
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+`="`+l.GetValue()+`"`)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// TestLogsKeepSecrets runs the whole sign-in and deletion flow at debug level and checks
// that no code, email address or session id reaches the log.
func TestLogsKeepSecrets(t *testing.T) {
	var logs syncBuffer
	vars := env(testenv.SQLite(t), miniRedis(t), testenv.Kafka(t, emailTopic, eventsTopic))
	vars["LOG_LEVEL"] = "debug"
	cfg, proc, err := service.Start("auth", func(k string) string { return vars[k] }, &logs,
		func(c *config.Config) *service.Base { return &c.Base })
	if err != nil {
		t.Fatal(err)
	}
	a0, err := newApp(t.Context(), cfg, proc)
	if err != nil {
		t.Fatal(err)
	}
	defer a0.close()
	h := newHarness(t, vars) // readers and signer; requests go to the logging app
	h.handler = a0.handler

	var secrets []string
	a := h.signup(t)
	secrets = append(secrets, a.Email, a.SessionID)
	code := h.loginCode(t, a.Email)
	secrets = append(secrets, code)
	mustStatus(t, h.do(t, post("/auth/verify-code", map[string]string{"email": a.Email, "code": otherCode(code)})), http.StatusBadRequest)
	mustStatus(t, h.do(t, post("/auth/request-code", map[string]string{"email": "bad address@x"})), http.StatusBadRequest)
	mustStatus(t, h.do(t, call{method: "GET", path: "/auth/users/" + a.ID + "/request-delete-code", as: a.ID}), http.StatusOK)
	del := h.mailed(t, a.Email, "delete_code").Params["code"]
	secrets = append(secrets, del)
	mustStatus(t, h.do(t, call{method: "POST", path: "/auth/users/" + a.ID + "/delete", as: a.ID, body: map[string]string{"code": del}}), http.StatusOK)

	out := logs.String()
	if !strings.Contains(out, `"msg":"request"`) {
		t.Fatal("no request was logged; the check would prove nothing")
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Fatalf("the log holds a secret value (%d chars)", len(s))
		}
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proxy cuts a dependency's connections on demand (testenv.Proxy).
type proxy struct{ *testenv.Proxy }

func startProxy(t *testing.T, target string) proxy { return proxy{testenv.StartProxy(t, target)} }
func (p proxy) addr() string                       { return p.Addr() }
func (p proxy) close()                             { p.Close() }
