package filehttp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"instant/platform/identity"
	"instant/platform/web"
	"instant/services/files/internal/file"
)

// Handler serves the routes of Routes.
type Handler struct {
	svc *file.Service
	rs  web.Responder
}

// NewHandler returns the handlers over svc.
func NewHandler(svc *file.Service, log *slog.Logger) *Handler {
	return &Handler{svc: svc, rs: web.Responder{Log: log, Errors: errorMap()}}
}

// caller is the verified user of the request; anonymous requests get 401.
func caller(r *http.Request) (uuid.UUID, error) {
	id, ok := identity.UserID(r.Context())
	if !ok {
		return uuid.Nil, web.Unauthorized("sign in first")
	}
	uid, err := uuid.Parse(id)
	if err != nil {
		// The gateway signs user ids, which are UUIDs; anything else is not a member.
		return uuid.Nil, web.Unauthorized("sign in first")
	}
	return uid, nil
}

func (h *Handler) uploadURL(w http.ResponseWriter, r *http.Request) {
	uid, err := caller(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var req uploadURLRequest
	if err := web.Decode(w, r, &req, maxBody); err != nil {
		h.fail(w, r, err)
		return
	}
	up, err := h.svc.UploadURL(r.Context(), uid, req.Filename, req.ContentType, req.Size)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, uploadURLResponse{
		Success: true, UploadURL: up.URL, FileKey: up.Key.String(), Method: http.MethodPut, Headers: up.Headers,
		ExpiresAt: up.ExpiresAt.Truncate(time.Second), ExpiresInSeconds: int64(up.TTL / time.Second),
	})
}

func (h *Handler) downloadURL(w http.ResponseWriter, r *http.Request) {
	if _, err := caller(r); err != nil {
		h.fail(w, r, err)
		return
	}
	var req downloadURLRequest
	if err := web.Decode(w, r, &req, maxBody); err != nil {
		h.fail(w, r, err)
		return
	}
	d, err := h.svc.DownloadURL(r.Context(), req.FileKey)
	if errors.Is(err, file.ErrInvalidKey) {
		// The key came in a body field: say which.
		err = &file.FieldError{Field: "file_key", Problem: "must look like users/<user id>/<name>"}
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, downloadURLResponse{
		Success: true, DownloadURL: d.URL, FileKey: d.Key.String(),
		ExpiresAt: d.ExpiresAt.Truncate(time.Second), ExpiresInSeconds: int64(d.TTL / time.Second),
	})
}

// redirect answers GET /api/files/<key> with a redirect to a presigned GET, so a post's
// image_url is a stable address an <img> tag can use with the session cookie. Browsers
// may cache the redirect, but never past the URL's own lifetime.
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request) {
	if _, err := caller(r); err != nil {
		h.fail(w, r, err)
		return
	}
	d, err := h.svc.DownloadURL(r.Context(), chi.URLParam(r, "*"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Location", d.URL)
	w.Header().Set("Cache-Control", fmt.Sprintf("private, max-age=%d", redirectMaxAge(d.TTL)))
	w.WriteHeader(http.StatusFound)
}

// redirectMaxAge is how long a browser may reuse a redirect: a minute less than the
// target's lifetime (half of it for short lifetimes), so a cached redirect never leads
// to an expired URL.
func redirectMaxAge(ttl time.Duration) int64 {
	age := ttl - time.Minute
	if ttl < 2*time.Minute {
		age = ttl / 2
	}
	return int64(age / time.Second)
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	uid, err := caller(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	key, err := h.svc.Delete(r.Context(), uid, chi.URLParam(r, "*"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, deleteResponse{Success: true, FileKey: key.String()})
}

// info describes an object for another service. It needs no user: the key names its
// owner already, and size and type are no secret. A malformed key is a 404 (no such
// object can exist), so a caller handles one answer for "not usable".
func (h *Handler) info(w http.ResponseWriter, r *http.Request) {
	o, err := h.svc.Info(r.Context(), chi.URLParam(r, "*"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, infoResponse{
		Key: o.Key.String(), OwnerID: o.Key.Owner.String(), Size: o.Size, ContentType: o.ContentType,
		UploadedAt: web.Timestamp(o.UploadedAt),
	})
}

// uploads lists a page of uploads older than ?before= (RFC 3339), from ?after= (a key)
// on, at most ?limit= of the bucket's keys per page.
func (h *Handler) uploads(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	before, err := time.Parse(time.RFC3339Nano, q.Get("before"))
	if err != nil {
		h.fail(w, r, web.Invalid("before", "must be an RFC 3339 time"))
		return
	}
	limit := file.MaxListed
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > file.MaxListed {
			h.fail(w, r, web.Invalid("limit", fmt.Sprintf("must be a whole number from 1 to %d", file.MaxListed)))
			return
		}
	}
	objs, next, err := h.svc.Uploads(r.Context(), before, q.Get("after"), limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	body := uploadsResponse{Uploads: make([]uploadJSON, len(objs)), Next: next}
	for i, o := range objs {
		body.Uploads[i] = uploadJSON{Key: o.Key, Size: o.Size, UploadedAt: web.Timestamp(o.UploadedAt)}
	}
	h.rs.JSON(w, http.StatusOK, body)
}

// maxUploadsBody bounds a delete request: file.MaxListed keys of at most file.MaxKeyLen.
const maxUploadsBody = 1 << 20

// removeUploads deletes uploads posts found unused.
func (h *Handler) removeUploads(w http.ResponseWriter, r *http.Request) {
	var req removeUploadsRequest
	if err := web.Decode(w, r, &req, maxUploadsBody); err != nil {
		h.fail(w, r, err)
		return
	}
	n, err := h.svc.RemoveUploads(r.Context(), req.Keys)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, removeUploadsResponse{Removed: n})
}

// fail answers err: field errors as 400 validation failures, a declared size over the
// limit as 413, the rest through the error table.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var fe *file.FieldError
	switch {
	case errors.As(err, &fe):
		e := web.Invalid(fe.Field, fe.Problem)
		e.Err = err
		err = e
	case errors.Is(err, file.ErrTooLarge):
		problem := fmt.Sprintf("must be at most %d bytes", h.svc.MaxUploadBytes())
		err = &web.Error{Status: http.StatusRequestEntityTooLarge, Code: "file_too_large",
			Message: "size: " + problem, Fields: map[string]string{"size": problem}, Err: err}
	}
	h.rs.Error(w, r, err)
}
