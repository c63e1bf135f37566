// Package posthttp is the HTTP face of the posts service: every route, its handler, the
// request and response bodies, and the one table that turns core errors into statuses.
//
// The /api routes answer in the original API's envelope, {"success": true, "data": ...},
// which its client reads (DESIGN.md §8); errors use the platform's error envelope.
package posthttp

import "github.com/go-chi/chi/v5"

// Routes lists every route posts serves. The caller's identity comes from the signed
// identity header the gateway sets (identity.Middleware, applied around these routes),
// never from X-User-ID or a body. Every /api route needs a signed-in user.
func Routes(r chi.Router, h *Handler) {
	r.Post("/api/posts", h.create)
	// page/page_size (the original client) or cursor/limit.
	r.Get("/api/posts", h.list)
	r.Get("/api/posts/{id}", h.get)
	r.Patch("/api/posts/{id}", h.patch)
	r.Delete("/api/posts/{id}", h.delete)

	// One author's posts: the original client asks the first path, ours the second.
	r.Get("/api/posts/users/{id}", h.listByUser)
	r.Get("/api/users/{id}/posts", h.listByUser)

	r.Get("/api/tags/{tag}/posts", h.listByTag)

	// Service to service (comments, likes): never routed by the gateway. It needs no
	// user and answers only who owns a post and its image.
	r.Get("/internal/posts/{id}", h.internalGet)
}
