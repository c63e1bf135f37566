// Package mail is the core of the email service: what a request to send mail is, how it
// becomes a message through the templates, and the ports the service needs around it — a
// Sender that hands messages to an SMTP server and a Deliveries store that remembers which
// requests were already sent. It knows no Kafka, SMTP library or database.
package mail

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Errors of the core. The Kafka handler maps them to "retry" or "dead-letter": a request
// that can never succeed must not block its partition through every retry.
var (
	// ErrInvalidRequest: the request is malformed (no recipient, no code, bad params).
	ErrInvalidRequest = errors.New("invalid email request")
	// ErrUnknownTemplate: the request names a template this service does not have.
	ErrUnknownTemplate = errors.New("unknown email template")
	// ErrRejected: the SMTP server refused the message for good (5xx), or the message
	// cannot be expressed at all (an address that does not parse). Sending it again gives
	// the same answer.
	ErrRejected = errors.New("email rejected")
	// ErrUnavailable: the SMTP server could not be reached or asked us to try later (4xx).
	ErrUnavailable = errors.New("smtp server unavailable")
	// ErrAlreadyRecorded: a delivery with this message id is already stored, e.g. by
	// another consumer that processed the same request during a rebalance.
	ErrAlreadyRecorded = errors.New("delivery already recorded")
)

// Template names, as they travel in the email.requested payload.
const (
	TemplateLoginCode       = "login_code"
	TemplateDeleteCode      = "delete_code"
	TemplateEmailChangeCode = "email_change_code"
	// TemplateEmailChanged tells an account's previous address that the account moved
	// to another one; it carries no code.
	TemplateEmailChanged = "email_changed"
)

// withCode reports whether a template delivers a one-time code.
func withCode(template string) bool { return template != TemplateEmailChanged }

// Params are the values a template may show.
type Params struct {
	Code       string `json:"code"`
	TTLMinutes string `json:"ttl_minutes"`
	Username   string `json:"username"`
	// NewEmail is the address an account moved to, masked by the producer
	// ("a***@example.com"), for the email_changed notice.
	NewEmail string `json:"new_email"`
}

// Request is one email to send: the payload of an email.requested event plus the event's
// id, which identifies the request across redeliveries.
type Request struct {
	ID       string
	To       string
	Template string
	Params   Params
}

// Limits on request fields. They are far above what auth sends; they stop a bad producer
// from making this service render and send megabytes.
const (
	maxAddressLen  = 254 // RFC 5321 path limit
	maxCodeLen     = 32
	maxUsernameLen = 64
	maxTTLDigits   = 5
)

// Validate checks what the templates and SMTP need. It does not parse the address:
// the sender does, with the rules of the mail library it uses.
func (r Request) Validate() error {
	switch {
	case r.ID == "":
		return fmt.Errorf("%w: no message id", ErrInvalidRequest)
	case r.To == "" || len(r.To) > maxAddressLen || !strings.Contains(r.To, "@"):
		return fmt.Errorf("%w: recipient is not an address", ErrInvalidRequest)
	case r.Template == "":
		return fmt.Errorf("%w: no template", ErrInvalidRequest)
	}
	// The code goes into the subject line: alphanumerics only, so no header can be
	// smuggled in through it whatever the mail library does about folding.
	if withCode(r.Template) {
		if r.Params.Code == "" || len(r.Params.Code) > maxCodeLen || !isAlnum(r.Params.Code) {
			return fmt.Errorf("%w: code must be 1-%d letters or digits", ErrInvalidRequest, maxCodeLen)
		}
	} else if r.Params.Code != "" {
		return fmt.Errorf("%w: %s carries no code", ErrInvalidRequest, r.Template)
	}
	if r.Template == TemplateEmailChanged {
		n := r.Params.NewEmail
		if n == "" || len(n) > maxAddressLen || !strings.Contains(n, "@") || !utf8.ValidString(n) || hasControl(n) {
			return fmt.Errorf("%w: new_email must be an address", ErrInvalidRequest)
		}
	}
	if t := r.Params.TTLMinutes; t != "" && (len(t) > maxTTLDigits || !isDigits(t)) {
		return fmt.Errorf("%w: ttl_minutes must be a number", ErrInvalidRequest)
	}
	if u := r.Params.Username; utf8.RuneCountInString(u) > maxUsernameLen || !utf8.ValidString(u) || hasControl(u) {
		return fmt.Errorf("%w: username must be printable and at most %d characters", ErrInvalidRequest, maxUsernameLen)
	}
	return nil
}

func isAlnum(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// Message is a rendered email, ready for a Sender.
type Message struct {
	// ID is the request id; senders derive the Message-ID header from it, so a duplicate
	// that slips through still carries the same id and mail clients can fold it.
	ID      string
	To      string
	Subject string
	Text    string
	HTML    string
}

// Sender hands a message to an SMTP server. It returns nil only once the server accepted
// the message; errors wrap ErrRejected (never retry) or ErrUnavailable (retry).
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Delivery is the record that a request was sent.
type Delivery struct {
	MessageID string
	Template  string
	SentAt    time.Time
}

// Deliveries remembers which requests were sent, so a redelivered request is not sent
// twice. Record returns ErrAlreadyRecorded when the id is already there.
type Deliveries interface {
	Delivered(ctx context.Context, messageID string) (bool, error)
	Record(ctx context.Context, d Delivery) error
}

// MaskAddress shortens an address for logs: "alice@example.com" → "a***@example.com".
// Addresses are personal data; the domain is kept because it is what an operator needs
// to see ("every mail to one provider bounces").
func MaskAddress(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return "***"
	}
	first, _ := utf8.DecodeRuneInString(addr)
	return string(first) + "***" + addr[at:]
}
