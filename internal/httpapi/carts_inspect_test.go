package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/snippetd/snippetd/internal/carts"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/httpapi"
	"github.com/snippetd/snippetd/internal/inspect"
	"github.com/snippetd/snippetd/internal/outbox"
)

// TestRestoreVisitsInInspector: each visit of a restore link — restored,
// expired, invalid — is a row of the inspector's JSON list with its
// outcome as state and, when restored, the cart id; never the token.
// A rate-limited visit is only counted.
func TestRestoreVisitsInInspector(t *testing.T) {
	c := newCartServer(t, carts.Missing, 4)
	d := dbtest.SQLite(t)
	ob, err := outbox.Open(context.Background(), d, outbox.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close(context.Background()) })
	in := &inspect.Inspector{DB: d, Ring: inspect.NewRing(0)}
	c.s.Inspector = inspect.NewHandler(in, inspect.HandlerOptions{Token: cartsToken})
	c.s.CartRestore.Visits = in.Ring

	put := func(id string) string {
		rec := c.do("PUT", "/v1/carts/"+id, `{"items":[{"product":{"id":"mug","name":"Mug","price":9.5},"quantity":2}]}`, bearerJSON...)
		if rec.Code != 200 {
			t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
		}
		var link httpapi.CartLink
		json.Unmarshal(rec.Body.Bytes(), &link)
		return restoreToken(t, link.RestoreURL)
	}
	old := put("cart-old")
	c.add(25 * time.Hour) // past the test server's TTL
	fresh := put("cart-7")
	bad := fresh[:5] + string(fresh[5]^1) + fresh[6:]
	visits := []struct {
		tok  string
		code int
	}{{fresh, http.StatusSeeOther}, {old, http.StatusGone}, {bad, http.StatusNotFound}, {"nope", http.StatusNotFound}, {fresh, http.StatusTooManyRequests}}
	for _, v := range visits {
		if rec := c.do("GET", "/r/"+v.tok+"?utm_source=klaviyo", ""); rec.Code != v.code {
			t.Fatalf("GET /r/%s: %d, want %d", v.tok, rec.Code, v.code)
		}
	}

	list := func(query string) []inspect.Event {
		t.Helper()
		rec := c.do("GET", "/debug/events"+query, "", "Accept", "application/json", "Authorization", "Bearer "+cartsToken)
		if rec.Code != 200 {
			t.Fatalf("GET /debug/events%s: %d %s", query, rec.Code, rec.Body)
		}
		for _, tok := range []string{fresh, old, bad} {
			if strings.Contains(rec.Body.String(), tok) {
				t.Errorf("the inspector shows a token: %s", rec.Body)
			}
		}
		var body struct{ Events []inspect.Event }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		return body.Events
	}
	type row struct{ Source, Metric, State, Payload string }
	rows := func(es []inspect.Event) []row {
		var out []row
		for _, e := range es {
			out = append(out, row{e.Source, e.Metric, e.State, string(e.Payload)})
		}
		return out
	}
	// Newest first.
	want := []row{
		{"restore", "cartRestore", "invalid", `["cartRestore",{"outcome":"invalid"}]`},
		{"restore", "cartRestore", "invalid", `["cartRestore",{"outcome":"invalid"}]`},
		{"restore", "cartRestore", "expired", `["cartRestore",{"outcome":"expired"}]`},
		{"restore", "cartRestore", "restored", `["cartRestore",{"cart_id":"cart-7","outcome":"restored"}]`},
	}
	if d := cmp.Diff(want, rows(list(""))); d != "" {
		t.Errorf("inspector list (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want[2:3], rows(list("?source=restore&state=expired"))); d != "" {
		t.Errorf("filtered by state expired (-want +got):\n%s", d)
	}
}
