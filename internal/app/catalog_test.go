package app

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/catalog"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
	"github.com/snippetd/snippetd/shop"
)

// TestProxyEventsReachTheCatalog: an event accepted by the first-party
// proxy whose ProductID the catalog lacks is counted on the catalog's
// problems report (the hook Main wires around the proxy's outbox).
func TestProxyEventsReachTheCatalog(t *testing.T) {
	m, _ := startProxyMain(t)
	err := m.Catalog.Put(context.Background(), []shop.Product{{ID: "mug", Name: "Mug", URL: "https://shop.example/mug", ImageURL: "https://shop.example/mug.jpg", Description: "A mug"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"mug", "ghost"} {
		req, _ := http.NewRequest("POST", m.Server.URL()+"/s/e", strings.NewReader(`{"events":[{"metric":"Viewed Product","properties":{"ProductName":"x","ProductID":"`+id+`"},"unique_id":"vp-`+id+`"}]}`))
		req.Header.Set("Origin", "https://shop.example")
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
		req.AddCookie(&http.Cookie{Name: "__kla_id", Value: base64.StdEncoding.EncodeToString([]byte(`{"cid":"x","$exchange_id":"Ab9x_k.` + klaviyotest.CompanyID + `"}`))})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 202 {
			t.Fatalf("proxy answered %d", resp.StatusCode)
		}
	}
	want := catalog.UnknownReport{Events: 1, Top: []catalog.UnknownID{{ID: "ghost", Count: 1}}}
	if d := cmp.Diff(want, m.Catalog.Problems().UnknownProductIDs); d != "" {
		t.Errorf("unknown product ids (-want +got):\n%s", d)
	}
}
