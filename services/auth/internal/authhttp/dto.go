package authhttp

import (
	"time"

	"instant/services/auth/internal/user"
)

// Requests.

type requestCodeRequest struct {
	Email string `json:"email"`
}

type verifyCodeRequest struct {
	Email    string `json:"email"`
	Code     string `json:"code"`
	Username string `json:"username"`
}

type patchUserRequest struct {
	Username *string `json:"username"`
}

type changeEmailRequest struct {
	Email string `json:"email"`
}

type codeRequest struct {
	Code string `json:"code"`
}

// Responses.

type messageResponse struct {
	Message string `json:"message"`
}

// accountJSON is an account as its owner sees it, email included.
type accountJSON struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"created_at"`
}

func account(u user.User) accountJSON {
	return accountJSON{ID: u.ID, Username: u.Username, Email: u.Email, CreatedAt: u.CreatedAt}
}

// profileJSON is an account as anyone sees it.
type profileJSON struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	CreatedAt time.Time `json:"created_at"`
}

func profile(u user.User) profileJSON {
	return profileJSON{ID: u.ID, Username: u.Username, CreatedAt: u.CreatedAt}
}

type accountResponse struct {
	User accountJSON `json:"user"`
}

type verifyCodeResponse struct {
	User      accountJSON `json:"user"`
	SessionID string      `json:"session_id"`
}
