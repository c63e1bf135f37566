// Package followhttp is the HTTP face of the follow service: every route, its handler,
// the response bodies, and the one table that turns core errors into statuses.
package followhttp

import "github.com/go-chi/chi/v5"

// Routes lists every route follow serves. Every one needs a signed-in user: the
// identity comes from the signed identity header (identity.Middleware, applied around
// these routes), never from X-User-ID, a body or a query, and the follower of a change is
// always that user.
func Routes(r chi.Router, h *Handler) {
	r.Group(func(r chi.Router) {
		r.Use(h.signedIn)

		// Public, through the gateway.
		r.Put("/api/users/{id}/follow", h.follow)
		r.Delete("/api/users/{id}/follow", h.unfollow)
		r.Get("/api/users/{id}/followers", h.followers)
		r.Get("/api/users/{id}/following", h.following)
		r.Get("/api/users/{id}/follow-counts", h.relation)

		// Internal, for the feed service; never in the gateway's route table. Bigger pages
		// for fan-out, and counts for many users at once.
		r.Get("/internal/users/{id}/followers", h.internalFollowers)
		r.Get("/internal/users/{id}/following", h.internalFollowing)
		r.Get("/internal/follow-counts", h.batchCounts)
	})
}
