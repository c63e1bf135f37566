package commenthttp

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"instant/platform/identity"
	"instant/platform/web"
	"instant/services/comments/internal/comment"
)

// Handler serves the routes of Routes.
type Handler struct {
	svc *comment.Service
	rs  web.Responder
}

// NewHandler returns the handlers over svc.
func NewHandler(svc *comment.Service, log *slog.Logger) *Handler {
	return &Handler{svc: svc, rs: web.Responder{Log: log, Errors: errorMap()}}
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	actor, ok := h.actor(w, r)
	if !ok {
		return
	}
	var req bodyRequest
	if err := web.Decode(w, r, &req, maxBody); err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := h.svc.Create(r.Context(), actor, chi.URLParam(r, "id"), req.Body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusCreated, toJSON(c))
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.actor(w, r); !ok {
		return
	}
	q := r.URL.Query()
	limit, err := comment.ParseLimit(q.Get("limit"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	page, err := h.svc.List(r.Context(), chi.URLParam(r, "id"), q.Get("cursor"), limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	resp := listResponse{Items: make([]commentJSON, len(page.Items)), NextCursor: page.Next}
	for i, c := range page.Items {
		resp.Items[i] = toJSON(c)
	}
	h.rs.JSON(w, http.StatusOK, resp)
}

func (h *Handler) update(w http.ResponseWriter, r *http.Request) {
	actor, ok := h.actor(w, r)
	if !ok {
		return
	}
	var req bodyRequest
	if err := web.Decode(w, r, &req, maxBody); err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := h.svc.Update(r.Context(), actor, chi.URLParam(r, "id"), req.Body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, toJSON(c))
}

// delete answers 200 with the id rather than 204: the API's other deletions (posts,
// files) answer 200 with a body too, so a client handles them all alike.
func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	actor, ok := h.actor(w, r)
	if !ok {
		return
	}
	c, err := h.svc.Delete(r.Context(), actor, chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, deleteResponse{ID: c.ID})
}

// actor returns the signed-in user, or answers 401. User ids are UUIDs; a signature
// vouching for anything else is treated as no identity at all.
func (h *Handler) actor(w http.ResponseWriter, r *http.Request) (string, bool) {
	if id, ok := identity.UserID(r.Context()); ok {
		if id, err := comment.ParseID(id); err == nil {
			return id, true
		}
	}
	h.fail(w, r, web.Unauthorized("sign in first"))
	return "", false
}

// fail answers err: a rule broken by a field as a 400 naming the field, everything else
// through the error table.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var fe *comment.FieldError
	if errors.As(err, &fe) {
		e := web.Invalid(fe.Field, fe.Problem)
		e.Err = err
		err = e
	}
	h.rs.Error(w, r, err)
}
