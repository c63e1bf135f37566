package filehttp

import (
	"net/http"

	"instant/platform/web"
	"instant/services/files/internal/file"
)

// errorMap is the one table from core errors to HTTP answers.
func errorMap() web.ErrorMap {
	return web.ErrorMap{
		{Target: file.ErrUnavailable, Status: http.StatusServiceUnavailable, Code: "unavailable",
			Message: "file storage is temporarily unavailable; try again shortly"},
		{Target: file.ErrInvalidKey, Status: http.StatusBadRequest, Code: "invalid_key",
			Message: "a file key looks like users/<user id>/<name>"},
		{Target: file.ErrNotFound, Status: http.StatusNotFound, Code: "not_found", Message: "file not found"},
		{Target: file.ErrForbidden, Status: http.StatusForbidden, Code: "forbidden", Message: "you can only delete your own files"},
	}
}
