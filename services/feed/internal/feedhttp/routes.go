// Package feedhttp is the HTTP face of the feed service: every route, its handler, the
// response bodies, and the one table that turns core errors into statuses.
package feedhttp

import "github.com/go-chi/chi/v5"

// Routes lists every route feed serves. Each needs a signed-in user: the viewer comes
// from the signed identity header (identity.Middleware, applied around these routes),
// never from X-User-ID, a body or a query. All are reads: feed changes only through
// events. Every answer comes from feed's own read model and Redis.
func Routes(r chi.Router, h *Handler) {
	r.Group(func(r chi.Router) {
		r.Use(h.signedIn)

		r.Get("/api/feed", h.home)
		r.Get("/api/explore", h.explore)
		r.Get("/api/profiles/id/{id}", h.profileByID)
		r.Get("/api/profiles/{username}", h.profileByName)
	})
}
