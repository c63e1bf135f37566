package user

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeEmail(t *testing.T) {
	cases := []struct {
		name, in, want string
		ok             bool
	}{
		{"trimmed_and_lowercased", "  Alice@Example.COM ", "alice@example.com", true},
		{"plus_address", "a+tag@example.com", "a+tag@example.com", true},
		{"at_254_chars", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com", "", true},
		{"over_254_chars", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com", "", false},
		{"empty", "  ", "", false},
		{"no_at", "alice.example.com", "", false},
		{"display_name", "Alice <alice@example.com>", "", false},
		{"angle_brackets", "<alice@example.com>", "", false},
		{"two_addresses", "a@example.com, b@example.com", "", false},
		{"space_inside", "a b@example.com", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizeEmail(tc.in)
			var fe *FieldError
			if tc.ok != (err == nil) || (err != nil && (!errors.As(err, &fe) || fe.Field != "email")) {
				t.Fatalf("NormalizeEmail(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if tc.ok && tc.want != "" && got != tc.want {
				t.Fatalf("NormalizeEmail(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestNormalizeUsername(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"Alice", "alice", true},
		{"a.b_c9", "a.b_c9", true},
		{"abc", "abc", true},
		{strings.Repeat("a", 30), strings.Repeat("a", 30), true},
		{"ab", "", false},
		{strings.Repeat("a", 31), "", false},
		{"with space", "", false},
		{"dash-ed", "", false},
		{"ünï", "", false},
		{"", "", false},
	}
	for _, tc := range cases {
		got, err := NormalizeUsername(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("NormalizeUsername(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestIDs(t *testing.T) {
	id, err := NewID()
	if err != nil || !ValidID(id) || id[14] != '4' {
		t.Fatalf("NewID() = %q, %v; want a canonical v4 UUID", id, err)
	}
	for _, bad := range []string{"", "not-a-uuid", strings.ToUpper(id), "{" + id + "}", strings.ReplaceAll(id, "-", "")} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}
