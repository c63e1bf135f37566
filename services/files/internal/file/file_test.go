package file

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestParseKey(t *testing.T) {
	owner := uuid.New()
	prefix := "users/" + owner.String() + "/"
	valid := []string{
		prefix + uuid.NewString() + ".jpg",
		prefix + "avatar.png",
		prefix + "a_b-c.1.webp",
		prefix + strings.Repeat("a", 124) + ".gif",
	}
	for _, s := range valid {
		k, err := ParseKey(s)
		if err != nil || k.Owner != owner || k.String() != s {
			t.Errorf("ParseKey(%q) = %+v, %v", s, k, err)
		}
	}
	invalid := map[string]string{
		"empty":          "",
		"no_prefix":      owner.String() + "/a.jpg",
		"leading_slash":  "/" + prefix + "a.jpg",
		"other_prefix":   "user/" + owner.String() + "/a.jpg",
		"traversal":      prefix + "../a.jpg",
		"dotdot_inside":  prefix + "a..jpg",
		"hidden":         prefix + ".a.jpg",
		"nested":         prefix + "x/a.jpg",
		"no_name":        prefix,
		"no_owner_slash": "users/" + owner.String(),
		"owner_braces":   "users/{" + owner.String() + "}/a.jpg",
		"owner_urn":      "users/urn:uuid:" + owner.String() + "/a.jpg",
		"owner_upper":    "users/" + strings.ToUpper(owner.String()) + "/a.jpg",
		"owner_name":     "users/alice/a.jpg",
		"percent":        prefix + "a%2Fb.jpg",
		"backslash":      prefix + `a\b.jpg`,
		"space":          prefix + "a b.jpg",
		"unicode":        prefix + "ä.jpg",
		"nul":            prefix + "a\x00.jpg",
		"name_too_long":  prefix + strings.Repeat("a", 125) + ".gif",
		"key_too_long":   prefix + strings.Repeat("a", MaxKeyLen),
	}
	for name, s := range invalid {
		if k, err := ParseKey(s); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: ParseKey(%q) = %+v, %v; want ErrInvalidKey", name, s, k, err)
		}
	}
}

func TestUploadType(t *testing.T) {
	tests := []struct {
		filename, contentType string
		canonical, ext        string
		field                 string // the field a refusal names
	}{
		{"a.jpg", "image/jpeg", "image/jpeg", ".jpg", ""},
		{"A.JPEG", "IMAGE/JPEG", "image/jpeg", ".jpg", ""},
		{"dir/a.png", "image/png", "image/png", ".png", ""},
		{"a.webp", " image/webp ", "image/webp", ".webp", ""},
		{"a.gif", "image/gif", "image/gif", ".gif", ""},
		{"a.png", "image/jpeg", "", "", "filename"},
		{"a.jpg.exe", "image/jpeg", "", "", "filename"},
		{"jpg", "image/jpeg", "", "", "filename"},
		{"a.heic", "image/heic", "", "", "content_type"},
		{"a.svg", "image/svg+xml", "", "", "content_type"},
		{"a.html", "text/html", "", "", "content_type"},
		{"a.jpg", "image/jpeg;q=1", "", "", "content_type"},
		{"a.jpg", "", "", "", "content_type"},
		{" ", "image/jpeg", "", "", "filename"},
	}
	for _, tt := range tests {
		canonical, ext, err := uploadType(tt.filename, tt.contentType)
		var fe *FieldError
		switch {
		case tt.field == "" && (err != nil || canonical != tt.canonical || ext != tt.ext):
			t.Errorf("uploadType(%q, %q) = %q, %q, %v; want %q, %q", tt.filename, tt.contentType, canonical, ext, err, tt.canonical, tt.ext)
		case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field):
			t.Errorf("uploadType(%q, %q) = %v; want a %s error", tt.filename, tt.contentType, err, tt.field)
		}
	}
}
