package likehttp

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"instant/platform/identity"
	"instant/platform/web"
	"instant/services/likes/internal/like"
)

// Handler serves the routes of Routes.
type Handler struct {
	svc *like.Service
	rs  web.Responder
}

// NewHandler returns the handlers over svc.
func NewHandler(svc *like.Service, log *slog.Logger) *Handler {
	return &Handler{svc: svc, rs: web.Responder{Log: log, Errors: errorMap()}}
}

// like takes no body: the post is in the path, the user is the signed-in one.
func (h *Handler) like(w http.ResponseWriter, r *http.Request) {
	actor, ok := h.actor(w, r)
	if !ok {
		return
	}
	st, err := h.svc.Like(r.Context(), actor, chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, toState(st))
}

func (h *Handler) unlike(w http.ResponseWriter, r *http.Request) {
	actor, ok := h.actor(w, r)
	if !ok {
		return
	}
	st, err := h.svc.Unlike(r.Context(), actor, chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, toState(st))
}

func (h *Handler) likers(w http.ResponseWriter, r *http.Request) {
	actor, ok := h.actor(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	limit, err := like.ParseLimit(q.Get("limit"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	page, err := h.svc.Likers(r.Context(), actor, chi.URLParam(r, "id"), q.Get("cursor"), limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	resp := likersResponse{PostID: page.Summary.PostID, LikeCount: page.Summary.Count, LikedByMe: page.Summary.LikedByMe,
		Items: make([]likerJSON, len(page.Items)), NextCursor: page.Next}
	for i, l := range page.Items {
		resp.Items[i] = likerJSON{UserID: l.UserID, CreatedAt: l.CreatedAt.UTC()}
	}
	h.rs.JSON(w, http.StatusOK, resp)
}

func (h *Handler) summaries(w http.ResponseWriter, r *http.Request) {
	actor, ok := h.actor(w, r)
	if !ok {
		return
	}
	sums, err := h.svc.Summaries(r.Context(), actor, r.URL.Query().Get("post_ids"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, toSummaries(sums))
}

// internalSummaries is summaries for a service: the viewer comes from user_id (empty:
// an anonymous viewer). A signed identity is not required, but one that is present must
// be the viewer named, so a request carrying a user's identity cannot read as another.
func (h *Handler) internalSummaries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var viewer string
	if v := q.Get("user_id"); v != "" {
		id, err := like.ParseID(v)
		if err != nil {
			h.fail(w, r, web.Invalid("user_id", "must be a UUID"))
			return
		}
		viewer = id
	}
	if signed, ok := identity.UserID(r.Context()); ok {
		id, err := like.ParseID(signed)
		switch {
		case err != nil: // a signature for something that is no user id: no identity
		case viewer == "":
			viewer = id
		case id != viewer:
			h.fail(w, r, web.Forbidden("user_id must be the signed-in user"))
			return
		}
	}
	sums, err := h.svc.Summaries(r.Context(), viewer, q.Get("post_ids"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, toSummaries(sums))
}

// actor returns the signed-in user, or answers 401. User ids are UUIDs; a signature
// vouching for anything else is treated as no identity at all.
func (h *Handler) actor(w http.ResponseWriter, r *http.Request) (string, bool) {
	if id, ok := identity.UserID(r.Context()); ok {
		if id, err := like.ParseID(id); err == nil {
			return id, true
		}
	}
	h.fail(w, r, web.Unauthorized("sign in first"))
	return "", false
}

// fail answers err: a rule broken by a field as a 400 naming the field, everything else
// through the error table.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var fe *like.FieldError
	if errors.As(err, &fe) {
		e := web.Invalid(fe.Field, fe.Problem)
		e.Err = err
		err = e
	}
	h.rs.Error(w, r, err)
}
