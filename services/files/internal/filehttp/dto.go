package filehttp

import "time"

// maxBody bounds every request body of the service: a file name, a type and a size.
const maxBody = 4 << 10

type uploadURLRequest struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	// Size, when given, is signed into the URL: S3 then refuses a body of another length.
	Size *int64 `json:"size,omitempty"`
}

// uploadURLResponse keeps the original API's fields (success, upload_url, file_key,
// expires_in_seconds) and adds what a client needs to use the URL right.
type uploadURLResponse struct {
	Success   bool   `json:"success"`
	UploadURL string `json:"upload_url"`
	FileKey   string `json:"file_key"`
	Method    string `json:"method"`
	// Headers are signed: the PUT must carry exactly these.
	Headers          map[string]string `json:"headers"`
	ExpiresAt        time.Time         `json:"expires_at"`
	ExpiresInSeconds int64             `json:"expires_in_seconds"`
}

type downloadURLRequest struct {
	FileKey string `json:"file_key"`
}

type downloadURLResponse struct {
	Success          bool      `json:"success"`
	DownloadURL      string    `json:"download_url"`
	FileKey          string    `json:"file_key"`
	ExpiresAt        time.Time `json:"expires_at"`
	ExpiresInSeconds int64     `json:"expires_in_seconds"`
}

type deleteResponse struct {
	Success bool   `json:"success"`
	FileKey string `json:"file_key"`
}

// infoResponse is the internal answer posts reads (docs/contracts.md).
type infoResponse struct {
	Key         string `json:"key"`
	OwnerID     string `json:"owner_id"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
	UploadedAt  string `json:"uploaded_at"`
}

// uploadJSON is one upload in GET /internal/uploads.
type uploadJSON struct {
	Key        string `json:"key"`
	Size       int64  `json:"size"`
	UploadedAt string `json:"uploaded_at"`
}

// uploadsResponse is a page of uploads older than the asked time; next continues the
// listing (absent at the end). A page may be empty and still continue.
type uploadsResponse struct {
	Uploads []uploadJSON `json:"uploads"`
	Next    string       `json:"next,omitempty"`
}

type removeUploadsRequest struct {
	Keys []string `json:"keys"`
}

type removeUploadsResponse struct {
	Removed int `json:"removed"`
}
