package stack

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Message is one mail the embedded SMTP sink accepted, reduced to what a person or a
// test reads: who, what, when, the bodies, and the sign-in code when there is one.
type Message struct {
	ID         int64     `json:"id"`
	ReceivedAt time.Time `json:"received_at"`
	// EnvelopeFrom and EnvelopeTo are the SMTP envelope (MAIL FROM, RCPT TO): where the
	// mail was really delivered, whatever the headers claim.
	EnvelopeFrom string    `json:"envelope_from"`
	EnvelopeTo   []string  `json:"envelope_to"`
	From         string    `json:"from"`
	To           []string  `json:"to"`
	Subject      string    `json:"subject"`
	Date         time.Time `json:"date,omitzero"`
	Text         string    `json:"text,omitempty"`
	HTML         string    `json:"html,omitempty"`
	// Code is the first six-digit number in the subject or body: the one-time code of a
	// sign-in or account-deletion mail.
	Code string `json:"code,omitempty"`
}

// addressedTo reports whether the message went to addr, by envelope or by header.
func (m Message) addressedTo(addr string) bool {
	addr = normalizeAddress(addr)
	if addr == "" {
		return true
	}
	for _, list := range [][]string{m.EnvelopeTo, m.To} {
		for _, a := range list {
			if normalizeAddress(a) == addr {
				return true
			}
		}
	}
	return false
}

// Inbox keeps the most recent messages in memory and appends every message to a log
// file in the data directory, from which it reloads on start so the web inbox still
// shows yesterday's codes after a restart.
type Inbox struct {
	capacity int
	log      *slog.Logger

	mu      sync.Mutex
	msgs    []Message     // oldest first, at most capacity
	nextID  int64         // ID of the next message
	changed chan struct{} // closed and replaced on every new message
	file    *os.File      // nil: memory only
	onNew   func(Message)
}

// defaultInboxCapacity bounds memory however chatty a test run gets; the mail log keeps
// everything.
const defaultInboxCapacity = 500

// newInbox makes an inbox keeping capacity messages; a non-empty logPath is read back
// and then appended to.
func newInbox(capacity int, logPath string, log *slog.Logger) (*Inbox, error) {
	in := &Inbox{capacity: capacity, log: log, nextID: 1, changed: make(chan struct{})}
	if logPath == "" {
		return in, nil
	}
	if err := in.reload(logPath); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("stack: open mail log: %w", err)
	}
	in.file = f
	return in, nil
}

// reload reads the mail log written by earlier runs: one JSON message per line. A
// damaged tail (the machine died mid-write) ends the reload with a warning, not an error.
func (in *Inbox) reload(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stack: read mail log: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReader(f))
	for {
		var m Message
		if err := dec.Decode(&m); err != nil {
			if !errors.Is(err, io.EOF) {
				in.log.Warn("mail log has a damaged entry; older messages after it are not shown", "path", path, "err", err)
			}
			return nil
		}
		in.appendLocked(m)
		if m.ID >= in.nextID {
			in.nextID = m.ID + 1
		}
	}
}

func (in *Inbox) appendLocked(m Message) {
	in.msgs = append(in.msgs, m)
	if over := len(in.msgs) - in.capacity; over > 0 {
		in.msgs = slices.Delete(in.msgs, 0, over)
	}
}

// add stores a message, writes it to the mail log and wakes every WaitFor.
func (in *Inbox) add(m Message) Message {
	in.mu.Lock()
	m.ID = in.nextID
	in.nextID++
	in.appendLocked(m)
	if in.file != nil {
		if b, err := json.Marshal(m); err == nil {
			if _, err := in.file.Write(append(b, '\n')); err != nil {
				in.log.Warn("append to mail log", "err", err)
			}
		}
	}
	close(in.changed)
	in.changed = make(chan struct{})
	onNew := in.onNew
	in.mu.Unlock()
	if onNew != nil {
		onNew(m)
	}
	return m
}

// Messages returns every message kept, oldest first.
func (in *Inbox) Messages() []Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.msgs)
}

// Latest returns the newest message to the address (envelope or header recipient, case
// ignored); an empty address matches every message.
func (in *Inbox) Latest(to string) (Message, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for i := len(in.msgs) - 1; i >= 0; i-- {
		if in.msgs[i].addressedTo(to) {
			return in.msgs[i], true
		}
	}
	return Message{}, false
}

// WaitFor returns the first message to the address received at or after the given time,
// waiting for one to arrive until ctx ends. Taking the time before the action that sends
// the mail makes a test immune to codes left over from earlier steps.
func (in *Inbox) WaitFor(ctx context.Context, to string, after time.Time) (Message, error) {
	for {
		in.mu.Lock()
		for _, m := range in.msgs {
			if !m.ReceivedAt.Before(after) && m.addressedTo(to) {
				in.mu.Unlock()
				return m, nil
			}
		}
		changed := in.changed
		in.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return Message{}, fmt.Errorf("stack: no mail to %s since %s: %w", to, after.Format(time.RFC3339Nano), ctx.Err())
		}
	}
}

func (in *Inbox) close() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.file == nil {
		return nil
	}
	err := in.file.Close()
	in.file = nil
	if err != nil {
		return fmt.Errorf("stack: close mail log: %w", err)
	}
	return nil
}

// codePattern finds a one-time code: exactly six digits standing alone.
var codePattern = regexp.MustCompile(`\b[0-9]{6}\b`)

// htmlNoise is markup whose text is not the message: style and script blocks, tags.
// Colours like #123456 in a style block would otherwise pass for a code.
var htmlNoise = regexp.MustCompile(`(?is)<(style|script)\b.*?</(style|script)>|<[^>]*>`)

func findCode(subject, text, html string) string {
	for _, s := range []string{subject, text, htmlNoise.ReplaceAllString(html, " ")} {
		if c := codePattern.FindString(s); c != "" {
			return c
		}
	}
	return ""
}

// parseMessage reads an RFC 5322 message. A message that does not parse is still kept,
// its raw text as the body: a sink that drops mail hides exactly the bugs it is for.
func parseMessage(raw []byte) Message {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{Text: string(raw)}
	}
	var dec mime.WordDecoder
	header := func(k string) string {
		v := msg.Header.Get(k)
		if d, err := dec.DecodeHeader(v); err == nil {
			return d
		}
		return v
	}
	m := Message{From: header("From"), Subject: header("Subject")}
	for _, k := range []string{"To", "Cc"} {
		if list, err := msg.Header.AddressList(k); err == nil {
			for _, a := range list {
				m.To = append(m.To, a.Address)
			}
		}
	}
	if d, err := msg.Header.Date(); err == nil {
		m.Date = d
	}
	walkPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, &m, 0)
	m.Code = findCode(m.Subject, m.Text, m.HTML)
	return m
}

// walkPart collects the first text/plain and text/html bodies, descending into
// multipart/* containers (alternative inside mixed inside related, as mailers nest them).
func walkPart(contentType, encoding string, body io.Reader, m *Message, depth int) {
	const maxDepth = 8
	mediaType, params, err := mime.ParseMediaType(contentType)
	if contentType == "" || err != nil {
		mediaType = "text/plain"
	}
	if strings.HasPrefix(mediaType, "multipart/") && depth < maxDepth {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return
			}
			walkPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, m, depth+1)
		}
	}
	var r io.Reader = body
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		// The decoder skips the line breaks base64 bodies carry every 76 characters.
		r = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(r)
	if err != nil && len(b) == 0 {
		return
	}
	switch mediaType {
	case "text/plain":
		if m.Text == "" {
			m.Text = string(b)
		}
	case "text/html":
		if m.HTML == "" {
			m.HTML = string(b)
		}
	}
}

// normalizeAddress reduces "Alice <Alice@Example.com>" and " alice@example.com " to
// "alice@example.com", matching how the product normalises emails (trim + lowercase).
func normalizeAddress(s string) string {
	s = strings.TrimSpace(s)
	if a, err := mail.ParseAddress(s); err == nil {
		s = a.Address
	}
	return strings.ToLower(strings.Trim(s, "<>"))
}
