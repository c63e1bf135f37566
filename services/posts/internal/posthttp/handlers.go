package posthttp

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"instant/platform/identity"
	"instant/platform/web"
	"instant/services/posts/internal/post"
)

// maxBody bounds a post or patch body: a 2,200-character caption written entirely as
// JSON \u escapes of surrogate pairs is 26 KiB, a key at most 1 KiB.
const maxBody = 64 << 10

// Handler serves the routes of Routes.
type Handler struct {
	svc *post.Service
	rs  web.Responder
}

// NewHandler returns the handlers over svc.
func NewHandler(svc *post.Service, log *slog.Logger) *Handler {
	return &Handler{svc: svc, rs: web.Responder{Log: log, Errors: errorMap()}}
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	actor, ok := h.actor(w, r)
	if !ok {
		return
	}
	var req createRequest
	if err := web.Decode(w, r, &req, maxBody); err != nil {
		h.fail(w, r, err)
		return
	}
	p, err := h.svc.Create(r.Context(), actor, post.Draft{Caption: req.Caption, ImageKey: req.ImageKey, ImageURL: req.ImageURL})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/posts/"+p.ID)
	h.rs.JSON(w, http.StatusCreated, success(toJSON(p)))
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.actor(w, r); !ok {
		return
	}
	p, err := h.svc.Get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, success(toJSON(p)))
}

func (h *Handler) patch(w http.ResponseWriter, r *http.Request) {
	actor, ok := h.actor(w, r)
	if !ok {
		return
	}
	var req patchRequest
	if err := web.Decode(w, r, &req, maxBody); err != nil {
		h.fail(w, r, err)
		return
	}
	p, err := h.svc.Update(r.Context(), actor, chi.URLParam(r, "id"), post.Patch{Caption: req.Caption})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, success(toJSON(p)))
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	actor, ok := h.actor(w, r)
	if !ok {
		return
	}
	p, err := h.svc.Delete(r.Context(), actor, chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, success(deletedJSON{PostID: p.ID}))
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	h.page(w, r, post.PageRequest{})
}

func (h *Handler) listByUser(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if id == "" {
		h.fail(w, r, post.ErrInvalidID)
		return
	}
	h.page(w, r, post.PageRequest{UserID: id})
}

func (h *Handler) listByTag(w http.ResponseWriter, r *http.Request) {
	// chi hands over the raw segment when the client escaped it in a way Go would not
	// (lowercase hex, say); tags never hold '%', so unescaping is always safe.
	tag, err := url.PathUnescape(chi.URLParam(r, "tag"))
	if err != nil || tag == "" {
		h.fail(w, r, web.Invalid("tag", "must be letters, digits and '_', at most 100 characters"))
		return
	}
	h.page(w, r, post.PageRequest{Tag: tag})
}

// page answers a page of posts in either paging form: page/page_size when page is given
// (the original client), cursor/limit otherwise. Both carry next_cursor.
func (h *Handler) page(w http.ResponseWriter, r *http.Request, req post.PageRequest) {
	if _, ok := h.actor(w, r); !ok {
		return
	}
	q := r.URL.Query()
	sizeName, alt := "limit", "page_size"
	if q.Has("page") {
		sizeName, alt = "page_size", "limit"
		n, err := strconv.Atoi(q.Get("page"))
		if err != nil || n < 1 {
			h.fail(w, r, web.Invalid("page", "must be a whole number of at least 1"))
			return
		}
		req.Page = n
	}
	if !q.Has(sizeName) && q.Has(alt) {
		sizeName = alt
	}
	req.Limit = post.DefaultLimit
	if q.Has(sizeName) {
		n, err := strconv.Atoi(q.Get(sizeName))
		if err != nil || n < 1 || n > post.MaxLimit {
			h.fail(w, r, web.Invalid(sizeName, "must be a whole number from 1 to 100"))
			return
		}
		req.Limit = n
	}
	req.Cursor = q.Get("cursor")
	res, err := h.svc.List(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	body := listJSON{Posts: make([]postJSON, len(res.Posts)), HasMore: res.HasMore, NextCursor: res.Next}
	for i, p := range res.Posts {
		body.Posts[i] = toJSON(p)
	}
	if req.Page > 0 {
		body.Page, body.PageSize = req.Page, req.Limit
	}
	h.rs.JSON(w, http.StatusOK, success(body))
}

// internalGet tells another service whether a post exists and who owns it. A malformed
// id is 404 here, not 400: to a caller it is a post that does not exist.
func (h *Handler) internalGet(w http.ResponseWriter, r *http.Request) {
	p, err := h.svc.Get(r.Context(), chi.URLParam(r, "id"))
	if errors.Is(err, post.ErrInvalidID) {
		err = post.ErrNotFound
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, internalJSON{ID: p.ID, UserID: p.UserID, ImageKey: p.ImageKey})
}

// actor returns the signed-in user, or answers 401.
func (h *Handler) actor(w http.ResponseWriter, r *http.Request) (string, bool) {
	id, ok := identity.UserID(r.Context())
	if !ok {
		h.fail(w, r, web.Unauthorized("sign in first"))
	}
	return id, ok
}

// fail answers err: a rule broken by a field as a 400 naming the field, everything else
// through the error table.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var fe *post.FieldError
	if errors.As(err, &fe) {
		e := web.Invalid(fe.Field, fe.Problem)
		e.Err = err
		err = e
	}
	h.rs.Error(w, r, err)
}
