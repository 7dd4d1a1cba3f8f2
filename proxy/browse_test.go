package proxy

import (
	"bytes"
	"testing"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/snippets"
)

// The browse events are onsite metrics in both forms; in the input form
// the server builds the properties with the snippets builders the render
// API uses, and members of platform objects the inputs do not define are
// ignored, as for products.
func TestDecodeBatchBrowseInputs(t *testing.T) {
	v := NewValidator(nil, EventLimits{})
	body := `{"events":[
		{"metric":"Viewed Category","unique_id":"vc-1","category":{"id":"mugs","name":"Mugs <b>","url":"https://shop.example/c/mugs","product_ids":["p1","p2"],"handle":"mugs"}},
		{"metric":"Searched Site","unique_id":"ss-1","search":{"term":"blue </script> mug","results_count":41,"product_ids":["p2"]}},
		{"metric":"Searched Site","properties":{"Search Term":"own build","Search Results Count":0}}
	]}`
	b, err := v.DecodeBatch([]byte(body), testNow)
	if err != nil {
		t.Fatal(err)
	}
	vc, err := snippets.ViewedCategoryEvent(snippets.Category{ID: "mugs", Name: "Mugs <b>", URL: "https://shop.example/c/mugs", ProductIDs: []string{"p1", "p2"}})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := snippets.SearchedSiteEvent(snippets.Search{Term: "blue </script> mug", ResultsCount: 41, ProductIDs: []string{"p2"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Events) != 3 {
		t.Fatalf("%d events, want 3", len(b.Events))
	}
	for i, want := range []snippets.Event{vc, ss} {
		e := b.Events[i]
		if e.Metric != want.Metric || !bytes.Equal(e.Properties, want.Properties) || e.Value.IsSet() {
			t.Errorf("event %d = %s %s (value set %v), want %s %s", i, e.Metric, e.Properties, e.Value.IsSet(), want.Metric, want.Properties)
		}
	}
	if b.Events[0].UniqueID != "vc-1" || b.Events[2].Metric != "Searched Site" {
		t.Errorf("unique id %q, third metric %q", b.Events[0].UniqueID, b.Events[2].Metric)
	}
}

func TestDecodeBatchBrowseReject(t *testing.T) {
	v := NewValidator(nil, EventLimits{})
	ev := func(s string) string { return `{"events":[{"metric":"Viewed Product"},` + s + `]}` }
	tests := []struct{ name, body, field string }{
		{"category missing name", ev(`{"metric":"Viewed Category","category":{"id":"c"}}`), "events[1].category.name"},
		{"category blank product id", ev(`{"metric":"Viewed Category","category":{"id":"c","name":"n","product_ids":[""]}}`), "events[1].category.product_ids[0]"},
		{"category not an object", ev(`{"metric":"Viewed Category","category":"c"}`), "events[1].category"},
		{"search missing term", ev(`{"metric":"Searched Site","search":{"results_count":3}}`), "events[1].search.term"},
		{"search count not a number", ev(`{"metric":"Searched Site","search":{"term":"x","results_count":"3"}}`), "events[1].search.results_count"},
		{"search negative count", ev(`{"metric":"Searched Site","search":{"term":"x","results_count":-3}}`), "events[1].search.results_count"},
		{"search on viewed category", ev(`{"metric":"Viewed Category","category":{"id":"c","name":"n"},"search":{"term":"x"}}`), "events[1].search"},
		{"category on viewed product", ev(`{"metric":"Viewed Product","product":{"id":"p","name":"n","price":1},"category":{"id":"c","name":"n"}}`), "events[1].category"},
		{"search on active on site", ev(`{"metric":"Active on Site","search":{"term":"x"}}`), "events[1].search"},
		{"mixed with properties", ev(`{"metric":"Searched Site","search":{"term":"x"},"properties":{"Search Term":"x"}}`), "events[1].properties"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.DecodeBatch([]byte(tt.body), testNow)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := apperr.ErrorField(err); got != tt.field {
				t.Errorf("field %q, want %q (%v)", got, tt.field, err)
			}
			if c := apperr.ErrorCode(err); c != apperr.EINVALID && c != apperr.EBADREQUEST {
				t.Errorf("code %q: want a 4xx", c)
			}
		})
	}
}
