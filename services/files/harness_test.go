package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"instant/platform/identity"
	"instant/platform/service"
	"instant/platform/testenv"
	"instant/services/files/internal/config"
	"instant/services/files/internal/s3test"
)

// Every test of this package talks to one real S3 server (versitygw, embedded) over TCP.
func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }

const (
	testSecret = "test-identity-secret-0123456789abcdef"
	postTopic  = "post.events"
	userTopic  = "user.events"
	dlqTopic   = "files.dlq"
)

// env is the environment of an app on the shared S3 server, a bucket of its own and a
// fresh in-process Kafka cluster.
func env(t *testing.T) map[string]string {
	t.Helper()
	s3 := s3test.Get(t)
	return map[string]string{
		"IDENTITY_SECRET":    testSecret,
		"KAFKA_BROKERS":      strings.Join(testenv.Kafka(t, postTopic, userTopic, dlqTopic), ","),
		"S3_ENDPOINT":        s3.Endpoint,
		"S3_PUBLIC_ENDPOINT": "http://" + s3.Endpoint,
		"S3_REGION":          s3.Region,
		"S3_BUCKET":          testenv.Name("files-"),
		"S3_ACCESS_KEY":      s3.AccessKey,
		"S3_SECRET_KEY":      s3.SecretKey,
		"LOG_LEVEL":          "error",
	}
}

// harness is the app as run builds it, its consumer running, plus a direct S3 client on
// its bucket for checking what really is in the store.
type harness struct {
	handler http.Handler
	proc    *service.Process
	cfg     config.Config
	signer  *identity.Signer
	s3      *minio.Client
}

func newHarness(t *testing.T, vars map[string]string) *harness {
	t.Helper()
	cfg, proc, err := service.Start("files", func(k string) string { return vars[k] }, testenv.LogWriter(t),
		func(c *config.Config) *service.Base { return &c.Base })
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, proc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.consumer.Run(ctx); err != nil {
			t.Errorf("consumer: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		a.close()
	})
	signer, err := identity.NewSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := minio.New(cfg.S3Endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(cfg.S3AccessKey, cfg.S3SecretKey, ""), Region: cfg.S3Region,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{handler: a.handler, proc: proc, cfg: cfg, signer: signer, s3: cl}
}

// testWriter sends the service's log lines to the test log, shown only on failure.
// call is one request through the app's handler. A string body is sent as is, anything
// else as JSON.
type call struct {
	method, path string
	body         any
	as           uuid.UUID // the user to sign the identity header for; Nil: anonymous
	header       map[string]string
}

func (h *harness) do(t *testing.T, c call) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	switch b := c.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(raw)
	}
	r := httptest.NewRequest(c.method, c.path, body)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if c.as != uuid.Nil {
		r.Header.Set(identity.HeaderSignature, h.signer.Sign(c.as.String()))
		r.Header.Set(identity.HeaderUserID, c.as.String())
	}
	for k, v := range c.header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	return w
}

// uploadURL is the body of a 200 from POST /api/files/upload-url.
type uploadURL struct {
	Success          bool              `json:"success"`
	UploadURL        string            `json:"upload_url"`
	FileKey          string            `json:"file_key"`
	Method           string            `json:"method"`
	Headers          map[string]string `json:"headers"`
	ExpiresAt        time.Time         `json:"expires_at"`
	ExpiresInSeconds int64             `json:"expires_in_seconds"`
}

// downloadURL is the body of a 200 from POST /api/files/download-url.
type downloadURL struct {
	Success          bool      `json:"success"`
	DownloadURL      string    `json:"download_url"`
	FileKey          string    `json:"file_key"`
	ExpiresAt        time.Time `json:"expires_at"`
	ExpiresInSeconds int64     `json:"expires_in_seconds"`
}

func (h *harness) uploadURL(t *testing.T, user uuid.UUID, body map[string]any) uploadURL {
	t.Helper()
	rec := h.do(t, call{method: "POST", path: "/api/files/upload-url", body: body, as: user})
	mustStatus(t, rec, http.StatusOK)
	var u uploadURL
	decode(t, rec, &u)
	return u
}

func (h *harness) downloadURL(t *testing.T, user uuid.UUID, key string) downloadURL {
	t.Helper()
	rec := h.do(t, call{method: "POST", path: "/api/files/download-url", body: map[string]string{"file_key": key}, as: user})
	mustStatus(t, rec, http.StatusOK)
	var d downloadURL
	decode(t, rec, &d)
	return d
}

// upload stores an image as a client would: ask for a URL, PUT the bytes to S3.
func (h *harness) upload(t *testing.T, user uuid.UUID, name string, data []byte) string {
	t.Helper()
	u := h.uploadURL(t, user, map[string]any{"filename": name, "content_type": contentTypeOf(name)})
	if status, body := put(t, u.UploadURL, u.Headers["Content-Type"], data); status != http.StatusOK {
		t.Fatalf("PUT to the upload URL = %d: %s", status, body)
	}
	return u.FileKey
}

func contentTypeOf(name string) string {
	switch {
	case strings.HasSuffix(name, ".png"):
		return "image/png"
	case strings.HasSuffix(name, ".gif"):
		return "image/gif"
	case strings.HasSuffix(name, ".webp"):
		return "image/webp"
	default:
		return "image/jpeg"
	}
}

// s3Client talks to the object store straight, as a browser does with a presigned URL.
var s3Client = &http.Client{Timeout: 10 * time.Second}

// put sends body to a presigned URL with a Content-Type ("" sends none) and returns the
// store's status and answer.
func put(t *testing.T, url, contentType string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return send(t, req)
}

// get fetches a presigned URL and returns the status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return send(t, req)
}

func send(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := s3Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// exists reports whether the store holds key.
func (h *harness) exists(t *testing.T, key string) bool {
	t.Helper()
	_, err := h.s3.StatObject(context.Background(), h.cfg.S3Bucket, key, minio.StatObjectOptions{})
	if err == nil {
		return true
	}
	if minio.ToErrorResponse(err).Code == "NoSuchKey" {
		return false
	}
	t.Fatalf("stat %s: %v", key, err)
	return false
}

// putObject stores an object straight into the bucket, bypassing the service.
func (h *harness) putObject(t *testing.T, key string, data []byte) {
	t.Helper()
	_, err := h.s3.PutObject(context.Background(), h.cfg.S3Bucket, key, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: "image/jpeg"})
	if err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metric reads a counter of the app's registry; labels select one series.
func (h *harness) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	return metricValue(t, h.proc.Registry, name, labels)
}

func metricValue(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if matches(m, labels) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func matches(m *dto.Metric, labels map[string]string) bool {
	n := 0
	for _, lp := range m.GetLabel() {
		if v, ok := labels[lp.GetName()]; ok {
			if v != lp.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(labels)
}

func mustStatus(t *testing.T, rec *httptest.ResponseRecorder, want int) {
	t.Helper()
	if rec.Code != want {
		t.Fatalf("status = %d, want %d; body: %s", rec.Code, want, rec.Body)
	}
}

func decode(t *testing.T, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("decode %s: %v", rec.Body, err)
	}
}

// errorBody is the platform's JSON error envelope.
type errorBody struct {
	Success bool `json:"success"`
	Error   struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}
