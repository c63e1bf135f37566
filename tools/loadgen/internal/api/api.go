// Package api is the load generator's client of instant: the handful of calls a user
// makes (sign in with a mailed code, upload a photo, post, like, comment, follow, read
// timelines), each timed and recorded under its route pattern.
//
// Latency is measured from the intended send time: the first request of an operation is
// timed from when the schedule wanted the operation to start, not from when a worker got
// to it, so a stalled server cannot hide its stall by slowing the generator down
// (coordinated omission). Each later request of the same operation depends on the answer
// before it, so its intended send time is when that answer arrived.
package api

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
	"regexp"
	"strconv"
	"sync"
	"time"
)

// Route patterns, the names requests are reported under.
const (
	EPRequestCode = "POST /auth/request-code"
	EPVerifyCode  = "POST /auth/verify-code"
	EPUploadURL   = "POST /api/files/upload-url"
	EPStoragePut  = "PUT <presigned upload url>"
	EPCreatePost  = "POST /api/posts"
	EPLike        = "PUT /api/posts/{id}/like"
	EPComment     = "POST /api/posts/{id}/comments"
	EPFollow      = "PUT /api/users/{id}/follow"
	EPHomeFeed    = "GET /api/feed"
	EPUserPosts   = "GET /api/users/{id}/posts"
)

// Recorder receives one sample per request.
type Recorder interface {
	Record(endpoint string, status int, err error, latency time.Duration, done time.Time)
}

// Op is one operation of a workload. A nil *Op records nothing (seeding).
type Op struct {
	rec      Recorder
	intended time.Time
}

// NewOp starts an operation that was meant to begin at intended.
func NewOp(rec Recorder, intended time.Time) *Op { return &Op{rec: rec, intended: intended} }

// begin is the intended send time of the next request: the operation's intended start
// for its first request, now for the ones that follow an answer.
func (o *Op) begin() time.Time {
	now := time.Now()
	if o == nil || o.intended.IsZero() {
		return now
	}
	t := o.intended
	o.intended = time.Time{}
	return t
}

func (o *Op) record(endpoint string, status int, err error, begin time.Time) {
	if o == nil || o.rec == nil {
		return
	}
	done := time.Now()
	o.rec.Record(endpoint, status, err, done.Sub(begin), done)
}

// StatusError is an answer with a status the call did not expect.
type StatusError struct {
	Endpoint   string
	Status     int
	RetryAfter time.Duration
	Body       string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: status %d: %s", e.Endpoint, e.Status, e.Body)
}

// IsStatus reports whether err is an answer with the given status.
func IsStatus(err error, status int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == status
}

// Session is a signed-in user.
type Session struct {
	Email     string `json:"email"`
	Username  string `json:"username"`
	UserID    string `json:"user_id"`
	SessionID string `json:"session_id"`
}

// Inbox APIs the sign-in codes can be read from.
const (
	// InboxDevstack is make run's web inbox: GET /api/messages/latest?to=<address>.
	InboxDevstack = "devstack"
	// InboxMailpit is Mailpit's REST API (the charts' dev SMTP sink):
	// GET /api/v1/search?query=to:"<address>", newest message first.
	InboxMailpit = "mailpit"
)

// Options configure a Client.
type Options struct {
	Base     string // the gateway (or the cluster's public entry)
	Inbox    string // the dev SMTP sink's HTTP API
	InboxAPI string // InboxDevstack (the default) or InboxMailpit
	// Conns bounds the idle connections kept per host; it should match the concurrency.
	Conns int
	// StorageConnectTo, when set, is the host:port every storage request (the presigned
	// upload) connects to, whatever host the URL names. Presigned URLs name the store as
	// clients outside a cluster reach it, and the host is part of the signature, so a
	// generator inside the cluster keeps the URL and dials the store's Service instead.
	StorageConnectTo string
}

// Client talks to the gateway and the web inbox.
type Client struct {
	base     string
	inbox    string
	inboxAPI string
	http     *http.Client
	storage  *http.Client

	mu       sync.Mutex
	lastCode map[string]string // the code last read per address: never read twice
}

// New returns a client of the gateway.
func New(o Options) (*Client, error) {
	switch o.InboxAPI {
	case "":
		o.InboxAPI = InboxDevstack
	case InboxDevstack, InboxMailpit:
	default:
		return nil, fmt.Errorf("unknown inbox API %q (want %s or %s)", o.InboxAPI, InboxDevstack, InboxMailpit)
	}
	newClient := func(tr *http.Transport) *http.Client {
		return &http.Client{
			Transport: tr,
			Timeout:   30 * time.Second,
			// A post's image_url redirects to storage; the generator never follows.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 0
	tr.MaxIdleConnsPerHost = max(o.Conns, 2)
	c := &Client{base: o.Base, inbox: o.Inbox, inboxAPI: o.InboxAPI, http: newClient(tr), storage: newClient(tr),
		lastCode: map[string]string{}}
	if o.StorageConnectTo != "" {
		if _, _, err := net.SplitHostPort(o.StorageConnectTo); err != nil {
			return nil, fmt.Errorf("storage connect-to address %q: %w", o.StorageConnectTo, err)
		}
		st := tr.Clone()
		var d net.Dialer
		st.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, o.StorageConnectTo)
		}
		c.storage = newClient(st)
	}
	return c, nil
}

// Close drops idle connections.
func (c *Client) Close() {
	c.http.CloseIdleConnections()
	c.storage.CloseIdleConnections()
}

type request struct {
	endpoint    string
	method      string
	url         string
	session     string
	json        any    // marshalled as the body when non-nil
	raw         []byte // sent as is with contentType when non-nil
	contentType string
	storage     bool // a presigned storage URL, not the gateway
	want        int  // expected status
	out         any  // decoded from the answer when non-nil
}

func (c *Client) do(ctx context.Context, op *Op, r request) error {
	var body io.Reader
	ct := r.contentType
	if r.json != nil {
		b, err := json.Marshal(r.json)
		if err != nil {
			return err
		}
		body, ct = bytes.NewReader(b), "application/json"
	} else if r.raw != nil {
		body = bytes.NewReader(r.raw)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if r.session != "" {
		req.Header.Set("Authorization", "Bearer "+r.session)
	}
	hc := c.http
	if r.storage {
		hc = c.storage
	}
	begin := op.begin()
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			// Cut off by the end of the run, not failed by the server: not a sample.
			return ctx.Err()
		}
		op.record(r.endpoint, 0, err, begin)
		return fmt.Errorf("%s: %w", r.endpoint, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		op.record(r.endpoint, 0, err, begin)
		return fmt.Errorf("%s: read answer: %w", r.endpoint, err)
	}
	op.record(r.endpoint, resp.StatusCode, nil, begin)
	if resp.StatusCode != r.want {
		se := &StatusError{Endpoint: r.endpoint, Status: resp.StatusCode, Body: string(truncate(b, 300))}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			se.RetryAfter = time.Duration(s) * time.Second
		}
		return se
	}
	if r.out != nil {
		if err := json.Unmarshal(b, r.out); err != nil {
			return fmt.Errorf("%s: decode answer: %w", r.endpoint, err)
		}
	}
	return nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// SignIn asks for a code, reads it from the inbox and verifies it. A new address becomes
// an account named username; an existing one just signs in (the name is then ignored).
func (c *Client) SignIn(ctx context.Context, op *Op, email, username string) (Session, error) {
	since := time.Now()
	err := c.do(ctx, op, request{endpoint: EPRequestCode, method: http.MethodPost, url: c.base + "/auth/request-code",
		json: map[string]string{"email": email}, want: http.StatusOK})
	if err != nil {
		return Session{}, err
	}
	code, err := c.readCode(ctx, email, since)
	if err != nil {
		return Session{}, err
	}
	var out struct {
		User struct {
			ID       string `json:"id"`
			Username string `json:"username"`
		} `json:"user"`
		SessionID string `json:"session_id"`
	}
	err = c.do(ctx, op, request{endpoint: EPVerifyCode, method: http.MethodPost, url: c.base + "/auth/verify-code",
		json: map[string]string{"email": email, "code": code, "username": username}, want: http.StatusOK, out: &out})
	if err != nil {
		return Session{}, err
	}
	if out.User.ID == "" || out.SessionID == "" {
		return Session{}, fmt.Errorf("%s: answer lacks user.id or session_id", EPVerifyCode)
	}
	return Session{Email: email, Username: out.User.Username, UserID: out.User.ID, SessionID: out.SessionID}, nil
}

// readCode polls the inbox for a code mailed to email at or after since, and never
// returns the code it returned last for that address (Mailpit's clock is not ours, so
// its messages are taken from a little before since; an older message must not pass).
func (c *Client) readCode(ctx context.Context, email string, since time.Time) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	latest := c.devstackCode
	if c.inboxAPI == InboxMailpit {
		latest = c.mailpitCode
		since = since.Add(-clockSkew)
	}
	for {
		code, at, err := latest(ctx, email)
		if err == nil && code != "" && !at.Before(since) {
			c.mu.Lock()
			fresh := c.lastCode[email] != code
			if fresh {
				c.lastCode[email] = code
			}
			c.mu.Unlock()
			if fresh {
				return code, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no sign-in code for %s in the inbox at %s: %w", email, c.inbox, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// clockSkew is how far the inbox's clock may be behind the generator's.
const clockSkew = 2 * time.Second

// devstackCode reads the newest message to email from make run's inbox, which finds the
// code itself.
func (c *Client) devstackCode(ctx context.Context, email string) (string, time.Time, error) {
	var msg struct {
		ReceivedAt time.Time `json:"received_at"`
		Code       string    `json:"code"`
	}
	err := c.getJSON(ctx, c.inbox+"/api/messages/latest?to="+url.QueryEscape(email), &msg)
	return msg.Code, msg.ReceivedAt, err
}

// codePattern finds a sign-in code: six digits on their own.
var codePattern = regexp.MustCompile(`\b\d{6}\b`)

// mailpitCode reads the newest message to email from Mailpit's search API. The code is
// in the subject ("123456 is your instant sign-in code"), else in the text snippet.
func (c *Client) mailpitCode(ctx context.Context, email string) (string, time.Time, error) {
	var out struct {
		Messages []struct {
			Created time.Time `json:"Created"`
			Subject string    `json:"Subject"`
			Snippet string    `json:"Snippet"`
		} `json:"messages"`
	}
	q := url.Values{"query": {`to:"` + email + `"`}, "limit": {"1"}}
	if err := c.getJSON(ctx, c.inbox+"/api/v1/search?"+q.Encode(), &out); err != nil || len(out.Messages) == 0 {
		return "", time.Time{}, err
	}
	m := out.Messages[0]
	code := codePattern.FindString(m.Subject)
	if code == "" {
		code = codePattern.FindString(m.Snippet)
	}
	return code, m.Created, nil
}

func (c *Client) getJSON(ctx context.Context, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("inbox answered %s", resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// SessionValid reports whether the session still signs its user in.
func (c *Client) SessionValid(ctx context.Context, s Session) (bool, error) {
	err := c.do(ctx, nil, request{endpoint: "GET /auth/me", method: http.MethodGet, url: c.base + "/auth/me",
		session: s.SessionID, want: http.StatusOK})
	if IsStatus(err, http.StatusUnauthorized) {
		return false, nil
	}
	return err == nil, err
}

// UserExists reports whether the account id exists.
func (c *Client) UserExists(ctx context.Context, id string) (bool, error) {
	err := c.do(ctx, nil, request{endpoint: "GET /api/users/{id}", method: http.MethodGet,
		url: c.base + "/api/users/" + url.PathEscape(id), want: http.StatusOK})
	if IsStatus(err, http.StatusNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Upload puts a JPEG into storage through a presigned URL and returns its file key.
func (c *Client) Upload(ctx context.Context, op *Op, s Session, jpeg []byte) (string, error) {
	var out struct {
		UploadURL string `json:"upload_url"`
		FileKey   string `json:"file_key"`
	}
	err := c.do(ctx, op, request{endpoint: EPUploadURL, method: http.MethodPost, url: c.base + "/api/files/upload-url",
		session: s.SessionID, json: map[string]string{"filename": "photo.jpg", "content_type": "image/jpeg"},
		want: http.StatusOK, out: &out})
	if err != nil {
		return "", err
	}
	err = c.do(ctx, op, request{endpoint: EPStoragePut, method: http.MethodPut, url: out.UploadURL,
		raw: jpeg, contentType: "image/jpeg", storage: true, want: http.StatusOK})
	return out.FileKey, err
}

// CreatePost posts an uploaded image and returns the post id.
func (c *Client) CreatePost(ctx context.Context, op *Op, s Session, caption, fileKey string) (string, error) {
	var out struct {
		Data struct {
			PostID string `json:"post_id"`
		} `json:"data"`
	}
	err := c.do(ctx, op, request{endpoint: EPCreatePost, method: http.MethodPost, url: c.base + "/api/posts",
		session: s.SessionID, json: map[string]string{"caption": caption, "image_key": fileKey},
		want: http.StatusCreated, out: &out})
	if err == nil && out.Data.PostID == "" {
		err = fmt.Errorf("%s: answer lacks data.post_id", EPCreatePost)
	}
	return out.Data.PostID, err
}

// Like likes a post (idempotent).
func (c *Client) Like(ctx context.Context, op *Op, s Session, postID string) error {
	return c.do(ctx, op, request{endpoint: EPLike, method: http.MethodPut,
		url: c.base + "/api/posts/" + url.PathEscape(postID) + "/like", session: s.SessionID, want: http.StatusOK})
}

// Comment comments on a post.
func (c *Client) Comment(ctx context.Context, op *Op, s Session, postID, body string) error {
	return c.do(ctx, op, request{endpoint: EPComment, method: http.MethodPost,
		url: c.base + "/api/posts/" + url.PathEscape(postID) + "/comments", session: s.SessionID,
		json: map[string]string{"body": body}, want: http.StatusCreated})
}

// Follow follows a user (idempotent).
func (c *Client) Follow(ctx context.Context, op *Op, s Session, userID string) error {
	return c.do(ctx, op, request{endpoint: EPFollow, method: http.MethodPut,
		url: c.base + "/api/users/" + url.PathEscape(userID) + "/follow", session: s.SessionID, want: http.StatusOK})
}

// HomeFeed reads the first page of the viewer's home timeline.
func (c *Client) HomeFeed(ctx context.Context, op *Op, s Session) error {
	return c.do(ctx, op, request{endpoint: EPHomeFeed, method: http.MethodGet, url: c.base + "/api/feed",
		session: s.SessionID, want: http.StatusOK})
}

// UserPosts reads the first page (20 posts) of a user's timeline.
func (c *Client) UserPosts(ctx context.Context, op *Op, s Session, userID string) error {
	return c.do(ctx, op, request{endpoint: EPUserPosts, method: http.MethodGet,
		url: c.base + "/api/users/" + url.PathEscape(userID) + "/posts?limit=20", session: s.SessionID, want: http.StatusOK})
}
