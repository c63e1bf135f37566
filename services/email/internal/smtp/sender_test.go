package smtp_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"instant/services/email/internal/mail"
	"instant/services/email/internal/smtp"
	"instant/services/email/internal/smtptest"
)

const from = "instant <no-reply@instant.example>"

func message(to string) mail.Message {
	return mail.Message{
		ID:      "0b6f7c1e-4c3a-4f57-9d2e-1a2b3c4d5e6f",
		To:      to,
		Subject: "123456 is your instant sign-in code",
		Text:    "Your code is 123456.\n",
		HTML:    "<p>Your code is <b>123456</b>.</p>",
	}
}

func newSender(t *testing.T, srv *smtptest.Server, mode smtp.TLSMode, edit func(*smtp.Config)) *smtp.Sender {
	t.Helper()
	cfg := smtp.Config{Host: srv.Host, Port: srv.Port, From: from, TLS: mode, Timeout: 5 * time.Second}
	if srv.RootCAs != nil {
		cfg.TLSConfig = &tls.Config{RootCAs: srv.RootCAs}
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := smtp.New(cfg)
	if err != nil {
		t.Fatalf("smtp.New: %v", err)
	}
	return s
}

func TestSendDelivers(t *testing.T) {
	tests := []struct {
		name    string
		opts    smtptest.Options
		mode    smtp.TLSMode
		edit    func(*smtp.Config)
		wantTLS bool
		user    string
	}{
		{name: "plain_for_the_local_sink", mode: smtp.None},
		{name: "starttls", opts: smtptest.Options{STARTTLS: true}, mode: smtp.StartTLS, wantTLS: true},
		{name: "implicit_tls", opts: smtptest.Options{Implicit: true}, mode: smtp.Implicit, wantTLS: true},
		{
			name: "starttls_with_auth", mode: smtp.StartTLS, wantTLS: true, user: "mailer",
			opts: smtptest.Options{STARTTLS: true, Users: map[string]string{"mailer": "s3cret"}},
			edit: func(c *smtp.Config) { c.Username, c.Password = "mailer", "s3cret" },
		},
		{
			// A server that offers AUTH is not made to authenticate when no username is set.
			name: "no_auth_without_username", mode: smtp.StartTLS, wantTLS: true,
			opts: smtptest.Options{STARTTLS: true, Users: map[string]string{"mailer": "s3cret"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, tc.opts)
			s := newSender(t, srv, tc.mode, tc.edit)
			if err := s.Send(context.Background(), message("alice@example.com")); err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("server has %d messages, want 1", len(msgs))
			}
			m := msgs[0]
			if m.TLS != tc.wantTLS {
				t.Errorf("TLS = %v, want %v", m.TLS, tc.wantTLS)
			}
			if m.User != tc.user {
				t.Errorf("authenticated as %q, want %q", m.User, tc.user)
			}
			if m.From != "no-reply@instant.example" || len(m.To) != 1 || m.To[0] != "alice@example.com" {
				t.Errorf("envelope %q → %q", m.From, m.To)
			}
			if got := m.Header.Get("From"); !strings.Contains(got, "no-reply@instant.example") || !strings.Contains(got, "instant") {
				t.Errorf("From header %q", got)
			}
			if m.Subject != "123456 is your instant sign-in code" {
				t.Errorf("subject %q", m.Subject)
			}
			if !strings.Contains(m.Text, "123456") || !strings.Contains(m.HTML, "<b>123456</b>") {
				t.Errorf("parts: text %q, html %q", m.Text, m.HTML)
			}
			if got, want := m.Header.Get("Message-Id"), "<email.0b6f7c1e-4c3a-4f57-9d2e-1a2b3c4d5e6f@instant.example>"; got != want {
				t.Errorf("Message-ID %q, want %q", got, want)
			}
			if got := m.Header.Get("Auto-Submitted"); got != "auto-generated" {
				t.Errorf("Auto-Submitted %q", got)
			}
		})
	}
}

func TestSendFails(t *testing.T) {
	tests := []struct {
		name  string
		opts  smtptest.Options
		mode  smtp.TLSMode
		setup func(*smtptest.Server)
		edit  func(*smtp.Config)
		to    string
		want  error
	}{
		{
			name: "mailbox_unavailable_550_rejected", mode: smtp.None, to: "ghost@example.com",
			setup: func(s *smtptest.Server) { s.Reject("ghost@example.com", smtptest.MailboxUnavailable()) },
			want:  mail.ErrRejected,
		},
		{
			name: "data_refused_554_rejected", mode: smtp.None,
			setup: func(s *smtptest.Server) {
				s.FailNext(1, &smtptest.SMTPError{Code: 554, EnhancedCode: smtptest.EnhancedCode{5, 7, 1}, Message: "spam"})
			},
			want: mail.ErrRejected,
		},
		{name: "address_does_not_parse_rejected", mode: smtp.None, to: "not an address@", want: mail.ErrRejected},
		{
			name: "try_later_451_unavailable", mode: smtp.None,
			setup: func(s *smtptest.Server) { s.FailNext(1, smtptest.Temporary()) },
			want:  mail.ErrUnavailable,
		},
		{
			name: "recipient_greylisted_450_unavailable", mode: smtp.None, to: "grey@example.com",
			setup: func(s *smtptest.Server) {
				s.Reject("grey@example.com", &smtptest.SMTPError{Code: 450, EnhancedCode: smtptest.EnhancedCode{4, 2, 0}, Message: "greylisted"})
			},
			want: mail.ErrUnavailable,
		},
		{
			// Mandatory STARTTLS: a server (or a man in the middle) that does not offer it
			// gets no mail.
			name: "starttls_not_offered_unavailable", mode: smtp.StartTLS, want: mail.ErrUnavailable,
		},
		{
			name: "untrusted_certificate_unavailable", opts: smtptest.Options{STARTTLS: true}, mode: smtp.StartTLS,
			edit: func(c *smtp.Config) { c.TLSConfig = nil },
			want: mail.ErrUnavailable,
		},
		{
			name: "wrong_password_unavailable", opts: smtptest.Options{STARTTLS: true, Users: map[string]string{"mailer": "s3cret"}},
			mode: smtp.StartTLS,
			edit: func(c *smtp.Config) { c.Username, c.Password = "mailer", "wrong" },
			want: mail.ErrUnavailable,
		},
		{
			// With SMTP_TLS=none the password would cross the network in the clear: the
			// client refuses PLAIN instead.
			name: "no_password_in_the_clear_unavailable", opts: smtptest.Options{Users: map[string]string{"mailer": "s3cret"}},
			mode: smtp.None,
			edit: func(c *smtp.Config) { c.Username, c.Password = "mailer", "s3cret" },
			want: mail.ErrUnavailable,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, tc.opts)
			if tc.setup != nil {
				tc.setup(srv)
			}
			s := newSender(t, srv, tc.mode, tc.edit)
			to := tc.to
			if to == "" {
				to = "alice@example.com"
			}
			err := s.Send(context.Background(), message(to))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Send error = %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), to) {
				t.Errorf("error %q shows the recipient address", err)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("server accepted %d messages", n)
			}
		})
	}
}

func TestSendRetrySucceedsAfterTemporaryFailure(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	srv.FailNext(1, smtptest.Temporary())
	s := newSender(t, srv, smtp.None, nil)
	if err := s.Send(context.Background(), message("alice@example.com")); !errors.Is(err, mail.ErrUnavailable) {
		t.Fatalf("first Send = %v, want ErrUnavailable", err)
	}
	if err := s.Send(context.Background(), message("alice@example.com")); err != nil {
		t.Fatalf("second Send: %v", err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("server has %d messages, want 1", n)
	}
}

func TestSendServerDown(t *testing.T) {
	// A port that was free a moment ago: nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s, err := smtp.New(smtp.Config{Host: "127.0.0.1", Port: port, From: from, TLS: smtp.None, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), message("alice@example.com")); !errors.Is(err, mail.ErrUnavailable) {
		t.Fatalf("Send = %v, want ErrUnavailable", err)
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  smtp.Config
	}{
		{"bad_from", smtp.Config{Host: "h", Port: 25, From: "nope", TLS: smtp.None, Timeout: time.Second}},
		{"unknown_tls_mode", smtp.Config{Host: "h", Port: 25, From: from, TLS: "ssl", Timeout: time.Second}},
		{"no_host", smtp.Config{Port: 25, From: from, TLS: smtp.None, Timeout: time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := smtp.New(tc.cfg); err == nil {
				t.Fatal("New succeeded")
			}
		})
	}
}
