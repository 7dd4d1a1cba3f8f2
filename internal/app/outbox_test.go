package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

// TestMainDeliversThroughTheOutbox checks that Main opens the outbox on its
// database and, with a private key configured, runs the delivery loop with
// the Klaviyo client (here against the fake), and reports ready.
func TestMainDeliversThroughTheOutbox(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	env := map[string]string{"SNIPPETD_PRIVATE_KEY": klaviyotest.PrivateKey, "SNIPPETD_KLAVIYO_URL": fake.URL}
	cfg, err := config.Load([]string{"-addr", "127.0.0.1:0", "-data-dir", t.TempDir()}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	ev := []klaviyo.Event{{Metric: "Placed Order", Profile: klaviyo.Profile{Email: "a@example.com"}, Properties: json.RawMessage(`{"OrderId":"1"}`)}}
	if err := m.Outbox.Enqueue(context.Background(), ev, "test"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); len(fake.Events()) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the outbox loop did not deliver; fake saw %+v", fake.Stats())
		}
	}
	if got := fake.Events()[0].UniqueID; got != ev[0].UniqueID {
		t.Errorf("fake got unique_id %q, want %q", got, ev[0].UniqueID)
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
