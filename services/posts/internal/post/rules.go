package post

import (
	"mime"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxCaptionLen is the longest caption in characters (Unicode code points), Instagram's
// limit.
const MaxCaptionLen = 2200

// CheckCaption refuses a caption that is too long or holds control characters other than
// tab and line breaks (PostgreSQL cannot store NUL, and the rest only hide text).
func CheckCaption(s string) error {
	if !utf8.ValidString(s) {
		return &FieldError{Field: "caption", Problem: "must be valid UTF-8"}
	}
	if utf8.RuneCountInString(s) > MaxCaptionLen {
		return &FieldError{Field: "caption", Problem: "must be at most 2200 characters"}
	}
	for _, r := range s {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
			return &FieldError{Field: "caption", Problem: "must not contain control characters"}
		}
	}
	return nil
}

// ImagePathPrefix is the path under which the files service answers an image key with a
// redirect to a short-lived download URL. A post's image URL is this plus its key.
const ImagePathPrefix = "/api/files/"

// ImageURL is the path clients load a post's image from.
func ImageURL(key string) string { return ImagePathPrefix + key }

// maxKeyLen is S3's limit on an object key, in bytes.
const maxKeyLen = 1024

// ParseImageRef turns what a client sent as a post's image into a storage key. It takes
// a key ("users/<uid>/<name>") or the post image path this service hands out
// ("/api/files/<key>"), and refuses anything that points outside instant: instant serves
// only images its users uploaded (no hotlinking, no tracking pixels).
//
// Keys are limited to the characters S3 documents as safe in object keys (letters,
// digits and !-_.*'()) plus '/', with no empty, "." or ".." segment, so a key can go into
// a URL path as it is and never names a different object than it appears to.
func ParseImageRef(ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return "", &FieldError{Field: "image_key", Problem: "is required"}
	}
	if isURL(ref) {
		return "", ErrExternalImage
	}
	key := strings.TrimPrefix(ref, ImagePathPrefix)
	if len(key) > maxKeyLen {
		return "", &FieldError{Field: "image_key", Problem: "must be at most 1024 bytes"}
	}
	for i := 0; i < len(key); i++ {
		if !keyByte(key[i]) {
			return "", &FieldError{Field: "image_key", Problem: "must be a file key from the upload URL request"}
		}
	}
	segs := strings.Split(key, "/")
	if len(segs) < 3 || segs[0] != "users" {
		return "", &FieldError{Field: "image_key", Problem: "must be a file key from the upload URL request"}
	}
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return "", &FieldError{Field: "image_key", Problem: "must be a file key from the upload URL request"}
		}
	}
	return key, nil
}

// isURL reports whether ref is a URL rather than a key: an absolute URL with any
// scheme (http:, https:, data:, ftp: ...) or a scheme-relative one ("//host/x").
func isURL(ref string) bool {
	if strings.HasPrefix(ref, "//") || strings.HasPrefix(ref, `\\`) {
		return true
	}
	colon := strings.IndexByte(ref, ':')
	if colon <= 0 {
		return false
	}
	// RFC 3986: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
	for i, c := range []byte(ref[:colon]) {
		alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !alpha && (i == 0 || (c < '0' || c > '9') && c != '+' && c != '-' && c != '.') {
			return false
		}
	}
	return true
}

func keyByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("/!-_.*'()", c) >= 0
}

// OwnsKey reports whether key lies under userID's prefix, where the files service puts
// every upload of that user.
func OwnsKey(userID, key string) bool {
	return strings.HasPrefix(key, "users/"+userID+"/")
}

// Image is what the files service knows about an uploaded object.
type Image struct {
	Key         string
	OwnerID     string
	Size        int64
	ContentType string
	UploadedAt  time.Time // zero when the files service does not say
}

// AllowedImageTypes are the content types a post's image may have.
var AllowedImageTypes = []string{"image/jpeg", "image/png", "image/webp", "image/gif"}

// CheckImage verifies that img can be author's post image of at most maxBytes.
func CheckImage(img Image, author string, maxBytes int64) error {
	if img.OwnerID != author || !OwnsKey(author, img.Key) {
		return ErrImageNotYours
	}
	mt, _, err := mime.ParseMediaType(img.ContentType)
	allowed := false
	for _, t := range AllowedImageTypes {
		allowed = allowed || (err == nil && mt == t)
	}
	switch {
	case !allowed:
		return ErrImageType
	case img.Size <= 0:
		return ErrImageEmpty
	case img.Size > maxBytes:
		return ErrImageTooLarge
	}
	return nil
}
