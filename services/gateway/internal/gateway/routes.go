package gateway

// Access says what a route needs from the caller's session.
type Access int

const (
	// Public routes answer anyone; a valid session still identifies the caller.
	Public Access = iota
	// SignedIn routes answer 401 without a valid session, before reaching the service.
	SignedIn
)

// Limit names the rate-limit class of a route.
type Limit int

const (
	// LimitDefault: per user when signed in, per client IP otherwise.
	LimitDefault Limit = iota
	// LimitAuthCode: the sign-in code flow, limited per client IP and per email address.
	LimitAuthCode
)

// Route maps a chi pattern (and optionally methods) to the service that serves it.
type Route struct {
	Pattern string
	Methods []string // empty: every method
	Service string
	Access  Access
	Limit   Limit
	// Session keeps the session cookie and Authorization header on the upstream request.
	// Only auth gets them (to end a session); every other service sees only the signed
	// identity, so a compromised service never holds a replayable session id.
	Session bool
}

// Table is the gateway's route table: every public route of every service, in one place.
// Order does not matter: chi matches the most specific pattern.
func Table() []Route {
	return []Route{
		// auth: the sign-in code flow and sessions.
		{Pattern: "/auth/request-code", Methods: []string{"POST"}, Service: "auth", Limit: LimitAuthCode},
		{Pattern: "/auth/verify-code", Methods: []string{"POST"}, Service: "auth", Limit: LimitAuthCode, Session: true},
		{Pattern: "/auth/logout", Methods: []string{"POST"}, Service: "auth", Session: true},
		{Pattern: "/auth/logout-all", Methods: []string{"POST"}, Service: "auth", Access: SignedIn},
		{Pattern: "/auth/me", Methods: []string{"GET"}, Service: "auth", Access: SignedIn},
		{Pattern: "/auth/users/{id}", Methods: []string{"PATCH"}, Service: "auth", Access: SignedIn},
		{Pattern: "/auth/users/{id}/request-delete-code", Methods: []string{"GET", "POST"}, Service: "auth", Access: SignedIn},
		{Pattern: "/auth/users/{id}/delete", Methods: []string{"POST"}, Service: "auth", Access: SignedIn, Session: true},
		{Pattern: "/auth/users/{id}/email", Methods: []string{"POST"}, Service: "auth", Access: SignedIn},
		{Pattern: "/auth/users/{id}/email/confirm", Methods: []string{"POST"}, Service: "auth", Access: SignedIn},
		// auth: public profile reads.
		{Pattern: "/api/users/{id}", Methods: []string{"GET"}, Service: "auth"},
		{Pattern: "/api/users/by-username/{username}", Methods: []string{"GET"}, Service: "auth"},

		// files: presigned upload and download URLs; bytes go straight to object storage.
		{Pattern: "/api/files/upload-url", Methods: []string{"POST"}, Service: "files", Access: SignedIn},
		{Pattern: "/api/files/download-url", Methods: []string{"POST"}, Service: "files", Access: SignedIn},
		{Pattern: "/api/files/*", Methods: []string{"GET", "DELETE"}, Service: "files", Access: SignedIn},

		// posts.
		{Pattern: "/api/posts", Methods: []string{"GET", "POST"}, Service: "posts", Access: SignedIn},
		{Pattern: "/api/posts/{id}", Methods: []string{"GET", "PATCH", "DELETE"}, Service: "posts", Access: SignedIn},
		{Pattern: "/api/posts/users/{id}", Methods: []string{"GET"}, Service: "posts", Access: SignedIn},
		{Pattern: "/api/users/{id}/posts", Methods: []string{"GET"}, Service: "posts", Access: SignedIn},
		{Pattern: "/api/tags/{tag}/posts", Methods: []string{"GET"}, Service: "posts", Access: SignedIn},

		// comments.
		{Pattern: "/api/posts/{id}/comments", Methods: []string{"GET", "POST"}, Service: "comments", Access: SignedIn},
		{Pattern: "/api/comments/{id}", Methods: []string{"PATCH", "DELETE"}, Service: "comments", Access: SignedIn},

		// likes.
		{Pattern: "/api/posts/{id}/like", Methods: []string{"PUT", "DELETE"}, Service: "likes", Access: SignedIn},
		{Pattern: "/api/posts/{id}/likes", Methods: []string{"GET"}, Service: "likes", Access: SignedIn},
		{Pattern: "/api/likes", Methods: []string{"GET"}, Service: "likes", Access: SignedIn},

		// follow.
		{Pattern: "/api/users/{id}/follow", Methods: []string{"PUT", "DELETE"}, Service: "follow", Access: SignedIn},
		{Pattern: "/api/users/{id}/followers", Methods: []string{"GET"}, Service: "follow", Access: SignedIn},
		{Pattern: "/api/users/{id}/following", Methods: []string{"GET"}, Service: "follow", Access: SignedIn},
		{Pattern: "/api/users/{id}/follow-counts", Methods: []string{"GET"}, Service: "follow", Access: SignedIn},

		// feed: home timeline, profiles, explore — read models built from events.
		{Pattern: "/api/feed", Methods: []string{"GET"}, Service: "feed", Access: SignedIn},
		{Pattern: "/api/explore", Methods: []string{"GET"}, Service: "feed", Access: SignedIn},
		{Pattern: "/api/profiles/{username}", Methods: []string{"GET"}, Service: "feed", Access: SignedIn},
		{Pattern: "/api/profiles/id/{id}", Methods: []string{"GET"}, Service: "feed", Access: SignedIn},
	}
}

// Services returns the distinct upstream service names of a table.
func Services(t []Route) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range t {
		if !seen[r.Service] {
			seen[r.Service] = true
			out = append(out, r.Service)
		}
	}
	return out
}
