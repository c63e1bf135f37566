package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/versity/versitygw/auth"
	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"
)

// The embedded S3 server is versitygw (Apache-2.0) with its posix backend: objects are
// files under DataDir/s3, and presigned URLs are checked (signature, signed headers,
// expiry) as S3 checks them. Two of its properties shape this file:
//   - only one gateway can run per process, so a process runs one stack with an embedded
//     S3 at a time (stacks started one after another are fine);
//   - the posix backend resolves every path against the process's working directory,
//     which it changes to its root while it runs. The stack therefore starts its
//     children in the directory it was started from, and Stop changes back.

// S3 settings the embedded server and the services share. The secret is new on every
// start: only the services, which get it in their environment, need it.
const (
	s3Region    = "us-east-1"
	s3Bucket    = "instant-media"
	s3AccessKey = "instant"
)

// s3StopTimeout bounds the wait for the gateway to shut down.
const s3StopTimeout = 10 * time.Second

// embeddedS3 is a running gateway.
type embeddedS3 struct {
	cancel  context.CancelFunc
	stopped chan struct{}
	err     error  // RunVersityGW's result, valid once stopped is closed
	workDir string // the working directory to return to
}

// needsS3 reports whether any service wants object storage.
func needsS3(services []Service) bool {
	for _, s := range services {
		if s.NeedsS3 {
			return true
		}
	}
	return false
}

// startS3 provides S3 to the services that need it: the parent's S3_* settings when
// S3_ENDPOINT names a real server, else an embedded gateway on 127.0.0.1 (port 9000
// under the fixed port table). It returns the S3_* environment of those services. Nothing
// starts when no service needs S3.
func (s *Stack) startS3(o Options, fixed bool) (map[string]string, error) {
	if o.Getenv("S3_ENDPOINT") != "" {
		env := externalS3(o.Getenv)
		s.S3Endpoint = cmpOr(env["S3_PUBLIC_ENDPOINT"], env["S3_ENDPOINT"])
		return env, nil
	}
	if !needsS3(o.Services) {
		return nil, nil
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(portOrZero(fixed, fixedS3Port)))
	if fixed {
		// Checked first: waiting for the port to answer would otherwise find whatever
		// else holds it (a MinIO of the developer's) and take it for ours.
		if err := checkFree(addr); err != nil {
			return nil, fmt.Errorf("stack: embedded s3 (set S3_ENDPOINT to use a real server): %w", err)
		}
	} else {
		free, err := freePort()
		if err != nil {
			return nil, err
		}
		addr = free
	}
	secret, err := randomHex(20)
	if err != nil {
		return nil, err
	}
	if err := s.runS3(filepath.Join(o.DataDir, "s3"), filepath.Join(o.DataDir, "s3-meta"), addr, secret); err != nil {
		return nil, fmt.Errorf("stack: embedded s3 on %s (set S3_ENDPOINT to use a real server): %w", addr, err)
	}
	s.EmbeddedS3 = true
	s.S3Endpoint = "http://" + addr
	return map[string]string{
		"S3_ENDPOINT":        addr,
		"S3_PUBLIC_ENDPOINT": s.S3Endpoint, // what a client on this machine reaches
		"S3_REGION":          s3Region,
		"S3_BUCKET":          s3Bucket,
		"S3_ACCESS_KEY":      s3AccessKey,
		"S3_SECRET_KEY":      secret,
		"S3_USE_TLS":         "false",
	}, nil
}

// runS3 starts the gateway over root and waits until it accepts connections.
func (s *Stack) runS3(root, sideDir, addr, secret string) error {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	// Object metadata (the content type) goes into extended attributes where the file
	// system has them, else into a sidecar directory beside the data.
	var ms meta.MetadataStorer = meta.XattrMeta{}
	var opts posix.PosixOpts
	if (meta.XattrMeta{}).Test(root) != nil {
		sc, err := meta.NewSideCar(sideDir)
		if err != nil {
			return fmt.Errorf("metadata sidecar: %w", err)
		}
		ms, opts.SideCarDir = sc, sideDir
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	be, err := posix.New(root, ms, opts) // changes the working directory to root
	if err != nil {
		return errors.Join(err, os.Chdir(wd))
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &embeddedS3{cancel: cancel, stopped: make(chan struct{}), workDir: wd}
	go func() {
		defer close(g.stopped)
		g.err = embedgw.RunVersityGW(ctx, be, &embedgw.Config{
			RootUserAccess: s3AccessKey, RootUserSecret: secret, Region: s3Region,
			// The root account alone, given rather than defaulted: the default announces
			// itself on stdout, outside the stack's prefixed output.
			IAMService: auth.NewIAMServiceSingle(auth.Account{Access: s3AccessKey, Secret: secret, Role: auth.RoleAdmin}),
			Ports:      []string{addr}, MaxConnections: 1000, MaxRequests: 1000, MultipartMaxParts: 10000,
			// A browser on the gateway's origin PUTs and GETs here directly. Any origin
			// will do: a presigned URL carries its own authorization, never a cookie,
			// and the server listens on loopback only.
			CORSAllowOrigin: "*",
			Quiet:           true,
		})
	}()
	s.s3 = g
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		select {
		case <-g.stopped:
			s.s3 = nil
			return errors.Join(fmt.Errorf("gateway stopped: %w", g.err), os.Chdir(wd))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("gateway not listening after 10s")
		}
	}
}

// stopS3 shuts the embedded gateway down and returns to the original working directory.
func (s *Stack) stopS3(ctx context.Context) error {
	g := s.s3
	if g == nil {
		return nil
	}
	s.s3 = nil
	g.cancel()
	// Waited for even when ctx is done: the working directory may only change back once
	// the backend, which works relative to it, has stopped.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s3StopTimeout)
	defer cancel()
	var err error
	select {
	case <-g.stopped:
		if g.err != nil && !errors.Is(g.err, context.Canceled) {
			err = fmt.Errorf("stack: embedded s3: %w", g.err)
		}
	case <-ctx.Done():
		err = errors.New("stack: embedded s3 did not stop in time")
	}
	if cdErr := os.Chdir(g.workDir); cdErr != nil {
		err = errors.Join(err, fmt.Errorf("stack: return to %s: %w", g.workDir, cdErr))
	}
	return err
}

// externalS3 is the S3_* environment handed through to the services when S3_ENDPOINT
// names a real server. Unset values stay unset so each service keeps its own default.
func externalS3(getenv func(string) string) map[string]string {
	env := map[string]string{}
	for _, k := range []string{"S3_ENDPOINT", "S3_PUBLIC_ENDPOINT", "S3_REGION", "S3_BUCKET", "S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_USE_TLS"} {
		if v := getenv(k); v != "" {
			env[k] = v
		}
	}
	return env
}

// freePort returns a 127.0.0.1 address with a port that was free a moment ago: the
// gateway takes addresses, not listeners.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("stack: pick a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("stack: random: %w", err)
	}
	return hex.EncodeToString(b), nil
}
