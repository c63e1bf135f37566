package authhttp

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"instant/platform/identity"
	"instant/platform/session"
	"instant/platform/web"
	"instant/services/auth/internal/user"
)

// Handler serves the routes of Routes.
type Handler struct {
	svc          *user.Service
	rs           web.Responder
	secureCookie bool
}

// NewHandler returns the handlers over svc. secureCookie marks the session cookie Secure
// (off only for a stack served over plain HTTP).
func NewHandler(svc *user.Service, log *slog.Logger, secureCookie bool) *Handler {
	return &Handler{svc: svc, rs: web.Responder{Log: log, Errors: errorMap()}, secureCookie: secureCookie}
}

// Messages for the answers that carry nothing else. The request-code one is the same
// whether or not the address has an account.
const (
	msgCodeSent       = "if the address can receive mail, a sign-in code is on its way"
	msgSignedOut      = "signed out"
	msgSignedOutAll   = "signed out everywhere"
	msgDeleteCodeSent = "a code to confirm the deletion was sent to your email address"
	msgEmailCodeSent  = "a code to confirm the change was sent to the new address"
	msgDeleted        = "account deleted"
)

func (h *Handler) requestCode(w http.ResponseWriter, r *http.Request) {
	var req requestCodeRequest
	if err := web.Decode(w, r, &req, 0); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.svc.RequestLoginCode(r.Context(), req.Email); err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, messageResponse{Message: msgCodeSent})
}

func (h *Handler) verifyCode(w http.ResponseWriter, r *http.Request) {
	var req verifyCodeRequest
	if err := web.Decode(w, r, &req, 0); err != nil {
		h.fail(w, r, err)
		return
	}
	login, err := h.svc.VerifyLogin(r.Context(), req.Email, req.Code, req.Username)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.setSessionCookie(w, login.SessionID, login.ExpiresAt)
	h.rs.JSON(w, http.StatusOK, verifyCodeResponse{User: account(login.User), SessionID: login.SessionID})
}

// logout ends the session the request carries (bearer token or cookie). It answers 200
// when there is none or it already ended: the client wanted to be signed out, and is.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	var cookie string
	if c, err := r.Cookie(session.CookieName); err == nil {
		cookie = c.Value
	}
	if err := h.svc.Logout(r.Context(), session.FromRequestHeaders(r.Header.Get("Authorization"), cookie)); err != nil {
		h.fail(w, r, err)
		return
	}
	h.clearSessionCookie(w)
	h.rs.JSON(w, http.StatusOK, messageResponse{Message: msgSignedOut})
}

func (h *Handler) logoutAll(w http.ResponseWriter, r *http.Request) {
	actor, ok := h.actor(w, r)
	if !ok {
		return
	}
	if err := h.svc.LogoutAll(r.Context(), actor); err != nil {
		h.fail(w, r, err)
		return
	}
	h.clearSessionCookie(w)
	h.rs.JSON(w, http.StatusOK, messageResponse{Message: msgSignedOutAll})
}

func (h *Handler) me(w http.ResponseWriter, r *http.Request) {
	actor, ok := h.actor(w, r)
	if !ok {
		return
	}
	u, err := h.svc.Get(r.Context(), actor)
	if errors.Is(err, user.ErrNotFound) {
		// A valid identity for an account that no longer exists: signed out, not 404.
		h.fail(w, r, web.Unauthorized("sign in first"))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, accountResponse{User: account(u)})
}

func (h *Handler) patchUser(w http.ResponseWriter, r *http.Request) {
	actor, ok := h.actor(w, r)
	if !ok {
		return
	}
	var req patchUserRequest
	if err := web.Decode(w, r, &req, 0); err != nil {
		h.fail(w, r, err)
		return
	}
	u, err := h.svc.Update(r.Context(), actor, chi.URLParam(r, "id"), user.Patch{Username: req.Username})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, accountResponse{User: account(u)})
}

func (h *Handler) requestEmailChange(w http.ResponseWriter, r *http.Request) {
	actor, ok := h.actor(w, r)
	if !ok {
		return
	}
	var req changeEmailRequest
	if err := web.Decode(w, r, &req, 0); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.svc.RequestEmailChange(r.Context(), actor, chi.URLParam(r, "id"), req.Email); err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, messageResponse{Message: msgEmailCodeSent})
}

func (h *Handler) confirmEmailChange(w http.ResponseWriter, r *http.Request) {
	actor, ok := h.actor(w, r)
	if !ok {
		return
	}
	var req codeRequest
	if err := web.Decode(w, r, &req, 0); err != nil {
		h.fail(w, r, err)
		return
	}
	u, err := h.svc.ConfirmEmailChange(r.Context(), actor, chi.URLParam(r, "id"), req.Code)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, accountResponse{User: account(u)})
}

// requestDeleteCode takes no body, so GET (the original client) and POST behave alike.
func (h *Handler) requestDeleteCode(w http.ResponseWriter, r *http.Request) {
	actor, ok := h.actor(w, r)
	if !ok {
		return
	}
	if err := h.svc.RequestDeletion(r.Context(), actor, chi.URLParam(r, "id")); err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, messageResponse{Message: msgDeleteCodeSent})
}

func (h *Handler) deleteUser(w http.ResponseWriter, r *http.Request) {
	actor, ok := h.actor(w, r)
	if !ok {
		return
	}
	var req codeRequest
	if err := web.Decode(w, r, &req, 0); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.svc.Delete(r.Context(), actor, chi.URLParam(r, "id"), req.Code); err != nil {
		h.fail(w, r, err)
		return
	}
	h.clearSessionCookie(w)
	h.rs.JSON(w, http.StatusOK, messageResponse{Message: msgDeleted})
}

func (h *Handler) getProfile(w http.ResponseWriter, r *http.Request) {
	u, err := h.svc.Get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, profile(u))
}

func (h *Handler) getProfileByUsername(w http.ResponseWriter, r *http.Request) {
	u, err := h.svc.ByUsername(r.Context(), chi.URLParam(r, "username"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.rs.JSON(w, http.StatusOK, profile(u))
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
	var fe *user.FieldError
	if errors.As(err, &fe) {
		e := web.Invalid(fe.Field, fe.Problem)
		e.Err = err
		err = e
	}
	h.rs.Error(w, r, err)
}

// setSessionCookie hands the session to browsers. HttpOnly keeps it from scripts; Lax
// keeps it off cross-site subrequests and form posts; it lives as long as the session.
func (h *Handler) setSessionCookie(w http.ResponseWriter, id string, expires time.Time) {
	w.Header().Set("Cache-Control", "no-store")
	http.SetCookie(w, &http.Cookie{
		Name: session.CookieName, Value: id, Path: "/",
		MaxAge: max(int(time.Until(expires).Seconds()), 1), HttpOnly: true, Secure: h.secureCookie, SameSite: http.SameSiteLaxMode,
	})
}

func (h *Handler) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: session.CookieName, Value: "", Path: "/",
		MaxAge: -1, HttpOnly: true, Secure: h.secureCookie, SameSite: http.SameSiteLaxMode,
	})
}
