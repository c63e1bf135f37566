package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"instant/platform/identity"
	"instant/platform/session"
	"instant/platform/testenv"
	"instant/services/auth/internal/user"
)

// routeCase is one request and the status it must get. run prepares what the request
// needs, sends it and returns the response, plus optional checks that run once the
// status has been asserted.
type routeCase struct {
	name string
	want int
	code string // error code in the JSON envelope, for statuses >= 400
	run  func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(t *testing.T))
}

// TestRoutes sends every route through the handler newApp builds, on the real servers
// and on the embedded stand-ins.
func TestRoutes(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, env(b.db(t), b.redis(t), testenv.Kafka(t, emailTopic, eventsTopic)))
			for _, tc := range routeCases() {
				t.Run(tc.name, func(t *testing.T) {
					rec, then := tc.run(t, h)
					mustStatus(t, rec, tc.want)
					if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
						t.Fatalf("Content-Type = %q, want JSON", ct)
					}
					if tc.want >= 400 {
						var eb errorBody
						decode(t, rec, &eb)
						if eb.Success || eb.Error.Code != tc.code || eb.Error.Message == "" {
							t.Fatalf("error body = %s, want code %q", rec.Body, tc.code)
						}
					}
					if then != nil {
						then(t)
					}
				})
			}
		})
	}
}

func post(path string, body any) call { return call{method: "POST", path: path, body: body} }

func only(rec *httptest.ResponseRecorder) (*httptest.ResponseRecorder, func(*testing.T)) {
	return rec, nil
}

func routeCases() []routeCase {
	return []routeCase{
		// POST /auth/request-code
		{"request_code_200_new_address", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			email := newEmail()
			rec := h.do(t, post("/auth/request-code", map[string]string{"email": "  " + strings.ToUpper(email) + " "}))
			return rec, func(t *testing.T) {
				var body map[string]string
				decode(t, rec, &body)
				if body["message"] == "" {
					t.Fatalf("body = %s, want a message", rec.Body)
				}
				m := h.mailed(t, email, "login_code")
				if len(m.Params["code"]) != 6 || strings.Trim(m.Params["code"], "0123456789") != "" {
					t.Fatal("the code is not six digits")
				}
				if m.Params["ttl_minutes"] != "10" {
					t.Fatalf("ttl_minutes = %q", m.Params["ttl_minutes"])
				}
				if _, ok := m.Params["username"]; ok {
					t.Fatal("a username for an address without an account")
				}
			}
		}},
		{"request_code_200_existing_account_same_answer", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			fresh := h.do(t, post("/auth/request-code", map[string]string{"email": newEmail()}))
			rec := h.do(t, post("/auth/request-code", map[string]string{"email": a.Email}))
			return rec, func(t *testing.T) {
				if rec.Body.String() != fresh.Body.String() {
					t.Fatalf("answers differ: %s vs %s", rec.Body, fresh.Body)
				}
				if m := h.mailed(t, a.Email, "login_code"); m.Params["username"] != a.Username {
					t.Fatalf("username param = %q, want %q", m.Params["username"], a.Username)
				}
			}
		}},
		{"request_code_400_invalid_email", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			rec := h.do(t, post("/auth/request-code", map[string]string{"email": "not-an-address"}))
			return rec, func(t *testing.T) {
				var eb errorBody
				decode(t, rec, &eb)
				if eb.Error.Fields["email"] == "" {
					t.Fatalf("no field error for email: %s", rec.Body)
				}
			}
		}},
		{"request_code_400_display_name", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, post("/auth/request-code", map[string]string{"email": "Bob <bob@example.com>"})))
		}},
		{"request_code_400_too_long", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, post("/auth/request-code", map[string]string{"email": strings.Repeat("a", 64) + "@" + strings.Repeat("b", 190) + ".com"})))
		}},
		{"request_code_400_unknown_field", 400, "unknown_field", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, post("/auth/request-code", `{"email":"a@example.com","admin":true}`)))
		}},
		{"request_code_400_empty_body", 400, "empty_body", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, post("/auth/request-code", "")))
		}},
		{"request_code_415_not_json", 415, "unsupported_media_type", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			c := post("/auth/request-code", `{"email":"a@example.com"}`)
			c.header = map[string]string{"Content-Type": "text/plain"}
			return only(h.do(t, c))
		}},
		{"request_code_413_too_large", 413, "body_too_large", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, post("/auth/request-code", `{"email":"`+strings.Repeat("a", 70<<10)+`"}`)))
		}},

		// POST /auth/verify-code
		{"verify_200_signup", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			email, name := newEmail(), testenv.Name("u")
			code := h.loginCode(t, email)
			rec := h.do(t, post("/auth/verify-code", map[string]string{"email": strings.ToUpper(email), "code": code, "username": strings.ToUpper(name)}))
			return rec, func(t *testing.T) {
				var body struct {
					User      map[string]string `json:"user"`
					SessionID string            `json:"session_id"`
				}
				decode(t, rec, &body)
				id, err := uuid.Parse(body.User["id"])
				if err != nil || id.Version() != 4 {
					t.Fatalf("id %q is not a UUID v4", body.User["id"])
				}
				if body.User["username"] != name || body.User["email"] != email || body.User["created_at"] == "" {
					t.Fatalf("user = %v", body.User)
				}
				checkSessionCookie(t, rec, body.SessionID, true)
				if rec.Header().Get("Cache-Control") != "no-store" {
					t.Fatal("an answer carrying a session may be cached")
				}
				s, err := h.sessions.Resolve(t.Context(), body.SessionID)
				if err != nil || s.UserID != body.User["id"] {
					t.Fatalf("session resolves to %+v, %v", s, err)
				}
				ev := h.event(t, "user.created", body.User["id"])
				if ev["username"] != name || ev["created_at"] != body.User["created_at"] {
					t.Fatalf("user.created data = %v, user = %v", ev, body.User)
				}
				if _, ok := ev["email"]; ok {
					t.Fatal("user.created carries the email")
				}
			}
		}},
		{"verify_200_login_ignores_username", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			code := h.loginCode(t, a.Email)
			rec := h.do(t, post("/auth/verify-code", map[string]string{"email": strings.ToUpper(a.Email), "code": code, "username": testenv.Name("other")}))
			return rec, func(t *testing.T) {
				var body struct {
					User      map[string]string `json:"user"`
					SessionID string            `json:"session_id"`
				}
				decode(t, rec, &body)
				if body.User["id"] != a.ID || body.User["username"] != a.Username {
					t.Fatalf("login returned %v, want %s (%s) unrenamed", body.User, a.ID, a.Username)
				}
				if body.SessionID == a.SessionID || body.SessionID == "" {
					t.Fatal("login did not start a new session")
				}
				checkSessionCookie(t, rec, body.SessionID, true)
			}
		}},
		{"verify_200_without_username_for_existing_account", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			return only(h.do(t, post("/auth/verify-code", map[string]string{"email": a.Email, "code": h.loginCode(t, a.Email)})))
		}},
		{"verify_400_username_required", 400, "username_required", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			email := newEmail()
			code := h.loginCode(t, email)
			rec := h.do(t, post("/auth/verify-code", map[string]string{"email": email, "code": code}))
			return rec, func(t *testing.T) {
				again := h.do(t, post("/auth/verify-code", map[string]string{"email": email, "code": code, "username": testenv.Name("u")}))
				mustStatus(t, again, http.StatusOK) // the code was not spent
			}
		}},
		{"verify_409_username_taken", 409, "username_taken", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			email := newEmail()
			code := h.loginCode(t, email)
			rec := h.do(t, post("/auth/verify-code", map[string]string{"email": email, "code": code, "username": strings.ToUpper(a.Username)}))
			return rec, func(t *testing.T) {
				again := h.do(t, post("/auth/verify-code", map[string]string{"email": email, "code": code, "username": testenv.Name("u")}))
				mustStatus(t, again, http.StatusOK)
			}
		}},
		{"verify_400_invalid_username", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			email := newEmail()
			code := h.loginCode(t, email)
			rec := h.do(t, post("/auth/verify-code", map[string]string{"email": email, "code": code, "username": "no spaces here"}))
			return rec, func(t *testing.T) {
				var eb errorBody
				decode(t, rec, &eb)
				if eb.Error.Fields["username"] == "" {
					t.Fatalf("no field error for username: %s", rec.Body)
				}
				again := h.do(t, post("/auth/verify-code", map[string]string{"email": email, "code": code, "username": testenv.Name("u")}))
				mustStatus(t, again, http.StatusOK)
			}
		}},
		{"verify_400_invalid_code", 400, "invalid_code", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			email := newEmail()
			rec := h.do(t, post("/auth/verify-code", map[string]string{"email": email, "code": otherCode(h.loginCode(t, email)), "username": testenv.Name("u")}))
			return rec, func(t *testing.T) {
				var eb errorBody
				decode(t, rec, &eb)
				if !strings.Contains(eb.Error.Message, "attempts") {
					t.Fatalf("message %q does not say attempts are limited", eb.Error.Message)
				}
				// An existing account gets the very same answer.
				a := h.signup(t)
				other := h.do(t, post("/auth/verify-code", map[string]string{"email": a.Email, "code": otherCode(h.loginCode(t, a.Email))}))
				var eb2 errorBody
				decode(t, other, &eb2)
				if other.Code != rec.Code || eb2.Error.Code != eb.Error.Code || eb2.Error.Message != eb.Error.Message {
					t.Fatalf("answers differ by account existence: %s vs %s", rec.Body, other.Body)
				}
			}
		}},
		{"verify_400_invalid_code_malformed", 400, "invalid_code", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, post("/auth/verify-code", map[string]string{"email": newEmail(), "code": "12ab"})))
		}},
		{"verify_400_code_expired_after_five_wrong_tries", 400, "code_expired", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			email := newEmail()
			code := h.loginCode(t, email)
			for range 5 {
				wrong := h.do(t, post("/auth/verify-code", map[string]string{"email": email, "code": otherCode(code), "username": testenv.Name("u")}))
				mustStatus(t, wrong, http.StatusBadRequest)
			}
			return only(h.do(t, post("/auth/verify-code", map[string]string{"email": email, "code": code, "username": testenv.Name("u")})))
		}},
		{"verify_400_code_expired_used_once", 400, "code_expired", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			email := newEmail()
			code := h.loginCode(t, email)
			mustStatus(t, h.do(t, post("/auth/verify-code", map[string]string{"email": email, "code": code, "username": testenv.Name("u")})), http.StatusOK)
			return only(h.do(t, post("/auth/verify-code", map[string]string{"email": email, "code": code})))
		}},
		{"verify_400_code_expired_never_requested", 400, "code_expired", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, post("/auth/verify-code", map[string]string{"email": newEmail(), "code": "123456", "username": testenv.Name("u")})))
		}},
		{"verify_400_old_code_replaced", 400, "invalid_code", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			email := newEmail()
			old := h.loginCode(t, email)
			code := old
			for code == old {
				code = h.loginCode(t, email)
			}
			rec := h.do(t, post("/auth/verify-code", map[string]string{"email": email, "code": old, "username": testenv.Name("u")}))
			return rec, func(t *testing.T) {
				mustStatus(t, h.do(t, post("/auth/verify-code", map[string]string{"email": email, "code": code, "username": testenv.Name("u")})), http.StatusOK)
			}
		}},
		{"verify_400_delete_code_is_not_a_login_code", 400, "code_expired", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			mustStatus(t, h.do(t, call{method: "POST", path: "/auth/users/" + a.ID + "/request-delete-code", as: a.ID}), http.StatusOK)
			code := h.mailed(t, a.Email, "delete_code").Params["code"]
			return only(h.do(t, post("/auth/verify-code", map[string]string{"email": a.Email, "code": code})))
		}},
		{"verify_200_concurrent_exactly_one_wins", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			email := newEmail()
			code := h.loginCode(t, email)
			const n = 8
			recs := make([]*httptest.ResponseRecorder, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					recs[i] = h.do(t, post("/auth/verify-code", map[string]string{"email": email, "code": code, "username": testenv.Name("u")}))
				})
			}
			wg.Wait()
			var winner *httptest.ResponseRecorder
			for _, rec := range recs {
				switch {
				case rec.Code == http.StatusOK && winner == nil:
					winner = rec
				case rec.Code == http.StatusOK:
					t.Fatal("two concurrent verifications with one code both succeeded")
				case rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "code_expired"):
					t.Fatalf("a losing verification got %d %s, want 400 code_expired", rec.Code, rec.Body)
				}
			}
			if winner == nil {
				t.Fatal("no verification succeeded")
			}
			return only(winner)
		}},

		// POST /auth/logout
		{"logout_200_cookie", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			c := post("/auth/logout", nil)
			c.header = map[string]string{"Cookie": session.CookieName + "=" + a.SessionID}
			rec := h.do(t, c)
			return rec, func(t *testing.T) {
				mustBeRevoked(t, h, a.SessionID)
				checkClearedCookie(t, rec)
			}
		}},
		{"logout_200_bearer", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			c := post("/auth/logout", nil)
			c.header = map[string]string{"Authorization": "Bearer " + a.SessionID}
			rec := h.do(t, c)
			return rec, func(t *testing.T) { mustBeRevoked(t, h, a.SessionID) }
		}},
		{"logout_200_already_gone", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			c := post("/auth/logout", nil)
			c.header = map[string]string{"Cookie": session.CookieName + "=" + a.SessionID}
			mustStatus(t, h.do(t, c), http.StatusOK)
			return only(h.do(t, c))
		}},
		{"logout_200_no_session", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, post("/auth/logout", nil)))
		}},

		// POST /auth/logout-all
		{"logout_all_200", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a, b := h.signup(t), h.signup(t)
			second := verifyLogin(t, h, a.Email)
			rec := h.do(t, call{method: "POST", path: "/auth/logout-all", as: a.ID})
			return rec, func(t *testing.T) {
				mustBeRevoked(t, h, a.SessionID)
				mustBeRevoked(t, h, second)
				if _, err := h.sessions.Resolve(t.Context(), b.SessionID); err != nil {
					t.Fatalf("another user's session ended too: %v", err)
				}
				checkClearedCookie(t, rec)
			}
		}},
		{"logout_all_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, post("/auth/logout-all", nil)))
		}},

		// GET /auth/me
		{"me_200", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			rec := h.do(t, call{method: "GET", path: "/auth/me", as: a.ID})
			return rec, func(t *testing.T) {
				var body struct{ User map[string]string }
				decode(t, rec, &body)
				if body.User["id"] != a.ID || body.User["username"] != a.Username || body.User["email"] != a.Email || body.User["created_at"] == "" {
					t.Fatalf("me = %v, want %+v", body.User, a)
				}
			}
		}},
		{"me_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/auth/me"}))
		}},
		{"me_401_forged_x_user_id", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			return only(h.do(t, call{method: "GET", path: "/auth/me", header: map[string]string{identity.HeaderUserID: a.ID}}))
		}},
		{"me_401_foreign_signature", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			forger, _ := identity.NewSigner(strings.Repeat("x", 32))
			return only(h.do(t, call{method: "GET", path: "/auth/me", header: map[string]string{
				identity.HeaderUserID: a.ID, identity.HeaderSignature: forger.Sign(a.ID)}}))
		}},
		{"me_401_account_gone", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/auth/me", as: uuid.NewString()}))
		}},

		// PATCH /auth/users/{id}
		{"patch_200_rename", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			name := testenv.Name("r")
			rec := h.do(t, call{method: "PATCH", path: "/auth/users/" + a.ID, as: a.ID, body: map[string]string{"username": strings.ToUpper(name)}})
			return rec, func(t *testing.T) {
				var body struct{ User map[string]string }
				decode(t, rec, &body)
				if body.User["username"] != name || body.User["email"] != a.Email {
					t.Fatalf("renamed = %v", body.User)
				}
				if ev := h.event(t, "user.updated", a.ID); ev["username"] != name {
					t.Fatalf("user.updated data = %v", ev)
				}
				p := h.do(t, call{method: "GET", path: "/api/users/by-username/" + name})
				mustStatus(t, p, http.StatusOK)
			}
		}},
		{"patch_200_no_fields", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			rec := h.do(t, call{method: "PATCH", path: "/auth/users/" + a.ID, as: a.ID, body: map[string]string{}})
			return rec, func(t *testing.T) {
				if !strings.Contains(rec.Body.String(), a.Username) {
					t.Fatalf("body = %s", rec.Body)
				}
			}
		}},
		{"patch_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			return only(h.do(t, call{method: "PATCH", path: "/auth/users/" + a.ID, body: map[string]string{"username": testenv.Name("r")}}))
		}},
		{"patch_401_forged_x_user_id", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			return only(h.do(t, call{method: "PATCH", path: "/auth/users/" + a.ID, body: map[string]string{"username": testenv.Name("r")},
				header: map[string]string{identity.HeaderUserID: a.ID}}))
		}},
		{"patch_403_other_user", 403, "forbidden", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a, b := h.signup(t), h.signup(t)
			rec := h.do(t, call{method: "PATCH", path: "/auth/users/" + b.ID, as: a.ID, body: map[string]string{"username": testenv.Name("r")}})
			return rec, func(t *testing.T) {
				me := h.do(t, call{method: "GET", path: "/auth/me", as: b.ID})
				if !strings.Contains(me.Body.String(), b.Username) {
					t.Fatal("another user's name changed")
				}
			}
		}},
		{"patch_409_username_taken", 409, "username_taken", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a, b := h.signup(t), h.signup(t)
			return only(h.do(t, call{method: "PATCH", path: "/auth/users/" + a.ID, as: a.ID, body: map[string]string{"username": strings.ToUpper(b.Username)}}))
		}},
		{"patch_400_invalid_username", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			return only(h.do(t, call{method: "PATCH", path: "/auth/users/" + a.ID, as: a.ID, body: map[string]string{"username": "x"}}))
		}},
		{"patch_400_email_not_patchable", 400, "unknown_field", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			return only(h.do(t, call{method: "PATCH", path: "/auth/users/" + a.ID, as: a.ID, body: map[string]string{"email": newEmail()}}))
		}},

		// POST /auth/users/{id}/email and /email/confirm
		{"email_change_200", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			to := newEmail()
			mustStatus(t, h.do(t, call{method: "POST", path: "/auth/users/" + a.ID + "/email", as: a.ID, body: map[string]string{"email": to}}), http.StatusOK)
			code := h.mailed(t, to, "email_change_code").Params["code"]
			rec := h.do(t, call{method: "POST", path: "/auth/users/" + a.ID + "/email/confirm", as: a.ID, body: map[string]string{"code": code}})
			return rec, func(t *testing.T) {
				var body struct{ User map[string]string }
				decode(t, rec, &body)
				if body.User["email"] != to || body.User["id"] != a.ID {
					t.Fatalf("after change = %v", body.User)
				}
				var login struct{ User map[string]string }
				v := h.do(t, post("/auth/verify-code", map[string]string{"email": to, "code": h.loginCode(t, to)}))
				mustStatus(t, v, http.StatusOK)
				decode(t, v, &login)
				if login.User["id"] != a.ID {
					t.Fatal("the new address does not sign in to the account")
				}
				// The old address is told, with the new one masked.
				notice := h.mailed(t, a.Email, "email_changed")
				if notice.Params["new_email"] != user.MaskEmail(to) || !strings.Contains(notice.Params["new_email"], "***@") {
					t.Fatalf("notice params = %v", notice.Params)
				}
			}
		}},
		{"email_change_409_taken", 409, "email_taken", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a, b := h.signup(t), h.signup(t)
			return only(h.do(t, call{method: "POST", path: "/auth/users/" + a.ID + "/email", as: a.ID, body: map[string]string{"email": strings.ToUpper(b.Email)}}))
		}},
		{"email_change_400_invalid_email", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			return only(h.do(t, call{method: "POST", path: "/auth/users/" + a.ID + "/email", as: a.ID, body: map[string]string{"email": "nope"}}))
		}},
		{"email_change_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			return only(h.do(t, call{method: "POST", path: "/auth/users/" + a.ID + "/email", body: map[string]string{"email": newEmail()}}))
		}},
		{"email_change_403_other_user", 403, "forbidden", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a, b := h.signup(t), h.signup(t)
			return only(h.do(t, call{method: "POST", path: "/auth/users/" + b.ID + "/email", as: a.ID, body: map[string]string{"email": newEmail()}}))
		}},
		{"email_confirm_400_invalid_code", 400, "invalid_code", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			to := newEmail()
			mustStatus(t, h.do(t, call{method: "POST", path: "/auth/users/" + a.ID + "/email", as: a.ID, body: map[string]string{"email": to}}), http.StatusOK)
			code := h.mailed(t, to, "email_change_code").Params["code"]
			return only(h.do(t, call{method: "POST", path: "/auth/users/" + a.ID + "/email/confirm", as: a.ID, body: map[string]string{"code": otherCode(code)}}))
		}},
		{"email_confirm_400_login_code_is_not_a_change_code", 400, "code_expired", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			code := h.loginCode(t, a.Email)
			return only(h.do(t, call{method: "POST", path: "/auth/users/" + a.ID + "/email/confirm", as: a.ID, body: map[string]string{"code": code}}))
		}},
		{"email_confirm_403_other_user", 403, "forbidden", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a, b := h.signup(t), h.signup(t)
			return only(h.do(t, call{method: "POST", path: "/auth/users/" + b.ID + "/email/confirm", as: a.ID, body: map[string]string{"code": "123456"}}))
		}},
		{"email_confirm_409_taken_meanwhile", 409, "email_taken", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			to := newEmail()
			mustStatus(t, h.do(t, call{method: "POST", path: "/auth/users/" + a.ID + "/email", as: a.ID, body: map[string]string{"email": to}}), http.StatusOK)
			code := h.mailed(t, to, "email_change_code").Params["code"]
			mustStatus(t, h.do(t, post("/auth/verify-code", map[string]string{"email": to, "code": h.loginCode(t, to), "username": testenv.Name("u")})), http.StatusOK)
			return only(h.do(t, call{method: "POST", path: "/auth/users/" + a.ID + "/email/confirm", as: a.ID, body: map[string]string{"code": code}}))
		}},

		// GET|POST /auth/users/{id}/request-delete-code, POST /auth/users/{id}/delete
		{"request_delete_code_200_get", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			rec := h.do(t, call{method: "GET", path: "/auth/users/" + a.ID + "/request-delete-code", as: a.ID})
			return rec, func(t *testing.T) {
				if m := h.mailed(t, a.Email, "delete_code"); len(m.Params["code"]) != 6 || m.Params["username"] != a.Username {
					t.Fatalf("delete_code params = %v", m.Params)
				}
			}
		}},
		{"request_delete_code_200_post", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			rec := h.do(t, call{method: "POST", path: "/auth/users/" + a.ID + "/request-delete-code", as: a.ID})
			return rec, func(t *testing.T) { h.mailed(t, a.Email, "delete_code") }
		}},
		{"request_delete_code_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			return only(h.do(t, call{method: "GET", path: "/auth/users/" + a.ID + "/request-delete-code"}))
		}},
		{"request_delete_code_403_other_user", 403, "forbidden", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a, b := h.signup(t), h.signup(t)
			return only(h.do(t, call{method: "GET", path: "/auth/users/" + b.ID + "/request-delete-code", as: a.ID}))
		}},
		{"delete_200", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			second := verifyLogin(t, h, a.Email)
			mustStatus(t, h.do(t, call{method: "GET", path: "/auth/users/" + a.ID + "/request-delete-code", as: a.ID}), http.StatusOK)
			code := h.mailed(t, a.Email, "delete_code").Params["code"]
			rec := h.do(t, call{method: "POST", path: "/auth/users/" + a.ID + "/delete", as: a.ID, body: map[string]string{"code": code}})
			return rec, func(t *testing.T) {
				checkClearedCookie(t, rec)
				mustBeRevoked(t, h, a.SessionID)
				mustBeRevoked(t, h, second)
				mustStatus(t, h.do(t, call{method: "GET", path: "/api/users/" + a.ID}), http.StatusNotFound)
				if ev := h.event(t, "user.deleted", a.ID); len(ev) != 1 || ev["id"] != a.ID {
					t.Fatalf("user.deleted data = %v, want only the id", ev)
				}
				// The address is free for a new account, with a new id.
				var again struct{ User map[string]string }
				v := h.do(t, post("/auth/verify-code", map[string]string{"email": a.Email, "code": h.loginCode(t, a.Email), "username": a.Username}))
				mustStatus(t, v, http.StatusOK)
				decode(t, v, &again)
				if again.User["id"] == a.ID {
					t.Fatal("a deleted account came back")
				}
			}
		}},
		{"delete_400_invalid_code", 400, "invalid_code", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			mustStatus(t, h.do(t, call{method: "POST", path: "/auth/users/" + a.ID + "/request-delete-code", as: a.ID}), http.StatusOK)
			code := h.mailed(t, a.Email, "delete_code").Params["code"]
			rec := h.do(t, call{method: "POST", path: "/auth/users/" + a.ID + "/delete", as: a.ID, body: map[string]string{"code": otherCode(code)}})
			return rec, func(t *testing.T) {
				mustStatus(t, h.do(t, call{method: "GET", path: "/auth/me", as: a.ID}), http.StatusOK)
			}
		}},
		{"delete_400_login_code_is_not_a_delete_code", 400, "code_expired", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			code := h.loginCode(t, a.Email)
			return only(h.do(t, call{method: "POST", path: "/auth/users/" + a.ID + "/delete", as: a.ID, body: map[string]string{"code": code}}))
		}},
		{"delete_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			return only(h.do(t, call{method: "POST", path: "/auth/users/" + a.ID + "/delete", body: map[string]string{"code": "123456"}}))
		}},
		{"delete_403_other_user", 403, "forbidden", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a, b := h.signup(t), h.signup(t)
			mustStatus(t, h.do(t, call{method: "POST", path: "/auth/users/" + b.ID + "/request-delete-code", as: b.ID}), http.StatusOK)
			code := h.mailed(t, b.Email, "delete_code").Params["code"]
			rec := h.do(t, call{method: "POST", path: "/auth/users/" + b.ID + "/delete", as: a.ID, body: map[string]string{"code": code}})
			return rec, func(t *testing.T) {
				mustStatus(t, h.do(t, call{method: "GET", path: "/api/users/" + b.ID}), http.StatusOK)
			}
		}},

		// GET /api/users/{id}, /api/users/by-username/{username}
		{"profile_200", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			rec := h.do(t, call{method: "GET", path: "/api/users/" + a.ID})
			return rec, func(t *testing.T) {
				var body map[string]string
				decode(t, rec, &body)
				if body["id"] != a.ID || body["username"] != a.Username || body["created_at"] == "" || len(body) != 3 {
					t.Fatalf("profile = %v, want id, username, created_at only", body)
				}
			}
		}},
		{"profile_404_unknown", 404, "not_found", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/users/" + uuid.NewString()}))
		}},
		{"profile_400_malformed_id", 400, "invalid_id", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/users/not-a-uuid"}))
		}},
		{"profile_by_username_200", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			a := h.signup(t)
			rec := h.do(t, call{method: "GET", path: "/api/users/by-username/" + strings.ToUpper(a.Username)})
			return rec, func(t *testing.T) {
				var body map[string]string
				decode(t, rec, &body)
				if body["id"] != a.ID || len(body) != 3 {
					t.Fatalf("profile = %v", body)
				}
			}
		}},
		{"profile_by_username_404", 404, "not_found", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/users/by-username/" + testenv.Name("nobody")}))
		}},

		// Edges every service has.
		{"readyz_200", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/readyz"}))
		}},
		{"unknown_route_404", 404, "not_found", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/auth/nothing-here"}))
		}},
		{"wrong_method_405", 405, "method_not_allowed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/auth/request-code"}))
		}},
	}
}

// verifyLogin signs in to an existing account and returns the new session id.
func verifyLogin(t *testing.T, h *harness, email string) string {
	t.Helper()
	rec := h.do(t, post("/auth/verify-code", map[string]string{"email": email, "code": h.loginCode(t, email)}))
	mustStatus(t, rec, http.StatusOK)
	var body struct {
		SessionID string `json:"session_id"`
	}
	decode(t, rec, &body)
	return body.SessionID
}

func mustBeRevoked(t *testing.T, h *harness, id string) {
	t.Helper()
	if _, err := h.sessions.Resolve(t.Context(), id); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("session still resolves (err %v)", err)
	}
}

func checkSessionCookie(t *testing.T, rec *httptest.ResponseRecorder, id string, secure bool) {
	t.Helper()
	var c *http.Cookie
	for _, k := range rec.Result().Cookies() {
		if k.Name == session.CookieName {
			c = k
		}
	}
	if c == nil || c.Value != id || id == "" {
		t.Fatalf("no session cookie carrying the session id: %v", rec.Header()["Set-Cookie"])
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge <= 0 || c.Secure != secure {
		t.Fatalf("session cookie attributes: %s", rec.Header().Get("Set-Cookie"))
	}
}

func checkClearedCookie(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.Name == session.CookieName && c.Value == "" && c.MaxAge < 0 && c.Path == "/" {
			return
		}
	}
	t.Fatalf("the session cookie is not cleared: %v", rec.Header()["Set-Cookie"])
}

// otherCode returns a well-formed code different from code.
func otherCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}
