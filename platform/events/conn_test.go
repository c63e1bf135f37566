package events_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"instant/platform/events"
	"instant/platform/logging"
	"instant/platform/testenv"
)

// password is what the tests' Kafka user signs in with; no output may ever show it.
const password = "correct-horse-battery-staple"

// failWithin bounds a call that is expected to fail. A failure has to come as an error
// before it, not as a hang that the deadline cuts short.
const failWithin = 15 * time.Second

func TestConnValidate(t *testing.T) {
	brokers := []string{"127.0.0.1:9092"}
	scram := func(mech, user, pass string) events.Conn {
		return events.Conn{Brokers: brokers, SASLMechanism: mech, SASLUsername: user, SASLPassword: pass}
	}
	tests := []struct {
		name    string
		conn    events.Conn
		wantErr string // "" for a valid Conn
	}{
		{"plaintext_ok", events.Conn{Brokers: brokers}, ""},
		{"scram_sha_512_ok", scram("SCRAM-SHA-512", "instant-posts", password), ""},
		{"scram_sha_256_ok", scram("SCRAM-SHA-256", "instant-posts", password), ""},
		{"plain_ok", scram("PLAIN", "instant-posts", password), ""},
		{"mechanism_any_case_ok", scram("scram-sha-512", "instant-posts", password), ""},
		{"tls_ok", events.Conn{Brokers: brokers, TLS: true}, ""},
		{"tls_ca_server_name_ok", events.Conn{Brokers: brokers, TLS: true, TLSCAFile: "/ca.crt", TLSServerName: "kafka"}, ""},
		{"no_brokers", events.Conn{}, "no brokers"},
		{"mechanism_without_username", scram("SCRAM-SHA-512", "", password), "needs a username and a password"},
		{"mechanism_without_password", scram("SCRAM-SHA-512", "instant-posts", ""), "needs a username and a password"},
		{"unknown_mechanism", scram("GSSAPI", "instant-posts", password), `unknown SASL mechanism "GSSAPI"`},
		{"credentials_without_mechanism", scram("", "instant-posts", password), "without a SASL mechanism"},
		{"ca_file_without_tls", events.Conn{Brokers: brokers, TLSCAFile: "/ca.crt"}, "TLS is off"},
		{"server_name_without_tls", events.Conn{Brokers: brokers, TLSServerName: "kafka"}, "TLS is off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.conn.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
			// The constructors refuse what Validate refuses.
			if p, err := events.NewProducer(tt.conn, "p", logging.Discard(), nil); err == nil {
				p.Close()
				t.Error("NewProducer accepted it")
			}
			if c, err := events.NewConsumer(events.ConsumerConfig{Conn: tt.conn, Group: "g", Topics: []string{"t"}, DLQTopic: "t.dlq"},
				func(context.Context, *kgo.Record) error { return nil }); err == nil {
				c.Close()
				t.Error("NewConsumer accepted it")
			}
		})
	}
}

// TestConnHidesPassword: printing, logging or failing to use a Conn never shows the
// password.
func TestConnHidesPassword(t *testing.T) {
	conn := events.Conn{Brokers: []string{"kafka:9092"}, SASLMechanism: "SCRAM-SHA-512",
		SASLUsername: "instant-posts", SASLPassword: password, TLS: true, TLSCAFile: "/ca.crt"}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("kafka", "conn", conn)

	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		outputs = append(outputs, fmt.Sprintf(verb, conn), fmt.Sprintf(verb, &conn),
			fmt.Sprintf(verb, events.ConsumerConfig{Conn: conn, Group: "g"}))
	}
	outputs = append(outputs, logged.String())
	// Errors about the settings, and about a CA file that is not there.
	bad := conn
	bad.SASLMechanism = "SCRAM-SHA-1"
	for _, c := range []events.Conn{bad, conn} {
		if _, err := events.NewProducer(c, "p", logging.Discard(), nil); err != nil {
			outputs = append(outputs, err.Error())
		} else {
			t.Errorf("NewProducer(%v) succeeded", c)
		}
	}
	for _, out := range outputs {
		if strings.Contains(out, password) {
			t.Errorf("the password shows in %q", out)
		}
	}
	if !strings.Contains(conn.String(), "user=instant-posts") || !strings.Contains(conn.String(), "password=***") {
		t.Errorf("String() = %q, want the user and a masked password", conn.String())
	}
	if !strings.Contains(logged.String(), `"sasl_username":"instant-posts"`) || !strings.Contains(logged.String(), `"sasl_password":"***"`) {
		t.Errorf("log line %s: want the user and a masked password", logged.String())
	}
}

// kafka starts an in-process cluster with opts and the given topics.
func kafka(t *testing.T, topics []string, opts ...kfake.Opt) []string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(3, topics...)}, opts...)...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// publishAndConsume publishes one record with conn and consumes it in a group with
// conn: the whole path a service takes, the dead-letter producer included.
func publishAndConsume(t *testing.T, conn events.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	p, err := events.NewProducer(conn, "test-producer", logging.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Ping(ctx); err != nil {
		t.Fatalf("producer ping: %v", err)
	}
	if err := p.Publish(ctx, "things", "k", []byte("v"), nil); err != nil {
		t.Fatalf("publish: %v", err)
	}
	got := make(chan string, 1)
	c, err := events.NewConsumer(events.ConsumerConfig{Conn: conn, Group: "g", Topics: []string{"things"}, DLQTopic: "things.dlq",
		Log: logging.Discard()}, func(_ context.Context, rec *kgo.Record) error {
		select {
		case got <- string(rec.Value):
		default:
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx); err != nil {
		c.Close()
		t.Fatalf("consumer ping: %v", err)
	}
	start(t, "consumer", c.Run)
	select {
	case v := <-got:
		if v != "v" {
			t.Errorf("consumed %q, want %q", v, "v")
		}
	case <-ctx.Done():
		t.Fatal("no record consumed")
	}
}

// TestSASLSCRAM: against a cluster that requires SCRAM-SHA-512 (as Strimzi's listener
// does with authentication on), the right credentials publish and consume, and wrong
// ones fail with an authentication error rather than hanging.
func TestSASLSCRAM(t *testing.T) {
	brokers := testenv.KafkaSASL(t, "instant-posts", password, "things", "things.dlq")
	conn := events.Conn{Brokers: brokers, SASLMechanism: events.SASLScramSHA512, SASLUsername: "instant-posts", SASLPassword: password}

	t.Run("right_credentials_publish_and_consume", func(t *testing.T) {
		publishAndConsume(t, conn)
	})

	wrong := []struct {
		name    string
		mutate  func(*events.Conn)
		publish bool // also publish: slow against kfake (below), so in one case only
	}{
		{"wrong_password", func(c *events.Conn) { c.SASLPassword = "not-" + password }, true},
		{"unknown_user", func(c *events.Conn) { c.SASLUsername = "instant-nobody" }, false},
		{"wrong_mechanism", func(c *events.Conn) { c.SASLMechanism = events.SASLScramSHA256 }, false},
	}
	for _, tt := range wrong {
		t.Run(tt.name+"_fails", func(t *testing.T) {
			if tt.publish {
				t.Parallel()
			}
			c := conn
			tt.mutate(&c)
			expectAuthFailure(t, c, tt.publish)
		})
	}
	t.Run("no_credentials_fails", func(t *testing.T) {
		t.Parallel()
		p, err := events.NewProducer(events.Conn{Brokers: brokers}, "p", logging.Discard(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		ctx, cancel := context.WithTimeout(context.Background(), failWithin)
		defer cancel()
		err = p.Publish(ctx, "things", "k", []byte("v"), nil)
		if err == nil {
			t.Fatal("published without signing in")
		}
		if ctx.Err() != nil {
			t.Fatalf("publish hung until the deadline (%v) instead of failing", err)
		}
		if !strings.Contains(err.Error(), "SASL") {
			t.Errorf("publish: %v, want an error that points at SASL", err)
		}
	})
}

// expectAuthFailure checks that a producer's ping (and publish) and a consumer's ping
// with conn each fail with an authentication error before failWithin. A Kafka broker
// answers SASL_AUTHENTICATION_FAILED; kfake closes the connection instead, which the
// client reports as EOF (a ping at once, a publish when its delivery timeout ends).
func expectAuthFailure(t *testing.T, conn events.Conn, publish bool) {
	t.Helper()
	p, err := events.NewProducer(conn, "p", logging.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := events.NewConsumer(events.ConsumerConfig{Conn: conn, Group: "g", Topics: []string{"things"}, DLQTopic: "things.dlq"},
		func(context.Context, *kgo.Record) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), failWithin)
	defer cancel()
	calls := map[string]func() error{
		"producer ping": func() error { return p.Ping(ctx) },
		"consumer ping": func() error { return c.Ping(ctx) },
	}
	if publish {
		calls["publish"] = func() error { return p.Publish(ctx, "things", "k", []byte("v"), nil) }
	}
	for what, call := range calls {
		err := call()
		switch {
		case err == nil:
			t.Errorf("%s succeeded with wrong credentials", what)
		case ctx.Err() != nil:
			t.Fatalf("%s hung until the deadline (%v) instead of failing", what, err)
		case !errors.Is(err, kerr.SaslAuthenticationFailed) && !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "EOF"):
			t.Errorf("%s: %v, want SASL_AUTHENTICATION_FAILED (or kfake's EOF)", what, err)
		case strings.Contains(err.Error(), password):
			t.Errorf("%s: the error shows the password: %v", what, err)
		}
	}
}

// testCA is a certificate authority and a broker certificate it signed, for a broker
// known as kafka.test only: dialled at 127.0.0.1, it verifies only with a server name.
type testCA struct {
	caFile string     // the CA certificate, PEM
	server tls.Config // the broker's listener
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test cluster CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kafka.test"}, DNSNames: []string{"kafka.test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return testCA{
		caFile: caFile,
		server: tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}}},
	}
}

// TestTLS: against a TLS listener, a client that trusts the cluster's CA (from a PEM
// file, as Strimzi's <cluster>-cluster-ca-cert Secret provides it) connects, with SCRAM
// on top; one that does not trust it, or checks the wrong name, fails.
func TestTLS(t *testing.T) {
	ca := newTestCA(t)
	brokers := kafka(t, []string{"things", "things.dlq"}, kfake.TLS(&ca.server),
		kfake.EnableSASL(), kfake.User("SCRAM-SHA-512", "instant-posts", password))
	conn := events.Conn{Brokers: brokers, SASLMechanism: events.SASLScramSHA512, SASLUsername: "instant-posts", SASLPassword: password,
		TLS: true, TLSCAFile: ca.caFile, TLSServerName: "kafka.test"}

	t.Run("ca_file_and_server_name_publish_and_consume", func(t *testing.T) {
		publishAndConsume(t, conn)
	})

	untrusted := map[string]func(*events.Conn){
		// The certificate names kafka.test; the client dialled 127.0.0.1.
		"without_server_name": func(c *events.Conn) { c.TLSServerName = "" },
		// The system's roots do not hold the test CA.
		"without_ca_file":   func(c *events.Conn) { c.TLSCAFile = "" },
		"wrong_server_name": func(c *events.Conn) { c.TLSServerName = "other.test" },
	}
	for name, mutate := range untrusted {
		t.Run(name+"_fails", func(t *testing.T) {
			c := conn
			mutate(&c)
			p, err := events.NewProducer(c, "p", logging.Discard(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), failWithin)
			defer cancel()
			err = p.Ping(ctx)
			var verr *tls.CertificateVerificationError
			switch {
			case err == nil:
				t.Fatal("connected to a broker whose certificate it should not trust")
			case ctx.Err() != nil:
				t.Fatalf("ping hung until the deadline (%v) instead of failing", err)
			case !errors.As(err, &verr):
				t.Errorf("ping: %v, want a certificate verification error", err)
			}
		})
	}

	t.Run("plaintext_client_fails", func(t *testing.T) {
		p, err := events.NewProducer(events.Conn{Brokers: brokers}, "p", logging.Discard(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		ctx, cancel := context.WithTimeout(context.Background(), failWithin)
		defer cancel()
		if err := p.Ping(ctx); err == nil {
			t.Fatal("a plaintext client talked to a TLS listener")
		}
	})
}

// TestTLSCAFileErrorsAtStart: a CA file that cannot be read, or holds no certificate,
// fails the constructors, so a service does not start with it.
func TestTLSCAFileErrorsAtStart(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct{ file, want string }{
		"missing": {filepath.Join(dir, "missing.crt"), "no such file"},
		"not_pem": {notPEM, "holds no PEM certificate"},
	} {
		t.Run(name, func(t *testing.T) {
			conn := events.Conn{Brokers: []string{"127.0.0.1:1"}, TLS: true, TLSCAFile: tt.file}
			if conn.Validate() != nil {
				t.Fatal("Validate reads no files: the constructors must catch this")
			}
			if p, err := events.NewProducer(conn, "p", logging.Discard(), nil); err == nil || !strings.Contains(err.Error(), tt.want) {
				if err == nil {
					p.Close()
				}
				t.Errorf("NewProducer: %v, want an error containing %q", err, tt.want)
			}
			c, err := events.NewConsumer(events.ConsumerConfig{Conn: conn, Group: "g", Topics: []string{"t"}, DLQTopic: "t.dlq"},
				func(context.Context, *kgo.Record) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				if err == nil {
					c.Close()
				}
				t.Errorf("NewConsumer: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
