// Package smtp sends the service's messages through an SMTP server with go-mail, and
// sorts what goes wrong into "the server will never take this" and "try again later".
package smtp

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	emailcore "instant/services/email/internal/mail"
)

// TLSMode is how the connection to the SMTP server is protected.
type TLSMode string

// TLS modes, as SMTP_TLS spells them.
const (
	StartTLS TLSMode = "starttls" // plain connect, then STARTTLS, refusing servers without it
	Implicit TLSMode = "tls"      // TLS from the first byte (port 465)
	None     TLSMode = "none"     // plain text: only for the local SMTP sink
)

// Config configures a Sender.
type Config struct {
	Host     string
	Port     int
	Username string // empty: no SMTP AUTH
	Password string
	From     string // "instant <no-reply@instant.example>"
	TLS      TLSMode
	Timeout  time.Duration // per connection step (dial, each command)
	// TLSConfig replaces the TLS client settings; nil verifies the server against the
	// system roots under Host. Tests use it to trust a certificate they made.
	TLSConfig *tls.Config
	Log       *slog.Logger
}

// Sender delivers messages to one SMTP server, a connection per message. Requests come
// one at a time per partition and a login code is worth a fresh connection; a pool would
// add state to get wrong on every server error for little gain at this volume.
type Sender struct {
	client *gomail.Client
	from   *mail.Address
	log    *slog.Logger
}

// New checks the configuration and prepares the client; it does not connect.
func New(cfg Config) (*Sender, error) {
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp: from address: %w", err)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	opts := []gomail.Option{gomail.WithPort(cfg.Port), gomail.WithTimeout(cfg.Timeout)}
	switch cfg.TLS {
	case StartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case Implicit:
		opts = append(opts, gomail.WithSSL())
	case None:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		return nil, fmt.Errorf("smtp: unknown TLS mode %q", cfg.TLS)
	}
	if cfg.TLSConfig != nil {
		tc := cfg.TLSConfig.Clone()
		if tc.ServerName == "" {
			tc.ServerName = cfg.Host
		}
		if tc.MinVersion == 0 {
			tc.MinVersion = tls.VersionTLS12
		}
		opts = append(opts, gomail.WithTLSConfig(tc))
	}
	if cfg.Username != "" {
		// Autodiscovery picks the strongest mechanism the server offers and refuses
		// PLAIN and LOGIN on an unencrypted connection, so a password never crosses the
		// network in the clear even when SMTP_TLS=none is pointed at a real server.
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	client, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp: client: %w", err)
	}
	return &Sender{client: client, from: from, log: cfg.Log}, nil
}

// Send delivers m. It returns nil once the server accepted the message (its answer to the
// end of DATA), ErrRejected for a permanent refusal of this message, ErrUnavailable for
// everything worth retrying.
func (s *Sender) Send(ctx context.Context, m emailcore.Message) error {
	msg, err := s.build(m)
	if err != nil {
		return err
	}
	conn, err := s.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		// A failure before the mail transaction (connect, greeting, STARTTLS, AUTH) is
		// about the server or our credentials, not this message, even when the reply is a
		// 5xx: parking the message on the DLQ would throw away every request while the
		// relay is misconfigured. Retries, then the DLQ after the last attempt, it is.
		return fmt.Errorf("%w: connect: %w", emailcore.ErrUnavailable, err)
	}
	defer func() {
		if err := s.client.CloseWithSMTPClient(conn); err != nil {
			s.log.DebugContext(ctx, "smtp quit failed", "err", err)
		}
	}()
	err = s.client.SendWithSMTPClient(conn, msg)
	if msg.IsDelivered() {
		// The server accepted the message; an error after that (the RSET that readies the
		// connection for the next message) must not make us send it again.
		if err != nil {
			s.log.DebugContext(ctx, "smtp reset after delivery failed", "err", err)
		}
		return nil
	}
	if err == nil {
		return fmt.Errorf("%w: server did not confirm the message", emailcore.ErrUnavailable)
	}
	return classify(err)
}

// build turns a rendered message into a MIME message: multipart/alternative with the
// text part first, so clients that prefer HTML show the last part.
func (s *Sender) build(m emailcore.Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	msg.FromMailAddress(s.from)
	if err := msg.To(m.To); err != nil {
		// The address does not parse: no server will ever take it.
		return nil, fmt.Errorf("%w: recipient address does not parse", emailcore.ErrRejected)
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(messageID(m.ID, s.from.Address))
	msg.SetDate()
	// RFC 3834: out-of-office robots must not answer a sign-in code.
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	return msg, nil
}

// messageID derives the Message-ID from the request id, so a redelivered request that
// was sent twice (a crash between the server's accept and our record of it) carries the
// same Message-ID both times and mail clients can fold the pair. Ids that are not plain
// tokens are hashed rather than trusted inside a header.
func messageID(requestID, from string) string {
	domain := "instant.invalid"
	if at := strings.LastIndexByte(from, '@'); at >= 0 && at < len(from)-1 {
		domain = from[at+1:]
	}
	id := requestID
	if id == "" || len(id) > 64 || strings.IndexFunc(id, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' && r != '.' && r != '_'
	}) >= 0 {
		sum := sha256.Sum256([]byte(requestID))
		id = hex.EncodeToString(sum[:16])
	}
	return "email." + id + "@" + domain
}

// classify sorts a failed mail transaction. A 5xx reply to MAIL, RCPT or DATA refuses
// this message for good (unknown mailbox, policy, size); anything else — a 4xx, a broken
// connection, a timeout — may well pass next time.
//
// The error text deliberately leaves out go-mail's and the server's own: both quote the
// recipient address, which must not reach the logs.
func classify(err error) error {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return fmt.Errorf("%w: send: %w", emailcore.ErrUnavailable, err)
	}
	code, esc := se.ErrorCode(), se.EnhancedStatusCode()
	detail := fmt.Sprintf("%s: reply %d", se.Reason, code)
	if esc != "" {
		detail += " " + esc
	}
	switch {
	case code >= 500 && code < 600:
		return fmt.Errorf("%w: %s", emailcore.ErrRejected, detail)
	case se.Reason == gomail.ErrGetSender, se.Reason == gomail.ErrGetRcpts, se.Reason == gomail.ErrNoUnencoded:
		// The message itself is unsendable; no server round trip will change that.
		return fmt.Errorf("%w: %s", emailcore.ErrRejected, detail)
	default:
		return fmt.Errorf("%w: %s", emailcore.ErrUnavailable, detail)
	}
}
