package files3

import (
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"instant/platform/testenv"
	"instant/services/files/internal/s3test"
)

func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }

// TestSetCORS sets the browser-upload rule on a real S3 server and reads it back, then
// asks for a preflight as a browser would before a presigned PUT: an allowed origin is
// answered with the CORS headers, another is not.
func TestSetCORS(t *testing.T) {
	srv := s3test.Get(t)
	s, err := New(Config{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: testenv.Name("cors-"),
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := s.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	origins := []string{"https://app.example.com", "http://localhost:5173"}
	if err := s.SetCORS(ctx, origins); err != nil {
		t.Fatal(err)
	}
	got, err := s.api.GetBucketCors(ctx, s.bucket)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.CORSRules) != 1 || !slices.Equal(got.CORSRules[0].AllowedOrigin, origins) ||
		!slices.Contains(got.CORSRules[0].AllowedMethod, http.MethodPut) {
		t.Fatalf("bucket CORS = %+v", got.CORSRules)
	}

	preflight := func(origin string) http.Header {
		req, err := http.NewRequestWithContext(ctx, http.MethodOptions, "http://"+srv.Endpoint+"/"+s.bucket+"/users/u/k.jpg", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", http.MethodPut)
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header
	}
	if h := preflight("https://app.example.com"); h.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("preflight from an allowed origin: headers %v", h)
	}
	if h := preflight("https://evil.example"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin was allowed: %v", h)
	}
}
