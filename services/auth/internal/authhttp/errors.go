package authhttp

import (
	"net/http"

	"instant/platform/web"
	"instant/services/auth/internal/user"
)

// errorMap is the one table from core errors to HTTP answers. Messages about codes say
// nothing about whether an account exists.
func errorMap() web.ErrorMap {
	return web.ErrorMap{
		{Target: user.ErrUnavailable, Status: http.StatusServiceUnavailable, Code: "unavailable",
			Message: "the service is temporarily unavailable; try again shortly"},
		{Target: user.ErrNotFound, Status: http.StatusNotFound, Code: "not_found", Message: "user not found"},
		{Target: user.ErrInvalidID, Status: http.StatusBadRequest, Code: "invalid_id", Message: "user id must be a UUID"},
		{Target: user.ErrForbidden, Status: http.StatusForbidden, Code: "forbidden", Message: "you can only change your own account"},
		{Target: user.ErrUsernameTaken, Status: http.StatusConflict, Code: "username_taken", Message: "that username is taken"},
		{Target: user.ErrEmailTaken, Status: http.StatusConflict, Code: "email_taken", Message: "that email address is already in use"},
		{Target: user.ErrUsernameRequired, Status: http.StatusBadRequest, Code: "username_required",
			Message: "choose a username to create your account"},
		{Target: user.ErrInvalidCode, Status: http.StatusBadRequest, Code: "invalid_code",
			Message: "the code is not correct; the number of attempts is limited"},
		{Target: user.ErrCodeExpired, Status: http.StatusBadRequest, Code: "code_expired",
			Message: "the code has expired or was already used; request a new one"},
	}
}
