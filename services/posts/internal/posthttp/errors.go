package posthttp

import (
	"net/http"

	"instant/platform/web"
	"instant/services/posts/internal/post"
)

// errorMap is the one table from core errors to HTTP answers.
//
// An image key under another user's prefix is 403: the request is well formed, the
// caller is known, and what it names is not theirs — the project's meaning of 403. It
// is decided from the key alone, before files is asked, so the answer is the same
// whether or not that upload exists.
func errorMap() web.ErrorMap {
	return web.ErrorMap{
		{Target: post.ErrUnavailable, Status: http.StatusServiceUnavailable, Code: "unavailable",
			Message: "the service is temporarily unavailable; try again shortly"},
		{Target: post.ErrNotFound, Status: http.StatusNotFound, Code: "not_found", Message: "post not found"},
		{Target: post.ErrInvalidID, Status: http.StatusBadRequest, Code: "invalid_id", Message: "id must be a UUID"},
		{Target: post.ErrForbidden, Status: http.StatusForbidden, Code: "forbidden", Message: "you can only change your own posts"},
		{Target: post.ErrInvalidCursor, Status: http.StatusBadRequest, Code: "invalid_cursor",
			Message: "cursor must be a next_cursor value from an earlier page"},
		{Target: post.ErrExternalImage, Status: http.StatusBadRequest, Code: "external_image_url",
			Message: "a post's image must be a file you uploaded to instant, not an external URL"},
		{Target: post.ErrImageNotYours, Status: http.StatusForbidden, Code: "image_not_yours",
			Message: "a post's image must be one of your own uploads"},
		{Target: post.ErrImageNotFound, Status: http.StatusBadRequest, Code: "image_not_found",
			Message: "no uploaded file has that key; upload the image first"},
		{Target: post.ErrImageType, Status: http.StatusBadRequest, Code: "image_type_not_allowed",
			Message: "the image must be a JPEG, PNG, WebP or GIF"},
		{Target: post.ErrImageTooLarge, Status: http.StatusBadRequest, Code: "image_too_large",
			Message: "the image is larger than allowed"},
		{Target: post.ErrImageEmpty, Status: http.StatusBadRequest, Code: "image_empty", Message: "the uploaded file is empty"},
		{Target: post.ErrAccountDeleted, Status: http.StatusUnauthorized, Code: "unauthorized", Message: "the account was deleted"},
		{Target: post.ErrImageExpired, Status: http.StatusBadRequest, Code: "image_expired",
			Message: "the image was uploaded too long ago; upload it again"},
		{Target: post.ErrImageInUse, Status: http.StatusConflict, Code: "image_in_use",
			Message: "that image already belongs to another post"},
	}
}
