// Package files3 is the files service's object store: S3 (or MinIO, or any S3-compatible
// server) through minio-go. It signs URLs for the address clients reach and makes every
// other call to the address the service reaches, and translates S3 errors into the
// core's: a missing object is file.ErrNotFound, anything else file.ErrUnavailable.
package files3

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/cors"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"instant/services/files/internal/file"
)

// Config says where the object store is and how to sign for it.
type Config struct {
	// Endpoint is host:port the service itself calls (stat, delete, list).
	Endpoint string
	// PublicEndpoint is scheme://host[:port] that clients reach; presigned URLs are
	// signed for this host, since the host is part of the signature. Empty means
	// Endpoint, with the scheme UseTLS implies.
	PublicEndpoint string
	Region         string
	Bucket         string
	AccessKey      string
	SecretKey      string
	UseTLS         bool
	// Timeout bounds each call to the store, so an S3 that is gone costs a request a
	// quick 503 instead of a hang.
	Timeout time.Duration
}

// purgeTimeout bounds one purge of a user's prefix. A purge cut short is retried by the
// consumer and carries on where it stopped: what was deleted stays deleted.
const purgeTimeout = 5 * time.Minute

// removeBatch is the most keys one DeleteObjects request may name.
const removeBatch = 1000

// Store implements file.Store.
type Store struct {
	api     *minio.Client // the service's own calls, to Endpoint
	signer  *minio.Client // presigning only, for PublicEndpoint; it never sends a request
	bucket  string
	region  string
	timeout time.Duration
}

// New builds the clients. It makes no request: with the region given, presigning needs
// no bucket-location lookup, and the store is checked by EnsureBucket and Ping.
func New(cfg Config) (*Store, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	tr, err := minio.DefaultTransport(cfg.UseTLS)
	if err != nil {
		return nil, fmt.Errorf("s3 transport: %w", err)
	}
	tr.DialContext = (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = cfg.Timeout
	api, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.UseTLS,
		Region:    cfg.Region,
		Transport: tr,
		// A few quick retries for a dropped connection; the per-call timeout bounds them.
		MaxRetries: 3,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client for %s: %w", cfg.Endpoint, err)
	}
	host, secure, err := publicHost(cfg)
	if err != nil {
		return nil, err
	}
	signer, err := minio.New(host, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: secure,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 signer for %s: %w", host, err)
	}
	return &Store{api: api, signer: signer, bucket: cfg.Bucket, region: cfg.Region, timeout: cfg.Timeout}, nil
}

// ParsePublicEndpoint checks S3_PUBLIC_ENDPOINT: http or https, a host, no path (S3
// clients sign paths from the bucket on, so an endpoint cannot live under a path).
func ParsePublicEndpoint(s string) (host string, secure bool, err error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", false, fmt.Errorf("S3_PUBLIC_ENDPOINT %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.User != nil {
		return "", false, fmt.Errorf("S3_PUBLIC_ENDPOINT %q: want scheme://host[:port], nothing more", s)
	}
	return u.Host, u.Scheme == "https", nil
}

func publicHost(cfg Config) (string, bool, error) {
	if cfg.PublicEndpoint == "" {
		return cfg.Endpoint, cfg.UseTLS, nil
	}
	return ParsePublicEndpoint(cfg.PublicEndpoint)
}

// EnsureBucket creates the bucket unless it exists.
func (s *Store) EnsureBucket(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ok, err := s.api.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("s3: bucket %s: %w", s.bucket, err)
	}
	if ok {
		return nil
	}
	err = s.api.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: s.region})
	if err != nil && minio.ToErrorResponse(err).Code != "BucketAlreadyOwnedByYou" {
		return fmt.Errorf("s3: create bucket %s: %w", s.bucket, err)
	}
	return nil
}

// corsRuleID names the bucket CORS rule this service manages.
const corsRuleID = "instant-browser-uploads"

// SetCORS replaces the bucket's CORS configuration with one rule that lets browsers on
// origins PUT the presigned uploads and GET the presigned downloads: the Content-Type
// header (signed into every upload URL) is allowed, ETag exposed, preflights cached for
// an hour. The bucket belongs to instant, so its CORS is instant's to set.
func (s *Store) SetCORS(ctx context.Context, origins []string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	cfg := cors.NewConfig([]cors.Rule{{
		ID:            corsRuleID,
		AllowedOrigin: origins,
		AllowedMethod: []string{http.MethodGet, http.MethodHead, http.MethodPut},
		AllowedHeader: []string{"Content-Type", "Content-Length"},
		ExposeHeader:  []string{"ETag"},
		MaxAgeSeconds: 3600,
	}})
	if err := s.api.SetBucketCors(ctx, s.bucket, cfg); err != nil {
		return fmt.Errorf("s3: set CORS of bucket %s: %w", s.bucket, err)
	}
	return nil
}

// Ping checks that the store answers and the bucket is there, for readiness.
func (s *Store) Ping(ctx context.Context) error {
	ok, err := s.api.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("s3 ping: %w", err)
	}
	if !ok {
		return fmt.Errorf("s3 ping: bucket %s is missing", s.bucket)
	}
	return nil
}

// PresignPut signs a PUT with the Content-Type (and, when size > 0, the Content-Length)
// among the signed headers: S3 refuses a request that carries other values.
func (s *Store) PresignPut(ctx context.Context, key, contentType string, size int64, ttl time.Duration) (string, error) {
	h := http.Header{}
	h.Set("Content-Type", contentType)
	if size > 0 {
		h.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	u, err := s.signer.PresignHeader(ctx, http.MethodPut, s.bucket, key, ttl, nil, h)
	if err != nil {
		return "", fmt.Errorf("%w: presign put: %v", file.ErrUnavailable, err)
	}
	return u.String(), nil
}

// PresignGet signs a GET.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	u, err := s.signer.PresignedGetObject(ctx, s.bucket, key, ttl, nil)
	if err != nil {
		return "", fmt.Errorf("%w: presign get: %v", file.ErrUnavailable, err)
	}
	return u.String(), nil
}

// Stat describes an object.
func (s *Store) Stat(ctx context.Context, key string) (file.Object, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	info, err := s.api.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return file.Object{}, translate("stat", err)
	}
	return file.Object{Size: info.Size, ContentType: info.ContentType, UploadedAt: info.LastModified.UTC()}, nil
}

// List is one page of the bucket under prefix after the key after (S3's StartAfter).
func (s *Store) List(ctx context.Context, prefix, after string, limit int) ([]file.Listed, string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var out []file.Listed
	opts := minio.ListObjectsOptions{Prefix: prefix, StartAfter: after, Recursive: true, MaxKeys: limit}
	for o := range s.api.ListObjectsIter(ctx, s.bucket, opts) {
		if o.Err != nil {
			return nil, "", translate("list", o.Err)
		}
		out = append(out, file.Listed{Key: o.Key, Size: o.Size, UploadedAt: o.LastModified.UTC()})
		if len(out) == limit {
			return out, o.Key, nil
		}
	}
	return out, "", nil
}

// RemoveKeys deletes a batch of keys in one request (up to removeBatch).
func (s *Store) RemoveKeys(ctx context.Context, keys []string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	objs := make([]minio.ObjectInfo, len(keys))
	for i, k := range keys {
		objs[i] = minio.ObjectInfo{Key: k}
	}
	return s.removeObjects(ctx, objs)
}

// removeObjects deletes objs (at most removeBatch) and returns how many went; a key
// that is gone already counts as removed.
func (s *Store) removeObjects(ctx context.Context, objs []minio.ObjectInfo) (int, error) {
	if len(objs) == 0 {
		return 0, nil
	}
	ch := make(chan minio.ObjectInfo, len(objs))
	for _, o := range objs {
		ch <- o
	}
	close(ch)
	failed := 0
	var first error
	for e := range s.api.RemoveObjects(ctx, s.bucket, ch, minio.RemoveObjectsOptions{}) {
		if minio.ToErrorResponse(e.Err).Code == "NoSuchKey" {
			continue // gone already: what a delete wants
		}
		failed++
		if first == nil {
			first = e.Err
		}
	}
	if first != nil {
		return len(objs) - failed, translate("remove objects", first)
	}
	return len(objs), nil
}

// Remove deletes an object; S3 answers a delete of a missing key with success too.
func (s *Store) Remove(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := s.api.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{})
	if err == nil {
		return nil
	}
	if err = translate("remove", err); errors.Is(err, file.ErrNotFound) {
		return nil
	}
	return err
}

// RemovePrefix lists the prefix and deletes what it finds, a batch at a time.
func (s *Store) RemovePrefix(ctx context.Context, prefix string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, purgeTimeout)
	defer cancel()
	removed := 0
	batch := make([]minio.ObjectInfo, 0, removeBatch)
	flush := func() error {
		n, err := s.removeObjects(ctx, batch)
		removed += n
		batch = batch[:0]
		return err
	}
	for o := range s.api.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return removed, translate("list", o.Err)
		}
		batch = append(batch, o)
		if len(batch) == removeBatch {
			if err := flush(); err != nil {
				return removed, err
			}
		}
	}
	if err := flush(); err != nil {
		return removed, err
	}
	return removed, nil
}

// translate turns an S3 error into the core's: a missing object is ErrNotFound; a
// missing bucket, refused credentials or a network failure is ErrUnavailable (the cause
// reaches the log, never the client).
func translate(op string, err error) error {
	resp := minio.ToErrorResponse(err)
	if resp.Code == "NoSuchKey" || (resp.StatusCode == http.StatusNotFound && resp.Code != "NoSuchBucket") {
		return fmt.Errorf("s3 %s: %w", op, file.ErrNotFound)
	}
	return fmt.Errorf("%w: s3 %s: %v", file.ErrUnavailable, op, err)
}
