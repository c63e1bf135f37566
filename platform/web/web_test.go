package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"instant/platform/logging"
	"instant/platform/metrics"
)

var errGone = errors.New("thing: gone")

func TestDecode(t *testing.T) {
	type in struct {
		Email string `json:"email"`
		N     int    `json:"n"`
	}
	tests := []struct {
		name       string
		ct         string
		body       string
		wantStatus int
		wantCode   string
	}{
		{"ok_200", "application/json; charset=utf-8", `{"email":"a@b.c","n":1}`, 200, ""},
		{"no_content_type_415", "", `{}`, 415, "unsupported_media_type"},
		{"form_415", "application/x-www-form-urlencoded", `a=b`, 415, "unsupported_media_type"},
		{"too_large_413", "application/json", `{"email":"` + strings.Repeat("x", 200) + `"}`, 413, "body_too_large"},
		{"unknown_field_400", "application/json", `{"email":"a","admin":true}`, 400, "unknown_field"},
		{"wrong_type_400", "application/json", `{"n":"one"}`, 400, "validation_failed"},
		{"malformed_400", "application/json", `{"email":`, 400, "invalid_json"},
		{"empty_400", "application/json", ``, 400, "empty_body"},
		{"trailing_400", "application/json", `{} {}`, 400, "invalid_json"},
		{"array_400", "application/json", `[1]`, 400, "invalid_json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			if tt.ct != "" {
				req.Header.Set("Content-Type", tt.ct)
			}
			var v in
			err := Decode(rec, req, &v, 100)
			if tt.wantStatus == 200 {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != tt.wantStatus || e.Code != tt.wantCode {
				t.Fatalf("err = %#v, want %d %s", err, tt.wantStatus, tt.wantCode)
			}
		})
	}
}

func TestResponderMapsErrorsAndHidesCauses(t *testing.T) {
	var logs bytes.Buffer
	rs := Responder{Log: logging.New(&logs, "info", "test"), Errors: ErrorMap{{Target: errGone, Status: 404, Code: "not_found", Message: "thing not found"}}}
	tests := []struct {
		name string
		err  error
		want int
		code string
		msg  string
	}{
		{"mapped_404", errors.Join(errors.New("lookup"), errGone), 404, "not_found", "thing not found"},
		{"web_error_409", Conflict("taken", "name taken"), 409, "taken", "name taken"},
		{"unknown_500", errors.New(`pq: relation "users" SELECT secret`), 500, "internal", "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			rs.Error(rec, httptest.NewRequest("GET", "/", nil), tt.err)
			var body Body
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tt.want || body.Error.Code != tt.code || body.Error.Message != tt.msg || body.Success {
				t.Fatalf("got %d %+v", rec.Code, body)
			}
			if strings.Contains(rec.Body.String(), "SELECT") {
				t.Fatal("SQL leaked into a response")
			}
		})
	}
	if !strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Fatal("5xx not logged at error level")
	}
}

func TestInstrument(t *testing.T) {
	var logs bytes.Buffer
	log := logging.New(&logs, "info", "test")
	reg := metrics.NewRegistry()
	h := NewHealth()
	failing := errors.New("down")
	var healthy = true
	h.Add("db", func(context.Context) error {
		if healthy {
			return nil
		}
		return failing
	})
	r := NewRouter(log, metrics.NewHTTP(reg), h)
	r.Get("/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		log.InfoContext(r.Context(), "inside")
		WriteJSON(w, 200, map[string]string{"ok": "yes"})
	})
	r.Get("/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	srv := httptest.NewServer(r)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/things/42")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	rid := resp.Header.Get("X-Request-ID")
	if rid == "" || resp.Header.Get("traceparent") == "" {
		t.Fatal("request id or traceparent missing on the response")
	}
	// Both the handler's line and the access line carry the request id; the access line
	// names the route pattern, not the raw path.
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	var withID int
	for _, l := range lines {
		var m map[string]any
		_ = json.Unmarshal([]byte(l), &m)
		if m["request_id"] == rid {
			withID++
		}
		if m["msg"] == "request" && m["route"] != "/things/{id}" {
			t.Fatalf("access line route = %v", m["route"])
		}
	}
	if withID != 2 {
		t.Fatalf("%d log lines carry the request id, want 2:\n%s", withID, logs.String())
	}

	resp, _ = http.Get(srv.URL + "/panic")
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Fatalf("panic answered %d", resp.StatusCode)
	}
	for _, tc := range []struct {
		healthy bool
		want    int
	}{{true, 200}, {false, 503}} {
		healthy = tc.healthy
		resp, _ = http.Get(srv.URL + "/readyz")
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("readyz healthy=%v: %d", tc.healthy, resp.StatusCode)
		}
	}
	healthy = true
	h.Drain()
	resp, _ = http.Get(srv.URL + "/readyz")
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatal("readyz still 200 while draining")
	}

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for _, mf := range mfs {
		if mf.GetName() != "http_requests_total" {
			continue
		}
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if l.GetName() == "route" {
					routes = append(routes, l.GetValue())
				}
			}
		}
	}
	for _, r := range routes {
		if strings.Contains(r, "42") {
			t.Fatalf("raw path used as a metric label: %v", routes)
		}
	}
}

func TestTraceparent(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},
		{"garbage", false},
	}
	for _, tt := range tests {
		_, ok := ParseTraceparent(tt.in)
		if ok != tt.ok {
			t.Errorf("%q: ok = %v", tt.in, ok)
		}
	}
	tr := NewTrace()
	back, ok := ParseTraceparent(tr.Header())
	if !ok || !cmp.Equal(back, tr) {
		t.Fatalf("round trip %v -> %v", tr, back)
	}
}

func BenchmarkInstrument(b *testing.B) {
	r := NewRouter(logging.Discard(), metrics.NewHTTP(metrics.NewRegistry()), NewHealth())
	r.Get("/x/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) })
	req := httptest.NewRequest("GET", "/x/1", nil)
	b.ReportAllocs()
	for b.Loop() {
		r.ServeHTTP(httptest.NewRecorder(), req)
	}
}

// TestWriteJSONSendsALength checks that answers carry a Content-Length (so a proxy in
// front forwards them in one piece, not chunk by chunk) and that a value JSON cannot
// encode becomes the 500 envelope, not a truncated 200.
func TestWriteJSONSendsALength(t *testing.T) {
	big := map[string]string{"caption": strings.Repeat("x", 10_000)}
	rec := httptest.NewRecorder()
	WriteJSON(rec, http.StatusCreated, big)
	if rec.Code != http.StatusCreated || rec.Header().Get("Content-Length") != strconv.Itoa(rec.Body.Len()) {
		t.Errorf("status %d, Content-Length %q for a %d-byte body", rec.Code, rec.Header().Get("Content-Length"), rec.Body.Len())
	}
	var back map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &back); err != nil || back["caption"] != big["caption"] {
		t.Errorf("body does not decode back: %v", err)
	}

	rec = httptest.NewRecorder()
	WriteJSON(rec, http.StatusOK, map[string]float64{"ratio": math.Inf(1)})
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), `"code":"internal"`) ||
		rec.Header().Get("Content-Length") != strconv.Itoa(rec.Body.Len()) {
		t.Errorf("unencodable value: status %d, body %q", rec.Code, rec.Body.String())
	}
}

func TestTimestampMatchesMarshalJSON(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 29, 12, 0, 0, 123456789, time.FixedZone("x", 3600)),
		time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.UTC),
	} {
		want, err := json.Marshal(tm.UTC())
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(Timestamp(tm))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("Timestamp(%v) encodes as %s, time.Time as %s", tm, got, want)
		}
	}
}
