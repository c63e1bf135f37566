package postevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"instant/platform/events"
	"instant/services/posts/internal/post"
)

// UserConsumer names posts as a reader of user.* events: its consumer group and the
// name its processed-event marks are kept under.
const UserConsumer = "posts"

// user.* event types (produced by auth).
const (
	TypeUserCreated = "user.created"
	TypeUserUpdated = "user.updated"
	TypeUserDeleted = "user.deleted"
)

// UserData is the part of a user.created or user.updated payload posts reads.
type UserData struct {
	ID       string `json:"id"`
	Username string `json:"username"`
}

// Authors records authors' usernames. SetAuthor applies event eventID at most once.
type Authors interface {
	SetAuthor(ctx context.Context, consumer, eventID, userID, username string) error
}

// UserHandler applies user.created and user.updated to the authors' names on posts.
// user.deleted is left for the account-deletion purge; other types are not posts'.
func UserHandler(authors Authors) events.Handler {
	return func(ctx context.Context, rec *kgo.Record) error {
		e, err := events.DecodeEnvelope(rec)
		if err != nil {
			return err
		}
		if e.Type != TypeUserCreated && e.Type != TypeUserUpdated {
			return nil
		}
		var d UserData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return events.Permanent(fmt.Errorf("%s %s: data: %w", e.Type, e.ID, err))
		}
		if !post.ValidID(d.ID) || d.Username == "" {
			return events.Permanent(errors.New(e.Type + " " + e.ID + ": data lacks a user id or username"))
		}
		return authors.SetAuthor(ctx, UserConsumer, e.ID, d.ID, d.Username)
	}
}
