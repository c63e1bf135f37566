package userdb

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gorm.io/gorm"

	"instant/platform/database"
	"instant/platform/logging"
	"instant/platform/testenv"
	"instant/services/auth/internal/user"
)

const (
	topic      = "user.events"
	emailTopic = "email.requests"
)

// open returns a migrated store on a fresh database of the named dialect.
func open(t *testing.T, dialect string) (*Store, *gorm.DB, *int) {
	t.Helper()
	var dsn string
	if dialect == "postgres" {
		dsn = testenv.Postgres(t)
	} else {
		dsn = testenv.SQLite(t)
	}
	ctx := context.Background()
	db, err := database.Open(ctx, dsn, database.Options{Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close(db) })
	if err := database.Migrate(ctx, db, "auth", Migrations()); err != nil {
		t.Fatal(err)
	}
	notified := new(int)
	return New(db, topic, emailTopic, func() { *notified++ }), db, notified
}

func newUser(t *testing.T, name, email string) user.User {
	t.Helper()
	id, err := user.NewID()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	return user.User{ID: id, Username: name, Email: email, CreatedAt: now, UpdatedAt: now}
}

type outboxEvent struct {
	Type string
	Key  string
	Data map[string]any
}

// outbox returns the enqueued events in order.
func outbox(t *testing.T, db *gorm.DB) []outboxEvent {
	t.Helper()
	var rows []struct {
		Topic   string
		Payload string
	}
	if err := db.Raw("SELECT topic, payload FROM outbox ORDER BY seq").Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	var out []outboxEvent
	for _, r := range rows {
		if r.Topic != topic && r.Topic != emailTopic {
			t.Fatalf("event on topic %q, want %q or %q", r.Topic, topic, emailTopic)
		}
		var e outboxEvent
		if err := json.Unmarshal([]byte(r.Payload), &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		run  func(t *testing.T, s *Store, db *gorm.DB, notified *int)
	}{
		{"create_and_get", func(t *testing.T, s *Store, db *gorm.DB, notified *int) {
			u := newUser(t, "alice", "alice@example.com")
			if err := s.Create(ctx, u, nil); err != nil {
				t.Fatal(err)
			}
			for by, get := range map[string]func() (user.User, error){
				"id":       func() (user.User, error) { return s.ByID(ctx, u.ID) },
				"email":    func() (user.User, error) { return s.ByEmail(ctx, u.Email) },
				"username": func() (user.User, error) { return s.ByUsername(ctx, u.Username) },
			} {
				got, err := get()
				if err != nil {
					t.Fatalf("by %s: %v", by, err)
				}
				if diff := cmp.Diff(u, got); diff != "" {
					t.Fatalf("by %s (-want +got):\n%s", by, diff)
				}
			}
			want := []outboxEvent{{Type: "user.created", Key: u.ID, Data: map[string]any{
				"id": u.ID, "username": "alice", "created_at": u.CreatedAt.Format(time.RFC3339Nano)}}}
			if diff := cmp.Diff(want, outbox(t, db)); diff != "" {
				t.Fatalf("outbox (-want +got):\n%s", diff)
			}
			if *notified != 1 {
				t.Fatalf("relay notified %d times, want 1", *notified)
			}
		}},
		{"get_unknown_not_found", func(t *testing.T, s *Store, _ *gorm.DB, _ *int) {
			id, _ := user.NewID()
			if _, err := s.ByID(ctx, id); !errors.Is(err, user.ErrNotFound) {
				t.Fatalf("by id = %v", err)
			}
			if _, err := s.ByEmail(ctx, "nobody@example.com"); !errors.Is(err, user.ErrNotFound) {
				t.Fatalf("by email = %v", err)
			}
			if _, err := s.ByUsername(ctx, "nobody"); !errors.Is(err, user.ErrNotFound) {
				t.Fatalf("by username = %v", err)
			}
		}},
		{"create_email_taken", func(t *testing.T, s *Store, db *gorm.DB, _ *int) {
			mustCreate(t, s, newUser(t, "alice", "alice@example.com"))
			err := s.Create(ctx, newUser(t, "bob", "alice@example.com"), nil)
			if !errors.Is(err, user.ErrEmailTaken) {
				t.Fatalf("create = %v, want ErrEmailTaken", err)
			}
			if n := len(outbox(t, db)); n != 1 {
				t.Fatalf("%d events, want only the first user.created", n)
			}
		}},
		{"create_username_taken", func(t *testing.T, s *Store, _ *gorm.DB, _ *int) {
			mustCreate(t, s, newUser(t, "alice", "alice@example.com"))
			err := s.Create(ctx, newUser(t, "alice", "other@example.com"), nil)
			if !errors.Is(err, user.ErrUsernameTaken) {
				t.Fatalf("create = %v, want ErrUsernameTaken", err)
			}
		}},
		{"create_confirm_fails_rolls_back", func(t *testing.T, s *Store, db *gorm.DB, notified *int) {
			u := newUser(t, "alice", "alice@example.com")
			err := s.Create(ctx, u, func(context.Context) error { return user.ErrCodeExpired })
			if !errors.Is(err, user.ErrCodeExpired) {
				t.Fatalf("create = %v, want the confirm's error", err)
			}
			if _, err := s.ByID(ctx, u.ID); !errors.Is(err, user.ErrNotFound) {
				t.Fatalf("user after rollback: %v", err)
			}
			if n := len(outbox(t, db)); n != 0 || *notified != 0 {
				t.Fatalf("%d events, %d notifications after rollback", n, *notified)
			}
		}},
		{"set_username", func(t *testing.T, s *Store, db *gorm.DB, _ *int) {
			u := mustCreate(t, s, newUser(t, "alice", "alice@example.com"))
			got, err := s.SetUsername(ctx, u.ID, "alice2")
			if err != nil {
				t.Fatal(err)
			}
			if got.Username != "alice2" || !got.CreatedAt.Equal(u.CreatedAt) || got.Email != u.Email {
				t.Fatalf("renamed = %+v", got)
			}
			if _, err := s.SetUsername(ctx, u.ID, "alice2"); err != nil {
				t.Fatalf("same name again: %v", err)
			}
			ev := outbox(t, db)
			if len(ev) != 2 || ev[1].Type != "user.updated" || ev[1].Data["username"] != "alice2" {
				t.Fatalf("events = %+v, want created then one updated", ev)
			}
			if _, ok := ev[1].Data["email"]; ok {
				t.Fatal("email in a domain event")
			}
		}},
		{"set_username_taken", func(t *testing.T, s *Store, _ *gorm.DB, _ *int) {
			mustCreate(t, s, newUser(t, "alice", "alice@example.com"))
			b := mustCreate(t, s, newUser(t, "bob", "bob@example.com"))
			if _, err := s.SetUsername(ctx, b.ID, "alice"); !errors.Is(err, user.ErrUsernameTaken) {
				t.Fatalf("rename = %v, want ErrUsernameTaken", err)
			}
		}},
		{"set_username_unknown", func(t *testing.T, s *Store, _ *gorm.DB, _ *int) {
			id, _ := user.NewID()
			if _, err := s.SetUsername(ctx, id, "alice"); !errors.Is(err, user.ErrNotFound) {
				t.Fatalf("rename = %v, want ErrNotFound", err)
			}
		}},
		{"set_email", func(t *testing.T, s *Store, db *gorm.DB, _ *int) {
			u := mustCreate(t, s, newUser(t, "alice", "alice@example.com"))
			var before user.User
			got, err := s.SetEmail(ctx, u.ID, "new@example.com", func(b user.User) user.Email {
				before = b
				return user.Email{To: b.Email, Template: "email_changed", Params: map[string]string{"new_email": "n***@example.com"}}
			}, nil)
			if err != nil || got.Email != "new@example.com" {
				t.Fatalf("set email = %+v, %v", got, err)
			}
			if before.Email != "alice@example.com" || before.ID != u.ID {
				t.Fatalf("the notice was built from %+v, want the account before the change", before)
			}
			if _, err := s.ByEmail(ctx, "new@example.com"); err != nil {
				t.Fatal(err)
			}
			// No user.* event (emails never travel in them); the notice to the old address,
			// queued for the email topic in the change's transaction.
			ev := outbox(t, db)
			if len(ev) != 2 || ev[1].Type != "email.requested" || ev[1].Key != "alice@example.com" ||
				ev[1].Data["to"] != "alice@example.com" || ev[1].Data["template"] != "email_changed" {
				t.Fatalf("outbox = %+v, want user.created then the notice to the old address", ev)
			}
			var topics []string
			if err := db.Raw(`SELECT topic FROM outbox ORDER BY seq`).Scan(&topics).Error; err != nil {
				t.Fatal(err)
			}
			if topics[1] != emailTopic {
				t.Fatalf("notice queued for %q, want %q", topics[1], emailTopic)
			}
		}},
		{"set_email_taken", func(t *testing.T, s *Store, db *gorm.DB, _ *int) {
			mustCreate(t, s, newUser(t, "alice", "alice@example.com"))
			b := mustCreate(t, s, newUser(t, "bob", "bob@example.com"))
			notice := func(b user.User) user.Email { return user.Email{To: b.Email, Template: "email_changed"} }
			if _, err := s.SetEmail(ctx, b.ID, "alice@example.com", notice, nil); !errors.Is(err, user.ErrEmailTaken) {
				t.Fatalf("set email = %v, want ErrEmailTaken", err)
			}
			if n := len(outbox(t, db)); n != 2 {
				t.Fatalf("%d events, want the two sign-ups only: a refused change sends no notice", n)
			}
		}},
		{"delete", func(t *testing.T, s *Store, db *gorm.DB, _ *int) {
			u := mustCreate(t, s, newUser(t, "alice", "alice@example.com"))
			if err := s.Delete(ctx, u.ID, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := s.ByID(ctx, u.ID); !errors.Is(err, user.ErrNotFound) {
				t.Fatalf("after delete: %v", err)
			}
			if err := s.Delete(ctx, u.ID, nil); !errors.Is(err, user.ErrNotFound) {
				t.Fatalf("second delete = %v, want ErrNotFound", err)
			}
			ev := outbox(t, db)
			want := outboxEvent{Type: "user.deleted", Key: u.ID, Data: map[string]any{"id": u.ID}}
			if diff := cmp.Diff(want, ev[len(ev)-1]); diff != "" {
				t.Fatalf("last event (-want +got):\n%s", diff)
			}
			// The name and address are free again.
			mustCreate(t, s, newUser(t, "alice", "alice@example.com"))
		}},
		{"delete_confirm_fails_keeps_user", func(t *testing.T, s *Store, _ *gorm.DB, _ *int) {
			u := mustCreate(t, s, newUser(t, "alice", "alice@example.com"))
			err := s.Delete(ctx, u.ID, func(context.Context) error { return user.ErrInvalidCode })
			if !errors.Is(err, user.ErrInvalidCode) {
				t.Fatalf("delete = %v", err)
			}
			if _, err := s.ByID(ctx, u.ID); err != nil {
				t.Fatalf("user gone after a failed confirm: %v", err)
			}
		}},
	}
	for _, dialect := range []string{"postgres", "sqlite"} {
		t.Run(dialect, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					s, db, notified := open(t, dialect)
					tc.run(t, s, db, notified)
				})
			}
		})
	}
}

// TestUnavailable cuts the connection to PostgreSQL (through a proxy the test owns) and
// expects ErrUnavailable, which the HTTP layer answers with 503.
func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, u.Host)
	u.Host = proxy.addr()
	db, err := database.Open(ctx, u.String(), database.Options{Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close(db) })
	if err := database.Migrate(ctx, db, "auth", Migrations()); err != nil {
		t.Fatal(err)
	}
	s := New(db, topic, emailTopic, nil)
	if _, err := s.ByEmail(ctx, "a@example.com"); !errors.Is(err, user.ErrNotFound) {
		t.Fatalf("before the cut: %v", err)
	}
	proxy.close()
	if _, err := s.ByEmail(ctx, "a@example.com"); !errors.Is(err, user.ErrUnavailable) {
		t.Fatalf("by email with the database gone = %v, want ErrUnavailable", err)
	}
	if err := s.Create(ctx, newUser(t, "alice", "alice@example.com"), nil); !errors.Is(err, user.ErrUnavailable) {
		t.Fatalf("create with the database gone = %v, want ErrUnavailable", err)
	}
}

// proxy cuts a dependency's connections on demand (testenv.Proxy).
type proxy struct{ *testenv.Proxy }

func startProxy(t *testing.T, target string) proxy { return proxy{testenv.StartProxy(t, target)} }
func (p proxy) addr() string                       { return p.Addr() }
func (p proxy) close()                             { p.Close() }

func mustCreate(t *testing.T, s *Store, u user.User) user.User {
	t.Helper()
	if err := s.Create(context.Background(), u, nil); err != nil {
		t.Fatal(err)
	}
	return u
}
