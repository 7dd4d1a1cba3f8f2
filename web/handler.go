package web

import (
	"net/http"
	"strconv"
	"strings"
)

// CacheControl is sent with every asset: the URL names the content, so a
// response never goes stale.
const CacheControl = "public, max-age=31536000, immutable"

// ServeHTTP serves every build's script and source map; any other path is
// a 404 (an old hash after a deploy is gone, not redirected,
// so a page never runs a script whose integrity it did not pin). It picks
// brotli, then gzip, by the client's Accept-Encoding, answers
// If-None-Match with 304, and supports GET and HEAD.
func (hs *Helpers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := hs.files[r.URL.Path]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, enc, tag := a.identity, "", a.etag
	switch accepts := acceptedEncodings(r.Header.Get("Accept-Encoding")); {
	case accepts["br"]:
		body, enc, tag = a.brotli, "br", tag+"-br"
	case accepts["gzip"]:
		body, enc, tag = a.gzip, "gzip", tag+"-gz"
	}
	h := w.Header()
	h.Set("Cache-Control", CacheControl)
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", `"`+tag+`"`)
	h.Set("Vary", "Accept-Encoding")
	h.Set("X-Content-Type-Options", "nosniff")
	// Public, fingerprinted bytes: let a CDN or another origin load them
	// with crossorigin="anonymous" so that the integrity check applies.
	h.Set("Access-Control-Allow-Origin", "*")
	if m, ok := hs.maps[r.URL.Path]; ok {
		h.Set("SourceMap", m)
	}
	if etagMatches(r.Header.Get("If-None-Match"), tag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if enc != "" {
		h.Set("Content-Encoding", enc)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

// acceptedEncodings parses Accept-Encoding ("gzip, br;q=0.5, *;q=0") into
// the codings with a non-zero quality.
func acceptedEncodings(header string) map[string]bool {
	out := map[string]bool{}
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(part, ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		ok := true
		for p := range strings.SplitSeq(params, ";") {
			k, v, _ := strings.Cut(p, "=")
			if strings.TrimSpace(strings.ToLower(k)) == "q" {
				q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				ok = err == nil && q > 0
			}
		}
		if name == "*" {
			for _, n := range []string{"br", "gzip"} {
				if _, seen := out[n]; !seen {
					out[n] = ok
				}
			}
			continue
		}
		out[name] = ok
	}
	return out
}

// etagMatches implements the weak comparison of If-None-Match: "*" or
// any listed tag equal to tag, with or without W/.
func etagMatches(header, tag string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == `"`+tag+`"` {
			return true
		}
	}
	return false
}

// Has reports whether path is one of the served files, so that a router
// can answer other paths through its own error funnel.
func (hs *Helpers) Has(path string) bool { return hs.files[path] != nil }
