package commenthttp

import (
	"net/http"

	"instant/platform/web"
	"instant/services/comments/internal/comment"
)

// errorMap is the one table from core errors to HTTP answers.
func errorMap() web.ErrorMap {
	return web.ErrorMap{
		{Target: comment.ErrUnavailable, Status: http.StatusServiceUnavailable, Code: "unavailable",
			Message: "the service is temporarily unavailable; try again shortly"},
		{Target: comment.ErrInvalidID, Status: http.StatusBadRequest, Code: "invalid_id", Message: "id must be a UUID"},
		{Target: comment.ErrPostNotFound, Status: http.StatusNotFound, Code: "not_found", Message: "post not found"},
		{Target: comment.ErrAccountDeleted, Status: http.StatusUnauthorized, Code: "unauthorized", Message: "the account was deleted"},
		{Target: comment.ErrNotFound, Status: http.StatusNotFound, Code: "not_found", Message: "comment not found"},
		{Target: comment.ErrForbidden, Status: http.StatusForbidden, Code: "forbidden",
			Message: "only the author may edit a comment; the author or the post's owner may delete it"},
	}
}
