package e2e

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// KlaviyoMode is how the fake answers klaviyo.js for one public key.
type KlaviyoMode int

const (
	// KlaviyoServe answers with a stand-in klaviyo.js that sets
	// window.__klaviyoLoaded and leaves window._klOnsite as it is, so tests
	// can still read the pushes.
	KlaviyoServe KlaviyoMode = iota
	// KlaviyoNotFound answers 404, as a blocked or misconfigured script.
	KlaviyoNotFound
	// KlaviyoHang never answers until the page goes away, as an ad blocker
	// that stalls the request.
	KlaviyoHang
)

// fakeKlaviyoJS is the stand-in klaviyo.js.
const fakeKlaviyoJS = `window.__klaviyoLoaded=(window.__klaviyoLoaded||0)+1;`

// FakeKlaviyo is static.klaviyo.com for the browser (Run maps the host to
// it). Each test takes its own public key with Key, choosing how the fake
// answers it, and reads how often it was fetched with Hits.
type FakeKlaviyo struct {
	srv  *httptest.Server
	done chan struct{}

	mu    sync.Mutex
	modes map[string]KlaviyoMode
	hits  map[string]int
	api   http.Handler // a.klaviyo.com, when a test set one
}

// SetAPI makes h answer a.klaviyo.com (Klaviyo's API, such as a
// klaviyotest.Server) until the test ends; without one it answers 404.
func (k *FakeKlaviyo) SetAPI(t testing.TB, h http.Handler) {
	k.mu.Lock()
	k.api = h
	k.mu.Unlock()
	t.Cleanup(func() {
		k.mu.Lock()
		k.api = nil
		k.mu.Unlock()
	})
}

func newFakeKlaviyo() *FakeKlaviyo {
	k := &FakeKlaviyo{done: make(chan struct{}), modes: map[string]KlaviyoMode{}, hits: map[string]int{}}
	k.srv = httptest.NewTLSServer(http.HandlerFunc(k.serve))
	return k
}

func (k *FakeKlaviyo) close() {
	close(k.done) // release hung requests so that Close can finish
	k.srv.Close()
}

// serve answers /onsite/js/<KEY>/klaviyo.js by the key's mode.
func (k *FakeKlaviyo) serve(w http.ResponseWriter, r *http.Request) {
	if host, _, _ := strings.Cut(r.Host, ":"); host == "a.klaviyo.com" {
		k.mu.Lock()
		api := k.api
		k.mu.Unlock()
		if api == nil {
			http.NotFound(w, r)
			return
		}
		api.ServeHTTP(w, r)
		return
	}
	key, ok := strings.CutPrefix(r.URL.Path, "/onsite/js/")
	key, ok2 := strings.CutSuffix(key, "/klaviyo.js")
	k.mu.Lock()
	mode, known := k.modes[key]
	if ok && ok2 && known {
		k.hits[key]++
	}
	k.mu.Unlock()
	switch {
	case !ok || !ok2 || !known || mode == KlaviyoNotFound:
		http.NotFound(w, r)
	case mode == KlaviyoHang:
		select {
		case <-r.Context().Done():
		case <-k.done:
		}
	default:
		w.Header().Set("Content-Type", "text/javascript")
		w.Write([]byte(fakeKlaviyoJS))
	}
}

// Key registers a fresh 6-character public key answered in mode.
func (k *FakeKlaviyo) Key(t testing.TB, mode KlaviyoMode) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 6)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	key := string(b)
	k.mu.Lock()
	k.modes[key] = mode
	k.mu.Unlock()
	return key
}

// Hits returns how many times klaviyo.js was requested for key.
func (k *FakeKlaviyo) Hits(key string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.hits[key]
}
