package app

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
	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

const orderJSON = `{"id":"A-1","placed_at":"2026-02-05T15:00:00Z","currency":"USD",
 "customer":{"email":"ann@example.com","first_name":"Ann"},
 "items":[{"product":{"id":"p1","name":"Mug","price":9.5},"quantity":2},{"product":{"id":"p2","name":"Cup","price":4},"quantity":1}]}`

func openMain(t *testing.T, env map[string]string) *Main {
	t.Helper()
	cfg, err := config.Load([]string{"-addr", "127.0.0.1:0", "-data-dir", t.TempDir()}, func(k string) string { return env[k] }, io.Discard)
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

func call(t *testing.T, m *Main, path, token, ctype, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", m.Server.URL()+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// drain waits until the outbox has delivered everything the API accepted
// (202 means stored; delivery follows).
func drain(t *testing.T, m *Main) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err := m.Outbox.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox still has %d pending events", st.Pending)
		}
	}
}

// TestOrdersAPI drives the orders API through Main with a private key and
// the fake Klaviyo as base URL.
func TestOrdersAPI(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	m := openMain(t, map[string]string{"SNIPPETD_API_TOKEN": "tok-123", "SNIPPETD_PRIVATE_KEY": klaviyotest.PrivateKey, "SNIPPETD_KLAVIYO_URL": fake.URL})
	const js = "application/json"
	tests := []struct {
		name, path, token, ctype, body string
		wantStatus                     int
		wantInBody                     string
	}{
		{"no token", "/v1/orders", "", js, orderJSON, 401, "unauthorized"},
		{"wrong token", "/v1/orders", "tok-124", js, orderJSON, 401, "bearer"},
		{"wrong content type", "/v1/orders", "tok-123", "text/plain", orderJSON, 415, "application/json"},
		{"malformed", "/v1/orders", "tok-123", js, `{"id":`, 400, "bad_request"},
		{"unknown field", "/v1/orders", "tok-123", js, strings.Replace(orderJSON, `"currency"`, `"curency"`, 1), 400, `"field":"curency"`},
		{"invalid", "/v1/orders", "tok-123", js, strings.Replace(orderJSON, `"quantity":2`, `"quantity":0`, 1), 422, `"field":"items[0].quantity"`},
		{"placed", "/v1/orders", "tok-123", js, orderJSON, 202, `"unique_ids":["A-1","A-1:0","A-1:1"]`},
		{"replay", "/v1/orders", "tok-123", "", orderJSON, 202, `"unique_ids":["A-1","A-1:0","A-1:1"]`},
		{"changed", "/v1/orders", "tok-123", js, strings.Replace(orderJSON, `"USD"`, `"EUR"`, 1), 409, "already placed"},
		{"fulfilled, empty body", "/v1/orders/A-1/fulfilled", "tok-123", js, ``, 202, `"unique_ids":["A-1"]`},
		{"partial refund", "/v1/orders/A-1/refunded", "tok-123", js, `{"time":"2026-02-10T08:00:00Z","reason":"Chipped","items":[{"product_id":"p1","quantity":1}]}`, 202, `"unique_ids":["A-1"]`},
		{"refund bad item", "/v1/orders/A-1/cancelled", "tok-123", js, `{"items":[{"product_id":"zz"}]}`, 422, `"field":"items[0].product_id"`},
		{"unknown order", "/v1/orders/B-2/cancelled", "tok-123", js, `{"reason":"x"}`, 404, "B-2"},
		{"unknown action", "/v1/orders/A-1/returned", "tok-123", js, `{}`, 404, "not_found"},
		{"action without token", "/v1/orders/A-1/cancelled", "", js, `{}`, 401, "unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, body := call(t, m, tt.path, tt.token, tt.ctype, tt.body)
			if st != tt.wantStatus || !strings.Contains(body, tt.wantInBody) {
				t.Errorf("%d %s; want %d containing %s", st, body, tt.wantStatus, tt.wantInBody)
			}
		})
	}
	drain(t, m)
	type ev struct{ Metric, UniqueID, Value string }
	var got []ev
	for _, e := range fake.Events() {
		got = append(got, ev{e.Metric, e.UniqueID, e.Value.String()})
	}
	want := []ev{{"Placed Order", "A-1", "23"}, {"Ordered Product", "A-1:0", "19"}, {"Ordered Product", "A-1:1", "4"},
		{"Fulfilled Order", "A-1", "23"}, {"Refunded Order", "A-1", "9.5"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events at the fake (-want +got):\n%s", diff)
	}
	if d := fake.Stats().Duplicates; d != 3 {
		t.Errorf("the replay should reach Klaviyo as 3 duplicates it drops, got %d", d)
	}
}

// TestOrdersAPIWithoutKey: no private key delivers to the local sink
// (nothing leaves the machine) after the same validation; no token
// disables the API.
func TestOrdersAPIWithoutKey(t *testing.T) {
	m := openMain(t, map[string]string{"SNIPPETD_API_TOKEN": "tok"})
	if st, body := call(t, m, "/v1/orders", "tok", "application/json", orderJSON); st != 202 || m.Sink == nil {
		t.Errorf("no key: %d %s, sink %v; want 202 into the local sink", st, body, m.Sink)
	} else {
		drain(t, m)
		if _, ok := m.Sink.ForUniqueID("A-1:1"); !ok {
			t.Errorf("the local sink did not record Ordered Product A-1:1: %+v", m.Sink.Requests())
		}
	}
	if st, _ := call(t, m, "/v1/orders", "tok", "application/json", `{"id":"x"}`); st != 422 {
		t.Errorf("no key must still validate: %d", st)
	}
	m2 := openMain(t, nil)
	st, body := call(t, m2, "/v1/orders", "", "application/json", orderJSON)
	var e struct{ Error struct{ Message string } }
	json.Unmarshal([]byte(body), &e)
	if st != 401 || !strings.Contains(e.Error.Message, "SNIPPETD_API_TOKEN") {
		t.Errorf("no token configured: %d %s", st, body)
	}
}
