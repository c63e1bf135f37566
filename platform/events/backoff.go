package events

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// backoff returns the wait before retry number attempt (0-based): exponential from base,
// capped at ceiling, with full jitter (a uniform draw below the exponential value) so
// that consumers failing on the same outage do not retry in lockstep.
func backoff(base, ceiling time.Duration, attempt int) time.Duration {
	d := ceiling
	if attempt < 32 {
		if e := base << attempt; e > 0 && e < ceiling {
			d = e
		}
	}
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// sleep waits d or until ctx is done, and reports whether the full wait elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// kgoLogger sends franz-go's own warnings and errors (broker connection failures, group
// errors) to slog. franz-go never logs record keys or values.
type kgoLogger struct{ log *slog.Logger }

func (kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	switch level {
	case kgo.LogLevelError:
		l.log.Error(msg, keyvals...)
	case kgo.LogLevelWarn:
		l.log.Warn(msg, keyvals...)
	case kgo.LogLevelInfo:
		l.log.Info(msg, keyvals...)
	default:
		l.log.Debug(msg, keyvals...)
	}
}

func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
