package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"instant/platform/identity"
	"instant/platform/testenv"
)

// TestRun starts the service as main does, on the embedded stores, and comments over
// TCP: what ships is what is tested.
func TestRun(t *testing.T) {
	posts := newFakePosts(t)
	vars := env(testenv.SQLite(t), testenv.Kafka(t, topics...), posts.addr())
	vars["HTTP_ADDR"] = "127.0.0.1:0"
	vars["INTERNAL_ADDR"] = "127.0.0.1:0"
	vars["LOG_LEVEL"] = "info"
	delete(vars, "POST_CACHE_TTL") // the default

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, logs := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, func(k string) string { return vars[k] }, logs)
		logs.Close()
	}()
	public, internal := listening(t, out)

	get := func(url string) *http.Response {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, u := range []string{public + "/livez", public + "/readyz", internal + "/readyz"} {
		if resp := get(u); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", u, resp.StatusCode)
		}
	}

	signer, err := identity.NewSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	user, post := newUser(), posts.add(newUser())
	req, _ := http.NewRequest("POST", public+"/api/posts/"+post+"/comments", strings.NewReader(`{"body":"over TCP"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(identity.HeaderSignature, signer.Sign(user))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create = %d", resp.StatusCode)
	}

	metrics, err := io.ReadAll(get(internal + "/metrics").Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"comments_created_total 1", "comments_deleted_total 0",
		`http_requests_total{method="POST",route="/api/posts/{id}/comments",status="201"} 1`} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after shutdown", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}

// listening reads the service's log until it says where it listens, and keeps draining
// the log afterwards so the service never blocks on it.
func listening(t *testing.T, r io.Reader) (public, internal string) {
	t.Helper()
	type addrs struct{ public, internal string }
	found := make(chan addrs, 1)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var line struct {
				Msg          string `json:"msg"`
				Addr         string `json:"addr"`
				InternalAddr string `json:"internal_addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				found <- addrs{"http://" + line.Addr, "http://" + line.InternalAddr}
			}
		}
		io.Copy(io.Discard, r)
	}()
	select {
	case a := <-found:
		return a.public, a.internal
	case <-time.After(30 * time.Second):
		t.Fatal("the service did not start listening")
		return "", ""
	}
}
