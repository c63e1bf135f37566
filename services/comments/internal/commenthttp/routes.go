// Package commenthttp is the HTTP face of the comments service: every route, its
// handler, the request and response bodies, and the one table that turns core errors
// into statuses.
package commenthttp

import "github.com/go-chi/chi/v5"

// Routes lists every route comments serves. Each needs a signed-in user: the identity
// comes from the signed header the gateway sets (identity.Signer.Middleware, applied
// around these routes), never from X-User-ID or a body.
func Routes(r chi.Router, h *Handler) {
	r.Post("/api/posts/{id}/comments", h.create)
	r.Get("/api/posts/{id}/comments", h.list)
	r.Patch("/api/comments/{id}", h.update)
	r.Delete("/api/comments/{id}", h.delete)
}
