package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// tWriter sends log output to the test's log, so it shows only for a failing test.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// startTestSink runs an inbox with its SMTP sink on a free port.
func startTestSink(t *testing.T, logPath string) (*Inbox, string) {
	t.Helper()
	inbox, err := newInbox(defaultInboxCapacity, logPath, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	sink, err := startMailSink("127.0.0.1:0", inbox, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sink.close(); err != nil {
			t.Error(err)
		}
		if err := inbox.close(); err != nil {
			t.Error(err)
		}
	})
	return inbox, sink.addr
}

const signInMail = "From: instant <no-reply@instant.local>\r\n" +
	"To: Alice <Alice@Example.com>\r\n" +
	"Subject: =?utf-8?q?Your_sign-in_code_=E2=80=94_instant?=\r\n" +
	"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=b1\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Your code is 482913. It expires in 10 minutes =E2=80=94 do not share it.\r\n" +
	"--b1\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"PHA+WW91ciBjb2RlIGlzIDxiPjQ4MjkxMzwvYj48L3A+\r\n" +
	"--b1--\r\n"

func TestSink_receivesAndWaitForReturns(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), mailLogFile)
	inbox, addr := startTestSink(t, logPath)
	printed := make(chan string, 10)
	inbox.onNew = func(m Message) { printed <- summary(m) }

	before := time.Now()
	if err := smtp.SendMail(addr, nil, "no-reply@instant.local", []string{"alice@example.com"}, []byte(signInMail)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := inbox.WaitFor(ctx, "ALICE@example.com", before)
	if err != nil {
		t.Fatal(err)
	}
	want := Message{
		ID:           1,
		EnvelopeFrom: "no-reply@instant.local",
		EnvelopeTo:   []string{"alice@example.com"},
		From:         "instant <no-reply@instant.local>",
		To:           []string{"Alice@Example.com"},
		Subject:      "Your sign-in code — instant",
		Date:         time.Date(2006, 1, 2, 15, 4, 5, 0, time.FixedZone("", 0)),
		Text:         "Your code is 482913. It expires in 10 minutes — do not share it.",
		HTML:         "<p>Your code is <b>482913</b></p>",
		Code:         "482913",
	}
	opts := cmp.Options{
		cmpopts.IgnoreFields(Message{}, "ReceivedAt"),
		cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
		cmp.Transformer("trim", strings.TrimSpace),
	}
	if diff := cmp.Diff(want, got, opts); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
	if got.ReceivedAt.Before(before) {
		t.Errorf("ReceivedAt %v before the send started (%v)", got.ReceivedAt, before)
	}
	if line := <-printed; line != `to=alice@example.com subject="Your sign-in code — instant" code=482913` {
		t.Errorf("terminal line = %q", line)
	}

	// The mail log holds the message, and a new inbox on the same log shows it again.
	b, err := os.ReadFile(logPath)
	if err != nil || !strings.Contains(string(b), `"code":"482913"`) {
		t.Fatalf("mail log = %q, %v", b, err)
	}
	again, err := newInbox(defaultInboxCapacity, logPath, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer again.close()
	if m, ok := again.Latest("alice@example.com"); !ok || m.Code != "482913" || m.ID != 1 {
		t.Errorf("reloaded Latest = %+v, %v", m, ok)
	}
	if next := again.add(Message{ReceivedAt: time.Now()}); next.ID != 2 {
		t.Errorf("ID after reload = %d, want 2 (IDs continue)", next.ID)
	}
}

func TestWaitFor_waitsForLaterMessage(t *testing.T) {
	inbox, addr := startTestSink(t, "")
	old := "To: bob@example.com\r\nSubject: code 111111\r\n\r\nold\r\n"
	if err := smtp.SendMail(addr, nil, "a@instant.local", []string{"bob@example.com"}, []byte(old)); err != nil {
		t.Fatal(err)
	}
	if _, ok := inbox.Latest("bob@example.com"); !ok {
		t.Fatal("first message not stored")
	}

	after := time.Now()
	type result struct {
		m   Message
		err error
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		m, err := inbox.WaitFor(ctx, "bob@example.com", after)
		done <- result{m, err}
	}()
	// Another recipient's mail does not end the wait; bob's new one does.
	for _, rcpt := range []string{"carol@example.com", "bob@example.com"} {
		msg := fmt.Sprintf("To: %s\r\nSubject: code 222222\r\n\r\nnew\r\n", rcpt)
		if err := smtp.SendMail(addr, nil, "a@instant.local", []string{rcpt}, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	r := <-done
	if r.err != nil || r.m.Code != "222222" || r.m.EnvelopeTo[0] != "bob@example.com" {
		t.Errorf("WaitFor = %+v, %v; want bob's code 222222", r.m, r.err)
	}
}

func TestWaitFor_contextEnds(t *testing.T) {
	inbox, err := newInbox(10, "", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := inbox.WaitFor(ctx, "nobody@example.com", time.Time{}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestInbox_capacity(t *testing.T) {
	inbox, err := newInbox(3, "", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		inbox.add(Message{Subject: fmt.Sprint(i)})
	}
	var subjects []string
	for _, m := range inbox.Messages() {
		subjects = append(subjects, m.Subject)
	}
	if diff := cmp.Diff([]string{"2", "3", "4"}, subjects); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
}

func TestParseMessage(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want Message
	}{
		{
			name: "plain_no_content_type",
			raw:  "From: a@x\r\nTo: b@x, c@x\r\nSubject: hi\r\n\r\nbody 123456\r\n",
			want: Message{From: "a@x", To: []string{"b@x", "c@x"}, Subject: "hi", Text: "body 123456\r\n", Code: "123456"},
		},
		{
			name: "html_only_style_colour_is_no_code",
			raw: "To: b@x\r\nSubject: welcome\r\nContent-Type: text/html\r\n\r\n" +
				"<style>p { color: #123456 }</style><p style=\"color:#654321\">Code: <b>987654</b></p>",
			want: Message{To: []string{"b@x"}, Subject: "welcome", HTML: "<style>p { color: #123456 }</style><p style=\"color:#654321\">Code: <b>987654</b></p>", Code: "987654"},
		},
		{
			name: "longer_numbers_are_no_code",
			raw:  "To: b@x\r\nSubject: order 1234567\r\n\r\nref 12345\r\n",
			want: Message{To: []string{"b@x"}, Subject: "order 1234567", Text: "ref 12345\r\n"},
		},
		{
			name: "nested_multipart",
			raw: "To: b@x\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n" +
				"--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n" +
				"--inner\r\nContent-Type: text/plain\r\n\r\ncode 246810\r\n--inner--\r\n" +
				"--outer--\r\n",
			want: Message{To: []string{"b@x"}, Text: "code 246810", Code: "246810"},
		},
		{
			name: "unparseable_kept_raw",
			raw:  "not a mail at all",
			want: Message{Text: "not a mail at all"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseMessage([]byte(tt.raw))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWebInbox(t *testing.T) {
	inbox, err := newInbox(10, "", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	inbox.add(Message{ReceivedAt: now, EnvelopeTo: []string{"alice@example.com"}, Subject: "first", Code: "111111"})
	inbox.add(Message{ReceivedAt: now, EnvelopeTo: []string{"bob@example.com"}, Subject: "<script>alert(1)</script>", Code: "222222"})
	inbox.add(Message{ReceivedAt: now, EnvelopeTo: []string{"alice@example.com"}, Subject: "second", Code: "333333"})

	base := serveWebInbox(t, inbox)
	get := func(path string) (int, string, []byte) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header.Get("Content-Type"), b
	}

	t.Run("list_200_newest_first_filtered", func(t *testing.T) {
		status, ctype, body := get("/api/messages?to=Alice@Example.com")
		if status != 200 || !strings.HasPrefix(ctype, "application/json") {
			t.Fatalf("status %d, content type %q", status, ctype)
		}
		var msgs []Message
		if err := json.Unmarshal(body, &msgs); err != nil {
			t.Fatal(err)
		}
		var subjects []string
		for _, m := range msgs {
			subjects = append(subjects, m.Subject)
		}
		if diff := cmp.Diff([]string{"second", "first"}, subjects); diff != "" {
			t.Errorf("subjects (-want +got):\n%s", diff)
		}
	})
	t.Run("list_200_empty_is_array", func(t *testing.T) {
		status, _, body := get("/api/messages?to=nobody@example.com")
		if status != 200 || strings.TrimSpace(string(body)) != "[]" {
			t.Errorf("status %d, body %s", status, body)
		}
	})
	t.Run("latest_200", func(t *testing.T) {
		status, _, body := get("/api/messages/latest?to=alice@example.com")
		var m Message
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		if status != 200 || m.Code != "333333" {
			t.Errorf("status %d, message %+v", status, m)
		}
	})
	t.Run("latest_404", func(t *testing.T) {
		status, _, body := get("/api/messages/latest?to=nobody@example.com")
		var e errorBody
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatal(err)
		}
		if status != 404 || e.Error.Code != "not_found" {
			t.Errorf("status %d, body %s", status, body)
		}
	})
	t.Run("page_200_escaped", func(t *testing.T) {
		status, ctype, body := get("/")
		page := string(body)
		if status != 200 || !strings.HasPrefix(ctype, "text/html") {
			t.Fatalf("status %d, content type %q", status, ctype)
		}
		if strings.Contains(page, "<script>alert(1)") || !strings.Contains(page, "&lt;script&gt;") {
			t.Error("subject not escaped")
		}
		if i, j := strings.Index(page, "333333"), strings.Index(page, "111111"); i < 0 || j < 0 || i > j {
			t.Error("page not newest first")
		}
	})
	t.Run("unknown_404", func(t *testing.T) {
		if status, _, _ := get("/nope"); status != 404 {
			t.Errorf("status %d", status)
		}
	})
}

func listenLocal() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// serveWebInbox runs the web inbox on a free port, over real TCP.
func serveWebInbox(t *testing.T, inbox *Inbox) string {
	t.Helper()
	srv := newWebInbox(inbox, testLogger(t))
	ln, err := listenLocal()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	})
	return "http://" + ln.Addr().String()
}
