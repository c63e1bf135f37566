package emailkafka_test

import (
	"strings"
	"testing"

	"instant/platform/events"
	"instant/services/email/internal/mail"
	"instant/services/email/internal/smtptest"
)

// These tests run the handler under a real consumer group (group "email") on franz-go's
// in-process Kafka cluster, with a real SMTP server over TCP.

func TestConsumerDeliversOnceAndSuppressesRedelivery(t *testing.T) {
	k, f := newKafka(t), newFixture(t)
	k.consume(t, f, 5)

	e := envelope(t, "alice@example.com", mail.TemplateLoginCode, "424242")
	k.publish(t, e)
	msgs := f.smtp.WaitFor(t, 1, waitFor)
	m := msgs[0]
	if len(m.To) != 1 || m.To[0] != "alice@example.com" {
		t.Errorf("envelope recipients %v", m.To)
	}
	if !strings.Contains(m.Text, "424242") || !strings.Contains(m.HTML, "424242") {
		t.Errorf("code missing from a part: text %q, html %q", m.Text, m.HTML)
	}

	// The same envelope again, as a producer retry or a redelivery would bring it.
	k.publish(t, e)
	eventually(t, "the duplicate to be skipped", func() bool {
		return metric(t, f.reg, "emails_duplicates_total", nil) == 1
	})
	if n := len(f.smtp.Messages()); n != 1 {
		t.Fatalf("server has %d messages after the redelivery, want 1", n)
	}
}

func TestConsumerStoppedBeforeSendSucceededRedelivers(t *testing.T) {
	k, f := newKafka(t), newFixture(t)
	// The server keeps answering 451: the first consumer never gets the message out.
	f.smtp.FailNext(1_000_000, smtptest.Temporary())
	stop := k.consume(t, f, 1_000_000)
	k.publish(t, envelope(t, "bob@example.com", mail.TemplateDeleteCode, "135790"))
	unavailable := map[string]string{"template": "delete_code", "reason": "unavailable"}
	eventually(t, "the first consumer to retry", func() bool {
		return metric(t, f.reg, "emails_failed_total", unavailable) >= 2
	})
	// The process goes away (a crash, a deploy) before the server ever accepted the
	// message: its offset was not committed.
	stop()
	if n := len(f.smtp.Messages()); n != 0 {
		t.Fatalf("server has %d messages while refusing them", n)
	}

	// The server recovers and a new member of the group starts from the committed
	// offset: the request is delivered, once.
	f.smtp.ClearFailures()
	k.consume(t, f, 5)
	msgs := f.smtp.WaitFor(t, 1, waitFor)
	if !strings.Contains(msgs[0].Text, "135790") {
		t.Errorf("text %q lacks the code", msgs[0].Text)
	}
	eventually(t, "the sent counter", func() bool {
		return metric(t, f.reg, "emails_sent_total", map[string]string{"template": "delete_code"}) == 1
	})
	if n := len(f.smtp.Messages()); n != 1 {
		t.Fatalf("server has %d messages, want 1", n)
	}
}

func TestConsumerRetriesTemporaryFailure(t *testing.T) {
	k, f := newKafka(t), newFixture(t)
	f.smtp.FailNext(2, smtptest.Temporary())
	k.consume(t, f, 5)
	k.publish(t, envelope(t, "carol@example.com", mail.TemplateEmailChangeCode, "246810"))
	f.smtp.WaitFor(t, 1, waitFor)
	eventually(t, "the sent counter", func() bool {
		return metric(t, f.reg, "emails_sent_total", map[string]string{"template": "email_change_code"}) == 1
	})
	if got := metric(t, f.reg, "emails_failed_total", map[string]string{"template": "email_change_code", "reason": "unavailable"}); got != 2 {
		t.Errorf("failed attempts = %v, want 2", got)
	}
	if got := metric(t, f.reg, "events_retried_total", map[string]string{"topic": topic}); got != 2 {
		t.Errorf("events_retried_total = %v, want 2", got)
	}
	if n := len(f.smtp.Messages()); n != 1 {
		t.Fatalf("server has %d messages, want 1", n)
	}
}

func TestConsumerDeadLettersPermanentFailures(t *testing.T) {
	k, f := newKafka(t), newFixture(t)
	f.smtp.Reject("ghost@example.com", smtptest.MailboxUnavailable())
	k.consume(t, f, 5)

	// All three share a key, hence a partition: the good request behind the two bad
	// ones proves that a poison record does not block its partition.
	rejected := envelope(t, "ghost@example.com", mail.TemplateLoginCode, "111111")
	rejected.Key = "same-partition"
	k.publish(t, rejected)
	k.publishRaw(t, "same-partition", []byte(`{"id": "broken`))
	good := envelope(t, "dave@example.com", mail.TemplateLoginCode, "222222")
	good.Key = "same-partition"
	k.publish(t, good)

	msgs := f.smtp.WaitFor(t, 1, waitFor)
	if msgs[0].To[0] != "dave@example.com" {
		t.Errorf("delivered to %v, want dave", msgs[0].To)
	}

	dlq := k.readDLQ(t, 2)
	byID := map[string]map[string]string{}
	for _, rec := range dlq {
		e, err := events.DecodeEnvelope(rec)
		id := e.ID
		if err != nil {
			id = "malformed"
		}
		byID[id] = headers(rec)
	}
	if h, ok := byID[rejected.ID]; !ok {
		t.Errorf("the 550-rejected request is not on the DLQ: %v", byID)
	} else {
		if !strings.Contains(h[events.HeaderDLQError], "rejected") || h[events.HeaderDLQAttempts] != "1" {
			t.Errorf("rejected request DLQ headers %v; want a rejection after one attempt", h)
		}
		if strings.Contains(h[events.HeaderDLQError], "ghost@example.com") {
			t.Errorf("DLQ error header shows the address: %q", h[events.HeaderDLQError])
		}
	}
	if h, ok := byID["malformed"]; !ok || h[events.HeaderDLQAttempts] != "1" {
		t.Errorf("the malformed record is not on the DLQ after one attempt: %v", byID)
	}
	eventually(t, "the dead-letter counter", func() bool {
		return metric(t, f.reg, "events_dead_lettered_total", map[string]string{"topic": topic}) == 2
	})
	if ok, _ := f.store.Delivered(t.Context(), rejected.ID); ok {
		t.Error("a rejected request was recorded as delivered")
	}
}
