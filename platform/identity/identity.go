// Package identity carries the signed-in user from the gateway to the services.
//
// The gateway resolves the session and injects two headers: X-User-ID (informational)
// and X-Instant-Identity, an HMAC-SHA256 over the user id and an expiry with a secret
// shared by the gateway and the services. A service trusts only the signed header: a
// request that reaches it without a valid signature is anonymous, whether it came through
// a port-forward, a compromised pod or a client that forged X-User-ID.
package identity

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names. Clients must never be able to set either: the gateway strips both.
const (
	HeaderUserID    = "X-User-ID"
	HeaderSignature = "X-Instant-Identity"
)

// MinSecretLen is the shortest accepted HMAC key (256 bits).
const MinSecretLen = 32

// DefaultTTL bounds how long a signed identity stays valid: long enough for one request
// and its retries, too short for a captured header to be worth replaying.
const DefaultTTL = 2 * time.Minute

// Errors from Verify.
var (
	ErrMissing   = errors.New("identity: missing")
	ErrMalformed = errors.New("identity: malformed")
	ErrSignature = errors.New("identity: bad signature")
	ErrExpired   = errors.New("identity: expired")
)

// Signer signs and verifies identities with one shared secret.
type Signer struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

// NewSigner returns a Signer; the secret must be at least MinSecretLen bytes.
func NewSigner(secret string) (*Signer, error) {
	if len(secret) < MinSecretLen {
		return nil, errors.New("identity: secret must be at least 32 bytes")
	}
	return &Signer{key: []byte(secret), ttl: DefaultTTL, now: time.Now}, nil
}

// Sign returns the header value for userID: "v1.<user>.<unix expiry>.<base64url mac>".
func (s *Signer) Sign(userID string) string {
	exp := strconv.FormatInt(s.now().Add(s.ttl).Unix(), 10)
	return "v1." + userID + "." + exp + "." + s.mac(userID, exp)
}

func (s *Signer) mac(userID, exp string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("v1|"))
	m.Write([]byte(userID))
	m.Write([]byte("|"))
	m.Write([]byte(exp))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Verify checks a header value and returns the user id it vouches for.
func (s *Signer) Verify(v string) (string, error) {
	if v == "" {
		return "", ErrMissing
	}
	parts := strings.Split(v, ".")
	if len(parts) != 4 || parts[0] != "v1" || parts[1] == "" {
		return "", ErrMalformed
	}
	user, exp, sig := parts[1], parts[2], parts[3]
	if !hmac.Equal([]byte(sig), []byte(s.mac(user, exp))) {
		return "", ErrSignature
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return "", ErrMalformed
	}
	if s.now().Unix() > unix {
		return "", ErrExpired
	}
	return user, nil
}

type ctxKey struct{}

// WithUser returns a context that carries a verified user id.
func WithUser(ctx context.Context, userID string) context.Context {
	return context.WithValue(ctx, ctxKey{}, userID)
}

// UserID returns the verified user id of the request, if any.
func UserID(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(ctxKey{}).(string)
	return id, ok && id != ""
}

// Middleware verifies the signed identity and puts the user id in the context. A missing
// or invalid signature leaves the request anonymous; it never fails the request, because
// public routes must still answer. X-User-ID alone is never believed.
func (s *Signer) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, err := s.Verify(r.Header.Get(HeaderSignature)); err == nil {
			r = r.WithContext(WithUser(r.Context(), user))
		}
		next.ServeHTTP(w, r)
	})
}
