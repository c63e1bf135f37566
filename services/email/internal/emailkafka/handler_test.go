package emailkafka_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"instant/platform/database"
	"instant/platform/events"
	"instant/services/email/internal/mail"
	"instant/services/email/internal/smtptest"
)

// These tests call Handle directly, as the consumer does, against a real SMTP server and
// a real SQLite store: they pin down what is retried, what is dead-lettered and what is
// sent. consumer_test.go runs the same handler under a Kafka consumer group.

func TestHandleSendsOnceAndSkipsRedelivery(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := envelope(t, "alice@example.com", mail.TemplateLoginCode, "123456")

	if err := f.handler.Handle(ctx, record(t, e)); err != nil {
		t.Fatalf("first Handle: %v", err)
	}
	// The same record again: a redelivery after a crash between send and commit.
	if err := f.handler.Handle(ctx, record(t, e)); err != nil {
		t.Fatalf("second Handle: %v", err)
	}
	msgs := f.smtp.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server has %d messages, want 1", len(msgs))
	}
	if m := msgs[0]; m.To[0] != "alice@example.com" || !strings.Contains(m.Text, "123456") || !strings.Contains(m.HTML, "123456") {
		t.Errorf("message to %v, text %q, html %q", m.To, m.Text, m.HTML)
	}
	if ok, err := f.store.Delivered(ctx, e.ID); err != nil || !ok {
		t.Errorf("Delivered = %v, %v; want the delivery recorded", ok, err)
	}
	if got := metric(t, f.reg, "emails_sent_total", map[string]string{"template": "login_code"}); got != 1 {
		t.Errorf("emails_sent_total{login_code} = %v, want 1", got)
	}
	if got := metric(t, f.reg, "emails_duplicates_total", nil); got != 1 {
		t.Errorf("emails_duplicates_total = %v, want 1", got)
	}
}

func TestHandleFailures(t *testing.T) {
	valid := func(t *testing.T) events.Envelope {
		return envelope(t, "alice@example.com", mail.TemplateLoginCode, "123456")
	}
	withData := func(t *testing.T, data string) events.Envelope {
		e := valid(t)
		e.Data = json.RawMessage(data)
		return e
	}
	tests := []struct {
		name      string
		value     func(t *testing.T) []byte
		setup     func(*fixture)
		permanent bool
		labels    map[string]string // emails_failed_total series that must count 1
	}{
		{
			name:      "not_json_dead_letter",
			value:     func(*testing.T) []byte { return []byte("{not json") },
			permanent: true, labels: map[string]string{"template": "unknown", "reason": "malformed"},
		},
		{
			name: "wrong_event_type_dead_letter",
			value: func(t *testing.T) []byte {
				e := valid(t)
				e.Type = "user.created"
				return record(t, e).Value
			},
			permanent: true, labels: map[string]string{"template": "unknown", "reason": "malformed"},
		},
		{
			name:      "data_not_an_object_dead_letter",
			value:     func(t *testing.T) []byte { return record(t, withData(t, `"hello"`)).Value },
			permanent: true, labels: map[string]string{"template": "unknown", "reason": "malformed"},
		},
		{
			name: "params_of_the_wrong_type_dead_letter",
			value: func(t *testing.T) []byte {
				return record(t, withData(t, `{"to":"a@example.com","template":"login_code","params":{"code":123456}}`)).Value
			},
			permanent: true, labels: map[string]string{"template": "unknown", "reason": "malformed"},
		},
		{
			name: "unknown_template_dead_letter",
			value: func(t *testing.T) []byte {
				return record(t, envelope(t, "alice@example.com", "password_reset", "123456")).Value
			},
			permanent: true, labels: map[string]string{"template": "unknown", "reason": "unknown_template"},
		},
		{
			name: "no_code_dead_letter",
			value: func(t *testing.T) []byte {
				return record(t, envelope(t, "alice@example.com", mail.TemplateDeleteCode, "")).Value
			},
			permanent: true, labels: map[string]string{"template": "delete_code", "reason": "invalid"},
		},
		{
			name:      "mailbox_unavailable_550_dead_letter",
			value:     func(t *testing.T) []byte { return record(t, valid(t)).Value },
			setup:     func(f *fixture) { f.smtp.Reject("alice@example.com", smtptest.MailboxUnavailable()) },
			permanent: true, labels: map[string]string{"template": "login_code", "reason": "rejected"},
		},
		{
			name:   "try_later_451_retry",
			value:  func(t *testing.T) []byte { return record(t, valid(t)).Value },
			setup:  func(f *fixture) { f.smtp.FailNext(1, smtptest.Temporary()) },
			labels: map[string]string{"template": "login_code", "reason": "unavailable"},
		},
		{
			name:   "database_down_retry",
			value:  func(t *testing.T) []byte { return record(t, valid(t)).Value },
			setup:  func(f *fixture) { database.Close(f.db) },
			labels: map[string]string{"template": "login_code", "reason": "database"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			value := tc.value(t)
			err := f.handler.Handle(context.Background(), rawRecord(value))
			if err == nil {
				t.Fatal("Handle succeeded")
			}
			if got := events.IsPermanent(err); got != tc.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, got, tc.permanent)
			}
			// The error goes to logs and DLQ headers: no address, no code.
			if s := err.Error(); strings.Contains(s, "alice@example.com") || strings.Contains(s, "123456") {
				t.Errorf("error %q shows the address or the code", s)
			}
			if got := metric(t, f.reg, "emails_failed_total", tc.labels); got != 1 {
				t.Errorf("emails_failed_total%v = %v, want 1", tc.labels, got)
			}
			if n := len(f.smtp.Messages()); n != 0 {
				t.Errorf("server accepted %d messages", n)
			}
		})
	}
}

func TestHandleRetryAfterTemporaryFailureSends(t *testing.T) {
	f := newFixture(t)
	f.smtp.FailNext(1, smtptest.Temporary())
	rec := record(t, envelope(t, "alice@example.com", mail.TemplateEmailChangeCode, "777777"))
	if err := f.handler.Handle(context.Background(), rec); err == nil || events.IsPermanent(err) {
		t.Fatalf("first Handle = %v, want a transient error", err)
	}
	if err := f.handler.Handle(context.Background(), rec); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if n := len(f.smtp.Messages()); n != 1 {
		t.Fatalf("server has %d messages, want 1", n)
	}
}
