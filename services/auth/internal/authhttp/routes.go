// Package authhttp is the HTTP face of the auth service: every route, its handler, the
// request and response bodies, and the one table that turns core errors into statuses.
package authhttp

import "github.com/go-chi/chi/v5"

// Routes lists every route auth serves. The caller's identity comes from the signed
// identity header the gateway sets (identity.Middleware, applied around these routes),
// never from X-User-ID or a body.
func Routes(r chi.Router, h *Handler) {
	// Sign-in: open to anyone; the gateway rate-limits them per IP and per email.
	r.Post("/auth/request-code", h.requestCode)
	r.Post("/auth/verify-code", h.verifyCode)
	r.Post("/auth/logout", h.logout)

	// The signed-in user's own account.
	r.Post("/auth/logout-all", h.logoutAll)
	r.Get("/auth/me", h.me)
	r.Patch("/auth/users/{id}", h.patchUser)
	r.Post("/auth/users/{id}/email", h.requestEmailChange)
	r.Post("/auth/users/{id}/email/confirm", h.confirmEmailChange)
	// The original API's client asks for a delete code with GET; POST is the right verb.
	r.Get("/auth/users/{id}/request-delete-code", h.requestDeleteCode)
	r.Post("/auth/users/{id}/request-delete-code", h.requestDeleteCode)
	r.Post("/auth/users/{id}/delete", h.deleteUser)

	// Public profiles: no email.
	r.Get("/api/users/{id}", h.getProfile)
	r.Get("/api/users/by-username/{username}", h.getProfileByUsername)
}
