package feedhttp

import (
	"net/http"

	"instant/platform/web"
	"instant/services/feed/internal/feed"
)

// errorMap is the one table from core errors to HTTP answers.
func errorMap() web.ErrorMap {
	return web.ErrorMap{
		{Target: feed.ErrUnavailable, Status: http.StatusServiceUnavailable, Code: "unavailable",
			Message: "the service is temporarily unavailable; try again shortly"},
		{Target: feed.ErrInvalidID, Status: http.StatusBadRequest, Code: "invalid_id", Message: "user id must be a UUID"},
		{Target: feed.ErrUserNotFound, Status: http.StatusNotFound, Code: "not_found", Message: "user not found"},
	}
}
