package main

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The URLs the service signs are checked by the S3 server, not by the service: these
// tests send what a careless or hostile client would and read the server's answer.
func TestPresignedURLs_refusedByS3(t *testing.T) {
	h := newHarness(t, env(t))
	user := uuid.New()
	data := []byte("sixteen bytes!!!")
	fresh := func(t *testing.T, size bool) uploadURL {
		body := map[string]any{"filename": "a.jpg", "content_type": "image/jpeg"}
		if size {
			body["size"] = len(data)
		}
		return h.uploadURL(t, user, body)
	}
	refused := func(t *testing.T, status int, body, key string) {
		t.Helper()
		if status != http.StatusForbidden {
			t.Fatalf("S3 answered %d, want 403: %s", status, body)
		}
		if key != "" && h.exists(t, key) {
			t.Fatalf("%s was stored by a refused request", key)
		}
	}

	t.Run("wrong_content_type_403", func(t *testing.T) {
		u := fresh(t, false)
		status, body := put(t, u.UploadURL, "text/html", data)
		refused(t, status, body, u.FileKey)
	})
	t.Run("no_content_type_403", func(t *testing.T) {
		u := fresh(t, false)
		status, body := put(t, u.UploadURL, "", data)
		refused(t, status, body, u.FileKey)
	})
	t.Run("tampered_signature_403", func(t *testing.T) {
		u := fresh(t, false)
		parsed, err := url.Parse(u.UploadURL)
		if err != nil {
			t.Fatal(err)
		}
		q := parsed.Query()
		sig := []byte(q.Get("X-Amz-Signature"))
		if sig[0] == '0' {
			sig[0] = '1'
		} else {
			sig[0] = '0'
		}
		q.Set("X-Amz-Signature", string(sig))
		parsed.RawQuery = q.Encode()
		status, body := put(t, parsed.String(), "image/jpeg", data)
		refused(t, status, body, u.FileKey)
	})
	t.Run("tampered_key_403", func(t *testing.T) {
		// The signature of one's own key, used for someone else's prefix.
		u := fresh(t, false)
		victim := "users/" + uuid.NewString() + "/" + uuid.NewString() + ".jpg"
		tampered := strings.Replace(u.UploadURL, u.FileKey, victim, 1)
		status, body := put(t, tampered, "image/jpeg", data)
		refused(t, status, body, victim)
	})
	t.Run("longer_body_than_declared_403", func(t *testing.T) {
		u := fresh(t, true)
		status, body := put(t, u.UploadURL, "image/jpeg", append(data, '!'))
		refused(t, status, body, u.FileKey)
	})
	t.Run("shorter_body_than_declared_403", func(t *testing.T) {
		u := fresh(t, true)
		status, body := put(t, u.UploadURL, "image/jpeg", data[:len(data)-1])
		refused(t, status, body, u.FileKey)
	})
	t.Run("declared_length_200", func(t *testing.T) {
		u := fresh(t, true)
		if status, body := put(t, u.UploadURL, "image/jpeg", data); status != http.StatusOK {
			t.Fatalf("PUT = %d: %s", status, body)
		}
	})
	t.Run("download_url_for_another_key_403", func(t *testing.T) {
		key := h.upload(t, user, "a.jpg", data)
		other := h.upload(t, uuid.New(), "b.jpg", data)
		d := h.downloadURL(t, user, key)
		status, body := get(t, strings.Replace(d.DownloadURL, key, other, 1))
		refused(t, status, body, "")
	})
	t.Run("upload_url_does_not_read_403", func(t *testing.T) {
		// A signature for PUT is no signature for GET.
		u := fresh(t, false)
		if status, body := put(t, u.UploadURL, "image/jpeg", data); status != http.StatusOK {
			t.Fatalf("PUT = %d: %s", status, body)
		}
		status, body := get(t, u.UploadURL)
		refused(t, status, body, "")
	})
}

// URLs are signed for the address clients reach (S3_PUBLIC_ENDPOINT), which the host is
// part of, and signing them makes no request: here the public name does not even resolve.
func TestPresignedURLs_signedForThePublicEndpoint(t *testing.T) {
	vars := env(t)
	const public = "files-s3.example.invalid:8443"
	vars["S3_PUBLIC_ENDPOINT"] = "http://" + public
	h := newHarness(t, vars)
	u := h.uploadURL(t, uuid.New(), map[string]any{"filename": "a.jpg", "content_type": "image/jpeg"})
	if !strings.HasPrefix(u.UploadURL, "http://"+public+"/") {
		t.Fatalf("upload_url %q, want it on the public endpoint", u.UploadURL)
	}
	// Delivered to the S3 server as if through the public name (a load balancer, an
	// ingress), the signature holds; under the internal name it does not.
	direct := strings.Replace(u.UploadURL, public, h.cfg.S3Endpoint, 1)
	for host, want := range map[string]int{h.cfg.S3Endpoint: http.StatusForbidden, public: http.StatusOK} {
		req, err := http.NewRequest(http.MethodPut, direct, strings.NewReader("jpeg"))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		req.Header.Set("Content-Type", "image/jpeg")
		if status, body := send(t, req); status != want {
			t.Errorf("PUT with Host %s = %d, want %d: %s", host, status, want, body)
		}
	}
}

// With one-second URLs, both kinds stop working once their time is up. The test polls
// until the server refuses, so it asserts that expiry happens, not when.
func TestPresignedURLs_expire(t *testing.T) {
	vars := env(t)
	vars["UPLOAD_URL_TTL"] = "1s"
	vars["DOWNLOAD_URL_TTL"] = "1s"
	h := newHarness(t, vars)
	user := uuid.New()
	data := []byte("expiring")

	u := h.uploadURL(t, user, map[string]any{"filename": "a.jpg", "content_type": "image/jpeg"})
	if u.ExpiresInSeconds != 1 {
		t.Fatalf("expires_in_seconds = %d, want 1", u.ExpiresInSeconds)
	}
	status, body := untilRefused(t, func() (int, string) { return put(t, u.UploadURL, "image/jpeg", data) })
	if status != http.StatusForbidden || !strings.Contains(body, "expired") {
		t.Fatalf("expired upload URL: %d %s", status, body)
	}

	key := h.upload(t, user, "b.jpg", data)
	d := h.downloadURL(t, uuid.New(), key)
	status, body = untilRefused(t, func() (int, string) { return get(t, d.DownloadURL) })
	if status != http.StatusForbidden || !strings.Contains(body, "expired") {
		t.Fatalf("expired download URL: %d %s", status, body)
	}
	rec := h.do(t, call{method: "GET", path: "/api/files/" + key, as: user})
	if cc := rec.Header().Get("Cache-Control"); cc != "private, max-age=0" {
		t.Errorf("Cache-Control for a 1s URL = %q, want max-age=0", cc)
	}
}

// untilRefused repeats a request while the server accepts it, up to a deadline, and
// returns the first refusal.
func untilRefused(t *testing.T, send func() (int, string)) (int, string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body := send()
		if status != http.StatusOK {
			return status, body
		}
		if time.Now().After(deadline) {
			t.Fatal("the URL still works long after its expiry")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// When the store goes away, readiness fails and requests that need it answer 503
// promptly; when it is back, so is the service.
func TestS3Outage_503(t *testing.T) {
	vars := env(t)
	p := newProxy(t, vars["S3_ENDPOINT"])
	vars["S3_ENDPOINT"] = p.addr()
	vars["S3_TIMEOUT"] = "1s"
	h := newHarness(t, vars)
	user := uuid.New()
	key := h.upload(t, user, "a.jpg", []byte("x"))

	ready := func() int { return h.do(t, call{method: "GET", path: "/readyz"}).Code }
	if got := ready(); got != http.StatusOK {
		t.Fatalf("/readyz = %d with S3 up", got)
	}
	p.stop()
	for _, c := range []call{
		downloadReq(user, key),
		{method: "GET", path: "/api/files/" + key, as: user},
		{method: "DELETE", path: "/api/files/" + key, as: user},
		{method: "GET", path: "/internal/files/" + key},
	} {
		rec := h.do(t, c)
		mustStatus(t, rec, http.StatusServiceUnavailable)
		var eb errorBody
		decode(t, rec, &eb)
		if eb.Error.Code != "unavailable" || strings.Contains(rec.Body.String(), p.addr()) {
			t.Errorf("%s %s: body %s", c.method, c.path, rec.Body)
		}
	}
	if got := ready(); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d with S3 down, want 503", got)
	}
	// Signing needs no round trip: uploads can still be handed out, and fail at S3.
	rec := h.do(t, uploadReq(user, map[string]any{"filename": "b.jpg", "content_type": "image/jpeg"}))
	mustStatus(t, rec, http.StatusOK)

	p.start(t)
	eventually(t, "readiness after S3 returned", func() bool { return ready() == http.StatusOK })
	h.downloadURL(t, user, key)
}

// proxy forwards TCP connections to an S3 server and can cut them all, as an outage
// would, and come back on the same address.
type proxy struct {
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
	laddr  string
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{target: target}
	p.start(t)
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) addr() string { return p.laddr }

func (p *proxy) start(t *testing.T) {
	t.Helper()
	addr := p.laddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.laddr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *proxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestBucketCORS: with S3_CORS_ORIGINS the service sets the bucket's CORS at start, so a
// web page on one of those origins may PUT the presigned upload (its preflight is
// answered); without it the bucket's CORS is left alone.
func TestBucketCORS(t *testing.T) {
	vars := env(t)
	vars["S3_CORS_ORIGINS"] = "https://app.example.com, http://localhost:5173/"
	h := newHarness(t, vars)
	got, err := h.s3.GetBucketCors(t.Context(), h.cfg.S3Bucket)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.CORSRules) != 1 || strings.Join(got.CORSRules[0].AllowedOrigin, " ") != "https://app.example.com http://localhost:5173" {
		t.Fatalf("bucket CORS = %+v", got.CORSRules)
	}

	plain := newHarness(t, env(t))
	if c, err := plain.s3.GetBucketCors(t.Context(), plain.cfg.S3Bucket); err == nil && c != nil && len(c.CORSRules) > 0 {
		t.Errorf("a bucket got CORS without S3_CORS_ORIGINS: %+v", c.CORSRules)
	}
}
