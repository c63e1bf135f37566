// Package apidoc serves instant's OpenAPI document and Swagger UI at the gateway: the
// document is the contract of every public route of every service, kept in one place
// and validated against real responses by the end-to-end suite.
package apidoc

import (
	_ "embed"
	"io/fs"
	"net/http"

	swaggerfiles "github.com/swaggo/files/v2"
)

// Spec is the OpenAPI 3 document.
//
//go:embed openapi.yaml
var Spec []byte

// initializer points Swagger UI at our document instead of the demo one its
// distribution ships with.
const initializer = `window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/swagger/openapi.yaml",
    dom_id: "#swagger-ui",
    deepLinking: true,
    withCredentials: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout"
  });
};
`

// Handler serves /swagger/*: index.html (the UI), openapi.yaml, and the UI's assets.
func Handler() http.Handler {
	assets := http.StripPrefix("/swagger/", http.FileServerFS(swaggerfiles.FS))
	// Served by hand: the file server redirects any path ending in /index.html to its
	// directory, and the original API promised exactly /swagger/index.html.
	index, _ := fs.ReadFile(swaggerfiles.FS, "index.html")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// The UI is static and same-origin; nothing on the page may load from elsewhere.
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		switch r.URL.Path {
		case "/swagger", "/swagger/":
			http.Redirect(w, r, "/swagger/index.html", http.StatusFound)
		case "/swagger/index.html":
			h.Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write(index)
		case "/swagger/openapi.yaml":
			h.Set("Content-Type", "application/yaml")
			_, _ = w.Write(Spec)
		case "/swagger/swagger-initializer.js":
			h.Set("Content-Type", "text/javascript; charset=utf-8")
			_, _ = w.Write([]byte(initializer))
		default:
			assets.ServeHTTP(w, r)
		}
	})
}
