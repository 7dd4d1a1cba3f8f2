package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/snippetd/snippetd/config"
	"github.com/snippetd/snippetd/klaviyo"
)

type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) CreateEvent(ctx context.Context, e klaviyo.Event) klaviyo.Outcome {
	return r.BulkCreateEvents(ctx, []klaviyo.Event{e})
}

func (r *recorder) BulkCreateEvents(ctx context.Context, events []klaviyo.Event) klaviyo.Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range events {
		r.got = append(r.got, e.UniqueID)
	}
	return klaviyo.Outcome{Kind: klaviyo.Delivered, Status: 202}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// TestMainRunsTheOutbox checks that Main opens the outbox on its database,
// runs the delivery loop with its Sender and reports ready.
func TestMainRunsTheOutbox(t *testing.T) {
	cfg, err := config.Load([]string{"-addr", "127.0.0.1:0", "-data-dir", t.TempDir()}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	m := NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m.Sender = rec
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	ev := []klaviyo.Event{{Metric: "Placed Order", Profile: klaviyo.Profile{Email: "a@example.com"}, Properties: json.RawMessage(`{}`)}}
	if err := m.Outbox.Enqueue(context.Background(), ev, "test"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); rec.count() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the outbox loop did not deliver")
		}
	}
	if rec.got[0] != ev[0].UniqueID {
		t.Errorf("delivered %q, want %q", rec.got[0], ev[0].UniqueID)
	}
	resp, err := http.Get(m.Server.URL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/readyz = %d, want 200", resp.StatusCode)
	}
}
