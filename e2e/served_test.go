package e2e

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/snippetd/snippetd/web"
)

// The helper as the real server serves it: the URL names the content,
// the integrity matches the bytes, the compressed size keeps the budget,
// and the caching headers make it immutable.
func TestServedHelper(t *testing.T) {
	site := NewSite(t)
	h, err := web.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range web.AllFeatures {
		b := h.Get(f)
		path := b.Path
		get := func(encoding, etag string) (*http.Response, []byte) {
			t.Helper()
			req, _ := http.NewRequest("GET", site.URL(path), nil)
			req.Header.Set("Accept-Encoding", encoding) // set by hand: no transparent decompression
			if etag != "" {
				req.Header.Set("If-None-Match", etag)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			return res, body
		}

		res, plain := get("identity", "")
		sum := sha256.Sum256(plain)
		if !strings.Contains(b.Path, "helper."+hex.EncodeToString(sum[:])[:16]+".js") {
			t.Errorf("%+v: path %s does not carry the SHA-256 of the served bytes", f, b.Path)
		}
		sri := sha512.Sum384(plain)
		if want := "sha384-" + base64.StdEncoding.EncodeToString(sri[:]); b.Integrity != want {
			t.Errorf("%+v: integrity %s, served bytes hash to %s", f, b.Integrity, want)
		}
		if got := res.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("%+v: Cache-Control %q", f, got)
		}
		if res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" || res.Header.Get("SourceMap") != b.MapPath {
			t.Errorf("%+v: headers %v", f, res.Header)
		}

		res, gz := get("gzip", "")
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil || res.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%+v: gzip response: %v %v", f, err, res.Header)
		}
		unzipped, _ := io.ReadAll(zr)
		budget := web.MaxGzipBytes
		if !bytes.Equal(unzipped, plain) || len(gz) > budget {
			t.Errorf("%+v: gzip body %d bytes (budget %d), decompresses to the script: %v", f, len(gz), budget, bytes.Equal(unzipped, plain))
		}
		t.Logf("%+v: %s: %d bytes, %d gzipped", f, b.Path, len(plain), len(gz))

		res, br := get("gzip, deflate, br", "")
		unbr, _ := io.ReadAll(brotli.NewReader(bytes.NewReader(br)))
		if res.Header.Get("Content-Encoding") != "br" || !bytes.Equal(unbr, plain) || len(br) >= len(gz) {
			t.Errorf("%+v: brotli response %v, %d bytes (gzip %d)", f, res.Header, len(br), len(gz))
		}

		etag := res.Header.Get("ETag")
		if res, body := get("gzip, deflate, br", etag); res.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Errorf("%+v: If-None-Match %s: %d with %d bytes", f, etag, res.StatusCode, len(body))
		}

		path = b.MapPath
		if res, m := get("identity", ""); res.StatusCode != 200 || !bytes.Equal(m, b.Map) || res.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("%+v: source map: %d", f, res.StatusCode)
		}
	}
}
