// Package feedevents is what the feed hears on Kafka: the user.*, post.*, follow.*,
// like.* and comment.* events of auth, posts, follow, likes and comments (payloads per
// docs/contracts.md), turned into calls of the feed's Projector. A record that is not one
// of these events as the contract says is permanent trouble and goes to the feed's
// dead-letter topic at once; types the feed does not read are skipped.
package feedevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"instant/platform/events"
	"instant/services/feed/internal/feed"
)

// Consumer names the feed as a reader: its consumer group and the name its
// processed-event marks are kept under.
const Consumer = "feed"

// Event types the feed applies.
const (
	TypeUserCreated    = "user.created"
	TypeUserUpdated    = "user.updated"
	TypeUserDeleted    = "user.deleted"
	TypePostCreated    = "post.created"
	TypePostUpdated    = "post.updated"
	TypePostDeleted    = "post.deleted"
	TypeFollowCreated  = "follow.created"
	TypeFollowDeleted  = "follow.deleted"
	TypeLikeCreated    = "like.created"
	TypeLikeDeleted    = "like.deleted"
	TypeCommentCreated = "comment.created"
	TypeCommentDeleted = "comment.deleted"
)

// UserData is user.created and user.updated (user.deleted carries only the id).
type UserData struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	CreatedAt time.Time `json:"created_at"`
}

// PostData is post.created and post.updated (post.deleted: id, user_id, image_key).
// Hashtags and mentions are in the payload too; the feed shows neither.
type PostData struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	Caption   string    `json:"caption"`
	ImageKey  string    `json:"image_key"`
	CreatedAt time.Time `json:"created_at"`
}

// FollowData is follow.created and follow.deleted.
type FollowData struct {
	FollowerID string    `json:"follower_id"`
	FolloweeID string    `json:"followee_id"`
	CreatedAt  time.Time `json:"created_at"`
}

// LikeData is like.created and like.deleted.
type LikeData struct {
	PostID string `json:"post_id"`
	UserID string `json:"user_id"`
}

// CommentData is comment.created and comment.deleted.
type CommentData struct {
	ID     string `json:"id"`
	PostID string `json:"post_id"`
	UserID string `json:"user_id"`
}

// Handler applies each event through p, once per event id.
func Handler(p *feed.Projector) events.Handler {
	return func(ctx context.Context, rec *kgo.Record) error {
		e, err := events.DecodeEnvelope(rec)
		if err != nil {
			return err
		}
		m := feed.Mark{Consumer: Consumer, EventID: e.ID}
		switch e.Type {
		case TypeUserCreated, TypeUserUpdated:
			var d UserData
			if err := decode(e, &d); err != nil {
				return err
			}
			if err := check(e, d.Username != "" && feed.ValidID(d.ID)); err != nil {
				return err
			}
			return p.SaveUser(ctx, m, feed.User{ID: d.ID, Username: d.Username, CreatedAt: d.CreatedAt})
		case TypeUserDeleted:
			var d UserData
			if err := decode(e, &d); err != nil {
				return err
			}
			if err := check(e, feed.ValidID(d.ID)); err != nil {
				return err
			}
			return p.DeleteUser(ctx, m, d.ID)
		case TypePostCreated, TypePostUpdated, TypePostDeleted:
			var d PostData
			if err := decode(e, &d); err != nil {
				return err
			}
			if err := check(e, feed.ValidID(d.ID) && feed.ValidID(d.UserID)); err != nil {
				return err
			}
			switch e.Type {
			case TypePostCreated:
				if err := check(e, d.ImageKey != "" && !d.CreatedAt.IsZero()); err != nil {
					return err
				}
				return p.AddPost(ctx, m, feed.Post{ID: d.ID, UserID: d.UserID, Caption: d.Caption, ImageKey: d.ImageKey, CreatedAt: d.CreatedAt})
			case TypePostUpdated:
				return p.UpdatePost(ctx, m, d.ID, d.Caption)
			default:
				return p.DeletePost(ctx, m, d.ID, d.UserID)
			}
		case TypeFollowCreated, TypeFollowDeleted:
			var d FollowData
			if err := decode(e, &d); err != nil {
				return err
			}
			if err := check(e, feed.ValidID(d.FollowerID) && feed.ValidID(d.FolloweeID)); err != nil {
				return err
			}
			if e.Type == TypeFollowCreated {
				at := d.CreatedAt
				if at.IsZero() {
					at = e.OccurredAt
				}
				return p.AddFollow(ctx, m, d.FollowerID, d.FolloweeID, at)
			}
			return p.RemoveFollow(ctx, m, d.FollowerID, d.FolloweeID)
		case TypeLikeCreated, TypeLikeDeleted:
			var d LikeData
			if err := decode(e, &d); err != nil {
				return err
			}
			if err := check(e, feed.ValidID(d.PostID) && feed.ValidID(d.UserID)); err != nil {
				return err
			}
			if e.Type == TypeLikeCreated {
				return p.AddLike(ctx, m, d.PostID, d.UserID)
			}
			return p.RemoveLike(ctx, m, d.PostID, d.UserID)
		case TypeCommentCreated, TypeCommentDeleted:
			var d CommentData
			if err := decode(e, &d); err != nil {
				return err
			}
			if err := check(e, feed.ValidID(d.ID) && feed.ValidID(d.PostID)); err != nil {
				return err
			}
			if e.Type == TypeCommentCreated {
				if err := check(e, feed.ValidID(d.UserID)); err != nil {
					return err
				}
				return p.AddComment(ctx, m, d.ID, d.PostID, d.UserID)
			}
			return p.RemoveComment(ctx, m, d.ID, d.PostID)
		default:
			return nil // another reader's event
		}
	}
}

// decode reads the envelope's data; data that does not parse never will.
func decode(e events.Envelope, dst any) error {
	if err := json.Unmarshal(e.Data, dst); err != nil {
		return events.Permanent(fmt.Errorf("%s %s: data: %w", e.Type, e.ID, err))
	}
	return nil
}

// check turns a broken contract into a permanent error. Error messages name the event,
// never its payload.
func check(e events.Envelope, ok bool) error {
	if ok {
		return nil
	}
	return events.Permanent(errors.New(e.Type + " " + e.ID + ": data lacks a well-formed field the contract requires"))
}
