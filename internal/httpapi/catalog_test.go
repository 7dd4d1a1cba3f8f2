package httpapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/catalog"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/httpx"
)

const testToken = "s3cret-token"

// catalogServer returns a Server with a catalog read from file (or the
// database when file is empty).
func catalogServer(t *testing.T, opts catalog.Options) *Server {
	t.Helper()
	d, err := db.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	opts.DB, opts.Dir = d, t.TempDir()
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := catalog.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := NewServer()
	s.Logger = opts.Logger
	s.Catalog = c
	s.APIToken = testToken
	return s
}

func do(s *Server, method, target string, body string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func writeProducts(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("[")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		id := string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		b.WriteString(`{"id":"` + id + `","name":"Name & <` + id + `>","url":"https://s.example/` + id + `","image_url":"https://s.example/` + id + `.jpg","description":"d","price":9.5,"categories":["c1","c2"]}`)
	}
	b.WriteString("]")
	path := filepath.Join(t.TempDir(), "p.json")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCatalogFeedHTTP(t *testing.T) {
	s := catalogServer(t, catalog.Options{File: writeProducts(t, 30), PartBytes: 2000})
	snap, release := s.Catalog.Acquire()
	defer release()
	for _, f := range catalog.Formats {
		path := "/catalog." + f.String()
		t.Run(f.String(), func(t *testing.T) {
			var want bytes.Buffer
			snap.Write(&want, f, 0)

			w := do(s, "GET", path, "")
			if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), want.Bytes()) {
				t.Fatalf("GET %s: %d, body differs from the snapshot", path, w.Code)
			}
			h := w.Result().Header
			if h.Get("Content-Length") != itoa(want.Len()) || h.Get("Content-Type") != f.ContentType() || h.Get("Last-Modified") == "" {
				t.Errorf("headers: %v", h)
			}
			etag := h.Get("ETag")

			// Conditional requests.
			if w := do(s, "GET", path, "", "If-None-Match", etag); w.Code != 304 || w.Body.Len() != 0 {
				t.Errorf("If-None-Match current: %d", w.Code)
			}
			if w := do(s, "GET", path, "", "If-None-Match", `"other", W/`+etag); w.Code != 304 {
				t.Errorf("If-None-Match list with weak tag: %d", w.Code)
			}
			if w := do(s, "GET", path, "", "If-None-Match", `"stale"`); w.Code != 200 {
				t.Errorf("If-None-Match stale: %d", w.Code)
			}
			if w := do(s, "GET", path, "", "If-Modified-Since", h.Get("Last-Modified")); w.Code != 304 {
				t.Errorf("If-Modified-Since Last-Modified: %d", w.Code)
			}
			if w := do(s, "GET", path, "", "If-Modified-Since", snap.Modified().Add(-time.Hour).Format(http.TimeFormat)); w.Code != 200 {
				t.Errorf("If-Modified-Since an hour before: %d", w.Code)
			}

			// gzip, with its own ETag.
			w = do(s, "GET", path, "", "Accept-Encoding", "br;q=1, gzip;q=0.5")
			if w.Header().Get("Content-Encoding") != "gzip" || w.Header().Get("ETag") == etag || w.Header().Get("Vary") != "Accept-Encoding" {
				t.Fatalf("gzip headers: %v", w.Header())
			}
			zr, err := gzip.NewReader(w.Body)
			if err != nil {
				t.Fatal(err)
			}
			unzipped, _ := io.ReadAll(zr)
			if !bytes.Equal(unzipped, want.Bytes()) {
				t.Error("gzip body differs from the feed")
			}
			if w := do(s, "GET", path, "", "Accept-Encoding", "gzip;q=0"); w.Header().Get("Content-Encoding") != "" {
				t.Error("gzip;q=0 still compressed")
			}

			// HEAD: headers only.
			if w := do(s, "HEAD", path, ""); w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") != itoa(want.Len()) {
				t.Errorf("HEAD: %d, %d bytes, %v", w.Code, w.Body.Len(), w.Header())
			}

			// Parts.
			parts := snap.Parts(f)
			if len(parts) < 2 {
				t.Fatalf("%d parts with a 2000-byte limit", len(parts))
			}
			for _, p := range parts {
				var wantPart bytes.Buffer
				snap.Write(&wantPart, f, p.Number)
				w := do(s, "GET", path+"?part="+itoa(p.Number), "")
				if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), wantPart.Bytes()) || w.Body.Len() > 2000 {
					t.Errorf("part %d: %d, %d bytes", p.Number, w.Code, w.Body.Len())
				}
			}
			for q, code := range map[string]int{"0": 400, "x": 400, itoa(len(parts) + 1): 404} {
				w := do(s, "GET", path+"?part="+q, "")
				var e httpx.ErrorBody
				json.Unmarshal(w.Body.Bytes(), &e)
				if w.Code != code || e.Error.Field != "part" {
					t.Errorf("part=%s: %d %+v, want %d naming part", q, w.Code, e, code)
				}
			}
		})
	}

	// The index lists every part of both formats.
	w := do(s, "GET", "/catalog/index.json", "")
	var idx struct {
		Products  int
		PartBytes int64 `json:"part_bytes"`
		JSON, XML []struct {
			Part     int
			Products int
			URL      string
		}
	}
	if err := json.Unmarshal(w.Body.Bytes(), &idx); err != nil || w.Code != 200 {
		t.Fatalf("index: %d %v", w.Code, err)
	}
	if idx.Products != 30 || idx.PartBytes != 2000 || len(idx.JSON) != len(snap.Parts(catalog.JSON)) || len(idx.XML) != len(snap.Parts(catalog.XML)) {
		t.Errorf("index = %+v", idx)
	}
	sum := 0
	for _, p := range idx.XML {
		sum += p.Products
		if w := do(s, "GET", p.URL, ""); w.Code != 200 {
			t.Errorf("index URL %s: %d", p.URL, w.Code)
		}
	}
	if sum != 30 {
		t.Errorf("xml parts hold %d products, want 30", sum)
	}
}

func TestCatalogFeedOffInAPIMode(t *testing.T) {
	s := catalogServer(t, catalog.Options{File: writeProducts(t, 2), Mode: catalog.ModeAPI})
	for _, path := range []string{"/catalog.json", "/catalog.xml", "/catalog/index.json"} {
		w := do(s, "GET", path, "")
		if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "never both") {
			t.Errorf("%s in api mode: %d %s", path, w.Code, w.Body)
		}
	}
}

func TestCatalogProductsAPI(t *testing.T) {
	s := catalogServer(t, catalog.Options{})
	auth := []string{"Authorization", "Bearer " + testToken, "Content-Type", "application/json"}
	prod := func(id string) string {
		return `{"id":"` + id + `","name":"N","url":"https://s.example/` + id + `","image_url":"https://s.example/i.jpg","description":"d","price":1.25}`
	}
	type errBody struct {
		status      int
		code, field string
	}
	for _, tc := range []struct {
		name, method, body string
		header             []string
		want               errBody
	}{
		{"no token", "PUT", "[]", []string{"Content-Type", "application/json"}, errBody{401, "unauthorized", ""}},
		{"wrong token", "PUT", "[]", []string{"Authorization", "Bearer nope"}, errBody{401, "unauthorized", ""}},
		{"content type", "PUT", "[]", []string{"Authorization", "Bearer " + testToken, "Content-Type", "text/plain"}, errBody{415, "unsupported", ""}},
		{"malformed", "PUT", "[{", auth, errBody{400, "bad_request", ""}},
		{"object not array", "PUT", prod("a"), auth, errBody{400, "bad_request", ""}},
		{"null", "PUT", "null", auth, errBody{400, "bad_request", ""}},
		{"nested custom field", "PATCH", `[` + strings.TrimSuffix(prod("a"), "}") + `,"colour":{"r":1}}]`, auth, errBody{422, "invalid", "[0].colour"}},
		{"array custom field", "PUT", `[` + strings.TrimSuffix(prod("a"), "}") + `,"colour":["red"]}]`, auth, errBody{422, "invalid", "[0].colour"}},
		{"custom name not an XML name", "PUT", `[` + strings.TrimSuffix(prod("a"), "}") + `,"a&b":"x"}]`, auth, errBody{422, "invalid", "[0].a&b"}},
		{"known name in another case", "PUT", `[` + strings.TrimSuffix(prod("a"), "}") + `,"Price":2}]`, auth, errBody{422, "invalid", "[0].Price"}},
		{"feed name as custom field", "PUT", `[` + strings.TrimSuffix(prod("a"), "}") + `,"title":"T"}]`, auth, errBody{422, "invalid", "[0].title"}},
		{"duplicate custom field", "PUT", `[` + strings.TrimSuffix(prod("a"), "}") + `,"colour":"a","colour":"b"}]`, auth, errBody{400, "bad_request", ""}}, // as for a repeated known field
		{"unknown variant member", "PUT", `[` + strings.TrimSuffix(prod("a"), "}") + `,"variants":[{"id":"v","colour":"red"}]}]`, auth, errBody{400, "bad_request", "[0].variants[0].colour"}},
		{"missing image", "PUT", `[` + prod("a") + `,{"id":"b","name":"N","url":"https://s.example/b","description":"d"}]`, auth, errBody{422, "invalid", "[1].image_url"}},
		{"duplicate", "PATCH", `[` + prod("a") + `,` + prod("a") + `]`, auth, errBody{422, "invalid", "[1].id"}},
		{"bad utf8", "PUT", "[\"\xff\"]", auth, errBody{400, "bad_request", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := do(s, tc.method, "/v1/catalog/products", tc.body, tc.header...)
			var e httpx.ErrorBody
			json.Unmarshal(w.Body.Bytes(), &e)
			if d := cmp.Diff(tc.want, errBody{w.Code, e.Error.Code, e.Error.Field}, cmp.AllowUnexported(errBody{})); d != "" {
				t.Errorf("(-want +got):\n%s\n%s", d, w.Body)
			}
		})
	}
	s.CatalogMaxBodyBytes = 1024
	if w := do(s, "PUT", "/v1/catalog/products", "["+strings.Repeat(prod("x")+",", 20)+prod("y")+"]", auth...); w.Code != 413 {
		t.Errorf("oversized body: %d", w.Code)
	}
	s.CatalogMaxBodyBytes = 0

	if w := do(s, "PUT", "/v1/catalog/products", "["+prod("b")+","+prod("a")+"]", auth...); w.Code != 200 || !strings.Contains(w.Body.String(), `"products":2`) {
		t.Fatalf("PUT: %d %s", w.Code, w.Body)
	}
	etag := do(s, "GET", "/catalog.json", "").Header().Get("ETag")
	if w := do(s, "PATCH", "/v1/catalog/products", "["+prod("c")+"]", auth...); w.Code != 200 || !strings.Contains(w.Body.String(), `"products":3`) {
		t.Fatalf("PATCH: %d %s", w.Code, w.Body)
	}
	w := do(s, "GET", "/catalog.json", "", "If-None-Match", etag)
	var items []catalog.Item
	json.Unmarshal(w.Body.Bytes(), &items)
	if w.Code != 200 || len(items) != 3 || items[0].ID != "a" || items[2].ID != "c" {
		t.Errorf("feed after PATCH with the old ETag: %d %s", w.Code, w.Body)
	}

	// Problems: token required; unknown ids from Observe listed.
	if w := do(s, "GET", "/v1/catalog/problems", ""); w.Code != 401 {
		t.Errorf("problems without token: %d", w.Code)
	}
	s.Catalog.Observe("ghost")
	s.Catalog.Observe("a")
	w = do(s, "GET", "/v1/catalog/problems", "", auth...)
	var rep catalog.Report
	if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil || w.Code != 200 {
		t.Fatalf("problems: %d %v", w.Code, err)
	}
	want := catalog.UnknownReport{Events: 1, Top: []catalog.UnknownID{{ID: "ghost", Count: 1}}}
	if d := cmp.Diff(want, rep.UnknownProductIDs); d != "" || rep.Products != 3 || rep.Source != "database" {
		t.Errorf("problems: %s (-want +got):\n%s", w.Body, d)
	}

	// With no token configured the API is off.
	s.APIToken = ""
	if w := do(s, "PUT", "/v1/catalog/products", "[]", auth...); w.Code != 401 {
		t.Errorf("PUT with the API off: %d", w.Code)
	}
}

func TestCatalogAPIRefusedForFileCatalog(t *testing.T) {
	s := catalogServer(t, catalog.Options{File: writeProducts(t, 1)})
	w := do(s, "PATCH", "/v1/catalog/products", "[]", "Authorization", "Bearer "+testToken)
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "SNIPPETD_CATALOG_FILE") {
		t.Errorf("PATCH on a file catalog: %d %s", w.Code, w.Body)
	}
}

// TestRenderCountsUnknownProducts: the render API reports the product ids
// of the events it renders to the catalog.
func TestRenderCountsUnknownProducts(t *testing.T) {
	s := catalogServer(t, catalog.Options{File: writeProducts(t, 3)})
	for _, body := range []string{
		`{"product":{"id":"a","name":"known","price":1}}`,
		`{"product":{"id":"ghost","name":"unknown","price":1}}`,
		`{"product":{"id":"ghost","name":"unknown","price":1}}`,
	} {
		if w := do(s, "POST", "/v1/render/viewed-product", body, "Content-Type", "application/json"); w.Code != 200 {
			t.Fatalf("render: %d %s", w.Code, w.Body)
		}
	}
	batch := `{"snippets":[{"type":"added-to-cart","cart":{"id":"c","items":[{"product":{"id":"b","name":"n","price":1},"quantity":1},{"product":{"id":"phantom","name":"n","price":1},"quantity":1}]},"added":{"product":{"id":"phantom","name":"n","price":1},"quantity":1}}]}`
	if w := do(s, "POST", "/v1/render", batch, "Content-Type", "application/json"); w.Code != 200 {
		t.Fatalf("batch: %d %s", w.Code, w.Body)
	}
	want := catalog.UnknownReport{Events: 3, Top: []catalog.UnknownID{{ID: "ghost", Count: 2}, {ID: "phantom", Count: 1}}}
	if d := cmp.Diff(want, s.Catalog.Problems().UnknownProductIDs); d != "" {
		t.Errorf("unknown ids (-want +got):\n%s", d)
	}
}
