package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Header names set on every record this package publishes. Consumers can route or
// filter on the event type without decoding the payload.
const (
	HeaderEventType = "event-type"
	HeaderEventID   = "event-id"

	// Set on records in a dead-letter topic, beside the original headers.
	HeaderDLQError     = "dlq-error"
	HeaderDLQTopic     = "dlq-topic"
	HeaderDLQPartition = "dlq-partition"
	HeaderDLQOffset    = "dlq-offset"
	HeaderDLQGroup     = "dlq-group"
	HeaderDLQAttempts  = "dlq-attempts"
)

// Envelope is the one JSON shape every domain event travels in. Key is the aggregate id:
// it becomes the record key, so one aggregate's events land on one partition and stay in
// order. ID is unique per event and is what idempotent consumers remember.
type Envelope struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	OccurredAt time.Time       `json:"occurred_at"`
	Producer   string          `json:"producer"`
	Key        string          `json:"key"`
	Data       json.RawMessage `json:"data"`
}

// NewEnvelope wraps data (marshalled to JSON) in an envelope with a fresh random id. The
// time is UTC at microsecond precision, the precision PostgreSQL keeps, so a consumer
// that stores it reads back the same instant.
func NewEnvelope(typ, producer, key string, data any) (Envelope, error) {
	if typ == "" {
		return Envelope{}, errors.New("new envelope: empty type")
	}
	id, err := uuid.NewRandom()
	if err != nil {
		return Envelope{}, fmt.Errorf("new envelope %s: id: %w", typ, err)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return Envelope{}, fmt.Errorf("new envelope %s: marshal data: %w", typ, err)
	}
	return Envelope{
		ID:         id.String(),
		Type:       typ,
		OccurredAt: time.Now().UTC().Truncate(time.Microsecond),
		Producer:   producer,
		Key:        key,
		Data:       raw,
	}, nil
}

// DecodeEnvelope parses a record's value. A value that is not an envelope will never
// become one however often it is retried, so the error is [Permanent] and the runner
// sends the record straight to the dead-letter topic.
func DecodeEnvelope(rec *kgo.Record) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(rec.Value, &e); err != nil {
		return Envelope{}, Permanent(fmt.Errorf("decode envelope: %w", err))
	}
	if e.ID == "" || e.Type == "" {
		return Envelope{}, Permanent(errors.New("decode envelope: missing id or type"))
	}
	return e, nil
}

func envelopeHeaders(typ, id string) map[string]string {
	return map[string]string{HeaderEventType: typ, HeaderEventID: id}
}
