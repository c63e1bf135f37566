package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// child is one running service process.
type child struct {
	name         string
	httpAddr     string
	internalAddr string
	cmd          *exec.Cmd
	out          *lineWriter
	log          *slog.Logger

	// ready is set once /readyz answered; only then is an exit news worth an alarm
	// (before, Start reports it).
	ready atomic.Bool
	// done is closed when the process has exited and its output is drained; waitErr
	// and cmd.ProcessState are valid after that.
	done    chan struct{}
	waitErr error
}

// waitDelay bounds how long Wait keeps reading a dead service's output pipes, which a
// grandchild could hold open forever.
const waitDelay = 2 * time.Second

// startChild runs one service binary in its own process group with the given
// environment. Its own group, because a Ctrl-C in the terminal signals the whole
// foreground group: the services would all get SIGINT at once, while Stop wants to end
// them one by one, gateway first.
func startChild(procCtx context.Context, s *Stack, p plan, env []string, path string, width int) (*child, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("stack: service %s: no binary at %s; build the services first (make run does)", p.svc.Name, path)
		}
		return nil, fmt.Errorf("stack: service %s: %w", p.svc.Name, err)
	}
	cmd := exec.CommandContext(procCtx, path)
	cmd.Env = env
	cmd.Dir = s.workDir
	out := newLineWriter(s.out, p.svc.Name, width)
	// One writer for both streams: exec then copies them with one goroutine, so lines
	// never interleave mid-way.
	cmd.Stdout = out
	cmd.Stderr = out
	setProcAttrs(cmd)
	// procCtx ends only after Stop gave every service its grace period: what is left
	// then is killed, with everything it started.
	cmd.Cancel = func() error { return killGroup(cmd.Process) }
	cmd.WaitDelay = waitDelay
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("stack: start %s: %w", p.svc.Name, err)
	}
	c := &child{
		name:         p.svc.Name,
		httpAddr:     p.httpAddr,
		internalAddr: p.internalAddr,
		cmd:          cmd,
		out:          out,
		log:          s.log.With("service", p.svc.Name),
		done:         make(chan struct{}),
	}
	c.log.Info("service started", "pid", cmd.Process.Pid, "http_addr", p.httpAddr, "internal_addr", p.internalAddr)
	go c.wait(&s.stopping)
	return c, nil
}

func (c *child) wait(stopping *atomic.Bool) {
	c.waitErr = c.cmd.Wait()
	c.out.flush()
	if c.ready.Load() && !stopping.Load() {
		c.log.Error("service exited unexpectedly; the rest of the stack keeps running without it",
			"status", c.status(), "last_output", c.out.tail())
	}
	close(c.done)
}

// status describes how the process ended ("exit status 1", "signal: killed").
func (c *child) status() string {
	if c.cmd.ProcessState != nil {
		return c.cmd.ProcessState.String()
	}
	if c.waitErr != nil {
		return c.waitErr.Error()
	}
	return "unknown"
}

// waitReady polls GET /readyz until it answers 200, the process exits, or the timeout
// passes. The poll interval grows from a few milliseconds, so a fast service is seen
// ready at once and a slow one is not hammered.
func (c *child) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	url := "http://" + dialable(c.httpAddr) + "/readyz"
	delay := 10 * time.Millisecond
	timer := time.NewTimer(0)
	defer timer.Stop()
	last := "no answer yet"
	for {
		select {
		case <-c.done:
			return fmt.Errorf("stack: %s exited before it was ready (%s); its last output:\n%s",
				c.name, c.status(), indent(c.out.tail()))
		case <-ctx.Done():
			return fmt.Errorf("stack: %s not ready at %s (last probe: %s): %w; its last output:\n%s",
				c.name, url, last, ctx.Err(), indent(c.out.tail()))
		case <-timer.C:
		}
		ok, why := probe(ctx, client, url)
		if ok {
			c.ready.Store(true)
			return nil
		}
		last = why
		delay = min(delay*2, 500*time.Millisecond)
		timer.Reset(delay)
	}
}

func probe(ctx context.Context, client *http.Client, url string) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, resp.Status
	}
	return true, ""
}

// stop asks the service to end (SIGTERM to its group) and waits up to grace, or until
// ctx ends, before killing the group.
func (c *child) stop(ctx context.Context, grace time.Duration) error {
	select {
	case <-c.done:
		return nil
	default:
	}
	if err := terminate(c.cmd.Process); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.log.Warn("signal service", "err", err)
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.done:
		if ps := c.cmd.ProcessState; ps != nil && !ps.Success() && !endedByTerm(ps) {
			c.log.Warn("service exited with an error on shutdown", "status", c.status(), "last_output", c.out.tail())
		} else {
			c.log.Info("service stopped")
		}
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	if err := killGroup(c.cmd.Process); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.log.Warn("kill service", "err", err)
	}
	<-c.done
	return fmt.Errorf("stack: %s did not exit after SIGTERM in time; killed", c.name)
}

func indent(lines []string) string {
	if len(lines) == 0 {
		return "    (no output)"
	}
	return "    " + strings.Join(lines, "\n    ")
}

// prefixWidth pads every output prefix to the longest source name (at least "devstack",
// which the command's own log lines use) so the columns line up.
func prefixWidth(services []Service) int {
	w := len("devstack")
	for _, s := range services {
		w = max(w, len(s.Name))
	}
	return w
}

// syncWriter serialises writes from every service onto one output.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// Output lines kept per service for error messages, and the longest line passed on in
// one piece.
const (
	tailLines   = 20
	maxLineSize = 64 << 10
)

// lineWriter prefixes every line a service writes with its name and keeps the last few
// lines, which is what a person needs when the service dies.
type lineWriter struct {
	out    *syncWriter
	prefix string

	mu      sync.Mutex
	partial []byte
	ring    [tailLines]string
	next    int // index of the next ring slot
	count   int // lines stored, at most tailLines
}

func newLineWriter(out *syncWriter, name string, width int) *lineWriter {
	return &lineWriter{out: out, prefix: fmt.Sprintf("%-*s | ", width, name)}
}

// Write never fails: an error here would stop exec copying the service's output, the
// pipe would fill, and the service would hang on its next log line.
func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.partial = append(l.partial, p...)
			if len(l.partial) >= maxLineSize {
				l.emit(l.partial)
				l.partial = l.partial[:0]
			}
			break
		}
		line := p[:i]
		if len(l.partial) > 0 {
			line = append(l.partial, line...)
		}
		l.emit(line)
		l.partial = l.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

func (l *lineWriter) emit(line []byte) {
	s := strings.TrimSuffix(string(line), "\r")
	l.ring[l.next] = s
	l.next = (l.next + 1) % tailLines
	l.count = min(l.count+1, tailLines)
	_, _ = io.WriteString(l.out, l.prefix+s+"\n")
}

// flush passes on a last line that had no newline.
func (l *lineWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.emit(l.partial)
		l.partial = l.partial[:0]
	}
}

// tail returns the last lines written, oldest first.
func (l *lineWriter) tail() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, l.count)
	start := (l.next - l.count + tailLines) % tailLines
	for i := range l.count {
		out = append(out, l.ring[(start+i)%tailLines])
	}
	return out
}
