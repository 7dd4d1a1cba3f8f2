// Package web owns snippetd's browser assets: the TypeScript helper under
// helper/, bundled at start-up by esbuild's Go API from the sources embedded
// in the binary, and the http.Handler that serves the bundle and its source
// map at content-hashed URLs with immutable caching, ETags and precompressed
// gzip and brotli. It imports nothing of snippetd; httpapi mounts its handler
// and the loader partial links the bundle through Path and Integrity.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"strconv"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/evanw/esbuild/pkg/api"
)

//go:embed helper/*.ts
var sources embed.FS

// HelperEntry is the entry point of the helper inside the embedded sources.
const HelperEntry = "helper/helper.ts"

// MaxGzipBytes is the size budget of every build of the minified helper,
// gzipped at gzip.BestCompression (what GzipSize reports and what is
// served): small enough that no storefront hesitates to include it.
// TestHelperSizeBudget fails when a build outgrows it. It grew with the
// browse events and the back-in-stock button, then with the signup form
// and the checkout's offers box (docs/benchmarks.md).
const MaxGzipBytes = 2450

// Bundle is a built helper: its bytes, their identity for caching and
// subresource integrity, and precompressed variants to serve.
type Bundle struct {
	// JS is the minified IIFE, exactly the bytes served.
	JS []byte
	// Map is the source map of JS (sources included, so DevTools shows the
	// TypeScript without fetching it).
	Map []byte
	// Hash is the hex prefix of the SHA-256 of JS that names the file, so a
	// new build gets a new URL and old URLs can be cached forever.
	Hash string
	// Integrity is the SRI value for the script element: "sha384-<base64>".
	Integrity string
	// Path is the URL path the bundle is served at, /assets/helper.<Hash>.js.
	Path string
	// MapPath is the URL path of the source map: Path + ".map".
	MapPath string

	files map[string]*asset
}

// asset is one served file with its precompressed variants.
type asset struct {
	contentType string
	etag        string
	identity    []byte
	gzip        []byte
	brotli      []byte
}

// Helpers is every build of the helper, one per Features combination,
// all served by one handler.
type Helpers struct {
	builds map[Features]*Bundle
	files  map[string]*asset
	maps   map[string]string // script path -> source map path
}

// AllFeatures lists every Features combination, the builds Helpers holds.
var AllFeatures = []Features{{}, {Consent: true}, {Proxy: true}, {Consent: true, Proxy: true}}

// Embedded builds every helper from the sources embedded in the binary.
// Each call builds anew: app.Main calls it once at start-up (so that a
// build error stops the server instead of surfacing on the first request)
// and passes the result to whatever serves or links the helper.
func Embedded() (*Helpers, error) { return BuildAll(sources, HelperEntry) }

// BuildAll builds entry once for each of AllFeatures.
func BuildAll(fsys fs.FS, entry string) (*Helpers, error) {
	h := &Helpers{builds: map[Features]*Bundle{}, files: map[string]*asset{}, maps: map[string]string{}}
	for _, f := range AllFeatures {
		b, err := Build(fsys, entry, f)
		if err != nil {
			return nil, err
		}
		h.builds[f] = b
		maps.Copy(h.files, b.files)
		h.maps[b.Path] = b.MapPath
	}
	return h, nil
}

// Get returns the build with features f.
func (h *Helpers) Get(f Features) *Bundle { return h.builds[f] }

// Build bundles entry (a path inside fsys) and everything it imports into a
// minified ES2017 IIFE with an external source map. Any esbuild error —
// a syntax error, a missing import — is returned; the caller must treat it
// as fatal.
func Build(fsys fs.FS, entry string, f Features) (*Bundle, error) {
	if _, err := fs.Stat(fsys, entry); err != nil {
		return nil, fmt.Errorf("helper: %w", err)
	}
	res := api.Build(api.BuildOptions{
		EntryPoints:       []string{entry},
		Plugins:           []api.Plugin{embedResolver(fsys, entry)},
		Define:            map[string]string{"CONSENT": strconv.FormatBool(f.Consent), "PROXY": strconv.FormatBool(f.Proxy)},
		Bundle:            true,
		Format:            api.FormatIIFE,
		Platform:          api.PlatformBrowser,
		Target:            api.ES2017,
		MinifyWhitespace:  true,
		MinifyIdentifiers: true,
		MinifySyntax:      true,
		LegalComments:     api.LegalCommentsNone,
		Charset:           api.CharsetUTF8,
		Sourcemap:         api.SourceMapExternal,
		SourcesContent:    api.SourcesContentInclude,
		Outfile:           "helper.js",
		Write:             false,
		LogLevel:          api.LogLevelSilent,
	})
	if len(res.Errors) > 0 {
		msgs := api.FormatMessages(res.Errors, api.FormatMessagesOptions{Kind: api.ErrorMessage})
		return nil, fmt.Errorf("helper: esbuild: %s", strings.Join(msgs, ""))
	}
	var js, sourceMap []byte
	for _, f := range res.OutputFiles {
		switch {
		case strings.HasSuffix(f.Path, ".js.map"):
			sourceMap = f.Contents
		case strings.HasSuffix(f.Path, ".js"):
			js = f.Contents
		}
	}
	if js == nil || sourceMap == nil {
		return nil, errors.New("helper: esbuild produced no output")
	}
	return newBundle(bytes.TrimRight(js, "\n"), sourceMap)
}

// embedResolver resolves relative imports ("./payloads") inside fsys, so
// the build reads only the embedded sources and never the disk.
func embedResolver(fsys fs.FS, entry string) api.Plugin {
	return api.Plugin{
		Name: "embed",
		Setup: func(b api.PluginBuild) {
			b.OnResolve(api.OnResolveOptions{Filter: `.*`}, func(a api.OnResolveArgs) (api.OnResolveResult, error) {
				if a.Kind == api.ResolveEntryPoint {
					return api.OnResolveResult{Path: entry, Namespace: "embed"}, nil
				}
				if !strings.HasPrefix(a.Path, "./") && !strings.HasPrefix(a.Path, "../") {
					return api.OnResolveResult{}, fmt.Errorf("import %q: the helper has no runtime dependencies", a.Path)
				}
				dir := a.Importer[:strings.LastIndex(a.Importer, "/")+1]
				p := cleanPath(dir + a.Path)
				if !strings.HasSuffix(p, ".ts") {
					p += ".ts"
				}
				if _, err := fs.Stat(fsys, p); err != nil {
					return api.OnResolveResult{}, fmt.Errorf("import %q: %s not found", a.Path, p)
				}
				return api.OnResolveResult{Path: p, Namespace: "embed"}, nil
			})
			b.OnLoad(api.OnLoadOptions{Filter: `.*`, Namespace: "embed"}, func(a api.OnLoadArgs) (api.OnLoadResult, error) {
				data, err := fs.ReadFile(fsys, a.Path)
				if err != nil {
					return api.OnLoadResult{}, err
				}
				s := string(data)
				return api.OnLoadResult{Contents: &s, Loader: api.LoaderTS}, nil
			})
		},
	}
}

// cleanPath resolves "." and ".." segments of a slash path.
func cleanPath(p string) string {
	var out []string
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case ".", "":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	return strings.Join(out, "/")
}

// newBundle names, fingerprints and precompresses js and its map.
func newBundle(js, sourceMap []byte) (*Bundle, error) {
	sum := sha256.Sum256(js)
	hash := hex.EncodeToString(sum[:])[:16]
	sri := sha512.Sum384(js)
	b := &Bundle{
		JS:        js,
		Map:       sourceMap,
		Hash:      hash,
		Integrity: "sha384-" + base64.StdEncoding.EncodeToString(sri[:]),
		Path:      "/assets/helper." + hash + ".js",
	}
	b.MapPath = b.Path + ".map"
	b.files = map[string]*asset{}
	for path, f := range map[string]struct {
		data []byte
		ct   string
	}{
		b.Path:    {js, "text/javascript; charset=utf-8"},
		b.MapPath: {sourceMap, "application/json; charset=utf-8"},
	} {
		a, err := precompress(f.data, f.ct, hash)
		if err != nil {
			return nil, err
		}
		b.files[path] = a
	}
	return b, nil
}

// precompress makes the gzip and brotli variants once, at their best
// levels: the bytes never change for the life of the process.
func precompress(data []byte, contentType, hash string) (*asset, error) {
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	var br bytes.Buffer
	bw := brotli.NewWriterLevel(&br, brotli.BestCompression)
	if _, err := bw.Write(data); err != nil {
		return nil, err
	}
	if err := bw.Close(); err != nil {
		return nil, err
	}
	s := sha256.Sum256(data)
	return &asset{
		contentType: contentType,
		etag:        hash + "-" + hex.EncodeToString(s[:4]),
		identity:    data,
		gzip:        gz.Bytes(),
		brotli:      br.Bytes(),
	}, nil
}

// GzipSize is the size of the served script gzipped at the best level,
// the figure the size budget is about.
func (b *Bundle) GzipSize() int { return len(b.files[b.Path].gzip) }

// Features selects what a helper build contains. The loader asks for the
// build matching its options, so that pages pay only for what they use.
type Features struct {
	// Consent holds every call until snippetd.consent(true) and loads
	// klaviyo.js then (data-klaviyo); consent(false) discards and deletes
	// the __kla_id cookie.
	Consent bool
	// Proxy sends track and identify to the first-party endpoint
	// (data-proxy) with sendBeacon instead of pushing them to klaviyo.js.
	Proxy bool
}
