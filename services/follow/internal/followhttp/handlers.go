package followhttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"instant/platform/identity"
	"instant/platform/web"
	"instant/services/follow/internal/follow"
)

// Handler serves the routes of Routes.
type Handler struct {
	svc *follow.Service
	rs  web.Responder
}

// NewHandler returns the handlers over svc.
func NewHandler(svc *follow.Service, log *slog.Logger) *Handler {
	return &Handler{svc: svc, rs: web.Responder{Log: log, Errors: errorMap()}}
}

// signedIn answers 401 to a request without a verified identity.
func (h *Handler) signedIn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := identity.UserID(r.Context()); !ok {
			h.fail(w, r, web.Unauthorized("sign in first"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// actor is the verified caller; signedIn has made sure there is one.
func actor(ctx context.Context) string {
	id, _ := identity.UserID(ctx)
	return id
}

func (h *Handler) follow(w http.ResponseWriter, r *http.Request) {
	c, err := h.svc.Follow(r.Context(), actor(r.Context()), chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, followed(c, true))
}

func (h *Handler) unfollow(w http.ResponseWriter, r *http.Request) {
	c, err := h.svc.Unfollow(r.Context(), actor(r.Context()), chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, followed(c, false))
}

type listFunc func(ctx context.Context, user string, after *follow.Cursor, limit int) (follow.Page, error)

func (h *Handler) followers(w http.ResponseWriter, r *http.Request) {
	h.list(w, r, h.svc.Followers, follow.DefaultLimit, follow.MaxLimit)
}

func (h *Handler) following(w http.ResponseWriter, r *http.Request) {
	h.list(w, r, h.svc.Following, follow.DefaultLimit, follow.MaxLimit)
}

func (h *Handler) internalFollowers(w http.ResponseWriter, r *http.Request) {
	h.list(w, r, h.svc.Followers, follow.DefaultInternalLimit, follow.MaxInternalLimit)
}

func (h *Handler) internalFollowing(w http.ResponseWriter, r *http.Request) {
	h.list(w, r, h.svc.Following, follow.DefaultInternalLimit, follow.MaxInternalLimit)
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request, list listFunc, def, max int) {
	q := r.URL.Query()
	limit, err := parseLimit(q.Get("limit"), def, max)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var after *follow.Cursor
	if s := q.Get("cursor"); s != "" {
		c, err := follow.DecodeCursor(s)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		after = &c
	}
	p, err := list(r.Context(), chi.URLParam(r, "id"), after, limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, page(p))
}

// parseLimit reads a page size: def when absent, at most max (larger asks get max, as a
// client asking for "everything" is best served by full pages and a cursor).
func parseLimit(s string, def, max int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, &follow.FieldError{Field: "limit", Problem: fmt.Sprintf("must be a whole number from 1 to %d", max)}
	}
	return min(n, max), nil
}

func (h *Handler) relation(w http.ResponseWriter, r *http.Request) {
	rel, err := h.svc.Relation(r.Context(), actor(r.Context()), chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, relation(rel))
}

func (h *Handler) batchCounts(w http.ResponseWriter, r *http.Request) {
	var ids []string
	for _, id := range strings.Split(r.URL.Query().Get("user_ids"), ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	cs, err := h.svc.Counts(r.Context(), ids)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, batchCounts(cs))
}

// fail answers err: a rule broken by a field as a 400 naming the field, everything else
// through the error table.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var fe *follow.FieldError
	if errors.As(err, &fe) {
		e := web.Invalid(fe.Field, fe.Problem)
		e.Err = err
		err = e
	}
	h.rs.Error(w, r, err)
}
