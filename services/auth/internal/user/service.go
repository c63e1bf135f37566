package user

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Service holds the use cases of accounts and sign-in. Callers pass the verified id of
// the signed-in user as actor; a method that changes an account refuses any actor but
// its owner.
type Service struct {
	store    Store
	codes    Codes
	mail     Mailer
	sessions Sessions
	metrics  *Metrics
	log      *slog.Logger
	now      func() time.Time
}

// NewService wires the use cases to their ports.
func NewService(store Store, codes Codes, mail Mailer, sessions Sessions, m *Metrics, log *slog.Logger) *Service {
	return &Service{store: store, codes: codes, mail: mail, sessions: sessions, metrics: m, log: log, now: time.Now}
}

// Login is the outcome of a successful verification: the account and a new session.
type Login struct {
	User      User
	Created   bool // the account was created by this verification
	SessionID string
	ExpiresAt time.Time
}

// RequestLoginCode sends a sign-in code to email. It behaves the same whether or not an
// account exists (the address may be about to sign up), so the answer reveals nothing.
func (s *Service) RequestLoginCode(ctx context.Context, email string) error {
	email, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	username := ""
	switch u, err := s.store.ByEmail(ctx, email); {
	case err == nil:
		username = u.Username
	case !errors.Is(err, ErrNotFound):
		return fmt.Errorf("request login code: %w", err)
	}
	if err := s.sendCode(ctx, PurposeLogin, email, "", email, TemplateLoginCode, username); err != nil {
		return fmt.Errorf("request login code: %w", err)
	}
	return nil
}

// VerifyLogin signs in with a code sent by RequestLoginCode: it logs in to the account
// of email, or creates one named username when there is none. The code is checked before
// anything else, so only its holder learns whether the account exists (username_required).
// A username given for an existing account is ignored: signing in never renames.
func (s *Service) VerifyLogin(ctx context.Context, email, code, username string) (Login, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return Login{}, err
	}
	if _, err := s.check(ctx, PurposeLogin, email, code); err != nil {
		return Login{}, fmt.Errorf("verify login: %w", err)
	}
	take := func(ctx context.Context) error {
		_, err := s.codes.Take(ctx, PurposeLogin, email, code)
		s.metrics.verified(err)
		return err
	}
	u, err := s.store.ByEmail(ctx, email)
	created := false
	switch {
	case err == nil:
		if err := take(ctx); err != nil {
			return Login{}, fmt.Errorf("verify login: %w", err)
		}
	case errors.Is(err, ErrNotFound):
		if u, err = s.signup(ctx, email, username, take); err != nil {
			return Login{}, fmt.Errorf("verify login: %w", err)
		}
		created = true
	default:
		return Login{}, fmt.Errorf("verify login: %w", err)
	}
	id, exp, err := s.sessions.Create(ctx, u.ID)
	if err != nil {
		return Login{}, fmt.Errorf("verify login: %w: %w", ErrUnavailable, err)
	}
	if created {
		s.metrics.signups.Inc()
	} else {
		s.metrics.logins.Inc()
	}
	return Login{User: u, Created: created, SessionID: id, ExpiresAt: exp}, nil
}

// signup creates the account of a verified email; the code is spent only if it commits.
func (s *Service) signup(ctx context.Context, email, username string, take Confirm) (User, error) {
	if username == "" {
		return User{}, ErrUsernameRequired
	}
	name, err := NormalizeUsername(username)
	if err != nil {
		return User{}, err
	}
	id, err := NewID()
	if err != nil {
		return User{}, fmt.Errorf("new id: %w", err)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	u := User{ID: id, Username: name, Email: email, CreatedAt: now, UpdatedAt: now}
	err = s.store.Create(ctx, u, take)
	if errors.Is(err, ErrEmailTaken) {
		// A concurrent verification with the same code created the account first and
		// spent the code; this one lost the race.
		return User{}, ErrCodeExpired
	}
	return u, err
}

// Logout ends one session; an unknown or already ended session is not an error.
func (s *Service) Logout(ctx context.Context, sessionID string) error {
	if sessionID == "" {
		return nil
	}
	if err := s.sessions.Revoke(ctx, sessionID); err != nil {
		return fmt.Errorf("logout: %w: %w", ErrUnavailable, err)
	}
	return nil
}

// LogoutAll ends every session of the signed-in user.
func (s *Service) LogoutAll(ctx context.Context, actor string) error {
	if err := s.sessions.RevokeAll(ctx, actor); err != nil {
		return fmt.Errorf("logout all: %w: %w", ErrUnavailable, err)
	}
	return nil
}

// Get returns an account by id.
func (s *Service) Get(ctx context.Context, id string) (User, error) {
	if !ValidID(id) {
		return User{}, ErrInvalidID
	}
	u, err := s.store.ByID(ctx, id)
	if err != nil {
		return User{}, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// ByUsername returns an account by name, in any case.
func (s *Service) ByUsername(ctx context.Context, username string) (User, error) {
	name, err := NormalizeUsername(username)
	if err != nil {
		return User{}, ErrNotFound // no account can have an invalid name
	}
	u, err := s.store.ByUsername(ctx, name)
	if err != nil {
		return User{}, fmt.Errorf("get user by name: %w", err)
	}
	return u, nil
}

// Patch is a partial update of an account; nil fields stay as they are.
type Patch struct {
	Username *string
}

// Update applies p to the actor's own account and returns the account as it now is.
func (s *Service) Update(ctx context.Context, actor, id string, p Patch) (User, error) {
	if actor != id {
		return User{}, ErrForbidden
	}
	if p.Username == nil {
		return s.Get(ctx, id)
	}
	name, err := NormalizeUsername(*p.Username)
	if err != nil {
		return User{}, err
	}
	u, err := s.store.SetUsername(ctx, id, name)
	if err != nil {
		return User{}, fmt.Errorf("update user: %w", err)
	}
	return u, nil
}

// RequestEmailChange sends a change-email code to the new address. Proving that the new
// address is reachable is what moves the account there; the session alone does not.
func (s *Service) RequestEmailChange(ctx context.Context, actor, id, email string) error {
	if actor != id {
		return ErrForbidden
	}
	email, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	u, err := s.store.ByID(ctx, id)
	if err != nil {
		return fmt.Errorf("request email change: %w", err)
	}
	switch _, err := s.store.ByEmail(ctx, email); {
	case err == nil:
		return ErrEmailTaken
	case !errors.Is(err, ErrNotFound):
		return fmt.Errorf("request email change: %w", err)
	}
	if err := s.sendCode(ctx, PurposeChangeEmail, id, email, email, TemplateEmailChangeCode, u.Username); err != nil {
		return fmt.Errorf("request email change: %w", err)
	}
	return nil
}

// ConfirmEmailChange moves the actor's account to the address its change-email code was
// sent to.
func (s *Service) ConfirmEmailChange(ctx context.Context, actor, id, code string) (User, error) {
	if actor != id {
		return User{}, ErrForbidden
	}
	email, err := s.check(ctx, PurposeChangeEmail, id, code)
	if err != nil {
		return User{}, fmt.Errorf("confirm email change: %w", err)
	}
	u, err := s.store.SetEmail(ctx, id, email, func(before User) Email {
		return emailChangedNotice(before, email)
	}, func(ctx context.Context) error {
		taken, err := s.codes.Take(ctx, PurposeChangeEmail, id, code)
		if err == nil && taken != email {
			err = ErrCodeExpired // replaced by a code for another address since the check
		}
		s.metrics.verified(err)
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("confirm email change: %w", err)
	}
	return u, nil
}

// emailChangedNotice is the mail the previous address gets when the account moves: the
// owner learns of a change they did not make while their mailbox still hears from us.
// The new address is masked, so a mailbox that is no longer theirs learns little.
func emailChangedNotice(before User, newEmail string) Email {
	return Email{To: before.Email, Template: TemplateEmailChanged, Params: map[string]string{
		"username": before.Username, "new_email": MaskEmail(newEmail),
	}}
}

// MaskEmail shortens an address to its first character and its domain:
// "alice@example.com" → "a***@example.com".
func MaskEmail(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return "***"
	}
	first, _ := utf8.DecodeRuneInString(addr)
	return string(first) + "***" + addr[at:]
}

// RequestDeletion sends a delete-account code to the account's address.
func (s *Service) RequestDeletion(ctx context.Context, actor, id string) error {
	if actor != id {
		return ErrForbidden
	}
	u, err := s.store.ByID(ctx, id)
	if err != nil {
		return fmt.Errorf("request deletion: %w", err)
	}
	if err := s.sendCode(ctx, PurposeDeleteAccount, id, "", u.Email, TemplateDeleteCode, u.Username); err != nil {
		return fmt.Errorf("request deletion: %w", err)
	}
	return nil
}

// Delete removes the actor's account with a delete-account code and ends every session.
// Other services purge the user's data when they see user.deleted.
//
// Sessions are revoked before the account goes: if Redis is down the request fails with
// nothing deleted and the code still good, rather than leaving live sessions of a deleted
// account. They are revoked once more afterwards for a sign-in that raced the deletion.
func (s *Service) Delete(ctx context.Context, actor, id, code string) error {
	if actor != id {
		return ErrForbidden
	}
	if _, err := s.check(ctx, PurposeDeleteAccount, id, code); err != nil {
		return fmt.Errorf("delete account: %w", err)
	}
	if err := s.sessions.RevokeAll(ctx, id); err != nil {
		return fmt.Errorf("delete account: revoke sessions: %w: %w", ErrUnavailable, err)
	}
	err := s.store.Delete(ctx, id, func(ctx context.Context) error {
		_, err := s.codes.Take(ctx, PurposeDeleteAccount, id, code)
		s.metrics.verified(err)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete account: %w", err)
	}
	if err := s.sessions.RevokeAll(ctx, id); err != nil {
		// The account is gone; answering 503 would invite a retry that can only fail.
		s.log.WarnContext(ctx, "revoking sessions after account deletion failed", "user_id", id, "err", err)
	}
	return nil
}

// check verifies a code without spending it and returns its payload.
func (s *Service) check(ctx context.Context, p Purpose, subject, code string) (string, error) {
	if !validCode(code) {
		s.metrics.verified(ErrInvalidCode)
		return "", ErrInvalidCode
	}
	payload, err := s.codes.Check(ctx, p, subject, code)
	if err != nil {
		s.metrics.verified(err)
	}
	return payload, err
}

// sendCode issues a code (replacing any earlier one) and has it mailed to "to".
func (s *Service) sendCode(ctx context.Context, p Purpose, subject, payload, to, template, username string) error {
	code, err := s.codes.Issue(ctx, p, subject, payload)
	if err != nil {
		return err
	}
	params := map[string]string{"code": code, "ttl_minutes": strconv.Itoa(int(CodeTTL / time.Minute))}
	if username != "" {
		params["username"] = username
	}
	if err := s.mail.Send(ctx, Email{To: to, Template: template, Params: params}); err != nil {
		return err
	}
	s.metrics.codesRequested.WithLabelValues(string(p)).Inc()
	return nil
}

// CodeLen is the number of digits of a one-time code.
const CodeLen = 6

func validCode(code string) bool {
	if len(code) != CodeLen {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}
