// Package gateway is instant's API gateway: one entry point that identifies the caller,
// limits, and routes each request by a route table to an instance of the owning service.
package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"instant/platform/discovery"
	"instant/platform/identity"
	"instant/platform/service"
	"instant/platform/session"
	"instant/platform/web"
	"instant/services/gateway/internal/apidoc"
	"instant/services/gateway/internal/config"
)

// Gateway holds the long-lived parts: Redis, discovery, the proxy and its transport.
type Gateway struct {
	cfg      config.Config
	proc     *service.Process
	rdb      *redis.Client
	sessions *session.Store
	limiter  *redis_rate.Limiter
	resolver discovery.Resolver
	bal      *discovery.Balancer
	signer   *identity.Signer
	proxy    *httputil.ReverseProxy
	trusted  []*net.IPNet
	origins  map[string]bool
	handler  http.Handler

	rateLimited *prometheus.CounterVec
	userLimit   gcra
	ipLimit     gcra
}

// New builds the gateway from its configuration. Routes are the route table to serve
// (Table() in production).
func New(ctx context.Context, cfg config.Config, proc *service.Process, routes []Route) (*Gateway, error) {
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	// Short timeouts: a Redis that does not answer must turn into a quick 503.
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = time.Second, 500*time.Millisecond, 500*time.Millisecond
	opt.PoolSize = 64
	opt.MinIdleConns = 8
	rdb := redis.NewClient(opt)

	signer, err := identity.NewSigner(cfg.IdentitySecret)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	resolver, err := cfg.Resolver(ctx, cfg.Base, Services(routes), proc.Log)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	g := &Gateway{
		cfg: cfg, proc: proc, rdb: rdb, signer: signer, resolver: resolver,
		limiter: redis_rate.NewLimiter(rdb),
		bal:     discovery.NewBalancer(resolver),
		origins: map[string]bool{},
	}
	// Resolving renews the idle timeout, so the gateway shares auth's idle setting; it
	// never creates sessions, so the lifetime argument is unused here.
	g.sessions = session.NewStore(rdb, cfg.SessionIdleTimeout, cfg.SessionIdleTimeout)
	g.userLimit = perSecond(cfg.RateUserPerSecond, cfg.RateUserPerSecond*cfg.RateLimitBurstMultiplier)
	g.ipLimit = perSecond(cfg.RateAnonymousIPPerSecond, cfg.RateAnonymousIPPerSecond*cfg.RateLimitBurstMultiplier)
	for _, o := range cfg.NormalizedOrigins() {
		g.origins[o] = true
	}
	for _, p := range cfg.TrustedProxies {
		if _, n, err := net.ParseCIDR(p); err == nil {
			g.trusted = append(g.trusted, n)
		} else if ip := net.ParseIP(p); ip != nil {
			bits := 32
			if ip.To4() == nil {
				bits = 128
			}
			g.trusted = append(g.trusted, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
		}
	}

	reg := proc.Registry
	upstreamErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_upstream_errors_total", Help: "Upstream failures by service and kind.",
	}, []string{"service", "kind"})
	retries := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gateway_upstream_retries_total", Help: "Idempotent requests retried on another instance after a connection failure.",
	})
	g.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_rate_limited_total", Help: "Requests refused with 429, by limit.",
	}, []string{"limit"})
	reg.MustRegister(upstreamErrors, retries, g.rateLimited)

	transport := retryTransport{base: newTransport(cfg.MaxIdleConns, cfg.UpstreamTimeout), bal: g.bal, retries: retries}
	g.proxy = newProxy(transport, proc.Log, upstreamErrors)

	proc.Health.Add("redis", func(ctx context.Context) error { return rdb.Ping(ctx).Err() })

	r := proc.Router(g.stripIdentity, g.cors)
	r.Get("/health", func(w http.ResponseWriter, _ *http.Request) {
		web.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Handle("/swagger", apidoc.Handler())
	r.Handle("/swagger/*", apidoc.Handler())
	for _, rt := range routes {
		h := g.route(rt)
		if len(rt.Methods) == 0 {
			r.Handle(rt.Pattern, h)
			continue
		}
		for _, m := range rt.Methods {
			r.Method(m, rt.Pattern, h)
		}
	}
	g.handler = r
	return g, nil
}

// Handler is the gateway's whole HTTP handler.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Close releases discovery and Redis.
func (g *Gateway) Close() error {
	return errors.Join(g.resolver.Close(), g.rdb.Close())
}

// stripIdentity removes every header a client could use to claim an identity. It runs
// on every request, before anything reads them.
func (g *Gateway) stripIdentity(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del(identity.HeaderUserID)
		r.Header.Del(identity.HeaderSignature)
		next.ServeHTTP(w, r)
	})
}

// cors answers preflights and marks responses for allowed origins. Only the gateway sets
// CORS headers; upstream ones are dropped by the proxy.
func (g *Gateway) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		allowed := g.origins[origin]
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if !allowed {
				web.WriteError(w, r, web.Forbidden("origin not allowed"))
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-ID, traceparent")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if allowed {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After")
		}
		next.ServeHTTP(w, r)
	})
}

// route returns the handler for one route table entry: session, Origin check, rate
// limits, body limit, identity injection, then the proxy.
func (g *Gateway) route(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		client := g.clientIP(r)

		cookie := ""
		if c, err := r.Cookie(session.CookieName); err == nil {
			cookie = c.Value
		}
		authz := r.Header.Get("Authorization")
		sid := session.FromRequestHeaders(authz, cookie)
		fromCookie := sid != "" && !strings.HasPrefix(authz, "Bearer ")
		// Hot path: one Redis round trip resolves the session and charges the limit.
		// The sign-in code routes are rare and carry their own per-address limits.
		user, limited := "", time.Duration(0)
		if rt.Limit == LimitAuthCode {
			if sid != "" {
				s, err := g.sessions.Resolve(ctx, sid)
				switch {
				case err == nil:
					user = s.UserID
				case errors.Is(err, session.ErrNotFound):
				default:
					g.unavailable(w, r, "sessions", err)
					return
				}
			}
		} else {
			a, err := g.admit(ctx, sid, client)
			if err != nil {
				g.unavailable(w, r, "sessions", err)
				return
			}
			user = a.session.UserID
			if !a.allowed {
				limited = max(a.retryAfter, time.Second)
			}
		}
		if limited > 0 {
			name := "ip"
			if user != "" {
				name = "user"
			}
			g.tooMany(w, r, name, limited)
			return
		}
		if rt.Access == SignedIn && user == "" {
			web.WriteError(w, r, web.Unauthorized("sign in first"))
			return
		}
		// A browser sends the cookie on cross-site requests too; refuse writes that
		// come from a page the allowlist does not name (CSRF).
		if fromCookie && user != "" && unsafeMethod(r.Method) && !g.sameSiteRequest(r) {
			web.WriteError(w, r, web.Forbidden("cross-origin request refused"))
			return
		}
		if r.ContentLength > g.cfg.MaxBodyBytes {
			web.WriteError(w, r, &web.Error{Status: 413, Code: "body_too_large", Message: "request body too large"})
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes)
		}
		if rt.Limit == LimitAuthCode && !g.allowAuthCode(w, r, rt, client) {
			return
		}

		if user != "" {
			r.Header.Set(identity.HeaderUserID, user)
			r.Header.Set(identity.HeaderSignature, g.signer.Sign(user))
		}
		if !rt.Session {
			r.Header.Del("Authorization")
			dropSessionCookie(r)
		}
		addr, err := g.bal.Pick(rt.Service)
		if err != nil {
			g.proc.Log.WarnContext(ctx, "no instance", "service", rt.Service, "err", err)
			web.WriteError(w, r, &web.Error{Status: 503, Code: "upstream_unavailable", Message: rt.Service + " is unavailable"})
			return
		}
		tr, _ := web.ParseTraceparent(r.Header.Get(web.HeaderTraceparent))
		ctx = withUpstream(ctx, &upstream{service: rt.Service, addr: addr, trace: tr, client: client})
		g.proxy.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (g *Gateway) unavailable(w http.ResponseWriter, r *http.Request, what string, err error) {
	g.proc.Log.ErrorContext(r.Context(), "dependency unavailable", "dependency", what, "err", err)
	web.WriteError(w, r, &web.Error{Status: 503, Code: "unavailable", Message: "service temporarily unavailable, retry shortly", RetryAfter: 1})
}

// allowAuthCode applies the sign-in code routes' limits: per client IP, and per email
// address and route. It answers 429 or 503 itself and reports false.
func (g *Gateway) allowAuthCode(w http.ResponseWriter, r *http.Request, rt Route, client string) bool {
	type check struct {
		name  string
		key   string
		limit redis_rate.Limit
	}
	checks := []check{{"auth_ip", "auth:ip:" + client, redis_rate.PerMinute(g.cfg.RateAuthPerIPPerMinute)}}
	if email := peekEmail(r); email != "" {
		sum := sha256.Sum256([]byte(email))
		// One bucket per address and route: requesting and verifying codes are limited
		// separately so a user who mistypes a code can still ask again.
		checks = append(checks, check{"auth_email", "auth:email:" + rt.Pattern + ":" + hex.EncodeToString(sum[:16]),
			redis_rate.PerHour(g.cfg.RateAuthPerEmailPerHour)})
	}
	for _, c := range checks {
		res, err := g.limiter.Allow(r.Context(), c.key, c.limit)
		if err != nil {
			g.unavailable(w, r, "rate limiter", err)
			return false
		}
		if res.Allowed == 0 {
			g.tooMany(w, r, c.name, res.RetryAfter)
			return false
		}
	}
	return true
}

// tooMany answers 429 with Retry-After in whole seconds (at least one).
func (g *Gateway) tooMany(w http.ResponseWriter, r *http.Request, limit string, retry time.Duration) {
	g.rateLimited.WithLabelValues(limit).Inc()
	secs := max(int(math.Ceil(retry.Seconds())), 1)
	web.WriteError(w, r, &web.Error{Status: 429, Code: "rate_limited", Message: "too many requests, retry later", RetryAfter: secs})
}

// peekEmail reads the email field of a small JSON body and puts the body back, so the
// per-address limit applies before auth sees the request.
func peekEmail(r *http.Request) string {
	if r.Body == nil || r.Body == http.NoBody {
		return ""
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return ""
	}
	var v struct {
		Email string `json:"email"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(v.Email))
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// sameSiteRequest accepts a cookie-authenticated write when the browser says it came
// from an allowed origin or the gateway's own; non-browser clients send no Origin and no
// Sec-Fetch-Site and are accepted (they cannot be driven by another site).
func (g *Gateway) sameSiteRequest(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return r.Header.Get("Sec-Fetch-Site") != "cross-site"
	}
	if g.origins[origin] {
		return true
	}
	scheme := "http://"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https://"
	}
	return origin == scheme+r.Host
}

// dropSessionCookie removes the session cookie from the upstream request, keeping others.
func dropSessionCookie(r *http.Request) {
	cookies := r.Cookies()
	if len(cookies) == 0 {
		return
	}
	r.Header.Del("Cookie")
	for _, c := range cookies {
		if c.Name != session.CookieName {
			r.AddCookie(c)
		}
	}
}

// clientIP is the TCP peer, or — when the peer is a trusted proxy — the right-most
// X-Forwarded-For entry that is not itself a trusted proxy.
func (g *Gateway) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(g.trusted) == 0 || !g.isTrusted(host) {
		return host
	}
	parts := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(parts) - 1; i >= 0; i-- {
		ip := strings.TrimSpace(parts[i])
		if net.ParseIP(ip) == nil {
			break
		}
		if !g.isTrusted(ip) {
			return ip
		}
	}
	return host
}

func (g *Gateway) isTrusted(ip string) bool {
	p := net.ParseIP(ip)
	if p == nil {
		return false
	}
	for _, n := range g.trusted {
		if n.Contains(p) {
			return true
		}
	}
	return false
}
