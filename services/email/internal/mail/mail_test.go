package mail_test

import (
	"errors"
	"strings"
	"testing"

	"instant/services/email/internal/mail"
)

func newTemplates(t *testing.T) *mail.Templates {
	t.Helper()
	tpl, err := mail.NewTemplates()
	if err != nil {
		t.Fatalf("NewTemplates: %v", err)
	}
	return tpl
}

func request(template string, p mail.Params) mail.Request {
	return mail.Request{ID: "msg-1", To: "alice@example.com", Template: template, Params: p}
}

func TestRender(t *testing.T) {
	tpl := newTemplates(t)
	full := mail.Params{Code: "123456", TTLMinutes: "10", Username: "alice"}
	tests := []struct {
		name       string
		req        mail.Request
		subject    string   // substring of the subject
		textHas    []string // substrings of the text part
		htmlHas    []string // substrings of the HTML part
		htmlHasNot []string
		textHasNot []string
		subjectNot string
	}{
		{
			name:    "login_code",
			req:     request(mail.TemplateLoginCode, full),
			subject: "123456 is your instant sign-in code",
			textHas: []string{"Hi alice,", "    123456\n", "expires in 10 minutes"},
			htmlHas: []string{"Hi alice,", ">123456</p>", "expires in 10 minutes", "<title>Your instant sign-in code</title>"},
		},
		{
			name:       "delete_code",
			req:        request(mail.TemplateDeleteCode, full),
			subject:    "Confirm deleting your instant account",
			subjectNot: "123456", // a deletion code stays out of lock-screen previews
			textHas:    []string{"Hi alice,", "delete your instant account", "    123456\n", "expires in 10 minutes"},
			htmlHas:    []string{"delete your instant account", ">123456</p>"},
		},
		{
			name:       "email_change_code",
			req:        request(mail.TemplateEmailChangeCode, full),
			subject:    "Confirm your new email address",
			subjectNot: "123456",
			textHas:    []string{"Hi alice,", "use this address", "    123456\n"},
			htmlHas:    []string{"use this address", ">123456</p>"},
		},
		{
			name:       "email_changed",
			req:        request(mail.TemplateEmailChanged, mail.Params{Username: "alice", NewEmail: "n***@example.com"}),
			subject:    "email address of your instant account was changed",
			textHas:    []string{"Hi alice,", "changed to n***@example.com", "If you did not"},
			textHasNot: []string{"code:", "<no value>"},
			htmlHas:    []string{"Hi alice,", "<b>n***@example.com</b>", "If you did not"},
			htmlHasNot: []string{"letter-spacing:4px", "works once", "<no value>"},
		},
		{
			name:       "login_code_new_user_without_username_or_ttl",
			req:        request(mail.TemplateLoginCode, mail.Params{Code: "654321"}),
			subject:    "654321",
			textHas:    []string{"Hi,\n", "    654321\n", "It works once."},
			textHasNot: []string{"expires", "<no value>"},
			htmlHas:    []string{"Hi,", ">654321</p>", "The code works once."},
			htmlHasNot: []string{"expires", "<no value>"},
		},
		{
			name:       "html_escapes_username",
			req:        request(mail.TemplateLoginCode, mail.Params{Code: "111111", Username: `<script>alert("x")</script>&`}),
			textHas:    []string{`Hi <script>alert("x")</script>&,`}, // plain text is not HTML
			htmlHas:    []string{"Hi &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;,"},
			htmlHasNot: []string{"<script>"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tpl.Render(tc.req)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if m.ID != tc.req.ID || m.To != tc.req.To {
				t.Errorf("id/to = %q/%q, want %q/%q", m.ID, m.To, tc.req.ID, tc.req.To)
			}
			if !strings.Contains(m.Subject, tc.subject) {
				t.Errorf("subject %q does not contain %q", m.Subject, tc.subject)
			}
			if tc.subjectNot != "" && strings.Contains(m.Subject, tc.subjectNot) {
				t.Errorf("subject %q contains %q", m.Subject, tc.subjectNot)
			}
			if strings.ContainsAny(m.Subject, "\r\n") {
				t.Errorf("subject %q spans lines", m.Subject)
			}
			for _, s := range tc.textHas {
				if !strings.Contains(m.Text, s) {
					t.Errorf("text part does not contain %q:\n%s", s, m.Text)
				}
			}
			for _, s := range tc.textHasNot {
				if strings.Contains(m.Text, s) {
					t.Errorf("text part contains %q:\n%s", s, m.Text)
				}
			}
			for _, s := range tc.htmlHas {
				if !strings.Contains(m.HTML, s) {
					t.Errorf("HTML part does not contain %q:\n%s", s, m.HTML)
				}
			}
			for _, s := range tc.htmlHasNot {
				if strings.Contains(m.HTML, s) {
					t.Errorf("HTML part contains %q:\n%s", s, m.HTML)
				}
			}
		})
	}
}

func TestRenderRefuses(t *testing.T) {
	tpl := newTemplates(t)
	ok := mail.Params{Code: "123456", TTLMinutes: "10", Username: "alice"}
	tests := []struct {
		name string
		req  mail.Request
		want error
	}{
		{"unknown_template", request("password_reset", ok), mail.ErrUnknownTemplate},
		{"no_template", request("", ok), mail.ErrInvalidRequest},
		{"no_id", mail.Request{To: "a@example.com", Template: mail.TemplateLoginCode, Params: ok}, mail.ErrInvalidRequest},
		{"no_recipient", mail.Request{ID: "x", Template: mail.TemplateLoginCode, Params: ok}, mail.ErrInvalidRequest},
		{"recipient_without_at", mail.Request{ID: "x", To: "alice", Template: mail.TemplateLoginCode, Params: ok}, mail.ErrInvalidRequest},
		{"no_code", request(mail.TemplateLoginCode, mail.Params{TTLMinutes: "10"}), mail.ErrInvalidRequest},
		{"code_with_header_injection", request(mail.TemplateLoginCode, mail.Params{Code: "1\r\nBcc: x@example.com"}), mail.ErrInvalidRequest},
		{"code_too_long", request(mail.TemplateLoginCode, mail.Params{Code: strings.Repeat("1", 33)}), mail.ErrInvalidRequest},
		{"ttl_not_a_number", request(mail.TemplateLoginCode, mail.Params{Code: "1", TTLMinutes: "ten"}), mail.ErrInvalidRequest},
		{"username_with_newline", request(mail.TemplateLoginCode, mail.Params{Code: "1", Username: "a\nb"}), mail.ErrInvalidRequest},
		{"username_too_long", request(mail.TemplateLoginCode, mail.Params{Code: "1", Username: strings.Repeat("a", 65)}), mail.ErrInvalidRequest},
		{"notice_without_new_email", request(mail.TemplateEmailChanged, mail.Params{Username: "alice"}), mail.ErrInvalidRequest},
		{"notice_new_email_with_newline", request(mail.TemplateEmailChanged, mail.Params{NewEmail: "a***@x\r\nBcc: y@x"}), mail.ErrInvalidRequest},
		{"notice_with_a_code", request(mail.TemplateEmailChanged, mail.Params{Code: "123456", NewEmail: "a***@x"}), mail.ErrInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tpl.Render(tc.req)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Render error = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestKnown(t *testing.T) {
	for _, n := range mail.Names() {
		if !mail.Known(n) {
			t.Errorf("Known(%q) = false", n)
		}
	}
	if mail.Known("password_reset") {
		t.Error(`Known("password_reset") = true`)
	}
}

func TestMaskAddress(t *testing.T) {
	tests := []struct{ in, want string }{
		{"alice@example.com", "a***@example.com"},
		{"a@example.com", "a***@example.com"},
		{"élodie@example.fr", "é***@example.fr"},
		{"no-at-sign", "***"},
		{"@example.com", "***"},
		{"", "***"},
	}
	for _, tc := range tests {
		if got := mail.MaskAddress(tc.in); got != tc.want {
			t.Errorf("MaskAddress(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
