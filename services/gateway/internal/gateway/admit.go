package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"instant/platform/session"
)

// admitScript resolves a request's session and charges its rate limit in one Redis
// round trip — on the hot path the gateway otherwise pays two (a session GETEX and the
// limiter's script), and on a small machine every round trip is also a context switch.
//
// KEYS[1] the session key (session.Key), KEYS[2] the signed-in bucket, KEYS[3] the
// client-IP bucket. ARGV[1] the idle timeout in seconds, ARGV[2] "1" when the request
// carries a session id, ARGV[3..4] emission interval and burst tolerance of the
// signed-in limit, ARGV[5..6] those of the anonymous limit, all in microseconds.
//
// The limit is GCRA (generic cell rate algorithm): one stored number per bucket, the
// theoretical arrival time of the next request. A request is allowed when it comes no
// earlier than tolerance before that time; allowing it moves the time on by one
// interval. Returns {session value or "", allowed 0|1, retry-after µs}.
//
// The signed-in bucket is keyed by session: every key the script touches is one it was
// given, and an account can only open sessions at the pace the sign-in code limits allow.
// A request with an unknown session is charged to its IP, so inventing session ids buys
// no fresh buckets.
var admitScript = redis.NewScript(`
local value = ""
if ARGV[2] == "1" then
  value = redis.call("GET", KEYS[1])
  if value then
    redis.call("EXPIRE", KEYS[1], ARGV[1])
  else
    value = ""
  end
end
local key, interval, tolerance
if value ~= "" then
  key, interval, tolerance = KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4])
else
  key, interval, tolerance = KEYS[3], tonumber(ARGV[5]), tonumber(ARGV[6])
end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call("GET", key) or now)
if tat < now then tat = now end
local allow_at = tat + interval - tolerance
if now < allow_at then
  return {value, 0, allow_at - now}
end
local next_tat = tat + interval
redis.call("SET", key, string.format("%d", next_tat), "PX", math.floor((next_tat - now) / 1000) + 1)
return {value, 1, 0}
`)

// gcra is one limit in the script's terms.
type gcra struct {
	interval  int64 // µs between requests at the sustained rate
	tolerance int64 // µs of burst allowed ahead of it
}

// perSecond is a limit of rate requests per second with bursts of burst requests.
func perSecond(rate, burst int) gcra {
	interval := int64(time.Second/time.Microsecond) / int64(rate)
	return gcra{interval: interval, tolerance: interval * int64(burst)}
}

// admission is what the script decided.
type admission struct {
	session    session.Session // zero when anonymous
	signedIn   bool
	allowed    bool
	retryAfter time.Duration
}

// admit runs the script for a request with session id sid (possibly empty) from client.
func (g *Gateway) admit(ctx context.Context, sid, client string) (admission, error) {
	has := "0"
	sessKey, bucket := "session:none", "rl:s:none"
	if sid != "" && len(sid) <= 256 {
		has = "1"
		sessKey = session.Key(sid)
		bucket = "rl:s:" + sessKey[len("session:"):]
	}
	res, err := admitScript.Run(ctx, g.rdb, []string{sessKey, bucket, "rl:ip:" + client},
		int64(g.cfg.SessionIdleTimeout/time.Second), has,
		g.userLimit.interval, g.userLimit.tolerance, g.ipLimit.interval, g.ipLimit.tolerance).Slice()
	if err != nil {
		return admission{}, fmt.Errorf("admit: %w", err)
	}
	if len(res) != 3 {
		return admission{}, fmt.Errorf("admit: unexpected reply %v", res)
	}
	value, _ := res[0].(string)
	allowed, _ := res[1].(int64)
	retry, _ := res[2].(int64)
	a := admission{allowed: allowed == 1, retryAfter: time.Duration(retry) * time.Microsecond}
	if value != "" {
		if s, err := session.Decode(value, time.Now()); err == nil {
			a.session, a.signedIn = s, true
		}
	}
	return a, nil
}
