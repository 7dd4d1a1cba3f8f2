package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

func openMainIn(t *testing.T, dir string, env map[string]string) *Main {
	t.Helper()
	cfg, err := config.Load([]string{"-addr", "127.0.0.1:0", "-data-dir", dir}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m
}

// TestRepeatedPartialActionsAcrossRestart: two partial refunds and two
// shipments of one order, with a restart between the first and second of
// each, reach Klaviyo as four events, each once, under distinct unique_ids.
func TestRepeatedPartialActionsAcrossRestart(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	dir := t.TempDir()
	env := map[string]string{"SNIPPETD_API_TOKEN": "tok", "SNIPPETD_PRIVATE_KEY": klaviyotest.PrivateKey, "SNIPPETD_KLAVIYO_URL": fake.URL}
	const js = "application/json"
	expect := func(m *Main, path, body string, wantStatus int, wantInBody string) {
		t.Helper()
		if st, got := call(t, m, path, "tok", js, body); st != wantStatus || !strings.Contains(got, wantInBody) {
			t.Errorf("POST %s %s: %d %s; want %d containing %s", path, body, st, got, wantStatus, wantInBody)
		}
	}
	refund1 := `{"id":"re_1","time":"2026-02-06T10:00:00Z","items":[{"product_id":"p1","quantity":1}]}`
	ship1 := `{"id":"sh_1","time":"2026-02-06T09:00:00Z","items":[{"product_id":"p1"}],"tracking":{"number":"1Z1"}}`

	m := openMainIn(t, dir, env)
	expect(m, "/v1/orders", orderJSON, 202, `"A-1"`)
	expect(m, "/v1/orders/A-1/fulfilled", ship1, 202, `"unique_ids":["A-1"]`)
	expect(m, "/v1/orders/A-1/refunded", refund1, 202, `"unique_ids":["A-1"]`)
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	m = openMainIn(t, dir, env)
	// Replays after the restart are the same events again.
	expect(m, "/v1/orders/A-1/refunded", refund1, 202, `"unique_ids":["A-1"]`)
	expect(m, "/v1/orders/A-1/fulfilled", ship1, 202, `"unique_ids":["A-1"]`)
	expect(m, "/v1/orders/A-1/fulfilled", `{"id":"sh_2","time":"2026-02-07T09:00:00Z","items":[{"product_id":"p2"}]}`, 202, `"unique_ids":["A-1:fulfilled:sh_2"]`)
	expect(m, "/v1/orders/A-1/refunded", `{"id":"re_2","time":"2026-02-08T10:00:00Z","amount":4}`, 202, `"unique_ids":["A-1:refunded:re_2"]`)
	// Same id, other content; a further action without an id; more than
	// the order still holds (23 − 9.5 − 4 = 9.5).
	expect(m, "/v1/orders/A-1/refunded", `{"id":"re_2","time":"2026-02-08T10:00:00Z","amount":5}`, 409, `"field":"id"`)
	expect(m, "/v1/orders/A-1/refunded", `{"amount":1}`, 409, `"field":"id"`)
	expect(m, "/v1/orders/A-1/cancelled", `{"id":"ca_1","amount":9.51}`, 422, `"field":"amount"`)
	expect(m, "/v1/orders/A-1/refunded", `{"id":"re_3","items":[{"product_id":"p1"},{"product_id":"p2"}]}`, 422, `"field":"items"`)
	drain(t, m)

	type ev struct{ Metric, UniqueID, Value, OrderID string }
	var got []ev
	for _, e := range fake.Events() {
		if e.Metric == "Placed Order" || e.Metric == "Ordered Product" {
			continue
		}
		oid, _ := e.Properties["OrderId"].(string)
		got = append(got, ev{e.Metric, e.UniqueID, e.Value.String(), oid})
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Metric+got[i].UniqueID < got[j].Metric+got[j].UniqueID })
	want := []ev{{"Fulfilled Order", "A-1", "19", "A-1"}, {"Fulfilled Order", "A-1:fulfilled:sh_2", "4", "A-1"},
		{"Refunded Order", "A-1", "9.5", "A-1"}, {"Refunded Order", "A-1:refunded:re_2", "4", "A-1"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("action events at the fake (-want +got):\n%s", diff)
	}

	req, _ := http.NewRequest("GET", m.Server.URL()+"/v1/orders/A-1", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Refunded, Cancelled, Remaining json.Number
		Actions                        []struct{ Kind, ID, UniqueID string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /v1/orders/A-1: %d %v", resp.StatusCode, err)
	}
	if st.Refunded != "13.5" || st.Cancelled != "0" || st.Remaining != "9.5" || len(st.Actions) != 4 {
		t.Errorf("order status %+v; want refunded 13.5, cancelled 0, remaining 9.5, 4 actions", st)
	}
}
