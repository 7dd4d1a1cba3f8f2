package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/andybalholm/brotli"
	"github.com/google/go-cmp/cmp"
)

func mustDefault(t *testing.T) *Helpers {
	t.Helper()
	h, err := Embedded()
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return h
}

func gzipBest(t *testing.T, b []byte) int {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Len()
}

// TestHelperSizeBudget fails when any build outgrows MaxGzipBytes.
func TestHelperSizeBudget(t *testing.T) {
	h := mustDefault(t)
	for _, f := range AllFeatures {
		b := h.Get(f)
		size := gzipBest(t, b.JS)
		if size != b.GzipSize() {
			t.Errorf("%+v: served gzip is %d bytes, gzip -9 of the script %d", f, b.GzipSize(), size)
		}
		budget := MaxGzipBytes
		t.Logf("%+v: %d bytes minified, %d gzipped (budget %d), %d brotli", f, len(b.JS), size, budget, len(h.files[b.Path].brotli))
		if size > budget {
			t.Errorf("%+v: helper is %d bytes gzipped, over the budget of %d", f, size, budget)
		}
	}
}

func TestBuildsDiffer(t *testing.T) {
	h := mustDefault(t)
	seen := map[string]Features{}
	for _, f := range AllFeatures {
		b := h.Get(f)
		if other, dup := seen[b.Hash]; dup {
			t.Errorf("%+v and %+v share hash %s", f, other, b.Hash)
		}
		seen[b.Hash] = f
		sum := sha512.Sum384(b.JS)
		if want := "sha384-" + base64.StdEncoding.EncodeToString(sum[:]); b.Integrity != want {
			t.Errorf("%+v: Integrity %q, want %q", f, b.Integrity, want)
		}
		if want := "/assets/helper." + b.Hash + ".js"; b.Path != want || b.MapPath != want+".map" {
			t.Errorf("%+v: paths %q %q", f, b.Path, b.MapPath)
		}
		if !bytes.HasPrefix(b.JS, []byte("(()=>{")) {
			t.Errorf("%+v: not an IIFE: %.40s", f, b.JS)
		}
		// Code for features not built in must be gone.
		for word, in := range map[string]bool{"sendBeacon": f.Proxy, "__kla_id": f.Consent} {
			if got := bytes.Contains(b.JS, []byte(word)); got != in {
				t.Errorf("%+v: contains %q = %v, want %v", f, word, got, in)
			}
		}
	}
}

// A build error is an error, never a half-built bundle.
func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name string
		fsys fstest.MapFS
		want string
	}{
		{"syntax", fstest.MapFS{"h/a.ts": {Data: []byte("const x = ;\n")}}, "h/a.ts:1"},
		{"missing import", fstest.MapFS{"h/a.ts": {Data: []byte("import {y} from './nope'; console.log(y)\n")}}, "h/nope.ts not found"},
		{"runtime dependency", fstest.MapFS{"h/a.ts": {Data: []byte("import x from 'lodash'; console.log(x)\n")}}, "no runtime dependencies"},
		{"missing entry", fstest.MapFS{}, "h/a.ts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Build(tt.fsys, "h/a.ts", Features{})
			if err == nil {
				t.Fatalf("no error; built %d bytes", len(b.JS))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestBuildResolvesRelativeImports(t *testing.T) {
	fsys := fstest.MapFS{
		"h/a.ts":     {Data: []byte("import {f} from './lib/b'; (window as any).out = f(2)\n")},
		"h/lib/b.ts": {Data: []byte("import {g} from '../c'; export const f = (n: number): number => g(n) * 10\n")},
		"h/c.ts":     {Data: []byte("export const g = (n: number) => n + 1\n")},
	}
	b, err := Build(fsys, "h/a.ts", Features{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b.JS, []byte("*10")) || !bytes.Contains(b.JS, []byte("+1")) {
		t.Errorf("imports not bundled: %s", b.JS)
	}
}

func TestServe(t *testing.T) {
	h := mustDefault(t)
	b := h.Get(Features{})
	type want struct {
		status   int
		encoding string
		body     []byte
	}
	tests := []struct {
		name, method, path string
		header             map[string]string
		want               want
	}{
		{"identity", "GET", b.Path, nil, want{200, "", b.JS}},
		{"gzip", "GET", b.Path, map[string]string{"Accept-Encoding": "gzip, deflate"}, want{200, "gzip", b.JS}},
		{"brotli preferred", "GET", b.Path, map[string]string{"Accept-Encoding": "gzip, deflate, br"}, want{200, "br", b.JS}},
		{"brotli refused", "GET", b.Path, map[string]string{"Accept-Encoding": "br;q=0, gzip"}, want{200, "gzip", b.JS}},
		{"wildcard", "GET", b.Path, map[string]string{"Accept-Encoding": "*"}, want{200, "br", b.JS}},
		{"nothing acceptable", "GET", b.Path, map[string]string{"Accept-Encoding": "gzip;q=0"}, want{200, "", b.JS}},
		{"head", "HEAD", b.Path, map[string]string{"Accept-Encoding": "gzip"}, want{200, "gzip", nil}},
		{"source map", "GET", b.MapPath, nil, want{200, "", b.Map}},
		{"other build", "GET", h.Get(Features{Consent: true, Proxy: true}).Path, nil, want{200, "", h.Get(Features{Consent: true, Proxy: true}).JS}},
		{"unknown hash", "GET", "/assets/helper.0123456789abcdef.js", nil, want{404, "", nil}},
		{"post", "POST", b.Path, nil, want{405, "", nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			res := rec.Result()
			if res.StatusCode != tt.want.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.want.status)
			}
			if res.StatusCode != 200 {
				return
			}
			if got := res.Header.Get("Content-Encoding"); got != tt.want.encoding {
				t.Errorf("Content-Encoding %q, want %q", got, tt.want.encoding)
			}
			for k, v := range map[string]string{"Cache-Control": "public, max-age=31536000, immutable", "Vary": "Accept-Encoding"} {
				if got := res.Header.Get(k); got != v {
					t.Errorf("%s %q, want %q", k, got, v)
				}
			}
			if res.Header.Get("ETag") == "" {
				t.Error("no ETag")
			}
			body := rec.Body.Bytes()
			if tt.method == "HEAD" {
				if len(body) != 0 {
					t.Errorf("HEAD wrote %d bytes", len(body))
				}
				return
			}
			switch tt.want.encoding {
			case "gzip":
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(zr)
			case "br":
				body, _ = io.ReadAll(brotli.NewReader(bytes.NewReader(body)))
			}
			if !bytes.Equal(body, tt.want.body) {
				t.Errorf("body differs: got %d bytes, want %d", len(body), len(tt.want.body))
			}
		})
	}
}

func TestServeConditional(t *testing.T) {
	h := mustDefault(t)
	b := h.Get(Features{})
	get := func(header map[string]string) *http.Response {
		r := httptest.NewRequest("GET", b.Path, nil)
		for k, v := range header {
			r.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Result()
	}
	plain := get(nil).Header.Get("ETag")
	gz := get(map[string]string{"Accept-Encoding": "gzip"}).Header.Get("ETag")
	if plain == gz {
		t.Errorf("identity and gzip share ETag %s", plain)
	}
	tests := []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"same tag", map[string]string{"If-None-Match": plain}, 304},
		{"weak same tag", map[string]string{"If-None-Match": "W/" + plain}, 304},
		{"in a list", map[string]string{"If-None-Match": `"x", ` + plain}, 304},
		{"star", map[string]string{"If-None-Match": "*"}, 304},
		{"gzip tag for gzip", map[string]string{"If-None-Match": gz, "Accept-Encoding": "gzip"}, 304},
		{"gzip tag for identity", map[string]string{"If-None-Match": gz}, 200},
		{"other tag", map[string]string{"If-None-Match": `"nope"`}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := get(tt.header)
			if res.StatusCode != tt.want {
				t.Errorf("status %d, want %d", res.StatusCode, tt.want)
			}
			if tt.want == 304 && res.Header.Get("Cache-Control") == "" {
				t.Error("304 without Cache-Control")
			}
		})
	}
}

func TestSourceMap(t *testing.T) {
	b := mustDefault(t).Get(Features{})
	var m struct {
		Version        int      `json:"version"`
		Sources        []string `json:"sources"`
		SourcesContent []string `json:"sourcesContent"`
		Mappings       string   `json:"mappings"`
	}
	if err := json.Unmarshal(b.Map, &m); err != nil {
		t.Fatal(err)
	}
	if m.Version != 3 || m.Mappings == "" || len(m.Sources) != len(m.SourcesContent) {
		t.Fatalf("bad source map: version %d, %d sources, %d contents", m.Version, len(m.Sources), len(m.SourcesContent))
	}
	var names []string
	for _, s := range m.Sources {
		names = append(names, filepath.Base(s))
	}
	if diff := cmp.Diff([]string{"payloads.ts", "helper.ts"}, names); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
}

// TestTypeCheck runs tsc --noEmit over web/helper with the TypeScript
// compiler from npm, installed once into the user cache directory.
func TestTypeCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("type check installs TypeScript; skipped in -short")
	}
	tsc := typescript(t)
	cmd := exec.Command("node", tsc, "--noEmit", "-p", "helper/tsconfig.json")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tsc --noEmit: %v\n%s", err, out)
	}
}

// typescriptVersion is the pinned compiler TestTypeCheck uses.
const typescriptVersion = "5.9.3"

func typescript(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: install nodejs and npm to type-check the helper")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "snippetd", "typescript-"+typescriptVersion)
	tsc := filepath.Join(dir, "node_modules", "typescript", "bin", "tsc")
	if _, err := os.Stat(tsc); err == nil {
		return tsc
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm is not installed: install npm to type-check the helper")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--no-save", "typescript@"+typescriptVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("npm could not install typescript@%s (registry unreachable?): %v\n%s", typescriptVersion, err, out)
	}
	return tsc
}
