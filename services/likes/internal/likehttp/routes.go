// Package likehttp is the HTTP face of the likes service: every route, its handler, the
// request and response bodies, and the one table that turns core errors into statuses.
package likehttp

import "github.com/go-chi/chi/v5"

// Routes lists every route likes serves. The caller's identity comes from the signed
// header the gateway sets (identity.Signer.Middleware, applied around these routes),
// never from X-User-ID or a body. Every /api route needs a signed-in user.
func Routes(r chi.Router, h *Handler) {
	// Like and unlike: PUT and DELETE of one's own like, both idempotent.
	r.Put("/api/posts/{id}/like", h.like)
	r.Delete("/api/posts/{id}/like", h.unlike)
	r.Get("/api/posts/{id}/likes", h.likers)
	// Counts and liked-by-me for a page of posts (the feed).
	r.Get("/api/likes", h.summaries)

	// Service to service (feed): never routed by the gateway. The viewer is named in the
	// query because the caller is a service; a signed identity, when present, must be
	// that viewer.
	r.Get("/internal/likes", h.internalSummaries)
}
