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

// TestRun starts the service as main does, on the embedded stores, and creates a post
// over TCP: what ships is what is tested.
func TestRun(t *testing.T) {
	files := newFakeFiles(t)
	vars := env(testenv.SQLite(t), testenv.Kafka(t, topics...), files.addr())
	vars["HTTP_ADDR"] = "127.0.0.1:0"
	vars["INTERNAL_ADDR"] = "127.0.0.1:0"
	vars["LOG_LEVEL"] = "info"

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
	user := newUser()
	key := files.upload(user, "run.jpg", jpeg, 100)
	req, err := http.NewRequest("POST", public+"/api/posts", strings.NewReader(`{"caption":"over TCP","image_url":"`+key+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(identity.HeaderSignature, signer.Sign(user))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Success bool
		Data    struct {
			PostID string `json:"post_id"`
		}
	}
	err = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated || !body.Success || body.Data.PostID == "" {
		t.Fatalf("create = %d %+v %v", resp.StatusCode, body, err)
	}

	metrics, err := io.ReadAll(get(internal + "/metrics").Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{`posts_created_total 1`, `http_requests_total{method="POST",route="/api/posts",status="201"} 1`} {
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

// TestRunRefusesBadConfig: run fails fast, before serving, on a configuration it cannot use.
func TestRunRefusesBadConfig(t *testing.T) {
	vars := env(testenv.SQLite(t), []string{"127.0.0.1:1"}, "127.0.0.1:1")
	delete(vars, "DISCOVERY_STATIC")
	if err := run(context.Background(), func(k string) string { return vars[k] }, io.Discard); err == nil {
		t.Fatal("run started without DISCOVERY_STATIC in static mode")
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
