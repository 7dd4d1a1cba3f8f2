package proxy

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// klaCookieValue builds a __kla_id value the way klaviyo.js does: base64
// of the JSON object.
func klaCookieValue(json string) string { return base64.StdEncoding.EncodeToString([]byte(json)) }

func TestParseKlaID(t *testing.T) {
	tests := []struct {
		name, value, kx, email string
	}{
		{"identified", klaCookieValue(`{"cid":"Zm9v","$exchange_id":"Ab-_9x.ABC123","$referrer":{"ts":1}}`), "Ab-_9x.ABC123", ""},
		{"url-encoded", url.QueryEscape(klaCookieValue(`{"$exchange_id":"Ab9x=.ABC123"}`)), "Ab9x=.ABC123", ""},
		{"raw url base64", base64.RawURLEncoding.EncodeToString([]byte(`{"$exchange_id":"k.ABC123"}`)), "k.ABC123", ""},
		{"legacy email", klaCookieValue(`{"$email":"Old@Example.com"}`), "", "old@example.com"},
		{"anonymous", klaCookieValue(`{"cid":"Zm9v"}`), "", ""},
		{"garbage", "!!!not base64", "", ""},
		{"not json", klaCookieValue(`hello`), "", ""},
		{"wrong types", klaCookieValue(`{"$exchange_id":5,"$email":["x"]}`), "", ""},
		{"hostile kx", klaCookieValue(`{"$exchange_id":"<img src=x>"}`), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kx, email := parseKlaID(tt.value)
			if d := cmp.Diff([2]string{tt.kx, tt.email}, [2]string{kx, email}); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestKxFromURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://shop.example/p/mug?_kx=Ab9x%3D.ABC123&utm=1": "Ab9x=.ABC123",
		"https://shop.example/p/mug":                          "",
		"https://shop.example/?_kx=%3Cb%3E":                   "",
		"":                                                    "",
	} {
		if got := kxFromURL(in); got != want {
			t.Errorf("kxFromURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResolve(t *testing.T) {
	ana := Claim{Email: "ana@example.com", FirstName: "Ana"}
	tests := []struct {
		name     string
		src      Signals
		profile  klaviyo.Profile
		next     Identity
		errField string
	}{
		{name: "anonymous", src: Signals{}},
		{name: "cookie kx", src: Signals{CookieKx: "k1"},
			profile: klaviyo.Profile{Kx: "k1"}, next: Identity{Kx: "k1"}},
		{name: "landing kx beats cookie", src: Signals{CookieKx: "k1", LandingKx: "k2"},
			profile: klaviyo.Profile{Kx: "k2"}, next: Identity{Kx: "k2"}},
		{name: "stored kx when the cookie is gone", src: Signals{Stored: Identity{Kx: "k1"}},
			profile: klaviyo.Profile{Kx: "k1"}, next: Identity{Kx: "k1"}},
		{name: "legacy cookie email", src: Signals{CookieEm: "old@example.com"},
			profile: klaviyo.Profile{Email: "old@example.com"}},
		{name: "stored identify wins over kx, and is never paired with it",
			src:     Signals{Stored: Identity{Claim: ana, Kx: "k1"}, CookieKx: "k1"},
			profile: klaviyo.Profile{Email: "ana@example.com", FirstName: "Ana"}, next: Identity{Claim: ana, Kx: "k1"}},
		{name: "body profile on a kx browser: email sent alone",
			src:     Signals{CookieKx: "k1", Claim: ana},
			profile: klaviyo.Profile{Email: "ana@example.com", FirstName: "Ana"}, next: Identity{Claim: ana, Kx: "k1"}},
		{name: "body repeats the identified email and adds a name",
			src:     Signals{Stored: Identity{Claim: Claim{Email: "ana@example.com"}}, Claim: Claim{Email: "ana@example.com", LastName: "Lee"}},
			profile: klaviyo.Profile{Email: "ana@example.com", LastName: "Lee"}, next: Identity{Claim: Claim{Email: "ana@example.com", LastName: "Lee"}}},
		{name: "body may not switch the identified email",
			src:      Signals{Stored: Identity{Claim: ana}, Claim: Claim{Email: "eve@example.com"}},
			errField: "profile.email"},
		{name: "body may not switch the identified phone",
			src:      Signals{Stored: Identity{Claim: Claim{PhoneNumber: "+15005550006"}}, Claim: Claim{PhoneNumber: "+15005550007"}},
			errField: "profile.phone_number"},
		{name: "a different fresh kx forgets the stored claim",
			src:     Signals{Stored: Identity{Claim: ana, Kx: "k1"}, LandingKx: "k2"},
			profile: klaviyo.Profile{Kx: "k2"}, next: Identity{Kx: "k2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, next, err := Resolve(tt.src)
			if tt.errField != "" {
				if apperr.ErrorField(err) != tt.errField {
					t.Fatalf("got %v, want an error naming %s", err, tt.errField)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.profile, p); d != "" {
				t.Errorf("profile (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.next, next); d != "" {
				t.Errorf("stored (-want +got):\n%s", d)
			}
			if p.Kx != "" && (p.Email != "" || p.PhoneNumber != "" || p.ExternalID != "") {
				t.Errorf("profile pairs _kx with a browser-asserted identifier: %+v", p)
			}
		})
	}
}

// openTestDBs returns a temp SQLite DB and, when reachable, the local
// PostgreSQL test database.
func openTestDBs(t testing.TB) map[string]*db.DB {
	t.Helper()
	ctx := context.Background()
	out := map[string]*db.DB{}
	s, err := db.OpenSQLite(ctx, filepath.Join(t.TempDir(), "snippetd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	out["sqlite"] = s
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	p, err := db.Open(pctx, "", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	if err != nil {
		t.Logf("PostgreSQL tests skipped: start PostgreSQL at 127.0.0.1:5432 with a test database (%v)", err)
		return out
	}
	t.Cleanup(func() { p.Close() })
	out["postgres"] = p
	return out
}

func TestStore(t *testing.T) {
	for name, d := range openTestDBs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s, err := OpenStore(ctx, d, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s2, err := OpenStore(ctx, d, nil); err != nil { // migrations are idempotent
				t.Fatal(err)
			} else {
				s2.Close()
			}
			id := newBrowserID()
			if _, ok, err := s.Get(ctx, id); ok || err != nil {
				t.Fatalf("fresh id found: %v %v", ok, err)
			}
			want := Identity{Claim: Claim{Email: "a@b.co", FirstName: "A"}, Kx: "k.ABC123"}
			if err := s.Put(ctx, id, Identity{Kx: "old"}, time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := s.Put(ctx, id, want, time.Now()); err != nil {
				t.Fatal(err)
			}
			got, ok, err := s.Get(ctx, id)
			if err != nil || !ok {
				t.Fatalf("get: %v %v", ok, err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			if err := s.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := s.Get(ctx, id); ok {
				t.Error("deleted identity still found")
			}
			// Identities untouched for longer than the cookie lives are pruned.
			old := newBrowserID()
			if err := s.Put(ctx, old, want, time.Now().Add(-browserCookieMaxAge-time.Hour)); err != nil {
				t.Fatal(err)
			}
			// Checked through the store that pruned: s caches its own write
			// (TestStoreCache), as it would another instance's.
			if s2, err := OpenStore(ctx, d, nil); err != nil {
				t.Fatal(err)
			} else {
				if _, ok, _ := s2.Get(ctx, old); ok {
					t.Error("expired identity was not pruned")
				}
				s2.Close()
			}

			// Written behind: visible at once, in the database after Close.
			later := newBrowserID()
			s.PutLater(later, want)
			if got, ok, _ := s.Get(ctx, later); !ok || got != want {
				t.Errorf("PutLater not visible: %+v %v", got, ok)
			}
			s.Close()
			s3, err := OpenStore(ctx, d, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s3.Close()
			if got, ok, err := s3.Get(ctx, later); !ok || got != want || err != nil {
				t.Errorf("PutLater not written on Close: %+v %v %v", got, ok, err)
			}
		})
	}
}

// TestStoreCache checks the read-through identity cache: a returning
// browser is answered from memory, this instance's own identify, forget
// and written-behind identities are seen at once, and another instance's
// writes are seen once the entry expires after cacheTTL.
func TestStoreCache(t *testing.T) {
	for name, d := range openTestDBs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a, err := OpenStore(ctx, d, nil) // this instance
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			b, err := OpenStore(ctx, d, nil) // another instance on the same database
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			clock := time.Now()
			a.now = func() time.Time { return clock }
			get := func(s *Store, id string) Identity {
				t.Helper()
				idn, _, err := s.Get(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				return idn
			}
			id := newBrowserID()
			first := Identity{Claim: Claim{Email: "first@b.co"}, Kx: "k.ABC123"}
			if err := b.Put(ctx, id, first, time.Now()); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(first, get(a, id)); diff != "" {
				t.Fatalf("read through (-want +got):\n%s", diff)
			}
			// Another instance's identify: a keeps its cached entry until it
			// expires, then reads the new one.
			second := Identity{Claim: Claim{Email: "second@b.co"}}
			if err := b.Put(ctx, id, second, time.Now()); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(first, get(a, id)); diff != "" {
				t.Errorf("within the TTL a returning browser must come from the cache (-want +got):\n%s", diff)
			}
			clock = clock.Add(cacheTTL + time.Second)
			if diff := cmp.Diff(second, get(a, id)); diff != "" {
				t.Errorf("after the TTL (-want +got):\n%s", diff)
			}
			// This instance's own writes are seen at once.
			third := Identity{Claim: Claim{Email: "third@b.co"}, Kx: "k.DEF456"}
			if err := a.Put(ctx, id, third, time.Now()); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(third, get(a, id)); diff != "" {
				t.Errorf("after own identify (-want +got):\n%s", diff)
			}
			fourth := Identity{Claim: Claim{Email: "third@b.co", FirstName: "T"}, Kx: "k.DEF456"}
			a.PutLater(id, fourth)
			a.flush() // written behind and out of the dirty map: the cache answers
			if diff := cmp.Diff(fourth, get(a, id)); diff != "" {
				t.Errorf("after the batched write (-want +got):\n%s", diff)
			}
			c, err := OpenStore(ctx, d, nil) // a cold cache reads the database
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if diff := cmp.Diff(fourth, get(c, id)); diff != "" {
				t.Errorf("batched write not in the database (-want +got):\n%s", diff)
			}
			if err := a.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := a.Get(ctx, id); ok {
				t.Error("forgotten identity still found")
			}
			// A browser with no identity is cached too, and learns one written
			// by this instance at once.
			fresh := newBrowserID()
			if _, ok, _ := a.Get(ctx, fresh); ok {
				t.Fatal("fresh id found")
			}
			if err := a.Put(ctx, fresh, first, time.Now()); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(first, get(a, fresh)); diff != "" {
				t.Errorf("after identify of an unknown browser (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStoreCacheBounded checks the cache never holds more than cacheMax
// identities.
func TestStoreCacheBounded(t *testing.T) {
	s, err := OpenStore(context.Background(), openTestDBs(t)["sqlite"], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.mu.Lock()
	for i := 0; i < cacheMax+10; i++ {
		s.cacheLocked(fmt.Sprint(i), Identity{}, false)
	}
	n := len(s.cache)
	s.mu.Unlock()
	if n != cacheMax {
		t.Errorf("cache holds %d identities; want at most %d", n, cacheMax)
	}
}

// TestFlushNeverOverwritesIdentifyOrForget: an identity an event taught
// (written behind) that is being flushed when an identify or a forget
// arrives must not land over it in the database. The hook widens the
// window between the flusher taking the identity and writing it; the
// test checks only what the database holds at the end.
func TestFlushNeverOverwritesIdentifyOrForget(t *testing.T) {
	for name, d := range openTestDBs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			for _, op := range []string{"identify", "forget"} {
				s, err := OpenStore(ctx, d, nil)
				if err != nil {
					t.Fatal(err)
				}
				id := newBrowserID()
				taught := Identity{Kx: "Old.ABC123"}
				identified := Identity{Claim: Claim{Email: "ana@example.com"}, Kx: "Old.ABC123"}
				done := make(chan error, 1)
				s.beforeWrite = func() {
					s.beforeWrite = nil
					go func() {
						if op == "identify" {
							done <- s.Put(ctx, id, identified, time.Now())
						} else {
							done <- s.Delete(ctx, id)
						}
					}()
					time.Sleep(50 * time.Millisecond) // let it run, if it could
				}
				s.PutLater(id, taught)
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				s.Close()
				fresh, err := OpenStore(ctx, d, nil)
				if err != nil {
					t.Fatal(err)
				}
				got, ok, err := fresh.Get(ctx, id)
				fresh.Close()
				switch {
				case err != nil:
					t.Fatal(err)
				case op == "identify" && (!ok || got != identified):
					t.Errorf("after identify the database holds %+v (%v), want %+v", got, ok, identified)
				case op == "forget" && ok:
					t.Errorf("after forget the database still holds %+v", got)
				}
			}
		})
	}
}
