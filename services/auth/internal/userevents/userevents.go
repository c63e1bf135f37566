// Package userevents is what auth says on Kafka: the user.* domain events (written to
// the outbox by the store) and email requests (published synchronously by Mailer). The
// payloads here are the contract other services read; emails never appear in user.*.
package userevents

import (
	"context"
	"fmt"
	"time"

	"instant/platform/events"
	"instant/services/auth/internal/user"
)

// Producer is the envelope's producer field for everything auth publishes.
const Producer = "auth"

// Event types.
const (
	TypeCreated        = "user.created"
	TypeUpdated        = "user.updated"
	TypeDeleted        = "user.deleted"
	TypeEmailRequested = "email.requested"
)

// Data is the payload of user.created and user.updated.
type Data struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	CreatedAt time.Time `json:"created_at"`
}

// DeletedData is the payload of user.deleted.
type DeletedData struct {
	ID string `json:"id"`
}

// Created is the user.created envelope of u, keyed by its id.
func Created(u user.User) (events.Envelope, error) { return changed(TypeCreated, u) }

// Updated is the user.updated envelope of u, keyed by its id.
func Updated(u user.User) (events.Envelope, error) { return changed(TypeUpdated, u) }

func changed(typ string, u user.User) (events.Envelope, error) {
	return events.NewEnvelope(typ, Producer, u.ID, Data{ID: u.ID, Username: u.Username, CreatedAt: u.CreatedAt.UTC()})
}

// Deleted is the user.deleted envelope of the account id.
func Deleted(id string) (events.Envelope, error) {
	return events.NewEnvelope(TypeDeleted, Producer, id, DeletedData{ID: id})
}

// EmailData is the payload of email.requested.
type EmailData struct {
	To       string            `json:"to"`
	Template string            `json:"template"`
	Params   map[string]string `json:"params"`
}

// Mailer sends email requests to the email service. It publishes synchronously rather
// than through the outbox: the caller is about to tell a user that a code is on its way,
// which is only true once Kafka holds the request.
type Mailer struct {
	producer *events.Producer
	topic    string
	timeout  time.Duration
}

// NewMailer publishes to topic, waiting at most timeout for Kafka's acknowledgement.
func NewMailer(p *events.Producer, topic string, timeout time.Duration) *Mailer {
	return &Mailer{producer: p, topic: topic, timeout: timeout}
}

var _ user.Mailer = (*Mailer)(nil)

// EmailRequested is the email.requested envelope of e, keyed by the recipient, so one
// address's mails stay in order. Mailer publishes it; the store queues it in the outbox
// when the mail belongs to a change (the notice of an address change).
func EmailRequested(e user.Email) (events.Envelope, error) {
	return events.NewEnvelope(TypeEmailRequested, Producer, e.To, EmailData{To: e.To, Template: e.Template, Params: e.Params})
}

// Send publishes e's email.requested envelope.
func (m *Mailer) Send(ctx context.Context, e user.Email) error {
	env, err := EmailRequested(e)
	if err != nil {
		return fmt.Errorf("send email: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	if err := m.producer.PublishEnvelope(ctx, m.topic, env); err != nil {
		return fmt.Errorf("send email: %w: %w", user.ErrUnavailable, err)
	}
	return nil
}
