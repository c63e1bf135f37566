// Package client calls other services' internal routes: the few places where a
// synchronous answer is unavoidable (does this post exist, who owns this file). It finds
// instances through discovery, carries the request id, trace and the caller's signed
// identity along, and turns failures into two errors a handler can map: ErrNotFound and
// ErrUnavailable.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"instant/platform/discovery"
	"instant/platform/identity"
	"instant/platform/logging"
	"instant/platform/web"
)

// Errors a call returns; anything else is a bug on one side (a 4xx the caller did not
// expect), wrapped in *StatusError.
var (
	ErrNotFound    = errors.New("client: not found")
	ErrUnavailable = errors.New("client: service unavailable")
)

// StatusError is an unexpected answer.
type StatusError struct {
	Service string
	Status  int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("client: %s answered %d", e.Service, e.Status)
}

// Client calls one service.
type Client struct {
	service string
	bal     *discovery.Balancer
	signer  *identity.Signer
	http    *http.Client
}

// New returns a client for service. Timeout bounds each call; keep it well below the
// caller's own request timeout.
func New(service string, r discovery.Resolver, signer *identity.Signer, timeout time.Duration) *Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        128,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     90 * time.Second,
	}
	return &Client{service: service, bal: discovery.NewBalancer(r), signer: signer,
		http: &http.Client{Transport: tr, Timeout: timeout}}
}

// GetJSON calls GET path (with query) and decodes a 200 answer into out. The identity of
// the user in ctx, if any, is signed onto the call.
func (c *Client) GetJSON(ctx context.Context, path string, query url.Values, out any) error {
	return c.call(ctx, http.MethodGet, path, query, nil, out)
}

// PostJSON calls POST path with in as its JSON body and decodes a 200 answer into out,
// like GetJSON. A POST is never retried on another instance: it may have been applied.
func (c *Client) PostJSON(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return c.call(ctx, http.MethodPost, path, nil, b, out)
}

func (c *Client) call(ctx context.Context, method, path string, query url.Values, body []byte, out any) error {
	addr, err := c.bal.Pick(c.service)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, c.service, err)
	}
	u := url.URL{Scheme: "http", Host: addr, Path: path, RawQuery: query.Encode()}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r, ok := logging.RequestFrom(ctx); ok {
		req.Header.Set(web.HeaderRequestID, r.ID)
		if r.TraceID != "" {
			req.Header.Set(web.HeaderTraceparent, web.Trace{TraceID: r.TraceID, Flags: "01"}.Child().Header())
		}
	}
	if user, ok := identity.UserID(ctx); ok && c.signer != nil {
		req.Header.Set(identity.HeaderUserID, user)
		req.Header.Set(identity.HeaderSignature, c.signer.Sign(user))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, c.service, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
			return fmt.Errorf("client: %s: decode: %w", c.service, err)
		}
		return nil
	case resp.StatusCode == http.StatusNotFound:
		return ErrNotFound
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests:
		// A failing dependency is unavailable to the caller, whatever the reason inside
		// it: the caller answers 503 (try later), not 500.
		return fmt.Errorf("%w: %s answered %d", ErrUnavailable, c.service, resp.StatusCode)
	default:
		return &StatusError{Service: c.service, Status: resp.StatusCode}
	}
}
