package user

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the domain counters of sign-in: how many codes go out per purpose, how
// verifications end, and how many accounts and logins result.
type Metrics struct {
	codesRequested *prometheus.CounterVec
	verifications  *prometheus.CounterVec
	signups        prometheus.Counter
	logins         prometheus.Counter
}

// Verification results, the values of code_verifications_total's result label.
const (
	resultOK      = "ok"
	resultInvalid = "invalid"
	resultExpired = "expired"
)

// NewMetrics registers the counters in reg, every known label value at zero so that a
// rate over a quiet period reads 0 rather than no data.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		codesRequested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "codes_requested_total", Help: "One-time codes issued and sent, by purpose.",
		}, []string{"purpose"}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "code_verifications_total", Help: "One-time code verifications, by result (ok, invalid, expired).",
		}, []string{"result"}),
		signups: prometheus.NewCounter(prometheus.CounterOpts{Name: "signups_total", Help: "Accounts created."}),
		logins:  prometheus.NewCounter(prometheus.CounterOpts{Name: "logins_total", Help: "Sign-ins to existing accounts."}),
	}
	for _, c := range []prometheus.Collector{m.codesRequested, m.verifications, m.signups, m.logins} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register auth metrics: %w", err)
		}
	}
	for _, p := range []Purpose{PurposeLogin, PurposeDeleteAccount, PurposeChangeEmail} {
		m.codesRequested.WithLabelValues(string(p))
	}
	for _, r := range []string{resultOK, resultInvalid, resultExpired} {
		m.verifications.WithLabelValues(r)
	}
	return m, nil
}

// verified counts the outcome of a code check; other errors (a store down) are no verdict.
func (m *Metrics) verified(err error) {
	switch {
	case err == nil:
		m.verifications.WithLabelValues(resultOK).Inc()
	case errors.Is(err, ErrInvalidCode):
		m.verifications.WithLabelValues(resultInvalid).Inc()
	case errors.Is(err, ErrCodeExpired):
		m.verifications.WithLabelValues(resultExpired).Inc()
	}
}
