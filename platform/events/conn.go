package events

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// The SASL mechanisms a [Conn] signs in with. Strimzi's KafkaUsers use SCRAM-SHA-512.
const (
	SASLScramSHA512 = "SCRAM-SHA-512"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLPlain       = "PLAIN"
)

// Conn is how a client reaches the brokers and proves who it is: the settings a
// process's producers and consumers share. Apart from Brokers, the zero value is a
// plaintext connection without authentication.
//
// The password never leaves through the Conn: String, GoString and LogValue print it
// as "***", and no error message carries it. platform/service.Kafka, the environment
// form of these settings, has the same fields in the same order and converts to a Conn.
type Conn struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string
	// SASLMechanism is empty (no authentication), SCRAM-SHA-512, SCRAM-SHA-256 or
	// PLAIN (any case). A mechanism needs SASLUsername and SASLPassword. PLAIN sends the
	// password as it is: use it over TLS only.
	SASLMechanism string
	SASLUsername  string
	SASLPassword  string
	// TLS encrypts every connection and verifies the brokers' certificates against the
	// PEM certificates in TLSCAFile, or the system's roots when it is empty. A broker's
	// certificate must name the host the client dialled, unless TLSServerName names
	// what the certificates carry instead.
	TLS           bool
	TLSCAFile     string
	TLSServerName string
}

// mechanism is SASLMechanism, normalised.
func (c Conn) mechanism() string { return strings.ToUpper(strings.TrimSpace(c.SASLMechanism)) }

// Validate checks the settings without touching the network or the file system;
// [NewProducer] and [NewConsumer] also read the CA file, so a missing one fails at start.
func (c Conn) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no brokers"))
	}
	switch c.mechanism() {
	case "":
		if c.SASLUsername != "" || c.SASLPassword != "" {
			errs = append(errs, errors.New("a SASL username or password without a SASL mechanism"))
		}
	case SASLScramSHA512, SASLScramSHA256, SASLPlain:
		if c.SASLUsername == "" || c.SASLPassword == "" {
			errs = append(errs, fmt.Errorf("SASL %s needs a username and a password", c.mechanism()))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown SASL mechanism %q: want %s, %s or %s",
			c.SASLMechanism, SASLScramSHA512, SASLScramSHA256, SASLPlain))
	}
	if !c.TLS && (c.TLSCAFile != "" || c.TLSServerName != "") {
		errs = append(errs, errors.New("a TLS CA file or server name, but TLS is off"))
	}
	return errors.Join(errs...)
}

// options turns the settings into the client options every client of this package
// starts with. It reads the CA file, so an unreadable one is an error here, at start,
// rather than a failing dial later.
func (c Conn) options() ([]kgo.Opt, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...)}
	switch c.mechanism() {
	case SASLScramSHA512:
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsSha512Mechanism()))
	case SASLScramSHA256:
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsSha256Mechanism()))
	case SASLPlain:
		opts = append(opts, kgo.SASL(plain.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsMechanism()))
	}
	if c.TLS {
		cfg, err := c.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	return opts, nil
}

// tlsConfig is the dialer's TLS configuration. franz-go clones it per dial and, when
// ServerName is empty, verifies each broker against the host it dials.
func (c Conn) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLSServerName}
	if c.TLSCAFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(c.TLSCAFile)
	if err != nil {
		return nil, fmt.Errorf("TLS CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("TLS CA file %s holds no PEM certificate", c.TLSCAFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// String describes the connection with the password masked.
func (c Conn) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "brokers=%s", strings.Join(c.Brokers, ","))
	if m := c.mechanism(); m != "" {
		fmt.Fprintf(&b, " sasl=%s user=%s password=%s", m, c.SASLUsername, mask(c.SASLPassword))
	}
	if c.TLS {
		b.WriteString(" tls=true")
		if c.TLSCAFile != "" {
			fmt.Fprintf(&b, " ca=%s", c.TLSCAFile)
		}
		if c.TLSServerName != "" {
			fmt.Fprintf(&b, " server_name=%s", c.TLSServerName)
		}
	}
	return b.String()
}

// GoString keeps %#v from printing the fields, the password among them.
func (c Conn) GoString() string { return "events.Conn{" + c.String() + "}" }

// LogValue logs the connection with the password masked.
func (c Conn) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("brokers", strings.Join(c.Brokers, ",")),
		slog.String("sasl_mechanism", c.mechanism()),
		slog.String("sasl_username", c.SASLUsername),
		slog.String("sasl_password", mask(c.SASLPassword)),
		slog.Bool("tls", c.TLS),
		slog.String("tls_ca_file", c.TLSCAFile),
		slog.String("tls_server_name", c.TLSServerName),
	)
}

func mask(s string) string {
	if s == "" {
		return ""
	}
	return "***"
}
