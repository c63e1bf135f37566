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

	"instant/platform/session"
	"instant/platform/testenv"
)

// TestRun starts the service as main does, on the embedded stores, and signs up over
// TCP: what ships is what is tested.
func TestRun(t *testing.T) {
	brokers := testenv.Kafka(t, emailTopic, eventsTopic)
	vars := env(testenv.SQLite(t), miniRedis(t), brokers)
	vars["HTTP_ADDR"] = "127.0.0.1:0"
	vars["INTERNAL_ADDR"] = "127.0.0.1:0"
	vars["COOKIE_SECURE"] = "false" // as the one-machine stack runs it
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

	email := newEmail()
	resp, err := http.Post(public+"/auth/request-code", "application/json", strings.NewReader(`{"email":"`+email+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("request-code = %d", resp.StatusCode)
	}
	h := &harness{mail: newTopicReader(t, brokers, emailTopic)}
	code := h.mailed(t, email, "login_code").Params["code"]
	body := `{"email":"` + email + `","code":"` + code + `","username":"` + testenv.Name("u") + `"}`
	resp, err = http.Post(public+"/auth/verify-code", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("verify-code = %d", resp.StatusCode)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == session.CookieName {
			cookie = c
		}
	}
	if cookie == nil || cookie.Secure || !cookie.HttpOnly {
		t.Fatalf("session cookie with COOKIE_SECURE=false: %v", resp.Header["Set-Cookie"])
	}

	metrics, err := io.ReadAll(get(internal + "/metrics").Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{`codes_requested_total{purpose="login"} 1`, `signups_total 1`, `http_requests_total{method="POST",route="/auth/verify-code",status="200"} 1`} {
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

// TestRunSignsInToKafka: with the KAFKA_SASL_* variables the chart sets when Kafka
// authentication is on, auth signs in to a broker that requires SCRAM-SHA-512: it is
// ready (the readiness ping uses the same settings) and a sign-in code request, which
// answers 200 only once Kafka took the email (acks=all), succeeds. With a wrong password
// it is unready and the request answers 503.
func TestRunSignsInToKafka(t *testing.T) {
	const user, password = "instant-auth", "scram-password-for-auth"
	brokers := testenv.KafkaSASL(t, user, password, emailTopic, eventsTopic)
	for _, tt := range []struct {
		name     string
		password string
		want     int
	}{
		{"right_password_200", password, http.StatusOK},
		{"wrong_password_503", "not-" + password, http.StatusServiceUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			vars := env(testenv.SQLite(t), miniRedis(t), brokers)
			vars["HTTP_ADDR"] = "127.0.0.1:0"
			vars["INTERNAL_ADDR"] = "127.0.0.1:0"
			vars["LOG_LEVEL"] = "info" // the "listening" line
			vars["KAFKA_SASL_MECHANISM"] = "SCRAM-SHA-512"
			vars["KAFKA_SASL_USERNAME"] = user
			vars["KAFKA_SASL_PASSWORD"] = tt.password

			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			out, logs := io.Pipe()
			go func() {
				done <- run(ctx, func(k string) string { return vars[k] }, logs)
				logs.Close()
			}()
			defer func() {
				cancel()
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("run returned %v after shutdown", err)
					}
				case <-time.After(30 * time.Second):
					t.Error("run did not return after its context ended")
				}
			}()
			public, _ := listening(t, out)

			resp, err := http.Get(public + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("/readyz = %d, want %d", resp.StatusCode, tt.want)
			}
			resp, err = http.Post(public+"/auth/request-code", "application/json", strings.NewReader(`{"email":"`+newEmail()+`"}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("request-code = %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}
