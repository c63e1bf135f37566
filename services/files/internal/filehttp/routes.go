// Package filehttp is the HTTP face of the files service: every route, its handler, the
// request and response bodies, and the one table that turns core errors into statuses.
package filehttp

import "github.com/go-chi/chi/v5"

// Routes lists every route the files service serves. The caller's identity comes from the
// signed identity header the gateway sets (identity.Middleware, applied around these
// routes), never from X-User-ID or a body.
func Routes(r chi.Router, h *Handler) {
	// Signed-in members: presigned URLs, a stable image address, deleting one's own files.
	r.Post("/api/files/upload-url", h.uploadURL)
	r.Post("/api/files/download-url", h.downloadURL)
	r.Get("/api/files/*", h.redirect)
	r.Delete("/api/files/*", h.delete)

	// Internal: never in the gateway's route table. posts checks an image here before a
	// post may use it, and sweeps the uploads no post uses.
	r.Get("/internal/files/*", h.info)
	r.Get("/internal/uploads", h.uploads)
	r.Post("/internal/uploads/delete", h.removeUploads)
}
