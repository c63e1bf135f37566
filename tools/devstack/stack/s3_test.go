package stack

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// startTestS3 runs the embedded S3 server on a free port over dataDir, for a stack with
// one service that needs it.
func startTestS3(t *testing.T, dataDir string) (*Stack, map[string]string) {
	t.Helper()
	s := &Stack{log: testLogger(t)}
	o := Options{DataDir: dataDir, Getenv: envOf(nil), Services: []Service{{Name: "files", NeedsS3: true}}, Log: testLogger(t)}
	env, err := s.startS3(o, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stopS3(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return s, env
}

// s3Clients are what the files service builds from its environment: one client for its
// own calls, one that signs URLs for the endpoint clients reach.
func s3Clients(t *testing.T, env map[string]string) (api, signer *minio.Client) {
	t.Helper()
	creds := credentials.NewStaticV4(env["S3_ACCESS_KEY"], env["S3_SECRET_KEY"], "")
	api, err := minio.New(env["S3_ENDPOINT"], &minio.Options{Creds: creds, Region: env["S3_REGION"]})
	if err != nil {
		t.Fatal(err)
	}
	signer, err = minio.New(strings.TrimPrefix(env["S3_PUBLIC_ENDPOINT"], "http://"), &minio.Options{Creds: creds, Region: env["S3_REGION"]})
	if err != nil {
		t.Fatal(err)
	}
	return api, signer
}

func send(t *testing.T, method, url, contentType string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A client uploads and downloads through presigned URLs, as the files service hands
// them out; the server checks the signed headers; objects are files under DataDir/s3
// and survive a restart of the stack.
func TestS3_presignedRoundTripAndRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s, env := startTestS3(t, dir)
	if !s.EmbeddedS3 || s.S3Endpoint != "http://"+env["S3_ENDPOINT"] {
		t.Fatalf("EmbeddedS3 %v, S3Endpoint %q, env %v", s.EmbeddedS3, s.S3Endpoint, env)
	}
	want := map[string]string{
		"S3_ENDPOINT": env["S3_ENDPOINT"], "S3_PUBLIC_ENDPOINT": s.S3Endpoint, "S3_REGION": "us-east-1",
		"S3_BUCKET": "instant-media", "S3_ACCESS_KEY": "instant", "S3_SECRET_KEY": env["S3_SECRET_KEY"], "S3_USE_TLS": "false",
	}
	if diff := cmp.Diff(want, env); diff != "" || len(env["S3_SECRET_KEY"]) < 32 {
		t.Fatalf("env (-want +got):\n%s", diff)
	}

	api, signer := s3Clients(t, env)
	bucket, key := env["S3_BUCKET"], "users/0b5f2a4e-3f7c-4a8e-9d61-2f1f3c1b9a10/photo.jpg"
	if err := api.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: env["S3_REGION"]}); err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("Content-Type", "image/jpeg")
	putURL, err := signer.PresignHeader(ctx, http.MethodPut, bucket, key, time.Minute, nil, h)
	if err != nil {
		t.Fatal(err)
	}
	// A browser on the gateway's origin asks first.
	pre, err := http.NewRequest(http.MethodOptions, putURL.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pre.Header.Set("Origin", "http://localhost:8080")
	pre.Header.Set("Access-Control-Request-Method", "PUT")
	pre.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := http.DefaultClient.Do(pre)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 || resp.Header.Get("Access-Control-Allow-Origin") == "" ||
		!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "content-type") {
		t.Errorf("CORS preflight = %d %v", resp.StatusCode, resp.Header)
	}
	if status, body := send(t, http.MethodPut, putURL.String(), "image/png", []byte("jpeg")); status != http.StatusForbidden {
		t.Fatalf("PUT with an unsigned content type = %d, want 403: %s", status, body)
	}
	if status, body := send(t, http.MethodPut, putURL.String(), "image/jpeg", []byte("jpeg")); status != http.StatusOK {
		t.Fatalf("PUT = %d: %s", status, body)
	}
	getURL, err := signer.PresignedGetObject(ctx, bucket, key, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	if status, body := send(t, http.MethodGet, getURL.String(), "", nil); status != http.StatusOK || body != "jpeg" {
		t.Fatalf("GET = %d, %q", status, body)
	}
	if _, err := os.Stat(filepath.Join(dir, "s3", bucket, key)); err != nil {
		t.Errorf("the object is not a file under the data directory: %v", err)
	}

	// Stopped, the server is gone and the working directory is the test's again.
	addr := env["S3_ENDPOINT"]
	if err := s.stopS3(ctx); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.Getwd(); now != wd {
		t.Errorf("working directory after stop = %q, want %q", now, wd)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the S3 server still accepts connections after stop")
	}

	// A new stack over the same data directory (new port, new secret) serves the object.
	old := env
	_, env = startTestS3(t, dir)
	_, signer = s3Clients(t, env)
	getURL, err = signer.PresignedGetObject(ctx, bucket, key, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	if status, body := send(t, http.MethodGet, getURL.String(), "", nil); status != http.StatusOK || body != "jpeg" {
		t.Fatalf("GET after restart = %d, %q", status, body)
	}
	old["S3_ENDPOINT"] = env["S3_ENDPOINT"]
	stale, _ := s3Clients(t, old)
	if _, err := stale.StatObject(ctx, bucket, key, minio.StatObjectOptions{}); minio.ToErrorResponse(err).StatusCode != http.StatusForbidden {
		t.Errorf("the previous run's secret after restart: %v, want 403", err)
	}
}

func TestStartS3_onlyWhenNeeded(t *testing.T) {
	s := &Stack{log: testLogger(t)}
	o := Options{DataDir: t.TempDir(), Getenv: envOf(nil), Services: []Service{{Name: "auth", NeedsDB: true}}, Log: testLogger(t)}
	env, err := s.startS3(o, false)
	if err != nil || env != nil || s.EmbeddedS3 || s.S3Endpoint != "" || s.s3 != nil {
		t.Errorf("startS3 without a service that needs it = %v, %v; embedded %v, endpoint %q", env, err, s.EmbeddedS3, s.S3Endpoint)
	}
}

func TestStartS3_external(t *testing.T) {
	s := &Stack{log: testLogger(t)}
	parent := map[string]string{
		"S3_ENDPOINT": "minio.internal:9000", "S3_PUBLIC_ENDPOINT": "https://media.example.com",
		"S3_ACCESS_KEY": "ak", "S3_SECRET_KEY": "sk", "S3_USE_TLS": "true", "AWS_PROFILE": "not passed",
	}
	o := Options{DataDir: t.TempDir(), Getenv: envOf(parent), Services: []Service{{Name: "files", NeedsS3: true}}, Log: testLogger(t)}
	env, err := s.startS3(o, false)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"S3_ENDPOINT": "minio.internal:9000", "S3_PUBLIC_ENDPOINT": "https://media.example.com",
		"S3_ACCESS_KEY": "ak", "S3_SECRET_KEY": "sk", "S3_USE_TLS": "true",
	}
	if diff := cmp.Diff(want, env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if s.EmbeddedS3 || s.s3 != nil || s.S3Endpoint != "https://media.example.com" {
		t.Errorf("embedded %v, endpoint %q", s.EmbeddedS3, s.S3Endpoint)
	}
}

// Started as `make run` starts it, the stack gives S3 to the services that need it and
// to no other, and its children run in the directory the stack started in.
func TestStart_s3ForTheServicesThatNeedIt(t *testing.T) {
	bin := buildFakeService(t, "files", "auth")
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{
		BinDir:  bin,
		DataDir: t.TempDir(),
		Services: []Service{
			{Name: "auth", NeedsDB: true},
			{Name: "files", NeedsS3: true, NeedsKafka: true},
		},
		Log: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(ctx)

	files, auth := fetchEnv(t, s.ServiceURL("files")), fetchEnv(t, s.ServiceURL("auth"))
	if !s.EmbeddedS3 || files["S3_PUBLIC_ENDPOINT"] != s.S3Endpoint || files["S3_ENDPOINT"] != strings.TrimPrefix(s.S3Endpoint, "http://") ||
		files["S3_BUCKET"] != "instant-media" || files["S3_SECRET_KEY"] == "" {
		t.Errorf("files env: %v; stack S3 %q", files, s.S3Endpoint)
	}
	for k := range auth {
		if strings.HasPrefix(k, "S3_") {
			t.Errorf("auth got %s; it needs no S3", k)
		}
	}
	for name, env := range map[string]map[string]string{"files": files, "auth": auth} {
		if env["FAKESVC_WD"] != wd {
			t.Errorf("%s runs in %q, want the stack's directory %q", name, env["FAKESVC_WD"], wd)
		}
	}
	api, _ := s3Clients(t, files)
	if _, err := api.BucketExists(ctx, files["S3_BUCKET"]); err != nil {
		t.Errorf("the S3 server refuses the services' credentials: %v", err)
	}

	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.Getwd(); now != wd {
		t.Errorf("working directory after Stop = %q, want %q", now, wd)
	}
}
