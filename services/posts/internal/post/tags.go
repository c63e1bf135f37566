package post

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Limits on what a caption may tag.
const (
	// MaxHashtags is Instagram's limit: a caption with more distinct hashtags is refused
	// rather than silently losing some (which would leave the post off tag pages its
	// author expects it on).
	MaxHashtags = 30
	// MaxTagLen bounds a hashtag in characters; a longer run after '#' is not a tag. It
	// keeps tag index entries small.
	MaxTagLen = 100
	// Mentioned usernames follow auth's rule: 3 to 30 of [a-z0-9._].
	minMentionLen = 3
	maxMentionLen = 30
)

// Tags are the hashtags and mentions of a caption, lowercased, without duplicates, in
// order of first appearance.
type Tags struct {
	Hashtags []string
	Mentions []string
}

// ExtractTags finds the #hashtags and @mentions of caption.
//
// A hashtag is '#' followed by letters (any script), digits, combining marks and '_',
// normalised to NFC and lowercased, so "#Café" typed either way is one tag. A mention is
// '@' followed by a username. Either counts only at the start of a word: "a#b",
// "bob@example.com" and HTML entities ("&#123;") tag nothing. A mention's trailing dots end the sentence, not the
// name ("thanks @alice.").
func ExtractTags(caption string) (Tags, error) {
	t := Tags{Hashtags: []string{}, Mentions: []string{}}
	seenTag, seenUser := map[string]bool{}, map[string]bool{}
	prev := rune(-1)
	for i := 0; i < len(caption); {
		r, size := utf8.DecodeRuneInString(caption[i:])
		switch {
		case r == '#' && !wordRune(prev) && prev != '&':
			word := caption[i+size:]
			word = word[:wordEnd(word, tagRune)]
			if word != "" && utf8.RuneCountInString(word) <= MaxTagLen {
				tag := strings.ToLower(norm.NFC.String(word))
				if !seenTag[tag] {
					seenTag[tag] = true
					t.Hashtags = append(t.Hashtags, tag)
				}
			}
			// Resume at the end of the word, so "#a#b" is one tag "a" and not also "b".
			i += size + len(word)
			prev = '#'
			if word != "" {
				prev, _ = utf8.DecodeLastRuneInString(word)
			}
			continue
		case r == '@' && !wordRune(prev) && prev != '.':
			rest := caption[i+size:]
			end := wordEnd(rest, usernameRune)
			name := strings.TrimRight(rest[:end], ".")
			next, _ := utf8.DecodeRuneInString(rest[end:])
			if len(name) >= minMentionLen && len(name) <= maxMentionLen && !wordRune(next) {
				name = strings.ToLower(name)
				if !seenUser[name] {
					seenUser[name] = true
					t.Mentions = append(t.Mentions, name)
				}
			}
			i += size + end
			prev = '@'
			if end > 0 {
				prev = rune(rest[end-1])
			}
			continue
		}
		prev = r
		i += size
	}
	if len(t.Hashtags) > MaxHashtags {
		return Tags{}, &FieldError{Field: "caption", Problem: "may hold at most 30 hashtags"}
	}
	return t, nil
}

// NormalizeTag turns a tag as a client names it ("Café", "#café") into its stored form.
func NormalizeTag(s string) (string, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "#")
	if s == "" || wordEnd(s, tagRune) != len(s) || utf8.RuneCountInString(s) > MaxTagLen {
		return "", &FieldError{Field: "tag", Problem: "must be letters, digits and '_', at most 100 characters"}
	}
	return strings.ToLower(norm.NFC.String(s)), nil
}

// wordEnd returns the byte length of the prefix of s whose runes all satisfy ok.
func wordEnd(s string, ok func(rune) bool) int {
	for i, r := range s {
		if !ok(r) {
			return i
		}
	}
	return len(s)
}

func tagRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r)
}

// wordRune reports whether r continues a word, so a '#' or '@' after it starts no tag.
func wordRune(r rune) bool { return r >= 0 && tagRune(r) }

func usernameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_'
}
