package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// TestOpenAPIServers fetches the document from a server on a port of its
// own and checks that the server URL it gives leads back to that server,
// as a client generated from it resolves it.
func TestOpenAPIServers(t *testing.T) {
	srv, _ := newTestServer(t, "memory://", nil)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	docURL := hs.URL + "/openapi.json"
	resp, err := http.Get(docURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Servers []struct{ URL string }
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Servers) != 1 {
		t.Fatalf("servers: %+v, want one", doc.Servers)
	}
	base, _ := url.Parse(docURL)
	rel, err := url.Parse(doc.Servers[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	// OpenAPI appends each path to the server URL without its trailing
	// slash.
	got := base.ResolveReference(rel).String()
	if want := hs.URL + "/"; got != want {
		t.Errorf("the server URL %q, fetched from %s, resolves to %s, want %s", doc.Servers[0].URL, docURL, got, want)
	}
	r, err := http.Get(got + "healthz")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Errorf("GET %shealthz: %d", got, r.StatusCode)
	}
}
