package userclient

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"instant/platform/client"
	"instant/services/follow/internal/follow"
)

// fakeAuth answers GetJSON as platform/client does for auth's profile route.
type fakeAuth struct {
	calls atomic.Int64
	err   error
	id    string // the id answered; empty: the one asked for
	gate  chan struct{}
}

func (f *fakeAuth) GetJSON(_ context.Context, path string, _ url.Values, out any) error {
	f.calls.Add(1)
	if f.gate != nil {
		<-f.gate
	}
	if f.err != nil {
		return f.err
	}
	id := f.id
	if id == "" {
		id = path[len("/api/users/"):]
	}
	out.(*profile).ID = id
	return nil
}

const someone = "0b7f8a39-1f4e-4a57-9c6a-8a2b1b7d9e11"

func TestExists(t *testing.T) {
	cases := []struct {
		name string
		auth *fakeAuth
		want error
	}{
		{"exists", &fakeAuth{}, nil},
		{"not_found", &fakeAuth{err: client.ErrNotFound}, follow.ErrUserNotFound},
		{"unreachable", &fakeAuth{err: fmt.Errorf("%w: auth: connection refused", client.ErrUnavailable)}, follow.ErrUnavailable},
		{"answers_500", &fakeAuth{err: &client.StatusError{Service: "auth", Status: 500}}, follow.ErrUnavailable},
		{"answers_another_user", &fakeAuth{id: "11111111-1111-4111-8111-111111111111"}, follow.ErrUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := New(tc.auth, time.Minute, 10).Exists(context.Background(), someone)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Exists = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestExistsCachesOnlyYes(t *testing.T) {
	auth := &fakeAuth{}
	u := New(auth, time.Minute, 10)
	for range 3 {
		if err := u.Exists(context.Background(), someone); err != nil {
			t.Fatal(err)
		}
	}
	if n := auth.calls.Load(); n != 1 {
		t.Fatalf("%d calls for a cached user", n)
	}
	missing := &fakeAuth{err: client.ErrNotFound}
	u = New(missing, time.Minute, 10)
	for range 2 {
		_ = u.Exists(context.Background(), someone)
	}
	if n := missing.calls.Load(); n != 2 {
		t.Fatalf("%d calls for an unknown user asked twice, want 2 (not cached)", n)
	}
}

// TestExistsSharesConcurrentCalls: many requests about one user at once make one call,
// and a caller that gives up does not cancel it for the others.
func TestExistsSharesConcurrentCalls(t *testing.T) {
	auth := &fakeAuth{gate: make(chan struct{})}
	u := New(auth, time.Minute, 10)
	quitter, quit := context.WithCancel(context.Background())
	errs := make(chan error, 11)
	go func() { errs <- u.Exists(quitter, someone) }()
	for auth.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if err := u.Exists(context.Background(), someone); err != nil {
				t.Errorf("Exists = %v", err)
			}
		})
	}
	quit()
	if err := <-errs; !errors.Is(err, follow.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller that gave up got %v", err)
	}
	close(auth.gate)
	wg.Wait()
	if n := auth.calls.Load(); n != 1 {
		t.Fatalf("%d calls, want 1 shared", n)
	}
}
