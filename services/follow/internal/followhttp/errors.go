package followhttp

import (
	"net/http"

	"instant/platform/web"
	"instant/services/follow/internal/follow"
)

// errorMap is the one table from core errors to HTTP answers.
func errorMap() web.ErrorMap {
	return web.ErrorMap{
		{Target: follow.ErrUnavailable, Status: http.StatusServiceUnavailable, Code: "unavailable",
			Message: "the service is temporarily unavailable; try again shortly"},
		{Target: follow.ErrInvalidID, Status: http.StatusBadRequest, Code: "invalid_id", Message: "user id must be a UUID"},
		{Target: follow.ErrSelfFollow, Status: http.StatusBadRequest, Code: "cannot_follow_self", Message: "you cannot follow yourself"},
		{Target: follow.ErrUserNotFound, Status: http.StatusNotFound, Code: "not_found", Message: "user not found"},
		{Target: follow.ErrAccountDeleted, Status: http.StatusUnauthorized, Code: "unauthorized", Message: "the account was deleted"},
	}
}
