package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"

	"instant/platform/testenv"
	"instant/tools/devstack/stack"
)

// lockedBuffer keeps the stack's output for a failing test's log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type env map[string]string

// startStack runs the product. real=true puts auth and email on fresh PostgreSQL
// databases and every service on an isolated Redis database; otherwise the embedded
// stand-ins are used (needed to stop Redis in an outage test).
func startStack(t *testing.T, real bool, gatewayEnv map[string]string) *stack.Stack {
	t.Helper()
	vars := env{"LOG_LEVEL": "info"}
	if real {
		vars["REDIS_URL"] = testenv.Redis(t)
		vars["AUTH_DATABASE_URL"] = testenv.Postgres(t)
		vars["EMAIL_DATABASE_URL"] = testenv.Postgres(t)
	}
	svcs := stack.DefaultServices()
	for i := range svcs {
		if svcs[i].Name == "gateway" {
			svcs[i].Env = gatewayEnv
		}
	}
	out := &lockedBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s, err := stack.Start(ctx, stack.Options{
		BinDir: binDir, DataDir: t.TempDir(), Services: svcs, GatewayAddr: "127.0.0.1:0",
		Getenv: func(k string) string { return vars[k] }, Stdout: out,
	})
	if err != nil {
		t.Fatalf("start stack: %v\n%s", err, out)
	}
	gatewayURL = s.GatewayURL
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop stack: %v", err)
		}
		if t.Failed() {
			t.Logf("stack output:\n%s", out)
		}
	})
	return s
}

// client is a user agent with its own cookie jar.
type client struct {
	t       *testing.T
	base    string
	gateway string // answers from here are checked against the OpenAPI document
	http    *http.Client
}

// gatewayURL is the gateway of the stack the current test runs; set by startStack.
var gatewayURL string

func newClient(t *testing.T, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, gateway: gatewayURL, http: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		// Redirects (to presigned storage URLs) are followed by the test explicitly.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON (%d): %s", r.status, r.body)
	}
	return m
}

func (r response) errorCode(t *testing.T) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func (c *client) do(method, path string, body any, hdr map[string]string) response {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	url := path
	if !strings.HasPrefix(path, "http") {
		url = c.base + path
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	// Every answer that came through the gateway must match the API document.
	if strings.HasPrefix(url, c.gateway) && c.gateway != "" {
		checkAgainstSpec(c.t, req, resp.StatusCode, resp.Header, b)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (c *client) expect(want int, method, path string, body any, hdr map[string]string) response {
	c.t.Helper()
	r := c.do(method, path, body, hdr)
	if r.status != want {
		c.t.Fatalf("%s %s = %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r
}

// code asks for a sign-in code and reads it from the SMTP sink.
func code(t *testing.T, s *stack.Stack, c *client, email string) string {
	t.Helper()
	since := time.Now()
	c.expect(200, "POST", "/auth/request-code", map[string]string{"email": email}, nil)
	return readCode(t, s, email, since)
}

func readCode(t *testing.T, s *stack.Stack, email string, since time.Time) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msg, err := s.Mail.WaitFor(ctx, email, since)
	if err != nil {
		t.Fatalf("no mail for %s: %v", email, err)
	}
	if len(msg.Code) != 6 {
		t.Fatalf("mail for %s holds no code: %q", email, msg.Subject)
	}
	return msg.Code
}

// signUp creates an account and returns the user id and session id.
func signUp(t *testing.T, s *stack.Stack, c *client, email, username string) (string, string) {
	t.Helper()
	cd := code(t, s, c, email)
	r := c.expect(200, "POST", "/auth/verify-code", map[string]string{"email": email, "code": cd, "username": username}, nil)
	m := r.json(t)
	user, _ := m["user"].(map[string]any)
	id, _ := user["id"].(string)
	sid, _ := m["session_id"].(string)
	if id == "" || sid == "" {
		t.Fatalf("verify-code answer lacks user.id or session_id: %s", r.body)
	}
	return id, sid
}
