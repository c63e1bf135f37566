// Package s3test runs a real S3 server for the files service's tests: versitygw (Apache-2.0)
// embedded in the test process, with its posix backend in a temporary directory, on a
// free port of 127.0.0.1. It verifies SigV4 signatures, presigned ones included, and their
// expiry, as S3 does, so a test proves what a client of the real thing would see.
//
// Two properties of versitygw shape how it is used. Only one gateway can run per process,
// so a test binary starts one in TestMain (see Main) and every test shares it, each with a
// bucket of its own. And the posix backend works relative to the process's working
// directory, which it changes to its root: the tests of a package using this must not
// rely on relative paths, and Main changes the directory back after the last test.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/versity/versitygw/auth"
	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"
)

// Server is a running S3 server.
type Server struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	Region    string
}

// server is the one gateway of this test process, set by Main.
var server *Server

// Get returns the server Main started; it fails the test when Main is not in use.
func Get(t testing.TB) Server {
	t.Helper()
	if server == nil {
		t.Fatal("s3test: no S3 server; call s3test.Main from the package's TestMain")
	}
	return *server
}

// Main starts the server, runs the tests and stops it; call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }
func Main(m *testing.M) int {
	s, stop, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "s3test:", err)
		return 1
	}
	server = &s
	code := m.Run()
	if err := stop(); err != nil {
		fmt.Fprintln(os.Stderr, "s3test:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Start runs a gateway over a fresh temporary directory. stop shuts it down, restores
// the working directory and removes the data.
func Start() (_ Server, stop func() error, err error) {
	wd, err := os.Getwd()
	if err != nil {
		return Server{}, nil, err
	}
	dir, err := os.MkdirTemp("", "instant-s3test-")
	if err != nil {
		return Server{}, nil, err
	}
	root := filepath.Join(dir, "data")
	if err := os.Mkdir(root, 0o700); err != nil {
		return Server{}, nil, err
	}
	cleanup := func() error {
		return errors.Join(os.Chdir(wd), os.RemoveAll(dir))
	}
	// Object metadata (the content type) lives in extended attributes where the file
	// system has them, else in a sidecar directory beside the data.
	var ms meta.MetadataStorer = meta.XattrMeta{}
	var opts posix.PosixOpts
	if (meta.XattrMeta{}).Test(root) != nil {
		side := filepath.Join(dir, "meta")
		sc, err := meta.NewSideCar(side)
		if err != nil {
			return Server{}, nil, errors.Join(err, cleanup())
		}
		ms, opts.SideCarDir = sc, side
	}
	be, err := posix.New(root, ms, opts)
	if err != nil {
		return Server{}, nil, errors.Join(err, cleanup())
	}
	addr, err := freeAddr()
	if err != nil {
		return Server{}, nil, errors.Join(err, cleanup())
	}
	s := Server{Endpoint: addr, AccessKey: "s3test", SecretKey: randomHex(20), Region: "us-east-1"}
	ctx, cancel := context.WithCancel(context.Background())
	var runErr error
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		runErr = embedgw.RunVersityGW(ctx, be, &embedgw.Config{
			RootUserAccess: s.AccessKey, RootUserSecret: s.SecretKey, Region: s.Region,
			// The root account alone, given rather than defaulted: the default announces
			// itself on stdout.
			IAMService: auth.NewIAMServiceSingle(auth.Account{Access: s.AccessKey, Secret: s.SecretKey, Role: auth.RoleAdmin}),
			Ports:      []string{addr}, MaxConnections: 1000, MaxRequests: 1000, MultipartMaxParts: 10000,
			Quiet: true,
		})
	}()
	stop = func() error {
		cancel()
		var err error
		select {
		case <-stopped:
			err = runErr
		case <-time.After(30 * time.Second):
			err = errors.New("gateway did not stop in 30s")
		}
		return errors.Join(err, cleanup())
	}
	if err := waitListening(addr, stopped); err != nil {
		return Server{}, nil, errors.Join(err, stop())
	}
	return s, stop, nil
}

// waitListening dials addr until it answers, the gateway gives up, or 20s pass.
func waitListening(addr string, stopped <-chan struct{}) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		select {
		case <-stopped:
			return errors.New("gateway stopped before it listened")
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gateway not listening on %s after 20s", addr)
		}
	}
}

// freeAddr picks a free port: the gateway takes addresses, not listeners.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
