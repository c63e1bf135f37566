package likehttp

import (
	"net/http"

	"instant/platform/web"
	"instant/services/likes/internal/like"
)

// errorMap is the one table from core errors to HTTP answers.
func errorMap() web.ErrorMap {
	return web.ErrorMap{
		{Target: like.ErrUnavailable, Status: http.StatusServiceUnavailable, Code: "unavailable",
			Message: "the service is temporarily unavailable; try again shortly"},
		{Target: like.ErrInvalidID, Status: http.StatusBadRequest, Code: "invalid_id", Message: "id must be a UUID"},
		{Target: like.ErrPostNotFound, Status: http.StatusNotFound, Code: "not_found", Message: "post not found"},
		{Target: like.ErrAccountDeleted, Status: http.StatusUnauthorized, Code: "unauthorized", Message: "the account was deleted"},
	}
}
