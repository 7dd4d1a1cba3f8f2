package inspect_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/inspect"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/outbox"
)

// refuseKey answers every request as Klaviyo does to a revoked key.
type refuseKey struct{}

func (refuseKey) CreateEvent(context.Context, klaviyo.Encoded) klaviyo.Outcome {
	return klaviyo.Outcome{Kind: klaviyo.Permanent, Status: 401, Errors: []klaviyo.APIError{{Status: 401, Code: "authentication_failed", Detail: "Incorrect authentication credentials."}}}
}

func (refuseKey) BulkCreateEvents(ctx context.Context, _ []klaviyo.Encoded) klaviyo.Outcome {
	return refuseKey{}.CreateEvent(ctx, klaviyo.Encoded{})
}

// TestInspectorDeliveryLine: the page and the JSON list say that nobody
// delivers while no loop runs, and name the key's setting while delivery
// is paused on a refused key.
func TestInspectorDeliveryLine(t *testing.T) {
	d := dbtest.SQLite(t)
	ob, err := outbox.Open(context.Background(), d, outbox.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		KeySetting: "SNIPPETD_PRIVATE_KEY", Heartbeat: 10 * time.Millisecond, MaxBackoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close(context.Background()) })
	if err := ob.Enqueue(context.Background(), []klaviyo.Event{{Metric: "Placed Order", Profile: klaviyo.Profile{Email: "a@example.com"}, Properties: json.RawMessage(`{}`)}}, "orders"); err != nil {
		t.Fatal(err)
	}
	in := &inspect.Inspector{DB: d, Ring: inspect.NewRing(0)}
	h := inspect.NewHandler(in, inspect.HandlerOptions{Token: "tok", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	auth := map[string]string{"Authorization": "Bearer tok"}
	page := func() string { return get(t, h, "/debug/events", auth, "127.0.0.1:1").Body.String() }
	if p := page(); !strings.Contains(p, `id="delivery"`) || !strings.Contains(p, "no process delivers") {
		t.Errorf("page without a deliverer has no delivery line:\n%s", p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ob.Run(ctx, refuseKey{}); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(in.Delivery(context.Background()).Problem, "SNIPPETD_PRIVATE_KEY"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("delivery line never named the key: %+v", in.Delivery(context.Background()))
		}
	}
	if p := page(); !strings.Contains(p, "paused") || !strings.Contains(p, "SNIPPETD_PRIVATE_KEY is fixed") {
		t.Errorf("page does not show the pause:\n%s", p)
	}
	var list struct {
		Delivery inspect.DeliveryStatus `json:"delivery"`
	}
	json.Unmarshal(get(t, h, "/debug/events", map[string]string{"Accept": "application/json", "Authorization": "Bearer tok"}, "127.0.0.1:1").Body.Bytes(), &list)
	if len(list.Delivery.Deliverers) != 1 || !strings.Contains(list.Delivery.Problem, "401") {
		t.Errorf("JSON delivery %+v", list.Delivery)
	}
}
