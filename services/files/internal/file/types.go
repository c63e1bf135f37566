package file

import (
	"path"
	"slices"
	"strings"
)

// imageType is a content type an upload may have and the file name extensions that go
// with it; the first extension is the one keys get.
type imageType struct {
	contentType string
	exts        []string
}

// imageTypes are the types a browser shows in an <img> tag everywhere. HEIC is left out
// on purpose: only Safari displays it, so a HEIC post would be a broken image for most
// members; clients convert it (iOS does on export) before uploading.
var imageTypes = []imageType{
	{"image/jpeg", []string{".jpg", ".jpeg"}},
	{"image/png", []string{".png"}},
	{"image/webp", []string{".webp"}},
	{"image/gif", []string{".gif"}},
}

// ContentTypes lists the content types an upload may have.
func ContentTypes() []string {
	out := make([]string, len(imageTypes))
	for i, t := range imageTypes {
		out[i] = t.contentType
	}
	return out
}

// lookupType returns the image type of a content type, compared without case.
func lookupType(contentType string) (imageType, bool) {
	ct := strings.ToLower(strings.TrimSpace(contentType))
	i := slices.IndexFunc(imageTypes, func(t imageType) bool { return t.contentType == ct })
	if i < 0 {
		return imageType{}, false
	}
	return imageTypes[i], true
}

// uploadType checks an upload's declared file name and content type together and returns
// the canonical content type (the one signed into the URL) and the key's extension.
func uploadType(filename, contentType string) (canonical, ext string, err error) {
	if strings.TrimSpace(contentType) == "" {
		return "", "", &FieldError{Field: "content_type", Problem: "is required"}
	}
	t, ok := lookupType(contentType)
	if !ok {
		return "", "", &FieldError{Field: "content_type", Problem: "must be one of " + strings.Join(ContentTypes(), ", ")}
	}
	if strings.TrimSpace(filename) == "" {
		return "", "", &FieldError{Field: "filename", Problem: "is required"}
	}
	if len(filename) > 255 {
		return "", "", &FieldError{Field: "filename", Problem: "must be at most 255 characters"}
	}
	got := strings.ToLower(path.Ext(filename))
	if !slices.Contains(t.exts, got) {
		return "", "", &FieldError{Field: "filename", Problem: "extension must be " + strings.Join(t.exts, " or ") + " for " + t.contentType}
	}
	return t.contentType, t.exts[0], nil
}
