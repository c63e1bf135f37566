package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"instant/platform/identity"
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

// TestRoutes sends every route through the handler newApp builds, against the real S3
// server.
func TestRoutes(t *testing.T) {
	h := newHarness(t, env(t))
	for _, tc := range routeCases() {
		t.Run(tc.name, func(t *testing.T) {
			rec, then := tc.run(t, h)
			mustStatus(t, rec, tc.want)
			if tc.want >= 400 {
				if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Fatalf("Content-Type = %q, want JSON", ct)
				}
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
}

func only(rec *httptest.ResponseRecorder) (*httptest.ResponseRecorder, func(*testing.T)) {
	return rec, nil
}

func uploadReq(user uuid.UUID, body any) call {
	return call{method: "POST", path: "/api/files/upload-url", body: body, as: user}
}

func downloadReq(user uuid.UUID, key string) call {
	return call{method: "POST", path: "/api/files/download-url", body: map[string]string{"file_key": key}, as: user}
}

// missingKey is a well-formed key of user that was never uploaded.
func missingKey(user uuid.UUID) string {
	return "users/" + user.String() + "/" + uuid.NewString() + ".jpg"
}

// malformedKeys are keys no object may have, by what is wrong with them.
func malformedKeys() map[string]string {
	u, f := uuid.NewString(), uuid.NewString()+".jpg"
	return map[string]string{
		"traversal":      "users/" + u + "/../" + u + "/" + f,
		"dotdot_name":    "users/" + u + "/a..jpg",
		"leading_slash":  "/users/" + u + "/" + f,
		"other_prefix":   "posts/" + u + "/" + f,
		"owner_not_uuid": "users/alice/" + f,
		"owner_upper":    "users/" + strings.ToUpper(u) + "/" + f,
		"nested":         "users/" + u + "/a/" + f,
		"no_name":        "users/" + u + "/",
		"hidden_name":    "users/" + u + "/.jpg",
		"space":          "users/" + u + "/a b.jpg",
		"too_long":       "users/" + u + "/" + strings.Repeat("a", 200) + ".jpg",
		"empty":          "",
	}
}

func routeCases() []routeCase {
	jpeg := []byte("\xff\xd8\xff\xe0 not really a jpeg, but S3 does not care")
	cases := []routeCase{
		// POST /api/files/upload-url
		{"upload_url_200_put_then_read_back", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			user := uuid.New()
			before := time.Now().UTC().Truncate(time.Second)
			rec := h.do(t, uploadReq(user, map[string]any{"filename": "Holiday.JPG", "content_type": "image/jpeg"}))
			after := time.Now().UTC()
			return rec, func(t *testing.T) {
				var u uploadURL
				decode(t, rec, &u)
				if !u.Success || u.Method != "PUT" || u.ExpiresInSeconds != 300 {
					t.Fatalf("body = %s", rec.Body)
				}
				if !strings.HasPrefix(u.FileKey, "users/"+user.String()+"/") || !strings.HasSuffix(u.FileKey, ".jpg") {
					t.Fatalf("file_key %q: want users/<caller>/<uuid>.jpg", u.FileKey)
				}
				if exp := u.ExpiresAt; exp.Before(before.Add(5*time.Minute)) || exp.After(after.Add(5*time.Minute)) {
					t.Errorf("expires_at %v, want five minutes after the request", exp)
				}
				if u.Headers["Content-Type"] != "image/jpeg" || u.Headers["Content-Length"] != "" {
					t.Errorf("headers = %v, want the signed Content-Type only", u.Headers)
				}
				if !strings.HasPrefix(u.UploadURL, "http://"+h.cfg.S3Endpoint+"/"+h.cfg.S3Bucket+"/"+u.FileKey+"?") {
					t.Errorf("upload_url %q is not for the public endpoint", u.UploadURL)
				}
				if h.exists(t, u.FileKey) {
					t.Fatal("the object exists before the upload")
				}
				if status, body := put(t, u.UploadURL, "image/jpeg", jpeg); status != http.StatusOK {
					t.Fatalf("PUT with the signed Content-Type = %d: %s", status, body)
				}
				d := h.downloadURL(t, uuid.New(), u.FileKey)
				if status, body := get(t, d.DownloadURL); status != http.StatusOK || body != string(jpeg) {
					t.Fatalf("GET the download URL = %d, %q", status, body)
				}
			}
		}},
		{"upload_url_200_every_image_type", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			user := uuid.New()
			for name, ext := range map[string]string{"a.png": ".png", "a.webp": ".webp", "a.gif": ".gif", "a.jpeg": ".jpg"} {
				u := h.uploadURL(t, user, map[string]any{"filename": name, "content_type": strings.ToUpper(contentTypeOf(name))})
				if !strings.HasSuffix(u.FileKey, ext) || u.Headers["Content-Type"] != contentTypeOf(name) {
					t.Errorf("%s: key %q, headers %v", name, u.FileKey, u.Headers)
				}
			}
			return only(h.do(t, uploadReq(user, map[string]any{"filename": "b.png", "content_type": "image/png"})))
		}},
		{"upload_url_200_declared_size_is_signed", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			rec := h.do(t, uploadReq(uuid.New(), map[string]any{"filename": "a.png", "content_type": "image/png", "size": len(jpeg)}))
			return rec, func(t *testing.T) {
				var u uploadURL
				decode(t, rec, &u)
				if u.Headers["Content-Length"] == "" {
					t.Fatalf("headers = %v, want Content-Length signed", u.Headers)
				}
				if status, body := put(t, u.UploadURL, "image/png", jpeg); status != http.StatusOK {
					t.Fatalf("PUT of the declared length = %d: %s", status, body)
				}
				if got := h.info(t, u.FileKey); got.Size != int64(len(jpeg)) || got.ContentType != "image/png" {
					t.Fatalf("stored %+v", got)
				}
			}
		}},
		{"upload_url_400_unsupported_type", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			rec := h.do(t, uploadReq(uuid.New(), map[string]any{"filename": "a.pdf", "content_type": "application/pdf"}))
			return rec, fieldError(rec, "content_type")
		}},
		{"upload_url_400_svg_refused", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			// SVG can carry script: never an image this service signs.
			return only(h.do(t, uploadReq(uuid.New(), map[string]any{"filename": "a.svg", "content_type": "image/svg+xml"})))
		}},
		{"upload_url_400_content_type_with_parameters", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, uploadReq(uuid.New(), map[string]any{"filename": "a.jpg", "content_type": "image/jpeg; charset=utf-8"})))
		}},
		{"upload_url_400_extension_mismatch", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			rec := h.do(t, uploadReq(uuid.New(), map[string]any{"filename": "photo.png", "content_type": "image/jpeg"}))
			return rec, fieldError(rec, "filename")
		}},
		{"upload_url_400_no_extension", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			rec := h.do(t, uploadReq(uuid.New(), map[string]any{"filename": "photo", "content_type": "image/jpeg"}))
			return rec, fieldError(rec, "filename")
		}},
		{"upload_url_400_missing_filename", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			rec := h.do(t, uploadReq(uuid.New(), map[string]any{"content_type": "image/jpeg"}))
			return rec, fieldError(rec, "filename")
		}},
		{"upload_url_400_missing_content_type", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			rec := h.do(t, uploadReq(uuid.New(), map[string]any{"filename": "a.jpg"}))
			return rec, fieldError(rec, "content_type")
		}},
		{"upload_url_400_filename_too_long", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			rec := h.do(t, uploadReq(uuid.New(), map[string]any{"filename": strings.Repeat("a", 300) + ".jpg", "content_type": "image/jpeg"}))
			return rec, fieldError(rec, "filename")
		}},
		{"upload_url_400_size_zero", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			rec := h.do(t, uploadReq(uuid.New(), map[string]any{"filename": "a.jpg", "content_type": "image/jpeg", "size": 0}))
			return rec, fieldError(rec, "size")
		}},
		{"upload_url_400_size_negative", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, uploadReq(uuid.New(), map[string]any{"filename": "a.jpg", "content_type": "image/jpeg", "size": -5})))
		}},
		{"upload_url_400_size_not_a_number", 400, "validation_failed", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, uploadReq(uuid.New(), `{"filename":"a.jpg","content_type":"image/jpeg","size":"big"}`)))
		}},
		{"upload_url_413_size_over_limit", 413, "file_too_large", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			rec := h.do(t, uploadReq(uuid.New(), map[string]any{"filename": "a.jpg", "content_type": "image/jpeg", "size": 10<<20 + 1}))
			return rec, fieldError(rec, "size")
		}},
		{"upload_url_200_size_at_limit", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, uploadReq(uuid.New(), map[string]any{"filename": "a.jpg", "content_type": "image/jpeg", "size": 10 << 20})))
		}},
		{"upload_url_415_not_json", 415, "unsupported_media_type", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			c := uploadReq(uuid.New(), "filename=a.jpg")
			c.header = map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
			return only(h.do(t, c))
		}},
		{"upload_url_413_body_too_large", 413, "body_too_large", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, uploadReq(uuid.New(), map[string]any{"filename": strings.Repeat("a", 8<<10) + ".jpg", "content_type": "image/jpeg"})))
		}},
		{"upload_url_400_unknown_field_owner", 400, "unknown_field", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			// A client cannot choose the prefix: the owner comes from the signed identity.
			return only(h.do(t, uploadReq(uuid.New(), map[string]any{"filename": "a.jpg", "content_type": "image/jpeg", "user_id": uuid.NewString()})))
		}},
		{"upload_url_400_empty_body", 400, "empty_body", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, uploadReq(uuid.New(), "")))
		}},
		{"upload_url_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, uploadReq(uuid.Nil, map[string]any{"filename": "a.jpg", "content_type": "image/jpeg"})))
		}},
		{"upload_url_401_forged_x_user_id", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			c := uploadReq(uuid.Nil, map[string]any{"filename": "a.jpg", "content_type": "image/jpeg"})
			c.header = map[string]string{identity.HeaderUserID: uuid.NewString()}
			return only(h.do(t, c))
		}},
		{"upload_url_401_signed_with_another_secret", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			other, err := identity.NewSigner(strings.Repeat("x", 40))
			if err != nil {
				t.Fatal(err)
			}
			user := uuid.NewString()
			c := uploadReq(uuid.Nil, map[string]any{"filename": "a.jpg", "content_type": "image/jpeg"})
			c.header = map[string]string{identity.HeaderUserID: user, identity.HeaderSignature: other.Sign(user)}
			return only(h.do(t, c))
		}},
		{"upload_url_401_identity_not_a_user_id", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			c := uploadReq(uuid.Nil, map[string]any{"filename": "a.jpg", "content_type": "image/jpeg"})
			c.header = map[string]string{identity.HeaderSignature: h.signer.Sign("admin")}
			return only(h.do(t, c))
		}},

		// POST /api/files/download-url
		{"download_url_200_any_member", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			key := h.upload(t, uuid.New(), "a.png", jpeg)
			rec := h.do(t, downloadReq(uuid.New(), key))
			return rec, func(t *testing.T) {
				var d downloadURL
				decode(t, rec, &d)
				if !d.Success || d.FileKey != key || d.ExpiresInSeconds != 900 || d.DownloadURL == "" {
					t.Fatalf("body = %s", rec.Body)
				}
				if status, body := get(t, d.DownloadURL); status != http.StatusOK || body != string(jpeg) {
					t.Fatalf("GET = %d, %q", status, body)
				}
			}
		}},
		{"download_url_404_absent", 404, "not_found", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, downloadReq(uuid.New(), missingKey(uuid.New()))))
		}},
		{"download_url_400_empty_body", 400, "empty_body", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "POST", path: "/api/files/download-url", body: "", as: uuid.New()}))
		}},
		{"download_url_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, downloadReq(uuid.Nil, missingKey(uuid.New()))))
		}},

		// GET /api/files/{key}
		{"get_302_redirect_to_presigned_url", 302, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			key := h.upload(t, uuid.New(), "a.gif", jpeg)
			rec := h.do(t, call{method: "GET", path: "/api/files/" + key, as: uuid.New()})
			return rec, func(t *testing.T) {
				if cc := rec.Header().Get("Cache-Control"); cc != "private, max-age=840" {
					t.Errorf("Cache-Control = %q, want private and below the 15m URL lifetime", cc)
				}
				if status, body := get(t, rec.Header().Get("Location")); status != http.StatusOK || body != string(jpeg) {
					t.Fatalf("GET Location = %d, %q", status, body)
				}
			}
		}},
		{"get_404_absent", 404, "not_found", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/files/" + missingKey(uuid.New()), as: uuid.New()}))
		}},
		{"get_400_traversal", 400, "invalid_key", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/files/users/" + uuid.NewString() + "/../x.jpg", as: uuid.New()}))
		}},
		{"get_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/api/files/" + missingKey(uuid.New())}))
		}},

		// DELETE /api/files/{key}
		{"delete_200_owner", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			owner := uuid.New()
			key := h.upload(t, owner, "a.jpg", jpeg)
			before := h.metric(t, "files_deleted_total", map[string]string{"reason": "owner"})
			rec := h.do(t, call{method: "DELETE", path: "/api/files/" + key, as: owner})
			return rec, func(t *testing.T) {
				var body map[string]any
				decode(t, rec, &body)
				if body["success"] != true || body["file_key"] != key {
					t.Fatalf("body = %s", rec.Body)
				}
				if h.exists(t, key) {
					t.Fatal("the object survived its deletion")
				}
				if got := h.metric(t, "files_deleted_total", map[string]string{"reason": "owner"}); got != before+1 {
					t.Errorf("files_deleted_total{reason=owner} = %v, want %v", got, before+1)
				}
			}
		}},
		{"delete_403_not_owner", 403, "forbidden", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			key := h.upload(t, uuid.New(), "a.jpg", jpeg)
			rec := h.do(t, call{method: "DELETE", path: "/api/files/" + key, as: uuid.New()})
			return rec, func(t *testing.T) {
				if !h.exists(t, key) {
					t.Fatal("someone else deleted the object")
				}
			}
		}},
		{"delete_403_not_owner_absent_key", 403, "forbidden", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			// Whether someone else's file exists is not for the caller to learn.
			return only(h.do(t, call{method: "DELETE", path: "/api/files/" + missingKey(uuid.New()), as: uuid.New()}))
		}},
		{"delete_404_absent", 404, "not_found", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			owner := uuid.New()
			return only(h.do(t, call{method: "DELETE", path: "/api/files/" + missingKey(owner), as: owner}))
		}},
		{"delete_400_malformed", 400, "invalid_key", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			owner := uuid.New()
			return only(h.do(t, call{method: "DELETE", path: "/api/files/users/" + owner.String() + "/a/../../x.jpg", as: owner}))
		}},
		{"delete_401_anonymous", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "DELETE", path: "/api/files/" + missingKey(uuid.New())}))
		}},
		{"delete_401_forged_x_user_id", 401, "unauthorized", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			owner := uuid.New()
			key := h.upload(t, owner, "a.jpg", jpeg)
			rec := h.do(t, call{method: "DELETE", path: "/api/files/" + key, header: map[string]string{identity.HeaderUserID: owner.String()}})
			return rec, func(t *testing.T) {
				if !h.exists(t, key) {
					t.Fatal("a forged X-User-ID deleted the object")
				}
			}
		}},

		// GET /internal/files/{key}
		{"internal_200_describes_object", 200, "", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			owner := uuid.New()
			key := h.upload(t, owner, "a.webp", jpeg)
			rec := h.do(t, call{method: "GET", path: "/internal/files/" + key})
			return rec, func(t *testing.T) {
				var got infoBody
				decode(t, rec, &got)
				want := infoBody{Key: key, OwnerID: owner.String(), Size: int64(len(jpeg)), ContentType: "image/webp"}
				if got != want {
					t.Fatalf("info = %+v, want %+v", got, want)
				}
			}
		}},
		{"internal_404_absent", 404, "not_found", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/internal/files/" + missingKey(uuid.New())}))
		}},
		{"internal_404_malformed", 404, "not_found", func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
			return only(h.do(t, call{method: "GET", path: "/internal/files/users/x/../y.jpg"}))
		}},
	}
	for name, key := range malformedKeys() {
		cases = append(cases, routeCase{"download_url_400_malformed_" + name, 400, "validation_failed",
			func(t *testing.T, h *harness) (*httptest.ResponseRecorder, func(*testing.T)) {
				rec := h.do(t, downloadReq(uuid.New(), key))
				return rec, fieldError(rec, "file_key")
			}})
	}
	return cases
}

// fieldError checks that a 400 names the field.
func fieldError(rec *httptest.ResponseRecorder, field string) func(*testing.T) {
	return func(t *testing.T) {
		var eb errorBody
		decode(t, rec, &eb)
		if eb.Error.Fields[field] == "" {
			t.Fatalf("no field error for %s: %s", field, rec.Body)
		}
	}
}

// infoBody is the internal route's answer.
type infoBody struct {
	Key         string `json:"key"`
	OwnerID     string `json:"owner_id"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
}

func (h *harness) info(t *testing.T, key string) infoBody {
	t.Helper()
	rec := h.do(t, call{method: "GET", path: "/internal/files/" + key})
	mustStatus(t, rec, http.StatusOK)
	var got infoBody
	decode(t, rec, &got)
	return got
}
