package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestMainWithoutKeyDeliversToLocalSink checks the embedded default: with
// no sender configured, events go to the local sink (and nowhere else), the
// start-up log says so, and /metrics reports the delivery and the queue.
func TestMainWithoutKeyDeliversToLocalSink(t *testing.T) {
	cfg, err := config.Load([]string{"-addr", "127.0.0.1:0", "-data-dir", t.TempDir()}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	m := NewMain(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	if m.Sink == nil {
		t.Fatal("no local sink without a sender")
	}
	if !strings.Contains(logs.String(), "local sink") || !strings.Contains(logs.String(), "nothing is sent to Klaviyo") {
		t.Errorf("start-up log does not announce the local sink:\n%s", logs.String())
	}
	ev := []klaviyo.Event{{Metric: "Placed Order", Profile: klaviyo.Profile{Email: "a@example.com"}, Properties: json.RawMessage(`{"OrderId":"1"}`)}}
	if err := m.Outbox.Enqueue(context.Background(), ev, "test"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); m.Sink.Len() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the outbox did not deliver to the local sink")
		}
	}
	r, ok := m.Sink.ForUniqueID(ev[0].UniqueID)
	if !ok || r.Path != "/api/events" || !bytes.Contains(r.Body, []byte(`"name":"Placed Order"`)) {
		t.Fatalf("sink request = %+v, %v", r, ok)
	}
	var body string
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(body, `snippetd_outbox_events{state="delivered"} 1`); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never showed the delivered event:\n%s", body)
		}
		resp, err := http.Get(m.Server.URL() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
	}
	for _, want := range []string{
		`snippetd_klaviyo_requests_total{endpoint="single",outcome="delivered",status="202"} 1`,
		`snippetd_outbox_events{state="pending"} 0`,
		`snippetd_outbox_oldest_pending_age_seconds 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
