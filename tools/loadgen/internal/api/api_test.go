package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStorageConnectTo checks that an upload keeps the presigned URL (its host is part of
// the signature) while connecting where it is told: the URL names a host that does not
// resolve, the store answers on loopback.
func TestStorageConnectTo(t *testing.T) {
	const signedHost = "storage.invalid:9000"
	var gotHost, gotPath string
	var gotBody []byte
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost, gotPath = r.Host, r.URL.RequestURI()
		gotBody, _ = io.ReadAll(r.Body)
	}))
	defer store.Close()
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/files/upload-url" || r.Header.Get("Authorization") != "Bearer s1" {
			http.Error(w, "unexpected "+r.URL.Path, http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{
			"upload_url": "http://" + signedHost + "/media/users/u1/k.jpg?X-Amz-Signature=abc",
			"file_key":   "users/u1/k.jpg",
		})
	}))
	defer gateway.Close()

	for _, tc := range []struct {
		name      string
		connectTo string
		wantErr   bool
	}{
		{"connect_to_the_store", strings.TrimPrefix(store.URL, "http://"), false},
		{"without_it_the_host_does_not_resolve", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gotHost, gotPath, gotBody = "", "", nil
			c, err := New(Options{Base: gateway.URL, Inbox: gateway.URL, Conns: 1, StorageConnectTo: tc.connectTo})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			key, err := c.Upload(t.Context(), nil, Session{SessionID: "s1"}, []byte("jpeg"))
			if tc.wantErr {
				if err == nil {
					t.Fatal("upload to an unresolvable host succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if key != "users/u1/k.jpg" || gotHost != signedHost || gotPath != "/media/users/u1/k.jpg?X-Amz-Signature=abc" || string(gotBody) != "jpeg" {
				t.Errorf("key %q; the store saw host %q, path %q, body %q", key, gotHost, gotPath, gotBody)
			}
		})
	}
}

// TestMailpitCode reads codes the way Mailpit's search API presents messages: newest
// first, the code in the subject or else in the snippet, an older message ignored, and
// a code never handed out twice.
func TestMailpitCode(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex // the handler may still run when a cancelled read returns
	var messages []map[string]any
	var gotQuery string
	set := func(m []map[string]any) { mu.Lock(); messages = m; mu.Unlock() }
	inbox := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/search" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		gotQuery = r.URL.Query().Get("query")
		json.NewEncoder(w).Encode(map[string]any{"total": len(messages), "messages": messages})
	}))
	defer inbox.Close()
	c, err := New(Options{Base: inbox.URL, Inbox: inbox.URL, InboxAPI: InboxMailpit, Conns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	set([]map[string]any{{"Subject": "123456 is your instant sign-in code", "Created": now}})
	code, err := c.readCode(t.Context(), "a+b@example.com", now)
	if err != nil || code != "123456" {
		t.Fatalf("readCode = %q, %v", code, err)
	}
	mu.Lock()
	q := gotQuery
	mu.Unlock()
	if q != `to:"a+b@example.com"` {
		t.Errorf("query %q", q)
	}

	set([]map[string]any{{"Subject": "Your code", "Snippet": "Use 654321 to sign in.", "Created": now}})
	if code, err := c.readCode(t.Context(), "a+b@example.com", now); err != nil || code != "654321" {
		t.Errorf("snippet: readCode = %q, %v", code, err)
	}

	// The same message again, or one from before the request (beyond the clock slack):
	// no code, until the context gives up.
	for name, msgs := range map[string][]map[string]any{
		"already_used": {{"Subject": "654321 is your instant sign-in code", "Created": now}},
		"too_old":      {{"Subject": "111111 is your instant sign-in code", "Created": now.Add(-time.Minute)}},
	} {
		set(msgs)
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		code, err := c.readCode(ctx, "a+b@example.com", now)
		cancel()
		if err == nil {
			t.Errorf("%s: readCode = %q, want no code", name, code)
		}
	}
}
