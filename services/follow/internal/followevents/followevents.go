// Package followevents is what the follow service says and hears on Kafka: it says
// follow.created and follow.deleted, written to the outbox by the store in the
// transaction of the change (the payload here is the contract the feed reads), and it
// hears user.deleted, which removes an account from the graph.
package followevents

import (
	"time"

	"instant/platform/events"
)

// Producer is the envelope's producer field.
const Producer = "follow"

// Event types.
const (
	TypeCreated = "follow.created"
	TypeDeleted = "follow.deleted"
)

// Data is the payload of both events. CreatedAt is when the follow began, in
// follow.deleted too; when it ended is the envelope's occurred_at.
type Data struct {
	FollowerID string    `json:"follower_id"`
	FolloweeID string    `json:"followee_id"`
	CreatedAt  time.Time `json:"created_at"`
}

// Created is the follow.created envelope, keyed by the follower so that one user's
// follows and unfollows stay in order.
func Created(follower, followee string, at time.Time) (events.Envelope, error) {
	return envelope(TypeCreated, follower, followee, at)
}

// Deleted is the follow.deleted envelope, keyed by the follower.
func Deleted(follower, followee string, at time.Time) (events.Envelope, error) {
	return envelope(TypeDeleted, follower, followee, at)
}

func envelope(typ, follower, followee string, at time.Time) (events.Envelope, error) {
	return events.NewEnvelope(typ, Producer, follower, Data{FollowerID: follower, FolloweeID: followee, CreatedAt: at.UTC()})
}
