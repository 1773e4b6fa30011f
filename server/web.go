package server

import (
	"embed"
	"fmt"
	"mime"
	"net/http"
	"path"
)

// The web page (docs/SERVER.md, "Web page"): static files embedded in the
// binary, which call the same /v1 API as any client. They need no build
// step and make no request outside the server.
//
//go:embed web
var webFiles embed.FS

// webCSP confines the page to the server's own scripts, styles and API;
// images and file links are data: URLs built from stored messages.
const webCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func (s *Server) webPage(w http.ResponseWriter, r *http.Request, _ Tenant) error {
	return serveWebFile(w, "index.html")
}

func (s *Server) webAsset(w http.ResponseWriter, r *http.Request, _ Tenant) error {
	name := r.PathValue("name")
	if name == "index.html" {
		return httpError(http.StatusNotFound, "not_found", "no asset index.html; the page is at /")
	}
	return serveWebFile(w, name)
}

func serveWebFile(w http.ResponseWriter, name string) error {
	b, err := webFiles.ReadFile(path.Join("web", name))
	if err != nil {
		return httpError(http.StatusNotFound, "not_found", fmt.Sprintf("no asset %q", truncate(name, 100)))
	}
	h := w.Header()
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Security-Policy", webCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	// The files change with the binary; revalidating each load keeps an
	// upgraded server from running an old script.
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	return nil
}
