package proxy

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// products stands in for the catalog: it records the ids it is told.
type products struct {
	mu         sync.Mutex
	configured bool
	ids        []string
}

func (p *products) Configured() bool { return p.configured }

func (p *products) Observe(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ids = append(p.ids, id)
}

func (p *products) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := p.ids
	p.ids = nil
	return ids
}

// The product ids of stored events reach the catalog: from a browser's own
// properties its ProductID, else AddedItemProductID, else every
// Items[].ProductID (strings or numbers); from the input form the product,
// the added line's, else the cart lines' as decoded. Refused, dropped and
// unstored events name none, nor does a catalog counting nothing.
func TestEventsReportTheirProducts(t *testing.T) {
	cat := &products{configured: true}
	h := newHarness(t, Options{Products: cat})
	cookies := []*http.Cookie{kxCookie("k.ABC123")}
	cart := `{"id":"c1","items":[{"product":{"id":"m-1","name":"Mug","price":5},"quantity":1},{"product":{"id":"t-2","name":"Tee","price":9},"quantity":2}]}`
	events := []string{
		`{"metric":"Viewed Product","properties":{"ProductID":"tee-1","ProductName":"x"}}`,
		`{"metric":"Added to Cart","properties":{"AddedItemProductID":"ghost-2","Items":[{"ProductID":"tee-1"},{"ProductID":"ghost-x"}]}}`,
		`{"metric":"Started Checkout","properties":{"Items":[{"ProductID":"mug-2"},{"ProductID":1234},{"ProductID":true}]}}`,
		`{"metric":"Viewed Product","properties":{"ProductName":"no id"}}`,
		`{"metric":"Viewed Product","product":{"id":"in-1","name":"Mug","price":5}}`,
		`{"metric":"Added to Cart","cart":` + cart + `,"added":{"product":{"id":"t-2","name":"Tee","price":9},"quantity":1}}`,
		`{"metric":"Started Checkout","cart":` + cart + `,"time":"2026-11-27T11:59:30Z"}`,
		// The same checkout again in the same second: dropped, not counted.
		`{"metric":"Started Checkout","cart":` + cart + `,"time":"2026-11-27T11:59:30Z"}`,
		`{"metric":"Viewed Category","category":{"id":"c","name":"Mugs","product_ids":["m-1"]}}`,
	}
	w := h.do(req{path: "/s/e", body: `{"events":[` + strings.Join(events, ",") + `]}`, cookies: cookies})
	if w.Code != 202 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	want := []string{"tee-1", "ghost-2", "mug-2", "1234", "in-1", "t-2", "m-1", "t-2"}
	if d := cmp.Diff(want, cat.take()); d != "" {
		t.Errorf("ids (-want +got):\n%s", d)
	}

	if w := h.do(req{path: "/s/e", body: `{"events":[{"metric":"Viewed Product","product":{"id":"in-1","name":"","price":5}}]}`, cookies: cookies}); w.Code != 422 {
		t.Fatalf("refused event: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{path: "/s/e", body: `{"events":[{"metric":"Viewed Product","product":{"id":"anon-1","name":"Mug","price":5}}]}`}); w.Code != 202 || !strings.Contains(w.Body.String(), "anonymous") {
		t.Fatalf("anonymous event: %d %s", w.Code, w.Body)
	}
	h.out.err = errors.New("disk full")
	if w := h.do(req{path: "/s/e", body: `{"events":[{"metric":"Viewed Product","product":{"id":"lost-1","name":"Mug","price":5}}]}`, cookies: cookies}); w.Code != 503 {
		t.Fatalf("unstored event: %d %s", w.Code, w.Body)
	}
	h.out.err = nil
	cat.configured = false
	if w := h.do(req{path: "/s/e", body: `{"events":[{"metric":"Viewed Product","product":{"id":"off-1","name":"Mug","price":5}}]}`, cookies: cookies}); w.Code != 202 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if ids := cat.take(); len(ids) != 0 {
		t.Errorf("ids %q counted from events refused, dropped, unstored or with no catalog", ids)
	}
}
