// Package emailkafka consumes email requests from Kafka: decode the envelope, skip what
// was already sent, render, send, record. Its Handle runs under an events.Consumer, which
// commits the record's offset only after Handle returned nil (or the record reached the
// dead-letter topic), so a message is acknowledged only once the SMTP server accepted it.
package emailkafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"instant/platform/events"
	"instant/services/email/internal/mail"
)

// EventType is the envelope type of an email request (docs/contracts.md).
const EventType = "email.requested"

// Requested is the envelope data of an email.requested event.
type Requested struct {
	To       string      `json:"to"`
	Template string      `json:"template"`
	Params   mail.Params `json:"params"`
}

// Failure reasons, the reason label of emails_failed_total.
const (
	reasonMalformed       = "malformed"        // not an envelope, wrong type, data not JSON
	reasonInvalid         = "invalid"          // fields missing or out of bounds
	reasonUnknownTemplate = "unknown_template" // a template this service does not have
	reasonRejected        = "rejected"         // the SMTP server refused it for good
	reasonUnavailable     = "unavailable"      // the SMTP server failed for now; retried
	reasonDatabase        = "database"         // the delivery store failed; retried
)

// unknownTemplate labels metrics of requests whose template is missing or unknown: the
// template name comes from the producer and must not create series at will.
const unknownTemplate = "unknown"

// Record attempts: the message is already accepted when Record runs, so a store hiccup
// is retried in place rather than by redelivering, which would send the email again.
const (
	recordAttempts = 3
	recordBackoff  = 200 * time.Millisecond
	recordTimeout  = 5 * time.Second
)

// Config wires a Handler.
type Config struct {
	Templates  *mail.Templates
	Sender     mail.Sender
	Deliveries mail.Deliveries
	Log        *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time // nil: time.Now
}

// Handler turns email requests into sent emails. Safe for concurrent use: the consumer
// runs one handler call per partition at a time, partitions in parallel.
type Handler struct {
	templates  *mail.Templates
	sender     mail.Sender
	deliveries mail.Deliveries
	log        *slog.Logger
	now        func() time.Time

	sent       *prometheus.CounterVec
	failed     *prometheus.CounterVec
	duplicates prometheus.Counter
}

// New checks the wiring and registers the email metrics in cfg.Registerer.
func New(cfg Config) (*Handler, error) {
	if cfg.Templates == nil || cfg.Sender == nil || cfg.Deliveries == nil {
		return nil, errors.New("emailkafka: templates, sender and deliveries are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{
		templates: cfg.Templates, sender: cfg.Sender, deliveries: cfg.Deliveries, log: cfg.Log, now: cfg.Now,
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "emails_sent_total", Help: "Emails the SMTP server accepted, by template.",
		}, []string{"template"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "emails_failed_total",
			Help: "Failed attempts to handle an email request, by template and reason; transient reasons count every retry.",
		}, []string{"template", "reason"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "emails_duplicates_total", Help: "Redelivered email requests skipped because they were already sent.",
		}),
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{h.sent, h.failed, h.duplicates} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("emailkafka: register metrics: %w", err)
			}
		}
	}
	// Known templates start at zero, so a rate() over them works from the first scrape.
	for _, n := range mail.Names() {
		h.sent.WithLabelValues(n)
	}
	return h, nil
}

// Handle processes one email request record. It returns nil once the email was accepted
// by the SMTP server (or had been before), an events.Permanent error when no retry can
// help (the record goes to the dead-letter topic), and any other error to be retried.
//
// Errors carry the request id, template and masked recipient, since the consumer logs
// them and puts them in the dead-letter record's headers; never the code or the address.
func (h *Handler) Handle(ctx context.Context, rec *kgo.Record) error {
	env, err := events.DecodeEnvelope(rec)
	if err != nil {
		h.failed.WithLabelValues(unknownTemplate, reasonMalformed).Inc()
		return err // already Permanent
	}
	if env.Type != EventType {
		h.failed.WithLabelValues(unknownTemplate, reasonMalformed).Inc()
		return events.Permanent(fmt.Errorf("email request %s: event type %q is not %s", env.ID, env.Type, EventType))
	}
	var data Requested
	if err := json.Unmarshal(env.Data, &data); err != nil {
		h.failed.WithLabelValues(unknownTemplate, reasonMalformed).Inc()
		return events.Permanent(fmt.Errorf("email request %s: decode data: %w", env.ID, err))
	}
	req := mail.Request{ID: env.ID, To: data.To, Template: data.Template, Params: data.Params}
	label := unknownTemplate
	if mail.Known(req.Template) {
		label = req.Template
	}
	to := mail.MaskAddress(req.To)
	fail := func(reason string, err error) error {
		h.failed.WithLabelValues(label, reason).Inc()
		return fmt.Errorf("email request %s (%s to %s): %w", env.ID, label, to, err)
	}

	// Render before the duplicate check: a request that can never be sent is
	// dead-lettered whatever the database says, and costs no query.
	msg, err := h.templates.Render(req)
	if err != nil {
		reason := reasonInvalid
		if errors.Is(err, mail.ErrUnknownTemplate) {
			reason = reasonUnknownTemplate
		}
		return events.Permanent(fail(reason, err))
	}

	delivered, err := h.deliveries.Delivered(ctx, env.ID)
	if err != nil {
		return fail(reasonDatabase, err)
	}
	if delivered {
		h.duplicates.Inc()
		h.log.InfoContext(ctx, "email request already sent, skipped", "message_id", env.ID, "template", label, "to", to)
		return nil
	}

	if err := h.sender.Send(ctx, msg); err != nil {
		if errors.Is(err, mail.ErrRejected) {
			return events.Permanent(fail(reasonRejected, err))
		}
		return fail(reasonUnavailable, err)
	}
	h.sent.WithLabelValues(label).Inc()
	h.log.InfoContext(ctx, "email sent", "message_id", env.ID, "template", label, "to", to)
	h.record(ctx, mail.Delivery{MessageID: env.ID, Template: label, SentAt: h.now()})
	return nil
}

// record stores the delivery after the server accepted the email. It never fails the
// request: the email is out, and failing now would have it retried, that is sent again.
// Without the row, only a redelivery of this very record (a crash before its offset is
// committed) would repeat the email — the at-least-once duplicate we cannot rule out.
//
// It runs without the caller's cancellation: a shutdown that begins just after the
// server accepted the message must still leave the row behind.
func (h *Handler) record(ctx context.Context, d mail.Delivery) {
	ctx = context.WithoutCancel(ctx)
	var err error
	for attempt := range recordAttempts {
		if attempt > 0 {
			time.Sleep(recordBackoff << (attempt - 1))
		}
		rctx, cancel := context.WithTimeout(ctx, recordTimeout)
		err = h.deliveries.Record(rctx, d)
		cancel()
		if err == nil || errors.Is(err, mail.ErrAlreadyRecorded) {
			return
		}
	}
	h.failed.WithLabelValues(d.Template, reasonDatabase).Inc()
	h.log.ErrorContext(ctx, "email sent but not recorded; a redelivery would send it again",
		"message_id", d.MessageID, "template", d.Template, "err", err)
}
