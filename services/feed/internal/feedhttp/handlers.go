package feedhttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"instant/platform/identity"
	"instant/platform/web"
	"instant/services/feed/internal/feed"
)

// Handler serves the routes of Routes.
type Handler struct {
	svc *feed.Service
	rs  web.Responder
}

// NewHandler returns the handlers over svc.
func NewHandler(svc *feed.Service, log *slog.Logger) *Handler {
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

// viewer is the verified caller; signedIn has made sure there is one.
func viewer(ctx context.Context) string {
	id, _ := identity.UserID(ctx)
	return id
}

// paging reads ?cursor= and ?limit= (default 20, larger asks get 100).
func paging(r *http.Request) (*feed.Ref, int, error) {
	q := r.URL.Query()
	limit := feed.DefaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return nil, 0, &feed.FieldError{Field: "limit", Problem: fmt.Sprintf("must be a whole number from 1 to %d", feed.MaxLimit)}
		}
		limit = min(n, feed.MaxLimit)
	}
	var after *feed.Ref
	if s := q.Get("cursor"); s != "" {
		c, err := feed.DecodeCursor(s)
		if err != nil {
			return nil, 0, err
		}
		after = &c
	}
	return after, limit, nil
}

type listFunc func(ctx context.Context, viewer string, after *feed.Ref, limit int) (feed.Page, error)

func (h *Handler) list(w http.ResponseWriter, r *http.Request, list listFunc) {
	after, limit, err := paging(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p, err := list(r.Context(), viewer(r.Context()), after, limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, page(p))
}

func (h *Handler) home(w http.ResponseWriter, r *http.Request)    { h.list(w, r, h.svc.Home) }
func (h *Handler) explore(w http.ResponseWriter, r *http.Request) { h.list(w, r, h.svc.Explore) }

type profileFunc func(ctx context.Context, viewer, key string, after *feed.Ref, limit int) (feed.Profile, error)

func (h *Handler) profile(w http.ResponseWriter, r *http.Request, get profileFunc, key string) {
	after, limit, err := paging(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p, err := get(r.Context(), viewer(r.Context()), key, after, limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, profile(p))
}

func (h *Handler) profileByID(w http.ResponseWriter, r *http.Request) {
	h.profile(w, r, h.svc.ProfileByID, chi.URLParam(r, "id"))
}

func (h *Handler) profileByName(w http.ResponseWriter, r *http.Request) {
	h.profile(w, r, h.svc.ProfileByName, chi.URLParam(r, "username"))
}

// fail answers err: a rule broken by a field as a 400 naming the field, everything else
// through the error table.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var fe *feed.FieldError
	if errors.As(err, &fe) {
		e := web.Invalid(fe.Field, fe.Problem)
		e.Err = err
		err = e
	}
	h.rs.Error(w, r, err)
}
