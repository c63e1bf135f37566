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

	"github.com/google/uuid"

	"instant/platform/events"
	"instant/platform/identity"
	"instant/platform/logging"
	"instant/platform/testenv"
)

// TestRun starts the service as main does, on the embedded stores, feeds it a post over
// Kafka and reads it back over TCP: what ships is what is tested.
func TestRun(t *testing.T) {
	brokers := testenv.Kafka(t, topics...)
	vars := env(testenv.SQLite(t), miniRedis(t), brokers)
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

	get := func(url, as string) *http.Response {
		t.Helper()
		req, err := http.NewRequest("GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if as != "" {
			signer, err := identity.NewSigner(testSecret)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set(identity.HeaderSignature, signer.Sign(as))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, u := range []string{public + "/livez", public + "/readyz", internal + "/readyz"} {
		if resp := get(u, ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", u, resp.StatusCode)
		}
	}

	p, err := events.NewProducer(events.Conn{Brokers: brokers}, "test-posts", logging.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	author, post := uuid.NewString(), uuid.NewString()
	now := time.Now().UTC()
	e, err := events.NewEnvelope("post.created", "posts", post, map[string]any{"id": post, "user_id": author, "caption": "over TCP",
		"image_key": "users/" + author + "/a.jpg", "hashtags": []string{}, "mentions": []string{}, "created_at": now, "updated_at": now})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.PublishEnvelope(ctx, postsTopic, e); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() string {
		var body pageJSON
		resp := get(public+"/api/feed", author)
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
			return "feed: " + resp.Status
		}
		if len(body.Items) != 1 || body.Items[0].ID != post {
			return "the post is not in its author's feed yet"
		}
		return ""
	})

	metrics, err := io.ReadAll(get(internal+"/metrics", "").Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{`feed_reads_total{source="rebuild"} 1`, `http_requests_total{method="GET",route="/api/feed",status="200"}`,
		`events_consumed_total{topic="post.events"} 1`} {
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
	for name, edit := range map[string]func(map[string]string){
		"no_redis":       func(v map[string]string) { delete(v, "REDIS_URL") },
		"bad_redis_url":  func(v map[string]string) { v["REDIS_URL"] = "http://nope" },
		"dlq_consumed":   func(v map[string]string) { v["FEED_DLQ_TOPIC"] = postsTopic },
		"bad_database":   func(v map[string]string) { v["DATABASE_URL"] = "mysql://x" },
		"zero_threshold": func(v map[string]string) { v["FEED_CELEBRITY_THRESHOLD"] = "0" },
	} {
		t.Run(name, func(t *testing.T) {
			vars := env(testenv.SQLite(t), "redis://127.0.0.1:1/0", []string{"127.0.0.1:1"})
			edit(vars)
			if err := run(context.Background(), func(k string) string { return vars[k] }, io.Discard); err == nil {
				t.Fatal("run started with a bad configuration")
			}
		})
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
