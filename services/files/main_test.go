package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"instant/platform/identity"
)

// TestRun starts the service as main does and asks for an upload URL over TCP: what
// ships is what is tested.
func TestRun(t *testing.T) {
	vars := env(t)
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
	user := uuid.NewString()
	req, err := http.NewRequest("POST", public+"/api/files/upload-url", strings.NewReader(`{"filename":"a.png","content_type":"image/png"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(identity.HeaderSignature, signer.Sign(user))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var u uploadURL
	err = json.NewDecoder(resp.Body).Decode(&u)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(u.FileKey, "users/"+user+"/") {
		t.Fatalf("upload-url = %d, %+v, %v", resp.StatusCode, u, err)
	}
	if status, body := put(t, u.UploadURL, "image/png", []byte("png")); status != http.StatusOK {
		t.Fatalf("PUT = %d: %s", status, body)
	}

	metrics, err := io.ReadAll(get(internal + "/metrics").Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{
		"files_upload_urls_total 1", "files_download_urls_total 0", `files_deleted_total{reason="user_deleted"} 0`,
		`http_requests_total{method="POST",route="/api/files/upload-url",status="200"} 1`,
	} {
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

// An object store that is not there fails the start, with a message that says so.
func TestRun_s3Unreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	vars := env(t)
	vars["S3_ENDPOINT"] = closed
	vars["S3_TIMEOUT"] = "1s"
	vars["HTTP_ADDR"] = "127.0.0.1:0"
	vars["INTERNAL_ADDR"] = "127.0.0.1:0"
	err = run(context.Background(), func(k string) string { return vars[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "s3: bucket") {
		t.Fatalf("run = %v, want the bucket check to fail", err)
	}
}

// A configuration that cannot work is refused before anything starts.
func TestRun_badConfig(t *testing.T) {
	for name, change := range map[string]map[string]string{
		"no_endpoint":          {"S3_ENDPOINT": ""},
		"endpoint_with_scheme": {"S3_ENDPOINT": "http://127.0.0.1:9000"},
		"public_with_path":     {"S3_PUBLIC_ENDPOINT": "http://127.0.0.1:9000/media"},
		"public_no_scheme":     {"S3_PUBLIC_ENDPOINT": "127.0.0.1:9000"},
		"no_secret":            {"S3_SECRET_KEY": ""},
		"ttl_fraction":         {"UPLOAD_URL_TTL": "1500ms"},
		"ttl_too_long":         {"DOWNLOAD_URL_TTL": "200h"},
		"max_upload_zero":      {"MAX_UPLOAD_BYTES": "0"},
		"dlq_is_consumed":      {"FILES_DLQ_TOPIC": "post.events"},
		"no_brokers":           {"KAFKA_BROKERS": " , "},
		"cors_not_an_origin":   {"S3_CORS_ORIGINS": "https://app.example.com, app.example.com"},
		"cors_origin_path":     {"S3_CORS_ORIGINS": "https://app.example.com/upload"},
	} {
		t.Run(name, func(t *testing.T) {
			vars := map[string]string{
				"IDENTITY_SECRET": testSecret, "KAFKA_BROKERS": "127.0.0.1:1", "S3_ENDPOINT": "127.0.0.1:1",
				"S3_ACCESS_KEY": "a", "S3_SECRET_KEY": "b",
			}
			for k, v := range change {
				vars[k] = v
			}
			if err := run(context.Background(), func(k string) string { return vars[k] }, io.Discard); err == nil || !strings.Contains(err.Error(), "config") {
				t.Fatalf("run = %v, want a config error", err)
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
		_, _ = io.Copy(io.Discard, r)
	}()
	select {
	case a := <-found:
		return a.public, a.internal
	case <-time.After(30 * time.Second):
		t.Fatal("the service did not start listening")
		return "", ""
	}
}
