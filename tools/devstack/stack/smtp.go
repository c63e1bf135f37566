package stack

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

const mailLogFile = "mail.log"

// startMail hands the services a real SMTP server when SMTP_HOST names one; otherwise it
// runs the SMTP sink, its inbox and the web inbox. It returns the SMTP_* variables for
// the services that send mail.
func (s *Stack) startMail(o Options, fixed bool) (map[string]string, error) {
	if host := o.Getenv("SMTP_HOST"); host != "" {
		env := externalSMTP(o.Getenv)
		s.SMTPAddr = host
		if port := env["SMTP_PORT"]; port != "" {
			s.SMTPAddr = net.JoinHostPort(host, port)
		}
		return env, nil
	}

	inbox, err := newInbox(defaultInboxCapacity, filepath.Join(o.DataDir, mailLogFile), o.Log)
	if err != nil {
		return nil, err
	}
	s.Mail = inbox
	line := newLineWriter(s.out, "inbox", prefixWidth(o.Services))
	inbox.onNew = func(m Message) { _, _ = io.WriteString(line, summary(m)+"\n") }

	smtpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(portOrZero(fixed, fixedSMTPPort)))
	sink, err := startMailSink(smtpAddr, inbox, o.Log)
	if err != nil {
		return nil, fmt.Errorf("%w (set SMTP_HOST to use a real server)", err)
	}
	s.smtp = sink
	s.EmbeddedSMTP = true
	s.SMTPAddr = sink.addr

	webAddr := o.InboxAddr
	if webAddr == "" {
		webAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(portOrZero(fixed, fixedInboxPort)))
	}
	ln, err := net.Listen("tcp", webAddr)
	if err != nil {
		return nil, fmt.Errorf("stack: web inbox on %s: %w", webAddr, err)
	}
	s.webSrv = newWebInbox(inbox, o.Log)
	s.webDone = make(chan struct{})
	s.InboxURL = "http://" + dialable(ln.Addr().String())
	go func() {
		defer close(s.webDone)
		if err := s.webSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Log.Error("web inbox stopped", "err", err)
		}
	}()

	host, port, _ := net.SplitHostPort(sink.addr)
	return map[string]string{
		"SMTP_HOST": host,
		"SMTP_PORT": port,
		"SMTP_TLS":  "none",
		"SMTP_FROM": cmpOr(o.Getenv("SMTP_FROM"), defaultSMTPFrom),
	}, nil
}

// summary is the one line per message printed among the services' output, so a sign-in
// code is in the terminal the moment the mail is sent.
func summary(m Message) string {
	to := strings.Join(m.EnvelopeTo, ",")
	if to == "" {
		to = strings.Join(m.To, ",")
	}
	line := "to=" + to + " subject=" + strconv.Quote(m.Subject)
	if m.Code != "" {
		line += " code=" + m.Code
	}
	return line
}

// mailSink is an SMTP server that accepts every message for every recipient and keeps it
// in an Inbox instead of delivering it. It speaks plain SMTP with no authentication
// required; a client that authenticates anyway is let in with any credentials, so a
// service configured with a username still works against it.
type mailSink struct {
	srv     *smtp.Server
	ln      net.Listener
	addr    string
	done    chan struct{}
	closing atomic.Bool
}

// maxMessageBytes is far above any mail the product sends; it only stops a runaway
// client from filling memory.
const maxMessageBytes = 10 << 20

func startMailSink(addr string, inbox *Inbox, log *slog.Logger) (*mailSink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("stack: smtp sink on %s: %w", addr, err)
	}
	be := smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &sinkSession{inbox: inbox}, nil
	})
	srv := smtp.NewServer(be)
	srv.Domain = "instant.local"
	srv.MaxMessageBytes = maxMessageBytes
	srv.MaxRecipients = 100
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = smtpLogger{log: log.With("component", "smtp")}

	sink := &mailSink{srv: srv, ln: ln, addr: ln.Addr().String(), done: make(chan struct{})}
	go func() {
		defer close(sink.done)
		if err := srv.Serve(ln); err != nil && !sink.closing.Load() {
			log.Error("smtp sink stopped", "err", err)
		}
	}()
	return sink, nil
}

func (m *mailSink) close() error {
	m.closing.Store(true)
	err := m.srv.Close()
	// Server.Close only closes listeners Serve has registered; when close comes before
	// the serving goroutine got that far, Serve would wait forever on the listener, so
	// close it here as well.
	m.ln.Close()
	<-m.done
	if err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		return fmt.Errorf("stack: stop smtp sink: %w", err)
	}
	return nil
}

// sinkSession is one SMTP conversation; it may carry several messages.
type sinkSession struct {
	inbox *Inbox
	from  string
	to    []string
}

func (s *sinkSession) Reset()        { s.from, s.to = "", nil }
func (s *sinkSession) Logout() error { return nil }

func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *sinkSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read message: %w", err)
	}
	m := parseMessage(raw)
	m.ReceivedAt = time.Now()
	m.EnvelopeFrom = s.from
	m.EnvelopeTo = append([]string(nil), s.to...)
	s.inbox.add(m)
	return nil
}

func (s *sinkSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *sinkSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(string, string, string) error { return nil }), nil
}

// smtpLogger routes go-smtp's error log to slog.
type smtpLogger struct{ log *slog.Logger }

func (l smtpLogger) Printf(format string, v ...any) {
	l.log.Warn("smtp sink", "detail", strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func (l smtpLogger) Println(v ...any) {
	l.log.Warn("smtp sink", "detail", strings.TrimSpace(fmt.Sprintln(v...)))
}
