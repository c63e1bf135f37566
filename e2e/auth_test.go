package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"instant/platform/testenv"
)

// gatewayLimits keep the per-IP limit out of the way (every test client is 127.0.0.1)
// and make the per-address limit small enough to reach.
var gatewayLimits = map[string]string{
	"RATE_LIMIT_AUTH_IP_PER_MINUTE":  "1000",
	"RATE_LIMIT_AUTH_EMAIL_PER_HOUR": "8",
}

func TestSignUpSignInSignOut(t *testing.T) {
	s := startStack(t, true, gatewayLimits)

	t.Run("health_200", func(t *testing.T) {
		newClient(t, s.GatewayURL).expect(200, "GET", "/health", nil, nil)
	})

	t.Run("journey", func(t *testing.T) {
		alice := newClient(t, s.GatewayURL)
		email := testenv.Name("alice") + "@example.com"
		username := strings.ReplaceAll(testenv.Name("alice_"), "-", "")

		// A new address without a username: 400, and the code survives it.
		cd := code(t, s, alice, email)
		r := alice.expect(400, "POST", "/auth/verify-code", map[string]string{"email": email, "code": cd}, nil)
		if got := r.errorCode(t); got != "username_required" {
			t.Fatalf("error code = %q", got)
		}
		r = alice.expect(200, "POST", "/auth/verify-code", map[string]string{"email": "  " + strings.ToUpper(email) + " ", "code": cd, "username": username}, nil)
		m := r.json(t)
		user := m["user"].(map[string]any)
		id := user["id"].(string)
		if len(id) != 36 || m["session_id"] == "" {
			t.Fatalf("verify answer: %s", r.body)
		}
		if !strings.Contains(r.header.Get("Set-Cookie"), "session_id=") || !strings.Contains(r.header.Get("Set-Cookie"), "HttpOnly") {
			t.Fatalf("no HttpOnly session cookie: %q", r.header.Get("Set-Cookie"))
		}
		// The code was single use.
		alice.expect(400, "POST", "/auth/verify-code", map[string]string{"email": email, "code": cd}, nil)

		me := alice.expect(200, "GET", "/auth/me", nil, nil).json(t)["user"].(map[string]any)
		if me["id"] != id || me["email"] != email || me["username"] != username {
			t.Fatalf("/auth/me = %v", me)
		}
		pub := alice.expect(200, "GET", "/api/users/"+id, nil, nil).json(t)
		if _, leaked := pub["email"]; leaked || pub["username"] != username {
			t.Fatalf("public profile = %v", pub)
		}

		alice.expect(200, "POST", "/auth/logout", nil, nil)
		alice.expect(401, "GET", "/auth/me", nil, nil)

		// Signing in again with the same address logs in; a different username is ignored.
		cd = code(t, s, alice, email)
		r = alice.expect(200, "POST", "/auth/verify-code", map[string]string{"email": email, "code": cd, "username": "someone_else"}, nil)
		if got := r.json(t)["user"].(map[string]any); got["id"] != id || got["username"] != username {
			t.Fatalf("login changed the account: %v", got)
		}
		// Bearer works as well as the cookie.
		sid := r.json(t)["session_id"].(string)
		anon := newClient(t, s.GatewayURL)
		anon.expect(200, "GET", "/auth/me", nil, map[string]string{"Authorization": "Bearer " + sid})
	})

	t.Run("wrong_code_5x_kills_the_code", func(t *testing.T) {
		c := newClient(t, s.GatewayURL)
		email := testenv.Name("wrong") + "@example.com"
		cd := code(t, s, c, email)
		wrong := "000000"
		if cd == wrong {
			wrong = "111111"
		}
		for i := range 5 {
			r := c.expect(400, "POST", "/auth/verify-code", map[string]string{"email": email, "code": wrong, "username": "wrong" + strconv.Itoa(i)}, nil)
			if got := r.errorCode(t); got != "invalid_code" && got != "code_expired" {
				t.Fatalf("wrong try %d: %q", i, got)
			}
		}
		r := c.expect(400, "POST", "/auth/verify-code", map[string]string{"email": email, "code": cd, "username": "wrongcase"}, nil)
		if got := r.errorCode(t); got != "code_expired" {
			t.Fatalf("right code after five wrong tries: %q, want code_expired", got)
		}
	})

	t.Run("too_many_code_requests_429", func(t *testing.T) {
		c := newClient(t, s.GatewayURL)
		email := testenv.Name("flood") + "@example.com"
		var last response
		for range 9 {
			last = c.do("POST", "/auth/request-code", map[string]string{"email": email}, nil)
			if last.status == 429 {
				break
			}
		}
		if last.status != 429 || last.header.Get("Retry-After") == "" {
			t.Fatalf("ninth request for one address: %d, Retry-After %q", last.status, last.header.Get("Retry-After"))
		}
	})

	// An email change is confirmed from the new address, and the old address is told,
	// through auth's outbox, Kafka, the email service's template and SMTP.
	t.Run("email_change_notifies_the_old_address", func(t *testing.T) {
		c := newClient(t, s.GatewayURL)
		old := testenv.Name("mover") + "@example.com"
		id, sid := signUp(t, s, c, old, strings.ReplaceAll(testenv.Name("mover_"), "-", ""))
		auth := map[string]string{"Authorization": "Bearer " + sid}
		next := testenv.Name("moved") + "@example.org"
		since := time.Now()
		c.expect(200, "POST", "/auth/users/"+id+"/email", map[string]string{"email": next}, auth)
		cd := readCode(t, s, next, since)
		c.expect(200, "POST", "/auth/users/"+id+"/email/confirm", map[string]string{"code": cd}, auth)

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		msg, err := s.Mail.WaitFor(ctx, old, since)
		if err != nil {
			t.Fatalf("no notice to the old address: %v", err)
		}
		masked := next[:1] + "***@example.org"
		if !strings.Contains(msg.Subject, "was changed") || !strings.Contains(msg.Text, masked) || strings.Contains(msg.Text, next) {
			t.Fatalf("notice: subject %q, text %q; want the new address masked as %s", msg.Subject, msg.Text, masked)
		}
	})

	t.Run("forged_identity_is_ignored", func(t *testing.T) {
		victim := newClient(t, s.GatewayURL)
		victimID, _ := signUp(t, s, victim, testenv.Name("victim")+"@example.com", strings.ReplaceAll(testenv.Name("victim_"), "-", ""))
		mallory := newClient(t, s.GatewayURL)
		malloryID, _ := signUp(t, s, mallory, testenv.Name("mallory")+"@example.com", strings.ReplaceAll(testenv.Name("mallory_"), "-", ""))

		forged := map[string]string{"X-User-ID": victimID, "X-Instant-Identity": "v1." + victimID + "." + strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10) + ".forged"}
		// Through the gateway, anonymous: the forgery does not sign anyone in.
		newClient(t, s.GatewayURL).expect(401, "GET", "/auth/me", nil, forged)
		// Through the gateway, signed in as mallory: still mallory.
		if got := mallory.expect(200, "GET", "/auth/me", nil, forged).json(t)["user"].(map[string]any)["id"]; got != malloryID {
			t.Fatalf("forged header changed the identity to %v", got)
		}
		mallory.expect(403, "PATCH", "/auth/users/"+victimID, map[string]string{"username": "pwned"}, forged)
		// Straight to auth, bypassing the gateway: anonymous.
		direct := newClient(t, s.ServiceURL("auth"))
		direct.expect(401, "GET", "/auth/me", nil, forged)
		direct.expect(401, "PATCH", "/auth/users/"+victimID, map[string]string{"username": "pwned"}, forged)
	})
}

func TestRedisDownGives503(t *testing.T) {
	s := startStack(t, false, nil)
	c := newClient(t, s.GatewayURL)
	_, sid := signUp(t, s, c, testenv.Name("outage")+"@example.com", strings.ReplaceAll(testenv.Name("outage_"), "-", ""))
	bearer := map[string]string{"Authorization": "Bearer " + sid}
	c.expect(200, "GET", "/auth/me", nil, bearer)

	if err := s.StopRedis(); err != nil {
		t.Fatal(err)
	}
	r := c.expect(503, "GET", "/auth/me", nil, bearer)
	if r.errorCode(t) != "unavailable" {
		t.Fatalf("body %s", r.body)
	}
	c.expect(503, "GET", "/auth/me", nil, nil)

	if err := s.RestartRedis(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for c.do("GET", "/auth/me", nil, bearer).status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the session did not answer again after Redis came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
