package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// specPath is the one OpenAPI document; the gateway embeds and serves the same file.
// TestMain makes it absolute before any stack starts: the embedded S3 server changes the
// process's working directory while it runs.
var specPath = filepath.Join("..", "services", "gateway", "internal", "apidoc", "openapi.yaml")

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
)

func loadSpec() (routers.Router, error) {
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromFile(specPath)
		if err != nil {
			specErr = fmt.Errorf("load %s: %w", specPath, err)
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			specErr = fmt.Errorf("invalid OpenAPI document: %w", err)
			return
		}
		specRouter, specErr = gorillamux.NewRouter(doc)
	})
	return specRouter, specErr
}

// checkAgainstSpec fails the test when a response the gateway gave is not what the
// OpenAPI document promises for that route and status — or when the route is not
// documented at all. The document cannot drift from the code without this failing.
func checkAgainstSpec(t *testing.T, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	router, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	// Match on the path the gateway saw, whatever host the test used.
	u := *req.URL
	u.Scheme, u.Host = "", ""
	r2 := req.Clone(context.Background())
	r2.URL = &url.URL{Path: u.Path, RawQuery: u.RawQuery}
	r2.Host = ""
	route, params, err := router.FindRoute(r2)
	if err != nil {
		t.Fatalf("%s %s is not in the OpenAPI document: %v", req.Method, req.URL.Path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: r2, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Fatalf("%s %s → %d does not match the OpenAPI document:\n%v\nbody: %s", req.Method, req.URL.Path, status, err, body)
	}
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	if _, err := loadSpec(); err != nil {
		t.Fatal(err)
	}
}
