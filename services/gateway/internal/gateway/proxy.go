package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"instant/platform/discovery"
	"instant/platform/web"
)

type upstreamKey struct{}

// upstream is what the proxy needs to know about the request it forwards.
type upstream struct {
	service string
	addr    string
	trace   web.Trace
	client  string // client IP for X-Forwarded-For
}

func withUpstream(ctx context.Context, u *upstream) context.Context {
	return context.WithValue(ctx, upstreamKey{}, u)
}

func upstreamFrom(ctx context.Context) *upstream {
	u, _ := ctx.Value(upstreamKey{}).(*upstream)
	return u
}

// newTransport is the one transport every upstream shares: keep-alive connections sized
// for the request rate (a new connection per request would cost a handshake each), bounded
// dial and response-header waits so a dead instance fails fast.
func newTransport(maxIdle int, responseTimeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          maxIdle,
		MaxIdleConnsPerHost:   maxIdle,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: responseTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}

// retryTransport retries an idempotent request once on another instance when the
// connection to the first could not be made or was refused: the upstream never saw the
// request, so a retry cannot apply it twice. Requests with a body that cannot be replayed
// are not retried.
type retryTransport struct {
	base    http.RoundTripper
	bal     *discovery.Balancer
	retries prometheus.Counter
}

func (t retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err == nil || !idempotent(req.Method) || !connectFailed(err) {
		return resp, err
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return resp, err
	}
	u := upstreamFrom(req.Context())
	if u == nil {
		return resp, err
	}
	next, nerr := t.bal.Next(u.service, req.URL.Host)
	if nerr != nil {
		return resp, err
	}
	r2 := req.Clone(req.Context())
	r2.URL.Host = next
	if req.GetBody != nil {
		body, berr := req.GetBody()
		if berr != nil {
			return resp, err
		}
		r2.Body = body
	}
	t.retries.Inc()
	return t.base.RoundTrip(r2)
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

func connectFailed(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// bufferPool lends the proxy its copy buffers, so a response does not allocate 32 KiB.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}
func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(v []byte) { b.p.Put(&v) }

// newProxy builds the single reverse proxy of the gateway. Instance choice happens before
// it (so "no instance" is a clean 503); Rewrite only aims the request and sets the
// forwarding headers.
func newProxy(transport http.RoundTripper, log *slog.Logger, upstreamErrors *prometheus.CounterVec) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			u := upstreamFrom(pr.In.Context())
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = u.addr
			pr.Out.Host = ""
			pr.Out.Header.Set("X-Forwarded-For", u.client)
			pr.Out.Header.Set("X-Forwarded-Host", pr.In.Host)
			proto := "http"
			if pr.In.TLS != nil {
				proto = "https"
			}
			pr.Out.Header.Set("X-Forwarded-Proto", proto)
			pr.Out.Header.Set(web.HeaderTraceparent, u.trace.Child().Header())
		},
		Transport:  transport,
		BufferPool: newBufferPool(),
		ModifyResponse: func(resp *http.Response) error {
			// The gateway is the only place CORS headers are set, and identity headers
			// never travel back to clients.
			h := resp.Header
			for k := range h {
				if len(k) > 13 && k[:13] == "Access-Contro" {
					h.Del(k)
				}
			}
			h.Del("X-Instant-Identity")
			// The gateway answered the client with its own request id and trace context
			// before proxying; the upstream's copies (the same request id, a child span)
			// would be added beside them as second values.
			h.Del(web.HeaderRequestID)
			h.Del(web.HeaderTraceparent)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			u := upstreamFrom(r.Context())
			var mbe *http.MaxBytesError
			var e *web.Error
			kind := "bad_gateway"
			switch {
			case errors.As(err, &mbe):
				kind = "body_too_large"
				e = &web.Error{Status: 413, Code: "body_too_large", Message: "request body too large"}
			case errors.Is(r.Context().Err(), context.Canceled):
				// The client went away; nobody reads an answer.
				upstreamErrors.WithLabelValues(u.service, "client_gone").Inc()
				return
			case isTimeout(err):
				kind = "timeout"
				e = &web.Error{Status: 504, Code: "upstream_timeout", Message: u.service + " did not answer in time"}
			case connectFailed(err):
				kind = "unreachable"
				e = &web.Error{Status: 503, Code: "upstream_unavailable", Message: u.service + " is unavailable"}
			default:
				e = &web.Error{Status: 502, Code: "bad_gateway", Message: u.service + " failed to answer"}
			}
			upstreamErrors.WithLabelValues(u.service, kind).Inc()
			log.WarnContext(r.Context(), "upstream failed", "service", u.service, "kind", kind, "err", err)
			web.WriteError(w, r, e)
		},
	}
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
