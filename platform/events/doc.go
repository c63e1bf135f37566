// Package events is the Kafka plumbing every service shares: a JSON envelope for domain
// events, a synchronous producer (acks=all, idempotent), a consumer-group runner with
// retries, a dead-letter topic and commit-after-handling, and a transactional outbox with
// a relay and processed-event bookkeeping for idempotent consumers. It knows no domain
// types: topics, event types and payloads belong to the services.
//
// # Connecting
//
// Every producer and consumer is built from a [Conn]: the seed brokers and, when the
// cluster asks for them, SASL credentials (SCRAM-SHA-512 for Strimzi's KafkaUsers,
// SCRAM-SHA-256 or PLAIN) and TLS (a CA file, a server name). A service builds all of
// its clients from one Conn (platform/service.Kafka, read from KAFKA_*), so its
// producers, consumers, dead-letter producer and readiness pings sign in alike. A Conn
// prints and logs with its password masked.
//
// # Delivery guarantees
//
// Everything here is at-least-once. A record can be delivered twice (a consumer crashed
// after its effect but before its offset commit; the relay crashed after publishing but
// before marking its rows), and nothing is ever dropped silently: a record that cannot be
// handled goes to a dead-letter topic, and its offset is committed only once it is there.
// Duplicates are suppressed where the effect happens, with [MarkProcessed].
//
// # Producing domain events
//
// A state change and the event describing it are written in one database transaction
// with [Enqueue]; a [Relay] publishes what was committed and marks it. After the commit
// the service calls [Relay.Notify] so the event leaves at once instead of at the next poll:
//
//	err := db.Transaction(func(tx *gorm.DB) error {
//		if err := tx.Create(&row).Error; err != nil {
//			return err
//		}
//		e, err := events.NewEnvelope("post.created", "posts", row.ID, payload)
//		if err != nil {
//			return err
//		}
//		return events.Enqueue(tx, "posts.events", e)
//	})
//	if err == nil {
//		relay.Notify()
//	}
//
// Requests that must be accepted before the caller answers (auth's email requests: the
// user is told a code is on its way) skip the outbox and use [Producer.Publish], which
// waits for acks=all and fails fast when Kafka is down, so the caller can answer 503.
//
// # Consuming idempotently
//
// A [Consumer] calls its [Handler] for each record, in order per partition, and commits
// the offset only after the handler returned nil or the record reached the dead-letter
// topic. A handler that changes a database makes the change and the processed-event mark
// one transaction, so a redelivered event finds its mark and skips the effect:
//
//	func (h *handler) handle(ctx context.Context, rec *kgo.Record) error {
//		e, err := events.DecodeEnvelope(rec) // malformed: permanent, goes to the DLQ
//		if err != nil {
//			return err
//		}
//		// The runner commits the offset once this returns nil.
//		return h.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
//			first, err := events.MarkProcessed(tx, "feed", e.ID)
//			if err != nil || !first {
//				return err // already applied: skip the effect, let the offset advance
//			}
//			return applyEffect(tx, e)
//		})
//	}
//
// An effect outside the database (an e-mail, a Redis write) cannot share the transaction:
// make it idempotent itself (a dedup key, a set instead of a counter) or accept that a
// crash between the effect and the commit repeats it.
package events
