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

// TestRun starts the service as main does, on SQLite, and follows someone over TCP:
// what ships is what is tested.
func TestRun(t *testing.T) {
	auth := newFakeAuth(t)
	brokers := testenv.Kafka(t, topics...)
	vars := env(testenv.SQLite(t), brokers, auth.addr())
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

	send := func(method, url, as string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, url, nil)
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
		if resp := send("GET", u, ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", u, resp.StatusCode)
		}
	}

	a, b := auth.user(), auth.user()
	if resp := send("PUT", public+"/api/users/"+b+"/follow", a); resp.StatusCode != http.StatusOK {
		t.Fatalf("follow = %d", resp.StatusCode)
	}
	resp := send("GET", public+"/api/users/"+b+"/followers", a)
	var page pageBody
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || len(page.Items) != 1 || page.Items[0].UserID != a {
		t.Fatalf("followers = %+v, %v", page, err)
	}
	newTopicReader(t, brokers, eventsTopic).wait(t, "follow.created", a, b)

	metrics, err := io.ReadAll(send("GET", internal+"/metrics", "").Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{`follows_created_total 1`, `follows_deleted_total 0`,
		`http_requests_total{method="PUT",route="/api/users/{id}/follow",status="200"} 1`} {
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

// TestRunRefusesBadConfig: run fails at start, before serving, on a configuration it
// cannot work with.
func TestRunRefusesBadConfig(t *testing.T) {
	vars := env(testenv.SQLite(t), []string{"127.0.0.1:9092"}, "127.0.0.1:1")
	delete(vars, "DISCOVERY_STATIC")
	err := run(context.Background(), func(k string) string { return vars[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "DISCOVERY_STATIC") {
		t.Fatalf("run = %v, want a configuration error naming DISCOVERY_STATIC", err)
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
