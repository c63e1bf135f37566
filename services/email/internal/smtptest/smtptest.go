// Package smtptest runs a real SMTP server over TCP for tests: it records every message it
// accepts, can be told to refuse the next ones temporarily (4xx) or a recipient for good
// (550), and speaks STARTTLS or implicit TLS with a certificate made for the test.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one message the server accepted.
type Message struct {
	From    string   // envelope MAIL FROM
	To      []string // envelope RCPT TO
	Header  mail.Header
	Subject string
	Text    string // the decoded text/plain part
	HTML    string // the decoded text/html part
	Raw     []byte
	TLS     bool   // whether the session was encrypted when the message came
	User    string // the SMTP AUTH username, empty without authentication
}

// Options choose the server's transport security.
type Options struct {
	// STARTTLS offers STARTTLS with a certificate made for 127.0.0.1 and localhost.
	STARTTLS bool
	// Implicit serves TLS from the first byte.
	Implicit bool
	// Users, when set, offers AUTH PLAIN (also on plain connections, so a test can show
	// the client refusing to send a password in the clear) and accepts these
	// username/password pairs.
	Users map[string]string
}

// Server is a running SMTP server.
type Server struct {
	Host string
	Port int
	// RootCAs trusts the server's certificate (when it has one).
	RootCAs *x509.CertPool

	srv *smtp.Server

	mu       sync.Mutex
	msgs     []Message
	failNext []*smtp.SMTPError
	reject   map[string]*smtp.SMTPError
	changed  chan struct{}
}

// Temporary is the 4xx answer of a server that wants the client to come back later.
func Temporary() *smtp.SMTPError {
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
}

// MailboxUnavailable is the 550 answer for an address that does not exist.
func MailboxUnavailable() *smtp.SMTPError {
	return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"}
}

// Start runs a server on a free loopback port until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{reject: map[string]*smtp.SMTPError{}, changed: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{srv: s, conn: c, users: o.Users}, nil
	}))
	srv.Domain = "localhost"
	srv.MaxMessageBytes = 1 << 20
	srv.MaxRecipients = 10
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.EnableSMTPUTF8 = true
	srv.AllowInsecureAuth = true
	// Refused sessions and dropped connections are what the tests provoke; they are not
	// worth a line on stderr.
	srv.ErrorLog = discardLogger{}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	if o.STARTTLS || o.Implicit {
		cert, pool := selfSigned(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.RootCAs = pool
		if o.Implicit {
			ln = tls.NewListener(ln, srv.TLSConfig)
		}
	}
	s.srv = srv
	addr := ln.Addr().(*net.TCPAddr)
	s.Host, s.Port = addr.IP.String(), addr.Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil {
			t.Errorf("smtptest: serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		// Close knows only the listeners Serve has registered; a test that never
		// connected can end before Serve ran. Closing the listener here makes that
		// Serve return at once (it sees the server closed and returns nil).
		ln.Close()
		<-done
	})
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// FailNext makes the next n messages fail at DATA with err.
func (s *Server) FailNext(n int, err *smtp.SMTPError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failNext = append(s.failNext, err)
	}
}

// ClearFailures forgets the failures FailNext queued and not yet used.
func (s *Server) ClearFailures() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = nil
}

// Reject makes every RCPT TO for addr fail with err.
func (s *Server) Reject(addr string, err *smtp.SMTPError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reject[strings.ToLower(addr)] = err
}

// Messages returns the accepted messages, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// WaitFor waits until at least n messages were accepted and returns them; it fails the
// test when they do not come within timeout.
func (s *Server) WaitFor(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		msgs, changed := append([]Message(nil), s.msgs...), s.changed
		s.mu.Unlock()
		if len(msgs) >= n {
			return msgs
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("smtptest: %d messages after %v, want %d", len(msgs), timeout, n)
			return nil
		}
	}
}

func (s *Server) add(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) takeFailure() *smtp.SMTPError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failNext) == 0 {
		return nil
	}
	err := s.failNext[0]
	s.failNext = s.failNext[1:]
	return err
}

func (s *Server) rejection(addr string) *smtp.SMTPError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reject[strings.ToLower(addr)]
}

type session struct {
	srv   *Server
	conn  *smtp.Conn
	users map[string]string
	user  string
	from  string
	to    []string
}

func (ss *session) AuthMechanisms() []string {
	if len(ss.users) == 0 {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, username, password string) error {
		if want, ok := ss.users[username]; !ok || want != password {
			return smtp.ErrAuthFailed
		}
		ss.user = username
		return nil
	}), nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := ss.srv.rejection(to); err != nil {
		return err
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := ss.srv.takeFailure(); err != nil {
		return err
	}
	m, err := parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "unparsable message: " + err.Error()}
	}
	m.From, m.To, m.User = ss.from, append([]string(nil), ss.to...), ss.user
	_, m.TLS = ss.conn.TLSConnectionState()
	ss.srv.add(m)
	return nil
}

// parse reads the headers and the text and HTML parts of a message, wherever they sit
// in a multipart tree.
func parse(raw []byte) (Message, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{}, err
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return Message{}, fmt.Errorf("subject: %w", err)
	}
	m := Message{Header: msg.Header, Subject: subject, Raw: raw}
	err = walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, &m)
	return m, err
}

func walk(contentType, encoding string, body io.Reader, m *Message) error {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("content type %q: %w", contentType, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, m); err != nil {
				return err
			}
		}
	}
	if strings.EqualFold(encoding, "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	if strings.EqualFold(encoding, "base64") {
		if b, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), "")); err != nil {
			return err
		}
	}
	switch mediaType {
	case "text/plain":
		m.Text = string(b)
	case "text/html":
		m.HTML = string(b)
	}
	return nil
}

// selfSigned makes a certificate for 127.0.0.1 and localhost and a pool that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("smtptest: key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("smtptest: certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("smtptest: parse certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// SMTPError and EnhancedCode let tests script any reply without importing go-smtp.
type (
	SMTPError    = smtp.SMTPError
	EnhancedCode = smtp.EnhancedCode
)

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}
