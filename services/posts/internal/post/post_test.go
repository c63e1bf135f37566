package post

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestExtractTags(t *testing.T) {
	tests := []struct {
		name     string
		caption  string
		hashtags []string
		mentions []string
	}{
		{"empty", "", []string{}, []string{}},
		{"plain", "Sunset at the beach", []string{}, []string{}},
		{"hashtags_lowercased_deduplicated_in_order", "#Sunset and #beach, again #SUNSET", []string{"sunset", "beach"}, []string{}},
		{"unicode_letters", "Été à #Montréal #東京 #café_au_lait", []string{"montréal", "東京", "café_au_lait"}, []string{}},
		{"nfc_normalised", "#cafe\u0301 and #caf\u00e9", []string{"caf\u00e9"}, []string{}},
		{"digits_and_underscore", "#2024 #top_10!", []string{"2024", "top_10"}, []string{}},
		{"stops_at_punctuation", "#hello-world #a.b", []string{"hello", "a"}, []string{}},
		{"not_inside_a_word", "a#b c&#123; #ok", []string{"ok"}, []string{}},
		{"adjacent_tags_are_one", "#one#two", []string{"one"}, []string{}},
		{"lone_hash", "# nothing ##here", []string{"here"}, []string{}},
		{"mentions", "with @Alice and @bob_99 and @alice", []string{}, []string{"alice", "bob_99"}},
		{"mention_trailing_dot", "thanks @carol.smith.", []string{}, []string{"carol.smith"}},
		{"email_is_no_mention", "mail bob@example.com", []string{}, []string{}},
		{"mention_too_short", "hi @ab", []string{}, []string{}},
		{"mention_too_long", "@" + strings.Repeat("a", 31), []string{}, []string{}},
		{"mention_max_len", "@" + strings.Repeat("a", 30), []string{}, []string{strings.Repeat("a", 30)}},
		{"mention_followed_by_letter", "@alicé", []string{}, []string{}},
		{"mixed", "Dinner with @dave at #Rome 🍝 #food\n@eve", []string{"rome", "food"}, []string{"dave", "eve"}},
		{"tag_too_long_is_none", "#" + strings.Repeat("x", 101) + " #short", []string{"short"}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ExtractTags(tc.caption)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(Tags{Hashtags: tc.hashtags, Mentions: tc.mentions}, got); diff != "" {
				t.Fatalf("tags of %q (-want +got):\n%s", tc.caption, diff)
			}
		})
	}
}

func TestExtractTagsLimit(t *testing.T) {
	var b strings.Builder
	for i := range MaxHashtags {
		b.WriteString("#t" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + " ")
	}
	b.WriteString("#TAA ") // a repeat does not count twice
	if got, err := ExtractTags(b.String()); err != nil || len(got.Hashtags) != MaxHashtags {
		t.Fatalf("30 distinct hashtags: %d, %v", len(got.Hashtags), err)
	}
	b.WriteString("#one_more")
	var fe *FieldError
	if _, err := ExtractTags(b.String()); !errors.As(err, &fe) || fe.Field != "caption" {
		t.Fatalf("31 hashtags: err = %v, want a caption field error", err)
	}
}

func TestCheckCaption(t *testing.T) {
	for name, tc := range map[string]struct {
		caption string
		ok      bool
	}{
		"empty":           {"", true},
		"max_runes":       {strings.Repeat("é", MaxCaptionLen), true},
		"too_long":        {strings.Repeat("a", MaxCaptionLen+1), false},
		"line_breaks":     {"a\nb\r\n\tc", true},
		"nul":             {"a\x00b", false},
		"escape":          {"a\x1b[31mred", false},
		"invalid_utf8":    {"a\xffb", false},
		"emoji_max_runes": {strings.Repeat("😀", MaxCaptionLen), true},
	} {
		t.Run(name, func(t *testing.T) {
			if err := CheckCaption(tc.caption); (err == nil) != tc.ok {
				t.Fatalf("CheckCaption = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestParseImageRef(t *testing.T) {
	const key = "users/0190a0e4-7b1c-7cc2-9d7e-1f2a3b4c5d6e/photo-1.jpg"
	for name, tc := range map[string]struct {
		ref  string
		want string
		err  error // nil: want; errInvalid: a field error
	}{
		"key":              {key, key, nil},
		"key_spaces":       {"  " + key + " ", key, nil},
		"own_image_path":   {"/api/files/" + key, key, nil},
		"http":             {"http://evil.example/x.jpg", "", ErrExternalImage},
		"https_upper":      {"HTTPS://evil.example/x.jpg", "", ErrExternalImage},
		"scheme_relative":  {"//evil.example/x.jpg", "", ErrExternalImage},
		"data":             {"data:image/png;base64,AAAA", "", ErrExternalImage},
		"empty":            {"", "", errInvalid},
		"not_under_users":  {"avatars/x.jpg", "", errInvalid},
		"no_name":          {"users/abc", "", errInvalid},
		"dot_dot":          {"users/abc/../def/x.jpg", "", errInvalid},
		"empty_segment":    {"users/abc//x.jpg", "", errInvalid},
		"query":            {key + "?x=1", "", errInvalid},
		"percent":          {"users/abc/x%2e.jpg", "", errInvalid},
		"too_long":         {"users/abc/" + strings.Repeat("a", 1020), "", errInvalid},
		"leading_slash":    {"/" + key, "", errInvalid},
		"backslash_relpth": {`\\evil\x.jpg`, "", ErrExternalImage},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ParseImageRef(tc.ref)
			var fe *FieldError
			switch {
			case tc.err == errInvalid:
				if !errors.As(err, &fe) || fe.Field != "image_key" {
					t.Fatalf("ParseImageRef(%q) = %q, %v; want an image_key field error", tc.ref, got, err)
				}
			case tc.err != nil:
				if !errors.Is(err, tc.err) {
					t.Fatalf("ParseImageRef(%q) err = %v, want %v", tc.ref, err, tc.err)
				}
			case err != nil || got != tc.want:
				t.Fatalf("ParseImageRef(%q) = %q, %v; want %q", tc.ref, got, err, tc.want)
			}
		})
	}
}

var errInvalid = errors.New("field error")

func TestCheckImage(t *testing.T) {
	const me = "0190a0e4-7b1c-7cc2-9d7e-1f2a3b4c5d6e"
	good := Image{Key: "users/" + me + "/a.jpg", OwnerID: me, Size: 10, ContentType: "image/jpeg"}
	with := func(f func(*Image)) Image { i := good; f(&i); return i }
	for name, tc := range map[string]struct {
		img  Image
		want error
	}{
		"ok":              {good, nil},
		"ok_png_params":   {with(func(i *Image) { i.ContentType = "image/png; charset=binary" }), nil},
		"ok_webp":         {with(func(i *Image) { i.ContentType = "image/webp" }), nil},
		"ok_gif":          {with(func(i *Image) { i.ContentType = "image/gif" }), nil},
		"other_owner":     {with(func(i *Image) { i.OwnerID = "someone" }), ErrImageNotYours},
		"key_of_other_id": {with(func(i *Image) { i.Key = "users/other/a.jpg" }), ErrImageNotYours},
		"svg":             {with(func(i *Image) { i.ContentType = "image/svg+xml" }), ErrImageType},
		"no_type":         {with(func(i *Image) { i.ContentType = "" }), ErrImageType},
		"too_big":         {with(func(i *Image) { i.Size = 11 }), ErrImageTooLarge},
		"empty":           {with(func(i *Image) { i.Size = 0 }), ErrImageEmpty},
	} {
		t.Run(name, func(t *testing.T) {
			err := CheckImage(tc.img, me, 10)
			if (tc.want == nil) != (err == nil) || !errors.Is(err, tc.want) {
				t.Fatalf("CheckImage = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCursorRoundTrip(t *testing.T) {
	c := Cursor{CreatedAt: time.Date(2025, 5, 1, 12, 30, 0, 123456000, time.UTC), ID: "0190a0e4-7b1c-7cc2-9d7e-1f2a3b4c5d6e"}
	got, err := DecodeCursor(EncodeCursor(c))
	if err != nil || !got.CreatedAt.Equal(c.CreatedAt) || got.ID != c.ID {
		t.Fatalf("round trip = %+v, %v; want %+v", got, err, c)
	}
	for _, bad := range []string{"", "!!!", "bm90LWEtY3Vyc29y", EncodeCursor(Cursor{ID: "not-a-uuid"})} {
		if _, err := DecodeCursor(bad); !errors.Is(err, ErrInvalidCursor) {
			t.Errorf("DecodeCursor(%q) = %v, want ErrInvalidCursor", bad, err)
		}
	}
}

func TestNormalizeTag(t *testing.T) {
	for in, want := range map[string]string{"Café": "café", "#Rome": "rome", "top_10": "top_10"} {
		if got, err := NormalizeTag(in); err != nil || got != want {
			t.Errorf("NormalizeTag(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "#", "a b", "a-b", strings.Repeat("a", 101)} {
		if _, err := NormalizeTag(bad); err == nil {
			t.Errorf("NormalizeTag(%q) accepted", bad)
		}
	}
}
